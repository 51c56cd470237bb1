"""The FederatedService store: which watch events change what a reconcile reads (and so queue one), and
that it keeps no server-side apply bookkeeping."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from federation_operator.controllers.federated_service import FederatedServiceStore


def body(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "fedop.io/v1alpha1",
        "kind": "FederatedService",
        "metadata": {
            "name": "nginx",
            "namespace": "mynamespace",
            "uid": "u-1",
            "generation": 1,
            "resourceVersion": "100",
            "creationTimestamp": "2026-12-04T00:00:00Z",
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"template": {"spec": {"ports": [{"port": 80}]}}},
    }
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = obj
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return obj


def test_the_first_sight_of_an_object_is_a_change() -> None:
    store = FederatedServiceStore()
    assert store.put(body()) == (("mynamespace", "nginx"), True)


WRITTEN = {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"metadata__resourceVersion": "101", "status": dict(WRITTEN)}, id="our own status"),
        pytest.param(
            {"metadata__resourceVersion": "101", "metadata__finalizers": ["fedop.io/cleanup"]},
            id="our finalizer",
        ),
        pytest.param({"metadata__managedFields": [{"manager": "federation-operator"}]}, id="managed fields"),
    ],
)
def test_echoes_of_our_own_writes_are_no_change(changes: dict[str, Any]) -> None:
    store = FederatedServiceStore()
    written = WRITTEN if "status" in changes else None
    store.put(body(status=written) if written else body(), ours=lambda _key: written)
    assert store.put(body(**changes), ours=lambda _key: written) == (("mynamespace", "nginx"), False)
    kept = store.get(("mynamespace", "nginx"))
    assert kept is not None
    assert kept.get("status") == changes.get("status"), "the latest body must be kept all the same"
    if written is not None:
        assert kept["status"] is written, "a status equal to ours must be held once, as ours"


def test_a_status_we_did_not_write_is_a_change() -> None:
    store = FederatedServiceStore()
    store.put(body(status=WRITTEN), ours=lambda _key: WRITTEN)
    edited = body(status={**WRITTEN, "observedGeneration": 7})  # someone else wrote the status
    assert store.put(edited, ours=lambda _key: WRITTEN) == (("mynamespace", "nginx"), True)
    assert store.put(body(), ours=lambda _key: WRITTEN)[1], "a status removed by someone else"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(
            {"metadata__generation": 2, "spec": {"template": {"spec": {"ports": [{"port": 8080}]}}}},
            id="spec",
        ),
        pytest.param({"metadata__deletionTimestamp": "2026-12-04T01:00:00Z"}, id="deletion"),
        pytest.param({"metadata__uid": "u-2"}, id="re-created under the same name"),
        pytest.param({"metadata__labels": {"team": "web"}}, id="labels"),
    ],
)
def test_what_a_reconcile_reads_is_a_change(changes: dict[str, Any]) -> None:
    store = FederatedServiceStore()
    store.put(body())
    assert store.put(body(**changes)) == (("mynamespace", "nginx"), True)


def test_the_store_keeps_no_managed_fields_and_leaves_the_watched_object_alone() -> None:
    store = FederatedServiceStore()
    original = body()
    snapshot = copy.deepcopy(original)
    store.put(original)
    kept = store.get(("mynamespace", "nginx"))
    assert kept is not None
    assert "managedFields" not in kept["metadata"]
    assert kept == {
        **snapshot,
        "metadata": {k: v for k, v in snapshot["metadata"].items() if k != "managedFields"},
    }
    assert original == snapshot


def test_a_relist_keeps_exactly_what_was_listed_and_names_the_news_and_the_gone() -> None:
    """Put page by page, then the keys listed kept: the others are forgotten and named."""
    store = FederatedServiceStore()
    store.put(body())
    store.put(body(metadata__name="kept"))
    store.put(body(metadata__name="deleted-while-away"))

    listed = [body(metadata__name="kept"), body(spec__ports=[{"port": 81}]), body(metadata__name="new")]
    results = [store.put(each) for each in listed]
    news = [key for key, changed in results if changed]
    gone = store.keep_only({key for key, _ in results})

    assert sorted(news) == [("mynamespace", "new"), ("mynamespace", "nginx")]  # "kept" is unchanged
    assert gone == [("mynamespace", "deleted-while-away")]
    assert sorted(store.known()) == [
        ("mynamespace", "kept"),
        ("mynamespace", "new"),
        ("mynamespace", "nginx"),
    ]
    assert store.get(("mynamespace", "deleted-while-away")) is None
