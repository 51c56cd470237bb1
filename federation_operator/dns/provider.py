"""The narrow DNS provider protocol every adapter implements, and what adapters share around it.

A provider serves one zone. It lists the zone's record sets of the types the operator manages
(``RECORD_TYPES``: A, AAAA, CNAME, TXT) and a marker of any other types at a name, says what it accepts
(``limits``), applies a ``Changes`` in as few calls as the provider allows, and,
where the provider has one, tells the zone's version cheaply (``serial``: the SOA serial for RFC 2136) so
that drift checks need not read the whole zone each time. It
knows nothing of ownership: :mod:`federation_operator.planning.zone_diff` plans only changes to records the
owner owns, and the adapter applies exactly those.

Errors (:mod:`federation_operator.domain.errors`): an adapter maps every SDK or network failure once, at its
boundary, to ``TransientError`` (retry with backoff: timeouts, refused connections, throttling, server
failures), its ``StaleChangesError`` (the zone changed since the plan: read it again and plan again) or
``PermanentError`` (bad credentials, a zone the server does not serve, an update the server refuses), with
``raise ... from exc``.

An optional capability beside the protocol: :class:`ReportsHealthChecks`, a provider that runs health checks
of its own (Route 53) and says what they find; the publisher asks it on a timer. Providers without it need
implement nothing.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from typing import Protocol, runtime_checkable

from federation_operator.domain.errors import PermanentError
from federation_operator.domain.health_checks import ProviderHealth
from federation_operator.domain.records import (
    OTHER,
    Changes,
    ProviderLimits,
    RecordSet,
    normalize_name,
    zone_problem,
)

__all__ = ["DnsProvider", "ReportsHealthChecks", "backoff_delay", "check_in_zone"]


class DnsProvider(Protocol):
    """One DNS zone behind some provider's API."""

    @property
    def zone(self) -> str:
        """The zone's absolute name with its trailing dot, such as ``example.com.``."""
        ...

    @property
    def limits(self) -> ProviderLimits:
        """What the provider accepts (values per record set, record sets in the zone), as far as known: the
        planner keeps within them instead of learning them from a refusal. May be refined by a read (Cloud
        DNS reads its project's quotas with the zone)."""
        ...

    async def records(self) -> list[RecordSet]:
        """Every record set of type A, AAAA, CNAME or TXT in the zone, ours and foreign alike, plus one
        :data:`~federation_operator.domain.records.OTHER` marker at each name holding any other type (MX,
        SRV, NS...; :func:`~federation_operator.domain.records.other_types_marker`), so that the diff never
        plans a CNAME beside them."""
        ...

    async def serial(self) -> int | None:
        """A cheap version of the zone that moves whenever any record in it changes (one small request), or
        ``None`` when the provider has none: then a drift check reads the whole zone (:meth:`records`).

        RFC 2136 servers answer the SOA serial; Route 53 and Cloud DNS keep no serial that every change
        moves, so their adapters return ``None`` without a call.
        """
        ...

    async def apply(self, changes: Changes) -> int:
        """Apply ``changes`` and return the number of provider calls made; an empty plan makes none.

        Deletions and ``update_old`` carry the exact record sets the plan expects to find; a provider
        that can check them (every adapter here does) raises
        :class:`~federation_operator.domain.errors.StaleChangesError` when the zone
        differs. When a plan needs several calls, each is atomic but the set is not: after an error the
        caller reads the zone again before planning anew.

        Where the provider says when a change is live (Route 53 ``INSYNC``, Cloud DNS ``done``), ``apply``
        polls for it within a short bound; a change still not confirmed then is accepted but not known to be
        live: its id is listed by :meth:`unconfirmed` instead of holding the zone's next round.
        """
        ...

    def unconfirmed(self) -> tuple[str, ...]:
        """The ids of the changes the last :meth:`apply` sent that the provider had not yet confirmed live
        when it returned; ``()`` when all were (always, for a provider that applies before answering, such
        as an RFC 2136 server)."""
        ...

    async def confirmed(self, change_ids: Collection[str]) -> set[str]:
        """Of ``change_ids`` (from :meth:`unconfirmed`), those the provider now says are live: one status
        read each, no waiting."""
        ...


@runtime_checkable
class ReportsHealthChecks(Protocol):
    """A provider that probes the shares of routing-policy groups itself (``spec.dns.policy.healthCheck``)."""

    async def health_check_states(self, identifiers: Collection[str]) -> dict[str, ProviderHealth] | None:
        """The provider's own verdict on the health check of each set of ``identifiers`` that has one, by set
        identifier; ``None`` when it cannot say now (the zone not read since a failure)."""
        ...

    async def collect_health_checks(self) -> None:
        """Delete the provider's health checks of this operator that no set of the zone names (the
        publisher calls it once after start: a run may have stopped between a change and a deletion)."""
        ...


def check_in_zone(changes: Changes, zone: str) -> None:
    """Raise :class:`PermanentError` if ``changes`` touch a name outside ``zone`` (or a CNAME at its apex)."""
    zone = normalize_name(zone)
    for record in (*changes.delete, *changes.update_new, *changes.create):
        if record.type == OTHER:  # a marker of foreign data: the operator never writes or deletes one
            raise PermanentError(f"{record.name}: the operator never changes records of other types")
        problem = zone_problem(record, zone)
        if problem == "outside":
            raise PermanentError(f"{record.name} is outside the zone {zone}")
        if problem == "cname-at-apex":
            raise PermanentError(f"a CNAME cannot be at the zone apex {zone}")


def backoff_delay(base: float, attempt: int, cap: float) -> float:
    """The wait before retry number `attempt` (from 0): exponential, capped, with "equal jitter".

    The wait is a random point in the upper half of `min(cap, base * 2**attempt)`: it still doubles each
    time, and operators (or zones) throttled together do not retry in lockstep.
    """
    step = min(cap, base * 2.0**attempt)
    return step / 2 + random.uniform(0, step / 2)
