"""Aliases to any tier: spec.dns.aliases entries as plain names (the global tier, as before) or objects
naming a region or a zone; the planner points each at its tier's name (so it follows that tier's fallback),
leaves out an alias to a tier the federation lacks, and the reconcile reports it by field."""

from __future__ import annotations

from typing import Any

import pytest

from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.members import EndpointSummary
from federation_operator.domain.records import PublishResult
from federation_operator.domain.specs import Alias, parse_federated_service_spec
from federation_operator.planning.reconcile import Federation, plan_member_writes, plan_reconcile
from federation_operator.planning.records import plan_alias_tier_problems, plan_records
from tests.unit.test_reconcile import SPEC, observe, ours
from tests.unit.test_records import EUROPE, GLOBAL, NAMES, TOPOLOGY, US

REGION_EU = "nginx.mynamespace.myfederation.svc.europe-west1.example.com."
REGION_ASIA = "nginx.mynamespace.myfederation.svc.asia-east1.example.com."
ZONE_US_B = "nginx.mynamespace.myfederation.svc.us-central1-b.example.com."


def aliases(*entries: Any) -> tuple[Alias, ...]:
    return parse_federated_service_spec({**SPEC, "dns": {"aliases": list(entries)}}).dns.aliases


def test_plain_names_and_objects_parse_and_dump_as_written() -> None:
    parsed = aliases(
        "nginx.acme.com",
        {"name": "eu.nginx.acme.com", "region": "europe-west1"},
        {"name": "b.nginx.acme.com.", "zone": "us-central1-b"},
        {"name": "all.nginx.acme.com"},
    )
    assert parsed == (
        Alias("nginx.acme.com"),
        Alias("eu.nginx.acme.com", region="europe-west1"),
        Alias("b.nginx.acme.com.", zone="us-central1-b"),
        Alias("all.nginx.acme.com"),
    )
    spec = parse_federated_service_spec(
        {**SPEC, "dns": {"aliases": ["nginx.acme.com", {"name": "e.acme.com", "region": "eu"}]}}
    )
    dumped = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    assert dumped["dns"]["aliases"] == ["nginx.acme.com", {"name": "e.acme.com", "region": "eu"}]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param(
            {"name": "e.acme.com", "region": "eu", "zone": "eu-a"},
            "at most one of region and zone",
            id="both-tiers",
        ),
        pytest.param({"region": "eu"}, "an object with name", id="no-name"),
        pytest.param({"name": "e.acme.com", "weight": 3}, "an object with name", id="unknown-key"),
        pytest.param({"name": "e.acme.com", "region": "EU_1"}, "region must match", id="bad-region"),
        pytest.param({"name": "e", "zone": "eu-a"}, "must match", id="bad-name"),
        pytest.param(42, "an alias is a DNS name", id="a-number"),
    ],
)
def test_a_bad_alias_names_its_item(entry: Any, message: str) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        aliases("nginx.acme.com", entry)
    assert caught.value.field == "spec.dns.aliases[1]"
    assert message in caught.value.message


def test_the_same_name_twice_is_refused_whatever_its_tier() -> None:
    with pytest.raises(InvalidSpecError, match=r"duplicate entries: e\.acme\.com"):
        aliases("e.acme.com", {"name": "e.acme.com.", "region": "europe-west1"})


def cnames(entries: tuple[Alias, ...], healthy: Any = (US, EUROPE)) -> dict[str, str]:
    records = plan_records(names=NAMES, ttl=180, aliases=entries, topology=TOPOLOGY, healthy=healthy)
    return {r.name: r.values[0] for r in records if r.type == "CNAME" and r.name.endswith("acme.com.")}


def test_each_alias_points_at_its_tier() -> None:
    assert cnames(
        aliases(
            "nginx.acme.com",
            {"name": "eu.nginx.acme.com", "region": "europe-west1"},
            {"name": "b.nginx.acme.com", "zone": "us-central1-b"},
        )
    ) == {
        "nginx.acme.com.": GLOBAL,
        "eu.nginx.acme.com.": REGION_EU,
        "b.nginx.acme.com.": ZONE_US_B,
    }


def test_an_alias_follows_its_tiers_fallback() -> None:
    entries = aliases({"name": "asia.nginx.acme.com", "region": "asia-east1"})
    # No healthy shard in Asia: the alias still points at the region's name, itself a CNAME to the global one.
    records = plan_records(names=NAMES, ttl=180, aliases=entries, topology=TOPOLOGY, healthy=(US, EUROPE))
    table = {(r.name, r.type): r.values for r in records}
    assert table["asia.nginx.acme.com.", "CNAME"] == (REGION_ASIA,)
    assert table[REGION_ASIA, "CNAME"] == (GLOBAL,)


def test_an_alias_to_a_tier_the_federation_lacks_is_left_out_and_reported() -> None:
    entries = aliases(
        "nginx.acme.com",
        {"name": "moon.nginx.acme.com", "region": "moon-1"},
        {"name": "crater.nginx.acme.com", "zone": "moon-1a"},
    )
    assert cnames(entries) == {"nginx.acme.com.": GLOBAL}
    assert plan_alias_tier_problems(entries, TOPOLOGY) == (
        "spec.dns.aliases[1]: moon.nginx.acme.com points at region moon-1, which no member cluster of the "
        "federation is in (regions: asia-east1, europe-west1, us-central1); it is not published",
        "spec.dns.aliases[2]: crater.nginx.acme.com points at zone moon-1a, which no member cluster of the "
        "federation is in (zones: asia-east1-a, asia-east1-b, europe-west1-a, europe-west1-b, us-central1-a, "
        "us-central1-b); it is not published",
    )


def test_the_reconcile_says_invalid_alias_while_the_rest_is_published() -> None:
    federation = Federation(
        name="myfederation",
        domain="example.com",
        zones=("example.com", "acme.com"),
        alias_domains={"*": ("acme.com",)},
    )
    spec = {**SPEC, "dns": {"aliases": ["nginx.acme.com", {"name": "m.nginx.acme.com", "region": "moon-1"}]}}
    first = observe(spec=spec)
    desired = {w.cluster: dict(w.manifest or {}) for w in plan_member_writes(first, federation).writes}
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": ours("eu", desired["eu"], "127.0.0.20")}
    endpoints = {c: EndpointSummary(ready=1) for c in services}
    planned = observe(spec=spec, services=services, endpoints=endpoints)
    plan = plan_reconcile(planned, federation, plan_member_writes(planned, federation), {})
    assert plan.records is not None
    assert "m.nginx.acme.com." not in {r.name for r in plan.records}
    done = observe(spec=spec, services=services, endpoints=endpoints, published=PublishResult(plan.records))
    plan = plan_reconcile(done, federation, plan_member_writes(done, federation), {})
    dns = {c.type: c for c in plan.status.conditions}["DNSPublished"]
    assert (dns.status, dns.reason) == ("False", "InvalidAlias")
    assert "spec.dns.aliases[1]: m.nginx.acme.com points at region moon-1" in (dns.message or "")
    assert any(e.reason == "DNSInvalidAlias" for e in plan.events)
