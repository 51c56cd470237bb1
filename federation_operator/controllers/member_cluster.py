"""The life of one MemberCluster: connect with its Secret's credentials, probe, publish readiness.

One supervisor runs per MemberCluster (a kopf daemon calls `run`). It registers the member in the registry,
which starts the member's two shared watches, probes `/readyz` every `probe.periodSeconds`, turns the results
into the `Ready` condition with the spec's failure/success thresholds, and writes the MemberCluster status
when something changed (and the probe time at most once a minute, so a steady cluster costs one write a
minute, not one per probe). A probe the member answers also retries its failed watches at once; a watch
still failing at the next such probe counts as a failed probe (the member answers, but its view cannot be
kept current). It re-reads its spec whenever the object changes, and its Secret whenever the
member refuses the credentials (401/403): a rotated token (`fedctl join` again, or a kubeconfig replaced by
hand) is picked up at the next probe, without polling the Secret while all is well.

Before connecting, it reads which real cluster it reached (the member's `kube-system` Namespace UID, once per
connection; `status.clusterID`) and claims it in the registry: when an older MemberCluster holds that
cluster, this one is not connected at all (no watches, no writes, no shards) and says so (`Ready=False`,
`DuplicateCluster`, naming the holder, and a Warning event); it re-checks every probe period and takes over
once the holder is gone. Each successful probe also compares the spec's region and zones with the nodes'
topology labels: a contradiction is the `TopologyConsistent=False` condition and a Warning event.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from federation_operator.controllers.member_cache import MemberRegistry
from federation_operator.domain.errors import FederationError, InvalidSpecError, PermanentError
from federation_operator.domain.members import ClusterClaim, ClusterInfo, ProbeResult
from federation_operator.domain.specs import MemberClusterSpec, parse_member_cluster_spec
from federation_operator.domain.status import MemberClusterStatus
from federation_operator.kube import host
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.cluster_identity import fetch_cluster_id
from federation_operator.kube.credentials import build_api_client
from federation_operator.kube.probe import ProbeTracker, fetch_probe
from federation_operator.observability.events import EventReporter, EventSink
from federation_operator.observability.metrics import Metrics
from federation_operator.planning.clusters import (
    REASON_DUPLICATE_CLUSTER,
    TopologyCheck,
    plan_topology_check,
    render_duplicate_message,
    render_member_cluster_status,
)

__all__ = ["MemberSupervisor"]

log = logging.getLogger(__name__)

PROBE_TIME_REFRESH = datetime.timedelta(seconds=60)
CREDENTIALS_RETRY_SECONDS = 15.0
# An invalid spec cannot fix itself: the object's next change wakes the supervisor.
INVALID_SPEC_RECHECK_SECONDS = 3600.0

# wait(seconds) -> True when the supervisor must stop; returns early when the object changed.
Sleeper = Callable[[float], Awaitable[bool]]


def _fingerprint(data: Mapping[str, bytes]) -> int:
    """Tells one Secret's content from another's without keeping the credentials themselves around."""
    return hash(tuple(sorted((k, hashlib.sha256(v).digest()) for k, v in data.items())))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _created(body: Mapping[str, Any]) -> datetime.datetime:
    """The object's creationTimestamp (which decides, between duplicates, who holds a cluster)."""
    raw = (body.get("metadata") or {}).get("creationTimestamp")
    if isinstance(raw, datetime.datetime):
        return raw
    try:
        return datetime.datetime.fromisoformat(str(raw))
    except ValueError:
        # The API server always sets it; an object without one is treated as the newest.
        return _now()


