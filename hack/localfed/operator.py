"""The operator on the local federation: CRDs applied, members joined with `fedctl`, the operator process.

Used by the demo (`hack/local-federation register` / `operator`), the end-to-end fixtures and benchmarks:
the CRDs are applied to the host cluster, each member is joined with `fedctl join` as a user would (a
least-privilege ServiceAccount token of the member in a Secret, and a MemberCluster), and
`python -m federation_operator` runs as a child process with its log in a file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from . import processes
from .federation import ClusterState, LocalFederation

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
OPERATOR_NAMESPACE = "fedop-system"
FEDERATION = "myfederation"
GROUP, VERSION = "fedop.io", "v1alpha1"

T = TypeVar("T")


def eventually(what: str, probe: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.2) -> T:
    """Poll until `probe` returns something truthy; raise naming `what` and the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
            last = value
        except (ApiException, OSError, KeyError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})")


def apply_crds(fed: LocalFederation) -> None:
    fed.kubectl("federation", "apply", "-f", str(CRDS))
    fed.kubectl(
        "federation",
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/federatedservices.fedop.io",
        "crd/memberclusters.fedop.io",
    )


def _ensure_namespace(core: client.CoreV1Api, name: str) -> None:
    try:
        core.create_namespace({"metadata": {"name": name}})
    except ApiException as exc:
        if exc.status != 409:
            raise


# The tests' probe settings: a member outage is noticed within seconds (the CRD's defaults take ~30 s).
JOIN_PROBE_FLAGS = (
    "--probe-period",
    "2",
    "--probe-timeout",
    "2",
    "--failure-threshold",
    "2",
    "--success-threshold",
    "1",
)


def fedctl_flags(fed: LocalFederation) -> list[str]:
    """The global flags of `fedctl` for this federation: its kubeconfig, host context, name and namespace."""
    return [
        "--kubeconfig",
        str(fed.kubeconfig),
        "--host-context",
        "federation",
        "--federation",
        FEDERATION,
        "--namespace",
        OPERATOR_NAMESPACE,
    ]


def _fedctl(argv: list[str]) -> None:
    # Imported here: the harness's other commands (up, down, status) do not need the operator package.
    from federation_operator.cli import main as fedctl_main  # noqa: PLC0415

    code = fedctl_main(argv)
    if code != 0:
        raise RuntimeError(f"fedctl {' '.join(argv)}: exit code {code} (its message is above)")


def register_member(
    fed: LocalFederation, member: ClusterState, *, probe_flags: Sequence[str] = JOIN_PROBE_FLAGS
) -> None:
    """Register a member as users do, with `fedctl join` (run in-process: the same code path as the command).

    The operator gets a least-privilege ServiceAccount token of the member, not admin credentials; the probe
    settings are the tests' fast ones.
    """
    _fedctl(
        [
            *fedctl_flags(fed),
            "--quiet",
            "join",
            member.spec.name,
            "--region",
            member.spec.region or "",
            "--zones",
            ",".join(member.spec.zones),
            *probe_flags,
        ]
    )


def unregister_member(fed: LocalFederation, name: str, *, keep_services: bool = False) -> None:
    """`fedctl unjoin`: the MemberCluster and its credentials go, and what join created in the member.

    With `keep_services` the federation's Services stay in the member, for a later join to adopt them.
    """
    _fedctl(
        [
            *fedctl_flags(fed),
            "--quiet",
            "unjoin",
            name,
            *(["--keep-services"] if keep_services else []),
        ]
    )


def member_cluster(fed: LocalFederation, name: str) -> dict[str, Any]:
    return client.CustomObjectsApi(fed.api_client("federation")).get_cluster_custom_object(
        GROUP, VERSION, "memberclusters", name
    )


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == kind), None)


def is_member_ready(fed: LocalFederation, name: str) -> bool:
    ready = condition(member_cluster(fed, name), "Ready")
    return bool(ready and ready["status"] == "True")


