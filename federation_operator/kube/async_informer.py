"""One shared list+watch of one resource kind in one cluster, a task on the event loop
(:class:`AsyncMemberWatch`): each member's Services and EndpointSlices, and the host's FederatedServices
(``controllers/host_watch.py``).

A watch lists every object of its kind (across all namespaces, filtered by a label selector)
and then watches for changes, handing raw JSON objects (camelCase, as ``kubectl get -o json`` prints them)
to the consumer's callbacks:

* ``on_relist()`` at the start of every list, the first one included, returning the consumer's
  :class:`Relisting`: it is handed each page of objects as it arrives (``page(objects)``), then told the list
  is complete (``done()``): the complete current state, so the consumer forgets what it holds that was not
  listed (deleted while the watch was disconnected). Page by page, not all at once: a list of 10,000
  objects is never held whole (only what the consumer keeps of it), nor taken in by the loop in one go. A
  list cut off midway ends without ``done()``; the next starts over.
* ``on_synced()`` right after ``done()``: the index is complete (until the next ``on_error``).
* ``on_event(type, object)`` for each ``ADDED``, ``MODIFIED`` and ``DELETED`` seen by the watch.
* ``on_error(message)`` when the member cannot be reached or refuses us; the index may be stale until the
  next ``on_synced``. The watch keeps retrying by itself, with backoff, for as long as it runs;
  :meth:`~AsyncMemberWatch.retry_now` cuts the wait short (the member's probe answers again).

Callbacks run on the loop, inside the watch's task, one at a time; they must not block. An exception raised
by a callback is logged and does not stop the watch. :meth:`~AsyncMemberWatch.stop` cancels the task, which
cuts off a request in flight (a list as well as a watch).

Recovery follows the API's rules for watches: a watch that ends normally (``timeoutSeconds``) resumes from
the last resourceVersion seen (bookmarks keep it fresh); ``410 Gone`` (the version is too old, as an HTTP
status or an ``ERROR`` event in the stream) relists at once; a connection or API failure relists after an
exponential, jittered backoff of at least the member's ``Retry-After``. The requests go through the
cluster's :class:`~federation_operator.kube.async_transport.AsyncTransport` (the lists over its keep-alive
connections, the watches over its aiohttp session), so their failures are classified as every other
request's (:mod:`federation_operator.kube.errors`).

Why on the loop: the watches ran in a thread each before, and a watch event arriving alone cost its thread a
wake-up from a blocking read and the GIL, and the loop a wake-up through its self-pipe to queue the owner,
~45 µs of CPU more per event than reading it here (``benchmarks/watch_cpu.py``); and the callbacks, on the
loop, queue keys directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Protocol

from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.errors import ApiConnectionError, retry_after
from federation_operator.kube.transport import (
    DEFAULT_TIMEOUT,
    JsonLines,
    RawResponse,
    Request,
    Timeout,
    api_path,
    request_exchange,
    status_message,
)

__all__ = [
    "ENDPOINT_SLICES",
    "SERVICES",
    "AsyncMemberWatch",
    "OnError",
    "OnEvent",
    "OnRelist",
    "OnSynced",
    "Relisting",
    "WatchCounters",
    "WatchExpired",
    "WatchRefused",
    "WatchStopped",
    "WatchedResource",
]

logger = logging.getLogger(__name__)


class Relisting(Protocol):
    """A consumer's side of one list under way."""

    def page(self, objects: list[dict[str, Any]]) -> None:
        """The objects of the next page (taken in at their current version; the rest come after)."""

    def done(self) -> None:
        """The list is complete: whatever was held and not listed is gone."""


OnEvent = Callable[[str, dict[str, Any]], None]
OnRelist = Callable[[], Relisting]
OnSynced = Callable[[], None]
OnError = Callable[[str], None]

_CHANGE_EVENTS = frozenset({"ADDED", "MODIFIED", "DELETED"})


@dataclass(frozen=True)
class WatchedResource:
    """A resource kind an :class:`AsyncMemberWatch` can list and watch across all namespaces."""

    api_version: str
    kind: str
    plural: str

    @property
    def path(self) -> str:
        """The collection's path across all namespaces, e.g. ``/apis/discovery.k8s.io/v1/endpointslices``."""
        return api_path(self.api_version, self.plural)


