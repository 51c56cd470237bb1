"""The member registry: it tracks the latest partition from the members' readiness, never waits on a
disconnected member's watches, and what those watches still deliver never reaches the member registered
again under the same name."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from federation_operator.controllers.member_cache import MemberRegistry
from federation_operator.domain.members import LABEL_FEDERATION, ClusterInfo
from federation_operator.kube.async_informer import AsyncMemberWatch, WatchRefused
from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.client import ClusterClient, ClusterConfig
from federation_operator.kube.member_services import observe_service
from federation_operator.planning.health import Partition
from federation_operator.planning.reconcile import Federation
from tests.controllers import bare_controller

US, EU = "gce-us-central1", "gce-europe-west1"


def unreachable_api() -> ClusterClient:
    # Nothing listens on port 9 of the loopback: the watches fail at once and retry with backoff.
    return ClusterClient(ClusterConfig(server="https://127.0.0.1:9"))


@pytest.fixture
async def transport() -> AsyncIterator[AsyncTransport]:
    """The watches' sessions (connect() starts them, as tasks on the test's loop), all closed at the end."""
    held = AsyncTransport()
    yield held
    await held.close()


@pytest.fixture
async def registry(transport: AsyncTransport) -> AsyncIterator[MemberRegistry]:
    members = MemberRegistry(
        "myfederation", enqueue=lambda key: None, enqueue_all=lambda: None, transport=transport
    )
    yield members
    for info in members.clusters():
        members.disconnect(info.name, notify=False)


def info(name: str, *, ready: bool) -> ClusterInfo:
    return ClusterInfo(name=name, region=name.removeprefix("gce-"), ready=ready)


async def test_the_latest_partition_follows_the_members_readiness(registry: MemberRegistry) -> None:
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


async def test_a_disconnected_members_watch_never_writes_into_its_successor(registry: MemberRegistry) -> None:
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
    relist(stale, [service])
    assert registry.service(US, "mynamespace", "nginx") is None


def connected_registry(
    transport: AsyncTransport, queued: list[tuple[str, str]], everything: list[str] | None = None
) -> MemberRegistry:
    """A registry with member US connected (its watches fail and retry: tests hand it lists and events
    themselves), its re-plans of one FederatedService appended to ``queued`` and of all to ``everything``."""
    registry = MemberRegistry(
        "myfederation",
        enqueue=queued.append,
        enqueue_all=(lambda: everything.append("all")) if everything is not None else (lambda: None),
        transport=transport,
    )
    registry.connect(info(US, ready=True), unreachable_api())
    return registry


def relist(watch: AsyncMemberWatch, *pages: list[dict[str, Any]]) -> None:
    """A complete list of ``watch``'s kind, in ``pages``, as the informer hands it over (and then says that
    the watch is synced, as it does after each complete list)."""
    assert watch._on_relist is not None
    relisting = watch._on_relist()
    for page in pages:
        relisting.page(page)
    relisting.done()
    if watch._on_synced is not None:
        watch._on_synced()


def owned_service(version: str, ingress: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "nginx",
            "namespace": "mynamespace",
            "resourceVersion": version,
            "labels": {
                LABEL_FEDERATION: "myfederation",
                "fedop.io/owner-namespace": "mynamespace",
                "fedop.io/owner-name": "nginx",
            },
            "managedFields": [{"manager": "federation-operator", "operation": "Update"}],
        },
        "spec": {"ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": ingress}]} if ingress else {}},
    }


async def test_the_echo_of_our_own_write_replans_nothing_and_the_next_change_does(
    transport: AsyncTransport,
) -> None:
    queued: list[tuple[str, str]] = []
    registry = connected_registry(transport, queued)
    try:
        on_event = registry._members[US].watches[0]._on_event  # the Service watch's callback
        assert on_event is not None
        created = owned_service("5")
        registry.note_written(US, observe_service(US, created))
        on_event("ADDED", created)
        assert queued == [], "our own create, seen back, was planned again"
        held = registry.service(US, "mynamespace", "nginx")
        assert held is not None, "the echo must still update the cache"
        assert "managedFields" not in held.manifest["metadata"]
        on_event("MODIFIED", owned_service("6", ingress="127.0.0.9"))  # the LB controller's write
        assert queued == [("mynamespace", "nginx")]
        held = registry.service(US, "mynamespace", "nginx")
        assert held is not None
        assert [i.ip for i in held.ingress] == ["127.0.0.9"]
        # A write whose echo came before the note: the note is dropped by the next event, which is planned.
        registry.note_written(US, observe_service(US, owned_service("7")))
        on_event("MODIFIED", owned_service("8"))
        assert queued == [("mynamespace", "nginx")] * 2
        # Not an echo any more (the note is gone): planned, as it changes what a reconcile reads.
        on_event("MODIFIED", owned_service("7", ingress="127.0.0.10"))
        assert queued == [("mynamespace", "nginx")] * 3
    finally:
        registry.disconnect(US, notify=False)


async def test_a_slice_without_owner_labels_re_plans_the_federated_service_its_service_name_names(
    transport: AsyncTransport,
) -> None:
    """The EndpointSlice controller copies a Service's labels (ours among them) onto its slices; a slice
    written by anyone else may carry only the federation label and the Service's name. Its readiness
    change must still re-plan the FederatedService, or the shard stays unhealthy until something else
    happens to change."""
    queued: list[tuple[str, str]] = []
    registry = connected_registry(transport, queued)
    try:
        slices = registry._members[US].watches[1]
        assert slices.resource.plural == "endpointslices"
        assert slices._on_event is not None
        endpoint_slice = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "nginx-by-hand",
                "namespace": "mynamespace",
                "labels": {LABEL_FEDERATION: "myfederation", "kubernetes.io/service-name": "nginx"},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}],
        }
        slices._on_event("ADDED", endpoint_slice)
        assert queued == [("mynamespace", "nginx")]
        assert registry.endpoints(US, "mynamespace", "nginx").ready == 1
    finally:
        registry.disconnect(US, notify=False)


def owned_slice(owner: str, version: str, *, ready: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{owner}-abcde",
            "namespace": "mynamespace",
            "resourceVersion": version,
            "labels": {LABEL_FEDERATION: "myfederation", "kubernetes.io/service-name": owner},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": ready}}],
    }


def renamed(service: dict[str, Any], name: str) -> dict[str, Any]:
    labels = {**service["metadata"]["labels"], "fedop.io/owner-name": name}
    return {**service, "metadata": {**service["metadata"], "name": name, "labels": labels}}


async def test_a_relist_is_taken_in_page_by_page_and_forgets_only_once_complete(
    transport: AsyncTransport,
) -> None:
    """A list of 10,000 objects comes in pages: each is taken in as it arrives (the whole list is never held),
    readers between pages see every object as it was or as listed, owners are queued page by page, and what
    was not listed is forgotten only when the list is complete (a list cut off midway forgets nothing)."""
    queued: list[tuple[str, str]] = []
    registry = connected_registry(transport, queued)

    def version(name: str) -> str | None:
        held = registry.service(US, "mynamespace", name)
        return None if held is None else str(held.manifest["metadata"]["resourceVersion"])

    try:
        services, slices = registry._members[US].watches
        assert services._on_relist is not None
        relist(services, [renamed(owned_service("5"), n) for n in ("a", "b", "gone")])
        relist(slices)  # the member's first lists complete: from now on a relist queues owners
        queued.clear()

        cut_off = services._on_relist()
        cut_off.page([renamed(owned_service("6"), "a")])
        assert queued == [("mynamespace", "a")], "queued with its page"
        assert (version("a"), version("b"), version("gone")) == ("6", "5", "5"), "b not listed yet: as it was"
        cut_off.page([renamed(owned_service("5"), "b")])
        assert queued == [("mynamespace", "a")]
        # The list is cut off here (a broken connection): nothing is forgotten, and the next starts over.
        assert version("gone") == "5"

        again = services._on_relist()
        again.page([renamed(owned_service("6"), "a")])
        again.page([renamed(owned_service("5"), "b")])
        assert version("gone") == "5", "forgotten only once the list is complete"
        again.done()
        assert (version("a"), version("b"), version("gone")) == ("6", "5", None)
        assert queued == [("mynamespace", "a"), ("mynamespace", "gone")]
    finally:
        registry.disconnect(US, notify=False)


async def test_a_relist_re_plans_only_the_owners_of_what_changed_appeared_or_vanished(
    transport: AsyncTransport,
) -> None:
    """A watch that reconnects, or is told 410 Gone, lists everything again: the objects still at the
    version held re-plan nothing (10,000 reconciles for one broken connection otherwise); a changed, new or
    vanished object re-plans its owner, and the cache holds exactly what was listed."""
    queued: list[tuple[str, str]] = []
    everything: list[str] = []
    registry = connected_registry(transport, queued, everything)
    try:
        services, slices = registry._members[US].watches
        assert services._on_relist is not None
        assert slices._on_relist is not None
        first = [renamed(owned_service("5"), n) for n in ("same", "changed", "vanished")]
        relist(services, first)
        relist(slices, [owned_slice("same", "7"), owned_slice("changed", "8")])
        # The first lists: one re-plan of everything once both are complete, nothing object by object.
        assert (queued, everything) == ([], ["all"])

        relist(services, first)  # nothing changed meanwhile
        relist(slices, [owned_slice("same", "7"), owned_slice("changed", "8")])
        assert queued == []

        relist(services, [renamed(owned_service("5"), "same"), renamed(owned_service("6"), "changed")])
        assert sorted(queued) == [("mynamespace", "changed"), ("mynamespace", "vanished")]
        assert registry.service(US, "mynamespace", "vanished") is None
        changed = registry.service(US, "mynamespace", "changed")
        assert changed is not None
        assert changed.manifest["metadata"]["resourceVersion"] == "6"
        queued.clear()

        relist(slices, [owned_slice("same", "7"), owned_slice("changed", "9", ready=False)])
        assert queued == [("mynamespace", "changed")]
        assert registry.endpoints(US, "mynamespace", "changed").ready == 0
        assert registry.endpoints(US, "mynamespace", "same").ready == 1
        queued.clear()

        relist(
            services,
            [
                renamed(owned_service("5"), "same"),
                renamed(owned_service("6"), "changed"),
                renamed(owned_service("9"), "new"),
            ],
        )
        assert queued == [("mynamespace", "new")]
    finally:
        registry.disconnect(US, notify=False)


async def test_a_broken_watch_leaves_the_members_view_stale_until_both_kinds_list_again(
    transport: AsyncTransport,
) -> None:
    """A watch that fails (its member went down, or cut us off) holds what it last saw, which may be stale:
    the member's view is not current (``synced`` False: plans wait for it, and "no Service seen" is not read
    as absent) until it has listed again. The failure itself re-plans nothing; once the view is current, the
    FederatedServices planned meanwhile and the owners of what the relist found changed are re-planned, and
    only they (not everything, as after the first lists)."""
    queued: list[tuple[str, str]] = []
    everything: list[str] = []
    registry = connected_registry(transport, queued, everything)

    def synced() -> bool:
        return registry.clusters()[0].synced

    try:
        services, slices = registry._members[US].watches
        assert services._on_error is not None
        assert slices._on_error is not None
        first = [renamed(owned_service("5"), n) for n in ("same", "changed")]
        relist(services, first)
        assert not synced()
        relist(slices, [owned_slice("same", "7")])
        assert synced()
        assert (queued, everything) == ([], ["all"])

        services._on_error("Service watch of gce-us-central1: connection refused; retrying in 10.0s")
        slices._on_error("EndpointSlice watch of gce-us-central1: connection refused; retrying in 10.0s")
        assert not synced()
        assert (queued, everything) == ([], ["all"]), "a failure alone re-plans nothing"
        registry.replan_when_synced(("mynamespace", "planned-meanwhile"))

        relist(services, [renamed(owned_service("5"), "same"), renamed(owned_service("6"), "changed")])
        assert not synced(), "the slices have not listed again yet"
        assert queued == [], "a plan now would only wait for the slices"
        relist(slices, [owned_slice("same", "7")])
        assert synced()
        assert sorted(queued) == [("mynamespace", "changed"), ("mynamespace", "planned-meanwhile")]
        assert everything == ["all"]
        queued.clear()

        # One kind failing is enough; the other's events go on meanwhile, and a later sync owes nothing.
        slices._on_error("EndpointSlice watch of gce-us-central1: connection lost; retrying in 0.2s")
        assert not synced()
        relist(slices, [owned_slice("same", "7")])
        assert synced()
        assert (queued, everything) == ([], ["all"])
    finally:
        registry.disconnect(US, notify=False)


async def test_everything_is_re_planned_once_when_the_last_members_first_lists_end(
    transport: AsyncTransport,
) -> None:
    """At a start every member lists everything at about the same time. A plan made while one of them is
    still listing would wait for it, so the members' first complete views re-plan every FederatedService
    once, when the last of them is current, not once per member; a member not Ready holds no plan and is
    not waited for."""
    queued: list[tuple[str, str]] = []
    everything: list[str] = []
    registry = connected_registry(transport, queued, everything)
    registry.connect(info(EU, ready=True), unreachable_api())
    registry.connect(info("gce-asia-east1", ready=False), unreachable_api())
    try:
        us, eu = (registry._members[name].watches for name in (US, EU))
        relist(us[0])
        relist(us[1])
        assert everything == [], "the other member is still listing"
        registry.replan_when_synced(("mynamespace", "nginx"))
        relist(eu[0])
        relist(eu[1])
        assert (queued, everything) == ([], ["all"])
    finally:
        for name in (US, EU, "gce-asia-east1"):
            registry.disconnect(name, notify=False)


async def test_a_re_plan_of_everything_settles_what_waited_for_the_members_views(
    transport: AsyncTransport,
) -> None:
    """A member still listing turns NotReady (its probe, or its watch stuck): the readiness change re-plans
    everything, which covers what waited for the members' first views; a later relist of another member
    (a connection cut) owes nothing and re-plans nothing."""
    queued: list[tuple[str, str]] = []
    everything: list[str] = []
    registry = connected_registry(transport, queued, everything)
    registry.connect(info(EU, ready=True), unreachable_api())
    try:
        services, slices = registry._members[US].watches
        relist(services)
        relist(slices)
        assert everything == [], "EU is still listing"
        registry.update(EU, ready=False, not_ready_since=time.monotonic())
        assert everything == ["all"]
        assert services._on_error is not None
        services._on_error("Service watch of gce-us-central1: connection lost; retrying in 0.2s")
        relist(services)
        assert (queued, everything) == ([], ["all"])
    finally:
        for name in (US, EU):
            registry.disconnect(name, notify=False)


async def test_a_federated_service_planned_while_a_members_view_is_stale_is_planned_again_once_current(
    transport: AsyncTransport,
) -> None:
    """The controller's side: a plan made while a reachable member's view is not current waits for it, and
    is queued again the moment that view is current, with no poll in between."""
    queued: list[tuple[str, str]] = []
    registry = connected_registry(transport, queued)
    controller = bare_controller(Federation(name="myfederation", domain="example.com"), registry=registry)
    body = {"metadata": {"namespace": "mynamespace", "name": "nginx", "uid": "u1", "generation": 1}}
    try:
        services, slices = registry._members[US].watches
        relist(services)
        relist(slices)
        controller._observe(("mynamespace", "nginx"), body)  # the view is current: nothing to wait for
        assert services._on_error is not None
        services._on_error("Service watch of gce-us-central1: connection lost; retrying in 0.2s")
        observation = controller._observe(("mynamespace", "nginx"), body)
        assert [c.synced for c in observation.clusters] == [False]
        assert queued == []
        relist(services)
        assert queued == [("mynamespace", "nginx")]
    finally:
        registry.disconnect(US, notify=False)


async def test_a_watch_still_failing_after_a_retry_is_reported_to_the_members_probe(
    registry: MemberRegistry,
) -> None:
    """Each probe the member answers retries its failed watches at once; one that has not listed again by the
    next such probe is named, for the supervisor to count as a failed probe (the member answers, yet cannot be
    watched: its view would stay stale, and every plan waiting for it with it)."""
    registry.connect(info(US, ready=True), unreachable_api())
    services, slices = registry._members[US].watches
    relist(services)
    relist(slices)
    assert registry.retry_watches(US) is None
    services._failed(WatchRefused("list forbidden: services is forbidden"))
    assert registry.retry_watches(US) is None, "told to retry now: not stuck yet"
    stuck = registry.retry_watches(US)
    assert stuck is not None
    assert "Service watch of gce-us-central1: list forbidden" in stuck
    relist(services)  # it lists again
    assert registry.retry_watches(US) is None
    slices._failed(WatchRefused("list forbidden: endpointslices.discovery.k8s.io is forbidden"))
    assert registry.retry_watches(US) is None
    relist(slices)  # listed between two probes: never stuck
    assert registry.retry_watches(US) is None


async def test_an_event_that_changes_nothing_a_reconcile_reads_queues_nothing(
    transport: AsyncTransport,
) -> None:
    """A Service event changing only what the cache does not keep (managedFields, a status field other
    than the ingress) and a slice event changing neither the ready count nor the zones (a backend not ready
    yet, an endpoint's other conditions) re-plan nothing; every change of what is read still does, and the
    cache always holds the latest version."""
    queued: list[tuple[str, str]] = []
    registry = connected_registry(transport, queued)
    owner = ("mynamespace", "nginx")
    try:
        services, slices = (watch._on_event for watch in registry._members[US].watches)
        assert services is not None
        assert slices is not None
        services("ADDED", owned_service("5", ingress="127.0.0.9"))
        assert queued == [owner]
        same = owned_service("6", ingress="127.0.0.9")
        same["metadata"]["managedFields"].append({"manager": "someone-else", "operation": "Apply"})
        same["status"]["conditions"] = [{"type": "LoadBalancerReady", "status": "True"}]
        services("MODIFIED", same)
        assert queued == [owner]
        held = registry.service(US, *owner)
        assert held is not None
        assert held.manifest["metadata"]["resourceVersion"] == "6"
        for changed in (
            owned_service("7", ingress="127.0.0.10"),  # the ingress
            {**owned_service("8", ingress="127.0.0.10"), "spec": {"ports": [{"port": 81}]}},  # the spec
            {**owned_service("9", ingress="127.0.0.10"), "spec": {"ports": [{"port": 81}]}},  # nothing
        ):
            services("MODIFIED", changed)
        assert queued == [owner] * 3

        queued.clear()
        slices("ADDED", owned_slice("nginx", "10", ready=False))  # 0 ready before, 0 after
        assert queued == []
        slices("MODIFIED", owned_slice("nginx", "11"))
        assert queued == [owner]
        serving = owned_slice("nginx", "12")
        serving["endpoints"][0]["conditions"]["serving"] = False
        slices("MODIFIED", serving)
        assert queued == [owner]
        zoned = owned_slice("nginx", "13")
        zoned["endpoints"][0]["zone"] = "us-central1-a"
        slices("MODIFIED", zoned)
        assert queued == [owner] * 2
        assert registry.endpoints(US, *owner).zones == {"us-central1-a"}
        slices("DELETED", zoned)
        assert queued == [owner] * 3
        assert registry.endpoints(US, *owner).ready == 0
    finally:
        registry.disconnect(US, notify=False)


async def test_the_endpoint_summary_read_between_changes_follows_every_change(
    registry: MemberRegistry,
) -> None:
    """Each Service's ready endpoints are summed once per change of its slices and kept: a summary read
    before a change is never what a read after it returns (a slice added, changed, moved to another
    Service, deleted; a relist)."""
    registry.connect(info(US, ready=True), unreachable_api())
    slices = registry._members[US].watches[1]
    assert slices._on_event is not None
    assert slices._on_relist is not None

    def ready(name: str) -> int:
        return registry.endpoints(US, "mynamespace", name).ready

    assert ready("nginx") == 0
    slices._on_event("ADDED", owned_slice("nginx", "1"))
    assert ready("nginx") == 1
    assert registry.endpoints(US, "mynamespace", "nginx") is registry.endpoints(US, "mynamespace", "nginx")
    second = owned_slice("nginx", "2")
    second["metadata"]["name"] = "nginx-fghij"
    second["endpoints"][0]["addresses"] = ["10.0.0.2"]
    slices._on_event("ADDED", second)
    assert ready("nginx") == 2
    slices._on_event("MODIFIED", owned_slice("nginx", "3", ready=False))
    assert ready("nginx") == 1
    moved = {**second, "metadata": {**second["metadata"], "resourceVersion": "4"}}
    moved["metadata"]["labels"] = {**second["metadata"]["labels"], "kubernetes.io/service-name": "other"}
    slices._on_event("MODIFIED", moved)
    assert (ready("nginx"), ready("other")) == (0, 1)
    slices._on_event("DELETED", moved)
    assert ready("other") == 0
    relist(slices, [owned_slice("nginx", "5")])
    assert ready("nginx") == 1
    twin = owned_slice("twin", "6")
    slices._on_event("ADDED", twin)
    # Equal summaries of two Services are one object (most Services of a federation sum to a few).
    assert registry.endpoints(US, "mynamespace", "twin") is registry.endpoints(US, "mynamespace", "nginx")
    relist(slices, [])
    assert ready("nginx") == 0


async def test_a_slice_that_moves_to_another_service_re_plans_its_owner_even_with_nothing_ready(
    transport: AsyncTransport,
) -> None:
    queued: list[tuple[str, str]] = []
    registry = connected_registry(transport, queued)
    try:
        slices = registry._members[US].watches[1]._on_event
        assert slices is not None
        slices("ADDED", owned_slice("nginx", "1", ready=False))
        moved = owned_slice("nginx", "2", ready=False)
        moved["metadata"]["labels"]["kubernetes.io/service-name"] = "other"
        slices("MODIFIED", moved)
        assert queued == [("mynamespace", "other")]
    finally:
        registry.disconnect(US, notify=False)


async def test_the_parts_every_members_copy_of_a_service_shares_are_held_once(
    registry: MemberRegistry,
) -> None:
    registry.connect(info(US, ready=True), unreachable_api())
    registry.connect(info(EU, ready=True), unreachable_api())
    for cluster, version in ((US, "5"), (EU, "9")):
        on_event = registry._members[cluster].watches[0]._on_event
        assert on_event is not None
        on_event("ADDED", owned_service(version, ingress="127.0.0.9"))
    us, eu = registry.service(US, "mynamespace", "nginx"), registry.service(EU, "mynamespace", "nginx")
    assert us is not None
    assert eu is not None
    assert us.manifest["metadata"]["labels"] is eu.manifest["metadata"]["labels"]
    assert us.manifest["spec"] is eu.manifest["spec"]
    assert (us.manifest["metadata"]["resourceVersion"], eu.manifest["metadata"]["resourceVersion"]) == (
        "5",
        "9",
    )
