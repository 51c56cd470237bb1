"""The reconcile's memo (ReconcileMemo, the controller's parsed specs, plan_tiers's reuse of record sets):
planning with them gives exactly what planning without them does, while the inputs stay the same and
once they change (a shard's endpoints, a member's Service, the spec, a cluster away)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, TypeVar

from federation_operator.controllers.federated_service import (
    FederatedServiceController,
)
from federation_operator.domain.members import ClusterInfo, EndpointSummary, Ingress, ObservedService
from federation_operator.domain.records import PublishResult, ServiceNames, ShardAddresses
from federation_operator.domain.specs import parse_federated_service_spec
from federation_operator.kube.transport import Exchange
from federation_operator.planning.publication import plan_shard_addresses
from federation_operator.planning.reconcile import (
    Observation,
    ReconcileMemo,
    plan_member_writes,
    plan_reconcile,
)
from federation_operator.planning.records import plan_tiers
from tests.controllers import bare_controller
from tests.exchanges import answer
from tests.unit.test_reconcile import EU, FED, KEY, SPEC, US, manifests, observe, ours

T = TypeVar("T")


def plan(observation: Observation, memo: ReconcileMemo | None) -> tuple[Any, Any]:
    members = plan_member_writes(observation, FED, memo)
    return members, plan_reconcile(observation, FED, members, {}, memo)


def steps() -> list[Observation]:
    """One object's life: created, its Services up, an endpoint unready and back, a Service drifted, a
    member away, the spec changed."""
    first = observe()
    desired = manifests(first)
    services: dict[str, ObservedService | None] = {
        "us": ours("us", desired["us"], "127.0.0.10"),
        "eu": ours("eu", desired["eu"], "127.0.0.20"),
    }
    ready = {
        "us": EndpointSummary(ready=1, zones=frozenset({"us-central1-a"})),
        "eu": EndpointSummary(ready=1),
    }
    up = replace(first, services=services, endpoints=ready)
    unready = replace(up, endpoints={**ready, "us": EndpointSummary()})
    drifted = {**services, "eu": ours("eu", {**desired["eu"], "spec": {"ports": []}}, "127.0.0.20")}
    away = replace(EU, ready=False, not_ready_since=990.0)
    changed = parse_federated_service_spec({**SPEC, "dns": {"ttl": 60}})
    published = PublishResult(plan(up, None)[1].records)
    return [
        first,
        up,
        up,
        replace(up, published=published),
        unready,
        unready,
        up,
        replace(up, services=drifted),
        replace(up, clusters=(US, away)),
        replace(up, spec=changed),
        replace(up, spec=changed),
    ]


def test_a_memo_plans_exactly_what_planning_without_one_does() -> None:
    memo = ReconcileMemo()
    for index, observation in enumerate(steps()):
        assert plan(observation, memo) == plan(observation, None), f"step {index}"


def test_unchanged_inputs_give_the_same_records_and_a_changed_shard_plans_them_again() -> None:
    memo = ReconcileMemo()
    up, unready = steps()[1], steps()[4]
    before = plan(up, memo)[1].records
    assert plan(up, memo)[1].records is before  # not planned again
    after = plan(unready, memo)[1].records
    assert after == plan(unready, None)[1].records != before
    # The record sets the endpoint did not change are the ones planned before, not new equal ones.
    europe = next(r for r in before if r.name.startswith("nginx.mynamespace.myfederation.svc.europe-west1."))
    assert any(r is europe for r in after)


def test_a_service_that_changed_is_compared_with_the_manifest_again() -> None:
    memo = ReconcileMemo()
    up = steps()[1]
    assert [w.action for w in plan_member_writes(up, FED, memo).writes] == ["keep", "keep"]
    desired = manifests(up)
    drifted = ours("eu", {**desired["eu"], "spec": {"ports": []}}, "127.0.0.20")
    changed = replace(up, services={**up.services, "eu": drifted})
    assert [w.action for w in plan_member_writes(changed, FED, memo).writes] == ["keep", "update"]
    assert [w.action for w in plan_member_writes(up, FED, memo).writes] == ["keep", "keep"]


def test_a_new_spec_renders_new_manifests() -> None:
    memo = ReconcileMemo()
    up = steps()[1]
    before = {w.cluster: w.manifest for w in plan_member_writes(up, FED, memo).writes}
    other = parse_federated_service_spec(
        {"template": {"spec": {"selector": {"run": "web"}, "ports": [{"port": 8}]}}}
    )
    writes = plan_member_writes(replace(up, spec=other), FED, memo).writes
    assert {w.action for w in writes} == {"update"}
    assert all(w.manifest != before[w.cluster] for w in writes)
    assert writes[0].manifest is not None
    assert writes[0].manifest["spec"]["selector"] == {"run": "web"}


def test_clusters_without_overrides_share_one_manifest_and_an_override_gets_its_own() -> None:
    spec = {
        **SPEC,
        "overrides": [
            {
                "clusterName": "eu",
                "clusterOverrides": [{"op": "add", "path": "/spec/loadBalancerClass", "value": "x"}],
            }
        ],
    }
    third = ClusterInfo(name="asia", region="asia-east1", ready=True, synced=True)
    writes = {
        w.cluster: w.manifest
        for w in plan_member_writes(observe(clusters=(US, EU, third), spec=spec), FED).writes
    }
    assert writes["us"] is writes["asia"]
    assert writes["eu"] is not None
    assert writes["eu"]["spec"]["loadBalancerClass"] == "x"
    assert "loadBalancerClass" not in (writes["us"] or {})["spec"]


def test_plan_tiers_reuses_equal_record_sets_only() -> None:
    names = ServiceNames(
        service="nginx", namespace="mynamespace", federation="myfederation", domain="example.com"
    )
    topology = {"us-central1": frozenset({"us-central1-a", "us-central1-b"}), "europe-west1": frozenset()}
    us = ShardAddresses(
        cluster="us", region="us-central1", zones=frozenset({"us-central1-a"}), ipv4=("127.0.0.10",)
    )
    eu = ShardAddresses(cluster="eu", region="europe-west1", ipv4=("127.0.0.20",))
    kwargs: dict[str, Any] = {"names": names, "aliases": ("www.example.com",), "topology": topology}
    before = plan_tiers(ttl=180, healthy=[us, eu], **kwargs).records
    fewer = plan_tiers(ttl=180, healthy=[us], reuse=before, **kwargs).records
    assert fewer == plan_tiers(ttl=180, healthy=[us], **kwargs).records
    kept = [r for r in fewer if any(r is b for b in before)]
    assert {r.name for r in kept} >= {"www.example.com.", names.zone_name("us-central1-b")}
    # Another TTL: nothing is reused.
    shorter = plan_tiers(ttl=60, healthy=[us, eu], reuse=before, **kwargs).records
    assert shorter == plan_tiers(ttl=60, healthy=[us, eu], **kwargs).records
    assert all(r.ttl == 60 for r in shorter)


async def _no_host(_api: object, exchange: Exchange[T], *, within: float | None = None) -> T:
    """The host's side of a status write, answered without one (the test reads what the controller keeps)."""
    return answer(exchange)


