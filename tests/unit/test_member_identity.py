"""One MemberCluster per real cluster, and the spec's topology against the nodes': the pure decisions
(`plan_cluster_holder`, `plan_topology_check`, the MemberCluster status) and the registry's claims."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from federation_operator.controllers.member_cache import MemberRegistry
from federation_operator.domain.members import ClusterClaim, ClusterInfo
from federation_operator.domain.status import MemberClusterStatus
from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.client import ClusterClient, ClusterConfig
from federation_operator.planning.clusters import (
    REASON_REGION_MISMATCH,
    REASON_TOPOLOGY_CONSISTENT,
    REASON_TOPOLOGY_UNLABELLED,
    REASON_ZONE_MISMATCH,
    TopologyCheck,
    plan_cluster_holder,
    plan_topology_check,
    render_duplicate_message,
    render_member_cluster_status,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
UID = "5f1c0d3e-0000-4000-8000-000000000001"
OTHER_UID = "5f1c0d3e-0000-4000-8000-000000000002"


def claim(name: str, minutes: int = 0, cluster_id: str = UID) -> ClusterClaim:
    return ClusterClaim(name, cluster_id, T0 + timedelta(minutes=minutes))


# --- who holds a cluster --------------------------------------------------------------------------------


def test_the_oldest_claim_holds_the_cluster_whatever_the_order() -> None:
    claims = [claim("zeta", 0), claim("alpha", 5), claim("mid", 2)]
    for order in itertools.permutations(claims):
        holder = plan_cluster_holder(order, UID)
        assert holder is not None
        assert holder.name == "zeta"


def test_same_creation_time_falls_back_to_the_name() -> None:
    holder = plan_cluster_holder([claim("b"), claim("a"), claim("c")], UID)
    assert holder is not None
    assert holder.name == "a"


def test_claims_to_other_clusters_do_not_compete() -> None:
    claims = [claim("old-elsewhere", 0, OTHER_UID), claim("young", 9)]
    holder = plan_cluster_holder(claims, UID)
    assert holder is not None
    assert holder.name == "young"
    assert plan_cluster_holder(claims, "unknown") is None


def test_duplicate_message_names_the_holder_and_the_cluster() -> None:
    message = render_duplicate_message(UID, "gce-us-central1")
    assert "MemberCluster gce-us-central1" in message
    assert UID in message


# --- the registry's claims -------------------------------------------------------------------------------


def registry() -> MemberRegistry:
    return MemberRegistry("myfederation", enqueue=lambda key: None, enqueue_all=lambda: None)


def test_registry_refuses_the_younger_claim_and_hands_over_on_release() -> None:
    members = registry()
    assert members.claim(claim("first", 0)).name == "first"
    assert members.claim(claim("second", 1)).name == "first"
    assert members.refused() == {"second"}
    holder = members.holder("second")
    assert holder is not None
    assert holder.name == "first"
    members.release("first")
    assert members.refused() == set()
    holder = members.holder("second")
    assert holder is not None
    assert holder.name == "second"


def test_a_refused_member_is_never_connected() -> None:
    members = registry()
    members.claim(claim("first", 0))
    members.claim(claim("second", 1))
    api = ClusterClient(ClusterConfig(server="https://127.0.0.1:1"))
    try:
        assert not members.connect(ClusterInfo(name="second", region="us-central1"), api)
        assert members.clusters() == []
        assert members.api("second") is None
    finally:
        api.close()


async def test_an_older_claim_displaces_a_connected_younger_one() -> None:
    notified: list[str] = []
    transport = AsyncTransport()
    members = MemberRegistry(
        "myfederation",
        enqueue=lambda key: None,
        enqueue_all=lambda: notified.append("all"),
        transport=transport,
    )
    members.claim(claim("young", 5))
    # connect() starts the member's two watches (tasks on this loop): at a closed port, and stopped by the
    # displacement.
    api = ClusterClient(ClusterConfig(server="https://127.0.0.1:1"))
    try:
        assert members.connect(ClusterInfo(name="young", region="us-central1"), api)
        assert [c.name for c in members.clusters()] == ["young"]
        assert members.claim(claim("old", 0)).name == "old"
        assert members.clusters() == []
        assert members.refused() == {"young"}
        assert notified, "the FederatedServices are re-planned without the displaced member"
    finally:
        await transport.close()


def test_re_pointing_a_claim_frees_the_cluster_it_held() -> None:
    members = registry()
    members.claim(claim("first", 0))
    members.claim(claim("second", 1))
    members.claim(claim("first", 0, OTHER_UID))
    assert members.refused() == set()


# --- the spec's topology against the nodes' ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec_region", "spec_zones", "node_regions", "node_zones", "expected"),
    [
        pytest.param(
            "us-central1", ("us-central1-a",), {"us-central1"}, {"us-central1-a", "us-central1-b"},
            (True, REASON_TOPOLOGY_CONSISTENT), id="agree",
        ),
        pytest.param("us-central1", (), set(), set(), (True, REASON_TOPOLOGY_UNLABELLED), id="no labels"),
        pytest.param(
            "us-west9", (), {"us-central1"}, {"us-central1-a"}, (False, REASON_REGION_MISMATCH), id="region"
        ),
        pytest.param(
            "us-central1", ("us-central1-z",), {"us-central1"}, {"us-central1-a"},
            (False, REASON_ZONE_MISMATCH), id="zone",
        ),
        pytest.param(
            "us-west9", ("us-west9-a",), {"us-central1"}, {"us-central1-a"},
            (False, REASON_REGION_MISMATCH), id="both",
        ),
        pytest.param(
            "europe-west1", (), {"us-central1", "europe-west1"}, set(),
            (True, REASON_TOPOLOGY_CONSISTENT), id="one of several regions",
        ),
    ],
)  # fmt: skip
def test_topology_check(
    spec_region: str,
    spec_zones: tuple[str, ...],
    node_regions: set[str],
    node_zones: set[str],
    expected: tuple[bool, str],
) -> None:
    check = plan_topology_check(spec_region, spec_zones, node_regions, node_zones)
    assert (check.consistent, check.reason) == expected


def test_region_mismatch_names_both_values_and_which_one_is_published() -> None:
    check = plan_topology_check("us-west9", ("us-west9-a",), {"us-central1"}, {"us-central1-a"})
    assert "spec.region us-west9" in check.message
    assert "us-central1" in check.message
    assert "DNS publishes this member's shards under spec.region us-west9" in check.message
    assert "spec.zones us-west9-a is on no node" in check.message


# --- the status ------------------------------------------------------------------------------------------


def status(**changes: object) -> MemberClusterStatus:
    values: dict[str, object] = {
        "generation": 3,
        "ready": True,
        "reason": "ProbeSucceeded",
        "message": "ok",
        "kubernetes_version": "v1.33.13",
        "region": "us-central1",
        "zones": ("us-central1-b", "us-central1-a"),
        "probe_time": T0,
        "previous": None,
        "now": T0,
        **changes,
    }
    return render_member_cluster_status(**values)  # type: ignore[arg-type]


def test_status_carries_the_cluster_id_on_the_wire() -> None:
    rendered = status(cluster_id=UID).model_dump(mode="json", exclude_none=True)
    assert rendered["clusterID"] == UID
    assert "clusterID" not in status().model_dump(mode="json", exclude_none=True)


def test_topology_condition_is_written_and_kept_until_checked_again() -> None:
    mismatch = TopologyCheck(False, REASON_REGION_MISMATCH, "spec.region us-west9 contradicts ...")
    first = status(topology=mismatch)
    condition = next(c for c in first.conditions if c.type == "TopologyConsistent")
    assert (condition.status, condition.reason) == ("False", REASON_REGION_MISMATCH)
    later = status(previous=first, now=T0 + timedelta(minutes=5), ready=False, reason="ProbeFailed")
    kept = next(c for c in later.conditions if c.type == "TopologyConsistent")
    assert kept == condition
    fixed = status(
        previous=later,
        now=T0 + timedelta(minutes=9),
        topology=TopologyCheck(True, REASON_TOPOLOGY_CONSISTENT, "agree"),
    )
    now_ok = next(c for c in fixed.conditions if c.type == "TopologyConsistent")
    assert now_ok.status == "True"
    assert now_ok.last_transition_time == T0 + timedelta(minutes=9)
