"""End-to-end fixtures: the local federation with CRDs and registered members, and the operator process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from kubernetes import client
from localfed import LocalFederation
from localfed.federation import free_port
from localfed.operator import (
    OperatorProcess,
    apply_crds,
    condition,
    eventually,
    is_member_ready,
    register_dns_credentials,
    register_member,
)

from tests.e2e.test_dns import Seed, ask, serve_everywhere


@pytest.fixture(scope="session")
def registered(federation: LocalFederation) -> LocalFederation:
    """CRDs applied to the host and every member registered with `fedctl join` (least-privilege token)."""
    apply_crds(federation)
    register_dns_credentials(federation)
    for member in federation.members:
        register_member(federation, member)
    return federation


@pytest.fixture(scope="session")
def operator(
    registered: LocalFederation, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator running as a real process until the end of the session (tests may restart it)."""
    # A short grace period keeps the unreachable-member tests quick; its meaning is the same as the default.
    # Metrics are served on loopback only, on a port of their own (`op.settings["metrics_port"]`).
    op = OperatorProcess(
        registered,
        tmp_path_factory.mktemp("operator") / "operator.log",
        unreachable_grace_seconds="20",
        metrics_port=str(free_port()),
        metrics_address="127.0.0.1",
    )
    op.start()
    try:
        eventually(
            "every MemberCluster Ready",
            lambda: op.alive() and all(is_member_ready(registered, m.spec.name) for m in registered.members),
            timeout=60,
        )
        yield op
    except AssertionError as exc:
        raise AssertionError(f"{exc}\noperator log:\n{op.tail()}") from exc
    finally:
        op.stop()


@pytest.fixture(scope="session")
def control(operator: OperatorProcess, registered: LocalFederation) -> Control:
    """A healthy FederatedService served by every member, which fault tests check after each probe: a
    fault injected for one tenant or one member must leave it (once that member is back) as it was."""
    namespace = f"control-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    seed = Seed(registered, "control", namespace)
    serve_everywhere(seed)
    return Control(seed)


@dataclass(frozen=True)
class Control:
    seed: Seed

    @property
    def addresses(self) -> frozenset[str]:
        """Every member's LoadBalancer address for the control, as the members hold them now: a member taken
        out of the federation and joined again (test_fedctl) gets the Service created anew, and the allocator
        may give it another address than at the start of the session. A KeyError (which `eventually` polls
        past) while a member's Service has none."""
        found = {member.spec.name: self.seed.address(member.spec.name) for member in self.seed.fed.members}
        missing = sorted(name for name, address in found.items() if address is None)
        if missing:
            raise KeyError(f"the control's Service has no address yet in {', '.join(missing)}")
        return frozenset(address for address in found.values() if address is not None)

    def _as_before(self) -> bool:
        ready = condition(self.seed.get(), "Ready")
        answer = ask(self.seed.fed, self.seed.global_name())
        return bool(ready and ready["status"] == "True") and answer.addresses == self.addresses

    def assert_undisturbed(self) -> None:
        """Right now: Ready, and its global name answers every member's address."""
        answer = ask(self.seed.fed, self.seed.global_name())
        assert answer.addresses == self.addresses, f"control disturbed: {answer}"
        ready = condition(self.seed.get(), "Ready")
        assert ready is not None, "control has no Ready condition"
        assert ready["status"] == "True", f"control not Ready: {ready}"

    def assert_recovered(self, timeout: float = 90) -> None:
        """After a fault that legitimately touched it (a member down): back as it was within `timeout`."""
        eventually("control FederatedService as before", self._as_before, timeout=timeout)


def wait_serving(operator: OperatorProcess, fed: LocalFederation, what: str, timeout: float) -> None:
    """Until ``operator`` runs and every member of ``fed`` is Ready (its MemberCluster says so)."""
    eventually(
        what,
        lambda: operator.alive() and all(is_member_ready(fed, m.spec.name) for m in fed.members),
        timeout=timeout,
    )


@contextmanager
def in_place_of_the_sessions(
    own: OperatorProcess, operator: OperatorProcess, registered: LocalFederation, control: Control
) -> Iterator[None]:
    """Run `own` (started here) in place of the session's operator, which the caller has stopped. An
    assertion failing inside carries `own`'s log; on the way out `own` must still be alive, and then the
    session's operator is started again, every MemberCluster Ready and the control as before."""
    own.start()
    try:
        yield
        assert own.alive(), f"the operator died:\n{own.tail()}"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\noperator log:\n{own.tail()}") from exc
    finally:
        own.stop()
        operator.start()
        wait_serving(operator, registered, "the session's operator is back and every MemberCluster Ready", 60)
        control.assert_recovered()
