"""An in-memory DNS provider: a full :class:`~federation_operator.dns.provider.DnsProvider` for unit tests
and dry runs.

It is as strict as the strictest real provider, so that planning bugs show up in unit tests rather than
against Route 53: a deletion or update must name the record set exactly as held (name, type, TTL and
values), a creation must not find one already there, and a name may never hold a CNAME beside other data.
A ``Changes`` is applied atomically (one call) or not at all. ``calls`` counts the calls that reached it.

By default it has no serial (``serial()`` is ``None``, as for Route 53 and Cloud DNS: drift checks read
everything); ``with_serial=True`` makes it keep one that every change moves, like an RFC 2136 server's SOA
serial. :meth:`edit` changes the zone behind the operator's back, as a person with ``nsupdate`` would;
:meth:`refuse` makes it refuse any change at one name, as a provider refuses a record it does not take.
``pending_checks`` (0 by default: live at once) leaves each change unconfirmed (:meth:`unconfirmed`) until
:meth:`confirmed` has been asked about it that many times, as Route 53 answers PENDING until INSYNC.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from federation_operator.dns.provider import check_in_zone
from federation_operator.domain.errors import (
    FederationError,
    RejectedChangeError,
    StaleChangesError,
)
from federation_operator.domain.ownership import parse_ownership_name
from federation_operator.domain.records import Changes, ProviderLimits, RecordSet, normalize_name
from federation_operator.planning.zone_diff import InapplicableChangesError, render_applied

__all__ = ["InMemoryProvider"]


class InMemoryProvider:
    """One zone's record sets in a dict."""

    def __init__(
        self,
        zone: str,
        records: Iterable[RecordSet] = (),
        *,
        with_serial: bool = False,
        limits: ProviderLimits = ProviderLimits(),  # noqa: B008 (frozen, so one shared default is safe)
    ) -> None:
        self._zone = normalize_name(zone)
        self._limits = limits
        self._serial: int | None = 1 if with_serial else None
        self.serial_reads = 0
        """Calls to :meth:`serial`."""
        self._records: tuple[RecordSet, ...] = render_applied((), Changes(create=tuple(records)))
        self._failures: list[FederationError] = []
        self._failures_on_read: list[FederationError] = []
        self._refused: dict[str, FederationError] = {}  # name → the error a change touching it gets
        self.calls = 0
        """Calls to :meth:`apply` that had something to do (successful or not)."""
        self.reads = 0
        """Calls to :meth:`records`."""
        self.pending_checks = 0
        """How many :meth:`confirmed` checks a change stays unconfirmed for (0: confirmed as applied)."""
        self._checks_left: dict[str, int] = {}  # change id → checks before it is confirmed
        self._unconfirmed: tuple[str, ...] = ()
        self._changes_made = 0

    @property
    def zone(self) -> str:
        return self._zone

    @property
    def limits(self) -> ProviderLimits:
        """The limits given, enforced by :meth:`apply` as a real provider would (refused, nothing applied)."""
        return self._limits

    async def serial(self) -> int | None:
        self.serial_reads += 1
        if self._failures_on_read:
            raise self._failures_on_read.pop(0)
        return self._serial

    async def records(self) -> list[RecordSet]:
        self.reads += 1
        if self._failures_on_read:
            raise self._failures_on_read.pop(0)
        return list(self._records)

    async def apply(self, changes: Changes) -> int:
        self._unconfirmed = ()
        if changes.is_empty:
            return 0
        self.calls += 1
        if self._failures:
            raise self._failures.pop(0)
        check_in_zone(changes, self._zone)
        self._check_refused(changes)
        try:
            after = render_applied(self._records, changes)
        except InapplicableChangesError as exc:
            raise StaleChangesError(f"zone {self._zone} changed since the plan: {exc}") from exc
        self._check_limits(changes, after)
        self._records = after
        self._bump()
        self._changes_made += 1
        if self.pending_checks:
            change_id = f"change-{self._changes_made}"
            self._checks_left[change_id] = self.pending_checks
            self._unconfirmed = (change_id,)
        return 1

    def unconfirmed(self) -> tuple[str, ...]:
        return self._unconfirmed

    async def confirmed(self, change_ids: Collection[str]) -> set[str]:
        live: set[str] = set()
        for change_id in change_ids:
            left = self._checks_left.get(change_id, 1) - 1
            if left <= 0:
                self._checks_left.pop(change_id, None)
                live.add(change_id)
            else:
                self._checks_left[change_id] = left
        return live

    def _check_limits(self, changes: Changes, after: tuple[RecordSet, ...]) -> None:
        most = self._limits.max_values_per_set
        for record in (*changes.create, *changes.update_new):
            if most is not None and len(record.values) > most:
                raise RejectedChangeError(f"{record.name} {record.type}: more than {most} records in one set")
        quota = self._limits.max_record_sets
        if quota is not None and len(after) > quota and len(after) > len(self._records):
            raise RejectedChangeError(f"zone {self._zone}: more than {quota} record sets")

    def _bump(self) -> None:
        if self._serial is not None:
            self._serial += 1

    def snapshot(self) -> tuple[RecordSet, ...]:
        """The zone's record sets now, sorted (for assertions; no call is counted)."""
        return self._records

    def fail_next(self, error: FederationError) -> None:
        """Make the next non-empty :meth:`apply` raise ``error`` without changing anything (queued)."""
        self._failures.append(error)

    def clear_failures(self) -> None:
        """Drop the failures :meth:`fail_next` and :meth:`fail_next_read` queued: it answers again."""
        self._failures.clear()
        self._failures_on_read.clear()

    def refuse(self, name: str, error: FederationError | None = None) -> None:
        """Refuse every change touching ``name`` (its records or their ownership records) with ``error``
        (by default a :class:`RejectedChangeError`), nothing of the change applied, as a provider refuses a
        record it does not accept; ``allow`` ends it."""
        name = normalize_name(name)
        self._refused[name] = error or RejectedChangeError(f"{name}: the provider does not accept it")

    def allow(self, name: str) -> None:
        """Stop refusing changes at ``name``."""
        self._refused.pop(normalize_name(name), None)

    def _check_refused(self, changes: Changes) -> None:
        for record in (*changes.delete, *changes.update_new, *changes.create):
            target = parse_ownership_name(record.name)
            refused = self._refused.get(target[0] if target else record.name)
            if refused is not None:
                raise refused

    def fail_next_read(self, error: FederationError) -> None:
        """Make the next :meth:`serial` or :meth:`records` call raise ``error`` (queued)."""
        self._failures_on_read.append(error)

    def edit(self, changes: Changes) -> None:
        """Change the zone as someone else would (a hand edit): no call is counted, the serial moves."""
        self._records = render_applied(self._records, changes)
        self._bump()
