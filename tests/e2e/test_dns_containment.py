"""Failure containment against the real federation, BIND and operator process: a FederatedService whose
global name BIND refuses (the name already holds 100 foreign record types, so BIND 9.18's
max-types-per-name answers its A with SERVFAIL) is DNSPublished=False, ProviderRejected (its own records
refused, not the zone's fault) with BIND's words and a DNSProviderRejected Warning event, while a
FederatedService created beside it publishes, and the control FederatedService stays undisturbed."""

from __future__ import annotations

import contextlib
import uuid

import dns.update
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from localfed import LocalFederation
from localfed.operator import OperatorProcess, eventually

from tests.e2e.conftest import Control
from tests.e2e.test_dns import Seed, ask, member_names, serve_everywhere
from tests.e2e.test_faults_dns import dns_verdict, is_published, nsupdate, warnings_about

pytestmark = [pytest.mark.e2e, pytest.mark.dns]

# BIND 9.18's max-types-per-name: a name holding this many types takes no other.
FOREIGN_TYPES = 100


def dns_warnings(fed: LocalFederation, namespace: str, name: str) -> list[str]:
    """Warning events on ``name`` about DNS refusals, of the owner's records or of the zone."""
    return [
        *warnings_about(fed, namespace, name, "DNSProviderRejected"),
        *warnings_about(fed, namespace, name, "DNSProviderError"),
    ]


def fill_with_foreign_types(update: dns.update.UpdateMessage, name: str) -> None:
    for i in range(FOREIGN_TYPES):
        update.add(name, 300, f"TYPE{65280 + i}", r"\# 0")


def test_an_owner_bind_refuses_fails_alone_and_the_others_publish(
    operator: OperatorProcess, registered: LocalFederation, control: Control
) -> None:
    namespace = f"contain-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    poisoned = Seed(registered, "poisoned", namespace)
    healthy = Seed(registered, "healthy", namespace)
    nsupdate(registered, lambda u: fill_with_foreign_types(u, poisoned.global_name()))

    try:
        # The poisoned one first (the older owner: planned first in every round the two share).
        poisoned.create()
        for cluster in member_names(registered):
            poisoned.start_backends(cluster)
        addresses = serve_everywhere(healthy)  # returns once BIND answers every member's address
        eventually("healthy Published", lambda: is_published(healthy), timeout=60)

        def refused() -> tuple[str, str, str] | None:
            verdict = dns_verdict(poisoned.get())
            return verdict if verdict is not None and verdict[:2] == ("False", "ProviderRejected") else None

        *_, message = eventually("the poisoned owner reported", refused, timeout=60)
        assert "SERVFAIL" in message, message
        assert poisoned.global_name() in message, message
        assert "refused this object's records" in message, message  # the owner's, not the zone's fault
        eventually(
            "a Warning event on the poisoned owner",
            lambda: warnings_about(registered, namespace, "poisoned", "DNSProviderRejected"),
            timeout=30,
        )
        assert not dns_warnings(registered, namespace, "healthy")
        assert ask(registered, poisoned.global_name()).addresses == frozenset()
        assert ask(registered, healthy.global_name()).addresses == frozenset(addresses.values())
        # Later rounds too: with the poisoned owner still refused (and retried on its own timer), another
        # owner's change publishes and the zone is not reported as failing every change.
        first = member_names(registered)[0]
        registered.set_backends_ready(first, namespace, "run=healthy", ready=False)
        rest = frozenset(a for c, a in addresses.items() if c != first)
        eventually(
            "healthy's next change published",
            lambda: ask(registered, healthy.global_name()).addresses == rest,
            timeout=60,
        )
        assert not dns_warnings(registered, namespace, "healthy")
        control.assert_undisturbed()
    finally:
        # The poison goes, so that no later test shares a zone with an owner BIND refuses.
        for seed in (poisoned, healthy):
            with contextlib.suppress(ApiException):
                seed.delete()
        nsupdate(registered, lambda u: u.delete(poisoned.global_name()))
