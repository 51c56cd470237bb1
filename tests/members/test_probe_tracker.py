"""ProbeTracker: failure and success thresholds turn runs of probe results into Ready transitions (pure)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from federation_operator.domain.members import ProbeResult
from federation_operator.domain.specs import ProbeSettings
from federation_operator.kube.probe import ProbeState, ProbeTracker

T0 = datetime(2025, 1, 1, tzinfo=UTC)
OK = ProbeResult(ok=True, kubernetes_version="v1.33.13")


def failed(reason: str = "connection refused") -> ProbeResult:
    return ProbeResult(ok=False, error=reason)


def run(tracker: ProbeTracker, results: str) -> list[ProbeState]:
    """Feed ``results`` ("+" success, "-" failure), one per period of 10 s from T0."""
    return [
        tracker.observe(OK if r == "+" else failed(), T0 + timedelta(seconds=10 * i))
        for i, r in enumerate(results)
    ]


@pytest.mark.parametrize(
    ("failure_threshold", "success_threshold", "initially_ready", "results", "readiness"),
    [
        pytest.param(3, 1, False, "+", "R", id="first success makes ready"),
        pytest.param(3, 2, False, "+-++", "...R", id="success run broken by a failure restarts"),
        pytest.param(3, 1, True, "--+--", "RRRRR", id="failures below threshold keep ready"),
        pytest.param(3, 1, True, "---", "RR.", id="third failure in a row makes not ready"),
        pytest.param(1, 1, True, "-+-", ".R.", id="thresholds of one flip on every change"),
        pytest.param(2, 3, True, "--+++", "R...R", id="recovery needs the success threshold"),
        pytest.param(3, 1, False, "---", "...", id="failures of a not-ready member change nothing"),
    ],
)
def test_thresholds(
    failure_threshold: int, success_threshold: int, initially_ready: bool, results: str, readiness: str
) -> None:
    settings = ProbeSettings(failure_threshold=failure_threshold, success_threshold=success_threshold)
    tracker = ProbeTracker(settings, ready=initially_ready)
    states = run(tracker, results)
    assert "".join("R" if s.ready else "." for s in states) == readiness
    previous = [initially_ready, *(s.ready for s in states)]
    assert [s.changed for s in states] == [a != b for a, b in itertools.pairwise(previous)]
    assert tracker.ready == states[-1].ready


def test_transition_time_is_the_flipping_result_time() -> None:
    tracker = ProbeTracker(ProbeSettings(failure_threshold=2, success_threshold=1))
    assert tracker.state.last_transition is None
    states = run(tracker, "+--+")
    assert [s.last_transition for s in states] == [
        T0,
        T0,
        T0 + timedelta(seconds=20),
        T0 + timedelta(seconds=30),
    ]


def test_last_error_is_the_latest_failure_until_a_success() -> None:
    tracker = ProbeTracker(ProbeSettings(), ready=True)
    tracker.observe(failed("timed out"), T0)
    assert tracker.observe(failed("unauthorized"), T0).last_error == "unauthorized"
    assert tracker.state.consecutive_failures == 2
    assert tracker.observe(ProbeResult(ok=False), T0).last_error == "probe failed"
    state = tracker.observe(OK, T0)
    assert state.last_error is None
    assert (state.consecutive_successes, state.consecutive_failures) == (1, 0)


def test_new_thresholds_apply_to_the_current_run() -> None:
    tracker = ProbeTracker(ProbeSettings(failure_threshold=5), ready=True)
    run(tracker, "--")
    tracker.settings = ProbeSettings(failure_threshold=3)
    assert tracker.observe(failed(), T0).changed
    assert not tracker.ready
