"""Orphans: member Services of our federation whose FederatedService no longer exists, found without I/O.

A FederatedService deleted while one of its members was unreachable is finalized without that member's
Service (the deletion must not wait forever for a member that may never return), and a finalizer removed by
hand while the operator was stopped leaves every Service behind. Those Services still carry our labels;
this module picks them out so the collector can remove them once the member answers again.

A Service is an orphan when its owner labels name a FederatedService that does not exist, or one that
exists under another UID (a predecessor of the same name: its Service would otherwise stand in the new
object's way as a conflict). A Service without our owner labels is never an orphan: it is not ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from federation_operator.domain.keys import Key
from federation_operator.domain.members import ObservedService

__all__ = ["plan_orphans"]


def plan_orphans(
    services: Iterable[ObservedService], existing: Mapping[Key, frozenset[str]]
) -> tuple[ObservedService, ...]:
    """The Services in ``services`` whose owner is not in ``existing`` (FederatedService key → the UIDs it
    is known under right now), in cluster, namespace, name order."""
    orphans = []
    for service in services:
        if service.owner is None:
            continue
        uids = existing.get(service.owner)
        if uids is None or (service.owner_uid is not None and service.owner_uid not in uids):
            orphans.append(service)
    return tuple(sorted(orphans, key=lambda s: (s.cluster, s.namespace, s.name)))
