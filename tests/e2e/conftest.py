"""End-to-end fixtures: the local federation with CRDs and registered members, and the operator process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from localfed import LocalFederation
from localfed.federation import free_port
from localfed.operator import (
    OperatorProcess,
    apply_crds,
    eventually,
    is_member_ready,
    register_dns_credentials,
    register_member,
)


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
