"""The FederatedService controller: one reconcile is observe → plan → apply → status.

1. **observe** (`_observe`): the object from the store, the members from the member cache (fed by the
   shared watches: no API call), and the publisher's last verdict for the object;
2. **plan** (`plan_member_writes`, pure): the Service each member should hold and the write it needs;
3. **apply** (`_apply_writes`): those writes, to every member at once;
4. **plan** again (`plan_reconcile`, pure) from what the writes left behind: shard health, the DNS record
   sets, the status and the events;
5. **status** (`_settle`): records to the publisher, events posted, the status written once.

A FederatedService that is in sync costs no API call at all; writes happen only for real differences. The
shutdown gate stops everything that writes once the operator begins to stop.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from federation_operator.controllers.discovery import DiscoveryController
from federation_operator.controllers.member_cache import MemberRegistry
from federation_operator.controllers.member_calls import MemberCalls
from federation_operator.controllers.shutdown import ShutdownGate
from federation_operator.dns.publisher import Publisher
from federation_operator.dns.publishers import PublisherGroup
from federation_operator.domain.errors import InvalidSpecError, PermanentError, TransientError
from federation_operator.domain.keys import FINALIZER, Key
from federation_operator.domain.members import ClusterInfo
from federation_operator.domain.records import RecordSet
from federation_operator.domain.specs import FederatedServiceSpec, parse_federated_service_spec
from federation_operator.domain.status import FederatedServiceStatus
from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.host import federated_service_status_exchange, finalizers_exchange
from federation_operator.kube.member_services import (
    ServiceExistsError,
    apply_service_exchange,
    create_service_exchange,
    delete_service_exchange,
    ensure_namespace_exchange,
    fetch_service_exchange,
    observe_service,
)
from federation_operator.kube.transport import Send
from federation_operator.observability.events import EventReporter, EventSink
from federation_operator.observability.metrics import Metrics, ShardHealth
from federation_operator.planning.discovery import plan_discovery
from federation_operator.planning.reconcile import (
    CREATED,
    UPDATED,
    WITHDRAWN,
    Federation,
    MemberWrite,
    Observation,
    ReconcileMemo,
    ReconcilePlan,
    WriteResult,
    plan_member_write,
    plan_member_writes,
    plan_reconcile,
)
from federation_operator.planning.services import is_owned_by

__all__ = ["FederatedServiceController", "FederatedServiceStore"]

log = logging.getLogger(__name__)

# How long a status write may wait for the DNS provider's answer to records just submitted, and for how
# many submissions in a row (records that keep changing before the provider answers hold it back no longer).
STATUS_DEFER_SECONDS = 1.0
STATUS_DEFER_SUBMISSIONS = 4
# When a finalizer write found the object changed: again this soon, with the version the watch brought.
FINALIZER_RETRY_SECONDS = 0.5


class FederatedServiceStore:
    """The latest body of every FederatedService, as the host watch delivered it."""

    def __init__(self) -> None:
        self._bodies: dict[Key, dict[str, Any]] = {}

    def put(
        self, body: Mapping[str, Any], ours: Callable[[Key], Mapping[str, Any] | None] = lambda _key: None
    ) -> tuple[Key, bool]:
        """Keep the body; returns its key and whether a reconcile has anything new to read in it: a
        FederatedService first seen, a change of what a reconcile reads apart from the status, or a status
        other than ``ours(key)``, the one this operator last wrote (an event that only echoes our own write
        needs no reconcile). A status equal to ours is kept as that same object: held once, not twice."""
        meta = body["metadata"]
        key = (str(meta["namespace"]), str(meta["name"]))
        previous = self._bodies.get(key)
        # The watch's raw object, shared, never copied deep: nothing of ours changes a stored body.
        stored = {**body, "metadata": {k: v for k, v in meta.items() if k not in _NOT_READ}}
        written = ours(key)
        echo = body.get("status") == written  # None twice: no status yet, none written yet
        if echo and written is not None:
            stored["status"] = written
        self._bodies[key] = stored
        return key, previous is None or _essence(previous) != _essence(stored) or not echo

    def keep_only(self, listed: set[Key]) -> list[Key]:
        """A complete list put (:meth:`put`, page by page) and its keys ``listed``: forget every other object
        (deleted while the watch was away); returns their keys."""
        gone = [key for key in self._bodies if key not in listed]
        for key in gone:
            del self._bodies[key]
        return gone

    def remove(self, key: Key) -> None:
        self._bodies.pop(key, None)

    def get(self, key: Key) -> dict[str, Any] | None:
        return self._bodies.get(key)

    def known(self) -> list[Key]:
        return list(self._bodies)

    def __len__(self) -> int:
        return len(self._bodies)


# Metadata no reconcile reads: server-side apply bookkeeping (often the larger part of a small object).
_NOT_READ = frozenset({"managedFields"})
# Written by the API server on every write, or by kopf: a change of only these is our own write's echo.
_BOOKKEEPING = frozenset({"resourceVersion", "finalizers", "annotations"})


def _essence(body: Mapping[str, Any]) -> tuple[Any, Any]:
    """What a reconcile reads of a FederatedService, less its status: the spec and the metadata that are
    not bookkeeping (generation, uid, labels, deletionTimestamp, ...)."""
    meta = body.get("metadata") or {}
    return body.get("spec"), {k: v for k, v in meta.items() if k not in _BOOKKEEPING}


class _ParsedSpec:
    """A FederatedService's spec as parsed, and the version it was parsed from."""

    __slots__ = ("generation", "raw", "spec", "uid")

    def __init__(
        self,
        uid: str,
        generation: int,
        raw: Mapping[str, Any],
        spec: FederatedServiceSpec | InvalidSpecError,
    ) -> None:
        self.uid = uid
        self.generation = generation
        self.raw = raw
        self.spec = spec


