"""In-cluster discovery on a member's CoreDNS: what each member should answer, and the Corefile change.

A Pod in member M looks up ``nginx.mynamespace.myfederation`` (its search path makes that
``nginx.mynamespace.myfederation.svc.cluster.local``). Stock CoreDNS answers it with two stock plugins:

- ``fedctl discovery enable`` adds one ``rewrite`` rule to M's Corefile, once (:func:`plan_corefile_enable`):
  ``<svc>.<ns>.<federation>.svc.<cluster domain>`` is looked up as
  ``<svc>--<ns>.fedop-discovery-<federation>.svc.<cluster domain>``, and the answer's names are mapped back;
- the operator keeps, per FederatedService, one ``ExternalName`` Service of that name in M
  (:func:`render_discovery_service`), which the ``kubernetes`` plugin already watches: its ``externalName`` is
  M's own Service (``<svc>.<ns>.svc.<cluster domain>``, which CoreDNS follows to the ClusterIP) while M's
  shard is healthy, else the public zone-tier name (which CoreDNS follows through the public tiers). Changing
  it is one Service write, live in CoreDNS as soon as its watch delivers it: no Corefile change, no
  kubelet remount on the hot path.

Everything here is pure: the plan per member from shard health, the Service manifests, and the Corefile
text edits (which restore the original byte for byte).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from federation_operator.domain.health import ShardHealth
from federation_operator.domain.keys import Key
from federation_operator.domain.members import (
    LABEL_MANAGED_BY,
    LABEL_OWNER_NAME,
    LABEL_OWNER_NAMESPACE,
    MANAGED_BY,
    ClusterInfo,
)
from federation_operator.domain.records import ServiceNames

__all__ = [
    "ANSWER_TTL",
    "LABEL_DISCOVERY",
    "LABEL_DISCOVERY_FEDERATION",
    "LABEL_DISCOVERY_ZONE",
    "CorefileError",
    "DiscoveryAnswer",
    "DiscoveryPlan",
    "discovery_namespace",
    "discovery_owner_of",
    "discovery_service_name",
    "discovery_zone",
    "find_cluster_domain",
    "member_cluster_domain",
    "plan_cache_warning",
    "plan_corefile_disable",
    "plan_corefile_enable",
    "plan_discovery",
    "render_corefile_rule",
    "render_discovery_service",
]

# On a MemberCluster: discovery is on in that member, and the value is its cluster domain (`cluster.local`).
# Set by `fedctl discovery enable` once the member's Corefile holds our rule, removed by `disable` first.
LABEL_DISCOVERY = "fedop.io/discovery"
# On our ExternalName Services in a member: the federation they answer for. Not `fedop.io/federation`, so the
# shared Service watch (which selects on that label) never mistakes them for shards.
LABEL_DISCOVERY_FEDERATION = "fedop.io/discovery-federation"
# On a MemberCluster: the zone its Pods fall back to (see discovery_zone), set by `fedctl discovery enable`.
LABEL_DISCOVERY_ZONE = "fedop.io/discovery-zone"

State = Literal["Local", "Fallback"]
LOCAL: State = "Local"
FALLBACK: State = "Fallback"

# A discovery answer's TTL (seconds): how long a cache may keep it after the local shard's health changed.
ANSWER_TTL = 5
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAX_LABEL = 63


class CorefileError(ValueError):
    """A Corefile our rule cannot be added to (no `kubernetes` server block), or that holds it twice."""


def discovery_namespace(federation: str) -> str:
    """The member namespace holding the federation's discovery Services (created by `fedctl discovery`)."""
    return f"fedop-discovery-{federation}"


def discovery_service_name(name: str, namespace: str) -> str | None:
    """``<name>--<namespace>``: the discovery Service of one FederatedService; None when it cannot have one.

    The Corefile rule maps the answer back by splitting at the last ``--``, so a namespace holding ``--``
    would be ambiguous; and the result must be one DNS label (63 characters at most).
    """
    if "--" in namespace:
        return None
    joined = f"{name}--{namespace}"
    return joined if len(joined) <= _MAX_LABEL else None


def member_cluster_domain(info: ClusterInfo) -> str | None:
    """The cluster domain of a member with discovery on (its MemberCluster's label), else None."""
    raw = info.labels.get(LABEL_DISCOVERY)
    if not raw:
        return None
    domain = raw.strip(".").lower()
    return domain if all(_LABEL.match(part) for part in domain.split(".")) else None


@dataclass(frozen=True)
class DiscoveryAnswer:
    """What a member answers for the FederatedService: ``target`` is the discovery Service's externalName."""

    cluster: str
    state: State
    target: str


@dataclass(frozen=True)
class DiscoveryPlan:
    """The discovery Service every member with discovery on should hold for one FederatedService.

    ``service`` is its name (None, with ``problem`` saying why, when the FederatedService cannot have one);
    ``answers`` has one entry per member with discovery on; a member without one holds no discovery Service.
    """

    service: str | None
    answers: tuple[DiscoveryAnswer, ...]
    problem: str | None = None


