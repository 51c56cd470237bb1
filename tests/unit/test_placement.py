"""Placement: which registered MemberClusters a FederatedService selects, and which named ones are unknown."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation_operator.domain.members import ClusterInfo
from federation_operator.domain.specs import LabelSelector, LabelSelectorRequirement, Placement
from federation_operator.planning.placement import is_selected_by, plan_placement, unknown_clusters

CLUSTERS = (
    ClusterInfo(name="us-east", region="us-east1", labels={"env": "prod", "cloud": "gcp"}, ready=True),
    ClusterInfo(name="eu-west", region="europe-west1", labels={"env": "prod", "cloud": "aws"}, ready=True),
    ClusterInfo(name="ap-south", region="asia-south1", labels={"env": "staging"}, ready=False),
    ClusterInfo(name="on-prem", region="dc1", labels={}, ready=True),
)


def placement(**raw: Any) -> Placement:
    return Placement.model_validate(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param({}, ("ap-south", "eu-west", "on-prem", "us-east"), id="default-selects-all"),
        pytest.param({"clusters": ["us-east", "eu-west"]}, ("eu-west", "us-east"), id="names-sorted"),
        pytest.param({"clusters": ["us-east", "nowhere"]}, ("us-east",), id="unregistered-name-dropped"),
        pytest.param({"clusters": ["ap-south"]}, ("ap-south",), id="not-ready-cluster-still-selected"),
        pytest.param(
            {"clusterSelector": {}}, ("ap-south", "eu-west", "on-prem", "us-east"), id="empty-selector"
        ),
        pytest.param(
            {"clusterSelector": {"matchLabels": {"env": "prod"}}}, ("eu-west", "us-east"), id="match-labels"
        ),
        pytest.param(
            {"clusterSelector": {"matchLabels": {"env": "prod", "cloud": "aws"}}},
            ("eu-west",),
            id="match-labels-all-must-hold",
        ),
        pytest.param(
            {
                "clusterSelector": {
                    "matchExpressions": [{"key": "cloud", "operator": "In", "values": ["gcp", "x"]}]
                }
            },
            ("us-east",),
            id="in",
        ),
        pytest.param(
            {
                "clusterSelector": {
                    "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]
                }
            },
            ("ap-south", "on-prem"),
            id="notin-matches-missing-key",
        ),
        pytest.param(
            {"clusterSelector": {"matchExpressions": [{"key": "cloud", "operator": "Exists"}]}},
            ("eu-west", "us-east"),
            id="exists",
        ),
        pytest.param(
            {"clusterSelector": {"matchExpressions": [{"key": "cloud", "operator": "DoesNotExist"}]}},
            ("ap-south", "on-prem"),
            id="does-not-exist",
        ),
        pytest.param(
            {
                "clusterSelector": {
                    "matchLabels": {"env": "prod"},
                    "matchExpressions": [{"key": "cloud", "operator": "NotIn", "values": ["aws"]}],
                }
            },
            ("us-east",),
            id="labels-and-expressions",
        ),
        pytest.param(
            {
                "clusters": ["us-east", "ap-south", "nowhere"],
                "clusterSelector": {"matchLabels": {"env": "prod"}},
            },
            ("us-east",),
            id="both-intersect",
        ),
        pytest.param({"clusterSelector": {"matchLabels": {"env": "qa"}}}, (), id="selector-matches-nothing"),
    ],
)
def test_plan_placement(raw: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert plan_placement(placement(**raw), CLUSTERS) == expected


def test_plan_placement_without_clusters_is_empty() -> None:
    assert plan_placement(Placement(), ()) == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param({}, (), id="default"),
        pytest.param({"clusters": ["us-east"]}, (), id="all-registered"),
        pytest.param({"clusters": ["zz", "us-east", "aa"]}, ("aa", "zz"), id="sorted"),
        pytest.param(
            {"clusters": ["nowhere"], "clusterSelector": {"matchLabels": {"env": "prod"}}},
            ("nowhere",),
            id="reported-with-selector",
        ),
    ],
)
def test_unknown_clusters(raw: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert unknown_clusters(placement(**raw), CLUSTERS) == expected


# --- properties ---------------------------------------------------------------------------------------------

KEYS = st.sampled_from(["env", "cloud", "tier"])
VALUES = st.sampled_from(["a", "b", "c"])
NAMES = st.sampled_from(["c1", "c2", "c3", "c4", "c5", "c6"])
clusters_strategy = st.lists(
    st.builds(
        ClusterInfo,
        name=NAMES,
        region=st.just("r"),
        labels=st.dictionaries(KEYS, VALUES, max_size=3),
        ready=st.booleans(),
    ),
    max_size=6,
    unique_by=lambda cluster: cluster.name,
)
requirements = st.one_of(
    st.builds(
        LabelSelectorRequirement,
        key=KEYS,
        operator=st.sampled_from(["In", "NotIn"]),
        values=st.lists(VALUES, min_size=1, max_size=2, unique=True).map(tuple),
    ),
    st.builds(LabelSelectorRequirement, key=KEYS, operator=st.sampled_from(["Exists", "DoesNotExist"])),
)
selectors = st.builds(
    LabelSelector,
    match_labels=st.dictionaries(KEYS, VALUES, max_size=2),
    match_expressions=st.lists(requirements, max_size=3).map(tuple),
)
placements = st.builds(
    Placement,
    clusters=st.lists(NAMES, max_size=4, unique=True).map(tuple),
    cluster_selector=st.none() | selectors,
)


@settings(deadline=None)
@given(placement=placements, clusters=clusters_strategy)
def test_placement_is_a_sorted_subset_of_registered_clusters(
    placement: Placement, clusters: list[ClusterInfo]
) -> None:
    selected = plan_placement(placement, clusters)
    registered = {cluster.name for cluster in clusters}
    assert set(selected) <= registered
    assert list(selected) == sorted(set(selected))
    unknown = unknown_clusters(placement, clusters)
    assert set(unknown) <= set(placement.clusters) - registered
    if placement.clusters:
        assert set(selected) <= set(placement.clusters)
    if placement.clusters and placement.cluster_selector is None:
        assert set(selected) | set(unknown) == set(placement.clusters)
    if placement.cluster_selector is not None:
        by_name = {cluster.name: cluster for cluster in clusters}
        assert all(is_selected_by(placement.cluster_selector, by_name[name].labels) for name in selected)


@settings(deadline=None)
@given(placement=placements, clusters=clusters_strategy)
def test_readiness_does_not_change_placement(placement: Placement, clusters: list[ClusterInfo]) -> None:
    flipped = [
        ClusterInfo(name=c.name, region=c.region, labels=c.labels, ready=not c.ready, synced=c.synced)
        for c in clusters
    ]
    assert plan_placement(placement, clusters) == plan_placement(placement, flipped)


@settings(deadline=None)
@given(
    key=KEYS,
    values=st.lists(VALUES, min_size=1, max_size=2, unique=True),
    labels=st.dictionaries(KEYS, VALUES, max_size=3),
)
def test_complementary_operators_partition_every_label_set(
    key: str, values: list[str], labels: dict[str, str]
) -> None:
    def matches(operator: str, vals: tuple[str, ...] = ()) -> bool:
        requirement = LabelSelectorRequirement.model_validate(
            {"key": key, "operator": operator, "values": vals}
        )
        return is_selected_by(LabelSelector(match_expressions=(requirement,)), labels)

    assert matches("In", tuple(values)) != matches("NotIn", tuple(values))
    assert matches("Exists") != matches("DoesNotExist")
    assert is_selected_by(LabelSelector(), labels)
