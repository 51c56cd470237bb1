"""The restore drill: the host cluster is lost and rebuilt, its objects come back from a `fedctl backup`, and
the operator adopts what the members and DNS still hold without a single write; then failover still works.

The federation runs with the control FederatedService published in every member. `fedctl backup
--include-credentials` exports the host's objects; the operator is stopped; the host's control plane loses
all its data (its apiserver is stopped, every key under its etcd prefix deleted, and it starts again empty:
a new host control plane with the same address and certificates, as a host rebuilt from nothing); the CRDs
are applied and `fedctl restore` creates the objects again, every one under a new UID. The operator then
starts, and its member Services keep their resourceVersions and BIND its SOA serial, until a backend
failure fails over as ever.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from localfed import LocalFederation
from localfed.operator import (
    DNS_SECRET,
    GROUP,
    VERSION,
    OperatorProcess,
    apply_crds,
    condition,
    eventually,
    fedctl_flags,
)

from federation_operator.cli import main as fedctl
from tests.e2e.conftest import Control, wait_serving
from tests.e2e.test_dns import ask
from tests.e2e.test_propagation import quiet_serial, soa_serial

pytestmark = [pytest.mark.e2e, pytest.mark.dns]

HOST = "federation"


def member_services(fed: LocalFederation, namespace: str, name: str) -> dict[str, tuple[str, str]]:
    """Each member's Service ``namespace/name``: (UID, resourceVersion); any write changes the latter."""
    found = {}
    for member in fed.members:
        svc = client.CoreV1Api(fed.api_client(member.spec.name)).read_namespaced_service(name, namespace)
        found[member.spec.name] = (svc.metadata.uid, svc.metadata.resource_version)
    return found


def wipe_host(fed: LocalFederation) -> None:
    """Every object of the host cluster gone: its apiserver stopped, its keys deleted from etcd (through
    etcd's JSON gateway, deleterange over the host's prefix), the apiserver started again on nothing, and
    its node created again (a rebuilt cluster has nodes; the session's later tests need them Ready)."""
    prefix = f"/clusters/{HOST}/".encode()
    end = prefix[:-1] + bytes([prefix[-1] + 1])  # the first key after every key with the prefix
    fed.stop_apiserver(HOST)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{fed.etcd_port}/v3/kv/deleterange",
            data=json.dumps(
                {"key": base64.b64encode(prefix).decode(), "range_end": base64.b64encode(end).decode()}
            ).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            deleted = int(json.loads(response.read()).get("deleted", 0))
        assert deleted > 0, "no key deleted under the host's prefix"
    finally:
        fed.start_apiserver(HOST)
    fed.bootstrap(HOST)


def host_crds(fed: LocalFederation) -> list[str]:
    out = fed.kubectl(HOST, "get", "crd", "-o", "name", check=False)
    return [line for line in out.stdout.split() if "fedop.io" in line]


def adopted_events(fed: LocalFederation, namespace: str, name: str) -> list[str]:
    events = client.CoreV1Api(fed.api_client(HOST)).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},reason=Adopted"
    )
    return sorted(e.message for e in events.items)


@pytest.fixture
def operator_back(operator: OperatorProcess, registered: LocalFederation) -> Iterator[OperatorProcess]:
    """The session's operator, running again after the test (with every member Ready) however it ended."""
    yield operator
    if not operator.alive():
        operator.start()
    wait_serving(operator, registered, "every MemberCluster Ready again", 90)


def test_a_rebuilt_host_restored_from_a_backup_changes_nothing_and_still_fails_over(
    operator_back: OperatorProcess, registered: LocalFederation, control: Control, tmp_path: Path
) -> None:
    fed, seed = registered, control.seed
    # A test before may have left it recovering (a member re-joined): as it was first.
    control.assert_recovered()
    before_uid = seed.get()["metadata"]["uid"]
    services = member_services(fed, seed.namespace, seed.name)
    serial = eventually("DNS quiet", lambda: quiet_serial(fed), timeout=60)
    backup = tmp_path / "federation.yaml"
    flags = fedctl_flags(fed)
    assert fedctl([*flags, "backup", "-f", str(backup), "--include-credentials", "--secret", DNS_SECRET]) == 0
    assert "# CREDENTIALS INCLUDED" in backup.read_text()
    assert backup.stat().st_mode & 0o077 == 0

    operator_back.stop()
    wipe_host(fed)
    assert host_crds(fed) == [], "the host still has the CRDs: it was not wiped"
    apply_crds(fed)
    assert fedctl([*flags, "restore", "-f", str(backup)]) == 0
    restored = seed.get()
    assert restored["metadata"]["uid"] != before_uid
    assert "status" not in restored
    operator_back.start()

    def published_again() -> bool:
        obj = seed.get()
        ready, dns = condition(obj, "Ready"), condition(obj, "DNSPublished")
        return bool(
            ready
            and ready["status"] == "True"
            and dns
            and dns["status"] == "True"
            and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
        )

    eventually("the restored control Ready and published", published_again, timeout=120)
    members = sorted(m.spec.name for m in fed.members)
    messages = eventually(
        "an Adopted event per member",
        lambda: (
            (found := adopted_events(fed, seed.namespace, seed.name)) and len(found) == len(members) and found
        ),
        timeout=30,
    )
    assert all(before_uid in message for message in messages)
    # Past a quiet spell, nothing was written anywhere: not a member Service, not a DNS record.
    eventually("DNS quiet after the restore", lambda: quiet_serial(fed), timeout=60)
    assert member_services(fed, seed.namespace, seed.name) == services, "a member Service was written"
    assert soa_serial(fed) == serial, "the zone changed"
    control.assert_undisturbed()

    # The restored object is in charge: a backend failure in one member fails over, then recovers.
    failing = members[0]
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


def test_restore_leaves_existing_objects_as_they_are(registered: LocalFederation, tmp_path: Path) -> None:
    """A restore into a host that still has the objects creates nothing and changes nothing."""
    fed = registered
    custom = client.CustomObjectsApi(fed.api_client(HOST))

    def versions() -> dict[str, str]:
        listed = [
            *custom.list_cluster_custom_object(GROUP, VERSION, "memberclusters")["items"],
            *custom.list_cluster_custom_object(GROUP, VERSION, "federatedservices")["items"],
        ]
        return {f"{o['kind']} {o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in listed}

    backup = tmp_path / "federation.yaml"
    assert fedctl([*fedctl_flags(fed), "backup", "-f", str(backup)]) == 0
    text = backup.read_text()
    assert "# Credentials NOT included" in text
    assert "kind: Secret" not in text
    before = versions()
    assert any(key.startswith("FederatedService") for key in before)
    assert fedctl([*fedctl_flags(fed), "restore", "-f", str(backup)]) == 0
    assert versions() == before
