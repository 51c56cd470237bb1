"""The informer's handling of watch events without a server (what it hands its consumer, what it counts),
and the reading of a watch's stream into JSON values (``JsonLines``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from federation_operator.kube.async_informer import SERVICES, AsyncMemberWatch, WatchCounters
from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.client import ClusterClient, ClusterConfig
from federation_operator.kube.transport import JsonLines


def test_events_are_handed_over_and_counted_bookmarks_only_counted() -> None:
    seen: list[tuple[str, str]] = []
    # Nothing is requested (no api): events are handed in directly.
    watch = AsyncMemberWatch(
        None,  # type: ignore[arg-type]
        SERVICES,
        transport=AsyncTransport(),
        label_selector="",
        on_event=lambda kind, obj: seen.append((kind, obj["metadata"]["name"])),
    )

    def event(kind: str, version: str, name: str = "nginx") -> dict[str, Any]:
        return {"type": kind, "object": {"metadata": {"name": name, "resourceVersion": version}}}

    version = "1"
    for one in (
        event("ADDED", "2"),
        event("BOOKMARK", "3", ""),
        event("MODIFIED", "4"),
        event("DELETED", "5"),
    ):
        version = watch._handle(one, version)
    assert version == "5"
    assert seen == [("ADDED", "nginx"), ("MODIFIED", "nginx"), ("DELETED", "nginx")]
    assert watch.counters == WatchCounters(events=3, bookmarks=1)


def _read(*pieces: bytes) -> list[Any]:
    lines = JsonLines()
    return [value for piece in pieces for value in lines.feed(piece)] + lines.end()


def test_json_lines_are_read_across_pieces_blank_ones_skipped_and_a_bad_one_refused() -> None:
    assert _read(b'{"a":1}\n') == [{"a": 1}]
    assert _read(b'{"a":1}\n{"b"', b":2}\n", b"\n  \n", b'{"c":3}') == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert _read(b'{"a"', b":1", b"}\r\n") == [{"a": 1}]
    assert _read(b"\r\n", b"  ") == []
    with pytest.raises(ValueError, match="line 1 column 1"):
        _read(b'{"a":1}\nnot JSON\n')


async def test_retry_now_ends_the_wait_after_a_failure() -> None:
    """A watch waiting out its backoff after a failure tries again at once when told the member answers
    (its probe did), rather than leaving its index stale for the rest of a backoff grown while the member
    was down."""
    errors: list[str] = []
    failed = asyncio.Event()

    def on_error(message: str) -> None:
        errors.append(message)
        failed.set()

    transport = AsyncTransport()
    watch = AsyncMemberWatch(
        ClusterClient(
            ClusterConfig(server="https://127.0.0.1:9")
        ),  # nothing listens there: each attempt fails
        SERVICES,
        transport=transport,
        label_selector="",
        on_event=lambda kind, obj: None,
        on_error=on_error,
        request_timeout=2.0,
        backoff_initial=600.0,  # the next attempt would be 8 to 10 minutes away
        backoff_max=600.0,
    )
    watch.start()
    try:
        await asyncio.wait_for(failed.wait(), 30)
        failed.clear()
        watch.retry_now()
        await asyncio.wait_for(failed.wait(), 30)  # the second attempt, long before the backoff's end
        assert len(errors) == 2
    finally:
        await watch.wait_stopped()
        await transport.close()
