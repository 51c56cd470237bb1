"""FederatedService status: per-shard health and reasons, conditions, aggregated ingress, change detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.members import ClusterInfo, EndpointSummary, Ingress, ObservedService
from federation_operator.domain.status import (
    CONDITION_DNS_PUBLISHED,
    CONDITION_HEALTHY,
    CONDITION_PROPAGATED,
    CONDITION_READY,
    ClusterCounts,
    Condition,
    DnsStatus,
    FederatedServiceStatus,
    IngressAddress,
    LoadBalancerStatus,
    ShardStatus,
)
from federation_operator.planning.conditions import render_condition
from federation_operator.planning.health import ShardObservation, plan_shard_health
from federation_operator.planning.status import (
    DnsVerdict,
    diff_status,
    is_status_changed,
    render_shard_status,
    render_status,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)

US = ClusterInfo(
    name="us-east", region="us-east1", zones=("us-east1-b", "us-east1-c"), ready=True, synced=True
)


def cluster(**changes: Any) -> ClusterInfo:
    fields: dict[str, Any] = {
        "name": US.name,
        "region": US.region,
        "zones": US.zones,
        "ready": US.ready,
        "synced": US.synced,
    }
    return ClusterInfo(**{**fields, **changes})


def observed(*ingress: Ingress, cluster_name: str = "us-east") -> ObservedService:
    return ObservedService(
        cluster=cluster_name,
        namespace="mynamespace",
        name="nginx",
        owner=("mynamespace", "nginx"),
        owner_uid="uid-1",
        manifest={},
        ingress=ingress,
    )


LB = Ingress(ip="127.0.1.1")
TWO_READY = EndpointSummary(ready=2, zones=frozenset({"us-east1-b"}))


def shard(
    info: ClusterInfo = US,
    *,
    desired_present: bool = True,
    service: ObservedService | None = None,
    use_default_service: bool = True,
    owned: bool = True,
    in_sync: bool = True,
    endpoints: EndpointSummary | None = TWO_READY,
    min_ready_endpoints: int = 1,
    problem: str | None = None,
) -> ShardStatus:
    if service is None and use_default_service:
        service = observed(LB, cluster_name=info.name)
    observation = ShardObservation(
        cluster=info,
        selected=desired_present,
        observed=service,
        owned=owned,
        in_sync=in_sync,
        endpoints=endpoints,
        problem=problem,
    )
    return render_shard_status(
        plan_shard_health(observation, min_ready_endpoints=min_ready_endpoints, grace=40.0, now=0.0)
    )


# --- render_shard -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("built", "reason", "message"),
    [
        pytest.param(shard(), "Healthy", "2 ready endpoints", id="healthy"),
        pytest.param(
            shard(desired_present=False),
            "NotSelected",
            "cluster us-east is no longer selected; its Service is being removed",
            id="withdrawing",
        ),
        pytest.param(
            shard(cluster(ready=False)), "ClusterNotReady", "cluster us-east is not Ready", id="not-ready"
        ),
        pytest.param(
            shard(cluster(synced=False), use_default_service=False),
            "Pending",
            "waiting for the first list of Services in cluster us-east",
            id="watch-not-synced",
        ),
        pytest.param(
            shard(use_default_service=False),
            "ServiceMissing",
            "the Service does not exist in cluster us-east yet",
            id="missing",
        ),
        pytest.param(
            shard(use_default_service=False, problem="apply failed: forbidden"),
            "ServiceMissing",
            "the Service does not exist in cluster us-east yet; apply failed: forbidden",
            id="missing-with-problem",
        ),
        pytest.param(
            shard(owned=False, in_sync=False),
            "Conflict",
            "Service mynamespace/nginx in cluster us-east is not managed by this FederatedService",
            id="conflict",
        ),
        pytest.param(
            shard(in_sync=False),
            "OutOfSync",
            "the Service in cluster us-east differs from the desired spec",
            id="drift",
        ),
        pytest.param(
            shard(service=observed()),
            "NoLoadBalancerIngress",
            "the Service in cluster us-east has no LoadBalancer ingress yet",
            id="no-ingress",
        ),
        pytest.param(
            shard(endpoints=EndpointSummary(ready=1), min_ready_endpoints=2),
            "NotEnoughReadyEndpoints",
            "1 ready endpoint, 2 required",
            id="too-few-endpoints",
        ),
        pytest.param(
            shard(endpoints=None),
            "NotEnoughReadyEndpoints",
            "0 ready endpoints, 1 required",
            id="no-endpoint-slices",
        ),
        pytest.param(
            shard(endpoints=EndpointSummary(ready=2), min_ready_endpoints=2),
            "Healthy",
            "2 ready endpoints",
            id="exactly-enough",
        ),
    ],
)
def test_render_shard_reason(built: ShardStatus, reason: str, message: str) -> None:
    assert (built.reason, built.message, built.healthy) == (reason, message, reason == "Healthy")


def test_render_shard_healthy_facts() -> None:
    service = observed(
        Ingress(hostname="lb.example.com"), Ingress(ip="127.0.1.2"), Ingress(ip="127.0.1.1"), LB
    )
    assert shard(service=service) == ShardStatus(
        cluster="us-east",
        region="us-east1",
        zones=("us-east1-b",),
        synced=True,
        ingress=(
            IngressAddress(hostname="lb.example.com"),
            IngressAddress(ip="127.0.1.1"),
            IngressAddress(ip="127.0.1.2"),
        ),
        ready_endpoints=2,
        healthy=True,
        reason="Healthy",
        message="2 ready endpoints",
    )


@pytest.mark.parametrize(
    ("endpoints", "zones"),
    [
        pytest.param(
            EndpointSummary(ready=3, zones=frozenset({"z2", "z1"})), ("z1", "z2"), id="endpoint-zones"
        ),
        pytest.param(EndpointSummary(ready=3), ("us-east1-b", "us-east1-c"), id="no-zone-hints"),
        pytest.param(
            EndpointSummary(ready=0, zones=frozenset({"z1"})), ("us-east1-b", "us-east1-c"), id="none-ready"
        ),
        pytest.param(None, ("us-east1-b", "us-east1-c"), id="no-slices"),
    ],
)
def test_render_shard_zones(endpoints: EndpointSummary | None, zones: tuple[str, ...]) -> None:
    assert shard(endpoints=endpoints).zones == zones


def test_foreign_service_lends_no_ingress_or_endpoints() -> None:
    conflict = shard(owned=False)
    assert (conflict.synced, conflict.ingress, conflict.ready_endpoints) == (False, (), 0)


def test_not_ready_cluster_keeps_last_seen_facts() -> None:
    # What was last seen is still shown; whether it is in sync cannot be known while the member is away.
    stale = shard(cluster(ready=False))
    assert (stale.synced, stale.ingress, stale.ready_endpoints, stale.healthy) == (
        False,
        (IngressAddress(ip="127.0.1.1"),),
        2,
        False,
    )


# --- render_status ------------------------------------------------------------------------------------------

EU = cluster(name="eu-west", region="europe-west1", zones=("europe-west1-b",))
AP = cluster(name="ap-south", region="asia-south1", zones=())


def status(
    *shards: ShardStatus,
    unknown: tuple[str, ...] = (),
    invalid: InvalidSpecError | None = None,
    previous: FederatedServiceStatus | None = None,
    now: datetime = T0,
    generation: int = 3,
    dns: tuple[DnsStatus | None, DnsVerdict] | None = None,
) -> FederatedServiceStatus:
    return render_status(
        generation=generation,
        shards=shards,
        unknown_clusters=unknown,
        invalid=invalid,
        previous=previous,
        now=now,
        dns=dns,
    )


def conditions(rendered: FederatedServiceStatus) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in rendered.conditions}


def test_render_status_all_healthy() -> None:
    rendered = status(shard(), shard(EU, service=observed(Ingress(ip="127.0.2.1"), cluster_name="eu-west")))
    assert rendered.model_dump(mode="json", exclude_none=True) == {
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "Propagated",
                "status": "True",
                "observedGeneration": 3,
                "lastTransitionTime": "2024-05-01T12:00:00Z",
                "reason": "InSync",
                "message": "in sync in 2 clusters: eu-west, us-east",
            },
            {
                "type": "Healthy",
                "status": "True",
                "observedGeneration": 3,
                "lastTransitionTime": "2024-05-01T12:00:00Z",
                "reason": "AllShardsHealthy",
                "message": "2/2 shards healthy",
            },
            {
                "type": "Ready",
                "status": "True",
                "observedGeneration": 3,
                "lastTransitionTime": "2024-05-01T12:00:00Z",
                "reason": "Ready",
                "message": "2/2 shards healthy",
            },
        ],
        "clusterSummary": "2/2",
        "clusters": {"healthy": 2, "total": 2},
        "shards": [
            {
                "cluster": "eu-west",
                "region": "europe-west1",
                "zones": ["us-east1-b"],
                "synced": True,
                "ingress": [{"ip": "127.0.2.1"}],
                "readyEndpoints": 2,
                "healthy": True,
                "reason": "Healthy",
                "message": "2 ready endpoints",
            },
            {
                "cluster": "us-east",
                "region": "us-east1",
                "zones": ["us-east1-b"],
                "synced": True,
                "ingress": [{"ip": "127.0.1.1"}],
                "readyEndpoints": 2,
                "healthy": True,
                "reason": "Healthy",
                "message": "2 ready endpoints",
            },
        ],
        "loadBalancer": {"ingress": [{"ip": "127.0.2.1"}, {"ip": "127.0.1.1"}]},
    }


@pytest.mark.parametrize(
    ("shards", "unknown", "expected"),
    [
        pytest.param(
            (shard(), shard(EU, endpoints=EndpointSummary(ready=0))),
            (),
            {
                CONDITION_PROPAGATED: ("True", "InSync", "in sync in 2 clusters: eu-west, us-east"),
                CONDITION_HEALTHY: (
                    "True",
                    "SomeShardsHealthy",
                    "1/2 shards healthy (eu-west: NotEnoughReadyEndpoints)",
                ),
                CONDITION_READY: ("True", "Ready", "1/2 shards healthy (eu-west: NotEnoughReadyEndpoints)"),
            },
            id="degraded-but-ready",
        ),
        pytest.param(
            (shard(), shard(EU, owned=False, in_sync=False)),
            ("nowhere",),
            {
                CONDITION_PROPAGATED: (
                    "False",
                    "Conflict",
                    "a Service not managed by this FederatedService holds its name in: eu-west; "
                    "not registered as MemberClusters: nowhere",
                ),
                CONDITION_HEALTHY: ("True", "SomeShardsHealthy", "1/2 shards healthy (eu-west: Conflict)"),
                CONDITION_READY: (
                    "False",
                    "Conflict",
                    "Propagated is False: a Service not managed by this FederatedService holds its name in: "
                    "eu-west; not registered as MemberClusters: nowhere",
                ),
            },
            id="conflict-first",
        ),
        pytest.param(
            (shard(),),
            ("nowhere", "atlantis"),
            {
                CONDITION_PROPAGATED: (
                    "False",
                    "UnknownCluster",
                    "not registered as MemberClusters: atlantis, nowhere",
                ),
                CONDITION_HEALTHY: ("True", "AllShardsHealthy", "1/1 shards healthy"),
                CONDITION_READY: (
                    "False",
                    "UnknownCluster",
                    "Propagated is False: not registered as MemberClusters: atlantis, nowhere",
                ),
            },
            id="unknown-cluster",
        ),
        pytest.param(
            (
                shard(in_sync=False),
                shard(cluster(name="eu-west", ready=False), in_sync=False),
                shard(AP, use_default_service=False),
            ),
            (),
            {
                CONDITION_PROPAGATED: (
                    "False",
                    "ClusterNotReady",
                    "not Ready: eu-west; not in sync yet: ap-south, us-east",
                ),
                CONDITION_HEALTHY: (
                    "False",
                    "NoHealthyShards",
                    "0/3 shards healthy "
                    "(ap-south: ServiceMissing; eu-west: ClusterNotReady; us-east: OutOfSync)",
                ),
                CONDITION_READY: (
                    "False",
                    "ClusterNotReady",
                    "Propagated is False: not Ready: eu-west; not in sync yet: ap-south, us-east",
                ),
            },
            id="not-ready-and-pending",
        ),
        pytest.param(
            (shard(), shard(EU, desired_present=False)),
            (),
            {
                CONDITION_PROPAGATED: ("False", "Pending", "being removed from: eu-west"),
                CONDITION_HEALTHY: ("True", "AllShardsHealthy", "1/1 shards healthy"),
                CONDITION_READY: ("False", "Pending", "Propagated is False: being removed from: eu-west"),
            },
            id="withdrawing-not-counted",
        ),
        pytest.param(
            (),
            (),
            {
                CONDITION_PROPAGATED: (
                    "False",
                    "NoClustersSelected",
                    "placement selects no registered MemberCluster",
                ),
                CONDITION_HEALTHY: ("False", "NoHealthyShards", "0/0 shards healthy"),
                CONDITION_READY: (
                    "False",
                    "NoClustersSelected",
                    "Propagated is False: placement selects no registered MemberCluster",
                ),
            },
            id="nothing-selected",
        ),
    ],
)
def test_render_status_conditions(
    shards: tuple[ShardStatus, ...], unknown: tuple[str, ...], expected: dict[str, tuple[str, str, str]]
) -> None:
    assert conditions(status(*shards, unknown=unknown)) == expected


def test_counts_exclude_withdrawing_shards_but_list_them() -> None:
    rendered = status(shard(EU, desired_present=False), shard(), shard(AP, use_default_service=False))
    assert (rendered.cluster_summary, rendered.clusters) == ("1/2", ClusterCounts(healthy=1, total=2))
    assert [s.cluster for s in rendered.shards] == ["ap-south", "eu-west", "us-east"]


def test_load_balancer_ingress_is_the_deduplicated_union_by_cluster() -> None:
    rendered = status(
        shard(service=observed(Ingress(ip="127.0.0.9"), Ingress(hostname="shared.example.com"))),
        shard(EU, service=observed(Ingress(ip="127.0.0.2"), Ingress(hostname="shared.example.com"))),
        shard(AP, in_sync=False, service=observed(Ingress(ip="127.0.0.5"))),
    )
    assert rendered.load_balancer == LoadBalancerStatus(
        ingress=(
            IngressAddress(ip="127.0.0.5"),
            IngressAddress(hostname="shared.example.com"),
            IngressAddress(ip="127.0.0.2"),
            IngressAddress(ip="127.0.0.9"),
        )
    )


DNS_PUBLISHED = Condition(
    type=CONDITION_DNS_PUBLISHED,
    status="True",
    last_transition_time=T0,
    reason="Published",
    message="3 records",
)
FOREIGN = Condition(
    type="example.com/Audited", status="True", last_transition_time=T0, reason="Done", message=""
)


def test_invalid_spec_keeps_previous_shards_and_other_conditions() -> None:
    before = status(shard(), shard(EU, endpoints=None))
    before = before.model_copy(
        update={
            "conditions": (*before.conditions, DNS_PUBLISHED, FOREIGN),
            "dns": DnsStatus(global_name="n.example.com"),
        }
    )
    invalid = InvalidSpecError(
        (("spec.overrides[0].clusterOverrides[1].path", "/spec/portz does not exist"),)
    )
    after = status(invalid=invalid, previous=before, now=T1, generation=4)
    message = "invalid spec: spec.overrides[0].clusterOverrides[1].path: /spec/portz does not exist"
    assert after.observed_generation == 4
    assert after.shards == before.shards
    assert (after.cluster_summary, after.load_balancer, after.dns) == (
        before.cluster_summary,
        before.load_balancer,
        before.dns,
    )
    assert conditions(after) == {
        CONDITION_PROPAGATED: ("False", "InvalidSpec", message),
        CONDITION_HEALTHY: (
            "True",
            "SomeShardsHealthy",
            "1/2 shards healthy (eu-west: NotEnoughReadyEndpoints)",
        ),
        CONDITION_DNS_PUBLISHED: ("True", "Published", "3 records"),
        CONDITION_READY: ("False", "InvalidSpec", f"Propagated is False: {message}"),
        "example.com/Audited": ("True", "Done", ""),
    }
    assert [c.type for c in after.conditions] == [
        CONDITION_PROPAGATED,
        CONDITION_HEALTHY,
        CONDITION_DNS_PUBLISHED,
        CONDITION_READY,
        "example.com/Audited",
    ]
    times = {c.type: c.last_transition_time for c in after.conditions}
    assert times == {
        CONDITION_PROPAGATED: T1,
        CONDITION_HEALTHY: T0,
        CONDITION_DNS_PUBLISHED: T0,
        CONDITION_READY: T1,
        "example.com/Audited": T0,
    }


def test_invalid_spec_without_previous_status() -> None:
    invalid = InvalidSpecError((("spec.template.spec.ports", "Required value"),))
    rendered = status(invalid=invalid)
    assert rendered.shards == ()
    assert conditions(rendered)[CONDITION_READY] == (
        "False",
        "InvalidSpec",
        "Propagated is False: invalid spec: spec.template.spec.ports: Required value",
    )


def test_dns_not_published_keeps_ready_false() -> None:
    unpublished = DNS_PUBLISHED.model_copy(
        update={"status": "False", "reason": "ProviderError", "message": "timeout"}
    )
    previous = status(shard()).model_copy(update={"conditions": (unpublished,)})
    rendered = status(shard(), previous=previous, now=T1)
    assert conditions(rendered)[CONDITION_READY] == (
        "False",
        "ProviderError",
        "DNSPublished is False: timeout",
    )
    assert conditions(rendered)[CONDITION_DNS_PUBLISHED] == ("False", "ProviderError", "timeout")


def test_a_dns_verdict_decides_dns_published_and_ready_together() -> None:
    rendered = status(
        shard(),
        dns=(DnsStatus(global_name="nginx.example.com."), DnsVerdict("False", "Conflict", "not ours")),
    )
    assert conditions(rendered)[CONDITION_DNS_PUBLISHED] == ("False", "Conflict", "not ours")
    assert conditions(rendered)[CONDITION_READY] == ("False", "Conflict", "DNSPublished is False: not ours")
    assert rendered.dns == DnsStatus(global_name="nginx.example.com.")
    published = status(shard(), previous=rendered, now=T1, dns=(None, DnsVerdict("True", "Published", "1")))
    assert conditions(published)[CONDITION_READY][0] == "True"


def test_transition_time_moves_only_when_status_changes() -> None:
    healthy = status(shard(), now=T0)
    degraded = status(shard(endpoints=EndpointSummary(ready=0)), previous=healthy, now=T1)
    recovered = status(shard(), previous=degraded, now=T1 + timedelta(minutes=1))
    times = {c.type: c.last_transition_time for c in degraded.conditions}
    assert times == {CONDITION_PROPAGATED: T0, CONDITION_HEALTHY: T1, CONDITION_READY: T1}
    assert {c.type: c.last_transition_time for c in recovered.conditions}[
        CONDITION_HEALTHY
    ] == T1 + timedelta(minutes=1)
    assert status(shard(), previous=recovered, now=T1 + timedelta(hours=1)) == recovered


@pytest.mark.parametrize(
    "now",
    [
        pytest.param(T0.replace(microsecond=654321), id="microseconds-dropped"),
        pytest.param(T0.replace(tzinfo=None), id="naive-is-utc"),
        pytest.param(T0.astimezone(timezone(timedelta(hours=2))), id="other-zone"),
    ],
)
def test_times_are_whole_seconds_in_utc(now: datetime) -> None:
    rendered = status(shard(), now=now)
    assert {c.last_transition_time for c in rendered.conditions} == {T0}
    assert rendered.model_dump(mode="json")["conditions"][0]["lastTransitionTime"] == "2024-05-01T12:00:00Z"


def test_render_condition_keeps_time_for_same_status() -> None:
    before = Condition(type="X", status="True", last_transition_time=T0, reason="A", message="a")
    kept = render_condition((before,), "X", "True", "B", "b", generation=2, now=T1)
    moved = render_condition((before,), "X", "False", "B", "b", generation=2, now=T1)
    assert (kept.last_transition_time, kept.reason, kept.observed_generation) == (T0, "B", 2)
    assert moved.last_transition_time == T1


# --- change detection ---------------------------------------------------------------------------------------


def test_is_status_changed() -> None:
    rendered = status(shard())
    stored = rendered.model_dump(mode="json", exclude_none=True)
    assert not is_status_changed(stored, rendered)
    assert is_status_changed(None, rendered)
    assert is_status_changed({**stored, "clusterSummary": "0/1"}, rendered)
    assert is_status_changed({**stored, "extra": 1}, rendered)


def test_diff_status() -> None:
    rendered = status(shard())
    stored = rendered.model_dump(mode="json", exclude_none=True)
    assert diff_status(stored, rendered) is None
    assert diff_status({**stored, "clusterSummary": "0/1", "stale": True}, rendered) == {
        "clusterSummary": "1/1",
        "stale": None,
    }
    assert diff_status(None, rendered) == stored


# --- properties ---------------------------------------------------------------------------------------------

NAMES = ("ap-south", "eu-west", "us-east", "sa-east")
ingresses = st.builds(
    Ingress,
    ip=st.sampled_from([None, "127.0.0.1", "127.0.0.2", "::1"]),
    hostname=st.sampled_from([None, "lb.example"]),
)


@st.composite
def shard_statuses(draw: st.DrawFn) -> tuple[ShardStatus, ...]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4))
    built: list[ShardStatus] = []
    for name in names:
        info = ClusterInfo(
            name=name,
            region=name.split("-")[0],
            zones=tuple(draw(st.lists(st.sampled_from(["a", "b"]), unique=True))),
            ready=draw(st.booleans()),
            synced=draw(st.booleans()),
        )
        points = draw(st.none() | st.lists(ingresses, max_size=3))
        service = None if points is None else observed(*points, cluster_name=name)
        observation = ShardObservation(
            cluster=info,
            selected=draw(st.booleans()),
            observed=service,
            in_sync=draw(st.booleans()),
            endpoints=draw(
                st.none()
                | st.builds(
                    EndpointSummary,
                    ready=st.integers(0, 3),
                    zones=st.frozensets(st.sampled_from(["a", "c"])),
                )
            ),
            problem=draw(st.none() | st.just("apply failed")),
            owned=draw(st.booleans()),
        )
        health = plan_shard_health(
            observation, min_ready_endpoints=draw(st.integers(1, 3)), grace=40.0, now=0.0
        )
        built.append(render_shard_status(health))
    return tuple(built)


@settings(deadline=None)
@given(
    shards=shard_statuses(),
    unknown=st.lists(st.sampled_from(["x", "y"]), unique=True),
    invalid=st.booleans(),
    later=st.integers(1, 10**6),
)
def test_render_status_is_idempotent(
    shards: tuple[ShardStatus, ...], unknown: list[str], invalid: bool, later: int
) -> None:
    error = InvalidSpecError((("spec.dns.ttl", "must be >= 1"),)) if invalid else None
    first = render_status(
        generation=1, shards=shards, unknown_clusters=unknown, invalid=error, previous=None, now=T0
    )
    again = render_status(
        generation=1,
        shards=shards,
        unknown_clusters=unknown,
        invalid=error,
        previous=first,
        now=T0 + timedelta(seconds=later),
    )
    assert again == first
    assert not is_status_changed(first.model_dump(mode="json", exclude_none=True), again)


@settings(deadline=None)
@given(shards=shard_statuses())
def test_render_status_counts_and_order(shards: tuple[ShardStatus, ...]) -> None:
    rendered = render_status(
        generation=1, shards=shards, unknown_clusters=(), invalid=None, previous=None, now=T0
    )
    selected = [s for s in shards if s.reason != "NotSelected"]
    healthy = sum(s.healthy for s in selected)
    assert rendered.clusters == ClusterCounts(healthy=healthy, total=len(selected))
    assert rendered.cluster_summary == f"{healthy}/{len(selected)}"
    assert [s.cluster for s in rendered.shards] == sorted(s.cluster for s in shards)
    assert conditions(rendered)[CONDITION_HEALTHY][0] == ("True" if healthy else "False")
    ready = conditions(rendered)[CONDITION_READY][0] == "True"
    assert ready == (conditions(rendered)[CONDITION_PROPAGATED][0] == "True" and healthy > 0)
    union = rendered.load_balancer.ingress if rendered.load_balancer else ()
    assert len(union) == len(set(union))
    assert set(union) == {address for s in shards for address in s.ingress}
    for s in rendered.shards:
        assert s.healthy == (s.reason == "Healthy")
        assert not s.healthy or (s.synced and s.ingress and s.ready_endpoints >= 1)


def test_long_condition_messages_are_cut_to_the_api_limit() -> None:
    cut = render_condition((), "X", "False", "Why", "x" * 40000, generation=1, now=T0)
    assert len(cut.message) == 32768
    assert cut.message.endswith("…")
