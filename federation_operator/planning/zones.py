"""Several managed zones and mirrors: which zone a name is published in, and one verdict from many.

The operator may manage several zones (``example.com`` on Route 53, ``acme.com`` on Cloud DNS, ...), each
published by its own loop, and a zone may have mirrors (the same zone on two providers, both kept current).
Pure functions between the planner and those loops:

- `plan_zone_of`: the zone a name belongs to, the **most specific** managed zone containing it (a delegated
  ``eu.example.com`` wins over ``example.com``), None when no managed zone holds it;
- `plan_records_by_zone`: one FederatedService's record sets split by zone: every managed zone gets its
  share, possibly empty, so that a name that moved out of a zone is deleted there;
- `plan_alias_zone_refusal`: the aliases in no managed zone, as an ``InvalidSpec`` naming each alias and the
  zones that are managed;
- `combine_results`: the publishers' answers for one owner (one per zone and mirror) as the one result the
  status is rendered from, with each mirror's own state beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.records import (
    Conflict,
    MirrorState,
    PublishResult,
    RecordSet,
    in_zone,
    normalize_name,
)

__all__ = [
    "MirrorAnswer",
    "combine_results",
    "plan_alias_zone_refusal",
    "plan_records_by_zone",
    "plan_zone_of",
]


def plan_zone_of(name: str, zones: Iterable[str]) -> str | None:
    """The most specific of ``zones`` that holds ``name`` (both normalized), or None."""
    found: str | None = None
    for zone in zones:
        if in_zone(name, zone) and (found is None or len(zone) > len(found)):
            found = zone
    return found


def plan_records_by_zone(
    records: Iterable[RecordSet], zones: Iterable[str]
) -> tuple[dict[str, tuple[RecordSet, ...]], tuple[RecordSet, ...]]:
    """``records`` split by the managed zone each belongs to (every zone present, with ``()`` when it holds
    none of them), and the record sets in no managed zone (validation keeps them out: see
    `plan_alias_zone_refusal`)."""
    managed = list(dict.fromkeys(zones))
    split: dict[str, list[RecordSet]] = {zone: [] for zone in managed}
    outside: list[RecordSet] = []
    for record in records:
        zone = plan_zone_of(record.name, managed)
        if zone is None:
            outside.append(record)
        else:
            split[zone].append(record)
    return {zone: tuple(found) for zone, found in split.items()}, tuple(outside)


def plan_alias_zone_refusal(
    aliases: Sequence[str], *, zones: Sequence[str], field: str = "spec.dns.aliases"
) -> InvalidSpecError | None:
    """Why some of ``aliases`` cannot be published (no managed zone holds them), or None when all can."""
    managed = [normalize_name(zone) for zone in zones]
    shown = ", ".join(dict.fromkeys(zone.rstrip(".") for zone in managed))
    problems = tuple(
        (
            f"{field}[{index}]",
            f"{alias} is in no DNS zone this operator manages ({shown}); an alias must lie in one of them",
        )
        for index, alias in enumerate(aliases)
        if plan_zone_of(normalize_name(alias), managed) is None
    )
    return InvalidSpecError(problems) if problems else None


@dataclass(frozen=True)
class MirrorAnswer:
    """One publisher's answer for one owner: the zone and mirror it publishes, what it was handed, and its
    last result (None: no round has answered yet)."""

    zone: str
    mirror: str
    provider: str
    submitted: tuple[RecordSet, ...]
    result: PublishResult | None


def combine_results(
    submitted: tuple[RecordSet, ...], answers: Sequence[MirrorAnswer]
) -> PublishResult | None:
    """The one result for an owner that submitted ``submitted``, from every zone's and mirror's answer.

    One publisher: its result, as it is (a single zone reads exactly as before). Several: the records are
    published when every one of them says so; a failing mirror is that mirror's error (named, so the status
    says which provider to look at) while the others publish on their own loops. While some have not
    answered the latest records yet and none has failed, there is no result yet (None, as for one publisher
    that has not answered: the status write waits briefly for the answer rather than saying Pending first);
    once one has failed, the others still on their way are Pending beside it. Each mirror's state is listed
    in :attr:`PublishResult.mirrors`.
    """
    if len(answers) == 1:
        return answers[0].result
    states: list[MirrorState] = []
    errors: list[str] = []
    rejected = True
    unconfirmed: list[str] = []
    conflicts: list[Conflict] = []
    unanswered = 0
    for answer in answers:
        label = f"{answer.zone.rstrip('.')} ({answer.mirror})"
        result = answer.result
        if result is None or result.desired != answer.submitted:
            unanswered += 1
            states.append(_state(answer, "Pending", "records planned, not applied yet"))
            unconfirmed.append(f"{label}: not applied yet")
            continue
        conflicts.extend(result.conflicts)
        if result.error:
            states.append(_state(answer, "Failed", result.error))
            errors.append(f"{label}: {result.error}")
            rejected = rejected and result.rejected
        elif result.unconfirmed:
            states.append(_state(answer, "Pending", result.unconfirmed))
            unconfirmed.append(f"{label}: {result.unconfirmed}")
        elif result.conflicts:
            clashes = ", ".join(f"{c.name} {c.type}" for c in result.conflicts)
            states.append(_state(answer, "Conflict", f"records this operator does not own: {clashes}"))
        else:
            states.append(_state(answer, "Published", f"{len(answer.submitted)} record sets"))
    if unanswered and not errors:
        return None
    return PublishResult(
        submitted,
        conflicts=tuple(dict.fromkeys(conflicts)),
        error="; ".join(errors) or None,
        rejected=bool(errors) and rejected,
        unconfirmed="; ".join(unconfirmed) or None,
        mirrors=tuple(states),
    )


def _state(
    answer: MirrorAnswer, state: Literal["Published", "Pending", "Conflict", "Failed"], message: str
) -> MirrorState:
    return MirrorState(
        zone=answer.zone.rstrip("."),
        mirror=answer.mirror,
        provider=answer.provider,
        state=state,
        message=message,
    )
