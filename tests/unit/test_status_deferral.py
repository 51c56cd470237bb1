"""How long a status write waits for the DNS provider's answer to the records just submitted: a window from
each submission of new records (not from the first), a bounded number of them in a row, and none left
once the status is written."""

from __future__ import annotations

from federation_operator.controllers.federated_service import (
    STATUS_DEFER_SECONDS,
    STATUS_DEFER_SUBMISSIONS,
    StatusDeferral,
)
from federation_operator.domain.records import RecordSet

KEY = ("mynamespace", "nginx")
OTHER = ("mynamespace", "other")


def records(*addresses: str) -> tuple[RecordSet, ...]:
    return (RecordSet(name="nginx.example.com.", type="A", ttl=180, values=addresses),)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_wait_restarts_with_records_submitted_after_the_first_window() -> None:
    """A new object: its first reconcile submits no records, its shards turn healthy seconds later. The
    records submitted then get a window of their own (counted from the first, the status went out as
    Pending a moment before the provider's answer)."""
    clock = Clock()
    deferral = StatusDeferral(clock)
    assert deferral.wait(KEY, ())
    clock.now += 5.0  # the member Services' addresses arrive
    assert deferral.wait(KEY, records("127.0.0.1"))
    clock.now += STATUS_DEFER_SECONDS / 2
    assert deferral.wait(KEY, records("127.0.0.1")), "an equal resubmission waits out the same window"
    clock.now += STATUS_DEFER_SECONDS / 2
    assert not deferral.wait(KEY, records("127.0.0.1")), "the window is over: the status is written"
    assert deferral.wait(OTHER, ()), "each object waits on its own"


def test_records_that_keep_changing_hold_the_status_back_a_bounded_number_of_times() -> None:
    clock = Clock()
    deferral = StatusDeferral(clock)
    for submission in range(STATUS_DEFER_SUBMISSIONS):
        assert deferral.wait(KEY, records(f"127.0.0.{submission + 1}"))
        clock.now += STATUS_DEFER_SECONDS / 10
    assert not deferral.wait(KEY, records("127.0.0.200"))
    deferral.end(KEY)  # the status was written: the next submission waits again
    assert deferral.wait(KEY, records("127.0.0.201"))
