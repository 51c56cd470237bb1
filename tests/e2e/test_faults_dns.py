"""DNS faults against the real federation, BIND and operator process: hand edits in BIND repaired within the
drift bound (and never reported as published meanwhile), a freed alias handed over to the waiting owner,
orphaned record sets collected (never foreign ones), DNS reachability and credentials: an unreachable server
or a wrong TSIG key reported on every object (condition and event), at start-up too, and a fixed Secret used
at once. Each probe checks that the control FederatedService is undisturbed.

The module runs an operator of its own (a short drift interval and Secret poll, so each probe takes seconds
rather than the defaults' minutes), in place of the session's, which it restores afterwards.
"""

from __future__ import annotations

import datetime
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import dns.query
import dns.rcode
import dns.tsig
import dns.update
import pytest
from kubernetes import client
from localfed import LocalFederation
from localfed.federation import free_port
from localfed.operator import (
    DNS_SECRET,
    GROUP,
    OPERATOR_NAMESPACE,
    VERSION,
    OperatorProcess,
    condition,
    eventually,
    register_dns_credentials,
)

from tests.e2e.conftest import Control
from tests.e2e.test_dns import FEDERATION, Seed, ask, serve_everywhere
from tests.e2e.test_propagation import fsvc_body

pytestmark = [pytest.mark.e2e, pytest.mark.dns]

# This module's operator settings.
RESYNC_SECONDS = 5.0  # FEDOP_DNS_RESYNC_SECONDS: the drift check interval
POLL_SECONDS = 1.0  # FEDOP_DNS_CREDENTIALS_POLL_SECONDS
ORPHAN_SECONDS = 10.0  # FEDOP_ORPHAN_COLLECTION_SECONDS (its minimum)
# One publishing round after a check has found something: well under a second on an idle machine; this
# allows for a reconcile and a round on a 2-core machine running other e2e suites beside this one.
ROUND_SECONDS = 10.0
# The documented bound: a hand edit is undone, and the status stops claiming Published, within one check
# interval plus one round.
DRIFT_BOUND = RESYNC_SECONDS + ROUND_SECONDS
WRONG_SECRET = "d3Jvbmcgc2VjcmV0IG9mIDMyIGJ5dGVzIGxlbmd0aCEh"  # valid base64, not BIND's key


@pytest.fixture(scope="module")
def dns_operator(
    operator: OperatorProcess,
    control: Control,
    registered: LocalFederation,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """An operator of this module's own (short drift interval and Secret poll) in place of the session's."""
    operator.stop()
    own = OperatorProcess(
        registered,
        tmp_path_factory.mktemp("faults-dns") / "operator.log",
        unreachable_grace_seconds="20",
        dns_resync_seconds=str(RESYNC_SECONDS),
        dns_credentials_poll_seconds=str(POLL_SECONDS),
        orphan_collection_seconds=str(ORPHAN_SECONDS),
        metrics_port=str(free_port()),
        metrics_address="127.0.0.1",
    )
    own.start()
    try:
        control.assert_recovered()
        yield own
        assert own.alive(), f"the operator died:\n{own.tail()}"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\noperator log:\n{own.tail()}") from exc
    finally:
        own.stop()
        register_dns_credentials(registered)  # as the session had it, whatever a test left behind
        operator.start()


@pytest.fixture
def namespace(dns_operator: OperatorProcess, registered: LocalFederation) -> str:
    name = f"fdns-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": name}})
    return name


# --- helpers --------------------------------------------------------------------------------------------


def nsupdate(fed: LocalFederation, edit: Callable[[dns.update.UpdateMessage], None]) -> None:
    """A hand edit, as `nsupdate` with the TSIG key would make it."""
    server = fed.dns
    assert server is not None
    key = dns.tsig.Key(server.key_name, server.key_secret, server.key_algorithm)
    update = dns.update.UpdateMessage(f"{server.zone}.", keyring=key)
    edit(update)
    response = dns.query.tcp(update, server.address, port=server.port, timeout=5)
    assert response.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(response.rcode())


def ownership_value(owner: str, federation: str = FEDERATION) -> str:
    """Our ownership TXT (domain/ownership.py): what the operator writes beside each record set."""
    return f'"heritage=federation-operator,federation={federation},owner={owner}"'