def _previous_status(body: Mapping[str, Any]) -> FederatedServiceStatus | None:
    try:
        return FederatedServiceStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return None  # written by an older version or by hand: rebuilt from scratch


class StatusDeferral:
    """When a status write waits for the DNS provider's answer to the records just submitted: for
    STATUS_DEFER_SECONDS from each submission of other records than the last one waited for (the answer to
    those is what the write would say), for at most STATUS_DEFER_SUBMISSIONS submissions in a row; the
    write itself ends the wait (:meth:`end`).

    Counted from each submission, not from the first: an object's first reconcile submits no records (its
    member Services have no address yet) and its shards turn healthy seconds later, when the first
    window has long passed; measured from the first, that status went out as `Pending`, a moment before
    the provider's answer, which a second write then reported (two writes for each new object instead of
    one)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # key -> (when the wait for these records began, the records, submissions waited for in a row)
        self._waits: dict[Key, tuple[float, tuple[RecordSet, ...], int]] = {}

    def wait(self, key: Key, records: tuple[RecordSet, ...]) -> bool:
        """Whether the status write of ``key``, whose ``records`` were just submitted, waits."""
        now = self._clock()
        held = self._waits.get(key)
        if held is None or (held[1] is not records and held[1] != records):
            submissions = 1 if held is None else held[2] + 1
            if submissions > STATUS_DEFER_SUBMISSIONS:
                return False
            held = self._waits[key] = (now, records, submissions)
        return now - held[0] < STATUS_DEFER_SECONDS

    def end(self, key: Key) -> None:
        """The status was written (or the object is gone)."""
        self._waits.pop(key, None)


class FederatedServiceController:
    """Reconciles FederatedServices against the members in the registry."""

    def __init__(
        self,
        *,
        federation: Federation,
        registry: MemberRegistry,
        store: FederatedServiceStore,
        host_api: ClusterClient,
        emit: EventSink,
        publisher: PublisherGroup | Publisher | None = None,
        metrics: Metrics | None = None,
        expected_members: Callable[[], Collection[str]] = frozenset,
        gate: ShutdownGate | None = None,
        calls: MemberCalls | None = None,
        discovery: DiscoveryController | None = None,
        send: Send | None = None,
    ) -> None:
        self.federation = federation
        self.registry = registry
        self.store = store
        self.host_api = host_api
        # Requests to the host and the members, from the event loop (AsyncTransport.run).
        self.send = send or AsyncTransport().run
        # Every zone and mirror behind one face; a lone Publisher (tests, benchmarks) is a group of one.
        self.publisher = PublisherGroup.single(publisher) if isinstance(publisher, Publisher) else publisher
        self.metrics = metrics
        # Every MemberCluster that exists, connected or not; and when we started: DNS holds while a member
        # that exists has not connected yet (for at most the grace period), so a restart withdraws nothing.
        self.expected_members = expected_members
        self.started_at = time.monotonic()
        # Once closed, a reconcile writes nothing: not to members, not to DNS, not to the status.
        self.gate = gate or ShutdownGate()
        # Every member call goes through here: bounded in time, refused at once while its member is silent.
        self.calls = calls or MemberCalls(timeout=10.0, limit=8, api_of=registry.api, send=self.send)
        self.events = EventReporter(emit, log)
        # Members' in-cluster discovery answers (#11); None: not kept by this operator.
        self.discovery = discovery
        self._written: dict[Key, dict[str, Any]] = {}
        # Per FederatedService: its parsed spec, with the uid, generation and raw spec it was parsed from,
        # and what its last reconcile planned (ReconcileMemo); dropped with the object (forget).
        self._specs: dict[Key, _ParsedSpec] = {}
        self._memos: dict[Key, ReconcileMemo] = {}
        self._namespaces: set[tuple[str, str]] = set()  # (cluster, namespace) seen to exist
        self._status_deferral = StatusDeferral()
        self.member_writes = 0  # creates, applies and deletes sent to members (for tests and benchmarks)

    def forget(self, key: Key) -> None:
        self._written.pop(key, None)
        self._specs.pop(key, None)
        self._memos.pop(key, None)
        self._status_deferral.end(key)
        if self.publisher is not None:
            self.publisher.forget(key)
        if self.metrics is not None:
            self.metrics.forget_shards(key)
        self.events.forget(key)

    def written_status(self, key: Key) -> Mapping[str, Any] | None:
        """The status this operator last wrote (or found already in place) for the object."""
        return self._written.get(key)

    # --- the reconcile ----------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> float | None:
        """Bring members, DNS and status in line with the FederatedService; returns a retry delay or None."""
        body = self.store.get(key)
        if body is None or self.gate.is_closed():
            return None  # gone, or we are stopping
        meta = body["metadata"]
        if meta.get("deletionTimestamp"):
            return await self._finalize(key, body)
        if FINALIZER not in (meta.get("finalizers") or ()):
            # Before anything is written for it: its deletion must find what to remove.
            held = await self._hold(key, body)
            if held is None:
                return FINALIZER_RETRY_SECONDS  # changed meanwhile: again, with the version the watch brings
            body = held
        observation = self._observe(key, body)
        federation = self._current_federation()
        memo = self._memos.get(key)
        if memo is None:
            memo = self._memos[key] = ReconcileMemo()
        members = plan_member_writes(observation, federation, memo)
        results = await self._apply_writes(observation, members.writes)
        if self.gate.is_closed():
            # Stopping began while the writes were out: members may already be disconnecting, so a plan
            # made now would describe our teardown. Nothing below awaits until the status write, so this
            # one check covers the DNS submission too.
            return None
        plan = plan_reconcile(observation, federation, members, results, memo)
        if self.discovery is not None and plan.health is not None:
            plan = await self._discover(body, observation, plan)
        return await self._settle(key, body, plan)

    async def _discover(
        self, body: Mapping[str, Any], observation: Observation, plan: ReconcilePlan
    ) -> ReconcilePlan:
        """Each member's in-cluster answer, from the shard health just planned (see controllers/discovery)."""
        assert self.discovery is not None
        assert plan.health is not None
        if plan.health.hold or plan.health.frozen:
            # As for DNS: a member not listed yet (a restart) would look unhealthy, and a partition is ours;
            # every member keeps its answer, and the status says what it was.
            previous = observation.previous.discovery if observation.previous is not None else None
            return replace(plan, status=plan.status.model_copy(update={"discovery": previous}))
        wanted = plan_discovery(
            observation.key,
            self.federation.name,
            self.federation.domain,
            observation.clusters,
            plan.health.shards,
        )
        answers, retry = await self.discovery.sync(observation.key, wanted)
        if wanted.problem is not None:
            self.events.report(body, "discovery", "Warning", "DiscoveryUnavailable", wanted.problem)
        else:
            self.events.clear(observation.key, "discovery")
        if retry is not None:
            retry = retry if plan.retry_after is None else min(retry, plan.retry_after)
        else:
            retry = plan.retry_after
        status = plan.status.model_copy(update={"discovery": answers or None})
        return replace(plan, status=status, retry_after=retry)

    def _current_federation(self) -> Federation:
        """The federation with the DNS provider's limits as they are now: Cloud DNS learns its project's
        quotas with its first zone read, and a changed credentials Secret brings a new provider."""
        if self.publisher is not None:
            limits = self.publisher.limits
            if limits != self.federation.limits:
                self.federation = replace(self.federation, limits=limits)
        return self.federation

    def _observe(self, key: Key, body: Mapping[str, Any]) -> Observation:
        namespace, name = key
        meta = body["metadata"]
        clusters = tuple(self._reachability(c) for c in self.registry.clusters())
        if any(c.ready and not c.synced for c in clusters):
            # A member whose view is not current (not listed yet, or a watch of it broke): this plan waits for
            # it, and is made again the moment that view is current (not at the hold's next retry only).
            self.registry.replan_when_synced(key)
        generation, uid = int(meta.get("generation") or 0), str(meta["uid"])
        return Observation(
            key=key,
            generation=generation,
            uid=uid,
            spec=self._spec(key, uid, generation, body.get("spec") or {}),
            previous=_previous_status(body),
            clusters=clusters,
            services={c.name: self.registry.service(c.name, namespace, name) for c in clusters},
            endpoints={c.name: self.registry.endpoints(c.name, namespace, name) for c in clusters},
            published=self.publisher.result(key) if self.publisher is not None else None,
            provider_health=self.publisher.provider_health(key) if self.publisher is not None else {},
            expected=frozenset(self.expected_members()),
            started_at=self.started_at,
            partition=self.registry.partition(),
            monotonic=time.monotonic(),
            now=datetime.datetime.now(datetime.UTC),
        )

    def _spec(
        self, key: Key, uid: str, generation: int, raw: Mapping[str, Any]
    ) -> FederatedServiceSpec | InvalidSpecError:
        """The object's spec, parsed once per version: again only when its uid, generation (the API server
        moves it with every spec change) or the spec itself (compared as JSON) differ from the last one's."""
        held = self._specs.get(key)
        same = held is not None and held.uid == uid and held.generation == generation
        if held is not None and same and (held.raw is raw or held.raw == raw):
            held.raw = raw  # the store's copy now: the one before it is not kept alive by this
            return held.spec
        spec: FederatedServiceSpec | InvalidSpecError
        try:
            spec = parse_federated_service_spec(raw)
        except InvalidSpecError as err:
            spec = err
        self._specs[key] = _ParsedSpec(uid, generation, raw, spec)
        return spec

    def _reachability(self, info: ClusterInfo) -> ClusterInfo:
        """The member as planning should see it: one whose calls went unanswered (silent) is unreachable
        from then on, whatever its probe says yet — no write is planned for it (none waits on it) and its
        shards keep their grace period, counted from the first unanswered call."""
        self.calls.note_readiness(info.name, info.ready)
        since = self.calls.silent_since(info.name)
        if since is None:
            return info
        self.calls.recheck(info.name)
        if info.not_ready_since is not None:
            since = min(since, info.not_ready_since)
        return replace(info, ready=False, not_ready_since=since)

    async def _settle(self, key: Key, body: Mapping[str, Any], plan: ReconcilePlan) -> float | None:
        """Hand the records to the publisher, post the events, and write the status (once the publisher
        has answered for records just submitted, within STATUS_DEFER_SECONDS)."""
        publishing = False
        if self.publisher is not None and plan.health is not None:
            self.publisher.set_frozen(plan.health.frozen)
            if plan.records is not None:
                # Oldest first: of several FederatedServices wanting one name, the one created first gets it.
                created = str(body["metadata"].get("creationTimestamp") or "")
                self.publisher.submit(key, plan.records, created=created)
                result = self.publisher.result(key)
                publishing = result is None or result.desired != plan.records
        for topic in plan.cleared:
            self.events.clear(key, topic)
        for event in plan.events:
            if event.topic is None:
                self.events.post(body, event.type, event.reason, event.message)
            else:
                self.events.report(body, event.topic, event.type, event.reason, event.message)
        retry = plan.retry_after
        if plan.health is not None and plan.health.hold and body.get("status"):
            # The view is not complete yet (a member not connected, listed or probed yet: this operator has
            # just started, or a member lists again): the status keeps what it says rather than a partial
            # view that the next reconcile, with the view complete, takes back (two status writes, and an
            # event, for every object at each restart or failover of the operator). The member's sync
            # reconciles it again. A new object's first status is written all the same.
            return retry
        if publishing and plan.records is not None and self._status_deferral.wait(key, plan.records):
            # New records are on their way to the provider, and its answer (milliseconds away, as a rule)
            # re-queues this FederatedService: one status write then says both what changed and what was
            # published, instead of two. (Its answer re-queues it as routine work, which waits behind
            # urgent keys: the retry below makes it urgent when the wait is over.)
            return STATUS_DEFER_SECONDS if retry is None else min(retry, STATUS_DEFER_SECONDS)
        self._status_deferral.end(key)
        await self._write_status(key, body, plan.status)
        return retry

    async def _write_status(self, key: Key, body: Mapping[str, Any], status: FederatedServiceStatus) -> None:
        if self.metrics is not None:
            self.metrics.set_shards(
                key, (ShardHealth(s.cluster, s.healthy, s.region or "") for s in status.shards)
            )
        rendered = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        if rendered == self._written.get(key):
            return  # kept as it is: the store may hold that same object as the body's status
        if rendered == body.get("status"):
            self._written[key] = body["status"]  # in place already (written before a restart): held once
            return
        namespace, name = key
        if self.gate.is_closed():
            return
        # Noted before the call: the watch event of this write often comes back before the call returns,
        # and must be known for the echo it is (see FederatedServiceStore.put).
        previous = self._written.get(key)
        self._written[key] = rendered
        try:
            await self.send(self.host_api, federated_service_status_exchange(namespace, name, rendered))
        except BaseException:
            if self._written.get(key) is rendered:  # not written: the next reconcile must write it
                if previous is None:
                    self._written.pop(key, None)
                else:
                    self._written[key] = previous
            raise

    # --- member writes -----------------------------------------------------------------------------------

    async def _apply_writes(
        self, observation: Observation, writes: tuple[MemberWrite, ...]
    ) -> dict[str, WriteResult]:
        """Make the writes, to every member at once: a reconcile waits for its slowest member, not for the
        sum of their round trips (members sit in other regions, tens to hundreds of milliseconds away).

        A refused write becomes its member's result (a permanent refusal — a 4xx from the member's API
        server — is the member rejecting our Service; the Service it holds stays as observed); a failed
        withdrawal fails the whole reconcile (it is retried with backoff), as does anything unexpected.
        """
        clusters = {c.name: c for c in observation.clusters}
        pending = {w.cluster: self._write(observation, clusters[w.cluster], w) for w in writes if _writes(w)}
        outcomes = await asyncio.gather(*pending.values(), return_exceptions=True)
        results: dict[str, WriteResult] = {}
        planned = {w.cluster: w for w in writes}
        for (cluster, _), outcome in zip(pending.items(), outcomes, strict=True):
            if isinstance(outcome, TransientError | PermanentError):
                if planned[cluster].action == "withdraw":
                    raise outcome
                transient = isinstance(outcome, TransientError)
                results[cluster] = WriteResult(
                    planned[cluster].observed,
                    False,
                    problem=str(outcome),
                    transient=transient,
                    rejected=not transient,
                )
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results[cluster] = outcome
        return results

    async def _write(self, observation: Observation, info: ClusterInfo, write: MemberWrite) -> WriteResult:
        api = self.registry.api(info.name)
        if api is None:
            return WriteResult(write.observed, False, problem="cluster no longer registered")
        namespace, name = observation.key
        if write.action == "withdraw":
            return await self._withdraw(api, info, observation, write)
        assert write.manifest is not None
        if write.action == "create":
            created = await self._create(api, info, namespace, name, write.manifest)
            if created.wrote is not None:
                return created
            # It existed after all (the member caches hold only Services with our label): plan again
            # against what is there, as for any Service found in the cache.
            write = plan_member_write(
                observation, self.federation.name, info, write.manifest, created.observed
            )
        if write.action != "update":
            return WriteResult(write.observed, write.action == "keep")
        assert write.manifest is not None
        self.gate.check(f"updating Service {namespace}/{name} in {info.name}")
        applied = observe_service(
            info.name, await self.calls.call(info.name, api, apply_service_exchange(write.manifest))
        )
        self._count_write(info.name, "apply")
        self.registry.note_written(info.name, applied)
        return WriteResult(applied, True, wrote=UPDATED)

    async def _create(
        self, api: ClusterClient, info: ClusterInfo, namespace: str, name: str, manifest: Mapping[str, Any]
    ) -> WriteResult:
        """Create the Service (and its namespace, unless known to exist: one round trip less per Service);
        a Service that appeared meanwhile is returned as found (``wrote`` None)."""
        if (info.name, namespace) not in self._namespaces:
            self.gate.check(f"creating namespace {namespace} in {info.name}")
            await self.calls.call(info.name, api, ensure_namespace_exchange(namespace))
            self._namespaces.add((info.name, namespace))
        try:
            self.gate.check(f"creating Service {namespace}/{name} in {info.name}")
            created = await self.calls.call(info.name, api, create_service_exchange(manifest))
        except TransientError:
            self._namespaces.discard((info.name, namespace))  # it may have been deleted meanwhile
            raise
        except ServiceExistsError:
            live = await self.calls.call(info.name, api, fetch_service_exchange(namespace, name))
            if live is None:
                raise TransientError("Service vanished while being created; retrying") from None
            return WriteResult(observe_service(info.name, live), False)
        self._count_write(info.name, "create")
        observed = observe_service(info.name, created)
        self.registry.note_written(info.name, observed)
        return WriteResult(observed, True, wrote=CREATED)

    async def _withdraw(
        self, api: ClusterClient, info: ClusterInfo, observation: Observation, write: MemberWrite
    ) -> WriteResult:
        """A cluster no longer selected: remove our Service there, with the UID we saw as a precondition."""
        namespace, name = observation.key
        assert write.observed is not None
        uid = write.observed.manifest.get("metadata", {}).get("uid")
        self.gate.check(f"removing Service {namespace}/{name} from {info.name}")
        await self.calls.call(info.name, api, delete_service_exchange(namespace, name, uid))
        self._count_write(info.name, "delete")
        return WriteResult(None, False, wrote=WITHDRAWN)

    def _count_write(self, cluster: str, verb: str) -> None:
        self.member_writes += 1
        if self.metrics is not None:
            self.metrics.count_member_write(cluster, verb)

    # --- deletion ----------------------------------------------------------------------------------------

    async def _hold(self, key: Key, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Add our finalizer; returns the object as written (kept in the store), or None if it changed."""
        namespace, name = key
        self.gate.check(f"adding the finalizer of {namespace}/{name}")
        written = await self._set_finalizers(
            key, body, [*(body["metadata"].get("finalizers") or ()), FINALIZER]
        )
        if written is not None:
            self.store.put(written, ours=self.written_status)
        return written

    async def _finalize(self, key: Key, body: Mapping[str, Any]) -> float | None:
        """A FederatedService being deleted: clean up, then release it (remove our finalizer)."""
        meta = body["metadata"]
        finalizers = list(meta.get("finalizers") or ())
        if FINALIZER not in finalizers:
            return None  # not held by us (any more): its deletion event ends our part
        try:
            skipped = await self.cleanup(body)
        except PermanentError as exc:
            self.events.report(body, "cleanup", "Warning", "CleanupFailed", str(exc))
            raise  # retried with backoff: a member that refuses now may not later
        for cluster in skipped:
            self.events.post(
                body,
                "Warning",
                "CleanupSkipped",
                f"{cluster} is not reachable; its Service {key[1]} was left in place",
            )
        namespace, name = key
        self.gate.check(f"releasing {namespace}/{name}")
        released = await self._set_finalizers(key, body, [f for f in finalizers if f != FINALIZER])
        return None if released is not None else FINALIZER_RETRY_SECONDS

    async def _set_finalizers(
        self, key: Key, body: Mapping[str, Any], finalizers: list[str]
    ) -> dict[str, Any] | None:
        """Write the object's finalizers, if it is still the version ``body`` is (None: it changed)."""
        version = str(body["metadata"].get("resourceVersion") or "")
        return await self.send(self.host_api, finalizers_exchange(*key, finalizers, version))

    async def cleanup(self, body: Mapping[str, Any]) -> list[str]:
        """Remove this FederatedService's Services from every member and its DNS records; returns clusters
        that were skipped.

        Only Services we own (labels naming this object) are deleted, each with a UID precondition. A member
        that is not Ready is skipped with a warning rather than blocking the deletion forever. The members'
        deletions and the DNS withdrawal go out at once: a deletion waits for the slowest of them, not for
        the sum of their round trips (a bulk delete is otherwise bound by each worker waiting on three
        members one after another, then on a DNS round).
        """
        meta = body["metadata"]
        namespace, name, uid = str(meta["namespace"]), str(meta["name"]), str(meta["uid"])
        skipped: list[str] = []
        # A member that our own shutdown disconnected is not "unreachable": keep the finalizer for the next
        # replica rather than skipping it.
        self.gate.check(f"cleaning up {namespace}/{name}")
        removals: list[Awaitable[None]] = []
        for info in self.registry.clusters():
            api = self.registry.api(info.name)
            if api is None:
                continue
            if not info.ready:
                skipped.append(info.name)
                continue
            removals.append(self._remove_member_service(info, api, namespace, name, uid))
        if self.discovery is not None:
            removals.append(self.discovery.remove((namespace, name)))
        if self.publisher is not None:
            removals.append(self._withdraw_records((namespace, name)))
        outcomes = await asyncio.gather(*removals, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome  # all of them have ended: nothing is left running behind the retry
        # Members disconnected by a shutdown that began meanwhile were passed over above, not cleaned.
        self.gate.check(f"finishing the cleanup of {namespace}/{name}")
        self.forget((namespace, name))
        return skipped

    async def _remove_member_service(
        self, info: ClusterInfo, api: ClusterClient, namespace: str, name: str, uid: str
    ) -> None:
        """Delete our Service for the FederatedService ``uid`` from one member, if it holds one."""
        observed = self.registry.service(info.name, namespace, name)
        if observed is None and not info.synced:
            live = await self.calls.call(info.name, api, fetch_service_exchange(namespace, name))
            observed = observe_service(info.name, live) if live else None
        if observed is None or not is_owned_by(observed, self.federation.name, namespace, name, uid):
            return
        self.gate.check(f"removing Service {namespace}/{name} from {info.name}")
        service_uid = observed.manifest.get("metadata", {}).get("uid")
        await self.calls.call(info.name, api, delete_service_exchange(namespace, name, service_uid))
        self._count_write(info.name, "delete")

    async def _withdraw_records(self, key: Key) -> None:
        assert self.publisher is not None
        try:
            async with asyncio.timeout(20):
                await self.publisher.withdraw(key)
        except TimeoutError as exc:
            raise TransientError("its DNS records are not removed yet") from exc


def _writes(write: MemberWrite) -> bool:
    return write.action in ("create", "update", "withdraw")
