"""Every zone and mirror the operator publishes to, behind the one face the controller talks to.

One :class:`~federation_operator.dns.publisher.Publisher` (one loop) per zone and provider: several zones
(``example.com`` on Route 53, ``acme.com`` on Cloud DNS) and mirrors (one zone on two providers, both kept
current) each plan, apply, retry and report on their own, so one provider failing or slow never holds back
another. This group splits each owner's records by zone (`plan_records_by_zone`: the most specific managed
zone), hands every publisher its share (an empty share too, so that a name that left a zone is deleted
there), and combines their answers into the one result the status is rendered from (`combine_results`),
with each mirror's state beside it. Withdrawal (deletion) and orphan collection go to every publisher: a
deleted FederatedService is cleaned from every zone and mirror.

With one zone on one provider the group is a pass-through: records and results go to and from its one
publisher unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from federation_operator.dns.publisher import Publisher
from federation_operator.domain.health_checks import ProviderHealth
from federation_operator.domain.keys import Key
from federation_operator.domain.records import ProviderLimits, PublishResult, RecordSet, normalize_name
from federation_operator.planning.zones import MirrorAnswer, combine_results, plan_records_by_zone

__all__ = ["PublisherGroup", "ZonePublisher"]


@dataclass(frozen=True)
class ZonePublisher:
    """One zone on one provider: its publisher, and the names the status and logs give it."""

    publisher: Publisher
    mirror: str
    provider_name: str

    @property
    def zone(self) -> str:
        return normalize_name(self.publisher.zone)


class PublisherGroup:
    """The publishers of every managed zone and mirror, used as one (see the module's docstring)."""

    def __init__(self, members: Sequence[ZonePublisher], *, federation_zone: str | None = None) -> None:
        if not members:
            raise ValueError("a PublisherGroup needs at least one publisher")
        self.members = tuple(members)
        self.zones = tuple(dict.fromkeys(m.zone for m in self.members))
        self.federation_zone = normalize_name(federation_zone) if federation_zone else self.zones[0]
        self._submitted: dict[Key, tuple[RecordSet, ...]] = {}
        self._shares: dict[Key, dict[str, tuple[RecordSet, ...]]] = {}

    @classmethod
    def single(cls, publisher: Publisher, provider_name: str | None = None) -> PublisherGroup:
        name = provider_name or type(publisher.provider).__name__
        return cls([ZonePublisher(publisher, mirror=name, provider_name=name)])

    @property
    def publishers(self) -> tuple[Publisher, ...]:
        return tuple(m.publisher for m in self.members)

    @property
    def federation_providers(self) -> tuple[str, ...]:
        """The providers of the federation's zone, one per mirror (what spec.dns.policy must suit)."""
        return tuple(dict.fromkeys(m.provider_name for m in self.members if m.zone == self.federation_zone))

    @property
    def limits(self) -> ProviderLimits:
        """What every provider of the federation's zone accepts: the tiers are planned once for all its
        mirrors, so the lowest limit of any of them, and load balancer aliases only if all have them."""
        own = [m.publisher.provider.limits for m in self.members if m.zone == self.federation_zone]
        if len(own) == 1:
            return own[0]
        values = [x.max_values_per_set for x in own if x.max_values_per_set is not None]
        sets = [x.max_record_sets for x in own if x.max_record_sets is not None]
        return ProviderLimits(
            max_values_per_set=min(values, default=None),
            max_record_sets=min(sets, default=None),
            hostname_aliases=all(x.hostname_aliases for x in own),
            # Route 53 and Cloud DNS mirrors together cannot publish geolocation (the reconcile refuses
            # it); a group counted as one record set anywhere is held to the limit as one.
            geo_by_gcp_region=any(x.geo_by_gcp_region for x in own),
            group_in_one_set=any(x.group_in_one_set for x in own),
        )

    def submit(self, key: Key, records: tuple[RecordSet, ...], *, created: str = "") -> None:
        """Hand each publisher the share of ``records`` in its zone (see `Publisher.submit`)."""
        if len(self.members) == 1:
            self.members[0].publisher.submit(key, records, created=created)
            return
        self._submitted[key] = records
        shares, _outside = plan_records_by_zone(records, self.zones)  # validation keeps none outside
        self._shares[key] = shares
        for member in self.members:
            member.publisher.submit(key, shares[member.zone], created=created)

    def result(self, key: Key) -> PublishResult | None:
        """The combined answer of every zone and mirror for ``key`` (`combine_results`)."""
        if len(self.members) == 1:
            return self.members[0].publisher.result(key)
        submitted, shares = self._submitted.get(key), self._shares.get(key)
        if submitted is None or shares is None:
            return None
        return combine_results(
            submitted,
            [
                MirrorAnswer(
                    zone=m.zone,
                    mirror=m.mirror,
                    provider=m.provider_name,
                    submitted=shares[m.zone],
                    result=m.publisher.result(key),
                )
                for m in self.members
            ],
        )

    def provider_health(self, key: Key) -> dict[str, ProviderHealth]:
        """What the providers' own health checks last said of ``key``'s shares, by set identifier, from
        every zone and mirror (set identifiers are unique: derived from the name)."""
        found: dict[str, ProviderHealth] = {}
        for member in self.members:
            found.update(member.publisher.provider_health(key))
        return found

    async def withdraw(self, key: Key) -> None:
        """Delete every record of ``key`` in every zone and mirror, at once; returns when all have. A caller
        that stops waiting (a timeout) leaves each publisher to finish and forget it (`Publisher.withdraw`);
        what the group kept of it (for its combined result) ends now either way."""
        try:
            await asyncio.gather(*(m.publisher.withdraw(key) for m in self.members))
        finally:
            self._forget_here(key)

    def forget(self, key: Key) -> None:
        for member in self.members:
            member.publisher.forget(key)
        self._forget_here(key)

    def _forget_here(self, key: Key) -> None:
        self._submitted.pop(key, None)
        self._shares.pop(key, None)

    def collect_orphans(self, existing: Collection[Key]) -> list[str]:
        """Collect the records of deleted owners in every zone and mirror; returns those owners, sorted."""
        found: set[str] = set()
        for member in self.members:
            found.update(member.publisher.collect_orphans(existing))
        return sorted(found)

    def set_frozen(self, frozen: bool) -> bool:
        changed = [m.publisher.set_frozen(frozen) for m in self.members]
        return any(changed)

    @property
    def frozen(self) -> bool:
        return any(m.publisher.frozen for m in self.members)

    def pending_ages(self) -> list[float]:
        return [age for m in self.members for age in m.publisher.pending_ages()]
