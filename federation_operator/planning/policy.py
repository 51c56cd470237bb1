"""``spec.dns.policy``, planned: whether the DNS provider can publish it, and which shards the global name
answers under it. Pure code, no I/O.

- :func:`plan_policy_refusal`: a policy the configured provider cannot express (plain DNS has no weights,
  no latency or location routing), or a ``latency``/``geolocation`` policy over a member region with no known
  location, is an ``InvalidSpec`` naming the field and the providers that can publish it, never a silent
  downgrade to ``tiered``; so is a ``healthCheck`` or ``gcpHealthCheck`` the provider cannot run;
  :func:`plan_mirrors_refusal` refuses ``geolocation`` on Route 53 and Cloud DNS
  mirrors of one zone, which locate clients differently;
- :func:`plan_failover_ranks` and :func:`plan_global_clusters`: ``failover`` answers, at the global name,
  only the healthy shards of the first group that has one. The operator decides it from the health it
  aggregates, so it works on every provider, RFC 2136 included, and moves as fast as health does (one watch
  event, one DNS round). Region and zone names keep their geo meaning: a region with a healthy shard still
  answers it, and a region without one is a CNAME to the global name, which then follows the failover order.
- :func:`plan_failover_roles`: ``failover`` with ``healthCheck`` is decided by the managed DNS service
  itself (Route 53 failover record sets), so it keeps failing over while the operator or the host cluster
  is down: the first group with a healthy IPv4 shard is the ``PRIMARY`` (health-checked by the provider),
  the next such group the ``SECONDARY`` (the standby the provider answers while the primary fails);
- :func:`plan_weights`, :func:`plan_latency_regions`, :func:`plan_geo_places`: what ``weighted``,
  ``latency`` and ``geolocation`` make of each cluster (its weight, the AWS region it is nearest to, its
  Route 53 location), from which :func:`~federation_operator.planning.records.plan_tiers` makes the global
  name's routing-policy group (``WEIGHTED``, ``LATENCY``, ``GEO``) that the managed DNS service answers;
- :func:`render_policy_shards`: ``status.shards`` with each shard's failover group (``priority``) or weight,
  and whether the global name answers it now (under provider failover: may answer it, as the primary or
  the standby).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from federation_operator.domain.elb import elb_hosted_zone
from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.gcp_failover import GcpFailover
from federation_operator.domain.health import ShardHealth
from federation_operator.domain.members import ClusterInfo
from federation_operator.domain.policies import (
    DEFAULT_LOCATIONS,
    GCP_HEALTH_CHECK_PROVIDERS,
    HEALTH_CHECK_PROVIDERS,
    POLICY_PROVIDERS,
    PROVIDER_ROUTING,
    Location,
)
from federation_operator.domain.records import FAILOVER_ROLES, ShardAddresses
from federation_operator.domain.specs import ClusterSet, DnsPolicy
from federation_operator.domain.status import ShardStatus

__all__ = [
    "is_chosen_by",
    "plan_failover_ranks",
    "plan_failover_roles",
    "plan_gcp_failover",
    "plan_geo_places",
    "plan_global_clusters",
    "plan_latency_regions",
    "plan_location",
    "plan_mirrors_refusal",
    "plan_policy_refusal",
    "plan_weights",
    "render_policy_shards",
]


def plan_policy_refusal(
    policy: DnsPolicy | None, *, provider: str | None, regions: Iterable[str]
) -> InvalidSpecError | None:
    """Why ``policy`` cannot be published by ``provider`` for members in ``regions``, or None when it can.

    ``provider`` None (not known to the caller) refuses only what no provider publishes. ``regions``: those
    of the clusters the object is placed on; under ``latency`` and ``geolocation`` each needs a location (the
    built-in table or ``policy.locations``).
    """
    if policy is None:
        return None
    problems: list[tuple[str, str]] = []
    able = POLICY_PROVIDERS[policy.type]
    if (provider is None and not able) or (provider is not None and provider not in able):
        problems.append(("spec.dns.policy.type", _refusal(policy.type, provider, able)))
    if policy.health_check is not None and provider is not None and provider not in HEALTH_CHECK_PROVIDERS:
        problems.append(
            (
                "spec.dns.policy.healthCheck",
                f"health checks cannot be run by the {provider} provider; providers that run them: "
                f"{', '.join(HEALTH_CHECK_PROVIDERS)} (Route 53 health checks); remove healthCheck to "
                "publish the policy without them",
            )
        )
    if (
        policy.gcp_health_check is not None
        and provider is not None
        and provider not in GCP_HEALTH_CHECK_PROVIDERS
    ):
        problems.append(
            (
                "spec.dns.policy.gcpHealthCheck",
                f"a Compute Engine health check cannot be used by the {provider} provider; providers that "
                f"use it: {', '.join(GCP_HEALTH_CHECK_PROVIDERS)} (a Cloud DNS primaryBackup routing "
                "policy); remove gcpHealthCheck to publish failover as computed by the operator",
            )
        )
    located = policy.type in ("latency", "geolocation") or (
        policy.gcp_health_check is not None and provider in GCP_HEALTH_CHECK_PROVIDERS
    )
    if located:
        unknown = sorted({r.lower() for r in regions if not _located(policy, r, provider)})
        if unknown:
            problems.append(
                (
                    "spec.dns.policy.locations",
                    f"no location is known for region {', '.join(unknown)}: add it to policy.locations "
                    "(the built-in table holds GKE, EKS and AKS region names)",
                )
            )
    return InvalidSpecError(tuple(problems)) if problems else None


def plan_mirrors_refusal(policy: DnsPolicy | None, providers: Sequence[str]) -> InvalidSpecError | None:
    """Why ``policy`` cannot be published by the mirrors ``providers`` of the federation's zone together,
    though each could on its own, or None: ``geolocation`` means a country or continent on Route 53 and the
    nearest Google Cloud region on Cloud DNS, so the global name would answer differently by mirror."""
    if policy is None or policy.type != "geolocation" or not {"clouddns", "route53"} <= set(providers):
        return None
    message = (
        "geolocation cannot be published by mirrors on clouddns and route53 together: Route 53 routes by "
        "country or continent with a default location, Cloud DNS by the nearest Google Cloud region, so the "
        "global name would answer differently by mirror; use one of them, or tiered, failover or weighted"
    )
    return InvalidSpecError((("spec.dns.policy.type", message),))


def _located(policy: DnsPolicy, region: str, provider: str | None) -> bool:
    """Whether ``region`` has what ``provider`` needs for ``policy``: an AWS region for Route 53 latency, a
    continent or country for Route 53 geolocation, a Google Cloud region for Cloud DNS geo."""
    location = plan_location(policy, region)
    if location is None:
        return False
    if policy.type == "latency":
        return bool(location.aws_region)
    if policy.type == "failover":  # a Cloud DNS backup item is in a Google Cloud region
        return bool(location.gcp_region)
    route53, clouddns = bool(location.continent or location.country), bool(location.gcp_region)
    return {"route53": route53, "clouddns": clouddns}.get(provider or "", route53 or clouddns)


def _refusal(policy: str, provider: str | None, able: Sequence[str]) -> str:
    which = f"the {provider} provider" if provider else "this operator's DNS provider"
    why = {"rfc2136": "plain DNS (RFC 2136) has no weights or source-aware answers"}.get(provider or "")
    message = f"{policy} cannot be published by {which}"
    if why:
        message += f": {why}"
    if policy in PROVIDER_ROUTING:
        message += f"; it is answered by the managed DNS service ({PROVIDER_ROUTING[policy]})"
    if able:
        message += f"; providers that publish it: {', '.join(able)}"
    else:
        message += "; no provider of this operator version publishes it yet"
    return message + "; tiered and failover work with every provider"


def is_chosen_by(chooser: ClusterSet, cluster: ClusterInfo) -> bool:
    """Whether an entry of ``weights`` or ``groups`` chooses ``cluster``: named (when it names clusters) and
    carrying every one of its ``matchLabels`` (when it has some); an entry with neither chooses every
    cluster."""
    if chooser.clusters and cluster.name not in chooser.clusters:
        return False
    return all(cluster.labels.get(key) == value for key, value in chooser.match_labels.items())


def plan_failover_ranks(policy: DnsPolicy, clusters: Iterable[ClusterInfo]) -> dict[str, int]:
    """Cluster name → its failover group (0 first): the first group choosing it, else ``len(groups)``, the
    implicit last group of clusters no group chooses (so no cluster is left unanswered by a typo)."""
    last = len(policy.groups)
    return {
        cluster.name: next((i for i, g in enumerate(policy.groups) if is_chosen_by(g, cluster)), last)
        for cluster in clusters
    }


def plan_global_clusters(
    policy: DnsPolicy | None, clusters: Iterable[ClusterInfo], healthy: Sequence[ShardAddresses]
) -> tuple[frozenset[str] | None, int | None]:
    """The clusters whose healthy shards the global name answers (None: all of them, as ``tiered``), and
    under ``failover`` the group answering (0 first; None while no shard has an address).

    Only shards with an address count: a group whose healthy shards have nothing to publish cannot answer.
    """
    if policy is None or policy.type != "failover":
        return None, None
    ranks = plan_failover_ranks(policy, clusters)
    last = len(policy.groups)
    candidates = [s for s in healthy if s.has_addresses]
    if not candidates:
        return frozenset(), None
    first = min(ranks.get(s.cluster, last) for s in candidates)
    return frozenset(s.cluster for s in candidates if ranks.get(s.cluster, last) == first), first


def plan_failover_roles(
    policy: DnsPolicy | None,
    clusters: Iterable[ClusterInfo],
    healthy: Sequence[ShardAddresses],
    *,
    aliases: bool = False,
) -> dict[str, str] | None:
    """Under ``failover`` with ``healthCheck`` or ``gcpHealthCheck`` (the provider fails over on its own
    health checks: Route 53, Cloud DNS): cluster → ``PRIMARY`` for the healthy shards with an IPv4 address
    of the first group that has one, ``SECONDARY`` for those of the next group that has one; clusters of
    later groups have no role (a provider holds one primary and one secondary per name). Only one such
    group: a primary alone, as the operator has nothing healthy to stand by. None without a health check or
    under another policy: the operator decides (:func:`plan_global_clusters`).

    By IPv4 address, as the provider's failover record sets are A record sets, and with ``aliases`` (the
    provider aliases AWS load balancers: Route 53) by load balancer too: a shard reached only by hostnames,
    one of them an AWS load balancer, can be a failover alias set. The groups are the operator's
    (:func:`plan_failover_ranks`), so a group the operator finds unhealthy is withdrawn as under the
    operator's own failover, and the provider moves on its own only between the two it is given.
    """
    if policy is None or policy.type != "failover":
        return None
    if policy.health_check is None and policy.gcp_health_check is None:
        return None
    ranks = plan_failover_ranks(policy, clusters)
    last = len(policy.groups)
    with_ipv4 = [s for s in healthy if s.ipv4 or (aliases and _aliased(s))]
    # The first two groups holding such a shard, in order: zip stops at the roles.
    ranked = sorted({ranks.get(s.cluster, last) for s in with_ipv4})
    role_of_rank = dict(zip(ranked, FAILOVER_ROLES, strict=False))
    return {
        s.cluster: role_of_rank[rank]
        for s in with_ipv4
        if (rank := ranks.get(s.cluster, last)) in role_of_rank
    }


def plan_gcp_failover(
    policy: DnsPolicy | None, clusters: Iterable[ClusterInfo], roles: Mapping[str, str] | None
) -> GcpFailover | None:
    """Under ``failover`` with ``gcpHealthCheck`` (Cloud DNS's ``primaryBackup``), what the provider needs
    beside the ``roles`` (:func:`plan_failover_roles`): the health check's URL, and the Google Cloud region
    of the backup item, the first (by name) of the SECONDARY clusters' regions, or of the PRIMARY's when
    there is no SECONDARY (the primary is then its own backup: Cloud DNS has no failover without one). None
    without that policy, without roles, or without a region (a placed region without one is refused on the
    spec: :func:`plan_policy_refusal`)."""
    url = policy.gcp_health_check_url if policy is not None and policy.type == "failover" else None
    if url is None or not roles:
        return None
    role = "SECONDARY" if "SECONDARY" in roles.values() else "PRIMARY"
    by_name = {c.name: c for c in clusters}
    regions = sorted(
        location.gcp_region
        for cluster, held in roles.items()
        if held == role and cluster in by_name
        for location in (plan_location(policy, by_name[cluster].region),)
        if location is not None and location.gcp_region
    )
    return GcpFailover(location=regions[0], health_check=url) if regions else None


def _aliased(shard: ShardAddresses) -> bool:
    """Whether ``shard`` is reached by hostnames only, one of them an AWS load balancer (an alias share)."""
    return not shard.ipv6 and not shard.ipv4 and any(elb_hosted_zone(h) for h in shard.hostnames)


def plan_weights(policy: DnsPolicy, clusters: Iterable[ClusterInfo]) -> dict[str, int]:
    """Cluster name → its ``weighted`` weight: the first entry of ``weights`` choosing it, else
    ``defaultWeight``."""
    return {
        cluster.name: next(
            (w.weight for w in policy.weights if is_chosen_by(w, cluster)), policy.default_weight
        )
        for cluster in clusters
    }


def plan_latency_regions(policy: DnsPolicy, clusters: Iterable[ClusterInfo]) -> dict[str, str]:
    """Cluster name → the AWS region its region is nearest to (``latency``), for the clusters whose region
    has one (:func:`plan_location`)."""
    regions: dict[str, str] = {}
    for cluster in clusters:
        location = plan_location(policy, cluster.region)
        if location is not None and location.aws_region:
            regions[cluster.name] = location.aws_region
    return regions


def plan_geo_places(
    policy: DnsPolicy, clusters: Iterable[ClusterInfo], *, gcp_regions: bool = False
) -> dict[str, str]:
    """Cluster name → its geolocation (``geolocation``). On Route 53: ``country:<code>`` when its region's
    location has a country, else ``continent:<code>``; with ``gcp_regions`` (Cloud DNS, whose ``geo`` items
    are Google Cloud regions): ``gcp:<region>``, the Google Cloud region nearest to its region. Clusters
    whose region has no such location are left out."""
    places: dict[str, str] = {}
    for cluster in clusters:
        location = plan_location(policy, cluster.region)
        if gcp_regions:
            if location is not None and location.gcp_region:
                places[cluster.name] = f"gcp:{location.gcp_region}"
        elif location is not None and location.country:
            places[cluster.name] = f"country:{location.country}"
        elif location is not None and location.continent:
            places[cluster.name] = f"continent:{location.continent}"
    return places


def plan_location(policy: DnsPolicy | None, region: str) -> Location | None:
    """Where ``region`` is: its ``policy.locations`` entry over the built-in table (fields it leaves out come
    from the table), or None when neither knows it."""
    region = region.lower()
    base = DEFAULT_LOCATIONS.get(region)
    given = next((loc for loc in policy.locations if loc.region == region), None) if policy else None
    if given is None:
        return base
    return Location(
        continent=given.continent or (base.continent if base else ""),
        country=given.country or (base.country if base else ""),
        aws_region=given.aws_region or (base.aws_region if base else ""),
        gcp_region=given.gcp_region or (base.gcp_region if base else ""),
    )


def render_policy_shards(
    policy: DnsPolicy,
    clusters: Sequence[ClusterInfo],
    shards: Sequence[ShardStatus],
    counted: Sequence[ShardHealth] | None,
    *,
    hostname_aliases: bool = False,
    unanswered: frozenset[str] = frozenset(),
) -> tuple[ShardStatus, ...]:
    """``shards`` with what ``policy`` makes of each: ``priority`` (failover group, 1 first) or ``weight``,
    and ``answering`` (the global name answers the shard now) from the shards DNS counts (None: DNS is held
    or frozen, so what it answers is not planned now and ``answering`` is left out). Under failover with
    ``healthCheck`` the provider chooses between the primary and the standby on its own health checks, so
    both are answering (the provider may answer either; their ``priority`` says which is which), as are
    the IPv6 addresses of the operator's first group, which stay a plain record set. ``hostname_aliases``:
    the provider answers AWS load balancers in a group (Route 53 alias shares), so they may hold a failover
    role; ``unanswered``: the clusters the planned group left out
    (:attr:`~federation_operator.planning.records.TierPlan.unanswered`), which do not answer."""
    by_name = {c.name: c for c in clusters}
    known = [by_name.get(s.cluster) or ClusterInfo(name=s.cluster, region=s.region or "") for s in shards]
    ranks = plan_failover_ranks(policy, known) if policy.type == "failover" else {}
    weights = plan_weights(policy, known) if policy.type == "weighted" else {}
    answering: frozenset[str] | None = None
    if counted is not None:
        addresses = [
            ShardAddresses.from_ingress(cluster=s.cluster, region=s.region, zones=s.zones, ingress=s.ingress)
            for s in counted
            if s.region
        ]
        chosen, _ = plan_global_clusters(policy, known, addresses)
        answering = (
            chosen if chosen is not None else frozenset(a.cluster for a in addresses if a.has_addresses)
        )
        roles = plan_failover_roles(policy, known, addresses, aliases=hostname_aliases)
        if roles:  # else no IPv4 (or aliased load balancer) shard: the operator's failover (plan_tiers)
            ipv6 = {a.cluster for a in addresses if a.ipv6}
            answering = frozenset(roles) | (answering & ipv6)
        if weights and any(weights[c] > 0 for c in answering if c in weights):
            # Route 53 answers a weight-0 set only while every other healthy set weighs 0 too.
            answering = frozenset(c for c in answering if weights.get(c, 1) > 0)
        answering -= unanswered
    return tuple(
        shard.model_copy(
            update={
                "priority": ranks[shard.cluster] + 1 if shard.cluster in ranks else None,
                "weight": weights.get(shard.cluster),
                "answering": None if answering is None else shard.cluster in answering,
            }
        )
        for shard in shards
    )
