"""Orphans: member Services of our federation whose FederatedService no longer exists, found without I/O.

A FederatedService deleted while one of its members was unreachable is finalized without that member's
Service (the deletion must not wait forever for a member that may never return), and a finalizer removed by
hand while the operator was stopped leaves every Service behind. Those Services still carry our labels;
this module picks them out so the collector can remove them once the member answers again.

A Service is an orphan when its owner labels name a FederatedService that does not exist. One whose
owner-UID annotation names a predecessor of the same name is not: ownership is the labels, the UID only a
hint (:func:`federation_operator.planning.services.is_owned_by`), so the FederatedService of that name
adopts it (after a restore from a backup, every object is such a successor), or, when the Service is pinned
with ``fedop.io/adopt: "false"``, reports it as a conflict and leaves it to the person who pinned it. A
Service without our owner labels is never an orphan: it is not ours.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from federation_operator.domain.keys import Key
from federation_operator.domain.members import ObservedService

__all__ = ["plan_orphans"]


def plan_orphans(services: Iterable[ObservedService], owners: Collection[Key]) -> tuple[ObservedService, ...]:
    """The Services in ``services`` whose owner is not among ``owners`` (the FederatedServices that exist
    right now), in cluster, namespace, name order."""
    orphans = [s for s in services if s.owner is not None and s.owner not in owners]
    return tuple(sorted(orphans, key=lambda s: (s.cluster, s.namespace, s.name)))
