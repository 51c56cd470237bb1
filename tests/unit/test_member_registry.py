"""The member registry: it tracks the latest partition from the members' readiness, never waits on a
disconnected member's watches, and what those watches still deliver never reaches the member registered
again under the same name."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kubernetes.client import ApiClient, Configuration

from federation_operator.controllers.member_cache import MemberRegistry
from federation_operator.domain.members import LABEL_FEDERATION, ClusterInfo
from federation_operator.planning.health import Partition

US, EU = "gce-us-central1", "gce-europe-west1"


def unreachable_api() -> ApiClient:
    # Nothing listens on port 9 of the loopback: the watches fail at once and retry with backoff.
    return ApiClient(Configuration(host="https://127.0.0.1:9"))


@pytest.fixture
def registry() -> Iterator[MemberRegistry]:
    members = MemberRegistry("myfederation", enqueue=lambda key: None, enqueue_all=lambda: None)
    yield members
    for info in members.clusters():
        members.disconnect(info.name, notify=False)


def info(name: str, *, ready: bool) -> ClusterInfo:
    return ClusterInfo(name=name, region=name.removeprefix("gce-"), ready=ready)


def test_the_latest_partition_follows_the_members_readiness(registry: MemberRegistry) -> None:
    registry.connect(info(US, ready=True), unreachable_api())
    registry.connect(info(EU, ready=True), unreachable_api())
    assert registry.partition() == Partition()
    registry.update(US, ready=False, not_ready_since=time.monotonic())
    assert registry.partition() == Partition()
    registry.update(EU, ready=False, not_ready_since=time.monotonic())
    started = registry.partition()
    assert started.ongoing
    registry.update(US, ready=True, not_ready_since=None)
    ended = registry.partition()
    assert not ended.ongoing
    assert ended.started_at == started.started_at
    assert ended.ended_at is not None
    assert started.started_at is not None
    assert ended.ended_at >= started.started_at


def test_a_disconnected_members_watch_never_writes_into_its_successor(registry: MemberRegistry) -> None:
    registry.connect(info(US, ready=True), unreachable_api())
    stale = registry._members[US].watches[0]  # its Service watch
    started = time.monotonic()
    registry.connect(info(US, ready=True), unreachable_api())  # reconnected (a new Secret, say)
    assert time.monotonic() - started < 1.0, "disconnecting waited for the old watches"
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "nginx",
            "namespace": "mynamespace",
            "labels": {
                LABEL_FEDERATION: "myfederation",
                "fedop.io/owner-namespace": "mynamespace",
                "fedop.io/owner-name": "nginx",
            },
        },
    }
    # What the old watch delivers after it was stopped (a callback already under way, say).
    stale._on_event("ADDED", service)
    assert stale._on_relist is not None
    stale._on_relist([service])
    assert registry.service(US, "mynamespace", "nginx") is None