def dns_verdict(obj: dict[str, Any]) -> tuple[str, str, str] | None:
    found = condition(obj, "DNSPublished")
    return (found["status"], found["reason"], found["message"]) if found else None


def is_published(seed: Seed) -> bool:
    verdict = dns_verdict(seed.get())
    return verdict is not None and verdict[:2] == ("True", "Published")


def warnings_about(fed: LocalFederation, namespace: str, name: str, reason: str) -> list[str]:
    events = client.CoreV1Api(fed.api_client("federation")).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    )
    return [e.message for e in events.items if e.reason == reason and e.type == "Warning"]


def set_dns_secret(fed: LocalFederation, key_secret: str) -> None:
    assert fed.dns is not None
    client.CoreV1Api(fed.api_client("federation")).replace_namespaced_secret(
        DNS_SECRET,
        OPERATOR_NAMESPACE,
        {
            "metadata": {"name": DNS_SECRET, "namespace": OPERATOR_NAMESPACE},
            "stringData": {"key_name": fed.dns.key_name, "key_secret": key_secret},
        },
    )


def within(what: str, probe: Callable[[], Any], bound: float) -> float:
    """Poll ``probe`` until it holds, failing after ``bound`` seconds; returns how long it took."""
    started = time.monotonic()
    eventually(what, probe, timeout=bound)
    return time.monotonic() - started


# --- drift ------------------------------------------------------------------------------------------------


def test_a_record_deleted_by_hand_is_restored_within_the_bound(
    registered: LocalFederation, namespace: str, control: Control
) -> None:
    seed = Seed(registered, "handedit", namespace)
    addresses = frozenset(serve_everywhere(seed).values())
    eventually("published", lambda: is_published(seed), timeout=60)

    nsupdate(registered, lambda u: u.delete(seed.global_name(), "A"))
    assert ask(registered, seed.global_name()).addresses == frozenset(), "the hand edit did not take"
    within(
        "the global name restored",
        lambda: ask(registered, seed.global_name()).addresses == addresses,
        DRIFT_BOUND,
    )
    eventually("Published again", lambda: is_published(seed), timeout=ROUND_SECONDS)
    control.assert_undisturbed()


def test_a_record_replaced_by_hand_is_reported_not_published_and_retaken_when_freed(
    registered: LocalFederation, namespace: str, control: Control
) -> None:
    seed = Seed(registered, "replaced", namespace)
    addresses = frozenset(serve_everywhere(seed).values())
    eventually("published", lambda: is_published(seed), timeout=60)

    # Someone replaces our global A record (and its ownership record) with one of their own: the operator
    # may not touch it, and must stop saying its records are published.
    def replace(update: dns.update.UpdateMessage) -> None:
        update.delete(seed.global_name(), "A")
        update.delete(f"_fedop-a.{seed.global_name()}", "TXT")
        update.add(seed.global_name(), 30, "A", "192.0.2.66")

    nsupdate(registered, replace)
    within(
        "DNSPublished=False, Conflict",
        lambda: (v := dns_verdict(seed.get())) is not None and v[:2] == ("False", "Conflict"),
        DRIFT_BOUND,
    )
    assert ask(registered, seed.global_name()).addresses == {"192.0.2.66"}  # foreign: left alone

    # Freed again: the owner waiting on the name takes it back at the next check.
    nsupdate(registered, lambda u: u.delete(seed.global_name(), "A"))
    within(
        "the global name taken back",
        lambda: ask(registered, seed.global_name()).addresses == addresses,
        DRIFT_BOUND,
    )
    eventually("Published again", lambda: is_published(seed), timeout=ROUND_SECONDS)
    control.assert_undisturbed()


# --- freed names ------------------------------------------------------------------------------------------