SERVICES = WatchedResource("v1", "Service", "services")
ENDPOINT_SLICES = WatchedResource("discovery.k8s.io/v1", "EndpointSlice", "endpointslices")


@dataclass(frozen=True)
class WatchCounters:
    """What an :class:`AsyncMemberWatch` has done so far (for metrics and tests)."""

    lists: int = 0  # complete lists, the first one included
    watches_started: int = 0  # watch requests the member accepted
    events: int = 0  # ADDED / MODIFIED / DELETED events delivered
    bookmarks: int = 0
    expired: int = 0  # 410 Gone: relists because the last resourceVersion was too old
    errors: int = 0  # failures reported through on_error


class WatchExpired(Exception):
    """410: the resourceVersion (or a list's continue token) is too old; relist."""


class WatchRefused(Exception):
    """The member answered a list or watch with an error status (other than 410)."""

    def __init__(self, message: str, response: RawResponse | None = None) -> None:
        super().__init__(message)
        # The member's Retry-After (seconds), when it throttles us; the backoff waits at least that long.
        self.delay = retry_after(response.headers) if response is not None else None


class WatchStopped(Exception):
    """stop() was called while a request was in flight."""


class AsyncMemberWatch:
    """A list+watch of ``resource`` in one cluster, as a task on the running loop, until :meth:`stop`; its
    requests go through ``transport``'s session of ``api``.

    ``label_selector`` restricts it (the operator passes ``fedop.io/federation=<name>``; the EndpointSlice
    controller copies a Service's labels onto its slices, so the same selector finds both). ``cluster``
    names the member in messages; :attr:`name` (``<cluster>/<plural>``) names the watch in metrics.
    ``request_timeout`` bounds each list request and the connect phase of each watch request. A watch can
    be started once.
    """

    def __init__(
        self,
        api: ClusterClient,
        resource: WatchedResource,
        *,
        transport: AsyncTransport,
        label_selector: str,
        on_event: OnEvent,
        on_relist: OnRelist | None = None,
        on_synced: OnSynced | None = None,
        on_error: OnError | None = None,
        cluster: str = "member",
        request_timeout: Timeout = DEFAULT_TIMEOUT,
        watch_timeout: int = 30,
        page_size: int = 500,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
    ) -> None:
        self.api = api
        self.resource = resource
        self.label_selector = label_selector
        self.cluster = cluster
        self.request_timeout = request_timeout
        # Bounded watches: the server ends each after this many seconds and we resume from the last
        # resourceVersion, so a silently dead connection is noticed within a bounded time as well.
        self.watch_timeout = watch_timeout
        self.page_size = page_size
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._transport = transport
        self._on_event = on_event
        self._on_relist = on_relist
        self._on_synced = on_synced
        self._on_error = on_error
        self.name = f"{cluster}/{resource.plural}"
        self._name = f"{resource.kind} watch of {cluster}"
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Set to end the wait between a failure and the next attempt (retry_now); created on the loop.
        self._wake: asyncio.Event | None = None
        # An Event and a lock, not plain fields: the state is read from other threads than the loop's too
        # (the member tests run the watch on a loop in a thread of their own, and read it from theirs).
        self._stopping = threading.Event()
        self._synced = threading.Event()
        self._lock = threading.Lock()
        self._counts = {counter.name: 0 for counter in fields(WatchCounters)}  # WatchCounters' fields
        self._last_error: str | None = None
        self._progressed = False
        self._failures = 0  # failed attempts in a row (the backoff's exponent)
        self._expired_in_a_row = 0  # 410s in a row with nothing delivered in between

    # --- control ---

    def start(self) -> None:
        """Start the watch's task on the running loop (it keeps retrying, with backoff, while the member is
        unreachable)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(self._run(), name=f"watch:{self.name}")
        self._task.add_done_callback(self._ended)

    def stop(self) -> None:
        """Stop the watch: its task is cancelled, which cuts off a request in flight; returns at once (the
        task ends at its next step on the loop: :meth:`wait_stopped`). No callback runs after this returns,
        but the one calling it, if one is."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()

    def retry_now(self) -> None:
        """End the wait before the next attempt, if the watch is waiting after a failure (its member answers
        again: a backoff grown to ``backoff_max`` while it was down would leave the index stale that long
        after). No effect on a watch listing or watching. Callable from any thread."""
        if self._loop is None or self._wake is None or self._stopping.is_set():
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the watch has ended with it
            self._loop.call_soon_threadsafe(self._wake.set)

    async def wait_stopped(self) -> None:
        """:meth:`stop`, and wait for the task to end."""
        self.stop()
        if self._task is not None:
            await asyncio.wait([self._task])

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # A bug (what the member can do is caught): the member's only watch of this kind is gone.
            logger.error("%s ended", self._name, exc_info=task.exception())

    # --- state ---

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def synced(self) -> bool:
        """True from a complete list until the next failure."""
        return self._synced.is_set()

    @property
    def counters(self) -> WatchCounters:
        with self._lock:
            return WatchCounters(**self._counts)

    @property
    def last_error(self) -> str | None:
        """The latest failure reported through ``on_error``, until the next successful list."""
        with self._lock:
            return self._last_error

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
                        await self._pause(delay)
                except (ApiConnectionError, WatchRefused, ValueError) as exc:
                    if self._stopping.is_set():
                        break
                    resource_version = None
                    await self._pause(self._failed(exc))
        finally:
            self._synced.clear()

    async def _pause(self, delay: float) -> None:
        """Wait ``delay`` seconds before the next attempt, or until :meth:`retry_now` (a call made before this
        wait began does not shorten it)."""
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    async def _list(self) -> str:
        """List everything, in pages, each handed over as it arrives; return the list's resourceVersion."""
        relisting = self._relisting()
        token = ""
        while True:
            response = await self._transport.run(self.api, request_exchange(self._list_request(token)))
            token, version, objects = self._take_page(response)
            if self._stopping.is_set():
                raise WatchStopped()
            if relisting is not None:
                self._call(relisting.page, objects)
            del objects  # only what the consumer keeps of them outlives the page
            if not token:
                break
        self._listed(relisting)
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

    # --- where to go after each attempt ---

    def _count(self, counter: str) -> None:
        # Called for every event: one number moved on in place, the frozen WatchCounters built only when read.
        with self._lock:
            self._counts[counter] += 1

    def _delay(self, failures: int) -> float:
        """Exponential backoff with jitter, so that many watches cut off at once do not return in step."""
        return min(self.backoff_max, self.backoff_initial * 2.0**failures * random.uniform(0.8, 1.2))

    def _attempted(self) -> None:
        """A list+watch attempt begins."""
        # A watch that delivered something (or ran its course) was working: a failure after it starts a
        # fresh backoff. One that breaks before delivering anything counts as a failing member.
        self._progressed = False

    def _watched(self) -> None:
        """A watch ran its course (the server ended it)."""
        self._failures = self._expired_in_a_row = 0

    def _expired(self) -> float | None:
        """410 Gone: relist, at once (None), or after the returned delay when a fresh list's version was
        already too old: something is off; do not spin on the member."""
        self._count("expired")
        self._expired_in_a_row = 0 if self._progressed else self._expired_in_a_row + 1
        if self._expired_in_a_row <= 1:
            return None
        delay = self._delay(self._failures)
        self._failures = min(self._failures + 1, 32)
        return delay

    def _failed(self, exc: ApiConnectionError | WatchRefused | ValueError) -> float:
        """A list or watch failed: reported through ``on_error``; returns how long to wait before the next."""
        self._synced.clear()
        if self._progressed:
            self._failures = 0
        delay = self._delay(self._failures)
        self._failures = min(self._failures + 1, 32)
        if isinstance(exc, WatchRefused) and exc.delay is not None:
            delay = max(delay, min(exc.delay, self.backoff_max))
        reason = exc.reason if isinstance(exc, ApiConnectionError) else str(exc)
        message = f"{self._name}: {reason}; retrying in {delay:.1f}s"
        with self._lock:
            self._last_error = message
        self._count("errors")
        logger.info("%s", message)
        self._call(self._on_error, message)
        return delay

    # --- requests and what they answer ---

    def _list_request(self, token: str) -> Request:
        """The request of one page of the list (``token``: the previous page's continue token)."""
        query: list[tuple[str, str | int | bool]] = [("limit", self.page_size)]
        if self.label_selector:
            query.append(("labelSelector", self.label_selector))
        if token:
            query.append(("continue", token))
        return Request(
            "GET",
            self.resource.path,
            f"list {self.resource.plural}",
            query=query,
            timeout=self.request_timeout,
        )

    def _take_page(self, response: RawResponse) -> tuple[str, str, list[dict[str, Any]]]:
        """One page of the list: the next page's continue token ("" after the last page), the list's
        resourceVersion, and the page's objects."""
        if response.status == 410:
            raise WatchExpired()  # the continue token expired mid-way: start over
        if response.status != 200:
            raise WatchRefused(_refusal("list", response), response)
        page = response.json()
        if not isinstance(page, dict):
            raise ValueError("list answered with malformed JSON")
        # Items of a list carry no apiVersion and kind; watch events' objects do. Make them alike.
        head = {"apiVersion": self.resource.api_version, "kind": self.resource.kind}
        objects = [{**head, **item} for item in page.get("items") or []]
        metadata = page.get("metadata") or {}
        return str(metadata.get("continue") or ""), str(metadata.get("resourceVersion") or ""), objects

    def _relisting(self) -> Relisting | None:
        """The consumer's side of a list beginning (None without one, or when it failed to begin)."""
        if self._on_relist is None:
            return None
        try:
            return self._on_relist()
        except Exception:  # a consumer's bug must not end the member's only watch of this kind
            logger.exception("%s: beginning a relist failed", self._name)
            return None

    def _listed(self, relisting: Relisting | None) -> None:
        """A complete list: the consumer told, and the watch synced."""
        if self._stopping.is_set():
            raise WatchStopped()
        self._count("lists")
        with self._lock:
            self._last_error = None
        if relisting is not None:
            self._call(relisting.done)
        self._synced.set()
        self._call(self._on_synced)

    def _watch_request(self, resource_version: str) -> Request:
        """The request of a watch from ``resource_version``."""
        query: list[tuple[str, str | int | bool]] = [
            ("watch", True),
            ("allowWatchBookmarks", True),
            ("timeoutSeconds", self.watch_timeout),
        ]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        if self.label_selector:
            query.append(("labelSelector", self.label_selector))
        # The read timeout outlasts the server's own end of the watch, so it only fires on a dead connection.
        connect = self.request_timeout[0] if isinstance(self.request_timeout, tuple) else self.request_timeout
        timeout = (connect, float(self.watch_timeout + 15))
        return Request(
            "GET", self.resource.path, f"watch {self.resource.plural}", query=query, timeout=timeout
        )

    @staticmethod
    def _watch_refused(response: RawResponse) -> Exception:
        """The error of a watch request answered with an error status."""
        if response.status == 410:
            return WatchExpired()
        return WatchRefused(_refusal("watch", response), response)

    def _handle(self, event: Any, resource_version: str) -> str:
        if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
            raise ValueError("watch sent a malformed event")
        kind, obj = event.get("type"), event["object"]
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise WatchExpired()
            raise WatchRefused(f"watch failed: {obj.get('message') or obj.get('reason') or 'ERROR event'}")
        version = str((obj.get("metadata") or {}).get("resourceVersion") or resource_version)
        if kind == "BOOKMARK":
            self._count("bookmarks")
        elif kind in _CHANGE_EVENTS:
            if self._stopping.is_set():
                raise WatchStopped()
            self._count("events")
            self._call(self._on_event, kind, obj)
        return version

    def _call(self, callback: Callable[..., None] | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # a consumer's bug must not end the member's only watch of this kind
            logger.exception("%s: callback %s failed", self._name, getattr(callback, "__name__", callback))


def _refusal(action: str, response: RawResponse) -> str:
    if response.status == 401:
        return f"{action} unauthorized"
    if response.status == 403:
        return f"{action} forbidden: {status_message(response)}"
    return f"{action} returned {response.status}: {status_message(response)}"
