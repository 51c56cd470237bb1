"""The operator's own error hierarchy.

Every failure is either *transient* (retry with backoff: a member API that timed out, a throttled DNS
provider) or *permanent* (report it on the object's status and stop retrying until the object changes).
Third-party exceptions are mapped to these once, at the I/O boundary, with ``raise ... from exc``; only the
kopf handlers translate them to kopf's own ``TemporaryError`` / ``PermanentError``.
"""

from __future__ import annotations

__all__ = [
    "FederationError",
    "InvalidSpecError",
    "PermanentError",
    "RejectedChangeError",
    "StaleChangesError",
    "SuspectChangeError",
    "TransientError",
]


class FederationError(Exception):
    """Base class of every error this operator raises on purpose."""


class TransientError(FederationError):
    """A failure that may go away by itself; the caller retries, after ``delay`` seconds when given."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class StaleChangesError(TransientError):
    """A DNS zone no longer holds what the plan was computed against (a deletion or update found other
    content, a creation found a record set already there): read the zone again and plan again.

    Transient because a fresh plan fixes it: either the plan now fits, or the diff reports a conflict.
    """


class PermanentError(FederationError):
    """A failure that retrying cannot fix; it is reported on the object until the object changes."""


class SuspectChangeError(TransientError):
    """A DNS server failed a change in a way that may be the change's fault or the server's (BIND answers
    SERVFAIL both when it is broken and when a record set would exceed ``max-records-per-type``).

    The publisher splits such a change: a part that keeps failing while other parts go through is that
    part's permanent error (its owner is told); when nothing goes through, it is the server's transient fault.
    """


class RejectedChangeError(PermanentError):
    """A DNS provider refused what a change holds (a record set it does not accept), not the operator or the
    zone: other changes would go through, so the publisher splits the change to find the owner at fault."""


class InvalidSpecError(PermanentError):
    """A custom resource's spec (or status) failed validation.

    ``field`` is the path of the first failing field, as the API server would print it
    (``spec.dns.ttl``, ``spec.template.spec.ports[1].name``); ``problems`` holds every
    ``(field, message)`` pair found, in the order they were found.
    """

    def __init__(self, problems: tuple[tuple[str, str], ...]) -> None:
        if not problems:
            raise ValueError("InvalidSpecError needs at least one problem")
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))
        self.problems = problems
        self.field = problems[0][0]
        self.message = problems[0][1]
