"""How long a status write waits for the DNS provider's answer to the records just submitted: a window from
each submission of new records (not from the first), a bounded number of them in a row, and none left
once the status is written; and none while the operator's view is incomplete, for an object that has one."""

from __future__ import annotations

import asyncio
from typing import Any

from federation_operator.controllers.federated_service import (
    STATUS_DEFER_SECONDS,
    STATUS_DEFER_SUBMISSIONS,
    StatusDeferral,
)
from federation_operator.domain.health import HealthSnapshot
from federation_operator.domain.records import RecordSet
from federation_operator.domain.status import FederatedServiceStatus
from federation_operator.kube.transport import Exchange
from federation_operator.planning.reconcile import Federation, ReconcilePlan
from tests.controllers import bare_controller

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


def test_while_the_view_is_incomplete_a_status_already_written_is_kept() -> None:
    """A member not connected, listed or probed yet (the operator has just started, or the member lists
    again): a reconcile sees a partial view that the next, once the view is complete, takes back. The status
    an object already has is kept meanwhile (no write each way for every object at each restart); a new
    object's first status is written all the same."""
    writes: list[str] = []  # the paths of the status writes sent

    async def send(_api: Any, exchange: Exchange[Any], *, within: float | None = None) -> Any:
        writes.append(next(exchange).path)
        return None

    async def scenario() -> None:
        controller = bare_controller(Federation(name="myfederation", domain="example.com"), send=send)
        hold = HealthSnapshot((), hold_reason="gce-us-central1 has not been read completely yet")
        plan = ReconcilePlan(health=hold, records=None, status=FederatedServiceStatus(observed_generation=2))
        written = {
            "metadata": {"namespace": "mynamespace", "name": "nginx"},
            "status": {"observedGeneration": 1},
        }
        new = {"metadata": {"namespace": OTHER[0], "name": OTHER[1]}}
        await controller._settle(KEY, written, plan)
        assert writes == [], "kept as it is while the view is incomplete"
        await controller._settle(OTHER, new, plan)
        assert len(writes) == 1, "a new object's first status is written"
        assert writes[0].endswith(f"/namespaces/{OTHER[0]}/federatedservices/{OTHER[1]}/status")
        complete = ReconcilePlan(health=HealthSnapshot(()), records=None, status=plan.status)
        await controller._settle(KEY, written, complete)
        assert len(writes) == 2, "written once the view is complete"

    asyncio.run(scenario())
