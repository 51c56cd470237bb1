"""Several zones and mirrors against the real BINDs and the operator process: aliases in a second managed
zone (acme.com, served by the federation's BIND) pointing at each tier, an alias following its region's
fallback, the ownership records in both zones, and deletion cleaning both zones; then a mirror of
example.com on a second BIND that goes down while the primary keeps converging, reported per mirror in the
status, and catches up with everything it missed once it is back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.zone
import pytest
from kubernetes import client
from localfed import LocalFederation, processes
from localfed.bind import BindServer, start_bind, wait_until_serving
from localfed.federation import free_port
from localfed.operator import OperatorProcess, condition, eventually

from tests.e2e.conftest import Control, in_place_of_the_sessions
from tests.e2e.test_dns import FEDERATION, Answer, Seed, ask, ask_at, member_names, start_backends_everywhere

pytestmark = [pytest.mark.e2e, pytest.mark.dns]

ALIAS_ZONE = "acme.com"


class AliasedSeed(Seed):
    """A seed FederatedService with ``spec.dns.aliases``."""

    def __init__(self, fed: LocalFederation, name: str, namespace: str, aliases: list[Any]) -> None:
        super().__init__(fed, name, namespace)
        self.aliases = aliases

    def create(self, **dns: Any) -> None:
        super().create(aliases=self.aliases, **dns)


def resolve(fed: LocalFederation, name: str) -> Answer:
    """What a resolver makes of ``name``: BIND (no recursion) answers a CNAME into another of its zones
    without following it, so the chain is followed here, one zone at a time, as a resolver would."""
    answer = ask(fed, name)
    cnames = list(answer.cnames)
    for _ in range(8):
        if answer.addresses or not answer.cnames:
            break
        answer = ask(fed, answer.cnames[-1])
        cnames += answer.cnames
    return Answer(answer.rcode, tuple(cnames), answer.addresses)


def owned_names(server: BindServer, zone: str, owner: str) -> set[str]:
    """The names in ``zone`` whose ownership TXT record names ``owner`` (an AXFR with the TSIG key)."""
    key = dns.tsig.Key(server.key_name, server.key_secret, server.key_algorithm)
    xfr = dns.query.xfr(server.address, f"{zone}.", port=server.port, keyring=key, keyname=key.name)
    transferred = dns.zone.from_xfr(xfr)
    marker = f"federation={FEDERATION},owner={owner}"
    return {
        f"{name}.{zone}." if str(name) != "@" else f"{zone}."
        for name, node in transferred.nodes.items()
        for rdataset in node.rdatasets
        if rdataset.rdtype == dns.rdatatype.TXT and any(marker in rdata.to_text() for rdata in rdataset)
    }


@pytest.fixture
def namespace(operator: OperatorProcess, registered: LocalFederation) -> Iterator[str]:
    name = f"zones-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": name}})
    yield name
    assert operator.alive(), f"the operator died:\n{operator.tail()}"


def test_aliases_in_another_zone_point_at_each_tier_follow_its_fallback_and_are_cleaned_up(
    registered: LocalFederation, namespace: str
) -> None:
    server = registered.dns
    assert server is not None
    assert ALIAS_ZONE in server.extra_zones  # the local federation's BIND serves the alias zone
    member = registered.members[0]
    region, zone = member.spec.region or "", member.spec.zones[0]
    to_global, to_region = f"nginx.{namespace}.{ALIAS_ZONE}.", f"eu.nginx.{namespace}.{ALIAS_ZONE}."
    to_zone, in_own_zone = f"a.nginx.{namespace}.{ALIAS_ZONE}.", f"www.{namespace}.{server.zone}."
    seed = AliasedSeed(
        registered,
        "nginx",
        namespace,
        [
            to_global.rstrip("."),
            {"name": to_region, "region": region},
            {"name": to_zone, "zone": zone},
            in_own_zone,
        ],
    )
    seed.create()
    addresses = start_backends_everywhere(seed)
    everyone = frozenset(addresses.values())

    eventually(
        "global alias",
        lambda: resolve(registered, to_global) == Answer("NOERROR", (seed.global_name(),), everyone),
    )
    assert ask(registered, in_own_zone) == Answer("NOERROR", (seed.global_name(),), everyone)
    regional = frozenset({addresses[member.spec.name]})
    assert resolve(registered, to_region) == Answer("NOERROR", (seed.tier_name(region),), regional)
    zonal = resolve(registered, to_zone)
    assert zonal.cnames[0] == seed.tier_name(zone)
    assert zonal.addresses == regional  # its zone's shard, or through the region's name: the same member
    # Every record we wrote, in either zone, carries our ownership record.
    owner = f"{namespace}/nginx"
    assert any(name.endswith(f"{ALIAS_ZONE}.") for name in owned_names(server, ALIAS_ZONE, owner))
    assert owned_names(server, server.zone, owner)
    # The status follows the answers: it is written once the provider's verdict is in (re-queued as routine
    # work), so the `True` of the round before the shards were healthy (NoHealthyShards) may still be there.
    published = eventually(
        "DNSPublished: Published",
        lambda: (c := condition(seed.get(), "DNSPublished")) and c["reason"] == "Published" and c,
    )
    assert published["status"] == "True"
    listed = {(n["name"], n["tier"]) for n in seed.get()["status"]["dns"]["names"]}
    assert {(to_global, "alias"), (to_region, "alias"), (to_zone, "alias")} <= listed

    # The region loses its only shard: the alias to it follows the region's fallback to the global name.
    registered.set_backends_ready(member.spec.name, namespace, "run=nginx", ready=False)
    everyone_else = everyone - regional
    eventually(
        "the region alias falls back through the region's CNAME",
        lambda: (
            resolve(registered, to_region)
            == Answer("NOERROR", (seed.tier_name(region), seed.global_name()), everyone_else)
        ),
    )
    registered.set_backends_ready(member.spec.name, namespace, "run=nginx", ready=True)
    eventually(
        "the region alias answers the region again",
        lambda: resolve(registered, to_region) == Answer("NOERROR", (seed.tier_name(region),), regional),
    )

    seed.delete_and_wait()
    for name in (to_global, to_region, to_zone, in_own_zone, seed.global_name()):
        assert ask(registered, name).rcode == "NXDOMAIN", name
    assert owned_names(server, ALIAS_ZONE, owner) == set()
    assert owned_names(server, server.zone, owner) == set()


def test_an_alias_in_no_managed_zone_is_refused_naming_the_zones(
    registered: LocalFederation, namespace: str
) -> None:
    seed = AliasedSeed(registered, "stray", namespace, ["stray.example.org"])
    seed.create()
    ready = eventually(
        "Ready=False, InvalidSpec",
        lambda: (c := condition(seed.get(), "Ready")) and c["reason"] == "InvalidSpec" and c,
        timeout=60,
    )
    assert (
        "spec.dns.aliases[0]: stray.example.org is in no DNS zone this operator manages" in ready["message"]
    )
    assert f"example.com, {ALIAS_ZONE}" in ready["message"]


# --- a mirror ---------------------------------------------------------------------------------------------


@pytest.fixture
def mirror_bind(tmp_path: Path) -> Iterator[tuple[BindServer, list[processes.ProcessRecord]]]:
    """A second BIND serving example.com (a secondary for the mirror), stopped by PID at the end."""
    server, record = start_bind(tmp_path / "mirror-bind", free_port())
    records = [record]
    try:
        yield server, records
    finally:
        for each in records:
            processes.stop(each)


@pytest.fixture
def mirrored_operator(
    operator: OperatorProcess,
    control: Control,
    registered: LocalFederation,
    mirror_bind: tuple[BindServer, list[processes.ProcessRecord]],
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """An operator publishing example.com to the federation's BIND and, as a mirror, to the second one, in
    place of the session's (restored afterwards)."""
    mirror, _ = mirror_bind
    operator.stop()
    own = OperatorProcess(
        registered,
        tmp_path / "operator.log",
        unreachable_grace_seconds="20",
        dns_resync_seconds="5",
        dns_zones=json.dumps(
            [
                {
                    "zone": mirror.zone,
                    "provider": "rfc2136",
                    "mirror": "secondary",
                    "options": {
                        "server": mirror.address,
                        "port": str(mirror.port),
                        "key_name": mirror.key_name,
                        "key_secret": mirror.key_secret,
                        "key_algorithm": mirror.key_algorithm,
                        "timeout": "2",
                    },
                }
            ]
        ),
    )
    with in_place_of_the_sessions(own, operator, registered, control):
        control.assert_recovered()
        yield own


