"""A reconcile planned as data: member writes, then health, records, status and events from their results.

Scenarios follow one FederatedService: a first round (nothing in the members), a round after the writes
(Services there, load balancers assigned), the steady state (nothing to write, nothing to change), a
foreign Service at our name, a member that is away, an invalid spec, and a cluster placement drops.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.members import ClusterInfo, EndpointSummary, Ingress, ObservedService
from federation_operator.domain.records import PublishResult
from federation_operator.domain.specs import parse_federated_service_spec
from federation_operator.domain.status import CONDITION_DNS_PUBLISHED, CONDITION_READY, FederatedServiceStatus
from federation_operator.planning.reconcile import (
    CREATED,
    Federation,
    Observation,
    ReconcilePlan,
    WriteResult,
    plan_member_writes,
    plan_reconcile,
)

FED = Federation(name="myfederation", domain="example.com", grace=40.0)
KEY = ("mynamespace", "nginx")
UID = "uid-1"
US = ClusterInfo(name="us", region="us-central1", zones=("us-central1-a",), ready=True, synced=True)
EU = ClusterInfo(name="eu", region="europe-west1", zones=("europe-west1-b",), ready=True, synced=True)
SPEC = {"template": {"spec": {"selector": {"run": "nginx"}, "ports": [{"name": "http", "port": 80}]}}}
NOW = datetime(2026, 12, 4, tzinfo=UTC)


def ours(cluster: str, manifest: dict[str, Any], address: str | None = None) -> ObservedService:
    return ObservedService(
        cluster=cluster,
        namespace=KEY[0],
        name=KEY[1],
        owner=KEY,
        owner_uid=UID,
        manifest=manifest,
        ingress=(Ingress(ip=address),) if address else (),
    )


def observe(
    clusters: tuple[ClusterInfo, ...] = (US, EU),
    services: dict[str, ObservedService | None] | None = None,
    endpoints: dict[str, EndpointSummary] | None = None,
    published: PublishResult | None = None,
    spec: dict[str, Any] | None = None,
    previous: FederatedServiceStatus | None = None,
) -> Observation:
    try:
        parsed: Any = parse_federated_service_spec(spec if spec is not None else SPEC)
    except InvalidSpecError as err:
        parsed = err
    return Observation(
        key=KEY,
        generation=1,
        uid=UID,
        spec=parsed,
        previous=previous,
        clusters=clusters,
        services=services or {},
        endpoints=endpoints or {},
        published=published,
        expected=frozenset(c.name for c in clusters),
        started_at=0.0,
        monotonic=1000.0,
        now=NOW,
    )


def manifests(observation: Observation) -> dict[str, dict[str, Any]]:
    return {w.cluster: dict(w.manifest or {}) for w in plan_member_writes(observation, FED).writes}


def actions(observation: Observation) -> list[str]:
    return [w.action for w in plan_member_writes(observation, FED).writes]


def reconcile(observation: Observation, results: dict[str, WriteResult] | None = None) -> ReconcilePlan:
    return plan_reconcile(observation, FED, plan_member_writes(observation, FED), results or {})


def conditions(plan: ReconcilePlan) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in plan.status.conditions}


def test_first_round_creates_everywhere_and_publishes_nothing_yet() -> None:
    observation = observe()
    writes = plan_member_writes(observation, FED).writes
    assert [(w.cluster, w.action) for w in writes] == [("us", "create"), ("eu", "create")]
    desired = manifests(observation)
    results = {c: WriteResult(ours(c, desired[c]), True, wrote=CREATED) for c in desired}
    plan = reconcile(observation, results)
    assert plan.records == ()  # no shard has an address yet: nothing at all is published
    assert [s.reason for s in plan.status.shards] == ["NoLoadBalancerIngress", "NoLoadBalancerIngress"]
    assert conditions(plan)["Propagated"] == ("True", "InSync")
    assert [(e.reason, e.message) for e in plan.events] == [(CREATED, "Service created in eu, us")]


def test_healthy_shards_give_records_and_ready_follows_the_publisher() -> None:
    desired = manifests(observe())
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": ours("eu", desired["eu"], "127.0.0.20")}
    endpoints = {c: EndpointSummary(ready=1) for c in services}
    first = observe(services=services, endpoints=endpoints)
    assert actions(first) == ["keep", "keep"]
    plan = reconcile(first, {})
    assert plan.records
    globals_ = [r for r in plan.records if r.name == "nginx.mynamespace.myfederation.svc.example.com."]
    assert [(r.type, r.values) for r in globals_ if r.type == "A"] == [("A", ("127.0.0.10", "127.0.0.20"))]
    # Submitted, not confirmed: Ready waits for the provider.
    assert conditions(plan)[CONDITION_DNS_PUBLISHED] == ("Unknown", "Pending")
    assert conditions(plan)[CONDITION_READY][0] == "False"
    confirmed = reconcile(
        observe(services=services, endpoints=endpoints, published=PublishResult(plan.records)), {}
    )
    assert conditions(confirmed)[CONDITION_DNS_PUBLISHED] == ("True", "Published")
    assert conditions(confirmed)[CONDITION_READY] == ("True", "Ready")
    assert confirmed.records == plan.records  # the steady state plans the same records again


def test_a_restarted_operator_rewrites_no_status_and_posts_no_event_for_what_is_published() -> None:
    """A failover to the standby replica: its publisher has answered for nobody yet (it reads the zone
    first), its event memory is empty. The status its predecessor wrote already says what is published: the
    plan keeps it as it is (no status write) and posts no DNSPublished event again, before and after the
    publisher's answer; a change of the records while it was away is still Pending."""
    desired = manifests(observe())
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": ours("eu", desired["eu"], "127.0.0.20")}
    endpoints = {c: EndpointSummary(ready=1) for c in services}
    records = reconcile(observe(services=services, endpoints=endpoints)).records
    assert records is not None
    before = reconcile(observe(services=services, endpoints=endpoints, published=PublishResult(records)))
    assert [e.reason for e in before.events] == ["DNSPublished"], "posted once, when first published"

    for published in (None, PublishResult(records)):  # before the new publisher's answer, and after it
        again = reconcile(
            observe(services=services, endpoints=endpoints, published=published, previous=before.status)
        )
        assert again.status == before.status
        assert again.events == ()

    services["eu"] = ours("eu", desired["eu"], "127.0.0.21")  # its address moved while nobody watched
    moved = reconcile(observe(services=services, endpoints=endpoints, previous=before.status))
    assert conditions(moved)[CONDITION_DNS_PUBLISHED] == ("Unknown", "Pending")


