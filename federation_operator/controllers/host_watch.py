"""The host cluster's FederatedServices, as the operator sees them: one list+watch (the same shared
informer the members' Services and EndpointSlices use, :mod:`federation_operator.kube.async_informer`, a
task on the event loop) feeding the store, and the work queue with every object a reconcile has something
new to read in.

kopf handled this watch before, and its per-event processing (causes, handler selection, its own patches
and bookkeeping for every event) cost more CPU than the reconciles themselves; the finalizer it kept is now
the controller's (``FederatedServiceController._hold`` / ``_finalize``). It ran in a thread of its own
after that, each event then handed to the loop: a wake-up of the thread and one of the loop per event
arriving alone, ~45 µs of CPU more than reading it on the loop (``benchmarks/watch_cpu.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from federation_operator.controllers.federated_service import FederatedServiceStore
from federation_operator.controllers.workqueue import WorkQueue
from federation_operator.domain.keys import GROUP, VERSION, Key
from federation_operator.kube.async_informer import AsyncMemberWatch, WatchedResource
from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.host import FEDERATED_SERVICE_PAGE

__all__ = ["FEDERATED_SERVICES", "FederatedServiceWatch"]

log = logging.getLogger(__name__)

FEDERATED_SERVICES = WatchedResource(f"{GROUP}/{VERSION}", "FederatedService", "federatedservices")


class FederatedServiceWatch:
    """Lists and watches every FederatedService in the host cluster until :meth:`stop`, its requests through
    ``transport`` (the session the operator's host writes use).

    ``ours(key)`` is the status this operator last wrote for the object (an event only echoing it queues
    nothing); ``forget(key)`` drops what the operator keeps about an object gone; ``on_synced`` runs after
    every complete list. Created on the event loop, which every callback runs on.
    """

    def __init__(
        self,
        api: ClusterClient,
        *,
        transport: AsyncTransport,
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
        self._watch = AsyncMemberWatch(
            api,
            FEDERATED_SERVICES,
            transport=transport,
            label_selector="",
            cluster="the host cluster",
            on_event=self._event,
            on_relist=self._relist,
            on_synced=self._on_synced,
            on_error=lambda message: log.warning("watching FederatedServices: %s", message),
            request_timeout=(5.0, request_timeout),
            watch_timeout=300,
            page_size=FEDERATED_SERVICE_PAGE,
        )

    def start(self) -> None:
        self._watch.start()

    def stop(self) -> None:
        """Stop the watch (its task is cancelled, a request in flight cut off); returns at once."""
        self._watch.stop()

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

    def _relist(self) -> _HostRelist:
        return _HostRelist(self)


class _HostRelist:
    """One relist of the FederatedServices (the informer's ``Relisting``): each page stored as it comes and
    what changed queued; at the end what was not listed (deleted while the watch was away) forgotten."""

    __slots__ = ("_listed", "_watch")

    def __init__(self, watch: FederatedServiceWatch) -> None:
        self._watch = watch
        self._listed: set[Key] = set()

    def page(self, objects: list[dict[str, Any]]) -> None:
        watch = self._watch
        for obj in objects:
            key, changed = watch._store.put(obj, ours=watch._ours)
            self._listed.add(key)
            if changed:
                watch._queue.add(key)

    def done(self) -> None:
        for key in self._watch._store.keep_only(self._listed):
            self._watch._forget(key)
        self._listed = set()
