"""Orphan planning: which member Services of our federation have lost their FederatedService."""

from __future__ import annotations

from federation_operator.domain.members import ObservedService
from federation_operator.planning.orphans import plan_orphans


def service(cluster: str, name: str, owner: tuple[str, str] | None, uid: str | None) -> ObservedService:
    return ObservedService(cluster, owner[0] if owner else "shop", name, owner, uid, {"metadata": {}})


def test_services_of_missing_or_replaced_owners_are_orphans_and_nothing_else() -> None:
    alive = service("us", "cart", ("shop", "cart"), "uid-cart")
    gone = service("eu", "hang-del", ("hang", "hang-del"), "uid-old")
    predecessor = service("us", "web", ("shop", "web"), "uid-web-1")  # web was deleted and re-created
    not_ours = service("us", "foreign", None, None)
    before_uids = service("eu", "legacy", ("shop", "legacy"), None)  # no owner-uid annotation: by name
    existing = {
        ("shop", "cart"): frozenset({"uid-cart"}),
        ("shop", "web"): frozenset({"uid-web-2"}),
        ("shop", "legacy"): frozenset({"uid-legacy"}),
    }
    found = plan_orphans([alive, predecessor, gone, not_ours, before_uids], existing)
    assert found == (gone, predecessor)  # by cluster, then namespace and name


def test_an_owner_known_under_two_uids_keeps_both_services() -> None:
    # Listed under one UID by the host, under a newer one by the store (re-created since the list).
    old = service("us", "web", ("shop", "web"), "uid-1")
    new = service("eu", "web", ("shop", "web"), "uid-2")
    assert plan_orphans([old, new], {("shop", "web"): frozenset({"uid-1", "uid-2"})}) == ()
    assert plan_orphans([old, new], {}) == (new, old)
