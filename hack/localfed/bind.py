"""A local BIND 9 (`named`) serving a zone (and any extra zones, such as ``acme.com`` for aliases) on a
loopback port, accepting TSIG-signed RFC 2136 updates.

It is the local default DNS provider of the federation and the real server the rfc2136 provider is tested
against: updates and zone transfers are allowed only with the TSIG key, queries from anyone (on loopback).
Debian's `named` is installed by the set-up scripts (`apt-get install bind9`).
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from federation_operator.dns.rfc2136 import Rfc2136Provider

from . import processes

TSIG_KEY_NAME = "fedop-key"
TSIG_ALGORITHM = "hmac-sha256"


@dataclass(frozen=True)
class BindServer:
    """How to reach a running BIND: the address, port, zone and TSIG credentials."""

    address: str
    port: int
    zone: str
    key_name: str
    key_algorithm: str
    key_secret: str
    extra_zones: tuple[str, ...] = ()
    """More zones the same server serves with the same key (the local federation's alias zone)."""

    @property
    def zones(self) -> tuple[str, ...]:
        return (self.zone, *self.extra_zones)

    def to_json(self) -> dict[str, object]:
        return {
            "address": self.address,
            "port": self.port,
            "zone": self.zone,
            "key_name": self.key_name,
            "key_algorithm": self.key_algorithm,
            "key_secret": self.key_secret,
            "extra_zones": list(self.extra_zones),
        }

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> BindServer:
        extra = raw.get("extra_zones")  # absent in the state of a federation started before it existed
        return cls(
            address=str(raw["address"]),
            port=int(str(raw["port"])),
            zone=str(raw["zone"]),
            key_name=str(raw["key_name"]),
            key_algorithm=str(raw["key_algorithm"]),
            key_secret=str(raw["key_secret"]),
            extra_zones=tuple(str(z) for z in extra) if isinstance(extra, list | tuple) else (),
        )


def rfc2136_provider(
    server: BindServer, provider_type: type[Rfc2136Provider] | None = None, **overrides: Any
) -> Rfc2136Provider:
    """The operator's RFC 2136 provider of ``server``'s zone, signing with its key (5 s timeout unless
    ``overrides`` say otherwise); ``provider_type``: a subclass to build instead (a test's)."""
    options: dict[str, Any] = {
        "server": server.address,
        "port": server.port,
        "zone": server.zone,
        "key_name": server.key_name,
        "key_secret": server.key_secret,
        "key_algorithm": server.key_algorithm,
        "timeout": 5.0,
        **overrides,
    }
    return (provider_type or Rfc2136Provider)(**options)


def named_binary() -> str:
    path = shutil.which("named") or ("/usr/sbin/named" if Path("/usr/sbin/named").exists() else None)
    if path is None:
        raise RuntimeError("named not found: install BIND 9 (Debian: apt-get install bind9)")
    return path


def _zone_file(zone: str) -> str:
    # A short negative-caching TTL (last SOA field) keeps resolvers from remembering "no record" for long
    # while services fail over.
    return (
        "$TTL 300\n"
        f"$ORIGIN {zone}.\n"
        f"@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 30\n"
        f"@ IN NS ns1.{zone}.\n"
        "ns1 IN A 127.0.0.1\n"
    )


def _zone_config(directory: Path, zone: str) -> str:
    return f"""
zone "{zone}" {{
    type primary;
    file "{directory}/{zone}.zone";
    allow-update {{ key "{TSIG_KEY_NAME}"; }};
    allow-transfer {{ key "{TSIG_KEY_NAME}"; }};
}};
"""


def _config(directory: Path, address: str, port: int, zones: Sequence[str], secret: str) -> str:
    d = directory
    return f"""
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ {address}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    allow-query {{ any; }};
    dnssec-validation no;
    notify no;
}};
controls {{ }};
key "{TSIG_KEY_NAME}" {{
    algorithm {TSIG_ALGORITHM};
    secret "{secret}";
}};
logging {{
    channel local_file {{ file "{d}/named.log"; severity info; print-time yes; }};
    category default {{ local_file; }};
    category update {{ local_file; }};
    category xfer-out {{ local_file; }};
}};
""" + "".join(_zone_config(d, zone) for zone in zones)


def start_bind(
    directory: Path,
    port: int,
    zone: str = "example.com",
    address: str = "127.0.0.1",
    extra_zones: Sequence[str] = (),
) -> tuple[BindServer, processes.ProcessRecord]:
    """Write a fresh configuration and zones into `directory`, start `named` and wait until it answers."""
    directory.mkdir(parents=True, exist_ok=True)
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    zones = (zone, *extra_zones)
    for served in zones:
        (directory / f"{served}.zone").write_text(_zone_file(served))
    for journal in directory.glob("*.jnl"):
        journal.unlink()
    conf = directory / "named.conf"
    conf.write_text(_config(directory, address, port, zones, secret))
    server = BindServer(address, port, zone, TSIG_KEY_NAME, TSIG_ALGORITHM, secret, tuple(extra_zones))
    (directory / "server.json").write_text(json.dumps(server.to_json(), indent=2))
    # -f: foreground (we keep the PID); -4: IPv4 only; -n 2: two worker threads are plenty on loopback.
    record = processes.start(
        "named", [named_binary(), "-f", "-4", "-n", "2", "-c", str(conf)], directory / "named.stdout.log"
    )
    try:
        wait_until_serving(server, record)
    except BaseException:
        processes.stop(record)
        raise
    return server, record


def wait_until_serving(server: BindServer, record: processes.ProcessRecord, timeout: float = 30.0) -> None:
    """Poll each zone's SOA until BIND answers authoritatively for all of them."""
    deadline = time.monotonic() + timeout
    waiting = list(server.zones)
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if not processes.is_running(record):
            raise RuntimeError(f"named exited during start-up; see {Path(record.log).parent}/named.log")
        query = dns.message.make_query(f"{waiting[0]}.", dns.rdatatype.SOA)
        try:
            response = dns.query.udp(query, server.address, port=server.port, timeout=0.5)
            if response.rcode() == dns.rcode.NOERROR and response.answer:
                waiting.pop(0)
                if not waiting:
                    return
                continue
            last_error = f"rcode {dns.rcode.to_text(response.rcode())}"
        except (OSError, dns.exception.Timeout) as exc:
            last_error = str(exc) or type(exc).__name__
        time.sleep(0.1)
    raise TimeoutError(f"named did not serve {waiting[0]} within {timeout:.0f}s: {last_error}")
