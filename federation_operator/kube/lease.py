"""Leader election on a coordination.k8s.io/v1 Lease, so that of several replicas exactly one is active.

The rules are client-go's (the ones kube-controller-manager and controller-runtime operators follow):

- A candidate takes the Lease when it has no holder, or when the Lease's record has not changed for
  ``lease_duration`` as measured on the candidate's *own* monotonic clock since it first saw that record.
  Clocks of different machines are never compared, so clock skew cannot hand the Lease to two replicas.
- Every write carries the resourceVersion that was read: of two candidates racing for an expired Lease the
  apiserver lets exactly one win (the other gets 409 Conflict).
- The holder renews every ``retry_period``. When it has not managed to renew for ``renew_deadline``
  (shorter than ``lease_duration``), or it sees another holder, it has lost: the caller stops at once. The
  gap between the two durations is the margin in which a holder that lost stops writing before anyone else
  can take the Lease.
- A holder that stops cleanly releases the Lease (empty holder), so a standby takes over within one retry
  period instead of waiting for the Lease to expire.

:func:`plan_attempt` is the decision, pure; :class:`LeaseElector` does the reads and writes. Their failures
are mapped by the one classification (:mod:`federation_operator.kube.errors`); the loops retry them all, the
permanent ones (a Lease the operator may not write) included, since RBAC can be fixed under a running replica.
"""

from __future__ import annotations

import enum
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from federation_operator.domain.errors import FederationError
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.transport import RawResponse, Timeout, api_path, response_error, send_request

__all__ = ["Action", "LeaseElector", "LeaseRecord", "LeaseTimings", "plan_attempt", "replica_identity"]

log = logging.getLogger(__name__)


def replica_identity(pid: int) -> str:
    """A replica's name in the Lease: the host name (the pod's name in a cluster) and the process id, which
    tells apart processes sharing a host."""
    return f"{socket.gethostname()}_{pid}"


@dataclass(frozen=True)
class LeaseTimings:
    """Seconds. client-go's and controller-runtime's defaults: 15 / 10 / 2."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election timings: need 0 < retry period < renew deadline < lease duration "
                f"(got {self.retry_period} / {self.renew_deadline} / {self.lease_duration})"
            )


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says about its holder; ``resource_version`` identifies the exact revision read."""

    holder: str
    lease_duration_seconds: int
    transitions: int
    renew_time: str
    resource_version: str
    acquire_time: str = ""

    @property
    def content(self) -> tuple[str, int, int, str]:
        """The record without its resourceVersion: what "the Lease has not changed" compares."""
        return (self.holder, self.lease_duration_seconds, self.transitions, self.renew_time)


class Action(enum.Enum):
    CREATE = "create"  # no Lease yet
    TAKE = "take"  # no holder, or the holder's record expired: write ourselves in as a new holder
    RENEW = "renew"  # we hold it
    WAIT = "wait"  # someone else holds it and it has not expired


def plan_attempt(record: LeaseRecord | None, identity: str, observed_at: float, now: float) -> Action:
    """What a candidate does with the Lease it read.

    `observed_at` is when (on our monotonic clock) we first saw this exact record content; the holder's
    own ``leaseDurationSeconds`` (not ours) says how long its record stays valid.
    """
    if record is None:
        return Action.CREATE
    if record.holder == identity:
        return Action.RENEW
    if not record.holder or now >= observed_at + record.lease_duration_seconds:
        return Action.TAKE
    return Action.WAIT


