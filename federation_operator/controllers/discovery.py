"""Keeps every member's discovery Services (what its CoreDNS answers for federated names) current.

Called by the FederatedService controller after each plan, with the :class:`DiscoveryPlan` made from the
shard health it just computed: so a shard going unhealthy changes its member's answer in the same reconcile
that withdraws it from DNS, event-driven, with one Service write per member whose answer changes. What each
member holds is known here (read once per member connection, then kept from our own writes), so a
FederatedService at rest costs no call at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Literal

from federation_operator.controllers.member_cache import MemberRegistry
from federation_operator.controllers.member_calls import MemberCalls
from federation_operator.controllers.shutdown import ShutdownGate
from federation_operator.domain.errors import PermanentError, TransientError
from federation_operator.domain.keys import Key
from federation_operator.domain.members import ClusterInfo
from federation_operator.domain.status import DiscoveryStatus
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.discovery_services import fetch_discovery_services_exchange
from federation_operator.kube.member_services import apply_service_exchange, delete_service_exchange
from federation_operator.planning.discovery import (
    LABEL_DISCOVERY_FEDERATION,
    DiscoveryAnswer,
    DiscoveryPlan,
    discovery_namespace,
    discovery_owner_of,
    discovery_service_name,
    member_cluster_domain,
    render_discovery_service,
)

__all__ = ["DISCOVERY_RETRY_SECONDS", "DiscoveryController"]

log = logging.getLogger(__name__)

# A discovery write that failed is tried again this soon (the member may have been busy or just silent).
DISCOVERY_RETRY_SECONDS = 5.0


class DiscoveryController:
    """The discovery Services of one federation in every member with discovery on."""

    def __init__(
        self,
        *,
        federation: str,
        registry: MemberRegistry,
        calls: MemberCalls,
        gate: ShutdownGate,
        store_has: Callable[[Key], bool] = lambda _key: False,
        enqueue: Callable[[Key], None] = lambda _key: None,
    ) -> None:
        self.federation = federation
        self.namespace = discovery_namespace(federation)
        self.registry = registry
        self.calls = calls
        self.gate = gate
        # Whether the operator's store holds a FederatedService now (one created since the orphan list).
        self.store_has = store_has
        self.enqueue = enqueue  # a FederatedService whose discovery Service someone else changed
        # Per member: the client its holdings were listed with, and discovery Service name -> externalName.
        self._held: dict[str, tuple[ClusterClient, dict[str, str]]] = {}
        self._listing: dict[str, asyncio.Lock] = {}
        self.writes = 0  # applies and deletes sent (for tests and benchmarks)

    async def _holdings(self, cluster: str, api: ClusterClient, *, fresh: bool = False) -> dict[str, str]:
        """What ``cluster`` holds, listed once per connection (a reconnected member is listed again), or
        listed now (``fresh``)."""
        held = self._held.get(cluster)
        if held is not None and held[0] is api and not fresh:
            return held[1]
        async with self._listing.setdefault(cluster, asyncio.Lock()):
            held = self._held.get(cluster)
            if held is not None and held[0] is api and not fresh:
                return held[1]
            selector = f"{LABEL_DISCOVERY_FEDERATION}={self.federation}"
            listed = await self.calls.call(
                cluster, api, fetch_discovery_services_exchange(self.namespace, selector)
            )
            self._held[cluster] = (api, listed)
            return listed

    def _state(self, info: ClusterInfo, key: Key, target: str | None) -> Literal["Local", "Fallback", "Off"]:
        if not target:
            return "Off"
        domain = member_cluster_domain(info) or "cluster.local"
        namespace, name = key
        return "Local" if target == f"{name}.{namespace}.svc.{domain}" else "Fallback"

    async def sync(self, key: Key, plan: DiscoveryPlan) -> tuple[tuple[DiscoveryStatus, ...], float | None]:
        """Bring every member's discovery Service for ``key`` in line with ``plan``; returns what each
        member with discovery on answers now, and a retry delay when a write failed."""
        service = plan.service or discovery_service_name(key[1], key[0])
        answers = {a.cluster: a for a in plan.answers}
        infos = {c.name: c for c in self.registry.clusters()}
        if plan.problem is not None:
            # No name for it in any member: each member with discovery on says why.
            return tuple(
                DiscoveryStatus(cluster=c.name, state="Off", message=plan.problem)
                for c in infos.values()
                if member_cluster_domain(c) is not None
            ), None
        # Members to write to: those with an answer, and those holding one they should not any more.
        # (Of the members registered now: one may have gone since the plan was made.)
        holding = {c for c, (_, held) in self._held.items() if service in held}
        clusters = (set(answers) | holding) & set(infos)
        if service is None or not clusters:
            return (), None
        names = sorted(clusters)
        outcomes = await asyncio.gather(
            *(self._sync_member(infos[c], key, service, answers.get(c)) for c in names),
            return_exceptions=True,
        )
        statuses: list[DiscoveryStatus] = []
        retry: float | None = None
        for cluster, outcome in zip(names, outcomes, strict=True):
            info = infos[cluster]
            held = self._held.get(cluster)
            target = held[1].get(service) if held is not None else None
            if isinstance(outcome, TransientError | PermanentError):
                retry = DISCOVERY_RETRY_SECONDS
                message: str | None = str(outcome)
                log.warning("%s: discovery Service of %s/%s not written: %s", cluster, *key, outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                message = outcome
            if cluster in answers or target:
                statuses.append(
                    DiscoveryStatus(
                        cluster=cluster,
                        state=self._state(info, key, target),
                        target=target or None,
                        message=message,
                    )
                )
        return tuple(statuses), retry

    async def _sync_member(
        self, info: ClusterInfo, key: Key, service: str, answer: DiscoveryAnswer | None
    ) -> str | None:
        """One member; returns why it is not as planned (None: it is)."""
        api = self.registry.api(info.name)
        if api is None:
            return "not connected"
        if not info.ready:
            return "not reachable: its answer is kept as it was"
        held = await self._holdings(info.name, api)
        current = held.get(service)
        if answer is None:
            if current is None:
                return None
            self.gate.check(f"removing discovery Service {self.namespace}/{service} from {info.name}")
            await self.calls.call(info.name, api, delete_service_exchange(self.namespace, service, None))
            held.pop(service, None)
            self.writes += 1
            return None
        if current == answer.target:
            return None
        manifest = render_discovery_service(self.federation, key, service, answer)
        self.gate.check(f"writing discovery Service {self.namespace}/{service} in {info.name}")
        written = await self.calls.call(info.name, api, apply_service_exchange(manifest))
        held[service] = str((written.get("spec") or {}).get("externalName") or answer.target)
        self.writes += 1
        log.info("%s: %s/%s answers %s (%s)", info.name, *key, answer.target, answer.state)
        return None

    async def remove(self, key: Key) -> None:
        """Remove ``key``'s discovery Service from every connected member with discovery on that holds it
        (a member not reachable now is skipped: its Service is found again when it is next listed)."""
        service = discovery_service_name(key[1], key[0])
        if service is None:
            return
        for info in self.registry.clusters():
            api = self.registry.api(info.name)
            if api is None or not info.ready:
                continue
            if (
                member_cluster_domain(info) is None
                and service not in self._held.get(info.name, (None, {}))[1]
            ):
                continue
            await self._sync_member(info, key, service, None)

    async def collect_orphans(self, existing: Collection[Key]) -> int:
        """Remove, from every connected member with discovery on, the discovery Services of FederatedServices
        not in ``existing`` (the host's list, plus the store) nor in the store now; returns how many."""
        removed = 0
        for info in self.registry.clusters():
            api = self.registry.api(info.name)
            if api is None or not info.ready or member_cluster_domain(info) is None:
                continue
            before = dict(self._held[info.name][1]) if info.name in self._held else None
            try:
                # Listed afresh: what someone else changed meanwhile (a discovery Service deleted by hand,
                # the namespace deleted and made again by a quick disable and enable) is written again.
                held = await self._holdings(info.name, api, fresh=True)
            except (TransientError, PermanentError) as exc:
                log.warning(
                    "%s: discovery Services not listed (%s); collected at the next pass", info.name, exc
                )
                continue
            for service, target in (before or {}).items():
                owner = discovery_owner_of(service)
                if owner is not None and held.get(service) != target and self.store_has(owner):
                    self.enqueue(owner)
            for service in list(held):
                owner = discovery_owner_of(service)
                if owner is None or owner in existing or self.store_has(owner):
                    continue
                try:
                    await self._sync_member(info, owner, service, None)
                except (TransientError, PermanentError) as exc:
                    log.warning("%s: orphan discovery Service %s not removed: %s", info.name, service, exc)
                    continue
                removed += 1
                log.warning(
                    "collected orphan discovery Service %s/%s in %s: FederatedService %s/%s no longer exists",
                    self.namespace, service, info.name, *owner,
                )  # fmt: skip
        return removed

    def holdings(self) -> Mapping[str, Mapping[str, str]]:
        """What each member is known to hold (for tests)."""
        return {cluster: dict(held) for cluster, (_, held) in self._held.items()}
