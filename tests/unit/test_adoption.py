"""Adoption after a restore: a FederatedService re-created under its old name (a new UID) takes over the
member Services and DNS records its predecessor left, with no member write and no DNS change when nothing
else changed, while Services someone else made stay conflicts. Pure planning, first to restored round."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from federation_operator.domain.members import (
    LABEL_FEDERATION,
    ClusterInfo,
    EndpointSummary,
    Ingress,
    ObservedService,
)
from federation_operator.domain.records import PublishResult, RecordSet
from federation_operator.domain.specs import parse_federated_service_spec
from federation_operator.planning.reconcile import (
    ADOPTED,
    Federation,
    Observation,
    ReconcilePlan,
    WriteResult,
    plan_member_writes,
    plan_reconcile,
)
from federation_operator.planning.services import ANNOTATION_ADOPT
from federation_operator.planning.zone_diff import plan_changes, render_applied

FED = Federation(name="myfederation", domain="example.com", grace=40.0)
ZONE = "example.com."
KEY = ("mynamespace", "nginx")
OWNER = "mynamespace/nginx"
OLD_UID, NEW_UID = "uid-before-restore", "uid-after-restore"
US = ClusterInfo(name="us", region="us-central1", zones=("us-central1-a",), ready=True, synced=True)
EU = ClusterInfo(name="eu", region="europe-west1", zones=("europe-west1-b",), ready=True, synced=True)
ADDRESSES = {"us": "127.0.0.10", "eu": "127.0.0.20"}
SPEC: dict[str, Any] = {
    "template": {"spec": {"selector": {"run": "nginx"}, "ports": [{"name": "http", "port": 80}]}}
}
NOW = datetime(2026, 12, 4, tzinfo=UTC)


def observe(
    uid: str, services: dict[str, ObservedService | None], spec: dict[str, Any] | None = None
) -> Observation:
    return Observation(
        key=KEY,
        generation=1,
        uid=uid,
        spec=parse_federated_service_spec(spec or SPEC),
        previous=None,
        clusters=(US, EU),
        services=services,
        endpoints={c: EndpointSummary(ready=2) for c in services},
        published=None,
        expected=frozenset({"us", "eu"}),
        started_at=0.0,
        monotonic=1000.0,
        now=NOW,
    )


def held(cluster: str, manifest: dict[str, Any], *, owner: tuple[str, str] | None = KEY) -> ObservedService:
    """``manifest`` as the member's cache shows it, with its LoadBalancer address."""
    annotations = manifest["metadata"].get("annotations") or {}
    return ObservedService(
        cluster=cluster,
        namespace=KEY[0],
        name=KEY[1],
        owner=owner,
        owner_uid=annotations.get("fedop.io/owner-uid") if owner else None,
        manifest=manifest,
        ingress=(Ingress(ip=ADDRESSES[cluster]),),
    )


def reconcile(observation: Observation) -> ReconcilePlan:
    return plan_reconcile(observation, FED, plan_member_writes(observation, FED), {})


def before_restore(spec: dict[str, Any] | None = None) -> tuple[dict[str, ObservedService], list[RecordSet]]:
    """The predecessor's steady state: the Services it wrote in each member and the zone it published."""
    created = {
        w.cluster: dict(w.manifest or {}) for w in plan_member_writes(observe(OLD_UID, {}, spec), FED).writes
    }
    services = {cluster: held(cluster, manifest) for cluster, manifest in created.items()}
    plan = reconcile(observe(OLD_UID, dict(services), spec))
    assert plan.records
    changes, conflicts = plan_changes([], plan.records, federation=FED.name, owner=OWNER, zone=ZONE)
    assert not conflicts
    return services, list(render_applied([], changes))