def test_an_alias_dropped_by_its_holder_goes_to_the_oldest_waiting_owner(
    registered: LocalFederation, namespace: str, control: Control
) -> None:
    custom = client.CustomObjectsApi(registered.api_client("federation"))
    assert registered.dns is not None
    alias = f"shop.{namespace}.{registered.dns.zone}."
    backend = "shared-backend"

    def create(name: str) -> Seed:
        body = fsvc_body(name, namespace, dns={"ttl": 30, "aliases": [alias]})
        body["spec"]["template"] = {
            "spec": {"selector": {"run": backend}, "ports": [{"name": "http", "port": 80}]}
        }
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "federatedservices", body)
        return Seed(registered, name, namespace)

    def alias_points_to(seed: Seed) -> bool:
        return ask(registered, alias).cnames[:1] == (seed.global_name(),)

    def in_conflict(seed: Seed) -> bool:
        verdict = dns_verdict(seed.get())
        return verdict is not None and verdict[:2] == ("False", "Conflict")

    holder = create("holder")
    # One backend (every FederatedService here selects it) in one member: an alias is published only while
    # a shard is healthy.
    Seed(registered, backend, namespace).start_backends(registered.members[0].spec.name)
    eventually("the alias is holder's", lambda: alias_points_to(holder) and is_published(holder), timeout=60)
    # Two waiters: "zeta" created first, "alpha" after it (a later creationTimestamp second), so that age and
    # name order disagree: age decides.
    zeta = create("zeta")
    eventually("zeta waits on the alias", lambda: in_conflict(zeta), timeout=60)
    zeta_created = zeta.get()["metadata"]["creationTimestamp"]
    eventually(
        "a creationTimestamp second after zeta's",
        lambda: datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") > zeta_created,
        timeout=5,
    )
    alpha = create("alpha")
    eventually("alpha waits on the alias", lambda: in_conflict(alpha), timeout=60)
    assert alpha.get()["metadata"]["creationTimestamp"] > zeta_created
    assert alias_points_to(holder)

    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "federatedservices", "holder", {"spec": {"dns": {"aliases": []}}}
    )
    # Handed over by the round that deletes holder's alias (no edit of the waiters), to the oldest waiter.
    within("the alias is zeta's", lambda: alias_points_to(zeta), DRIFT_BOUND)
    eventually("zeta Published", lambda: is_published(zeta), timeout=ROUND_SECONDS)
    eventually("holder Published", lambda: is_published(holder), timeout=ROUND_SECONDS)
    assert in_conflict(alpha)
    assert alias_points_to(zeta)
    control.assert_undisturbed()


# --- orphans ----------------------------------------------------------------------------------------------


def test_records_of_a_federated_service_that_does_not_exist_are_collected_and_nothing_else(
    registered: LocalFederation, namespace: str, control: Control
) -> None:
    assert registered.dns is not None
    zone = registered.dns.zone
    ghost = f"ghost.{namespace}.{FEDERATION}.svc.{zone}."  # ours, owner gone
    stranger = f"stranger.{namespace}.{FEDERATION}.svc.{zone}."  # no ownership record: foreign
    other = f"ghost.{namespace}.otherfed.svc.{zone}."  # another federation's

    def plant(update: dns.update.UpdateMessage) -> None:
        update.add(ghost, 30, "A", "192.0.2.10")
        update.add(f"_fedop-a.{ghost}", 300, "TXT", ownership_value(f"{namespace}/ghost"))
        update.add(stranger, 30, "A", "192.0.2.11")
        update.add(other, 30, "A", "192.0.2.12")
        update.add(f"_fedop-a.{other}", 300, "TXT", ownership_value(f"{namespace}/ghost", "otherfed"))

    nsupdate(registered, plant)
    try:
        # Seen at a drift check, collected at the collector's next pass, deleted by the round after.
        within(
            "the orphan's record collected",
            lambda: ask(registered, ghost).rcode == "NXDOMAIN",
            RESYNC_SECONDS + ORPHAN_SECONDS + ROUND_SECONDS,
        )
        assert ask(registered, stranger).addresses == {"192.0.2.11"}
        assert ask(registered, other).addresses == {"192.0.2.12"}
    finally:

        def clean(update: dns.update.UpdateMessage) -> None:
            for name in (ghost, stranger, other, f"_fedop-a.{ghost}", f"_fedop-a.{other}"):
                update.delete(name)

        nsupdate(registered, clean)
    control.assert_undisturbed()


# --- credentials --------------------------------------------------------------------------------------------


