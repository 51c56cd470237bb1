"""Every call to a hung member (its apiserver SIGSTOPped: connections accepted, nothing answered) ends
within its timeout, all of its requests together, also on a connection kept alive from before the hang; made
in a thread and on the event loop alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from localfed import LocalFederation, processes

from federation_operator.kube.credentials import build_api_client
from federation_operator.kube.errors import ApiConnectionError
from federation_operator.kube.member_services import (
    apply_service_exchange,
    check_answering_exchange,
    create_service_exchange,
    delete_service_exchange,
    ensure_namespace_exchange,
    fetch_service_exchange,
)
from tests.members import (
    FAULT_MEMBER,
    Runner,
    eventually,
    fresh_namespace,
    kubeconfig_secret,
    member_spec,
    service_manifest,
)

pytestmark = pytest.mark.e2e

TIMEOUT = 1.5
# Time a call may take beyond its timeout (thread scheduling on a busy 2-core machine).
MARGIN = 1.5


def test_every_call_to_a_hung_member_ends_within_its_timeout(
    federation: LocalFederation, runner: Runner
) -> None:
    api = build_api_client(member_spec(federation, FAULT_MEMBER), kubeconfig_secret(federation, FAULT_MEMBER))
    try:
        with fresh_namespace(federation, FAULT_MEMBER) as namespace:
            manifest = service_manifest(namespace, "hung")
            # And the connection stays in the pool, alive.
            created = runner(api, create_service_exchange(manifest))
            uid = created["metadata"]["uid"]
            calls: dict[str, Callable[[], Any]] = {
                "fetch": lambda: runner(api, fetch_service_exchange(namespace, "hung"), timeout=TIMEOUT),
                "apply": lambda: runner(api, apply_service_exchange(manifest), timeout=TIMEOUT),
                "create": lambda: runner(
                    api, create_service_exchange(service_manifest(namespace, "other")), timeout=TIMEOUT
                ),
                "namespace": lambda: runner(api, ensure_namespace_exchange("elsewhere"), timeout=TIMEOUT),
                "delete": lambda: runner(
                    api, delete_service_exchange(namespace, "hung", uid), timeout=TIMEOUT
                ),
                "check": lambda: runner(api, check_answering_exchange(), timeout=TIMEOUT),
            }
            federation.pause_apiserver(FAULT_MEMBER)
            try:
                for name, call in calls.items():
                    started = time.monotonic()
                    try:
                        answer = call()
                    except ApiConnectionError as exc:
                        failure = exc
                    else:
                        record = federation.clusters[FAULT_MEMBER].processes["kube-apiserver"]
                        states = sorted(set(processes.thread_states(record).values()))
                        pytest.fail(
                            f"{name} answered {answer!r:.300} after {time.monotonic() - started:.3f}s "
                            f"while the apiserver (pid {record.pid}) was paused: its threads' states {states}"
                        )
                    elapsed = time.monotonic() - started
                    assert failure.timed_out, (name, failure)
                    assert elapsed < TIMEOUT + MARGIN, (name, elapsed)
            finally:
                federation.resume_apiserver(FAULT_MEMBER)
            # The same client works again once the member answers.
            eventually(
                "the member answers again",
                lambda: runner(api, fetch_service_exchange(namespace, "hung")) is not None,
            )
    finally:
        api.close()
