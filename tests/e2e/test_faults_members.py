"""Faults in how members are registered, against the real federation, BIND and operator process: a second
MemberCluster for a cluster that is already a member (another URL, the same credentials Secret, a region
its nodes contradict) is refused and never connected, also across an operator restart, and takes over only
when the first is deleted; `fedctl join` of a member under another name is refused. After each probe the
session's control FederatedService must be as it was.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from localfed import LocalFederation
from localfed.federation import ClusterState
from localfed.operator import (
    FEDERATION,
    GROUP,
    OPERATOR_NAMESPACE,
    VERSION,
    OperatorProcess,
    condition,
    eventually,
    fedctl_flags,
    is_member_ready,
    member_cluster,
)

from federation_operator.cli import main as fedctl
from federation_operator.cli.rbac import MemberAccess
from tests.e2e.conftest import Control, wait_serving
from tests.e2e.test_dns import ask

pytestmark = [pytest.mark.e2e, pytest.mark.dns]

# A region (and zone) no member's nodes are in: were it published, BIND would answer for it.
BOGUS_REGION = "us-west9"
BOGUS_ZONE = "us-west9-a"
# How long "nothing happens" is watched: several probe periods of the tests' MemberClusters (2 s each).
QUIET_SECONDS = 14.0


def custom(fed: LocalFederation) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(fed.api_client("federation"))


def try_member_cluster(fed: LocalFederation, name: str) -> dict[str, Any] | None:
    try:
        return member_cluster(fed, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def delete_member_cluster(fed: LocalFederation, name: str) -> None:
    try:
        custom(fed).delete_cluster_custom_object(GROUP, VERSION, "memberclusters", name)
    except ApiException as exc:
        if exc.status != 404:
            raise
    eventually(f"MemberCluster {name} gone", lambda: try_member_cluster(fed, name) is None, timeout=60)


def localhost_endpoint(member: ClusterState) -> str:
    """The member's API through another URL (its certificate names localhost too): what a second,
    hand-written registration of the same cluster would plausibly use."""
    return member.server.replace("127.0.0.1", "localhost")


def create_duplicate(fed: LocalFederation, of: ClusterState, name: str) -> None:
    """A MemberCluster written directly (not with fedctl) for the cluster `of`, pointing at the same
    credentials Secret through another URL, with a region and zone its nodes contradict."""
    original = member_cluster(fed, of.spec.name)
    spec = {
        **original["spec"],
        "apiEndpoint": localhost_endpoint(of),
        "region": BOGUS_REGION,
        "zones": [BOGUS_ZONE],
    }
    custom(fed).create_cluster_custom_object(
        GROUP,
        VERSION,
        "memberclusters",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "MemberCluster",
            "metadata": {"name": name, "labels": {"region": BOGUS_REGION}},
            "spec": spec,
        },
    )


def cluster_id(fed: LocalFederation, name: str) -> str | None:
    obj = try_member_cluster(fed, name)
    return (obj or {}).get("status", {}).get("clusterID")


def refused_by(fed: LocalFederation, name: str) -> dict[str, Any] | None:
    """The Ready condition of `name` once it says DuplicateCluster."""
    obj = try_member_cluster(fed, name)
    ready = condition(obj, "Ready") if obj else None
    return ready if ready and ready["reason"] == "DuplicateCluster" else None


def member_events(fed: LocalFederation, name: str, reason: str) -> list[Any]:
    # Events of cluster-scoped objects go to the default namespace.
    events = client.CoreV1Api(fed.api_client("federation")).list_namespaced_event(
        "default", field_selector=f"involvedObject.name={name},involvedObject.kind=MemberCluster"
    )
    return [e for e in events.items if e.reason == reason]


class ServiceUids:
    """The UIDs of some FederatedServices' Services in every member: a Service deleted and created again
    (two MemberClusters fighting over one cluster) gets a new UID."""

    def __init__(self, fed: LocalFederation, *services: tuple[str, str]) -> None:
        self.services = services  # (namespace, name)
        self.cores = {m.spec.name: client.CoreV1Api(fed.api_client(m.spec.name)) for m in fed.members}
        self.before = self.now()

    def now(self) -> dict[tuple[str, str, str], str | None]:
        uids: dict[tuple[str, str, str], str | None] = {}
        for cluster, core in self.cores.items():
            for namespace, name in self.services:
                try:
                    uid = core.read_namespaced_service(name, namespace).metadata.uid
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                    uid = None
                uids[(cluster, namespace, name)] = uid
        return uids

    def unchanged(self) -> bool:
        return self.now() == self.before


def holds(what: str, checks: dict[str, Callable[[], bool]], seconds: float = QUIET_SECONDS) -> None:
    """Every one of `checks` stays true, polled for `seconds` (several probe periods): something that must
    not happen can only be shown not to happen for a while."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        failed = [name for name, check in checks.items() if not check()]
        assert not failed, (
            f"{what}: {', '.join(failed)} no longer true after {time.monotonic() - started:.1f}s"
        )
        time.sleep(0.5)


