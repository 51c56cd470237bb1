"""The deletion of a FederatedService removes its Service from every member and withdraws its records all at
once: it waits for the slowest of them, not for the sum of their round trips."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar, cast

from federation_operator.controllers.member_cache import MemberRegistry
from federation_operator.controllers.member_calls import MemberCalls
from federation_operator.dns.inmemory import InMemoryProvider
from federation_operator.dns.publisher import Publisher
from federation_operator.domain.members import LABEL_FEDERATION, ClusterInfo
from federation_operator.domain.records import RecordSet
from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.client import ClusterClient, ClusterConfig
from federation_operator.kube.transport import Exchange, Send
from federation_operator.planning.reconcile import Federation
from tests.controllers import bare_controller

T = TypeVar("T")
MEMBERS = ("gce-us-central1", "gce-europe-west1", "gce-asia-east1")
UID = "uid-1"


class HeldCalls(MemberCalls):
    """Member calls that are never made: each waits until released, so the test sees how many are out at
    once."""

    def __init__(self) -> None:
        super().__init__(timeout=10.0, limit=8, api_of=lambda _name: None, send=cast(Send, None))
        self.out: list[tuple[str, str]] = []
        self.release = asyncio.Event()

    async def call(self, cluster: str, api: ClusterClient, exchange: Exchange[T]) -> T:
        request = next(exchange)
        assert request.method == "DELETE"
        self.out.append((cluster, request.path.rsplit("/", 1)[1]))  # (cluster, name)
        await self.release.wait()
        return cast(T, None)


def service(cluster: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "nginx",
            "namespace": "mynamespace",
            "uid": f"{cluster}-service",
            "resourceVersion": "5",
            "labels": {
                LABEL_FEDERATION: "fed",
                "fedop.io/owner-namespace": "mynamespace",
                "fedop.io/owner-name": "nginx",
            },
            "annotations": {"fedop.io/owner-uid": UID},
        },
        "spec": {"ports": [{"port": 80}]},
    }


async def test_a_deletion_removes_every_members_service_and_the_records_at_once() -> None:
    provider = InMemoryProvider("example.com")
    publisher = Publisher(provider, federation="fed", on_result=lambda _key: None)
    running = asyncio.create_task(publisher.run())
    transport = AsyncTransport()  # the members' watches' sessions
    registry = MemberRegistry("fed", enqueue=lambda _key: None, enqueue_all=lambda: None, transport=transport)
    calls = HeldCalls()
    controller = bare_controller(
        Federation(name="fed", domain="example.com"), registry=registry, publisher=publisher, calls=calls
    )
    try:
        for name in MEMBERS:
            # Nothing listens on port 9: the watches fail and retry; the test feeds the cache itself.
            registry.connect(
                ClusterInfo(name=name, region=name, ready=True),
                ClusterClient(ClusterConfig(server="https://127.0.0.1:9")),
            )
            on_event = registry._members[name].watches[0]._on_event
            assert on_event is not None
            on_event("ADDED", service(name))
        key = ("mynamespace", "nginx")
        record = RecordSet("nginx.mynamespace.fed.svc.example.com.", "A", 180, ("127.0.0.1",))
        publisher.submit(key, (record,), created="2026-01-01T00:00:00Z")
        await asyncio.wait_for(_published(provider, record.name), 10)

        body = {"metadata": {"namespace": "mynamespace", "name": "nginx", "uid": UID}}
        cleanup = asyncio.create_task(controller.cleanup(body))
        async with asyncio.timeout(10):
            while len(calls.out) < len(MEMBERS) or await _published(provider, record.name, wait=False):  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # polling what the deletion has sent so far, with a deadline
        # Every member's deletion is out, and the records are gone, before any member has answered.
        assert sorted(calls.out) == sorted((m, "nginx") for m in MEMBERS)
        assert not cleanup.done()
        calls.release.set()
        assert await asyncio.wait_for(cleanup, 10) == []
    finally:
        for name in MEMBERS:
            registry.disconnect(name, notify=False)
        await transport.close()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def _published(provider: InMemoryProvider, name: str, *, wait: bool = True) -> bool:
    while True:
        found = any(r.name == name and r.type == "A" for r in provider.snapshot())
        if found or not wait:
            return found
        await asyncio.sleep(0.01)
