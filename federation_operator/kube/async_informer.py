"""The list+watch informer of :mod:`federation_operator.kube.informer`, run as a task on the event loop:
each member's Services and EndpointSlices.

:class:`AsyncMemberWatch` keeps :class:`~federation_operator.kube.informer.MemberWatch`'s contract (the same
callbacks, counters and rules of recovery: resume from the last resourceVersion, relist at once after
``410 Gone``, relist after a jittered exponential backoff of at least the member's ``Retry-After``, bounded
watches) and shares its core; its requests go through the member's aiohttp session
(:class:`~federation_operator.kube.async_transport.AsyncTransport`), so its failures are classified as every
other request's (:mod:`federation_operator.kube.errors`).

Why on the loop: a watch event arriving alone cost its thread a wake-up from a blocking read and the GIL,
and the loop a wake-up through its self-pipe to queue the owner, ~45 µs of CPU more per event than reading
it here (``benchmarks/watch_cpu.py``); and the callbacks, now on the loop, queue keys directly.

Callbacks run on the loop, inside the watch's task, one at a time; they must not block. :meth:`stop`
cancels the task, which cuts off a request in flight (a list as well as a watch).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubernetes.client import ApiClient

from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.errors import ApiConnectionError
from federation_operator.kube.informer import (
    WatchCore,
    WatchedResource,
    WatchExpired,
    WatchRefused,
    WatchStopped,
)
from federation_operator.kube.transport import Exchange, JsonLines, RawResponse, Request

__all__ = ["AsyncMemberWatch"]

logger = logging.getLogger(__name__)


def _one(request: Request) -> Exchange[RawResponse]:
    """An exchange of one request, answered with its response whatever its status."""
    return (yield request)


class AsyncMemberWatch(WatchCore):
    """A list+watch of ``resource`` in one cluster, as a task on the running loop, until :meth:`stop` (the
    options: :class:`~federation_operator.kube.informer.WatchCore`); its requests go through ``transport``'s
    session of ``api``."""

    def __init__(
        self, api: ApiClient, resource: WatchedResource, *, transport: AsyncTransport, **options: Any
    ) -> None:
        super().__init__(resource, **options)
        self.api = api
        self._transport = transport
        self._task: asyncio.Task[None] | None = None

    # --- control ---

    def start(self) -> None:
        """Start the watch's task on the running loop (it keeps retrying, with backoff, while the member is
        unreachable)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"watch:{self.name}")
        self._task.add_done_callback(self._ended)

    def stop(self) -> None:
        """Stop the watch: its task is cancelled, which cuts off a request in flight; returns at once (the
        task ends at its next step on the loop: :meth:`wait_stopped`). No callback runs after this returns,
        but the one calling it, if one is."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()

    async def wait_stopped(self) -> None:
        """:meth:`stop`, and wait for the task to end."""
        self.stop()
        if self._task is not None:
            await asyncio.wait([self._task])

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # A bug (what the member can do is caught): the member's only watch of this kind is gone.
            logger.error("%s ended", self._name, exc_info=task.exception())

    # --- the task ---

    async def _run(self) -> None:
        resource_version: str | None = None
        try:
            while not self._stopping.is_set():
                self._attempted()
                try:
                    if resource_version is None:
                        resource_version = await self._list()
                    resource_version = await self._watch(resource_version)
                    self._watched()
                except WatchStopped:
                    break
                except WatchExpired:
                    resource_version = None
                    delay = self._expired()
                    if delay is not None:
                        await asyncio.sleep(delay)
                except (ApiConnectionError, WatchRefused, ValueError) as exc:
                    if self._stopping.is_set():
                        break
                    resource_version = None
                    await asyncio.sleep(self._failed(exc))
        finally:
            self._synced.clear()

    async def _list(self) -> str:
        """List everything (in pages); hand it over; return the list's resourceVersion."""
        objects: list[dict[str, Any]] = []
        token = ""
        while True:
            response = await self._transport.run(self.api, _one(self._list_request(token)))
            token, version = self._take_page(response, objects)
            if not token:
                break
        self._listed(objects)
        return version

    async def _watch(self, resource_version: str) -> str:
        """Watch from ``resource_version`` until the server ends the watch; returns the last version seen."""
        async with self._transport.stream(self.api, self._watch_request(resource_version)) as response:
            if response.status != 200:
                raise self._watch_refused(await response.read_all())
            self._count("watches_started")
            lines = JsonLines()
            while chunk := await response.read_some():
                for event in lines.feed(chunk):
                    resource_version = self._handle(event, resource_version)
                    self._progressed = True
            for event in lines.end():
                resource_version = self._handle(event, resource_version)
        if self._stopping.is_set():
            raise WatchStopped()
        self._progressed = True
        return resource_version