def discovery_zone(info: ClusterInfo) -> str | None:
    """The zone whose public name a member's Pods fall back to.

    CoreDNS runs as a few replicas but gives one answer (one discovery Service per member), so a member has
    one zone for discovery, like kube-dns, which used the zone of the node it ran on: the zone `fedctl
    discovery enable` found for the member's CoreDNS Pods, or was given (``--zone``), kept in the label
    ``fedop.io/discovery-zone``; without it, the member's only zone, else the first of its zones (the
    MemberCluster's order); None for a member with no zones.
    """
    chosen = info.labels.get(LABEL_DISCOVERY_ZONE)
    if chosen:
        return chosen
    return info.zones[0] if info.zones else None


def _fallback_name(names: ServiceNames, info: ClusterInfo) -> str:
    """The zone-tier name (which the public tiers chain to the region, then global); the region's name for a
    member without zones, the global name without a region either."""
    zone = discovery_zone(info)
    if zone:
        return names.zone_name(zone)
    if info.region:
        return names.region_name(info.region)
    return names.global_name


def plan_discovery(
    key: Key,
    federation: str,
    domain: str | None,
    clusters: Iterable[ClusterInfo],
    shards: Sequence[ShardHealth],
) -> DiscoveryPlan:
    """Per member with discovery on: its own Service while its shard is healthy, else the public fallback.

    A member the FederatedService is not placed in (no shard) answers by fallback too: the nearest healthy
    shard is elsewhere. With DNS publishing off (``domain`` None) there is no public name to fall back to,
    so such a member answers nothing (its discovery Service is removed).
    """
    namespace, name = key
    enabled = [(info, d) for info in clusters if (d := member_cluster_domain(info)) is not None]
    if not enabled:
        return DiscoveryPlan(None, ())
    service = discovery_service_name(name, namespace)
    if service is None:
        why = (
            f"namespace {namespace!r} contains '--'"
            if "--" in namespace
            else f"'{name}--{namespace}' is longer than {_MAX_LABEL} characters"
        )
        return DiscoveryPlan(None, (), problem=f"in-cluster discovery cannot name this Service: {why}")
    healthy = {s.cluster for s in shards if s.selected and s.healthy}
    names = ServiceNames(name, namespace, federation, domain) if domain else None
    answers: list[DiscoveryAnswer] = []
    for info, cluster_domain in sorted(enabled, key=lambda pair: pair[0].name):
        if info.name in healthy:
            answers.append(DiscoveryAnswer(info.name, LOCAL, f"{name}.{namespace}.svc.{cluster_domain}"))
        elif names is not None:
            answers.append(DiscoveryAnswer(info.name, FALLBACK, _fallback_name(names, info).rstrip(".")))
    return DiscoveryPlan(service, tuple(answers))


def render_discovery_service(
    federation: str, key: Key, service: str, answer: DiscoveryAnswer
) -> dict[str, Any]:
    """The ExternalName Service answering for FederatedService ``key`` in ``answer.cluster``."""
    namespace, name = key
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service,
            "namespace": discovery_namespace(federation),
            "labels": {
                LABEL_DISCOVERY_FEDERATION: federation,
                LABEL_OWNER_NAMESPACE: namespace,
                LABEL_OWNER_NAME: name,
                LABEL_MANAGED_BY: MANAGED_BY,
            },
        },
        "spec": {"type": "ExternalName", "externalName": answer.target},
    }


def discovery_owner_of(service: str) -> Key | None:
    """The FederatedService a discovery Service answers for, from its name (the inverse of
    :func:`discovery_service_name`: the namespace is what follows the last ``--``)."""
    name, sep, namespace = service.rpartition("--")
    return (namespace, name) if sep and name and namespace else None


# --- the Corefile -------------------------------------------------------------------------------------------

# Our lines in a Corefile are exactly those between these two comments (inclusive): `disable` removes them and
# nothing else, which restores the Corefile byte for byte.
_BEGIN = "# fedop.io/discovery {federation}: begin (added by fedctl discovery enable; disable removes it)"
_END = "# fedop.io/discovery {federation}: end"
_KUBERNETES = re.compile(r"^(?P<indent>\s*)kubernetes(?=\s|\{|$)(\s+(?P<zones>[^{#]*))?")


def find_cluster_domain(corefile: str) -> str | None:
    """The cluster domain: the first zone of the Corefile's `kubernetes` plugin that is not a reverse zone."""
    for line in corefile.splitlines():
        found = _KUBERNETES.match(line)
        if found is None:
            continue
        for raw in (found.group("zones") or "").split():
            zone = raw.strip(".").lower()
            if zone and not zone.endswith(("in-addr.arpa", "ip6.arpa")):
                return zone
        # `kubernetes` without zones serves its server block's zones: take kubeadm's default.
        return "cluster.local"
    return None


def _literal(name: str) -> str:
    """A DNS name as a Go regexp matching just it: names hold only [a-z0-9-.], so escaping dots is enough."""
    return name.replace(".", "\\.")