def mirrors(seed: Seed) -> dict[str, str]:
    return {m["mirror"]: m["state"] for m in seed.get().get("status", {}).get("dns", {}).get("mirrors", [])}


def test_a_mirror_that_is_down_never_holds_back_the_other_and_catches_up(
    namespace: str,  # first: set up before, and torn down after, the operator of this test
    registered: LocalFederation,
    mirrored_operator: OperatorProcess,
    mirror_bind: tuple[BindServer, list[processes.ProcessRecord]],
) -> None:
    primary = registered.dns
    assert primary is not None
    mirror, running = mirror_bind
    seed = Seed(registered, "nginx", namespace)
    seed.create()
    addresses = start_backends_everywhere(seed)  # the primary answers every member
    everyone = frozenset(addresses.values())
    eventually("the mirror answers too", lambda: ask_at(mirror, seed.global_name()).addresses == everyone)
    eventually("both mirrors Published", lambda: set(mirrors(seed).values()) == {"Published"}, timeout=60)
    assert mirrors(seed) == {"rfc2136": "Published", "secondary": "Published"}

    # The mirror goes down; meanwhile a member's backends fail and a second FederatedService appears.
    processes.stop(running[0])
    member = registered.members[0].spec.name
    registered.set_backends_ready(member, namespace, "run=nginx", ready=False)
    everyone_else = everyone - {addresses[member]}
    eventually(
        "the primary converges alone", lambda: ask(registered, seed.global_name()).addresses == everyone_else
    )
    late = Seed(registered, "late", namespace)
    late.create()
    late.start_backends(member_names(registered)[1])
    late_address = eventually("late's address", lambda: late.address(member_names(registered)[1]))
    eventually(
        "late published on the primary",
        lambda: ask(registered, late.global_name()).addresses == {late_address},
    )
    verdict = eventually(
        "DNSPublished=False naming the mirror that is down",
        lambda: (c := condition(seed.get(), "DNSPublished")) and c["status"] == "False" and c,
        timeout=90,
    )
    assert "example.com (secondary)" in verdict["message"]
    eventually(
        "status.dns.mirrors: the primary Published, the secondary Failed",
        lambda: mirrors(seed) == {"rfc2136": "Published", "secondary": "Failed"},
        timeout=60,
    )

    # Back (the same server, key and zone data as it had): it catches up with everything it missed.
    running.append(processes.restart(running[0]))
    wait_until_serving(mirror, running[-1])
    eventually(
        "the mirror catches up",
        lambda: (
            ask_at(mirror, seed.global_name()).addresses == everyone_else
            and ask_at(mirror, late.global_name()).addresses == {late_address}
        ),
        timeout=90,
    )
    eventually(
        "Published everywhere again",
        lambda: (c := condition(seed.get(), "DNSPublished")) and c["reason"] == "Published",
        timeout=60,
    )
    assert mirrors(seed) == {"rfc2136": "Published", "secondary": "Published"}

    # Deleting cleans every mirror.
    for each in (seed, late):
        each.delete_and_wait()
    for name in (seed.global_name(), late.global_name()):
        assert ask(registered, name).rcode == "NXDOMAIN"
        assert ask_at(mirror, name).rcode == "NXDOMAIN"
    assert owned_names(mirror, mirror.zone, f"{namespace}/nginx") == set()
