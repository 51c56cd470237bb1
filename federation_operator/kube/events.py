"""Kubernetes events about our objects, posted in the background (what ``kubectl describe`` lists).

:class:`EventPoster` is the operator's one event sink: ``emit`` renders a core/v1 Event and queues it, and
:meth:`EventPoster.run` posts the queue from the event loop (``send``: ``AsyncTransport.run``): what queued
up while the last posts were out, up to :data:`POSTS_AT_ONCE` at a time. Their answers then come back
together and are read in one wake-up of the loop (a lone request costs the operator about twice the CPU:
``benchmarks/request_cpu.py``), and a burst of events (a bulk creation) is not posted one round trip after
another. The order of posting does not matter: each event carries its own time, by which ``kubectl
describe`` sorts them. Posting never holds up the reconcile that reports something, and a failed post is
logged and dropped: events are help for people, never state. An object's events go to its namespace; a
cluster-scoped object's (a MemberCluster's) to ``default``, where ``kubectl describe`` looks for them.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Mapping
from typing import Any

from federation_operator.domain.errors import FederationError
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.transport import Exchange, Request, Send, api_path, response_error

__all__ = ["MAX_MESSAGE_LENGTH", "POSTS_AT_ONCE", "EventPoster", "render_event"]

log = logging.getLogger(__name__)

POSTS_AT_ONCE = 8
"""Events posted at once, at most (from what is queued when the posts before them are answered)."""

MAX_MESSAGE_LENGTH = 1024
"""Longer messages are cut in the middle: the API server refuses an event whose message passes its limit,
and the start (what) and the end (why) of a message say the most."""
_CUT = " … "
_CLUSTER_SCOPED_NAMESPACE = "default"


def render_event(
    body: Mapping[str, Any],
    kind: str,
    reason: str,
    message: str,
    *,
    component: str,
    instance: str,
    now: datetime.datetime,
    prefix: str = "fedop-",
) -> dict[str, Any]:
    """The core/v1 Event saying ``reason: message`` about the object ``body`` (only its apiVersion, kind
    and metadata are read)."""
    meta = body.get("metadata") or {}
    namespace = meta.get("namespace") or _CLUSTER_SCOPED_NAMESPACE
    if len(message) > MAX_MESSAGE_LENGTH:
        half = (MAX_MESSAGE_LENGTH - len(_CUT)) // 2
        message = message[:half] + _CUT + message[-half:]
    stamp = now.isoformat()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"namespace": namespace, "generateName": prefix},
        "involvedObject": {
            "apiVersion": body.get("apiVersion"),
            "kind": body.get("kind"),
            "name": meta.get("name"),
            "namespace": namespace,
            "uid": meta.get("uid"),
        },
        "type": kind,
        "reason": reason,
        "message": message,
        "action": reason,
        "source": {"component": component},  # the "From" column of `kubectl describe`
        "reportingComponent": component,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "eventTime": now.isoformat(timespec="microseconds"),
        "count": 1,
    }


class EventPoster:
    """Queues events (``emit``, on the event loop) and posts them (``run``, a task)."""

    def __init__(
        self,
        api: ClusterClient,
        *,
        send: Send,
        component: str,
        instance: str,
        limit: int = 10_000,
    ) -> None:
        self._api = api
        self._send = send
        self._component = component
        self._instance = instance
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(limit)
        self.posted = 0
        self.dropped = 0

    def emit(self, body: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        """Queue the event (an :data:`~federation_operator.observability.events.EventSink`)."""
        event = render_event(
            body,
            kind,
            reason,
            message,
            component=self._component,
            instance=self._instance,
            now=datetime.datetime.now(datetime.UTC),
        )
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("event queue full: dropped %s %s about %s", kind, reason, _about(event))

    async def run(self) -> None:
        """Post queued events until cancelled: what has queued up, up to POSTS_AT_ONCE at a time."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < POSTS_AT_ONCE and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await asyncio.gather(*(self._post(event) for event in batch))

    async def _post(self, event: dict[str, Any]) -> None:
        try:
            await self._send(self._api, _post_exchange(event))
            self.posted += 1
        except FederationError as exc:
            log.warning("could not post event %s about %s: %s", event["reason"], _about(event), exc)


def _post_exchange(event: dict[str, Any]) -> Exchange[None]:
    namespace = event["metadata"]["namespace"]
    what = f"posting event {event['reason']} about {_about(event)}"
    response = yield Request("POST", api_path("v1", "events", namespace=namespace), what, body=event)
    if response.status >= 300:
        raise response_error(response, what)


def _about(event: Mapping[str, Any]) -> str:
    ref = event["involvedObject"]
    return f"{ref['kind']} {ref['namespace']}/{ref['name']}"
