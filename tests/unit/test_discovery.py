"""In-cluster discovery, pure parts: each member's answer from shard health, the discovery Service names and
manifests, and the Corefile rule that `fedctl discovery enable` adds and `disable` removes byte for byte."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation_operator.domain.health import ShardHealth
from federation_operator.domain.members import ClusterInfo
from federation_operator.planning.discovery import (
    LABEL_DISCOVERY,
    LABEL_DISCOVERY_ZONE,
    CorefileError,
    DiscoveryAnswer,
    discovery_owner_of,
    discovery_service_name,
    find_cluster_domain,
    plan_cache_warning,
    plan_corefile_disable,
    plan_corefile_enable,
    plan_discovery,
    render_discovery_service,
)

KEY = ("mynamespace", "nginx")
ON = {LABEL_DISCOVERY: "cluster.local"}
KUBEADM = """\
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
"""


def member(name: str, zones: tuple[str, ...] = ("us-central1-a",), *, on: bool = True) -> ClusterInfo:
    return ClusterInfo(name=name, region="us-central1", zones=zones, labels=ON if on else {}, ready=True)


def shard(cluster: str, healthy: bool) -> ShardHealth:
    return ShardHealth(
        cluster=cluster, region="us-central1", zones=(), selected=True, synced=True, ingress=(),
        ready_endpoints=1 if healthy else 0, healthy=healthy, reason="", message="", counted=healthy,
    )  # fmt: skip


def test_healthy_shard_answers_locally() -> None:
    plan = plan_discovery(KEY, "myfederation", "example.com", [member("us")], [shard("us", True)])
    assert plan.service == "nginx--mynamespace"
    assert plan.answers == (DiscoveryAnswer("us", "Local", "nginx.mynamespace.svc.cluster.local"),)


def test_unhealthy_shard_falls_back_to_the_zone_name() -> None:
    plan = plan_discovery(KEY, "myfederation", "example.com", [member("us")], [shard("us", False)])
    assert plan.answers == (
        DiscoveryAnswer("us", "Fallback", "nginx.mynamespace.myfederation.svc.us-central1-a.example.com"),
    )


def test_member_in_several_zones_falls_back_to_its_chosen_zone_else_its_first() -> None:
    info = member("us", zones=("us-central1-a", "us-central1-b"))
    plan = plan_discovery(KEY, "myfederation", "example.com", [info], [])
    assert plan.answers[0].target == "nginx.mynamespace.myfederation.svc.us-central1-a.example.com"
    chosen = replace(info, labels={**ON, LABEL_DISCOVERY_ZONE: "us-central1-b"})
    plan = plan_discovery(KEY, "myfederation", "example.com", [chosen], [])
    assert plan.answers[0].target == "nginx.mynamespace.myfederation.svc.us-central1-b.example.com"


def test_member_without_zones_falls_back_to_its_region() -> None:
    plan = plan_discovery(KEY, "myfederation", "example.com", [member("us", zones=())], [])
    assert plan.answers[0].target == "nginx.mynamespace.myfederation.svc.us-central1.example.com"


def test_only_members_with_discovery_on_and_nothing_to_fall_back_to_without_dns() -> None:
    clusters = [member("us"), member("eu", on=False), member("asia")]
    plan = plan_discovery(KEY, "myfederation", None, clusters, [shard("us", True), shard("asia", False)])
    assert [(a.cluster, a.state) for a in plan.answers] == [("us", "Local")]


def test_no_member_with_discovery_plans_nothing() -> None:
    assert plan_discovery(KEY, "f", "example.com", [member("us", on=False)], []).answers == ()


@pytest.mark.parametrize(
    ("name", "namespace", "expected"),
    [("nginx", "mynamespace", "nginx--mynamespace"), ("a--b", "c", "a--b--c"), ("a", "b--c", None),
     ("n" * 40, "s" * 22, None), ("n" * 40, "s" * 21, "n" * 40 + "--" + "s" * 21)],
)  # fmt: skip
def test_discovery_service_name(name: str, namespace: str, expected: str | None) -> None:
    assert discovery_service_name(name, namespace) == expected


def test_unnameable_service_is_a_problem_not_an_answer() -> None:
    plan = plan_discovery(("b--c", "a"), "f", "example.com", [member("us")], [])
    assert plan.service is None
    assert plan.answers == ()
    assert plan.problem is not None
    assert "--" in plan.problem


def test_discovery_service_manifest() -> None:
    answer = DiscoveryAnswer("us", "Local", "nginx.mynamespace.svc.cluster.local")
    manifest = render_discovery_service("myfederation", KEY, "nginx--mynamespace", answer)
    assert manifest["metadata"]["namespace"] == "fedop-discovery-myfederation"
    assert manifest["spec"] == {"type": "ExternalName", "externalName": "nginx.mynamespace.svc.cluster.local"}
    # Not the shard label: the shared Service watch must never see it as a shard.
    assert "fedop.io/federation" not in manifest["metadata"]["labels"]


def test_enable_puts_the_rule_before_kubernetes_and_disable_restores_byte_for_byte() -> None:
    enabled = plan_corefile_enable(KUBEADM, "myfederation", "cluster.local")
    lines = enabled.splitlines()
    rewrite = next(i for i, line in enumerate(lines) if line.strip() == "rewrite stop {")
    kubernetes = next(i for i, line in enumerate(lines) if line.strip().startswith("kubernetes "))
    assert rewrite < kubernetes
    assert (
        r"name regex ^([a-z0-9-]+)\.([a-z0-9-]+)\.myfederation\.svc\.cluster\.local\.$ "
        "{1}--{2}.fedop-discovery-myfederation.svc.cluster.local." in enabled
    )
    assert plan_corefile_enable(enabled, "myfederation", "cluster.local") == enabled  # idempotent
    assert plan_corefile_disable(enabled, "myfederation") == KUBEADM
    assert plan_corefile_disable(KUBEADM, "myfederation") == KUBEADM


def test_two_federations_each_remove_only_their_own_rule() -> None:
    both = plan_corefile_enable(plan_corefile_enable(KUBEADM, "a", "cluster.local"), "b", "cluster.local")
    only_b = plan_corefile_disable(both, "a")
    assert plan_corefile_disable(only_b, "b") == KUBEADM
    assert "fedop.io/discovery b:" in only_b
    assert "fedop.io/discovery a:" not in only_b


def test_corefile_without_kubernetes_is_refused() -> None:
    with pytest.raises(CorefileError):
        plan_corefile_enable(".:53 {\n    forward . 8.8.8.8\n}\n", "f", "cluster.local")


def test_cluster_domain_from_the_corefile() -> None:
    assert find_cluster_domain(KUBEADM) == "cluster.local"
    assert find_cluster_domain(KUBEADM.replace("cluster.local in", "corp.example in")) == "corp.example"
    assert find_cluster_domain(".:53 {\n    forward . 8.8.8.8\n}\n") is None


@given(
    st.lists(st.sampled_from(["    errors", "    log", "\tcache 30", "    # a comment", ""]), max_size=6),
    st.sampled_from(["\n", "\r\n"]),
)
def test_round_trip_restores_any_corefile(extra: list[str], newline: str) -> None:
    corefile = newline.join([".:53 {", *extra, "    kubernetes cluster.local", *extra, "}"]) + newline
    enabled = plan_corefile_enable(corefile, "f", "cluster.local")
    assert enabled != corefile
    assert plan_corefile_disable(enabled, "f") == corefile


@pytest.mark.parametrize(
    ("name", "namespace"), [("nginx", "mynamespace"), ("a--b", "c"), ("web-1", "team-a"), ("x", "y")]
)
def test_owner_is_read_back_from_the_service_name(name: str, namespace: str) -> None:
    service = discovery_service_name(name, namespace)
    assert service is not None
    assert discovery_owner_of(service) == (namespace, name)


@pytest.mark.parametrize(
    ("cache", "warned"),
    [
        ("    cache 30\n", True),  # kubeadm before Kubernetes 1.32: every zone cached
        (
            "    cache 30 {\n       disable success cluster.local\n       disable denial cluster.local\n"
            "    }\n",
            False,
        ),
        ("    cache 30 {\n       disable denial cluster.local\n    }\n", True),
        ("", False),
    ],
)
def test_a_cache_that_keeps_the_cluster_domain_is_warned_about(cache: str, warned: bool) -> None:
    corefile = KUBEADM.replace("    cache 30\n", cache)
    warning = plan_cache_warning(corefile, "cluster.local")
    assert (warning is not None) == warned
    if warning is not None:
        assert "disable success cluster.local" in warning