class OperatorProcess:
    """`python -m federation_operator` as a child process; `stop()` is idempotent and waits for the exit."""

    def __init__(
        self, fed: LocalFederation, log: Path, *, module: str = "federation_operator", **settings: str
    ) -> None:
        self.fed = fed
        self.log = log
        self.module = module  # benchmarks run the operator through a profiling wrapper module
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **operator_env(self.fed, **self.settings)}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, "--verbose"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=REPO,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


DNS_SECRET = "dns-credentials"


def register_dns_credentials(fed: LocalFederation) -> None:
    """The local BIND's TSIG key as the Secret the operator reads its DNS credentials from."""
    if fed.dns is None:
        return
    core = client.CoreV1Api(fed.api_client("federation"))
    _ensure_namespace(core, OPERATOR_NAMESPACE)
    secret = {
        "metadata": {"name": DNS_SECRET, "namespace": OPERATOR_NAMESPACE},
        "stringData": {"key_name": fed.dns.key_name, "key_secret": fed.dns.key_secret},
    }
    try:
        core.create_namespaced_secret(OPERATOR_NAMESPACE, secret)
    except ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_secret(DNS_SECRET, OPERATOR_NAMESPACE, secret)


def operator_env(fed: LocalFederation, **settings: str) -> dict[str, str]:
    """The environment the operator runs with on the local federation: host context, federation name, and
    (when the federation has its BIND) RFC 2136 publishing to it with the TSIG key from a Secret: the
    federation's zone, and the alias zone (acme.com) as a second managed zone on the same server, in which
    every namespace may claim aliases (the seed article's nginx.acme.com)."""
    env = {
        "FEDOP_KUBECONFIG": str(fed.kubeconfig),
        "FEDOP_HOST_CONTEXT": "federation",
        "FEDOP_FEDERATION_NAME": FEDERATION,
    }
    if fed.dns is not None:
        env.update(
            {
                "FEDOP_DNS_PROVIDER": "rfc2136",
                "FEDOP_DNS_ZONE": fed.dns.zone,
                "FEDOP_DNS_OPTIONS": json.dumps(
                    {
                        "server": fed.dns.address,
                        "port": str(fed.dns.port),
                        "key_algorithm": fed.dns.key_algorithm,
                    }
                ),
                "FEDOP_DNS_CREDENTIALS_SECRET": f"{OPERATOR_NAMESPACE}/{DNS_SECRET}",
            }
        )
        if fed.dns.extra_zones:
            options = {
                "server": fed.dns.address,
                "port": str(fed.dns.port),
                "key_algorithm": fed.dns.key_algorithm,
            }
            env["FEDOP_DNS_ZONES"] = json.dumps(
                [
                    {
                        "zone": zone,
                        "provider": "rfc2136",
                        "options": options,
                        "credentialsSecret": f"{OPERATOR_NAMESPACE}/{DNS_SECRET}",
                    }
                    for zone in fed.dns.extra_zones
                ]
            )
            env["FEDOP_ALIAS_DOMAINS"] = json.dumps({"*": list(fed.dns.extra_zones)})
    env.update({f"FEDOP_{k.upper()}": v for k, v in settings.items()})
    return env


def start_operator_detached(fed: LocalFederation) -> processes.ProcessRecord:
    """Run the operator in the background as part of the federation: `down` stops it with the rest."""
    record = fed.shared.get("operator")
    if record is not None and processes.is_running(record):
        return record
    env = {**operator_env(fed), "PYTHONPATH": str(REPO)}
    record = processes.start(
        "operator", [sys.executable, "-m", "federation_operator"], fed.state_dir / "operator.log", env=env
    )
    fed.shared["operator"] = record
    fed.save()
    return record


def stop_operator_detached(fed: LocalFederation) -> None:
    record = fed.shared.pop("operator", None)
    if record is not None:
        processes.stop(record)
        fed.save()