def test_a_member_whose_view_is_not_current_holds_dns_until_an_event_not_a_timer() -> None:
    """A member Ready but not listed completely (just connected, or a watch of it broke): nothing is written
    there, DNS holds, and no retry is planned: the moment its view is current re-plans what waited
    (`MemberRegistry.replan_when_synced`), so a poll would only re-plan the same hold."""
    desired = manifests(observe())
    stale = ClusterInfo(**{**EU.__dict__, "synced": False})
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": None}
    observation = observe(clusters=(US, stale), services=services, endpoints={"us": EndpointSummary(ready=1)})
    assert actions(observation) == ["keep", "wait"]
    plan = reconcile(observation, {})
    assert plan.health is not None
    assert plan.health.hold_reason == "eu has not been read completely yet"
    assert plan.records is None
    assert plan.retry_after is None


def test_a_foreign_service_is_a_conflict_and_never_written() -> None:
    foreign = ObservedService("us", KEY[0], KEY[1], None, None, {"metadata": {}}, (Ingress(ip="127.9.9.9"),))
    observation = observe(clusters=(US,), services={"us": foreign})
    assert actions(observation) == ["conflict"]
    plan = reconcile(observation, {})
    assert plan.status.shards[0].reason == "Conflict"
    assert plan.status.shards[0].ingress == ()  # a foreign Service lends no addresses
    assert [(e.topic, e.reason) for e in plan.events][:1] == [("conflict/us", "Conflict")]
    assert conditions(plan)["Propagated"] == ("False", "Conflict")


def test_a_member_away_is_not_written_and_its_last_known_shard_is_kept_within_grace() -> None:
    desired = manifests(observe())
    away = ClusterInfo(**{**EU.__dict__, "ready": False, "not_ready_since": 990.0})
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": ours("eu", desired["eu"], "127.0.0.20")}
    observation = observe(
        clusters=(US, away), services=services, endpoints={c: EndpointSummary(ready=1) for c in services}
    )
    assert actions(observation) == ["keep", "wait"]
    plan = reconcile(observation, {})
    eu = next(s for s in plan.status.shards if s.cluster == "eu")
    assert (eu.healthy, eu.reason) == (False, "ClusterNotReady")
    assert plan.records is not None
    addresses = {v for r in plan.records if r.type == "A" for v in r.values}
    assert addresses == {"127.0.0.10", "127.0.0.20"}
    assert plan.retry_after == 30.5  # look again when the grace period ends


def test_every_member_away_freezes_dns_and_says_so() -> None:
    clusters = tuple(ClusterInfo(**{**c.__dict__, "ready": False, "not_ready_since": 1.0}) for c in (US, EU))
    plan = reconcile(observe(clusters=clusters), {})
    assert plan.records is None
    assert conditions(plan)[CONDITION_DNS_PUBLISHED] == ("False", "PartitionGuard")
    assert ("partition", "PartitionGuard") in [(e.topic, e.reason) for e in plan.events]


def test_an_invalid_spec_writes_nothing_and_names_the_field() -> None:
    observation = observe(spec={"template": {"spec": {"ports": "eighty"}}})
    assert plan_member_writes(observation, FED).writes == ()
    plan = reconcile(observation, {})
    assert plan.records is None
    assert conditions(plan)["Propagated"] == ("False", "InvalidSpec")
    assert "spec.template.spec.ports" in plan.events[0].message


