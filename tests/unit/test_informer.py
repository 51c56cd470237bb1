"""The informers' handling of watch events without a server (what they hand their consumer, what they count:
``MemberWatch`` and ``AsyncMemberWatch`` alike), and the reading of a watch's stream into JSON values (in a
thread, ``read_json_lines``; on the loop, ``JsonLines``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from federation_operator.kube.async_informer import AsyncMemberWatch
from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.informer import SERVICES, MemberWatch, WatchCore, WatchCounters
from federation_operator.kube.transport import JsonLines, read_json_lines


@pytest.mark.parametrize("informer", ["thread", "event loop"])
def test_events_are_handed_over_and_counted_bookmarks_only_counted(informer: str) -> None:
    seen: list[tuple[str, str]] = []
    options: dict[str, Any] = {
        "label_selector": "",
        "on_event": lambda kind, obj: seen.append((kind, obj["metadata"]["name"])),
    }
    # Nothing is requested (no api): events are handed in directly.
    watch: WatchCore = (
        MemberWatch(None, SERVICES, **options)  # type: ignore[arg-type]
        if informer == "thread"
        else AsyncMemberWatch(None, SERVICES, transport=AsyncTransport(), **options)  # type: ignore[arg-type]
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


class _Chunks:
    """A streamed response's chunks, as urllib3 hands them out."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    def stream(self, _amount: int) -> Iterator[bytes]:
        yield from self.chunks


def test_json_lines_end_between_chunks_once_stopping() -> None:
    lines = read_json_lines(_Chunks(b'{"a":1}\n{"b":2}\n', b'{"c":3}\n'), lambda: True)  # type: ignore[arg-type]
    assert list(lines) == [{"a": 1}, {"b": 2}]


def _read_in_a_thread(*chunks: bytes) -> list[Any]:
    return list(read_json_lines(_Chunks(*chunks), lambda: False))  # type: ignore[arg-type]


def _read_on_the_loop(*pieces: bytes) -> list[Any]:
    lines = JsonLines()
    return [value for piece in pieces for value in lines.feed(piece)] + lines.end()


@pytest.mark.parametrize("read", [_read_in_a_thread, _read_on_the_loop], ids=["thread", "event loop"])
def test_json_lines_are_read_across_pieces_blank_ones_skipped_and_a_bad_one_refused(
    read: Callable[..., list[Any]],
) -> None:
    assert read(b'{"a":1}\n') == [{"a": 1}]
    assert read(b'{"a":1}\n{"b"', b":2}\n", b"\n  \n", b'{"c":3}') == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert read(b'{"a"', b":1", b"}\r\n") == [{"a": 1}]
    assert read(b"\r\n", b"  ") == []
    with pytest.raises(ValueError, match="line 1 column 1"):
        read(b'{"a":1}\nnot JSON\n')
