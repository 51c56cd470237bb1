"""Packing a plan's per-name groups of changes into as few provider requests as the provider's limits allow.

Every adapter keeps the changes about one name together (a record set, its ownership record, an A → CNAME
switch) and packs whole groups, in name order, greedily: a group goes into the last request if it fits, else
it opens a new one. A group that does not fit even an empty request is refused. What "fits" means is each
provider's own accounting (values and characters for Route 53, additions, deletions and data size for Cloud
DNS, octets of a signed UPDATE message for RFC 2136); the packing is written once, here. Pure code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = ["pack_greedily"]

GroupT = TypeVar("GroupT")
RequestT = TypeVar("RequestT")


def pack_greedily(
    groups: Iterable[GroupT],
    *,
    new_request: Callable[[], RequestT],
    add: Callable[[RequestT, GroupT], bool],
    too_big: Callable[[GroupT], Exception],
) -> list[RequestT]:
    """``groups`` packed in order into requests made by ``new_request``.

    ``add(request, group)`` counts the group into the request and says ``True``, or says ``False`` and leaves
    the request as it was when the group would not fit. ``too_big(group)`` is raised for a group that does
    not fit an empty request.
    """
    requests: list[RequestT] = []
    for group in groups:
        if requests and add(requests[-1], group):
            continue
        request = new_request()
        if not add(request, group):
            raise too_big(group)
        requests.append(request)
    return requests
