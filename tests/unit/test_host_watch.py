"""The host's FederatedService watch on the event loop, against a local HTTP server (loopback) that lists
and watches as an API server does: what it lists and what its watch delivers reach the store, the work queue
and ``forget``, on the loop, without a thread; a 410 Gone in the stream relists."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from federation_operator.controllers.federated_service import FederatedServiceStore
from federation_operator.controllers.host_watch import FEDERATED_SERVICES, FederatedServiceWatch
from federation_operator.controllers.workqueue import WorkQueue
from federation_operator.domain.keys import Key
from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.client import ClusterClient, ClusterConfig


def fsvc(name: str, version: str, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "fedop.io/v1alpha1",
        "kind": "FederatedService",
        "metadata": {"namespace": "shop", "name": name, "resourceVersion": version, "uid": f"uid-{name}"},
        "spec": {"template": {"replicas": replicas}},
    }


class FakeHost:
    """Lists answer ``listed`` at version 10; each watch streams the next of ``watches`` (then holds the
    stream open, as a quiet watch does, until the client goes)."""

    def __init__(self) -> None:
        self.listed: list[dict[str, Any]] = []
        self.watches: list[list[dict[str, Any]]] = []
        self.requests: list[dict[str, str]] = []

    async def serve(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(dict(request.query))
        if request.query.get("watch") != "true":
            items = [{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")} for obj in self.listed]
            return web.json_response({"items": items, "metadata": {"resourceVersion": "10"}})
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for event in self.watches.pop(0) if self.watches else []:
            await response.write(orjson.dumps(event) + b"\n")
        await asyncio.Event().wait()  # held open until the client cuts it off
        return response


@pytest.fixture
async def host() -> AsyncIterator[tuple[FakeHost, ClusterClient]]:
    fake = FakeHost()
    app = web.Application()
    app.router.add_get(FEDERATED_SERVICES.path, fake.serve)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    api = ClusterClient(ClusterConfig(server=f"http://127.0.0.1:{port}"))
    try:
        yield fake, api
    finally:
        api.close()
        await runner.cleanup()


async def until(what: str, probe: Callable[[], bool]) -> None:
    """Poll ``probe`` (state the watch's task sets) until true; fail naming ``what`` after 10 s."""
    deadline = time.monotonic() + 10.0
    while not probe():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within 10s")
        await asyncio.sleep(0.01)


async def test_the_list_and_the_watch_reach_the_store_the_queue_and_forget_on_the_loop(
    host: tuple[FakeHost, ClusterClient],
) -> None:
    fake, api = host
    fake.listed = [fsvc("cart", "5"), fsvc("gone", "6")]
    fake.watches = [
        [
            {"type": "ADDED", "object": fsvc("search", "11")},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}},
            {"type": "MODIFIED", "object": fsvc("cart", "13", replicas=2)},
            {"type": "DELETED", "object": fsvc("gone", "14")},
            # The version went too old: relisted at once, then watched from the list's version.
            {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}},
        ]
    ]
    store = FederatedServiceStore()
    queue: WorkQueue[Key] = WorkQueue(asyncio.get_running_loop())
    forgotten: list[Key] = []
    synced: list[int] = []
    transport = AsyncTransport()
    watch = FederatedServiceWatch(
        api,
        transport=transport,
        store=store,
        queue=queue,
        ours=lambda _key: None,
        forget=forgotten.append,
        on_synced=lambda: synced.append(len(store)),
    )
    watch.start()
    try:
        await until("relisted after 410 Gone", lambda: len(synced) == 2)
        await until("watching again", lambda: len(fake.requests) == 4)
        assert synced == [2, 2]
        assert watch.synced
        assert sorted(store.known()) == [("shop", "cart"), ("shop", "gone")]  # as the second list says
        assert forgotten == [("shop", "gone"), ("shop", "search")]  # deleted; then gone at the relist
        assert len(queue) == 3  # cart, gone (listed), search (watched): each queued once
        assert [r.get("watch") for r in fake.requests] == [None, "true", None, "true"]
        # The first watch from the list's version; the one after the relist likewise, not the bookmark's.
        assert fake.requests[1]["resourceVersion"] == fake.requests[3]["resourceVersion"] == "10"
        assert fake.requests[1]["allowWatchBookmarks"] == "true"
        assert fake.requests[1]["timeoutSeconds"] == "300"
        counters = watch._watch.counters
        assert (counters.lists, counters.events, counters.bookmarks, counters.expired) == (2, 3, 1, 1)
    finally:
        watch.stop()
        await watch._watch.wait_stopped()
        await transport.close()
    assert not watch.synced
