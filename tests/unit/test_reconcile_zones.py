"""A reconcile with several managed zones: aliases in another managed zone are published, an alias in no
managed zone is an InvalidSpec naming it and the zones, and each mirror's state reaches status.dns.mirrors
while DNSPublished combines them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from federation_operator.domain.members import EndpointSummary
from federation_operator.domain.records import MirrorState, PublishResult
from federation_operator.planning.reconcile import Federation, plan_member_writes, plan_reconcile
from tests.unit.test_reconcile import SPEC, observe, ours

FED = Federation(
    name="myfederation",
    domain="example.com",
    zones=("example.com.", "acme.com."),
    alias_domains={"*": ("acme.com",)},
)


def with_aliases(*aliases: str) -> dict[str, Any]:
    return {**SPEC, "dns": {"aliases": list(aliases)}}


def healthy(spec: dict[str, Any], published: PublishResult | None = None) -> Any:
    first = observe(spec=spec)
    desired = {w.cluster: dict(w.manifest or {}) for w in plan_member_writes(first, FED).writes}
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": ours("eu", desired["eu"], "127.0.0.20")}
    observation = observe(
        spec=spec,
        services=services,
        endpoints={c: EndpointSummary(ready=1) for c in services},
        published=published,
    )
    return observation, plan_reconcile(observation, FED, plan_member_writes(observation, FED), {})


def test_an_alias_in_another_managed_zone_is_published() -> None:
    _, plan = healthy(with_aliases("nginx.acme.com"))
    assert plan.records is not None
    alias = [r for r in plan.records if r.name == "nginx.acme.com."]
    assert [(r.type, r.values) for r in alias] == [
        ("CNAME", ("nginx.mynamespace.myfederation.svc.example.com.",))
    ]


def test_an_alias_in_no_managed_zone_is_invalid_naming_it_and_the_zones() -> None:
    observation = observe(spec=with_aliases("nginx.acme.com", "nginx.example.org"))
    members = plan_member_writes(observation, FED)
    assert members.invalid is not None
    assert members.invalid.field == "spec.dns.aliases[1]"
    assert "nginx.example.org is in no DNS zone this operator manages (example.com, acme.com)" in str(
        members.invalid
    )
    plan = plan_reconcile(observation, FED, members, {})
    ready = {c.type: c for c in plan.status.conditions}["Ready"]
    assert (ready.status, ready.reason) == ("False", "InvalidSpec")
    assert any(e.reason == "InvalidSpec" and "nginx.example.org" in e.message for e in plan.events)


def test_each_mirrors_state_is_in_the_status_and_a_failing_one_fails_the_verdict() -> None:
    _, plan = healthy(with_aliases("nginx.acme.com"))
    mirrors = (
        MirrorState("example.com", "primary", "rfc2136", "Published", "3 record sets"),
        MirrorState("example.com", "secondary", "rfc2136", "Failed", "connection refused"),
        MirrorState("acme.com", "rfc2136", "rfc2136", "Published", "2 record sets"),
    )
    failing = PublishResult(
        plan.records, error="example.com (secondary): connection refused", mirrors=mirrors
    )
    _, plan = healthy(with_aliases("nginx.acme.com"), failing)
    dns = {c.type: c for c in plan.status.conditions}["DNSPublished"]
    assert (dns.status, dns.reason) == ("False", "ProviderError")
    assert "example.com (secondary)" in (dns.message or "")
    assert plan.status.dns is not None
    assert [(m.zone, m.mirror, m.state) for m in plan.status.dns.mirrors] == [
        ("example.com", "primary", "Published"),
        ("example.com", "secondary", "Failed"),
        ("acme.com", "rfc2136", "Published"),
    ]
    fixed = replace(failing, error=None, mirrors=tuple(replace(m, state="Published") for m in mirrors))
    _, plan = healthy(with_aliases("nginx.acme.com"), fixed)
    dns = {c.type: c for c in plan.status.conditions}["DNSPublished"]
    assert (dns.status, dns.reason) == ("True", "Published")
    assert plan.status.dns is not None
    assert {m.state for m in plan.status.dns.mirrors} == {"Published"}
    assert any(n.name == "nginx.acme.com." and n.tier == "alias" for n in plan.status.dns.names)
