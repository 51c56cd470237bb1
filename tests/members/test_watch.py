"""The list+watch informer (``AsyncMemberWatch``) against real members, run on an event loop in a thread of
its own: labelled objects only, EndpointSlices, resume, 410, outages, stop."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from kubernetes import client
from localfed import LocalFederation

from federation_operator.domain.members import LABEL_FEDERATION
from federation_operator.kube.async_informer import (
    ENDPOINT_SLICES,
    SERVICES,
    AsyncMemberWatch,
    WatchCounters,
    WatchedResource,
)
from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.credentials import build_api_client
from federation_operator.kube.member_services import endpoint_slice_service, summarize_endpoints
from tests.members import (
    FAULT_MEMBER,
    MEMBER,
    admin_client,
    eventually,
    fresh_namespace,
    kubeconfig_secret,
    member_spec,
    service_manifest,
)

pytestmark = pytest.mark.e2e

Key = tuple[str, str]
T = TypeVar("T")


class Recorder:
    """The consumer's side of a watch: an index kept from relists and events, and what was called when."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index: dict[Key, dict[str, Any]] = {}
        self.events: list[tuple[str, Key]] = []
        self.relists: list[list[Key]] = []  # the keys of each complete list
        self.pages: list[int] = []  # the size of each page handed over
        self.synced = 0
        self.errors: list[str] = []

    @staticmethod
    def key(obj: dict[str, Any]) -> Key:
        return (obj["metadata"]["namespace"], obj["metadata"]["name"])

    def on_event(self, event_type: str, obj: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((event_type, self.key(obj)))
            if event_type == "DELETED":
                self.index.pop(self.key(obj), None)
            else:
                self.index[self.key(obj)] = obj

    def on_relist(self) -> Recorder.Relist:
        return Recorder.Relist(self)

    class Relist:
        """One list, page by page: the index replaced when it is complete."""

        def __init__(self, recorder: Recorder) -> None:
            self.recorder = recorder
            self.objects: list[dict[str, Any]] = []

        def page(self, objects: list[dict[str, Any]]) -> None:
            with self.recorder.lock:
                self.recorder.pages.append(len(objects))
            self.objects.extend(objects)

        def done(self) -> None:
            recorder = self.recorder
            with recorder.lock:
                recorder.relists.append([recorder.key(obj) for obj in self.objects])
                recorder.index = {recorder.key(obj): obj for obj in self.objects}

    def on_synced(self) -> None:
        with self.lock:
            self.synced += 1

    def on_error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    def saw(self, event_type: str, key: Key) -> bool:
        with self.lock:
            return (event_type, key) in self.events

    def objects(self) -> dict[Key, dict[str, Any]]:
        with self.lock:
            return dict(self.index)


class LoopWatch:
    """An :class:`AsyncMemberWatch` (``inner``) on an event loop of its own, in a thread, with its own
    transport: the tests, in theirs, start and stop it with blocking calls and read its state."""

    def __init__(self, api: ClusterClient, resource: WatchedResource, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="watch-loop", daemon=True)
        self._thread.start()
        self._transport = AsyncTransport()
        self.inner = AsyncMemberWatch(api, resource, transport=self._transport, **options)

    def _on_loop(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=10)

    def start(self) -> None:
        async def start() -> None:
            self.inner.start()

        self._on_loop(start())

    def stop(self) -> None:
        self._on_loop(self.inner.wait_stopped())

    def close(self) -> None:
        """Stop the watch, close its sessions, end the loop and its thread."""
        self.stop()
        self._on_loop(self._transport.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.inner.synced and time.monotonic() < deadline:
            time.sleep(0.05)  # polling, with a deadline: the watch's state is set on the other thread
        return self.inner.synced

    @property
    def running(self) -> bool:
        return self.inner.running

    @property
    def synced(self) -> bool:
        return self.inner.synced

    @property
    def counters(self) -> WatchCounters:
        return self.inner.counters


@pytest.fixture
def member_api(federation: LocalFederation, request: pytest.FixtureRequest) -> Iterator[ClusterClient]:
    cluster: str = getattr(request, "param", MEMBER)
    api = build_api_client(member_spec(federation, cluster), kubeconfig_secret(federation, cluster))
    yield api
    api.close()


@pytest.fixture
def selector() -> tuple[str, dict[str, str]]:
    """A federation label of this test's own: no other test's objects match it."""
    federation_name = f"t{uuid.uuid4().hex[:8]}"
    return f"{LABEL_FEDERATION}={federation_name}", {LABEL_FEDERATION: federation_name}


@contextmanager
def watching(
    api: ClusterClient,
    resource: WatchedResource,
    selector: str,
    *,
    start: bool = True,
    **options: Any,
) -> Iterator[tuple[LoopWatch, Recorder]]:
    recorder = Recorder()
    options.update(
        label_selector=selector,
        on_event=recorder.on_event,
        on_relist=recorder.on_relist,
        on_synced=recorder.on_synced,
        on_error=recorder.on_error,
        cluster="test",
    )
    watch = LoopWatch(api, resource, **options)
    if start:
        watch.start()
    try:
        yield watch, recorder
    finally:
        try:
            watch.stop()
            assert not watch.running
        finally:
            watch.close()


def create_service(federation: LocalFederation, cluster: str, manifest: dict[str, Any]) -> None:
    with admin_client(federation, cluster) as admin:
        client.CoreV1Api(admin).create_namespaced_service(manifest["metadata"]["namespace"], manifest)


def test_labelled_services_added_modified_deleted_and_no_others(
    federation: LocalFederation, member_api: ClusterClient, selector: tuple[str, dict[str, str]]
) -> None:
    label_selector, labels = selector
    with (
        fresh_namespace(federation, MEMBER) as ns,
        watching(member_api, SERVICES, label_selector) as (w, rec),
    ):
        assert w.wait_synced(10)
        assert rec.relists == [[]]
        create_service(federation, MEMBER, service_manifest(ns, "plain"))
        create_service(federation, MEMBER, service_manifest(ns, "ours", labels))
        eventually("ADDED of ours", lambda: rec.saw("ADDED", (ns, "ours")))
        added = rec.objects()[(ns, "ours")]
        assert added["apiVersion"] == "v1"
        assert added["kind"] == "Service"
        assert added["spec"]["ports"][0]["targetPort"] == 8080  # camelCase, as kubectl prints it

        with admin_client(federation, MEMBER) as admin:
            core = client.CoreV1Api(admin)
            core.patch_namespaced_service("ours", ns, {"metadata": {"annotations": {"touched": "yes"}}})
            eventually("MODIFIED of ours", lambda: rec.saw("MODIFIED", (ns, "ours")))
            core.delete_namespaced_service("ours", ns)
            eventually("DELETED of ours", lambda: rec.saw("DELETED", (ns, "ours")))
            # An unlabelled Service changing is still not ours to hear about.
            core.patch_namespaced_service("plain", ns, {"metadata": {"annotations": {"touched": "yes"}}})
            core.delete_namespaced_service("plain", ns)

        assert [event for event in rec.events if event[1][0] == ns] == [
            ("ADDED", (ns, "ours")),
            ("MODIFIED", (ns, "ours")),
            ("DELETED", (ns, "ours")),
        ]
        assert not any(key == (ns, "plain") for _, key in rec.events)
        assert rec.errors == []
        counters = w.counters
        assert (counters.lists, counters.events, counters.errors) == (1, 3, 0)
        assert w.synced


def test_a_list_is_handed_over_page_by_page(
    federation: LocalFederation, member_api: ClusterClient, selector: tuple[str, dict[str, str]]
) -> None:
    label_selector, labels = selector
    with fresh_namespace(federation, MEMBER) as ns:
        for i in range(5):
            create_service(federation, MEMBER, service_manifest(ns, f"svc-{i}", labels))
        with watching(member_api, SERVICES, label_selector, page_size=2) as (w, rec):
            assert w.wait_synced(10)
            assert rec.pages == [2, 2, 1], "each page as the server sent it, not the whole list at once"
            assert sorted(rec.relists[0]) == [(ns, f"svc-{i}") for i in range(5)]
            assert w.counters.lists == 1


def test_endpoint_slices_of_a_labelled_service_carry_ready_endpoints(
    federation: LocalFederation, member_api: ClusterClient, selector: tuple[str, dict[str, str]]
) -> None:
    label_selector, labels = selector
    run = {"run": "nginx"}
    with (
        fresh_namespace(federation, MEMBER) as ns,
        watching(member_api, ENDPOINT_SLICES, label_selector) as (w, rec),
        admin_client(federation, MEMBER) as admin,
    ):
        assert w.wait_synced(10)
        client.AppsV1Api(admin).create_namespaced_deployment(
            ns,
            {
                "metadata": {"name": "nginx", "labels": run},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": run},
                    "template": {
                        "metadata": {"labels": run},
                        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27-alpine"}]},
                    },
                },
            },
        )
        manifest = service_manifest(ns, "nginx", labels)
        manifest["spec"]["selector"] = run
        create_service(federation, MEMBER, manifest)

        def ready_endpoints() -> int:
            slices = [obj for obj in rec.objects().values() if endpoint_slice_service(obj) == (ns, "nginx")]
            return summarize_endpoints(slices).ready

        eventually("2 ready endpoints in the watched slices", lambda: ready_endpoints() == 2, timeout=60)
        slices = [obj for obj in rec.objects().values() if endpoint_slice_service(obj) == (ns, "nginx")]
        assert all(obj["kind"] == "EndpointSlice" and obj["addressType"] == "IPv4" for obj in slices)
        zones = summarize_endpoints(slices).zones
        assert zones
        assert zones <= {"asia-east1-a", "asia-east1-b"}
        # Delivered by watch events, not only by the initial list (ADDED alone when the pods were ready
        # before the slice was first written, ADDED then MODIFIED otherwise).
        assert any(event_type in ("ADDED", "MODIFIED") and key[0] == ns for event_type, key in rec.events)


def test_watch_resumes_after_the_server_ends_it(
    federation: LocalFederation, member_api: ClusterClient, selector: tuple[str, dict[str, str]]
) -> None:
    label_selector, labels = selector
    with (
        fresh_namespace(federation, MEMBER) as ns,
        watching(member_api, SERVICES, label_selector, watch_timeout=1) as (w, rec),
    ):
        assert w.wait_synced(10)
        eventually("two watches ended by the server", lambda: w.counters.watches_started >= 3)
        create_service(federation, MEMBER, service_manifest(ns, "late", labels))
        eventually("ADDED after resuming", lambda: rec.saw("ADDED", (ns, "late")))
        # Resumed from the last resourceVersion every time: one list, no errors.
        assert (w.counters.lists, w.counters.errors, w.counters.expired) == (1, 0, 0)
        assert rec.synced == 1


def test_too_old_resource_version_relists_at_once(
    federation: LocalFederation,
    member_api: ClusterClient,
    selector: tuple[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    label_selector, labels = selector
    with (
        fresh_namespace(federation, MEMBER) as ns,
        watching(member_api, SERVICES, label_selector, start=False) as (w, rec),
    ):
        create_service(federation, MEMBER, service_manifest(ns, "before", labels))
        calls: list[str] = []

        def version(resource_version: str) -> str:
            # The first watch asks for a version long compacted away: the server answers 410 Gone.
            calls.append(resource_version)
            return "1" if len(calls) == 1 else resource_version

        real_watch: Callable[[str], Coroutine[Any, Any, str]] = w.inner._watch

        async def watch_from_the_distant_past(resource_version: str) -> str:
            return await real_watch(version(resource_version))

        monkeypatch.setattr(w.inner, "_watch", watch_from_the_distant_past)
        w.start()
        # The list is counted before its callbacks run: wait for the last of them.
        eventually("a relist after 410 Gone", lambda: rec.synced == 2)
        assert w.counters.lists == 2
        assert w.counters.expired == 1
        assert w.counters.errors == 0
        assert rec.errors == []
        assert rec.relists == [[(ns, "before")], [(ns, "before")]]
        assert rec.synced == 2


def test_survives_an_apiserver_restart_and_relists(
    federation: LocalFederation, selector: tuple[str, dict[str, str]]
) -> None:
    label_selector, labels = selector
    api = build_api_client(member_spec(federation, FAULT_MEMBER), kubeconfig_secret(federation, FAULT_MEMBER))
    try:
        with (
            fresh_namespace(federation, FAULT_MEMBER) as ns,
            watching(api, SERVICES, label_selector, backoff_max=1.0) as (w, rec),
        ):
            assert w.wait_synced(10)
            create_service(federation, FAULT_MEMBER, service_manifest(ns, "doomed", labels))
            create_service(federation, FAULT_MEMBER, service_manifest(ns, "survivor", labels))
            eventually(
                "ADDED of both",
                lambda: rec.saw("ADDED", (ns, "doomed")) and rec.saw("ADDED", (ns, "survivor")),
            )
            # Deleted just before the outage: the watch may or may not hear of it before it is cut off; either
            # way the consumer's index must lose it (by the DELETED event, or by the relist after the outage).
            with admin_client(federation, FAULT_MEMBER) as admin:
                client.CoreV1Api(admin).delete_namespaced_service("doomed", ns)
            federation.stop_apiserver(FAULT_MEMBER)
            try:
                eventually("an error while the member is down", lambda: rec.errors, timeout=20)
                assert not w.synced
                assert rec.errors[0].startswith("Service watch of test: ")
                assert "retrying in" in rec.errors[0]
            finally:
                federation.start_apiserver(FAULT_MEMBER)
            eventually("relisted after the restart", lambda: w.counters.lists >= 2, timeout=30)
            assert w.wait_synced(0)
            create_service(federation, FAULT_MEMBER, service_manifest(ns, "after", labels))
            eventually("ADDED after the restart", lambda: rec.saw("ADDED", (ns, "after")))
            assert {key for key in rec.objects() if key[0] == ns} == {(ns, "survivor"), (ns, "after")}
            assert rec.relists[-1] == [(ns, "survivor")]
            assert rec.synced == w.counters.lists
    finally:
        api.close()


def test_member_down_at_start(federation: LocalFederation, selector: tuple[str, dict[str, str]]) -> None:
    label_selector, labels = selector
    api = build_api_client(member_spec(federation, FAULT_MEMBER), kubeconfig_secret(federation, FAULT_MEMBER))
    try:
        with fresh_namespace(federation, FAULT_MEMBER) as ns:
            federation.stop_apiserver(FAULT_MEMBER)
            try:
                with watching(api, SERVICES, label_selector, backoff_max=1.0) as (w, rec):
                    eventually("errors while the member is down", lambda: len(rec.errors) >= 2, timeout=20)
                    assert w.running
                    assert not w.synced
                    assert w.counters.lists == 0
                    assert "connection refused" in rec.errors[0]
                    federation.start_apiserver(FAULT_MEMBER)
                    assert w.wait_synced(15)
                    create_service(federation, FAULT_MEMBER, service_manifest(ns, "first", labels))
                    eventually("ADDED once the member is up", lambda: rec.saw("ADDED", (ns, "first")))
            finally:
                federation.start_apiserver(FAULT_MEMBER)
    finally:
        api.close()


def test_stop_is_prompt_during_an_idle_watch(
    member_api: ClusterClient, selector: tuple[str, dict[str, str]]
) -> None:
    with watching(member_api, SERVICES, selector[0]) as (w, _):
        assert w.wait_synced(10)
        eventually("the watch is open", lambda: w.counters.watches_started == 1)
        started = time.monotonic()
        w.stop()
        assert time.monotonic() - started < 1.0
        assert not w.running