def test_a_wrong_dns_key_is_reported_on_every_object_and_a_fixed_secret_is_used_at_once(
    registered: LocalFederation, namespace: str, control: Control
) -> None:
    seed = Seed(registered, "creds", namespace)
    addresses = frozenset(serve_everywhere(seed).values())
    eventually("published", lambda: is_published(seed), timeout=60)

    set_dns_secret(registered, WRONG_SECRET)
    try:
        within(
            "DNSPublished=False, ProviderError naming the refusal",
            lambda: (
                (v := dns_verdict(seed.get())) is not None
                and v[:2] == ("False", "ProviderError")
                and "BADSIG" in v[2]
            ),
            POLL_SECONDS + ROUND_SECONDS,
        )
        eventually(
            "a DNSProviderError Warning event",
            lambda: any(
                "BADSIG" in m for m in warnings_about(registered, namespace, "creds", "DNSProviderError")
            ),
            timeout=ROUND_SECONDS,
        )
        # Nothing published is withdrawn meanwhile: clients keep their answers.
        assert ask(registered, seed.global_name()).addresses == addresses
    finally:
        register_dns_credentials(registered)
    # The fixed Secret is read within one poll and used at once: no backoff to sit out.
    within("Published with the fixed key", lambda: is_published(seed), POLL_SECONDS + ROUND_SECONDS)
    control.assert_recovered()
    control.assert_undisturbed()


def test_a_wrong_dns_key_at_start_up_is_reported_and_fixed_at_once(
    registered: LocalFederation, namespace: str, control: Control, dns_operator: OperatorProcess
) -> None:
    seed = Seed(registered, "startup", namespace)
    serve_everywhere(seed)
    eventually("published", lambda: is_published(seed), timeout=60)

    dns_operator.stop()
    set_dns_secret(registered, WRONG_SECRET)
    try:
        dns_operator.start()
        eventually(
            "DNSPublished=False, ProviderError after a start with a wrong key",
            lambda: (
                (v := dns_verdict(seed.get())) is not None
                and v[:2] == ("False", "ProviderError")
                and "BADSIG" in v[2]
            ),
            timeout=90,
        )
        eventually(
            "a DNSProviderError Warning event",
            lambda: any(
                "BADSIG" in m for m in warnings_about(registered, namespace, "startup", "DNSProviderError")
            ),
            timeout=ROUND_SECONDS,
        )
    finally:
        register_dns_credentials(registered)
    within("Published with the fixed key", lambda: is_published(seed), POLL_SECONDS + ROUND_SECONDS)
    control.assert_recovered()
    control.assert_undisturbed()


def test_an_unreachable_dns_server_at_start_up_is_reported(
    registered: LocalFederation,
    namespace: str,
    control: Control,
    dns_operator: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    assert registered.dns is not None
    seed = Seed(registered, "nobind", namespace)
    serve_everywhere(seed)
    eventually("published", lambda: is_published(seed), timeout=60)

    # The operator's view of "BIND is down": its server option names a port nobody listens on.
    dns_operator.stop()
    unreachable = OperatorProcess(
        registered,
        tmp_path_factory.mktemp("faults-dns-unreachable") / "operator.log",
        unreachable_grace_seconds="20",
        dns_options=json.dumps(
            {
                "server": registered.dns.address,
                "port": str(free_port()),
                "key_algorithm": registered.dns.key_algorithm,
                "timeout": "2",
            }
        ),
    )
    unreachable.start()
    try:
        eventually(
            "DNSPublished=False, ProviderError: cannot be reached",
            lambda: (
                (v := dns_verdict(seed.get())) is not None
                and v[:2] == ("False", "ProviderError")
                and "cannot be reached" in v[2]
            ),
            timeout=90,
        )
        eventually(
            "a DNSProviderError Warning event",
            lambda: any(
                "cannot be reached" in m
                for m in warnings_about(registered, namespace, "nobind", "DNSProviderError")
            ),
            timeout=ROUND_SECONDS,
        )
        # Nothing is withdrawn from the server the operator cannot reach.
        assert ask(registered, seed.global_name()).addresses
    except AssertionError as exc:
        raise AssertionError(f"{exc}\noperator log:\n{unreachable.tail()}") from exc
    finally:
        unreachable.stop()
        dns_operator.start()
    eventually("Published once the server is reachable", lambda: is_published(seed), timeout=90)
    control.assert_recovered()
    control.assert_undisturbed()