def bogus_tiers_unpublished(control: Control) -> bool:
    seed = control.seed
    return all(
        ask(seed.fed, seed.tier_name(label)).rcode == "NXDOMAIN" for label in (BOGUS_REGION, BOGUS_ZONE)
    )


@pytest.fixture
def member(operator: OperatorProcess, registered: LocalFederation) -> ClusterState:
    chosen = registered.members[0]
    eventually(
        f"{chosen.spec.name} Ready with its cluster ID recorded",
        lambda: is_member_ready(registered, chosen.spec.name) and cluster_id(registered, chosen.spec.name),
        timeout=60,
    )
    return chosen


@pytest.fixture
def pinned(member: ClusterState, registered: LocalFederation) -> Iterator[tuple[str, str]]:
    """A FederatedService placed on `member` only, its Service there: a second MemberCluster of that
    cluster, connected, would not select it and withdraw the Service the first one keeps creating."""
    namespace, name = f"pinned-{uuid.uuid4().hex[:6]}", "pinned"
    host_core = client.CoreV1Api(registered.api_client("federation"))
    host_core.create_namespace({"metadata": {"name": namespace}})
    custom(registered).create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "federatedservices",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "FederatedService",
            "metadata": {"name": name},
            "spec": {
                "template": {"spec": {"selector": {"run": name}, "ports": [{"name": "http", "port": 80}]}},
                "placement": {"clusters": [member.spec.name]},
            },
        },
    )
    core = client.CoreV1Api(registered.api_client(member.spec.name))
    eventually(f"{name} in {member.spec.name}", lambda: core.read_namespaced_service(name, namespace))
    yield namespace, name
    custom(registered).delete_namespaced_custom_object(GROUP, VERSION, namespace, "federatedservices", name)
    eventually(
        f"{namespace}/{name} deleted (the operator's finalizer ran)",
        lambda: (
            not custom(registered)
            .list_namespaced_custom_object(GROUP, VERSION, namespace, "federatedservices")
            .get("items")
        ),
    )
    host_core.delete_namespace(namespace)
    core.delete_namespace(namespace)  # the operator made it in the member for the Service


@pytest.fixture
def duplicate_name(registered: LocalFederation, operator: OperatorProcess) -> Iterator[str]:
    name = f"dup-{uuid.uuid4().hex[:6]}"
    yield name
    delete_member_cluster(registered, name)
    assert operator.alive(), f"the operator died:\n{operator.tail()}"