class MemberSupervisor:
    """Runs one member: `await run(sleep)` until told to stop; `body` is kopf's live view of the object."""

    def __init__(
        self,
        *,
        name: str,
        body: Mapping[str, Any],
        registry: MemberRegistry,
        host_api: ClusterClient,
        emit: EventSink,
        metrics: Metrics | None = None,
    ) -> None:
        self.name = name
        self.body = body
        self.registry = registry
        self.host_api = host_api
        self.metrics = metrics
        self._written: dict[str, Any] | None = None
        self._written_at: datetime.datetime | None = None
        self.events = EventReporter(emit, log)
        self._credentials: int | None = None  # a fingerprint of the Secret's data in use
        self._credentials_checked = 0.0
        self._zones: tuple[str, ...] = ()  # zones the last successful probe found on the member's nodes
        # The real cluster this MemberCluster reaches (its kube-system Namespace UID), None until known.
        self._cluster_id: str | None = None
        self._identified_generation: int | None = None  # the spec generation _cluster_id was read for
        self._topology: TopologyCheck | None = None  # the last comparison of the spec with the nodes

    def _report(self, kind: str, reason: str, message: str) -> None:
        # One topic: a member's events all say how it stands (spec, credentials, readiness).
        self.events.report(self.body, "member", kind, reason, message)

    def _set_ready_metric(self, ready: bool) -> None:
        if self.metrics is not None:
            self.metrics.set_cluster_ready(self.name, ready)

    def _previous(self) -> MemberClusterStatus | None:
        try:
            return MemberClusterStatus.model_validate(self.body.get("status") or {})
        except ValidationError:
            return None

    async def _write(
        self,
        *,
        ready: bool | None,
        reason: str,
        message: str,
        region: str,
        zones: tuple[str, ...],
        version: str | None = None,
        probe_time: datetime.datetime | None = None,
    ) -> None:
        now = _now()
        generation = int(self.body.get("metadata", {}).get("generation") or 0)
        previous = self._previous()
        status = render_member_cluster_status(
            generation=generation,
            ready=ready,
            reason=reason,
            message=message,
            kubernetes_version=version,
            region=region,
            zones=zones,
            probe_time=probe_time,
            previous=previous,
            now=now,
            cluster_id=self._cluster_id,
            topology=self._topology,
        )
        rendered = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        significant = {k: v for k, v in rendered.items() if k != "lastProbeTime"}
        last = {k: v for k, v in (self._written or {}).items() if k != "lastProbeTime"}
        stale = self._written_at is None or now - self._written_at >= PROBE_TIME_REFRESH
        if significant == last and not stale:
            return
        try:
            await asyncio.to_thread(host.patch_member_cluster_status, self.host_api, self.name, rendered)
        except FederationError as exc:
            # The status is retried with the next probe; the member itself keeps being served meanwhile.
            log.warning("member %s: %s", self.name, exc)
            return
        self._written, self._written_at = rendered, now

    async def run(self, sleep: Sleeper, on_exit: Callable[[], None] | None = None) -> None:
        """Serve the member until `sleep` says stop; `on_exit` runs first thing when it ends, however it
        ends, before the member is disconnected."""
        self._claim_stored()
        try:
            await self._run(sleep)
        finally:
            if on_exit is not None:
                on_exit()
            self.registry.disconnect(self.name)
            self.registry.release(self.name)
            if self.metrics is not None:
                self.metrics.forget_cluster(self.name)

    async def _connect(self, spec: MemberClusterSpec) -> ClusterClient:
        data = await self._fetch_credentials(spec)
        api = build_api_client(spec, data)
        self._credentials = _fingerprint(data)
        return api

    async def _fetch_credentials(self, spec: MemberClusterSpec) -> dict[str, bytes]:
        ref = spec.secret_ref
        self._credentials_checked = time.monotonic()
        return await asyncio.to_thread(host.fetch_secret_data, self.host_api, ref.namespace, ref.name)

    async def _credentials_rotated(self, spec: MemberClusterSpec) -> bool:
        """After the member refused us: has the Secret changed since we connected? (At most one read per
        CREDENTIALS_RETRY_SECONDS, so a member that keeps refusing costs the host little.)"""
        if time.monotonic() - self._credentials_checked < CREDENTIALS_RETRY_SECONDS:
            return False
        try:
            data = await self._fetch_credentials(spec)
        except FederationError as exc:
            log.warning("member %s: re-reading its credentials: %s", self.name, exc)
            return False
        return _fingerprint(data) != self._credentials

    def _claim_stored(self) -> None:
        """Claim, before anything is awaited, the cluster the stored status names (if it speaks of the
        current spec): when the operator restarts, every supervisor starts at once, and claiming before the
        first of them connects keeps a younger duplicate from serving, even briefly, until the older one
        has read its cluster's ID again."""
        previous = self._previous()
        generation = int(self.body.get("metadata", {}).get("generation") or 0)
        if previous is None or previous.cluster_id is None or previous.observed_generation != generation:
            return
        self._cluster_id, self._identified_generation = previous.cluster_id, generation
        self.registry.claim(ClusterClaim(self.name, previous.cluster_id, _created(self.body)))

    async def _run(self, sleep: Sleeper) -> None:
        """Connect (again whenever the spec changes or the credentials rotate), then probe every period."""
        session: _Session | None = None
        while True:
            generation = int(self.body.get("metadata", {}).get("generation") or 0)
            if session is None or session.generation != generation:
                self.registry.disconnect(self.name)
                session, pause = await self._connect_session(generation)
                if session is None:
                    if await sleep(pause):
                        return
                    continue
            if session.refused_by is None:
                labels = dict(self.body.get("metadata", {}).get("labels") or {})
                self.registry.update(self.name, labels=labels)
                if not await self._probe(session):
                    session = None  # the credentials Secret changed: reconnect with it
                    continue
            elif (holder := self._claim()) is None:
                session = None  # the holder is gone (or re-pointed): connect, reading the cluster's ID afresh
                continue
            elif holder != session.refused_by:  # the holder went, and an older duplicate than this took over
                session.refused_by = holder
                await self._refuse(session)
            if await sleep(float(session.spec.probe.period_seconds)):
                return

    async def _connect_session(self, generation: int) -> tuple[_Session | None, float]:
        """Parse the spec, connect with its Secret's credentials and claim the cluster reached; on failure,
        say why on the status and return how long to wait before trying again. A session refused as a
        duplicate is returned unconnected (``refused_by`` set)."""
        raw_spec = self.body.get("spec") or {}
        try:
            spec = parse_member_cluster_spec(raw_spec)
        except InvalidSpecError as err:
            await self._fail("InvalidSpec", str(err), region=str(raw_spec.get("region") or ""), zones=())
            return None, INVALID_SPEC_RECHECK_SECONDS
        try:
            api = await self._connect(spec)
        except FederationError as err:
            reason = "CredentialsInvalid" if isinstance(err, PermanentError) else "CredentialsUnavailable"
            await self._fail(reason, str(err), region=spec.region, zones=spec.zones)
            return None, CREDENTIALS_RETRY_SECONDS
        identified = await self._identify(api, spec, generation)
        self._topology = None  # compared with the nodes again at the next probe (the status keeps the last)
        # Start from the stored condition, so an operator restart does not flap a healthy member.
        previous = self._previous()
        stored = next((c for c in (previous.conditions if previous else ()) if c.type == "Ready"), None)
        tracker = ProbeTracker(
            spec.probe,
            ready=stored is not None and stored.status == "True",
            last_transition=stored.last_transition_time if stored else None,
        )
        session = _Session(generation, spec, api, tracker, identified=identified)
        session.refused_by = self._claim()
        if session.refused_by is not None:
            api.close()
            await self._refuse(session)
            return session, 0.0
        labels = dict(self.body.get("metadata", {}).get("labels") or {})
        connected = self.registry.connect(
            ClusterInfo(
                name=self.name,
                region=spec.region,
                zones=spec.zones,
                labels=labels,
                ready=tracker.ready,
                not_ready_since=None if tracker.ready else time.monotonic(),
            ),
            api,
        )
        if not connected:  # an older MemberCluster of this cluster claimed it since we checked
            api.close()
            session.refused_by = self._holder_name()
            await self._refuse(session)
            return session, 0.0
        await self._write(
            ready=None,
            reason="Connecting",
            message="first probe pending",
            region=spec.region,
            zones=spec.zones,
        )
        return session, 0.0

    async def _identify(self, api: ClusterClient, spec: MemberClusterSpec, generation: int) -> bool:
        """Read which cluster ``api`` reaches into ``self._cluster_id``; True when read. When the member
        cannot say (down, or a role without ``get`` on Namespaces), the cluster ID is the one last read or
        stored for this generation of the spec, else unknown, and is read again after the next successful
        probe."""
        try:
            self._cluster_id = await asyncio.to_thread(
                fetch_cluster_id, api, float(spec.probe.timeout_seconds)
            )
        except FederationError as exc:
            if generation != self._identified_generation:
                self._cluster_id = None
                self.registry.release(self.name)
            if isinstance(exc, PermanentError):
                # A topic of its own: retried after every good probe, said once, not between readiness news.
                self.events.report(
                    self.body,
                    "identity",
                    "Warning",
                    "ClusterIDUnknown",
                    f"cannot tell which cluster this is: {exc}",
                )
            else:
                log.info("member %s: cluster ID not read yet: %s", self.name, exc)
            return False
        self._identified_generation = generation
        return True

    def _claim(self) -> str | None:
        """Claim the cluster this MemberCluster reaches (again: claiming is idempotent); the holder's name
        when an older MemberCluster has it, None when this one may serve it (or the cluster is not known:
        served for now, claimed once the member tells us)."""
        if self._cluster_id is None:
            return None
        holder = self.registry.claim(ClusterClaim(self.name, self._cluster_id, _created(self.body)))
        return holder.name if holder.name != self.name else None

    def _holder_name(self) -> str:
        holder = self.registry.holder(self.name)
        return holder.name if holder is not None else "another MemberCluster"

    async def _refuse(self, session: _Session) -> None:
        """Not connected: an older MemberCluster holds the cluster this one reaches."""
        assert session.refused_by is not None
        assert self._cluster_id is not None
        message = render_duplicate_message(self._cluster_id, session.refused_by)
        self._set_ready_metric(False)
        self._report("Warning", REASON_DUPLICATE_CLUSTER, message)
        await self._write(
            ready=False,
            reason=REASON_DUPLICATE_CLUSTER,
            message=message,
            region=session.spec.region,
            zones=session.spec.zones,
        )

    async def _fail(self, reason: str, message: str, *, region: str, zones: tuple[str, ...]) -> None:
        self._set_ready_metric(False)
        self._report("Warning", reason, message)
        await self._write(ready=False, reason=reason, message=message, region=region, zones=zones)

    def _check_topology(self, spec: MemberClusterSpec, result: ProbeResult) -> None:
        """Compare the spec with what the nodes say; a contradiction (or its end) is an event."""
        check = plan_topology_check(spec.region, spec.zones, result.regions, result.zones)
        before, self._topology = self._topology, check
        if check == before:
            return
        if not check.consistent:
            self.events.report(self.body, "topology", "Warning", check.reason, check.message)
        elif before is not None and not before.consistent:
            self.events.report(self.body, "topology", "Normal", "TopologyConsistent", check.message)

    async def _answered(self, session: _Session, result: ProbeResult) -> ProbeResult:
        """A probe the member answered: its failed watches retry now, its identity is read if it was not
        yet; returns the result as readiness counts it, a failure when a watch of the member has not listed
        again since the probe before, answered too, retried it (the member answers, but cannot be watched)."""
        if not session.identified:
            session.identified = await self._identify(session.api, session.spec, session.generation)
        stuck = self.registry.retry_watches(self.name)
        # (After a probe that went unanswered the member was down: its watches were told nothing since.)
        return result if stuck is None or not session.answered else replace(result, ok=False, error=stuck)

    async def _probe(self, session: _Session) -> bool:
        """One probe: readiness into the registry, events and status. False when the member refused our
        credentials and the Secret has changed since we connected. A probe that finds an older
        MemberCluster holding this cluster leaves the session refused and disconnected."""
        spec = session.spec
        result: ProbeResult = await asyncio.to_thread(
            fetch_probe, session.api, float(spec.probe.timeout_seconds)
        )
        if result.credentials_refused and await self._credentials_rotated(spec):
            log.info("member %s: its credentials Secret changed; reconnecting", self.name)
            self._report("Normal", "CredentialsRotated", "credentials Secret changed; reconnecting")
            return False
        counted = await self._answered(session, result) if result.ok else result
        session.answered = result.ok
        session.refused_by = self._claim()
        if session.refused_by is not None:
            # An older MemberCluster of the same cluster claimed it (the registry disconnected us then), or
            # the cluster, identified only now, turned out to be one an older MemberCluster holds.
            self.registry.disconnect(self.name)
            await self._refuse(session)
            return True
        probe_time = _now()
        state = session.tracker.observe(counted, probe_time)
        if self.metrics is not None:
            self.metrics.observe_probe(self.name, ok=counted.ok, ready=state.ready)
        if result.ok:
            self._zones = tuple(sorted(result.zones)) or self._zones
            self._check_topology(spec, result)
        zones = self._zones or spec.zones
        if state.ready:
            self.registry.update(self.name, ready=True, zones=zones, not_ready_since=None)
        elif state.changed:
            self.registry.update(self.name, ready=False, zones=zones, not_ready_since=time.monotonic())
        else:
            self.registry.update(self.name, ready=False, zones=zones)
        if state.ready:
            reason, message = "ProbeSucceeded", f"/readyz answered within {spec.probe.timeout_seconds}s"
        else:
            reason, message = "ProbeFailed", state.last_error or "probe failed"
        if state.changed:
            self._report(
                "Normal" if state.ready else "Warning", "Ready" if state.ready else "NotReady", message
            )
        await self._write(
            ready=state.ready,
            reason=reason,
            message=message,
            region=spec.region,
            zones=zones,
            version=result.kubernetes_version or (self._written or {}).get("kubernetesVersion"),
            probe_time=probe_time,
        )
        return True


@dataclass
class _Session:
    """One connection to the member, for one generation of the MemberCluster's spec."""

    generation: int
    spec: MemberClusterSpec
    api: ClusterClient
    tracker: ProbeTracker
    # Whether the cluster's ID was read on this connection (else it is read after the next good probe).
    identified: bool = False
    # Whether the member answered the latest probe (a watch is stuck only if failing across two in a row).
    answered: bool = False
    # The MemberCluster holding the cluster this one reaches: set while this one is refused, unconnected.
    refused_by: str | None = None
