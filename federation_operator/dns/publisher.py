"""The DNS publishing loop of one zone: desired record sets per FederatedService in, provider changes out.

Reconciles hand their FederatedService's desired records to `submit`; the loop coalesces whatever arrived
since its last round (bursts of shard changes become one plan), plans the changes for the dirty owners
against its view of the zone, and applies them in as few provider calls as the provider allows. After each
round it tells every owner involved (`on_result`), so their status can say what was published.

Its view of the zone (a `ZoneIndex`) is read from the provider at start (and again after a stale plan or an
error), then kept up to date by applying its own plans to it. **Drift** (someone else editing the zone, such
as an `nsupdate ... update delete` by hand) is caught by a check every `resync_seconds`: providers with a
cheap serial (RFC 2136: the SOA serial) are asked for it, and the zone is read only when it moved since
the last read: in full, or, from a provider that can tell (`ReadsChanges`: RFC 2136's IXFR), only what
changed since that read, replayed onto the index; providers without a serial (Route 53, Cloud DNS) are read
in full each time. When the fresh
read differs from the index, exactly the owners whose records differ lose their "published" verdict (their
status says Pending, not Published), are planned again against the fresh zone, and so republished. A quiet
zone costs only those checks.

**Contested names.** Owners are planned oldest first (by their FederatedService's creationTimestamp, then
namespace/name), so a name that several want goes to the one that asked first. An owner that got a
conflict waits on that name; when a round deletes or hands over a record set at the name, or a drift check
finds it changed, its waiters are planned again, oldest first: a freed name changes hands at once.

**Live, not just accepted.** An owner is Published once the provider says its change is live. The adapter
polls for that only briefly; a change still pending then is kept here by id (with the owners of the call that
sent it), its owners' results say so (``unconfirmed``: their status stays Pending), and it is checked on a
timer of its own (`CONFIRM_START` doubling to `CONFIRM_CAP`) while later rounds of the zone go out as usual;
once the provider confirms it, its owners are told again and become Published.

**Orphans.** `collect_orphans` deletes the record sets of owners of this federation that no longer exist
(a FederatedService whose finalizer was removed by hand, say), never a foreign record.

**Zone faults.** A read or write that fails for the zone as a whole (the server unreachable, the key
refused) is kept as the zone's fault and reported as every owner's result until a read succeeds again, so
the status says why nothing is published instead of "Pending". `replace_provider` swaps in a provider
built from changed credentials and retries at once.

**The provider's health checks.** With ``health_check_seconds``, a task beside the loop asks a provider
that runs health checks of its own (:class:`~federation_operator.dns.provider.ReportsHealthChecks`: Route
53) what they say, every that many seconds (one request per health check; none while the zone holds
none; only the owners whose records carry a checked share are read, from an index kept as records are
submitted and forgotten), and tells only the owners whose shares changed state (`on_result`), whose
reconcile reads `provider_health` into their status. It decides nothing here: the records stay what the
operator's own health rules planned.

The partition guard lives here too: while `frozen`, what health says is not applied and the zone stays as
last published, because when every member is unreachable at once it is this operator that is cut off, not
the whole world that failed. Withdrawals are the exception: a deleted FederatedService's records go even
then (and so do orphans'), since that is what a user asked for, not what a health signal claimed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from federation_operator.dns.provider import DnsProvider, ReportsHealthChecks
from federation_operator.domain.errors import (
    FederationError,
    PermanentError,
    RejectedChangeError,
    StaleChangesError,
    SuspectChangeError,
    TransientError,
)
from federation_operator.domain.health_checks import ProviderHealth, read_health_check, read_shares
from federation_operator.domain.keys import Key
from federation_operator.domain.ownership import group_changes_by_name, parse_ownership_name
from federation_operator.domain.records import Changes, Conflict, PublishResult, RecordSet, ZoneDelta
from federation_operator.observability.metrics import Metrics
from federation_operator.planning.zone_diff import (
    ZoneDrift,
    ZoneIndex,
    plan_drift,
    plan_zone_changes_into,
    render_delta,
)

__all__ = ["PERMANENT_RETRY_SECONDS", "QUICK_ROUNDS", "Publisher", "ReadsChanges", "key_of", "owner_of"]

log = logging.getLogger(__name__)

# An owner whose records the provider refused (a record it rejects) is retried on a timer of its own, so
# that an unfixable record does not turn every status update into another provider call: after this long,
# then twice as long each time it is refused again, up to the cap (a fix on the provider's side, such as a
# foreign record removed by hand, is seen within the cap; a changed spec is tried at once).
PERMANENT_RETRY_SECONDS = 60.0
PERMANENT_RETRY_CAP = 900.0
# A refused change is split in halves down to single owners, then names. When this many names were refused
# and nothing went through yet, the refusal is the zone's rather than an owner's (a key the server stopped
# accepting): splitting on would cost one call per name to learn nothing, so every owner gets the refusal.
SPLIT_REFUSALS_BEFORE_ZONE_FAULT = 8
# Retries of a failed zone read or round: exponential from BACKOFF_START. Transient failures (the server
# down, throttling) back off to 30 s, so an overloaded provider is not hammered. A refused key or zone is not
# load: it is fixed on the provider's side (a key added to BIND) without any event we could watch, so the
# retry interval *is* the recovery time; each retry costs one small request, and 10 s keeps it short.
BACKOFF_START = 0.2
TRANSIENT_BACKOFF_CAP = 30.0
PERMANENT_BACKOFF_CAP = 10.0
# A transient failure is the zone's fault (on every owner's status, with an event) only once its first retry
# failed too: one lost packet or one throttled call is not news for a thousand objects.
TRANSIENT_FAILURES_REPORTED = 2
# A change the provider accepted but had not confirmed live when `apply` returned (Route 53 PENDING, Cloud
# DNS pending: the adapter polls only briefly, so that the zone's next round never waits long on it) is
# checked on a timer of its own: after CONFIRM_START, then twice as long each time up to CONFIRM_CAP. Its
# owners stay Pending until the provider says it is live; meanwhile later rounds go out as usual.
CONFIRM_START = 1.0
CONFIRM_CAP = 10.0
# Rounds that go out at once after a quiet spell, before a busy zone's changes wait the coalescing window.
QUICK_ROUNDS = 2
# The changes a round lists at INFO (all of them at DEBUG).
LOGGED_CHANGES = 100
# Owners without a known creationTimestamp are planned after every owner with one.
_UNKNOWN_CREATED = "~"


@runtime_checkable
class ReadsChanges(Protocol):
    """A provider that can read what changed in its zone since a read (RFC 2136: an IXFR of the server's
    journal), so that a drift check costs what changed rather than the zone."""

    @property
    def read_serial(self) -> int | None:
        """Where the last read that returned left the zone (what `changes_since` takes)."""
        ...

    async def changes_since(self, serial: int) -> list[RecordSet] | ZoneDelta:
        """What changed since the read at ``serial``, or the whole zone when that cannot be told."""
        ...


_Read = tuple[int | None, ZoneIndex | ZoneDelta, int | None]
"""A read of the zone: the serial checked before it, the zone indexed or what changed, the read's mark."""


