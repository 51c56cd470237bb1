"""Stopping the operator (SIGTERM) under load never changes DNS: checked in BIND across many stops.

A graceful stop tears the operator down piece by piece (kopf stops the MemberCluster daemons, which
disconnect their members), and reconciles still running must not take that for a federation whose members
all failed. Each round here starts the operator, lets it run past its unreachable-member grace period (the
start-up hold no longer covers a member that goes missing), puts reconciles in flight (a template change on
every FederatedService, so each reconcile writes to every member) or stops it in the middle of its start-up
resync, sends SIGTERM, and then checks that BIND's SOA serial and answers did not move and that the operator
logged no DNS change after the signal.
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from localfed import LocalFederation
from localfed.federation import free_port
from localfed.operator import GROUP, VERSION, OperatorProcess, condition, eventually

from tests.e2e.test_dns import FEDERATION, Answer, ask
from tests.e2e.test_propagation import fsvc_body, quiet_serial, soa_serial

pytestmark = [pytest.mark.e2e, pytest.mark.dns]

SERVICES = 40
STOPS = 20
# Short, so that each round's operator is past it (as a long-running one is) within seconds; long enough
# that a restarted operator connects every member within it on a loaded machine (a member still unconnected
# when the start-up hold of one grace period ends is, rightly, a member gone: 2 s was seen to be too short
# beside two CPU burners, where the restart itself then changed DNS, before any stop).
GRACE_SECONDS = 5.0
BACKEND = "shutdown-backend"
# What the operator logs when it stops and when it sends DNS changes (controllers/shutdown.py and
# dns/publisher.py).
STOPPING, APPLYING = "stopping (signal SIGTERM)", ": applying"
ARMED = "SIGTERM/SIGINT now close the shutdown gate"


def _body(name: str, namespace: str) -> dict[str, Any]:
    # Every FederatedService selects the same backend Pod, so one Pod per member makes them all healthy.
    body = fsvc_body(name, namespace, dns={"ttl": 30})
    body["spec"]["template"] = {
        "metadata": {"annotations": {"round": "0"}},
        "spec": {"selector": {"run": BACKEND}, "ports": [{"name": "http", "port": 80}]},
    }
    return body


class Fleet:
    """SERVICES FederatedServices in one namespace, served by one backend Pod per member."""

    def __init__(self, fed: LocalFederation, namespace: str) -> None:
        self.fed = fed
        self.namespace = namespace
        self.names = [f"svc{i:02d}" for i in range(SERVICES)]
        self.custom = client.CustomObjectsApi(fed.api_client("federation"))
        assert fed.dns is not None
        self.domain = fed.dns.zone
        self.members = [m.spec.name for m in fed.members]
        self.regions = sorted({m.spec.region for m in fed.members})

    def names_to_ask(self) -> list[str]:
        """Every global and region name of every FederatedService."""
        asked = []
        for name in self.names:
            base = f"{name}.{self.namespace}.{FEDERATION}.svc"
            asked.append(f"{base}.{self.domain}.")
            asked.extend(f"{base}.{region}.{self.domain}." for region in self.regions)
        return asked

    def all_answering(self) -> bool:
        """Every global name answers every member's address, and every region name its region's."""
        answers = self.answers()
        wanted = {f"{name}.{self.namespace}.{FEDERATION}.svc.{self.domain}." for name in self.names}
        return all(
            len(answer.addresses) == (len(self.members) if name in wanted else 1)
            for name, answer in answers.items()
        )

    def answers(self) -> dict[str, Answer]:
        return {name: ask(self.fed, name) for name in self.names_to_ask()}

    def create(self) -> None:
        for name in self.names:
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "federatedservices", _body(name, self.namespace)
            )

    def start_backends(self) -> None:
        for cluster in self.members:
            core = client.CoreV1Api(self.fed.api_client(cluster))
            eventually(
                f"namespace in {cluster}",
                lambda core=core: core.read_namespaced_service_account("default", self.namespace),
            )
            core.create_namespaced_pod(
                self.namespace,
                {
                    "metadata": {"name": BACKEND, "labels": {"run": BACKEND}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.11.1-alpine"}]},
                },
            )

    def all_published(self) -> bool:
        items = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "federatedservices"
        )["items"]
        return len(items) == SERVICES and all(
            (c := condition(item, "Ready")) is not None
            and c["status"] == "True"
            and item.get("status", {}).get("observedGeneration") == item["metadata"]["generation"]
            for item in items
        )

    def touch_templates(self, round_: int) -> None:
        """A template change on every FederatedService at once: each reconcile then writes to every member
        (and DNS stays as it is, so any DNS change is the shutdown's doing)."""
        patch = {"spec": {"template": {"metadata": {"annotations": {"round": str(round_)}}}}}

        def touch(name: str) -> None:
            self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "federatedservices", name, patch
            )

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(touch, self.names))

    def delete(self) -> None:
        for name in self.names:
            self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "federatedservices", name
            )


