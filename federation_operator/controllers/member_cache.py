"""The registry of member clusters and the in-memory index of what their shared watches have seen.

Each registered member owns exactly two watches (Services and EndpointSlices carrying our federation label),
shared by every FederatedService; their events land here, in one index, and mark the owning
FederatedService dirty. Planning reads the index; nothing here talks to the host cluster.

It also keeps one MemberCluster per real cluster: each supervisor claims the cluster ID it reached (its
``kube-system`` Namespace UID) before connecting, and of several claims to one cluster only the oldest
MemberCluster's may connect (:func:`~federation_operator.planning.clusters.plan_cluster_holder`). Two
MemberClusters serving one cluster would plan its Services twice, each undoing the other's writes.

Everything here is called from the event loop, the watches' callbacks included (their watches are tasks on
it: :class:`~federation_operator.kube.async_informer.AsyncMemberWatch`); one lock guards the maps all the
same, as they are read from other threads too (the metrics' collection).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from federation_operator.domain.keys import Key, object_key, owner_key
from federation_operator.domain.members import (
    LABEL_FEDERATION,
    ClusterClaim,
    ClusterInfo,
    EndpointSummary,
    ObservedService,
)
from federation_operator.kube.async_informer import ENDPOINT_SLICES, SERVICES, AsyncMemberWatch, WatchCounters
from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.member_services import (
    observe_service,
    summarize_endpoints,
    trim_endpoint_slice,
    trim_service,
)
from federation_operator.planning.clusters import plan_cluster_holder
from federation_operator.planning.health import Partition, plan_partition

__all__ = ["MemberRegistry"]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _owner(obj: Mapping[str, Any], kind: str) -> Key | None:
    """The FederatedService to re-plan when ``obj`` changes: the one its owner labels name; for an
    EndpointSlice without them (one written by hand or by a controller that does not copy the Service's
    labels, as the EndpointSlice controller does), the one its Service's name says: a member Service has its
    FederatedService's namespace and name."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    owner = owner_key(labels)
    if owner is None and kind == "endpointslices" and labels.get(SERVICE_NAME_LABEL):
        owner = (str(meta.get("namespace") or ""), str(labels[SERVICE_NAME_LABEL]))
    return owner


def _same_service(held: ObservedService, seen: ObservedService) -> bool:
    """``seen`` tells a reconcile nothing ``held`` did not: only its resourceVersion moved (what the cache
    keeps of it, the ingress read from its status and its owner are the same)."""
    if held.ingress != seen.ingress or held.owner != seen.owner or held.owner_uid != seen.owner_uid:
        return False
    before, after = held.manifest, seen.manifest
    if before.keys() != after.keys():
        return False
    for part, value in after.items():
        if part != "metadata" and before[part] != value:
            return False
    meta_before, meta_after = before.get("metadata") or {}, after.get("metadata") or {}
    if meta_before.keys() != meta_after.keys():
        return False
    return all(
        meta_before[field] == value for field, value in meta_after.items() if field != "resourceVersion"
    )


def _same_endpoints(
    held: tuple[str, Mapping[str, Any]] | None, service: str, seen: Mapping[str, Any]
) -> bool:
    """The trimmed slice ``seen`` (of Service ``service``) leaves its Service's endpoint summary as ``held``
    (the slice kept before it, or None) left it, whatever the other slices of that Service: it adds no ready
    endpoint where there was no slice, or it stays with its Service and owner (its labels) and holds the
    same ready endpoints as before (:func:`summarize_endpoints` reads nothing else)."""
    if held is None:
        return not _ready_endpoints(seen)
    before = held[1]
    return (
        held[0] == service
        and before["metadata"]["labels"] == seen["metadata"]["labels"]
        and before.get("addressType") == seen.get("addressType")
        and _ready_endpoints(before) == _ready_endpoints(seen)
    )


