"""Which DNS names a FederatedService may claim as aliases: rules that keep one tenant off another's names.

Aliases are a channel between tenants: without rules, a FederatedService in namespace ``evil`` could claim
``victim.prod.myfederation.svc.example.com`` before ``prod/victim`` exists, and the zone's first-come rule
would hand it the name (and ``prod/victim``'s clients). Two rules close it:

1. **The federation's own names are never aliases.** Every name under ``<federation>.svc.<domain>`` (the
   global tier) or ``<federation>.svc.<label>.<domain>`` (the region and zone tiers) belongs to the
   FederatedService it names, whether that object exists yet or not.
2. **A namespace claims aliases only in its alias domains.** By default that is the subtree named after the
   namespace itself, ``<namespace>.<domain>`` (``prod`` may use ``shop.prod.example.com``; with several
   managed zones, ``<namespace>.<zone>`` in each of them): namespaces are
   the tenancy boundary of Kubernetes, and a namespace's name is already unique in the cluster. A cluster
   admin grants more with the ``alias_domains`` setting: namespace → domain suffixes, ``"*"`` for every
   namespace (``{"prod": ["acme.com"], "*": ["shared.example.com"]}``).

A refusal is an ``InvalidSpec`` on ``spec.dns.aliases[i]``, so nothing changes for that object until it is
fixed: an object that was published before these rules keeps its records (reported, not deleted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from federation_operator.domain.errors import InvalidSpecError
from federation_operator.domain.records import in_zone, normalize_name

__all__ = ["ALL_NAMESPACES", "plan_alias_refusal"]

ALL_NAMESPACES = "*"


def plan_alias_refusal(
    aliases: Sequence[str],
    *,
    namespace: str,
    federation: str,
    domain: str,
    alias_domains: Mapping[str, Sequence[str]],
    zones: Sequence[str] = (),
) -> InvalidSpecError | None:
    """Why the aliases of a FederatedService in ``namespace`` may not be published, or None when they may
    (``zones``: every managed zone, when there are several; ``domain`` is the federated names')."""
    zone = normalize_name(domain)
    allowed = [
        *(normalize_name(f"{namespace}.{z}") for z in (domain, *zones)),
        *(normalize_name(d) for d in alias_domains.get(namespace, ())),
        *(normalize_name(d) for d in alias_domains.get(ALL_NAMESPACES, ())),
    ]
    problems: list[tuple[str, str]] = []
    for index, alias in enumerate(aliases):
        name = normalize_name(alias)
        field = f"spec.dns.aliases[{index}]"
        if _is_federated_name(name, federation=federation, zone=zone):
            problems.append(
                (
                    field,
                    f"{alias} falls under the federation's own names (*.{federation}.svc.…), which belong "
                    "to the FederatedServices they name",
                )
            )
        elif not any(in_zone(name, suffix) for suffix in allowed):
            shown = ", ".join(suffix.rstrip(".") for suffix in dict.fromkeys(allowed))
            problems.append(
                (
                    field,
                    f"{alias} is outside the alias domains of namespace {namespace} ({shown}); a cluster "
                    "admin grants more with the operator's alias_domains setting",
                )
            )
    return InvalidSpecError(tuple(problems)) if problems else None


def _is_federated_name(name: str, *, federation: str, zone: str) -> bool:
    """Whether ``name`` lies under a tier of the federation's names: ``…<federation>.svc.<domain>`` or
    ``…<federation>.svc.<label>.<domain>``."""
    if not in_zone(name, zone) or name == zone:
        return False
    labels = name[: -len(zone) - 1].split(".")
    marker = [federation, "svc"]
    return labels[-2:] == marker or labels[-3:-1] == marker
