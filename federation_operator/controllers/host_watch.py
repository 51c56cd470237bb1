"""The host cluster's FederatedServices, as the operator sees them: one list+watch (the same shared
informer the members' Services and EndpointSlices use, :mod:`federation_operator.kube.informer`) feeding
the store, and the work queue with every object a reconcile has something new to read in.

kopf handled this watch before, and its per-event processing (causes, handler selection, its own patches
and bookkeeping for every event) cost more CPU than the reconciles themselves; the finalizer it kept is now
the controller's (``FederatedServiceController._hold`` / ``_finalize``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.client import ApiClient

from federation_operator.controllers.federated_service import FederatedServiceStore
from federation_operator.controllers.workqueue import WorkQueue
from federation_operator.domain.keys import GROUP, VERSION, Key
from federation_operator.kube.informer import MemberWatch, WatchedResource

__all__ = ["FEDERATED_SERVICES", "FederatedServiceWatch"]

log = logging.getLogger(__name__)

FEDERATED_SERVICES = WatchedResource(f"{GROUP}/{VERSION}", "FederatedService", "federatedservices")


class FederatedServiceWatch:
    """Lists and watches every FederatedService in the host cluster until :meth:`stop`.

    ``ours(key)`` is the status this operator last wrote for the object (an event only echoing it queues
    nothing); ``forget(key)`` drops what the operator keeps about an object gone; ``on_synced`` runs on
    the event loop after every complete list. Created on the event loop, which every callback runs on.
    """

    def __init__(
        self,
        api: ApiClient,
        *,
        store: FederatedServiceStore,
        queue: WorkQueue[Key],
        ours: Callable[[Key], Mapping[str, Any] | None],
        forget: Callable[[Key], None],
        on_synced: Callable[[], None] = lambda: None,
        request_timeout: float = 30.0,
    ) -> None:
        self._store = store
        self._queue = queue
        self._ours = ours
        self._forget = forget
        self._on_synced = on_synced
        # The watch's callbacks, in its thread, all go through one hand-off: they keep their order.
        hand_off = _HandOff(asyncio.get_running_loop())
        self._watch = MemberWatch(
            api,
            FEDERATED_SERVICES,
            label_selector="",
            cluster="the host cluster",
            on_event=hand_off.on_loop(self._event),
            on_relist=hand_off.on_loop(self._relist),
            on_synced=hand_off.on_loop(self._on_synced),
            on_error=lambda message: log.warning("watching FederatedServices: %s", message),
            request_timeout=(5.0, request_timeout),
            watch_timeout=300,
        )

    def start(self) -> None:
        self._watch.start()

    def stop(self) -> None:
        """Stop the watch; returns at once (a list in flight ends within its own timeout)."""
        self._watch.stop(timeout=0)

    @property
    def synced(self) -> bool:
        return self._watch.synced

    def _event(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == "DELETED":
            meta = obj.get("metadata") or {}
            key = (str(meta.get("namespace")), str(meta.get("name")))
            self._store.remove(key)
            self._forget(key)
            return
        key, changed = self._store.put(obj, ours=self._ours)
        if changed:
            self._queue.add(key)

    def _relist(self, objects: list[dict[str, Any]]) -> None:
        news, gone = self._store.replace(objects, ours=self._ours)
        for key in gone:  # deleted while the watch was away
            self._forget(key)
        for key in news:
            self._queue.add(key)


class _HandOff:
    """Calls made in the watch's thread, run on the event loop in the order they were made.

    One hop to the loop (a ``call_soon_threadsafe``, which wakes it through its self-pipe) takes every call
    made meanwhile: while the loop is busy, a burst of events costs one hop, not one each. A call that
    raises is logged, and the calls after it run all the same.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._calls: list[tuple[Callable[..., None], tuple[Any, ...]]] = []  # non-empty: a hop is under way

    def on_loop(self, callback: Callable[..., None]) -> Callable[..., None]:
        """``callback``, called from the watch's thread, run on the event loop."""

        def hand_over(*args: Any) -> None:
            self._hand_over(callback, args)

        return hand_over

    def _hand_over(self, callback: Callable[..., None], args: tuple[Any, ...]) -> None:
        with self._lock:
            self._calls.append((callback, args))
            if len(self._calls) > 1:
                return  # the hop under way takes it along
        try:
            self._loop.call_soon_threadsafe(self._run)
        except RuntimeError:  # the loop is closed: nothing will run them, now or later
            with self._lock:
                self._calls.clear()
            raise

    def _run(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
        for callback, args in calls:
            try:
                callback(*args)
            except Exception:  # as the loop does with a failing callback: logged, the next ones still run
                log.exception("FederatedService watch: %s failed", getattr(callback, "__name__", callback))
