"""The events the operator posts: what `kubectl describe` shows of them, where they go, and long messages."""

from __future__ import annotations

import datetime

from federation_operator.kube.events import MAX_MESSAGE_LENGTH, render_event

NOW = datetime.datetime(2026, 12, 4, 12, 0, 0, 123456, tzinfo=datetime.UTC)


def render(body: dict[str, object], message: str = "3 of 4 shards healthy") -> dict[str, object]:
    return render_event(
        body, "Warning", "ShardUnhealthy", message, component="federation-operator", instance="op-0", now=NOW
    )


FSVC = {
    "apiVersion": "fedop.io/v1alpha1",
    "kind": "FederatedService",
    "metadata": {"name": "nginx", "namespace": "mynamespace", "uid": "u-1", "resourceVersion": "7"},
    "spec": {"ignored": True},
}


def test_an_event_names_its_object_and_says_who_reported_it() -> None:
    event = render(FSVC)
    assert event["metadata"] == {"namespace": "mynamespace", "generateName": "fedop-"}
    assert event["involvedObject"] == {
        "apiVersion": "fedop.io/v1alpha1",
        "kind": "FederatedService",
        "name": "nginx",
        "namespace": "mynamespace",
        "uid": "u-1",
    }
    assert (event["type"], event["reason"], event["message"]) == (
        "Warning",
        "ShardUnhealthy",
        "3 of 4 shards healthy",
    )
    assert event["source"] == {"component": "federation-operator"}
    assert (event["reportingComponent"], event["reportingInstance"]) == ("federation-operator", "op-0")
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2026-12-04T12:00:00.123456+00:00"


def test_a_cluster_scoped_objects_events_go_to_the_default_namespace() -> None:
    member = {"apiVersion": "fedop.io/v1alpha1", "kind": "MemberCluster", "metadata": {"name": "gke-eu"}}
    event = render(member)
    assert event["metadata"] == {"namespace": "default", "generateName": "fedop-"}
    assert event["involvedObject"]["namespace"] == "default"  # type: ignore[index]


def test_a_long_message_keeps_its_start_and_its_end() -> None:
    message = "start " + "x" * 5000 + " end"
    said = str(render(FSVC, message)["message"])
    assert len(said) <= MAX_MESSAGE_LENGTH
    assert said.startswith("start ")
    assert said.endswith(" end")
    assert " … " in said
