"""A foreign record of a type the operator does not manage, against the real federation, BIND and operator
process: an MX at a FederatedService's alias name makes the alias's CNAME a Conflict on the status (BIND
would silently ignore a CNAME added beside it, and the status would say published), the MX stays, and the
object's other names are published."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update
import pytest
from kubernetes import client
from localfed import LocalFederation
from localfed.operator import GROUP, VERSION, OperatorProcess, condition, eventually

from tests.e2e.test_dns import Seed, ask
from tests.e2e.test_propagation import fsvc_body

pytestmark = [pytest.mark.e2e, pytest.mark.dns]


@pytest.fixture
def namespace(operator: OperatorProcess, registered: LocalFederation) -> Iterator[str]:
    name = f"dnsft-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": name}})
    yield name
    assert operator.alive(), f"the operator died:\n{operator.tail()}"


def add_mx(fed: LocalFederation, name: str) -> None:
    """Someone else's MX, as `nsupdate` with the TSIG key would add it."""
    server = fed.dns
    assert server is not None
    update = dns.update.UpdateMessage(
        f"{server.zone}.", keyring=dns.tsig.Key(server.key_name, server.key_secret, server.key_algorithm)
    )
    update.add(name, 60, "MX", "10 mail.example.net.")
    response = dns.query.tcp(update, server.address, port=server.port, timeout=5)
    assert response.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(response.rcode())


def mx_at(fed: LocalFederation, name: str) -> list[str]:
    server = fed.dns
    assert server is not None
    query = dns.message.make_query(name, "MX")
    response = dns.query.udp(query, server.address, port=server.port, timeout=3)
    return [r.to_text() for rrset in response.answer if rrset.rdtype == dns.rdatatype.MX for r in rrset]


def test_a_foreign_mx_at_an_alias_is_a_conflict_not_a_silently_dropped_cname(
    registered: LocalFederation, namespace: str
) -> None:
    assert registered.dns is not None
    alias = f"shop.{namespace}.{registered.dns.zone}."
    add_mx(registered, alias)
    client.CustomObjectsApi(registered.api_client("federation")).create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "federatedservices",
        fsvc_body("web", namespace, dns={"ttl": 30, "aliases": [alias]}),
    )
    seed = Seed(registered, "web", namespace)
    seed.start_backends(registered.members[0].spec.name)
    address = eventually("a LoadBalancer address", lambda: seed.address(registered.members[0].spec.name))

    def verdict() -> tuple[str, str, str] | None:
        found = condition(seed.get(), "DNSPublished")
        return (found["status"], found["reason"], found["message"]) if found else None

    reported = eventually(
        "DNSPublished=False, Conflict at the alias",
        lambda: (v := verdict()) is not None and v[:2] == ("False", "Conflict") and v,
        timeout=60,
    )
    assert alias in reported[2]
    assert "MX" in reported[2]
    eventually(
        "the global name answers",
        lambda: ask(registered, seed.global_name()).addresses == {address},
        timeout=30,
    )
    assert ask(registered, alias).cnames == ()  # no CNAME was sent beside the MX
    assert mx_at(registered, alias) == ["10 mail.example.net."]
