"""Placement: which registered member clusters a FederatedService selects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from federation_operator.domain.members import ClusterInfo
from federation_operator.domain.specs import LabelSelector, LabelSelectorRequirement, Placement

__all__ = ["is_selected_by", "plan_placement", "unknown_clusters"]


def plan_placement(placement: Placement, clusters: Sequence[ClusterInfo]) -> tuple[str, ...]:
    """The names of the registered clusters ``placement`` selects, sorted and without duplicates.

    - neither ``clusters`` nor ``clusterSelector``: every registered cluster;
    - ``clusters`` only: the named clusters that are registered (see :func:`unknown_clusters` for the rest);
    - ``clusterSelector`` only: the clusters whose labels match it, with Kubernetes ``LabelSelector``
      semantics (an empty selector matches every cluster);
    - both: the named clusters whose labels also match the selector.

    The last rule differs from KubeFed, where ``clusters`` wins and the selector is then ignored. Our CRD
    documents the intersection (``kubectl explain federatedservice.spec.placement``), and it is what a user
    who writes both fields means: a selector written next to a list is a filter, never a no-op.

    Readiness plays no part: a NotReady cluster is still selected, only its shard is not healthy. That keeps
    the member's Service in place through an outage instead of deleting it and creating it again.
    """
    registered = {cluster.name: cluster for cluster in clusters}
    if placement.clusters:
        candidates = [registered[name] for name in placement.clusters if name in registered]
    else:
        candidates = list(registered.values())
    if placement.cluster_selector is not None:
        candidates = [c for c in candidates if is_selected_by(placement.cluster_selector, c.labels)]
    return tuple(sorted({cluster.name for cluster in candidates}))


def unknown_clusters(placement: Placement, clusters: Sequence[ClusterInfo]) -> tuple[str, ...]:
    """Cluster names ``placement.clusters`` lists that no registered MemberCluster has, sorted.

    Status reports them ("cluster X is not registered") rather than failing the whole object: the
    MemberCluster may simply not have been created yet.
    """
    registered = {cluster.name for cluster in clusters}
    return tuple(sorted(set(placement.clusters) - registered))


def is_selected_by(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` match ``selector``: every ``matchLabels`` pair and every ``matchExpressions`` entry.

    As in Kubernetes, ``NotIn`` and ``DoesNotExist`` match objects that lack the key altogether, and an empty
    selector matches everything.
    """
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    return all(_meets(requirement, labels) for requirement in selector.match_expressions)


def _meets(requirement: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = requirement.key in labels
    match requirement.operator:
        case "In":
            return present and labels[requirement.key] in requirement.values
        case "NotIn":
            return not present or labels[requirement.key] not in requirement.values
        case "Exists":
            return present
        case "DoesNotExist":
            return not present