def test_a_cluster_placement_drops_is_withdrawn_and_not_counted() -> None:
    desired = manifests(observe())
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": ours("eu", desired["eu"], "127.0.0.20")}
    spec = {**SPEC, "placement": {"clusters": ["us"]}}
    observation = observe(
        services=services, endpoints={c: EndpointSummary(ready=1) for c in services}, spec=spec
    )
    writes = {w.cluster: w.action for w in plan_member_writes(observation, FED).writes}
    assert writes == {"us": "keep", "eu": "withdraw"}
    plan = reconcile(observation, {"eu": WriteResult(None, False, wrote="Withdrawn")})
    assert [s.cluster for s in plan.status.shards] == ["us"]
    assert {v for r in plan.records or () if r.type == "A" for v in r.values} == {"127.0.0.10"}
    assert ("Withdrawn", "Service removed from eu") in [(e.reason, e.message) for e in plan.events]


def test_a_refused_write_is_on_the_shard_and_retried() -> None:
    observation = observe(clusters=(US,))
    problem = "create Service mynamespace/nginx: HTTP 422: spec.ports[0].nodePort: Invalid value"
    refused = WriteResult(None, False, problem=problem, rejected=True)
    plan = reconcile(observation, {"us": refused})
    assert plan.status.shards[0].reason == "Rejected"
    assert plan.status.shards[0].message == problem
    assert plan.retry_after is None  # permanent: retried when something changes
    transient = reconcile(observation, {"us": WriteResult(None, False, problem="timeout", transient=True)})
    assert transient.retry_after == 5.0


def test_a_member_rejection_is_propagated_false_naming_the_cluster_and_the_servers_words() -> None:
    desired = manifests(observe())
    services = {"us": ours("us", desired["us"], "127.0.0.10"), "eu": ours("eu", desired["eu"], "127.0.0.20")}
    endpoints = {c: EndpointSummary(ready=1) for c in services}
    # The Service in eu is out of date, and eu refuses the update (an override it cannot take, say).
    services["eu"] = ours("eu", {**desired["eu"], "spec": {"ports": []}}, "127.0.0.20")
    observation = observe(services=services, endpoints=endpoints)
    assert actions(observation) == ["keep", "update"]
    words = 'apply Service mynamespace/nginx: Service "nginx" is invalid: spec.ports: Required value'
    plan = reconcile(observation, {"eu": WriteResult(services["eu"], False, problem=words, rejected=True)})
    propagated = next(c for c in plan.status.conditions if c.type == "Propagated")
    assert (propagated.status, propagated.reason) == ("False", "Rejected")
    assert propagated.message == f"the member's API server rejected the Service in: eu ({words})"
    assert [(e.topic, e.type, e.reason, e.message) for e in plan.events] == [
        ("rejected/eu", "Warning", "Rejected", words)
    ]
    # The shard is not in sync, so not healthy: DNS keeps only us.
    assert [(s.cluster, s.reason, s.ingress[0].ip) for s in plan.status.shards] == [
        ("eu", "Rejected", "127.0.0.20"),
        ("us", "Healthy", "127.0.0.10"),
    ]
    # Once the member takes the write, the warning's topic is cleared (a later refusal is told again).
    fixed = reconcile(observation, {"eu": WriteResult(ours("eu", desired["eu"], "127.0.0.20"), True)})
    assert "rejected/eu" in fixed.cleared
    assert conditions(fixed)["Propagated"] == ("True", "InSync")


def test_a_foreign_service_found_by_our_create_is_a_conflict() -> None:
    # The member caches hold only Services with our federation label: a foreign one is found by creating.
    observation = observe(clusters=(US,))
    assert actions(observation) == ["create"]
    foreign = ObservedService("us", KEY[0], KEY[1], None, None, {"metadata": {}}, (Ingress(ip="127.9.9.9"),))
    plan = reconcile(observation, {"us": WriteResult(foreign, False)})
    assert plan.status.shards[0].reason == "Conflict"
    assert "Conflict: a Service mynamespace/nginx not managed" in (plan.status.shards[0].message or "")
    assert [(e.topic, e.reason) for e in plan.events][:1] == [("conflict/us", "Conflict")]


def test_an_override_that_does_not_apply_is_an_invalid_spec() -> None:
    spec = {
        **SPEC,
        "overrides": [{"clusterName": "us", "clusterOverrides": [{"op": "remove", "path": "/spec/nope"}]}],
    }
    observation = observe(spec=spec)
    members = plan_member_writes(observation, FED)
    assert members.writes == ()
    assert members.invalid is not None
    plan = reconcile(observation)
    assert conditions(plan)["Propagated"] == ("False", "InvalidSpec")
    assert "spec.overrides[0]" in plan.events[0].message