def _ready_endpoints(trimmed: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """What :func:`summarize_endpoints` counts of one trimmed slice: its ready endpoints' first address and
    zone, in order."""
    return [
        (endpoint["addresses"][0], endpoint.get("zone"))
        for endpoint in trimmed["endpoints"]
        if endpoint["addresses"] and endpoint.get("conditions", {}).get("ready") is not False
    ]


_NO_ENDPOINTS = EndpointSummary()
# How many distinct endpoint summaries the registry shares between Services (beyond, each keeps its own).
_SHARED_SUMMARIES = 1024


def _same_version(held: Mapping[str, Any] | None, listed: Mapping[str, Any]) -> bool:
    """The object was held at the resourceVersion it was listed at (so it has not changed since)."""
    if held is None:
        return False
    version = (held.get("metadata") or {}).get("resourceVersion")
    return version is not None and version == (listed.get("metadata") or {}).get("resourceVersion")


@dataclass
class _Member:
    info: ClusterInfo
    api: ClusterClient
    watches: list[AsyncMemberWatch] = field(default_factory=list)
    # The kinds whose watch holds the member's current state: listed completely, and no failure since.
    synced: set[str] = field(default_factory=set)
    # Both kinds were listed completely once: from then on, "no Service seen" means "absent", and a relist
    # re-plans the owners of what changed (before, the first complete view re-plans everything).
    listed_once: bool = False
    # The kinds whose failed watch was told to retry at the last probe that answered (`retry_watches`).
    retried: set[str] = field(default_factory=set)
    services: dict[tuple[str, str], ObservedService] = field(default_factory=dict)
    # (namespace, slice name) -> (service name, raw slice)
    slices: dict[tuple[str, str], tuple[str, Mapping[str, Any]]] = field(default_factory=dict)
    # (namespace, service name) -> names of its slices: summing one Service's endpoints stays O(its slices).
    slices_by_service: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    # (namespace, service name) -> its slices summed, since their last change: every reconcile reads each
    # member's summary, and most follow events that changed no slice of theirs.
    summaries: dict[tuple[str, str], EndpointSummary] = field(default_factory=dict)
    # (namespace, name) -> resourceVersion of the Service as our own write returned it: the watch event
    # carrying that same version tells the reconcile nothing it did not already plan from the response.
    written: dict[tuple[str, str], str] = field(default_factory=dict)

    def forget_slice(self, key: tuple[str, str]) -> None:
        entry = self.slices.pop(key, None)
        if entry is not None:
            self.summaries.pop((key[0], entry[0]), None)
            names = self.slices_by_service.get((key[0], entry[0]))
            if names is not None:
                names.discard(key[1])
                if not names:
                    del self.slices_by_service[(key[0], entry[0])]

    def record_slice(self, key: tuple[str, str], service: str, obj: Mapping[str, Any]) -> None:
        self.forget_slice(key)
        self.slices[key] = (service, obj)
        self.slices_by_service.setdefault((key[0], service), set()).add(key[1])
        self.summaries.pop((key[0], service), None)

    def summary(
        self, namespace: str, name: str, shared: dict[EndpointSummary, EndpointSummary]
    ) -> EndpointSummary:
        """The ready endpoints of Service ``namespace/name``, over its slices (summed once per change); an
        equal summary in ``shared`` is kept instead of a new one (most Services sum to one of a few)."""
        held = self.summaries.get((namespace, name))
        if held is None:
            names = self.slices_by_service.get((namespace, name))
            if not names:
                return _NO_ENDPOINTS  # nothing kept for a Service without slices
            held = summarize_endpoints([self.slices[(namespace, n)][1] for n in names])
            held = shared.get(held, held)
            if len(shared) < _SHARED_SUMMARIES:
                shared.setdefault(held, held)
            self.summaries[(namespace, name)] = held
        return held


def _kept_manifest(entry: ObservedService | tuple[str, Mapping[str, Any]] | None) -> Mapping[str, Any] | None:
    """What is kept of a held Service or slice (its resourceVersion included)."""
    if entry is None:
        return None
    return entry.manifest if isinstance(entry, ObservedService) else entry[1]


class _Relist:
    """One relist of a member's Services or EndpointSlices (the informer's ``Relisting``): each page taken
    into the held index in place (readers between pages see each object as it was or as listed, as between
    watch events), and at its end whatever was not listed forgotten. Owners are queued page by page, once the
    member has synced (its first lists end in one re-plan of everything instead; a relist after a broken
    watch queues them when the member's view is current again: :meth:`MemberRegistry._replan`)."""

    __slots__ = ("_kind", "_member", "_registry", "_seen")

    def __init__(self, registry: MemberRegistry, member: _Member, kind: str) -> None:
        self._registry = registry
        self._member = member
        self._kind = kind
        self._seen: set[Key] = set()

    def page(self, objects: list[dict[str, Any]]) -> None:
        for owner in self._registry._relisted(self._member, self._kind, objects, self._seen):
            self._registry._enqueue(owner)

    def done(self) -> None:
        for owner in self._registry._unlisted(self._member, self._kind, self._seen):
            self._registry._enqueue(owner)
        self._seen = set()


class MemberRegistry:
    """Registered members, their connection, readiness, and the shards their watches report.

    ``enqueue`` and ``enqueue_all`` are called on the event loop. The watches' requests go through
    ``transport`` (the operator's one, whose sessions its member writes share; else one of its own), which
    forgets a member's client when the member is disconnected."""

    def __init__(
        self,
        federation: str,
        enqueue: Callable[[Key], None],
        enqueue_all: Callable[[], None],
        request_timeout: float = 10.0,
        transport: AsyncTransport | None = None,
    ) -> None:
        self.federation = federation
        self._transport = transport if transport is not None else AsyncTransport()
        self._enqueue = enqueue
        self._enqueue_all = enqueue_all
        self._request_timeout = request_timeout
        self._lock = threading.Lock()
        self._summaries: dict[EndpointSummary, EndpointSummary] = {}  # equal summaries, held once
        self._members: dict[str, _Member] = {}
        # FederatedServices planned while a member's view was not current (a watch failed and has not listed
        # again): re-planned the moment a member's view is current again, as are the owners its relist found
        # changed meanwhile (`replan_when_synced`).
        self._waiting: set[Key] = set()
        # A member listed completely for the first time while another's view was not current: everything is
        # re-planned once every view is (what a new member may change is not only what waited).
        self._replan_all = False
        # The latest time every member was unreachable at once: its time does not count toward any member's
        # grace period (planning/health.py), so its end withdraws nothing that was not already withdrawn.
        self._partition = Partition()
        self._claims: dict[str, ClusterClaim] = {}  # MemberCluster name -> the cluster it reached

    # --- membership -----------------------------------------------------------------------------------

    def connect(self, info: ClusterInfo, api: ClusterClient) -> bool:
        """Register (or re-register) a member and start its two shared watches (tasks on the running loop).

        False, and nothing started, when the member's claim no longer holds its cluster (an older
        MemberCluster of the same cluster claimed it meanwhile); ``api`` is then still the caller's.
        """
        self.disconnect(info.name, notify=False)
        member = _Member(info=replace(info, synced=False), api=api)
        selector = f"{LABEL_FEDERATION}={self.federation}"
        for resource in (SERVICES, ENDPOINT_SLICES):
            kind = resource.plural
            member.watches.append(
                AsyncMemberWatch(
                    api,
                    resource,
                    transport=self._transport,
                    label_selector=selector,
                    on_event=self._event_handler(member, kind),
                    on_relist=self._relist_handler(member, kind),
                    on_synced=self._synced_handler(member, kind),
                    on_error=self._error_handler(member, kind),
                    cluster=info.name,
                    request_timeout=self._request_timeout,
                )
            )
        with self._lock:
            if self._refused(info.name):
                return False
            self._members[info.name] = member
            self._track_partition()
        for watch in member.watches:
            watch.start()
        return True

    def disconnect(self, name: str, notify: bool = True) -> None:
        """Forget a member: stop its watches; every FederatedService loses that shard."""
        with self._lock:
            member = self._members.pop(name, None)
            self._track_partition()
            if member is not None and notify:
                self._replanning_everything()
        if member is None:
            return
        for watch in member.watches:
            # Its task is cancelled, its request in flight cut off; it ends at its next step on the loop.
            # Should a callback of it still run (this called from one), it finds this member forgotten, not
            # a member registered again under the same name (the callbacks check which member they serve).
            watch.stop()
        member.api.close()
        self._transport.forget(member.api)  # its session, which the watches' requests used, is closed
        if notify:
            self._enqueue_all()

    # --- one MemberCluster per real cluster ----------------------------------------------------------

    def claim(self, claim: ClusterClaim) -> ClusterClaim:
        """Record that ``claim.name`` reaches cluster ``claim.cluster_id`` (replacing its earlier claim);
        returns the claim that holds that cluster.

        A connected member this claim displaces (a younger MemberCluster of the same cluster that happened
        to connect first) is disconnected here, at once, so two MemberClusters never serve one cluster.
        """
        with self._lock:
            self._claims[claim.name] = claim
            holder = plan_cluster_holder(self._claims.values(), claim.cluster_id)
            assert holder is not None  # the claim just recorded is a candidate
            displaced = [
                c.name
                for c in self._claims.values()
                if c.cluster_id == claim.cluster_id and c.name != holder.name and c.name in self._members
            ]
        for name in displaced:
            self.disconnect(name)
        return holder

    def holder(self, name: str) -> ClusterClaim | None:
        """The claim holding the cluster ``name`` claimed (None when ``name`` claimed none)."""
        with self._lock:
            claim = self._claims.get(name)
            return plan_cluster_holder(self._claims.values(), claim.cluster_id) if claim else None

    def release(self, name: str) -> None:
        """``name`` no longer claims any cluster (its MemberCluster is gone): the next oldest may take over
        (its supervisor notices on its next check)."""
        with self._lock:
            self._claims.pop(name, None)

    def refused(self) -> set[str]:
        """MemberClusters kept out because an older one holds their cluster."""
        with self._lock:
            return {name for name in self._claims if self._refused(name)}

    def _refused(self, name: str) -> bool:
        # Under the lock.
        claim = self._claims.get(name)
        if claim is None:
            return False
        holder = plan_cluster_holder(self._claims.values(), claim.cluster_id)
        return holder is not None and holder.name != name

    def update(self, name: str, **changes: Any) -> ClusterInfo | None:
        """Change fields of a member's ClusterInfo (ready, labels, zones, ...); dependents are re-planned."""
        with self._lock:
            member = self._members.get(name)
            if member is None:
                return None
            before = member.info
            member.info = replace(before, **changes)
            after = member.info
            self._track_partition()
            if after != before:
                self._replanning_everything()
        if after != before:
            self._enqueue_all()
        return after

    def retry_watches(self, name: str) -> str | None:
        """The member answers (its probe succeeded): a watch of it waiting to retry after a failure tries now,
        rather than at the end of a backoff that grew while the member was down.

        Returns the failure of a watch that was told so at the previous call too and has not listed since:
        the member answers its probes, yet cannot be watched (its rights to list were taken away, say). Its
        supervisor counts that as a failed probe, so the member is NotReady (and says why) rather than Ready
        with a view that stays stale, which would hold every plan that waits for it.
        """
        with self._lock:
            member = self._members.get(name)
            if member is None:
                return None
            failing = {
                w.resource.plural: w.last_error
                for w in member.watches
                if w.resource.plural not in member.synced and w.last_error is not None
            }
            stuck = next((failing[kind] for kind in sorted(failing) if kind in member.retried), None)
            member.retried = set(failing)
            watches = list(member.watches)
        for watch in watches:
            watch.retry_now()
        return stuck

    def replan_when_synced(self, key: Key) -> None:
        """``key`` was planned while a reachable member's view was not current (its plan waited for it):
        re-plan it once a member's view is current again."""
        with self._lock:
            self._waiting.add(key)

    def _view_pending(self) -> bool:
        """Under the lock: a Ready member's view is not current (a plan involving it waits for it)."""
        return any(m.info.ready and not m.info.synced for m in self._members.values())

    def _replanning_everything(self) -> None:
        """Under the lock, as every FederatedService is about to be queued: what waited for the members'
        views is queued with them, unless a view is still pending (a plan then still waits for it)."""
        if not self._view_pending():
            self._waiting.clear()
            self._replan_all = False

    def _track_partition(self) -> None:
        """Under the lock, after any change of membership or readiness."""
        infos = [m.info for m in self._members.values()]
        self._partition = plan_partition(self._partition, infos, time.monotonic())

    # --- reading ------------------------------------------------------------------------------------------

    def partition(self) -> Partition:
        """The latest partition (every member unreachable at once), as the members' readiness showed it."""
        with self._lock:
            return self._partition

    def clusters(self) -> list[ClusterInfo]:
        with self._lock:
            return sorted((m.info for m in self._members.values()), key=lambda c: c.name)

    def api(self, cluster: str) -> ClusterClient | None:
        with self._lock:
            member = self._members.get(cluster)
            return member.api if member else None

    def service(self, cluster: str, namespace: str, name: str) -> ObservedService | None:
        with self._lock:
            member = self._members.get(cluster)
            return member.services.get((namespace, name)) if member else None

    def note_written(self, cluster: str, service: ObservedService) -> None:
        """A Service as our own create or update returned it: its watch event re-plans nothing (one
        reconcile less per write). Kept until the next event of that Service, whatever version it has."""
        version = (service.manifest.get("metadata") or {}).get("resourceVersion")
        with self._lock:
            member = self._members.get(cluster)
            if member is not None and version:
                member.written[(service.namespace, service.name)] = str(version)

    def services(self, cluster: str) -> list[ObservedService]:
        """Every Service of ours the member's watch holds (empty for an unknown member)."""
        with self._lock:
            member = self._members.get(cluster)
            return list(member.services.values()) if member else []

    def endpoints(self, cluster: str, namespace: str, name: str) -> EndpointSummary:
        with self._lock:
            member = self._members.get(cluster)
            return member.summary(namespace, name, self._summaries) if member is not None else _NO_ENDPOINTS

    def held(self) -> dict[str, int]:
        """How many Services and EndpointSlices the member caches hold, over all members."""
        with self._lock:
            members = list(self._members.values())
            return {
                "services": sum(len(m.services) for m in members),
                "endpointslices": sum(len(m.slices) for m in members),
            }

    def watch_counters(self) -> dict[str, WatchCounters]:
        with self._lock:
            return {w.name: w.counters for m in self._members.values() for w in m.watches}

    # --- watch callbacks (on the loop, in the watches' tasks) --------------------------------------------

    def _current(self, member: _Member) -> bool:
        """Under the lock: ``member`` is still the one registered under its name (its watches' callbacks
        may run after it was disconnected)."""
        return self._members.get(member.info.name) is member

    def _apply(
        self, member: _Member, kind: str, event_type: str, obj: Mapping[str, Any], *, news_only: bool = False
    ) -> Key | None:
        """Record one object change under the lock; returns the FederatedService to re-plan.

        With ``news_only`` (a watch event), None as well when the change leaves what a reconcile reads as it
        was: a Service whose owner, ingress and kept manifest are the same but for its resourceVersion (a
        status write we do not read, another manager's no-op apply), a slice that changes neither its
        Service's ready count nor its zones (a backend added not ready yet, a pod's other conditions). The
        event that last changed it queued a reconcile that reads the state after it, which is this one.
        """
        if not self._current(member):
            return None
        key = object_key(obj)
        if kind == "services":
            echo = member.written.pop(key, None)
            if event_type == "DELETED":
                member.services.pop(key, None)
            else:
                held = member.services.get(key)
                trimmed = trim_service(obj, held.manifest if held is not None else self._kin(key))
                # Its status is read here (the ingress), then dropped: the value holds the trimmed copy.
                observed = observe_service(member.info.name, obj, manifest=trimmed)
                member.services[key] = observed
                if echo is not None and echo == obj.get("metadata", {}).get("resourceVersion"):
                    return None  # our own write, seen back: its reconcile planned from the response
                if news_only and held is not None and _same_service(held, observed):
                    return None
        elif event_type == "DELETED":
            member.forget_slice(key)
        else:
            labels = obj.get("metadata", {}).get("labels") or {}
            service = str(labels.get(SERVICE_NAME_LABEL, ""))
            held_slice = member.slices.get(key)
            trimmed = trim_endpoint_slice(obj, held_slice[1] if held_slice is not None else None)
            member.record_slice(key, service, trimmed)
            if news_only and _same_endpoints(held_slice, service, trimmed):
                return None
        return _owner(obj, kind)

    def _kin(self, key: tuple[str, str]) -> Mapping[str, Any] | None:
        """Under the lock: what another member keeps of the Service at ``key`` (ours are the same Service in
        every member): trimming a Service seen first takes the parts they share from it, held once."""
        for other in self._members.values():
            observed = other.services.get(key)
            if observed is not None:
                return observed.manifest
        return None

    def _event_handler(self, member: _Member, kind: str) -> Callable[[str, dict[str, Any]], None]:
        def on_event(event_type: str, obj: dict[str, Any]) -> None:
            with self._lock:
                owner = self._apply(member, kind, event_type, obj, news_only=True)
            if owner is not None:
                self._enqueue(owner)

        return on_event

    def _relist_handler(self, member: _Member, kind: str) -> Callable[[], _Relist]:
        def on_relist() -> _Relist:
            return _Relist(self, member, kind)

        return on_relist

    def _relisted(
        self, member: _Member, kind: str, objects: list[dict[str, Any]], seen: set[Key]
    ) -> set[Key]:
        """One page of a relist of ``member``'s ``kind`` taken in place (``seen``: the keys listed so far);
        returns the owners to re-plan."""
        owners: set[Key] = set()
        with self._lock:
            if not self._current(member):
                return owners
            # Until the member's first lists are complete, its dependents are not re-planned object by object:
            # the moment it is synced re-plans every FederatedService (`_synced_handler`), and until then a
            # plan waits for it anyway. At a start (a restart, a failover) that is 2 x N reconciles per member
            # spared, each of them planning an incomplete view for nothing.
            planning = member.listed_once
            held: Mapping[tuple[str, str], Any] = member.services if kind == "services" else member.slices
            for obj in objects:
                key = object_key(obj)
                seen.add(key)
                before = _kept_manifest(held.get(key))
                owner = self._apply(member, kind, "ADDED", obj)
                # A relist (a reconnect, a 410 Gone) hands over every object again: one still at the version
                # held tells its owner nothing new, and re-planning them all would be N reconciles for one
                # broken connection.
                if planning and owner is not None and not _same_version(before, obj):
                    owners.add(owner)
            return self._replan(member, owners)

    def _unlisted(self, member: _Member, kind: str, seen: set[Key]) -> set[Key]:
        """A relist of ``member``'s ``kind`` is complete: what it held and did not list (gone while the watch
        was away) is forgotten; returns their owners, to re-plan."""
        owners: set[Key] = set()
        with self._lock:
            if not self._current(member):
                return owners
            held: Mapping[tuple[str, str], Any] = member.services if kind == "services" else member.slices
            for key in [key for key in held if key not in seen]:
                raw = _kept_manifest(held[key])
                if kind == "services":
                    member.services.pop(key, None)
                else:
                    member.forget_slice(key)
                if member.listed_once and raw is not None and (owner := _owner(raw, kind)) is not None:
                    owners.add(owner)  # (not listed once yet: see `_relisted`)
            return self._replan(member, owners)

    def _replan(self, member: _Member, owners: set[Key]) -> set[Key]:
        """Under the lock: of ``owners``, those a relist of ``member`` re-plans now. While the member's view
        is not current (the other kind's watch has not listed again either), they wait for it: a plan now
        would only wait for the member too."""
        if member.info.synced:
            return owners
        self._waiting |= owners
        return set()

    def _synced_handler(self, member: _Member, kind: str) -> Callable[[], None]:
        def on_synced() -> None:
            with self._lock:
                if not self._current(member):
                    return
                member.synced.add(kind)
                member.retried.discard(kind)
                if member.info.synced or member.synced != {"services", "endpointslices"}:
                    return
                member.info = replace(member.info, synced=True)
                if not member.listed_once:
                    # Now "no Service seen" means "absent": every FederatedService can be planned for it.
                    member.listed_once = self._replan_all = True
                if self._view_pending():
                    # A plan now would wait for that member too (at a start, the members' lists end within
                    # moments of one another): re-planned once its view is current as well.
                    return
                replan_all, self._replan_all = self._replan_all, False
                waiting, self._waiting = self._waiting, set()
            if replan_all:
                self._enqueue_all()
                return
            # Current again after a broken watch: what was planned meanwhile, and what its relist changed.
            for key in waiting:
                self._enqueue(key)

        return on_synced

    def _error_handler(self, member: _Member, kind: str) -> Callable[[str], None]:
        def on_error(message: str) -> None:
            # The watch failed (the member is down, cuts us off, refuses us): what its index holds may be
            # stale until it has listed again. Until then the member's view is not current, and a plan waits
            # for it as for a member not listed yet (DNS holds, the status stays, no write is planned there)
            # rather than reading a Service missing from a stale index as absent. Nothing is re-planned now:
            # a member whose probe fails is re-planned by its readiness, and one whose watch lists again
            # within a moment (a connection cut) costs no reconcile.
            del message  # the watch logged it
            with self._lock:
                if not self._current(member):
                    return
                member.synced.discard(kind)
                if member.info.synced:
                    member.info = replace(member.info, synced=False)

        return on_error
