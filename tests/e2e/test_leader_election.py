"""Leader election against the host cluster's real apiserver: acquire, stand by, release, expiry, a race
for a free Lease (exactly one winner), and a holder that loses its Lease."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client
from localfed import LocalFederation
from localfed.operator import eventually

from federation_operator.kube.host import build_host_client
from federation_operator.kube.lease import LeaseElector, LeaseTimings

pytestmark = pytest.mark.e2e

NAMESPACE = "default"
FAST = LeaseTimings(lease_duration=3, renew_deadline=2, retry_period=0.3)


@pytest.fixture
def lease_name(federation: LocalFederation) -> Iterator[str]:
    name = f"election-{uuid.uuid4().hex[:6]}"
    yield name
    federation.kubectl("federation", "delete", "lease", "-n", NAMESPACE, name, "--ignore-not-found")


def elector(fed: LocalFederation, name: str, identity: str) -> LeaseElector:
    return LeaseElector(
        build_host_client(fed.kubeconfig, "federation"),
        namespace=NAMESPACE,
        name=name,
        identity=identity,
        timings=FAST,
    )


def holder(fed: LocalFederation, name: str) -> tuple[str, int]:
    lease = client.CoordinationV1Api(fed.api_client("federation")).read_namespaced_lease(name, NAMESPACE)
    return lease.spec.holder_identity or "", lease.spec.lease_transitions or 0


def test_one_holder_then_clean_handover(federation: LocalFederation, lease_name: str) -> None:
    a, b = elector(federation, lease_name, "a"), elector(federation, lease_name, "b")
    assert a.acquire(threading.Event())
    assert holder(federation, lease_name) == ("a", 0)
    lost: list[str] = []
    a.hold(on_lost=lost.append)

    stop, won = threading.Event(), threading.Event()
    standby = threading.Thread(target=lambda: b.acquire(stop) and won.set())
    standby.start()
    try:
        # While a renews, b keeps standing by, however long that is (several lease durations here).
        deadline = time.monotonic() + 2 * FAST.lease_duration
        while time.monotonic() < deadline:
            assert not won.is_set()
            assert holder(federation, lease_name)[0] == "a"
            time.sleep(FAST.retry_period)
        a.release()
        eventually("b holds the Lease after a released it", won.is_set, timeout=10)
        assert holder(federation, lease_name) == ("b", 1)
        assert lost == []
    finally:
        stop.set()
        standby.join(10)


def test_an_expired_holder_is_replaced_only_after_the_lease_duration(
    federation: LocalFederation, lease_name: str
) -> None:
    crashed = elector(federation, lease_name, "crashed")
    assert crashed.try_acquire_or_renew()  # then never renews again, as if killed
    successor = elector(federation, lease_name, "successor")
    started = time.monotonic()
    assert successor.acquire(threading.Event())
    # Measured on the successor's own clock from its first sight of the record: never earlier.
    assert time.monotonic() - started >= FAST.lease_duration
    assert holder(federation, lease_name) == ("successor", 1)
    assert not crashed.try_acquire_or_renew()


def test_candidates_racing_for_a_free_lease_have_exactly_one_winner(
    federation: LocalFederation, lease_name: str
) -> None:
    candidates = [elector(federation, lease_name, f"c{i}") for i in range(4)]
    for round_ in range(5):
        barrier = threading.Barrier(len(candidates))
        results: dict[str, bool] = {}

        threads = [threading.Thread(target=attempt, args=(c, barrier, results)) for c in candidates]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        winners = [name for name, won in results.items() if won]
        assert len(results) == len(candidates)
        assert len(winners) == 1, f"round {round_}: {results}"
        assert holder(federation, lease_name)[0] == winners[0]
        next(c for c in candidates if c.identity == winners[0]).release()


def attempt(candidate: LeaseElector, barrier: threading.Barrier, results: dict[str, bool]) -> None:
    barrier.wait()
    results[candidate.identity] = candidate.try_acquire_or_renew()


def test_a_holder_that_sees_another_holder_reports_the_loss(
    federation: LocalFederation, lease_name: str
) -> None:
    a = elector(federation, lease_name, "a")
    assert a.acquire(threading.Event())
    lost: list[str] = []
    a.hold(on_lost=lost.append)
    try:
        # Someone else writes itself in (an operator with another view of the world, or a human).
        federation.kubectl(
            "federation", "patch", "lease", "-n", NAMESPACE, lease_name, "--type=merge",
            "-p", '{"spec": {"holderIdentity": "intruder"}}',
        )  # fmt: skip
        eventually("a notices it lost the Lease", lambda: lost, timeout=10)
        assert lost == ["intruder holds it now"]
    finally:
        a.release()
    assert holder(federation, lease_name)[0] == "intruder"  # release never clears someone else's hold
