"""Events once per distinct message: per object and topic, again after a change or a clear."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from federation_operator.domain.keys import object_key
from federation_operator.observability.events import EventReporter

FSVC = {"metadata": {"namespace": "ns", "name": "web"}}
MC = {"metadata": {"name": "gce-us-central1"}}


def reporter() -> tuple[EventReporter, list[tuple[str, str, str, str]]]:
    posted: list[tuple[str, str, str, str]] = []

    def emit(body: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        posted.append((body["metadata"]["name"], kind, reason, message))

    return EventReporter(emit, logging.getLogger("test")), posted


def test_a_message_is_posted_once_until_it_changes_or_is_cleared() -> None:
    events, posted = reporter()
    for _ in range(3):
        events.report(FSVC, "dns", "Warning", "DNSConflict", "a foreign CNAME")
    assert posted == [("web", "Warning", "DNSConflict", "a foreign CNAME")]
    events.report(FSVC, "dns", "Normal", "DNSPublished", "10 record sets")
    events.clear(object_key(FSVC), "dns")
    events.report(FSVC, "dns", "Normal", "DNSPublished", "10 record sets")
    assert [p[2] for p in posted] == ["DNSConflict", "DNSPublished", "DNSPublished"]


def test_topics_and_objects_are_independent_and_forget_drops_an_object() -> None:
    events, posted = reporter()
    events.report(FSVC, "spec", "Warning", "InvalidSpec", "bad")
    events.report(FSVC, "conflict/a", "Warning", "InvalidSpec", "bad")
    events.report(MC, "member", "Warning", "InvalidSpec", "bad")
    assert len(posted) == 3
    assert object_key(MC) == ("", "gce-us-central1")
    events.forget(object_key(FSVC))
    events.report(FSVC, "spec", "Warning", "InvalidSpec", "bad")
    events.report(MC, "member", "Warning", "InvalidSpec", "bad")
    assert len(posted) == 4
