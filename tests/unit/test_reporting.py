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


def test_nothing_is_kept_of_an_object_forgotten_or_all_of_whose_topics_were_cleared() -> None:
    """A deleted FederatedService leaves no bookkeeping behind (memory comes back after a bulk delete)."""
    events, _posted = reporter()
    for i in range(100):
        body = {"metadata": {"namespace": "ns", "name": f"web-{i}"}}
        events.report(body, "spec", "Warning", "InvalidSpec", "bad")
        events.report(body, "dns", "Normal", "DNSPublished", "10 record sets")
    assert len(events) == 100
    for i in range(50):
        events.forget(("ns", f"web-{i}"))
    for i in range(50, 100):
        events.clear(("ns", f"web-{i}"), "spec")
        assert len(events) == 100 - i  # one topic left: still remembered
        events.clear(("ns", f"web-{i}"), "dns")
    assert len(events) == 0