def owner_of(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def key_of(owner: str) -> Key | None:
    """The FederatedService key an ownership record's owner (``<namespace>/<name>``) names."""
    namespace, slash, name = owner.partition("/")
    if not (namespace and slash and name) or "/" in name:
        return None
    return (namespace, name)


class Publisher:
    """One zone, one loop (`run`), fed by `submit`/`withdraw` from the event loop's thread."""

    def __init__(
        self,
        provider: DnsProvider,
        *,
        federation: str,
        on_result: Callable[[Key], None],
        coalesce_seconds: float = 0.02,
        metrics: Metrics | None = None,
        provider_name: str | None = None,
        stopping: Callable[[], bool] = lambda: False,
        resync_seconds: float | None = None,
        health_check_seconds: float | None = None,
    ) -> None:
        self.provider = provider
        # True once the operator began to stop: no round is applied from then on.
        self._stopping = stopping
        self.federation = federation
        self.zone = provider.zone
        self._on_result = on_result
        self._coalesce = coalesce_seconds
        # How often the zone is checked for drift; None: never (tests, dry runs).
        self._resync = resync_seconds
        # How often the provider's own health checks are asked about; None: never.
        self._health_check_seconds = health_check_seconds
        self._health: dict[str, ProviderHealth] = {}  # set identifier → what the provider last said
        self._desired: dict[Key, tuple[RecordSet, ...]] = {}
        # Owner → the set identifiers of its desired shares that carry a health check, for the owners with
        # any: a poll reads these, not every owner's records (kept where `_desired` changes).
        self._checked: dict[Key, frozenset[str]] = {}
        self._created: dict[Key, str] = {}
        self._results: dict[Key, PublishResult] = {}
        self._dirty: set[Key] = set()
        self._wake = asyncio.Event()
        self._company = asyncio.Event()  # an owner not refused last time submitted (see _gather_burst)
        # Set to cut a retry's backoff short (new credentials).
        self._kick = asyncio.Event()
        self._zone: ZoneIndex | None = None
        self._stale = True  # the index must be read again before planning
        self._serial: int | None = None  # the provider's serial when the index was last read
        # A drift check's read of the zone, under way beside the rounds (a large zone takes seconds to
        # transfer and index), and the names those rounds changed meanwhile: the fresh read takes the
        # index's record sets at those names when it is taken in.
        self._reading: asyncio.Task[_Read] | None = None
        # Where the provider's last read left the zone (ReadsChanges): a drift check reads from there.
        self._mark: int | None = None
        self._changed_while_reading: set[str] = set()
        self._next_check = 0.0  # loop time of the next drift check
        self._round_ended = float("-inf")  # loop time the last round ended: a zone busy until then
        self._quick_rounds = 0  # rounds that went at once since the zone was last quiet (_gather_burst)
        self._fault: str | None = None
        self._backoff = BACKOFF_START
        self._transient_failures = 0  # in a row, since the provider last answered
        # Rounds in a row that failed transiently (a SERVFAIL on every part) although reads succeed, and the
        # fault that makes once reported: a read does not clear it, only a round that goes through.
        self._write_failures = 0
        self._write_fault: str | None = None
        self._frozen = False
        self._withdrawn: dict[Key, asyncio.Event] = {}
        self._planned: dict[Key, tuple[RecordSet, ...]] = {}  # owner → the records its round's plan took
        self._collecting: set[Key] = set()
        self._waiting: dict[str, set[Key]] = {}  # name → owners whose last round found it taken
        self._waits: dict[Key, set[str]] = {}  # owner → the names it waits on
        self._refusals: dict[Key, int] = {}  # owner → rounds in a row that the provider refused its records
        self._retries: dict[Key, asyncio.TimerHandle] = {}  # owner → its retry after a refusal
        # Changes the provider accepted but has not confirmed live yet: change id → the owners it carried,
        # and when it was sent (loop time); checked at `_next_confirm`.
        self._unconfirmed: dict[str, tuple[set[Key], float]] = {}
        self._next_confirm = 0.0
        self._confirm_delay = CONFIRM_START
        self.provider_calls = 0
        self.rounds = 0
        self.checks = 0
        self._metrics = metrics
        # The `provider` label: the name it was configured by (rfc2136, route53, ...).
        self._provider_name = provider_name or type(provider).__name__
        # When each owner's records not yet live were submitted (monotonic): its publish latency.
        self._submitted: dict[Key, float] = {}
        if metrics is not None:
            metrics.track_dns_publish(self._provider_name)

    # --- inputs ---------------------------------------------------------------------------------------

    def submit(self, key: Key, records: tuple[RecordSet, ...], *, created: str = "") -> None:
        """The records `key` should have now; nothing happens if that is what was last submitted.

        ``created`` is the FederatedService's creationTimestamp (RFC 3339, as the API server writes it, so
        it sorts as text): owners are planned oldest first, and the oldest wins a contested name.

        (An owner whose last round failed permanently is retried on a timer, not on every resubmission,
        so an unfixable record cannot turn each status update into another provider call.)
        """
        if created:
            self._created[key] = created
        self._collecting.discard(key)
        # Created again after a withdrawal nobody waits for any more: an owner like any other from now on.
        self._withdrawn.pop(key, None)
        if self._desired.get(key) == records and (key in self._results or key in self._dirty):
            return
        self._desired[key] = records
        self._index_checks(key, records)
        self._submitted.setdefault(key, time.monotonic())  # the oldest records not yet live
        self._dirty.add(key)
        self._wake.set()
        if not self._refusals.get(key):
            self._company.set()
        if self._fault is not None:
            # No round will answer while the zone has a fault: say so now, so the status names the fault.
            self._on_result(key)

    async def withdraw(self, key: Key) -> None:
        """Delete every record of `key` and wait until the provider confirmed it (FederatedService deletion).

        Callers bound the wait (`asyncio.timeout`): a provider that keeps failing keeps this waiting. The
        withdrawal goes on after a caller stopped waiting (the object may be gone, its finalizer removed by
        hand: its records must still go), and the round that finishes it forgets the owner, whoever waits.
        """
        done = self._withdrawn.setdefault(key, asyncio.Event())
        self._desired[key] = ()
        self._checked.pop(key, None)
        self._dirty.add(key)
        self._wake.set()
        await done.wait()

    def collect_orphans(self, existing: Collection[Key]) -> list[str]:
        """Plan the deletion of the records of every owner of this federation that the zone holds and that
        is neither in ``existing`` (the FederatedServices that exist now) nor submitted here; returns those
        owners (``<namespace>/<name>``), sorted.

        Only record sets whose ownership record names this federation are touched: foreign records, and
        other federations', never. Nothing is collected before the zone has been read (or while a fault
        keeps it unread). The deletions are applied by the loop like any round (even while frozen: the
        owner is gone, which no health signal can change); an owner submitted again meanwhile (re-created)
        is published instead. A FederatedService created after ``existing`` was listed but not yet
        reconciled would lose its records until its first reconcile: callers list, then call at once.
        """
        if self._zone is None or self._stale:
            return []
        present = set(existing)
        collected: list[str] = []
        for tag, targets in self._zone.owned.items():
            if tag.federation != self.federation or not targets:
                continue
            key = key_of(tag.owner)
            if key is None or key in present or key in self._desired:
                continue
            self._desired[key] = ()
            self._dirty.add(key)
            self._collecting.add(key)
            collected.append(tag.owner)
        collected.sort()
        if collected:
            log.info(
                "DNS zone %s: collecting the records of %d deleted FederatedService(s): %s",
                self.zone,
                len(collected),
                ", ".join(collected),
            )
            if self._metrics is not None:
                self._metrics.count_dns_orphans(self._provider_name, len(collected))
            self._wake.set()
        return collected

    def replace_provider(self, provider: DnsProvider) -> None:
        """Use ``provider`` from now on (built from changed credentials): the zone is read again at once,
        the backoff starts over, and owners the old one refused are retried now rather than on their timer.
        """
        self.provider = provider
        self._stale = True
        self._serial = None
        self._mark = None
        self._backoff = BACKOFF_START
        self._dirty.update(k for k, r in self._results.items() if r.error and k in self._desired)
        log.info("DNS zone %s: provider replaced (%r); reading the zone again now", self.zone, provider)
        self._kick.set()
        self._wake.set()

    def _redirty(self, keys: Iterable[Key]) -> None:
        self._dirty.update(k for k in keys if k in self._desired)
        self._wake.set()

    def _refuse(self, key: Key, error: str, conflicts: tuple[Conflict, ...], *, rejected: bool) -> None:
        """Report a refusal of ``key``'s records and retry it later, backing off while it keeps failing.

        ``rejected``: the provider refused what this owner's records hold (``ProviderRejected`` on its
        status); otherwise a refusal that could not be pinned on one owner (``ProviderError``)."""
        self._results[key] = PublishResult(
            self._desired.get(key, ()), conflicts=conflicts, error=error, rejected=rejected
        )
        self._on_result(key)
        refusals = self._refusals[key] = self._refusals.get(key, 0) + 1
        delay = min(PERMANENT_RETRY_SECONDS * 2.0 ** (refusals - 1), PERMANENT_RETRY_CAP)
        previous = self._retries.pop(key, None)
        if previous is not None:
            previous.cancel()
        self._retries[key] = asyncio.get_running_loop().call_later(delay, self._redirty, [key])

    def _observe_live(self, key: Key) -> None:
        """``key``'s records are live: how long since they were submitted (the first of them not yet live)."""
        submitted = self._submitted.pop(key, None)
        if submitted is not None and self._metrics is not None:
            self._metrics.observe_dns_publish(self._provider_name, time.monotonic() - submitted)

    def forget(self, key: Key) -> None:
        self._submitted.pop(key, None)
        retry = self._retries.pop(key, None)
        if retry is not None:
            retry.cancel()
        self._refusals.pop(key, None)
        self._desired.pop(key, None)
        self._checked.pop(key, None)
        self._planned.pop(key, None)
        self._results.pop(key, None)
        self._created.pop(key, None)
        self._dirty.discard(key)
        self._collecting.discard(key)
        self._withdrawn.pop(key, None)
        self._wait_on(key, ())
        for change_id, (owners, _) in list(self._unconfirmed.items()):
            owners.discard(key)
            if not owners:
                del self._unconfirmed[change_id]

    def pending_ages(self) -> list[float]:
        """Seconds each change the provider accepted has waited so far to be confirmed live. Safe from any
        thread (the metrics' scrape): the loop's clock is the monotonic clock."""
        now = time.monotonic()
        return [now - sent for _, sent in list(self._unconfirmed.values())]

    def set_frozen(self, frozen: bool) -> bool:
        """Partition guard on/off; returns True when this call changed it."""
        if frozen == self._frozen:
            return False
        self._frozen = frozen
        if self._metrics is not None:
            self._metrics.set_dns_frozen(frozen)
        log.warning("DNS publishing %s", "frozen (partition guard)" if frozen else "resumed")
        if not frozen:
            self._wake.set()
        return True

    @property
    def frozen(self) -> bool:
        return self._frozen

    def result(self, key: Key) -> PublishResult | None:
        """What the provider holds for ``key`` after its last round; while the zone has a fault (the
        provider unreachable or refusing us), that fault, for every owner submitted here."""
        result = self._results.get(key)
        fault = self.fault
        if fault is not None and key in self._desired:
            conflicts = result.conflicts if result is not None else ()
            return PublishResult(self._desired[key], conflicts=conflicts, error=fault)
        return result

    @property
    def fault(self) -> str | None:
        """Why the zone cannot be read or written right now, or None."""
        return self._fault or self._write_fault

    def _set_write_fault(self, fault: str | None) -> None:
        if fault is None:
            self._write_failures = 0
        if fault == self._write_fault:
            return
        self._write_fault = fault
        for key in sorted(self._desired):
            self._on_result(key)

    @property
    def ready(self) -> bool:
        """True once the zone has been read: before that, nothing can be planned."""
        return self._zone is not None

    # --- the loop ---------------------------------------------------------------------------------------

    async def _read(self) -> None:
        """Read the zone afresh (its serial first: a change between the two is seen at the next check) and
        take in whatever differs from the index kept so far."""
        serial = await self.provider.serial()
        if serial is not None:
            self._count_calls(1)
        serial, fresh, mark = await self._read_fresh(serial, whole=True)
        assert not isinstance(fresh, ZoneDelta)
        kept, self._zone, self._serial, self._stale = self._zone, fresh, serial, False
        self._mark = mark
        self._set_fault(None)
        if kept is not None:
            self._take_drift(plan_drift(kept, fresh, federation=self.federation))

    def _take_drift(self, drift: ZoneDrift) -> None:
        if not drift:
            return
        keys = sorted({k for o in drift.owners if (k := key_of(o)) is not None and k in self._desired})
        log.warning(
            "DNS zone %s differs from what this operator published at %d name(s) (%s); republishing %s",
            self.zone,
            len(drift.names),
            ", ".join(sorted(drift.names)[:5]) + (", ..." if len(drift.names) > 5 else ""),
            ", ".join(owner_of(k) for k in keys) or "no owner of ours",
        )
        if self._metrics is not None and keys:
            self._metrics.count_dns_drift(self._provider_name, len(keys))
        # An owner the provider refused last time keeps its error and waits for its retry timer: the index
        # still held its refused change (a refusal not pinned on a name is not taken back out), so this read
        # differs at its names, and republishing it now would be refused again at once, read again, differ
        # again: a loop of provider calls as fast as they answer.
        keys = [key for key in keys if not self._refusals.get(key)]
        for key in keys:
            # Not published any more, until the round that republishes it says so.
            if self._results.pop(key, None) is not None:
                self._on_result(key)
        self._redirty([*keys, *self._waiters(drift.names)])

    async def _check(self) -> None:
        """The drift check: the serial when the provider has one (the zone is read only if it moved),
        otherwise a full read, which goes on beside the rounds (see `_take_fresh`)."""
        self.checks += 1
        serial = await self.provider.serial()
        if serial is not None:
            self._count_calls(1)
            if serial == self._serial:
                self._set_fault(None)
                return
        if self._reading is None:
            self._changed_while_reading = set()
            self._reading = asyncio.create_task(self._read_fresh(serial), name=f"dns-read-{self.zone}")
            self._reading.add_done_callback(lambda _task: self._wake.set())

    async def _read_fresh(self, serial: int | None, *, whole: bool = False) -> _Read:
        """Read the zone and index it, or (unless ``whole``) only what changed since the last read, when the
        provider can tell (`ReadsChanges`); the indexing (seconds for a zone of tens of thousands of record
        sets) runs in a thread, so the event loop goes on serving reconciles and rounds."""
        provider = self.provider
        changes = provider if isinstance(provider, ReadsChanges) else None
        read: list[RecordSet] | ZoneDelta
        if changes is not None and not whole and self._mark is not None:
            read = await changes.changes_since(self._mark)
        else:
            read = await provider.records()
        mark = changes.read_serial if changes is not None else None
        self._count_calls(1)
        if isinstance(read, ZoneDelta):
            return serial, read, mark
        return serial, await asyncio.to_thread(ZoneIndex, read), mark

    def _take_fresh(self, reading: asyncio.Task[_Read]) -> None:
        """Take in a drift check's read: the names rounds changed while it was read stay as the index has
        them (the read may have missed those changes); whatever else differs is someone else's drift. A
        read of what changed is replayed onto the index at the names it touches (the index holds the zone as
        the last read left it plus this operator's own changes since, which the server's journal holds
        too). A failed read is that of any zone read: the error goes to the loop's recovery."""
        serial, fresh, mark = reading.result()
        kept = self._zone
        assert kept is not None
        if isinstance(fresh, ZoneDelta):
            replayed = render_delta(kept, fresh, skip=self._changed_while_reading)
            drift = kept.take(replayed, federation=self.federation)
            size = f"{len(fresh)} change(s)"
        else:
            fresh.adopt(self._changed_while_reading, kept)
            drift = plan_drift(kept, fresh, federation=self.federation)
            self._zone = fresh
            size = f"{len(fresh)} record sets"
        self._serial, self._mark = serial, mark
        self._set_fault(None)
        self._take_drift(drift)
        log.debug("DNS zone %s: a drift check's read taken in (%s)", self.zone, size)

    def _drop_reading(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            self._reading = None

    def _count_calls(self, calls: int) -> None:
        self.provider_calls += calls
        if self._metrics is not None:
            self._metrics.count_dns_calls(self._provider_name, calls)

    def _count_error(self, exc: BaseException) -> None:
        if self._metrics is not None:
            self._metrics.count_dns_error(self._provider_name, exc)

    def _set_fault(self, fault: str | None) -> None:
        """Keep (or clear) the zone's fault; every owner hears of a change, so its status says it."""
        if fault is None:
            self._transient_failures = 0
        if fault == self._fault:
            return
        cleared = fault is None
        self._fault = fault
        if cleared:
            log.info("DNS zone %s: the provider answers again", self.zone)
            # What failed while the provider did may have been the fault, not the records: try again now.
            self._redirty([k for k, r in self._results.items() if r.error])
        for key in sorted(self._desired):
            self._on_result(key)

    def _schedule_check(self) -> None:
        if self._resync is not None:
            self._next_check = asyncio.get_running_loop().time() + self._resync

    async def _wait_for_wake(self) -> bool:
        """Wait for work, or for the next drift check or confirmation check; True when woken for work."""
        due = [self._next_check] if self._resync is not None else []
        if self._unconfirmed:
            due.append(self._next_confirm)
        if not due:
            await self._wake.wait()
            return True
        remaining = min(due) - asyncio.get_running_loop().time()
        if remaining <= 0:
            return self._wake.is_set()
        try:
            async with asyncio.timeout(remaining):
                await self._wake.wait()
        except TimeoutError:
            return False
        return True

    async def _pause(self, seconds: float) -> None:
        """Sleep before a retry, cut short by `replace_provider`."""
        self._kick.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._kick.wait()
        except TimeoutError:
            pass

    def _index_checks(self, key: Key, records: tuple[RecordSet, ...]) -> None:
        """Keep ``key`` in the index of owners with checked shares while ``records`` have any."""
        checked = frozenset(
            identifier
            for record in records
            for identifier in read_shares(record)
            if read_health_check(identifier) is not None
        )
        if checked:
            self._checked[key] = checked
        else:
            self._checked.pop(key, None)

    @property
    def checked_owners(self) -> frozenset[Key]:
        """The owners whose desired records hold a share with a provider health check."""
        return frozenset(self._checked)

    def provider_health(self, key: Key) -> dict[str, ProviderHealth]:
        """What the provider's own health checks last said of ``key``'s shares, by set identifier (only
        those it has said anything of)."""
        if not self._health:
            return {}
        return {i: self._health[i] for i in self._checked.get(key, ()) if i in self._health}

    async def run(self) -> None:
        watch = (
            asyncio.create_task(
                self._watch_health(self._health_check_seconds), name=f"dns-health {self.zone}"
            )
            if self._health_check_seconds is not None
            else None
        )
        try:
            await self._run()
        finally:
            self._drop_reading()
            if watch is not None:
                watch.cancel()

    async def _watch_health(self, interval: float) -> None:
        """Ask the provider what its health checks say every ``interval`` seconds (see the module's
        docstring); a failed poll keeps what was last said and is only logged: the next one asks again."""
        swept = False
        while True:
            await asyncio.sleep(interval)
            if self._stopping():
                return
            if not swept and self.ready:
                swept = await self.sweep_health_checks()
            await self.poll_health()

    async def sweep_health_checks(self) -> bool:
        """Have the provider delete this operator's health checks that no set of the zone names (once after
        start: see ``ReportsHealthChecks.collect_health_checks``); True once done, or when the provider runs
        no health checks; False after a failure (logged: the next poll tries again)."""
        provider = self.provider
        if not isinstance(provider, ReportsHealthChecks):
            return True
        try:
            await provider.collect_health_checks()
        except FederationError as exc:
            self._count_error(exc)
            log.warning("DNS zone %s: collecting orphaned health checks failed: %s", self.zone, exc)
            return False
        return True

    async def poll_health(self) -> None:
        """One poll of the provider's health checks: owners whose shares' state changed are told."""
        provider = self.provider
        if not isinstance(provider, ReportsHealthChecks):
            return
        wanted = set().union(*self._checked.values())
        if not wanted and not self._health:
            return  # no share asks for a health check: no provider call
        try:
            states = await provider.health_check_states(wanted) if wanted else {}
        except FederationError as exc:
            self._count_error(exc)
            log.warning("DNS zone %s: reading the provider's health checks failed: %s", self.zone, exc)
            return
        if states is None:
            return
        self._count_calls(len(states))
        self.take_health(states)

    def take_health(self, states: dict[str, ProviderHealth]) -> None:
        """Keep ``states`` (set identifier → the provider's verdict) and tell the owners whose shares changed
        state, each once."""
        changed = {
            identifier
            for identifier in states.keys() | self._health.keys()
            if not (states.get(identifier) or _NO_HEALTH).same_state(self._health.get(identifier))
        }
        for identifier in sorted(changed):
            health = states.get(identifier)
            if health is not None and health.state == "Unhealthy":
                log.warning(
                    "DNS zone %s: the provider's health check %s of set %s fails: %s",
                    self.zone,
                    health.health_check_id,
                    identifier,
                    health.message,
                )
        self._health = states
        if not changed:
            return
        for key, checked in list(self._checked.items()):
            if not changed.isdisjoint(checked):
                self._on_result(key)

    async def _run(self) -> None:
        while True:
            try:
                if not await self._keep_current():
                    return
                if not await self._wait_for_wake():
                    continue  # time for a drift check
                self._wake.clear()
                if self._stopping():
                    return
                if self._stale:  # new credentials since the last read: read with them before planning
                    self._wake.set()
                    continue
                await self._gather_burst()
                # Frozen: only withdrawals (deleted FederatedServices, orphans) go through; the rest stays
                # dirty.
                allowed = self._withdrawn.keys() | self._collecting
                keys = self._dirty & allowed if self._frozen else set(self._dirty)
                if not keys:
                    continue
                await self._round(keys)
                self._round_ended = asyncio.get_running_loop().time()
                self._backoff = BACKOFF_START
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure is retried: none may end the loop
                await self._recover(exc)

    async def _gather_burst(self) -> None:
        """Let a burst of changes (many shards flipping at once) share one plan: a window of
        ``coalesce_seconds`` while the zone is busy (a round ended less than that ago). The first
        `QUICK_ROUNDS` rounds after a quiet spell go out at once, since a lone failover should not wait for
        company, and one flip often changes two owners (two FederatedServices over the same backends) whose
        reconciles end a few milliseconds apart: the second would otherwise wait the whole window behind the
        first (measured: a median of 39 ms instead of 21 on the failover benchmark with such a twin).
        Whatever follows arrives while those rounds are out and makes the next round's plan. Owners the
        provider refused last time are no reason to hurry: a round of only them waits the window, so that
        another owner's change arriving meanwhile (the same backends' other FederatedService) goes first
        rather than behind their refusal and its split; that change ends the wait, as a lone change goes at
        once."""
        if not self._dirty:
            return  # woken for something else (a read done, a withdrawal): no change to wait with
        loop = asyncio.get_running_loop()
        if loop.time() - self._round_ended >= self._coalesce:
            self._quick_rounds = 0  # quiet
        if self._quick_rounds >= QUICK_ROUNDS:
            await asyncio.sleep(self._coalesce)
            return
        self._quick_rounds += 1
        # Quiet (or nearly): at once, unless only refused owners wait, in which case the window, cut short by
        # the first other owner's change. Even at once, the reconciles already runnable (one event's
        # siblings) submit first.
        deadline = loop.time() + self._coalesce
        self._company.clear()
        while not any(not self._refusals.get(key) for key in self._dirty):
            try:
                async with asyncio.timeout_at(deadline):
                    await self._company.wait()
            except TimeoutError:
                return
            self._company.clear()
        await asyncio.sleep(0)

    async def _keep_current(self) -> bool:
        """Read the zone if the index is stale, or check it for drift when due; False when stopping."""
        if self._reading is not None and (self._stale or self._reading.done()):
            reading, self._reading = self._reading, None
            if self._stale:
                reading.cancel()  # a stale index is read again in full below, with the new provider
            else:
                self._take_fresh(reading)
        if self._zone is None or self._stale:
            first = self._zone is None
            await self._read()
            self._schedule_check()
            if first:
                log.info("DNS zone %s read: %d record sets", self.zone, len(self._zone or ()))
        elif self._resync is not None and asyncio.get_running_loop().time() >= self._next_check:
            if self._stopping():
                return False
            await self._check()
            self._schedule_check()
        if self._unconfirmed and asyncio.get_running_loop().time() >= self._next_confirm:
            if self._stopping():
                return False
            await self._confirm()
        return True

    async def _confirm(self) -> None:
        """Ask the provider which of the changes it had not confirmed are live now; owners with nothing left
        unconfirmed become Published. A failed check is only logged: the next one asks again."""
        ids = sorted(self._unconfirmed)
        try:
            live = await self.provider.confirmed(ids)
        except FederationError as exc:
            self._count_error(exc)
            log.warning("DNS zone %s: checking changes %s failed: %s", self.zone, ", ".join(ids), exc)
            live = set()
        self._count_calls(len(ids))
        freed: set[Key] = set()
        for change_id in live:
            owners, _ = self._unconfirmed.pop(change_id, (set(), 0.0))
            freed |= owners
        for key in sorted(freed):
            result = self._results.get(key)
            if result is not None and result.unconfirmed and self._unconfirmed_reason(key) is None:
                self._results[key] = dataclasses.replace(result, unconfirmed=None)
                self._observe_live(key)
                self._on_result(key)
        if live:
            log.info("DNS zone %s: the provider confirmed changes %s", self.zone, ", ".join(sorted(live)))
        self._confirm_delay = min(self._confirm_delay * 2, CONFIRM_CAP)
        self._next_confirm = asyncio.get_running_loop().time() + self._confirm_delay

    def _unconfirmed_reason(self, key: Key) -> str | None:
        """Why ``key``'s records are not known to be live yet (changes still pending), or None."""
        ids = sorted(c for c, (owners, _) in self._unconfirmed.items() if key in owners)
        if not ids:
            return None
        now = asyncio.get_running_loop().time()
        oldest = min(self._unconfirmed[c][1] for c in ids)
        return (
            f"change {', '.join(ids)} accepted {now - oldest:.0f}s ago and still pending; checked again "
            "until the provider says it is live"
        )

    async def _recover(self, exc: Exception) -> None:
        """After a failed read, check or round: keep the fault, back off, and read the zone again."""
        self._count_error(exc)
        self._stale = True  # re-read before planning again: the plan may have been half applied
        if isinstance(exc, StaleChangesError):
            # Someone else changed the zone under our plan: read it again and plan anew. Not a fault of the
            # provider; the backoff only keeps a zone that keeps changing from spinning the loop.
            log.info("DNS zone %s: %s; reading it again", self.zone, exc)
            await self._pause(self._backoff * random.random())
            cap = TRANSIENT_BACKOFF_CAP
        elif isinstance(exc, FederationError):
            permanent = isinstance(exc, PermanentError)
            self._transient_failures = 0 if permanent else self._transient_failures + 1
            if permanent:
                self._set_fault(f"the DNS provider refuses the operator: {exc}")
            elif self._transient_failures >= TRANSIENT_FAILURES_REPORTED:
                self._set_fault(f"the DNS provider cannot be reached: {exc}")
            log.warning("DNS zone %s: %s; retrying in %.1fs", self.zone, exc, self._backoff)
            await self._pause(self._backoff * (1 + random.random()))
            cap = PERMANENT_BACKOFF_CAP if permanent else TRANSIENT_BACKOFF_CAP
        else:
            self._set_fault(f"the DNS provider failed unexpectedly: {type(exc).__name__}: {exc}")
            log.exception("DNS zone %s: unexpected error; retrying in %.1fs", self.zone, self._backoff)
            await self._pause(self._backoff)
            cap = TRANSIENT_BACKOFF_CAP
        self._backoff = min(self._backoff * 2, cap)
        self._wake.set()

    def _order(self, keys: Iterable[Key]) -> list[Key]:
        """Oldest FederatedService first, then namespace/name: who gets a contested name."""
        return sorted(keys, key=lambda k: (self._created.get(k) or _UNKNOWN_CREATED, k))

    async def _round(self, dirty: set[Key]) -> None:
        assert self._zone is not None
        if self._stopping():
            # Stopping: members look gone because we are disconnecting them, not because they failed.
            # (Nothing below awaits before the provider call, so a plan that passes here came from a
            # whole federation.)
            return
        keys = self._order(dirty)
        self._dirty.difference_update(keys)
        self.rounds += 1
        try:
            outcome = await self._publish_round(keys)
        except PermanentError as exc:
            # A refusal that splitting cannot pin on one owner (or one that every part got): report it on
            # each owner, and try again later in case someone fixed the cause.
            self._count_error(exc)
            # A refused change was taken back out of the index; anything else may have been half applied.
            self._stale = self._stale or not isinstance(exc, RejectedChangeError)
            # A RejectedChangeError reaches here only for one owner's one name (see _publish): its own.
            rejected = isinstance(exc, RejectedChangeError) and len(keys) == 1
            for key in keys:
                self._refuse(key, f"the DNS provider refused the change: {exc}", (), rejected=rejected)
            return
        except TransientError as exc:
            # Including a stale plan: the loop re-reads the zone and plans these owners again.
            self._dirty.update(keys)
            if not isinstance(exc, StaleChangesError):
                self._write_failures += 1
                if self._write_failures >= TRANSIENT_FAILURES_REPORTED:
                    self._set_write_fault(f"the DNS provider fails every change: {exc}")
            raise
        self._set_fault(None)
        self._set_write_fault(None)
        for key in keys:
            found = outcome.conflicts.get(owner_of(key), ())
            refused = outcome.refused.get(key)
            if refused is not None:
                self._refuse(key, refused, found, rejected=True)
                continue
            self._refusals.pop(key, None)
            # What this round published for the owner: a submission or a withdrawal that came while the
            # round was out is not in it (it made the owner dirty again, for the next round).
            planned = self._planned.pop(key, self._desired.get(key, ()))
            if key in self._collecting and not planned:
                self.forget(key)  # an orphan's records are gone: nothing is left to tell anyone
                continue
            self._wait_on(key, {c.name for c in found})
            self._results[key] = PublishResult(
                planned, conflicts=found, unconfirmed=self._unconfirmed_reason(key)
            )
            if self._results[key].unconfirmed is None:
                self._observe_live(key)
            if key in self._withdrawn and not planned:
                # Withdrawn: nothing is left to publish or report (the caller, if it still waits, forgets
                # the object); its bookkeeping ends here, as nobody may wait any more.
                self._withdrawn.pop(key).set()
                self.forget(key)
            self._on_result(key)
        # Names this round deleted or handed over: whoever waits on them may take them now.
        self._redirty(self._waiters(set().union(*(_touched_names(c) for c in outcome.applied))))

    def _plan(self, keys: list[Key]) -> tuple[Changes, dict[str, tuple[Conflict, ...]]]:
        """The changes for ``keys`` (in that order) against the index, which then holds the zone as they
        leave it."""
        assert self._zone is not None
        for key in keys:
            self._planned[key] = self._desired.get(key, ())
        desired = {owner_of(k): self._planned[k] for k in keys}
        return plan_zone_changes_into(
            self._zone,
            desired,
            federation=self.federation,
            zone=self.zone,
            order=[owner_of(k) for k in keys],
            # The zone's quota, planned rather than refused: an owner it leaves no room for sees a conflict.
            max_record_sets=self.provider.limits.max_record_sets,
        )

    async def _apply(self, changes: Changes, keys: Collection[Key]) -> None:
        """Apply ``changes``, the changes of ``keys``; what the provider leaves unconfirmed is theirs to
        wait for (all of them: the provider does not say which of its requests holds whose records)."""
        if changes.is_empty:
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("DNS zone %s: applying\n%s", self.zone, changes)
        else:
            # A bulk round (hundreds of new FederatedServices) changes tens of thousands of record sets: their
            # listing would be megabytes of one log line, held while it is written.
            log.info("DNS zone %s: applying\n%s", self.zone, changes.describe(limit=LOGGED_CHANGES))
        if self._reading is not None:
            # Before the call: a change the provider applies in part (and then fails) counts as well.
            self._changed_while_reading |= {
                r.name for r in (*changes.create, *changes.delete, *changes.update_new)
            }
        self._count_calls(await self.provider.apply(changes))
        if self._metrics is not None:
            self._metrics.count_dns_changes(self._provider_name, changes)
        pending = self.provider.unconfirmed()
        if pending:
            now = asyncio.get_running_loop().time()
            for change_id in pending:
                self._unconfirmed[change_id] = (set(keys), now)
            self._confirm_delay = CONFIRM_START
            self._next_confirm = now + CONFIRM_START
            log.info(
                "DNS zone %s: changes %s accepted, not yet live; checking again in %.0fs",
                self.zone,
                ", ".join(pending),
                CONFIRM_START,
            )

    def _undo(self, changes: Changes) -> None:
        """Take a refused change back out of the index (a refusal applied none of it)."""
        assert self._zone is not None
        self._zone.apply(render_inverse(changes))

    async def _publish_round(self, keys: list[Key]) -> _Outcome:
        """Publish ``keys``: the owners the provider refused last time go after the others, each on its own,
        so that an owner refused again and again (whose records change with every health change, when it
        shares its backends with others) does not make every round fail first and split: the others' changes
        go out in the round's first request, as if it were not there. (A contested name then goes to an
        owner the provider takes rather than to an older one it refuses.)"""
        suspects = [k for k in keys if self._refusals.get(k)]
        if not suspects or len(suspects) == len(keys):
            return await self._publish(keys)
        outcome = await self._publish([k for k in keys if not self._refusals.get(k)])
        for key in suspects:
            try:
                part = await self._publish([key])
            except RejectedChangeError as exc:  # its one name, refused whole (see _publish)
                outcome.refused[key] = f"the DNS provider refused this object's records: {exc}"
                continue
            outcome.applied += part.applied
            outcome.conflicts.update(part.conflicts)
            outcome.refused.update(part.refused)
        return outcome

    async def _publish(self, keys: list[Key]) -> _Outcome:
        """Plan ``keys`` together and apply the plan in one go; when the provider refuses it for its content,
        split it to find the owners (and names) at fault, so that every other owner publishes now."""
        changes, conflicts = self._plan(keys)
        try:
            await self._apply(changes, keys)
        except (RejectedChangeError, SuspectChangeError) as exc:
            self._count_error(exc)
            # A refusal applied nothing of the request refused; the requests before it (a plan too big for
            # one) went through, and a split meets them as a stale plan, which re-reads the zone: cheaper than
            # reading it now for the one case in a thousand.
            self._undo(changes)
            groups = group_changes_by_name(changes)
            if len(keys) == 1 and len(groups) == 1:
                if isinstance(exc, RejectedChangeError):
                    raise
                # A SERVFAIL on one owner's one name is that owner's (see _Split.outcome): were the server
                # failing every change, the other owners' changes would show it.
                reason = f"the DNS provider refused this object's records at {groups[0][0]}: {exc}"
                return _Outcome(conflicts=conflicts, refused={keys[0]: reason})
            log.warning(
                "DNS zone %s: %s; splitting the change of %d owner(s) to find the one at fault",
                self.zone,
                exc,
                len(keys),
            )
            split = _Split(first=exc)
            await self._split(keys, split, changes)
            return split.outcome()
        return _Outcome(applied=[changes], conflicts=conflicts)

    async def _split(self, keys: list[Key], split: _Split, refused: Changes) -> None:
        """Apply the owners of a refused change (``refused``) in halves, oldest first, down to the single
        owner. A half that holds the whole refused change (the other half changes nothing) is not sent
        again: it is known to be refused, so it is split on at once."""
        if len(keys) == 1:
            await self._split_owner(keys[0], split)
            return
        middle = len(keys) // 2
        for part in (keys[:middle], keys[middle:]):
            changes, conflicts = self._plan(part)
            split.conflicts.update(conflicts)
            if changes == refused:
                self._undo(changes)
                await self._split(part, split, changes)
                continue
            try:
                await self._apply(changes, part)
            except (RejectedChangeError, SuspectChangeError):
                self._undo(changes)
                await self._split(part, split, changes)
            else:
                split.applied.append(changes)

    async def _split_owner(self, key: Key, split: _Split) -> None:
        """One owner's refused change, name by name: the names the provider takes are published, and the
        owner is told which names it refused and why."""
        assert self._zone is not None
        changes, conflicts = self._plan([key])
        split.conflicts.update(conflicts)
        self._undo(changes)
        groups = group_changes_by_name(changes)
        reasons: list[str] = []
        for name, part in groups:
            self._zone.apply(part)
            try:
                await self._apply(part, [key])
            except (RejectedChangeError, SuspectChangeError) as exc:
                self._undo(part)
                split.failed(exc)
                split.suspect |= isinstance(exc, SuspectChangeError)
                reasons.append(f"{name}: {exc}")
            else:
                split.applied.append(part)
        if reasons:
            split.refused[key] = "the DNS provider refused this object's records at " + "; ".join(reasons)

    def _wait_on(self, key: Key, names: Collection[str]) -> None:
        for name in self._waits.pop(key, set()):
            waiting = self._waiting.get(name)
            if waiting is not None:
                waiting.discard(key)
                if not waiting:
                    del self._waiting[name]
        if names:
            self._waits[key] = set(names)
            for name in names:
                self._waiting.setdefault(name, set()).add(key)

    def _waiters(self, names: Iterable[str]) -> set[Key]:
        return {key for name in names for key in self._waiting.get(name, ())}


_NO_HEALTH = ProviderHealth("Unknown", "")  # what a check no longer listed compares as


def _touched_names(changes: Changes) -> set[str]:
    """The names whose record sets ``changes`` delete or replace (ownership records at their record's)."""
    names: set[str] = set()
    for record in (*changes.delete, *changes.update_old):
        target = parse_ownership_name(record.name)
        names.add(target[0] if target else record.name)
    return names


@dataclass
class _Outcome:
    """What a round applied (each part the provider took), each owner's conflicts, and the owners whose
    records the provider refused, with why."""

    applied: list[Changes] = field(default_factory=list)
    conflicts: dict[str, tuple[Conflict, ...]] = field(default_factory=dict)
    refused: dict[Key, str] = field(default_factory=dict)


@dataclass
class _Split(_Outcome):
    """A refused change being split: what went through so far, and what was refused."""

    first: FederationError | None = None
    failures: int = 0
    suspect: bool = False  # a refused part failed in a way that may be the server's (SERVFAIL)

    def failed(self, exc: FederationError) -> None:
        """Count a refused name; once too many were and nothing went through, the refusal is the zone's."""
        self.failures += 1
        if not self.went_through and self.failures >= SPLIT_REFUSALS_BEFORE_ZONE_FAULT:
            raise exc

    @property
    def went_through(self) -> bool:
        """True once the provider took a part that changed something."""
        return any(not changes.is_empty for changes in self.applied)

    def outcome(self) -> _Outcome:
        """What the split found. A failure that may be the server's (SERVFAIL) is the server's (transient)
        when the parts of several owners failed and nothing went through; it is an owner's when something
        else went through, or when that owner's parts were the only ones that changed anything (a server
        failing every change shows it on the next round that changes another owner's records)."""
        if self.suspect and not self.went_through and len(self.refused) != 1:
            assert self.first is not None
            raise self.first
        return _Outcome(applied=self.applied, conflicts=self.conflicts, refused=self.refused)


def render_inverse(changes: Changes) -> Changes:
    """The changes that undo ``changes`` on the zone they leave."""
    return Changes(
        create=changes.delete,
        update_old=changes.update_new,
        update_new=changes.update_old,
        delete=changes.create,
    )
