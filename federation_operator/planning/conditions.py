"""Conditions (``metav1.Condition``) as both custom resources write them: one transition rule."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from federation_operator.domain.status import Condition

__all__ = ["ConditionStatus", "render_condition", "whole_seconds"]

ConditionStatus = Literal["True", "False", "Unknown"]

# metav1.Condition's limit; lists of clusters and spec errors are cut there rather than fail validation.
_MAX_MESSAGE = 32768


def render_condition(
    previous: Iterable[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime,
) -> Condition:
    """A condition whose ``lastTransitionTime`` is kept from ``previous`` unless its status changed."""
    last = next((c for c in previous if c.type == type_), None)
    since = last.last_transition_time if last is not None and last.status == status else whole_seconds(now)
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return Condition(
        type=type_,
        status=status,
        observed_generation=generation,
        last_transition_time=since,
        reason=reason,
        message=message,
    )


def whole_seconds(moment: datetime) -> datetime:
    """``moment`` in UTC, truncated to whole seconds as the API server writes times."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0)
