"""Leader election's decision (pure): who takes, renews or waits for the Lease, on the candidate's clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation_operator.kube.lease import Action, LeaseRecord, LeaseTimings, plan_attempt


def record(holder: str, duration: int = 15, renew_time: str = "t0") -> LeaseRecord:
    return LeaseRecord(
        holder=holder,
        lease_duration_seconds=duration,
        transitions=0,
        renew_time=renew_time,
        resource_version="1",
    )


@pytest.mark.parametrize(
    ("lease", "observed_at", "now", "expected"),
    [
        pytest.param(None, 0.0, 0.0, Action.CREATE, id="no-lease-yet"),
        pytest.param(record("me"), 0.0, 100.0, Action.RENEW, id="ours-even-if-old"),
        pytest.param(record(""), 0.0, 0.0, Action.TAKE, id="released"),
        pytest.param(record("other"), 10.0, 24.9, Action.WAIT, id="other-holder-fresh"),
        pytest.param(record("other"), 10.0, 25.0, Action.TAKE, id="other-holder-expired"),
        pytest.param(record("other", duration=60), 10.0, 30.0, Action.WAIT, id="holder-duration-wins"),
        pytest.param(record("other", duration=1), 10.0, 11.0, Action.TAKE, id="short-lease-expired"),
    ],
)
def test_plan_attempt(lease: LeaseRecord | None, observed_at: float, now: float, expected: Action) -> None:
    assert plan_attempt(lease, "me", observed_at, now) is expected


@given(
    duration=st.integers(min_value=1, max_value=300),
    observed_at=st.floats(min_value=0, max_value=1e6),
    elapsed=st.floats(min_value=0, max_value=1e3),
)
def test_another_holder_is_never_displaced_before_its_duration(
    duration: int, observed_at: float, elapsed: float
) -> None:
    """Whatever the clocks say, a live holder's Lease is taken only after its full duration on ours."""
    action = plan_attempt(record("other", duration=duration), "me", observed_at, observed_at + elapsed)
    assert (action is Action.TAKE) == (elapsed >= duration)
    assert action in (Action.TAKE, Action.WAIT)


def test_record_content_ignores_the_resource_version() -> None:
    a = record("other")
    b = LeaseRecord("other", 15, 0, "t0", resource_version="2")
    assert a.content == b.content
    assert record("other", renew_time="t1").content != a.content


@pytest.mark.parametrize(
    ("timings"),
    [(15, 15, 2), (15, 10, 10), (15, 10, 0), (10, 15, 2)],
    ids=["renew-equals-lease", "retry-equals-renew", "no-retry", "renew-past-lease"],
)
def test_timings_must_leave_a_margin(timings: tuple[float, float, float]) -> None:
    lease, renew, retry = timings
    with pytest.raises(ValueError, match="retry period < renew deadline < lease duration"):
        LeaseTimings(lease_duration=lease, renew_deadline=renew, retry_period=retry)