def test_a_second_membercluster_for_a_member_is_refused_and_never_connected(
    member: ClusterState,
    pinned: tuple[str, str],
    duplicate_name: str,
    registered: LocalFederation,
    operator: OperatorProcess,
    control: Control,
) -> None:
    fed, original = registered, member.spec.name
    uids = ServiceUids(fed, (control.seed.namespace, control.seed.name), pinned)
    assert uids.before[(original, *pinned)] is not None
    assert all(uid for (_c, ns, _n), uid in uids.before.items() if ns == control.seed.namespace), uids.before
    create_duplicate(fed, member, duplicate_name)

    ready = eventually("the duplicate refused", lambda: refused_by(fed, duplicate_name), timeout=60)
    assert ready["status"] == "False"
    assert f"MemberCluster {original}" in ready["message"], ready
    assert cluster_id(fed, duplicate_name) == cluster_id(fed, original)
    warning = eventually(
        "a DuplicateCluster warning event", lambda: member_events(fed, duplicate_name, "DuplicateCluster")
    )[0]
    assert warning.type == "Warning"
    assert original in warning.message

    # Never connected: over several probe periods no member Service is re-created (not even the pinned one,
    # which a connected duplicate would withdraw as not selected), the duplicate stays refused, and its
    # region and zone are published nowhere.
    holds(
        "nothing disturbed while the duplicate exists",
        {
            "member Service UIDs": uids.unchanged,
            "the duplicate refused": lambda: refused_by(fed, duplicate_name) is not None,
            "the bogus region and zone unpublished": lambda: bogus_tiers_unpublished(control),
        },
    )
    eventually(f"{original} Ready", lambda: is_member_ready(fed, original))
    assert uids.now() == uids.before
    control.assert_undisturbed()

    # An operator restart connects the MemberClusters in any order: the oldest still holds the cluster.
    operator.stop()
    operator.start()
    wait_serving(operator, fed, "every member Ready after the restart", 90)
    holds(
        "nothing disturbed after the restart",
        {
            "member Service UIDs": uids.unchanged,
            "the duplicate refused": lambda: refused_by(fed, duplicate_name) is not None,
            "the bogus region and zone unpublished": lambda: bogus_tiers_unpublished(control),
        },
    )
    control.assert_recovered()  # the restart itself may briefly hold DNS, never change it
    control.assert_undisturbed()

    delete_member_cluster(fed, duplicate_name)
    holds(
        "nothing disturbed once the duplicate is gone",
        {
            "member Service UIDs": uids.unchanged,
            "the bogus region and zone unpublished": lambda: bogus_tiers_unpublished(control),
        },
    )
    eventually(f"{original} Ready", lambda: is_member_ready(fed, original))
    control.assert_undisturbed()


def test_the_duplicate_takes_over_when_the_original_goes(
    member: ClusterState,
    duplicate_name: str,
    registered: LocalFederation,
    control: Control,
) -> None:
    """The original deleted (its credentials Secret kept): the duplicate connects, adopts the same member
    Services (same UIDs), and says its region contradicts the nodes; DNS follows spec.region, as the README
    says. Then the original is written back and holds the cluster again once the duplicate is deleted."""
    fed, original = registered, member.spec.name
    saved = member_cluster(fed, original)
    uids = ServiceUids(fed, (control.seed.namespace, control.seed.name))
    create_duplicate(fed, member, duplicate_name)
    eventually("the duplicate refused", lambda: refused_by(fed, duplicate_name), timeout=60)
    restored = False
    try:
        delete_member_cluster(fed, original)
        eventually("the duplicate took over", lambda: is_member_ready(fed, duplicate_name), timeout=60)
        topology = eventually(
            "TopologyConsistent=False on the duplicate",
            lambda: condition(member_cluster(fed, duplicate_name), "TopologyConsistent"),
            timeout=30,
        )
        assert (topology["status"], topology["reason"]) == ("False", "RegionMismatch"), topology
        assert BOGUS_REGION in topology["message"]
        assert member.spec.region is not None
        assert member.spec.region in topology["message"]
        warning = eventually(
            "a RegionMismatch warning event", lambda: member_events(fed, duplicate_name, "RegionMismatch")
        )[0]
        assert warning.type == "Warning"
        # spec.region wins for DNS (documented): the control is now published under the bogus region.
        eventually(
            "the control under spec.region",
            lambda: (
                ask(fed, control.seed.tier_name(BOGUS_REGION)).addresses
                == {control.seed.address(member.spec.name)}
            ),
            timeout=60,
        )
        assert uids.now() == uids.before, "the Services were adopted, not re-created"

        # The original written back is now the younger one: refused until the duplicate goes.
        recreate(fed, saved)
        ready = eventually("the original refused now", lambda: refused_by(fed, original), timeout=60)
        assert f"MemberCluster {duplicate_name}" in ready["message"]
        delete_member_cluster(fed, duplicate_name)
        eventually("the original holds its cluster again", lambda: is_member_ready(fed, original), timeout=60)
        restored = True
    finally:
        if not restored:
            delete_member_cluster(fed, duplicate_name)
            if try_member_cluster(fed, original) is None:
                recreate(fed, saved)
            eventually("the original Ready again", lambda: is_member_ready(fed, original), timeout=90)
    control.assert_recovered()
    eventually("the bogus tiers withdrawn", lambda: bogus_tiers_unpublished(control), timeout=60)
    assert uids.now() == uids.before
    control.assert_undisturbed()