class LeaseElector:
    """Acquire, hold and release one Lease for `identity`.

    `acquire` blocks until this process holds the Lease (or `stop` is set); `hold` renews it from a thread
    of its own and calls `on_lost` once if it is lost; `release` gives it up. The Kubernetes calls are
    synchronous on purpose: they run before kopf's event loop exists and, once it does, beside it, so a
    busy event loop cannot delay a renewal into a lost Lease.
    """

    def __init__(
        self,
        api: ClusterClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        timings: LeaseTimings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.namespace, self.name, self.identity = namespace, name, identity
        self.timings = timings
        self.clock = clock
        self._observed: tuple[tuple[str, int, int, str], float] | None = None
        self._last_renewal: float | None = None
        self._holder_logged: str | None = None
        self.observed_holder = ""  # the holder in the Lease as last read
        self._stop_holding = threading.Event()
        self._holder_thread: threading.Thread | None = None

    @property
    def where(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    # --- one attempt ------------------------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One read and at most one write; True when we hold the Lease afterwards."""
        timeout = (min(5.0, self.timings.retry_period * 2), self.timings.retry_period * 2)
        lease = self._read(timeout)
        record = _record(lease) if lease is not None else None
        self.observed_holder = record.holder if record is not None else ""
        now = self.clock()
        if record is not None and (self._observed is None or self._observed[0] != record.content):
            self._observed = (record.content, now)
        observed_at = self._observed[1] if self._observed is not None else now
        action = plan_attempt(record, self.identity, observed_at, now)
        if action is Action.WAIT:
            assert record is not None
            if self._holder_thread is None and self._holder_logged != record.holder:
                log.info("%s is held by %s; standing by", self.where, record.holder)
                self._holder_logged = record.holder
            return False
        response = self._write(self._body(record, action), create=lease is None, timeout=timeout)
        if response.status == 409:  # another candidate wrote first: it won this round
            return False
        if response.status >= 300:
            raise response_error(response, f"write {self.where}")
        if action is not Action.RENEW:
            log.info("%s acquired by %s", self.where, self.identity)
        self._last_renewal = self.clock()
        return True

    def _read(self, timeout: Timeout) -> dict[str, Any] | None:
        """The Lease as the API server holds it; None when there is none."""
        what = f"read {self.where}"
        response = send_request(self.api, "GET", self._path(self.name), what=what, timeout=timeout)
        if response.status == 404:
            return None
        if response.status != 200:
            raise response_error(response, what)
        lease: dict[str, Any] = response.json()
        return lease

    def _write(self, body: dict[str, Any], *, create: bool, timeout: Timeout) -> RawResponse:
        """Create or replace the Lease with ``body``; the response, whatever its status."""
        return send_request(
            self.api,
            "POST" if create else "PUT",
            self._path(None if create else self.name),
            what=f"write {self.where}",
            body=body,
            timeout=timeout,
        )

    def _path(self, name: str | None) -> str:
        return api_path("coordination.k8s.io/v1", "leases", name, self.namespace)

    def _body(self, record: LeaseRecord | None, action: Action) -> dict[str, Any]:
        # The apiserver's MicroTime wants exactly six digits of fraction (isoformat() drops a zero one).
        now = _micro_time(datetime.now(UTC))
        renewing = action is Action.RENEW and record is not None
        transitions = (record.transitions if record else 0) + (0 if renewing or record is None else 1)
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.timings.lease_duration)),
            "leaseTransitions": transitions,
            "renewTime": now,
        }
        if not renewing:
            spec["acquireTime"] = now
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if record is not None:
            metadata["resourceVersion"] = record.resource_version
            if renewing and record.acquire_time:
                spec["acquireTime"] = record.acquire_time
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}

    # --- blocking loops ---------------------------------------------------------------------------------

    def acquire(self, stop: threading.Event) -> bool:
        """Try every retry period until the Lease is ours (True) or `stop` is set (False)."""
        log.info("%s: candidate %s", self.where, self.identity)
        while not stop.is_set():
            try:
                if self.try_acquire_or_renew():
                    return True
            except FederationError as exc:
                log.warning("%s; retrying", exc)
            stop.wait(self.timings.retry_period)
        return False

    def hold(self, on_lost: Callable[[str], None]) -> None:
        """Renew from a background thread until `release`; `on_lost(reason)` is called at most once."""
        self._stop_holding.clear()
        self._holder_thread = threading.Thread(
            target=self._renew_loop, args=(on_lost,), name="lease-renewal", daemon=True
        )
        self._holder_thread.start()

    def _renew_loop(self, on_lost: Callable[[str], None]) -> None:
        while not self._stop_holding.wait(self.timings.retry_period):
            try:
                if self.try_acquire_or_renew():
                    continue
                if self.observed_holder not in ("", self.identity):
                    reason = f"{self.observed_holder} holds it now"
                    error = None
                else:  # a write conflict: retry within the renew deadline
                    error = "conflicting write"
            except FederationError as exc:
                error = str(exc)
            if error is not None:
                assert self._last_renewal is not None
                since = self.clock() - self._last_renewal
                if since < self.timings.renew_deadline:
                    log.warning("%s: renewal failed (%s); retrying", self.where, error)
                    continue
                reason = f"not renewed for {since:.1f}s (last error: {error})"
            if not self._stop_holding.is_set():
                on_lost(reason)
            return

    def release(self) -> None:
        """Stop renewing and, if we still hold the Lease, hand it over: empty holder, expires at once."""
        self._stop_holding.set()
        if self._holder_thread is not None:
            self._holder_thread.join(self.timings.renew_deadline)
            self._holder_thread = None
        try:
            lease = self._read(5.0)
            if lease is None:
                return
            record = _record(lease)
            if record.holder != self.identity:
                return
            now = _micro_time(datetime.now(UTC))
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "resourceVersion": record.resource_version},
                "spec": {
                    "leaseDurationSeconds": 1,
                    "leaseTransitions": record.transitions,
                    "acquireTime": now,
                    "renewTime": now,
                },
            }
            response = self._write(body, create=False, timeout=5.0)
            if response.status >= 300:
                raise response_error(response, f"release {self.where}")
            log.info("%s released by %s", self.where, self.identity)
        except FederationError as exc:
            # Not fatal: the Lease then expires after its duration and a standby takes it over.
            log.warning("%s; it expires after its duration instead", exc)


def _record(lease: dict[str, Any]) -> LeaseRecord:
    spec = lease.get("spec") or {}
    return LeaseRecord(
        holder=spec.get("holderIdentity") or "",
        lease_duration_seconds=spec.get("leaseDurationSeconds") or 0,
        transitions=spec.get("leaseTransitions") or 0,
        renew_time=spec.get("renewTime") or "",
        resource_version=str((lease.get("metadata") or {}).get("resourceVersion") or ""),
        acquire_time=spec.get("acquireTime") or "",
    )


def _micro_time(when: datetime) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, in UTC)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
