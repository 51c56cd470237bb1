"""Kubernetes events about our objects, posted once per distinct message.

Reconciles are level-triggered and run again and again; an event should not. An :class:`EventReporter`
remembers, per object and *topic* (what the message is about: the spec, DNS, one member cluster...), the last
reason and message it posted, and posts again only when they change, or after :meth:`clear` (the problem
went away, so its return is news). Each posted event is logged too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from federation_operator.domain.keys import Key, object_key

__all__ = ["EventReporter", "EventSink"]

# (object body, type "Normal"/"Warning", reason, message) -> posts the event
EventSink = Callable[[Mapping[str, Any], str, str, str], None]


class EventReporter:
    def __init__(self, emit: EventSink, log: logging.Logger) -> None:
        self._emit = emit
        self._log = log
        # object → topic → what was last posted about it. Per object, so that forgetting one deleted object
        # costs its own topics, not a scan of every object's (a bulk delete of N objects was O(N²)).
        self._last: dict[Key, dict[str, str]] = {}

    def report(self, body: Mapping[str, Any], topic: str, kind: str, reason: str, message: str) -> None:
        """Post unless this is what was last posted about ``topic`` of this object."""
        key = object_key(body)
        said = f"{reason}:{message}"
        topics = self._last.setdefault(key, {})
        if topics.get(topic) == said:
            return
        topics[topic] = said
        self.post(body, kind, reason, message)

    def post(self, body: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        """Post (and log) unconditionally: for news that is never a repeat, such as a write just made."""
        where = "/".join(part for part in object_key(body) if part)
        level = logging.WARNING if kind == "Warning" else logging.INFO
        self._log.log(level, "%s: %s: %s", where, reason, message)
        self._emit(body, kind, reason, message)

    def clear(self, key: Key, topic: str) -> None:
        topics = self._last.get(key)
        if topics is not None:
            topics.pop(topic, None)
            if not topics:
                del self._last[key]

    def forget(self, key: Key) -> None:
        """The object is gone: drop everything remembered about it."""
        self._last.pop(key, None)

    def __len__(self) -> int:
        """How many objects something is remembered about."""
        return len(self._last)