def recreate(fed: LocalFederation, saved: dict[str, Any]) -> None:
    meta = saved["metadata"]
    custom(fed).create_cluster_custom_object(
        GROUP,
        VERSION,
        "memberclusters",
        {
            "apiVersion": saved["apiVersion"],
            "kind": "MemberCluster",
            "metadata": {"name": meta["name"], "labels": meta.get("labels") or {}},
            "spec": saved["spec"],
        },
    )


def test_fedctl_join_of_a_member_under_another_name_is_refused(
    member: ClusterState,
    registered: LocalFederation,
    control: Control,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fed, original = registered, member.spec.name
    other = f"again-{uuid.uuid4().hex[:6]}"
    code = fedctl(
        [
            *fedctl_flags(fed),
            "join",
            original,  # the kubeconfig context of the member
            "--name",
            other,
            "--api-endpoint",
            localhost_endpoint(member),  # not the registered URL: only the cluster ID can tell
            "--region",
            BOGUS_REGION,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"already joined as MemberCluster {original}" in err
    assert f"kube-system UID {cluster_id(fed, original)}" in err
    assert try_member_cluster(fed, other) is None
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(fed.api_client("federation")).read_namespaced_secret(
            f"{other}-credentials", "fedop-system"
        )
    assert caught.value.status == 404
    control.assert_undisturbed()


def test_a_member_that_answers_but_cannot_be_watched_is_not_ready_and_says_why(
    member: ClusterState, registered: LocalFederation, control: Control
) -> None:
    """The operator's role in a member loses its rights on EndpointSlices (an administrator narrowed it):
    `/readyz` still answers, but the member's view can no longer be kept current. Rather than Ready with a
    stale view (and every plan waiting for it), the member is NotReady and its condition names the watch and
    the refusal; with the rights back it is Ready again and the control serves as before."""
    fed, name = registered, member.spec.name
    rbac = client.RbacAuthorizationV1Api(fed.api_client(name))
    role_name = MemberAccess(FEDERATION, OPERATOR_NAMESPACE).cluster_role
    role = rbac.read_cluster_role(role_name)
    saved = list(role.rules)
    role.rules = [rule for rule in saved if "endpointslices" not in (rule.resources or [])]
    assert len(role.rules) == len(saved) - 1
    rbac.replace_cluster_role(role_name, role)
    try:
        # The watch under way goes on to its end (30 s at most); the next one is refused.
        refused = eventually(
            f"{name} NotReady, naming the refused watch",
            lambda: (c := condition(member_cluster(fed, name), "Ready")) and c["status"] == "False" and c,
            timeout=90,
        )
        assert "EndpointSlice watch" in refused["message"], refused
        assert "forbidden" in refused["message"], refused
    finally:
        role = rbac.read_cluster_role(role_name)
        role.rules = saved
        rbac.replace_cluster_role(role_name, role)
    eventually(f"{name} Ready again", lambda: is_member_ready(fed, name), timeout=60)
    control.assert_recovered()