def test_a_restored_object_adopts_its_predecessors_services_and_records_without_a_write() -> None:
    services, zone = before_restore()
    restored = observe(NEW_UID, dict(services))
    writes = plan_member_writes(restored, FED).writes
    assert [(w.cluster, w.action) for w in writes] == [("us", "keep"), ("eu", "keep")]
    plan = reconcile(restored)
    assert [s.healthy for s in plan.status.shards] == [True, True]
    assert [(e.topic, e.reason) for e in plan.events] == [("adopted/us", ADOPTED), ("adopted/eu", ADOPTED)]
    assert OLD_UID in plan.events[0].message
    # DNS ownership names the federation and namespace/name, never a UID: the same records, no change.
    assert plan.records is not None
    changes, conflicts = plan_changes(zone, plan.records, federation=FED.name, owner=OWNER, zone=ZONE)
    assert (changes.is_empty, conflicts) == (True, ())
    # Once the publisher confirms them, the restored object is Ready like its predecessor was.
    confirmed = plan_reconcile(
        replace(restored, published=PublishResult(plan.records)), FED, plan_member_writes(restored, FED), {}
    )
    assert {c.type: c.status for c in confirmed.status.conditions}["Ready"] == "True"


def test_a_restored_object_whose_spec_changed_meanwhile_updates_only_that() -> None:
    services, _ = before_restore()
    spec = {"template": {"spec": {**SPEC["template"]["spec"], "ports": [{"name": "http", "port": 8080}]}}}
    writes = plan_member_writes(observe(NEW_UID, dict(services), spec), FED).writes
    assert [w.action for w in writes] == ["update", "update"]
    assert all((w.manifest or {})["metadata"]["annotations"]["fedop.io/owner-uid"] == NEW_UID for w in writes)


def of_another_federation(manifest: dict[str, Any]) -> dict[str, Any]:
    metadata = manifest["metadata"]
    return {**manifest, "metadata": {**metadata, "labels": {**metadata["labels"], LABEL_FEDERATION: "other"}}}


def of_a_person(manifest: dict[str, Any]) -> dict[str, Any]:
    return {**manifest, "metadata": {"name": KEY[1], "namespace": KEY[0]}}


def pinned(manifest: dict[str, Any]) -> dict[str, Any]:
    metadata = manifest["metadata"]
    annotations = {**metadata["annotations"], ANNOTATION_ADOPT: "false"}
    return {**manifest, "metadata": {**metadata, "annotations": annotations}}


@pytest.mark.parametrize("made_by", [of_another_federation, of_a_person, pinned])
def test_a_service_someone_else_made_is_never_taken(made_by: Any) -> None:
    services, _ = before_restore()
    manifest = made_by(dict(services["us"].manifest))
    labels = manifest["metadata"].get("labels") or {}
    owner = KEY if labels.get(LABEL_FEDERATION) else None
    restored = observe(NEW_UID, {**services, "us": held("us", manifest, owner=owner)})
    writes = plan_member_writes(restored, FED).writes
    assert [(w.cluster, w.action) for w in writes] == [("us", "conflict"), ("eu", "keep")]
    plan = reconcile(restored)
    us = next(s for s in plan.status.shards if s.cluster == "us")
    assert (us.healthy, us.reason) == (False, "Conflict")
    assert ("conflict/us", "Conflict") in [(e.topic, e.reason) for e in plan.events]
    assert ("adopted/us", ADOPTED) not in [(e.topic, e.reason) for e in plan.events]
    assert plan.records is not None
    assert all(ADDRESSES["us"] not in r.values for r in plan.records)


def test_the_object_that_wrote_its_services_is_told_of_no_adoption() -> None:
    services, _ = before_restore()
    plan = reconcile(observe(OLD_UID, dict(services)))
    assert [e.reason for e in plan.events if e.reason == ADOPTED] == []


def test_a_predecessors_service_found_by_our_create_is_adopted_too() -> None:
    # Not in the member's cache yet (still being listed), so the plan was "create"; the create found the
    # predecessor's Service there, which the controller plans again as "keep" (no write).
    services, _ = before_restore()
    first = replace(observe(NEW_UID, {}), endpoints={c: EndpointSummary(ready=2) for c in ("us", "eu")})
    assert [w.action for w in plan_member_writes(first, FED).writes] == ["create", "create"]
    results = {c: WriteResult(services[c], True) for c in ("us", "eu")}
    plan = plan_reconcile(first, FED, plan_member_writes(first, FED), results)
    assert [(e.topic, e.reason) for e in plan.events] == [("adopted/us", ADOPTED), ("adopted/eu", ADOPTED)]
    assert [s.healthy for s in plan.status.shards] == [True, True]
