"""The host cluster's control plane down for a minute: DNS answers what it answered before, throughout (BIND's
SOA serial never moves and every name of the control FederatedService resolves to the same addresses), and
once the host is back the operator acts on changes again."""

from __future__ import annotations

import time

import pytest
from localfed import LocalFederation
from localfed.operator import OperatorProcess, eventually, is_member_ready

from tests.e2e.conftest import Control
from tests.e2e.test_dns import Answer, ask
from tests.e2e.test_propagation import quiet_serial, soa_serial

pytestmark = [pytest.mark.e2e, pytest.mark.dns]

HOST = "federation"
OUTAGE_SECONDS = 60.0


def answers(control: Control) -> dict[str, Answer]:
    fed, seed = control.seed.fed, control.seed
    regions = sorted({m.spec.region for m in fed.members if m.spec.region})
    names = [seed.global_name(), *(seed.tier_name(region) for region in regions)]
    return {name: ask(fed, name) for name in names}


def test_dns_is_unchanged_while_the_host_control_plane_is_down(
    operator: OperatorProcess, registered: LocalFederation, control: Control
) -> None:
    fed = registered
    # A test before may have left it recovering (a member re-joined): as it was first, then quiet.
    control.assert_recovered()
    serial = eventually("DNS quiet", lambda: quiet_serial(fed), timeout=60)
    before = answers(control)
    assert before[control.seed.global_name()].addresses == control.addresses
    checks = 0
    fed.stop_apiserver(HOST)
    try:
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:
            assert soa_serial(fed) == serial, f"the zone changed {checks} checks into the host outage"
            assert answers(control) == before, f"an answer changed {checks} checks into the host outage"
            checks += 1
            time.sleep(1)
    finally:
        fed.start_apiserver(HOST)
    assert checks >= OUTAGE_SECONDS / 2
    assert operator.alive(), f"the operator died during the host outage:\n{operator.tail()}"
    eventually("every member Ready", lambda: all(is_member_ready(fed, m.spec.name) for m in fed.members), 90)

    # The operator acts on changes again: a backend failure fails over, and recovers.
    seed, failing = control.seed, sorted(m.spec.name for m in fed.members)[0]
    address, everyone = seed.address(failing), control.addresses
    assert fed.set_backends_ready(failing, seed.namespace, f"run={seed.name}", ready=False) == 1
    try:
        eventually(
            f"{failing} out of the global name",
            lambda: ask(fed, seed.global_name()).addresses == everyone - {address},
            timeout=60,
        )
    finally:
        fed.set_backends_ready(failing, seed.namespace, f"run={seed.name}", ready=True)
    control.assert_recovered()
