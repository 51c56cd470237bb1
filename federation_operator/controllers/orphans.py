"""The orphan collector: removes what our federation left behind for FederatedServices that are gone.

Two kinds of leftovers (planning rules in :mod:`federation_operator.planning.orphans`):

- **member Services** whose owner labels name a FederatedService that no longer exists (deleted while that
  member was unreachable, so its cleanup skipped it; or its finalizer removed by hand while the operator was
  stopped), or exists only as a newer object under another UID;
- **DNS record sets** whose ownership record names such a FederatedService (the publisher removes them);
- **discovery Services** (in-cluster discovery) answering for such a FederatedService.

The host API is the authority on what exists: each collection lists the FederatedServices once (one LIST),
adds what the operator's own store holds (objects created since), and only then deletes, each Service with
its UID as a precondition. Services without our labels are never touched.

It runs when a member has just been listed (connected, or back after an outage: the moment its leftovers
become visible) and every ``interval`` seconds; between those it costs no API call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection

from federation_operator.controllers.federated_service import FederatedServiceStore
from federation_operator.controllers.member_cache import MemberRegistry
from federation_operator.controllers.member_calls import MemberCalls, MemberSilentError
from federation_operator.controllers.shutdown import ShutdownGate
from federation_operator.domain.errors import FederationError
from federation_operator.domain.keys import Key
from federation_operator.domain.members import ObservedService
from federation_operator.kube import host
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.member_services import delete_service_exchange
from federation_operator.planning.orphans import plan_orphans

__all__ = ["OrphanCollector"]

log = logging.getLogger(__name__)

# How often the collector looks for members that have just been listed (no API call: the member cache).
LOOK_SECONDS = 2.0


class OrphanCollector:
    """Finds and removes orphans; `run` is its loop, `collect` one pass."""

    def __init__(
        self,
        *,
        registry: MemberRegistry,
        store: FederatedServiceStore,
        host_api: ClusterClient,
        gate: ShutdownGate,
        interval: float,
        calls: MemberCalls,
        collect_dns: Callable[[Collection[Key]], list[str]] | None = None,
        collect_discovery: Callable[[Collection[Key]], Awaitable[int]] | None = None,
    ) -> None:
        self.registry = registry
        # Member calls go the one bounded way (a hung member holds up no one, and is not called while silent).
        self.calls = calls
        self.store = store
        self.host_api = host_api
        self.gate = gate
        self.interval = interval
        # The publisher's collection: deletes the records of every owner not in the given collection.
        self.collect_dns = collect_dns
        # The discovery Services' collection (controllers/discovery.py): the same rule, in members' CoreDNS.
        self.collect_discovery = collect_discovery
        self.collected = 0  # member Services removed (for tests and benchmarks)

    async def run(self) -> None:
        listed: set[str] = set()
        next_pass = time.monotonic() + self.interval
        while not self.gate.is_closed():
            now_listed = {c.name for c in self.registry.clusters() if c.ready and c.synced}
            fresh = now_listed - listed
            listed = now_listed
            if fresh or time.monotonic() >= next_pass:
                try:
                    await self.collect()
                except FederationError as exc:
                    log.warning("orphan collection failed (%s); trying again at the next pass", exc)
                next_pass = time.monotonic() + self.interval
            await asyncio.sleep(LOOK_SECONDS)

    async def collect(self) -> list[ObservedService]:
        """One pass: the Services removed (DNS records are removed by the publisher, asynchronously)."""
        listed = await asyncio.to_thread(host.fetch_federated_service_uids, self.host_api)
        existing = {*listed, *self.store.known()}
        # Records first, right after the list (no await between): a FederatedService created since is in
        # the store by then, or has no records yet. (The publisher logs what it collects.)
        if self.collect_dns is not None and not self.gate.is_closed():
            self.collect_dns(existing)
        members = [c.name for c in self.registry.clusters() if c.ready and c.synced]
        services = [s for member in members for s in self.registry.services(member)]
        orphans = plan_orphans(services, existing)
        removed = [s for s in orphans if await self._remove(s)]
        if self.collect_discovery is not None and not self.gate.is_closed():
            await self.collect_discovery(existing)
        return removed

    async def _remove(self, service: ObservedService) -> bool:
        assert service.owner is not None
        body = self.store.get(service.owner)
        if body is not None:
            return False  # created (again) since the list: it adopts the Service, whatever its UID
        api = self.registry.api(service.cluster)
        if api is None:
            return False
        uid = service.manifest.get("metadata", {}).get("uid")
        self.gate.check(f"removing orphan Service {service.namespace}/{service.name} from {service.cluster}")
        try:
            outcome = await self.calls.call(
                service.cluster, api, delete_service_exchange(service.namespace, service.name, uid)
            )
        except MemberSilentError:
            return False  # not called: the member is silent; the next pass collects it
        if outcome != "deleted":
            return False
        self.collected += 1
        owner = "/".join(service.owner)
        log.warning(
            "collected orphan Service %s/%s in %s: its FederatedService %s (uid %s) no longer exists",
            service.namespace,
            service.name,
            service.cluster,
            owner,
            service.owner_uid,
        )
        return True
