"""Orphan planning: which member Services of our federation have lost their FederatedService."""

from __future__ import annotations

from federation_operator.domain.members import ObservedService
from federation_operator.planning.orphans import plan_orphans


def service(cluster: str, name: str, owner: tuple[str, str] | None, uid: str | None) -> ObservedService:
    return ObservedService(cluster, owner[0] if owner else "shop", name, owner, uid, {"metadata": {}})


def test_services_of_missing_owners_are_orphans_and_nothing_else() -> None:
    alive = service("us", "cart", ("shop", "cart"), "uid-cart")
    gone = service("eu", "hang-del", ("hang", "hang-del"), "uid-old")
    gone_too = service("us", "api", ("shop", "api"), "uid-api")
    not_ours = service("us", "foreign", None, None)
    before_uids = service("eu", "legacy", ("shop", "legacy"), None)  # no owner-uid annotation: by name
    owners = {("shop", "cart"), ("shop", "legacy")}
    found = plan_orphans([alive, gone_too, gone, not_ours, before_uids], owners)
    assert found == (gone, gone_too)  # by cluster, then namespace and name


def test_a_predecessors_service_is_left_for_its_successor_to_adopt() -> None:
    # web was deleted and re-created (or restored from a backup): its Service names the old UID, and the
    # FederatedService of that name adopts it rather than have it removed and created again.
    predecessor = service("us", "web", ("shop", "web"), "uid-web-1")
    assert plan_orphans([predecessor], {("shop", "web")}) == ()
    assert plan_orphans([predecessor], set()) == (predecessor,)
