"""The events the operator posts: what `kubectl describe` shows of them, where they go, long messages, and
how the poster sends them (what queued up, several at once; a failed post drops only that event)."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any, TypeVar, cast

from federation_operator.kube.client import ClusterClient
from federation_operator.kube.events import MAX_MESSAGE_LENGTH, POSTS_AT_ONCE, EventPoster, render_event
from federation_operator.kube.transport import Call, Exchange, RawResponse

T = TypeVar("T")

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


async def test_events_that_queued_up_are_posted_together_and_a_failure_drops_only_its_own() -> None:
    """While one post is out, the events emitted meanwhile queue up; they then go out together (their
    answers read in one wake-up of the loop), never more than POSTS_AT_ONCE at a time, and an event the API
    server refuses is dropped alone."""
    release = asyncio.Event()
    out = 0
    most = 0
    posted: list[str] = []

    async def send(_api: object, exchange: Exchange[T], *, within: float | None = None) -> T:
        nonlocal out, most
        out += 1
        most = max(most, out)
        try:
            await release.wait()
            await asyncio.sleep(0)  # on the wire: the other posts of its batch go out meanwhile
            call = Call(exchange, None)
            assert call.request is not None
            message = cast(dict[str, Any], call.request.body)["message"]
            call.answer(RawResponse(403 if message == "refused" else 201, b"{}", {}))
            result = call.result  # raises for the refused one
            posted.append(message)
            return result
        finally:
            out -= 1

    poster = EventPoster(
        cast(ClusterClient, None), send=send, component="federation-operator", instance="op-0"
    )
    task = asyncio.get_running_loop().create_task(poster.run())
    try:
        poster.emit(FSVC, "Normal", "Created", "first")
        await asyncio.sleep(0)  # the first post is out, held
        for i in range(2 * POSTS_AT_ONCE):
            poster.emit(FSVC, "Normal", "Created", "refused" if i == 3 else f"event {i}")
        release.set()
        for _ in range(100):
            if poster.posted == 2 * POSTS_AT_ONCE:
                break
            await asyncio.sleep(0.01)
        assert poster.posted == 2 * POSTS_AT_ONCE  # all but the refused one
        assert "refused" not in posted
        assert sorted(posted) == sorted(
            ["first", *(f"event {i}" for i in range(2 * POSTS_AT_ONCE) if i != 3)]
        )
        assert most == POSTS_AT_ONCE, "the queued events went out together, at most POSTS_AT_ONCE at a time"
    finally:
        task.cancel()