def controller() -> FederatedServiceController:
    return bare_controller(FED, send=_no_host)


def body(spec: dict[str, Any], generation: int = 1, uid: str = "uid-1") -> dict[str, Any]:
    metadata = {"namespace": KEY[0], "name": KEY[1], "uid": uid, "generation": generation}
    return {"metadata": metadata, "spec": spec}


def test_the_controller_parses_a_spec_once_per_version() -> None:
    fsc = controller()
    first = fsc._observe(KEY, body(SPEC)).spec
    assert fsc._observe(KEY, body({**SPEC})).spec is first  # an equal copy (the watch's next event)
    ttl = {**SPEC, "dns": {"ttl": 60}}
    assert fsc._observe(KEY, body(ttl, generation=2)).spec == parse_federated_service_spec(ttl)
    # Changed under the same generation (a test, or a spec stored before a schema change): parsed again.
    assert fsc._observe(KEY, body(SPEC, generation=2)).spec == first
    assert fsc._observe(KEY, body(SPEC, generation=2, uid="uid-2")).spec is not first
    invalid = fsc._observe(KEY, body({"template": {"spec": {"ports": "eighty"}}}, generation=3)).spec
    assert isinstance(invalid, Exception)


def test_what_the_controller_keeps_of_an_object_is_forgotten_with_it() -> None:
    fsc = controller()
    fsc.store.put({**body(SPEC), "metadata": {**body(SPEC)["metadata"], "finalizers": ["fedop.io/cleanup"]}})
    asyncio.run(fsc.reconcile(KEY))
    assert KEY in fsc._specs
    assert KEY in fsc._memos
    fsc.forget(KEY)
    assert KEY not in fsc._specs
    assert KEY not in fsc._memos


def test_a_shares_addresses_are_made_again_only_when_it_changed() -> None:
    memo = ReconcileMemo()
    ten, twenty = (Ingress(ip="127.0.0.10"),), (Ingress(ip="127.0.0.20"),)
    us, eu = ("us", "us-central1", ("us-central1-a",), ten), ("eu", "europe-west1", (), twenty)
    first = memo.addresses((us, eu))
    assert first == plan_shard_addresses((us, eu))
    moved = ("eu", "europe-west1", (), (Ingress(ip="127.0.0.21"),))
    second = memo.addresses((us, moved))
    assert second[0] is first[0]
    assert second[1].ipv4 == ("127.0.0.21",)
    assert memo.addresses((us, moved)) is second