@pytest.fixture
def stopping(
    operator: OperatorProcess, registered: LocalFederation, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """An operator of this test's own (a short grace period), in place of the session's for the test."""
    operator.stop()
    own = OperatorProcess(
        registered,
        tmp_path_factory.mktemp("stopping") / "operator.log",
        unreachable_grace_seconds=str(GRACE_SECONDS),
        metrics_port=str(free_port()),
        metrics_address="127.0.0.1",
    )
    own.start()
    try:
        yield own
    finally:
        own.stop()
        operator.start()


@pytest.fixture
def fleet(stopping: OperatorProcess, registered: LocalFederation) -> Iterator[Fleet]:
    namespace = f"stop-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    fleet = Fleet(registered, namespace)
    fleet.create()
    fleet.start_backends()
    try:
        yield fleet
    finally:
        if not stopping.alive():
            stopping.start()
        fleet.delete()


def _log_size(operator: OperatorProcess) -> int:
    return operator.log.stat().st_size if operator.log.exists() else 0


def _log_since(operator: OperatorProcess, offset: int) -> str:
    with operator.log.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def test_stopping_under_load_never_changes_dns(stopping: OperatorProcess, fleet: Fleet) -> None:
    operator = stopping
    eventually("every FederatedService published", fleet.all_published, timeout=120)
    eventually("every global name answers every member", fleet.all_answering, timeout=60)
    serial = eventually("DNS quiet", lambda: quiet_serial(fleet.fed))
    before = fleet.answers()

    for round_ in range(1, STOPS + 1):
        if not operator.alive():
            offset = _log_size(operator)
            started = time.monotonic()
            operator.start()
            # Serving again: the DNS zone read, which comes after the start-up handler has wired the
            # publisher (the members connect and the resync runs from here on) ...
            eventually("operator serving", lambda o=offset: "DNS zone" in _log_since(operator, o), timeout=60)
            # ... with our signal handlers in place (they replace kopf's at the first resource event) ...
            eventually("signals handled", lambda o=offset: ARMED in _log_since(operator, o), timeout=60)
            # ... and past its grace period, after which a member that goes missing counts as gone.
            eventually(
                "past the grace period", lambda s=started: time.monotonic() - s > GRACE_SECONDS, timeout=10
            )
        if round_ % 2 == 0:
            # Member writes in flight: every FederatedService's template changed a moment ago (and the
            # previous round's change has been taken in, so these reconciles have something to write).
            eventually("previous round taken in", fleet.all_published, timeout=120)
            fleet.touch_templates(round_)
        offset = _log_size(operator)
        operator.stop()
        stopped = _log_since(operator, offset)
        assert STOPPING in stopped, f"round {round_}: the operator did not stop through its gate:\n{stopped}"
        after_signal = stopped.split(STOPPING, 1)[1]
        assert APPLYING not in after_signal, f"round {round_}: DNS changed while stopping:\n{after_signal}"
        assert soa_serial(fleet.fed) == serial, f"round {round_}: BIND's zone changed across a stop"
        assert fleet.answers() == before, f"round {round_}: an answer changed across a stop"

    # The last replica converges the template changes without touching DNS either.
    operator.start()
    eventually("every FederatedService current again", fleet.all_published, timeout=120)
    assert soa_serial(fleet.fed) == serial
    assert fleet.answers() == before