def plan_cache_warning(corefile: str, cluster_domain: str) -> str | None:
    """Why a switch of the answer may lag in CoreDNS itself, if it may: a `cache` that keeps answers of the
    cluster domain. Since CoreDNS 1.14.7 `rewrite` runs before `cache`, so such a cache keeps the discovery
    Service's answer under its own name for the `kubernetes` plugin's TTL; kubeadm's Corefile does not cache
    the cluster domain since Kubernetes 1.32 (``disable success <cluster domain>``). None: no such cache."""
    lines = [line.split("#", 1)[0].strip() for line in corefile.splitlines()]
    caches = [i for i, line in enumerate(lines) if line == "cache" or line.startswith(("cache ", "cache{"))]
    if not caches:
        return None
    for i in caches:
        if not lines[i].endswith("{"):
            break  # a cache without options caches every zone
        block = []
        for line in lines[i + 1 :]:
            if line.startswith("}"):
                break
            block.append(line.split())
        if ["disable", "success", cluster_domain] not in [words[:3] for words in block if len(words) >= 3]:
            break
    else:
        return None
    return (
        f"this Corefile's cache keeps answers of {cluster_domain}: with CoreDNS 1.14.7 or later a discovery "
        "answer may then lag a shard's health by up to the kubernetes plugin's `ttl` (kubeadm's: 30 s). "
        f"To avoid it, give the cache `disable success {cluster_domain}` (kubeadm's Corefile has it since "
        "Kubernetes 1.32); fedctl does not change your cache settings"
    )


def render_corefile_rule(federation: str, cluster_domain: str, indent: str = "    ") -> list[str]:
    """Our lines: two `rewrite` rules for the federation's names, ``<svc>.<ns>.<federation>.svc.<domain>``.

    - the first caps the answer's TTL at :data:`ANSWER_TTL` seconds (``continue``: the next rule applies too),
      so that a cache after CoreDNS (a Pod's, NodeLocal DNSCache's) keeps it that long at most after a switch
      (CoreDNS's own cache is :func:`plan_cache_warning`'s concern);
    - the second looks the name up as ``<svc>--<ns>.fedop-discovery-<federation>.svc.<domain>`` (the discovery
      Service the operator keeps) and names the answer back as asked.

    They sit before the `kubernetes` plugin in the same server block (CoreDNS orders plugins itself: `rewrite`
    always runs before `kubernetes`). No other name matches.
    """
    # DNS names hold only [a-z0-9-.]: escaping the dots makes them literal in Go's regexp syntax.
    fed, dom = _literal(federation), _literal(cluster_domain)
    target_ns = discovery_namespace(federation)
    label = "[a-z0-9-]+"
    asked = f"^({label})\\.({label})\\.{fed}\\.svc\\.{dom}\\.$"
    return [
        indent + _BEGIN.format(federation=federation),
        indent + "rewrite continue {",
        f"{indent}    ttl regex {asked} {ANSWER_TTL}",
        indent + "}",
        indent + "rewrite stop {",
        f"{indent}    name regex {asked} {{1}}--{{2}}.{target_ns}.svc.{cluster_domain}.",
        f"{indent}    answer name ^({label})--({label})\\.{_literal(target_ns)}\\.svc\\.{dom}\\.$ "
        f"{{1}}.{{2}}.{federation}.svc.{cluster_domain}.",
        indent + "}",
        indent + _END.format(federation=federation),
    ]


def _rule_span(lines: Sequence[str], federation: str) -> tuple[int, int] | None:
    begin, end = _BEGIN.format(federation=federation), _END.format(federation=federation)
    starts = [i for i, line in enumerate(lines) if line.strip() == begin]
    if not starts:
        return None
    if len(starts) > 1:
        raise CorefileError(f"the Corefile holds the discovery rule of {federation!r} more than once")
    for j in range(starts[0], len(lines)):
        if lines[j].strip() == end:
            return starts[0], j
    raise CorefileError(f"the Corefile's discovery rule of {federation!r} has no end line")


def plan_corefile_enable(corefile: str, federation: str, cluster_domain: str) -> str:
    """The Corefile with our rule before its `kubernetes` line; unchanged if the rule is there already."""
    lines = corefile.splitlines(keepends=True)
    if _rule_span([line.rstrip("\r\n") for line in lines], federation) is not None:
        return corefile
    for i, line in enumerate(lines):
        found = _KUBERNETES.match(line)
        if found is None:
            continue
        newline = "\r\n" if line.endswith("\r\n") else "\n"
        rule = render_corefile_rule(federation, cluster_domain, found["indent"])
        added = [f"{text}{newline}" for text in rule]
        return "".join([*lines[:i], *added, *lines[i:]])
    raise CorefileError("the Corefile has no server block with the `kubernetes` plugin")


def plan_corefile_disable(corefile: str, federation: str) -> str:
    """The Corefile without our rule (exactly the lines `enable` added); unchanged if it holds none."""
    lines = corefile.splitlines(keepends=True)
    span = _rule_span([line.rstrip("\r\n") for line in lines], federation)
    if span is None:
        return corefile
    first, last = span
    return "".join([*lines[:first], *lines[last + 1 :]])
