"""Several zones and mirrors behind one PublisherGroup, over in-memory providers: records go to the zone
that holds them (ownership records in each), a name that leaves a zone is deleted there, a mirror that fails
never holds back the other and catches up when it answers again, withdrawal and orphan collection clean
every zone and mirror, and the tiers are planned within the lowest limit of the federation zone's mirrors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from federation_operator.dns.inmemory import InMemoryProvider
from federation_operator.dns.publisher import Publisher
from federation_operator.dns.publishers import PublisherGroup, ZonePublisher
from federation_operator.domain.errors import TransientError
from federation_operator.domain.records import ProviderLimits, PublishResult, RecordSet

KEY = ("ns", "nginx")
GLOBAL = RecordSet("nginx.ns.fed.svc.example.com.", "A", 180, ("127.1.0.1",))
ALIAS = RecordSet("nginx.acme.com.", "CNAME", 180, ("nginx.ns.fed.svc.example.com.",))


class Group:
    def __init__(self) -> None:
        self.primary = InMemoryProvider("example.com")
        self.mirror = InMemoryProvider("example.com", limits=ProviderLimits(max_values_per_set=20))
        self.acme = InMemoryProvider("acme.com")
        self.publishers = [
            Publisher(p, federation="fed", on_result=lambda _key: None, resync_seconds=None)
            for p in (self.primary, self.mirror, self.acme)
        ]
        self.group = PublisherGroup(
            [
                ZonePublisher(self.publishers[0], mirror="primary", provider_name="inmemory"),
                ZonePublisher(self.publishers[1], mirror="secondary", provider_name="inmemory"),
                ZonePublisher(self.publishers[2], mirror="inmemory", provider_name="inmemory"),
            ],
            federation_zone="example.com",
        )

    async def settled(self, key: tuple[str, str]) -> PublishResult:
        async with asyncio.timeout(10):  # a mirror that failed retries with backoff
            while True:
                result = self.group.result(key)
                if result is not None and not result.error and not result.unconfirmed:
                    return result
                await asyncio.sleep(0.01)  # polling the publishers' outcome, with a deadline


@pytest.fixture
async def group() -> AsyncIterator[Group]:
    built = Group()
    tasks = [asyncio.create_task(p.run()) for p in built.publishers]
    try:
        yield built
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def names(provider: InMemoryProvider) -> set[tuple[str, str]]:
    return {(r.name, r.type) for r in provider.snapshot()}


async def test_records_go_to_their_zone_and_every_mirror_with_ownership(group: Group) -> None:
    group.group.submit(KEY, (GLOBAL, ALIAS))
    result = await group.settled(KEY)
    assert result.desired == (GLOBAL, ALIAS)
    assert [(m.zone, m.mirror, m.state) for m in result.mirrors] == [
        ("example.com", "primary", "Published"),
        ("example.com", "secondary", "Published"),
        ("acme.com", "inmemory", "Published"),
    ]
    for provider in (group.primary, group.mirror):
        assert (GLOBAL.name, "A") in names(provider)
        assert (ALIAS.name, "CNAME") not in names(provider)
        assert any(t == "TXT" for _, t in names(provider))  # its ownership record
    assert (ALIAS.name, "CNAME") in names(group.acme)
    assert any(t == "TXT" for _, t in names(group.acme))

    # The alias dropped: deleted in acme.com, ownership record and all.
    group.group.submit(KEY, (GLOBAL,))
    async with asyncio.timeout(5):
        while names(group.acme):  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # polling the provider, with a deadline
    await group.settled(KEY)


async def test_a_failing_mirror_never_holds_back_the_other_and_catches_up(group: Group) -> None:
    for _ in range(50):  # every write of the secondary fails for a while
        group.mirror.fail_next(TransientError("connection refused"))
    group.group.submit(KEY, (GLOBAL,))
    async with asyncio.timeout(5):
        while (GLOBAL.name, "A") not in names(group.primary):  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # polling the provider, with a deadline
    assert (GLOBAL.name, "A") not in names(group.mirror)
    async with asyncio.timeout(10):
        while (result := group.group.result(KEY)) is None or not result.error:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # polling the publishers, with a deadline: the fault is reported
    assert result.error.startswith("example.com (secondary): ")
    assert {m.mirror: m.state for m in result.mirrors} == {
        "primary": "Published",
        "secondary": "Failed",
        "inmemory": "Published",
    }
    group.mirror.clear_failures()  # the secondary answers again: it catches up on its own
    await group.settled(KEY)
    assert (GLOBAL.name, "A") in names(group.mirror)


async def test_withdrawal_and_orphan_collection_clean_every_zone_and_mirror(group: Group) -> None:
    group.group.submit(KEY, (GLOBAL, ALIAS))
    other = ("ns", "gone")
    group.group.submit(other, (RecordSet("gone.acme.com.", "CNAME", 180, (GLOBAL.name,)),))
    await group.settled(KEY)
    await group.settled(other)
    async with asyncio.timeout(5):
        await group.group.withdraw(KEY)
    for provider in (group.primary, group.mirror):
        assert names(provider) == set()
    assert all("nginx" not in name for name, _ in names(group.acme))
    # "gone" is known to no publisher any more (as after a restart) and no FederatedService has its name.
    group.group.forget(other)
    assert group.group.collect_orphans(existing=[KEY]) == ["ns/gone"]
    async with asyncio.timeout(5):
        while names(group.acme):  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # polling the provider, with a deadline


def test_the_tiers_are_planned_within_the_lowest_limit_of_the_federation_zone() -> None:
    built = Group()
    assert built.group.limits == ProviderLimits(max_values_per_set=20)
    assert built.group.zones == ("example.com.", "acme.com.")
    single = PublisherGroup.single(built.publishers[2])
    assert single.limits == ProviderLimits()


def test_the_policy_must_suit_every_provider_of_the_federation_zone_and_only_those() -> None:
    built = Group()
    mixed = PublisherGroup(
        [
            ZonePublisher(built.publishers[0], mirror="aws", provider_name="route53"),
            ZonePublisher(built.publishers[1], mirror="bind", provider_name="rfc2136"),
            ZonePublisher(built.publishers[2], mirror="gcp", provider_name="clouddns"),  # acme.com: not it
        ],
        federation_zone="example.com",
    )
    assert mixed.federation_providers == ("route53", "rfc2136")


async def test_a_withdrawal_nobody_waits_for_ends_in_every_zone_and_in_the_group(group: Group) -> None:
    group.group.submit(KEY, (GLOBAL, ALIAS))
    await group.settled(KEY)
    for _ in range(3):  # the secondary fails a while: the deletion's wait times out
        group.mirror.fail_next(TransientError("connection refused"))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await group.group.withdraw(KEY)
    assert group.group.result(KEY) is None  # nothing left to combine: the object is being deleted
    async with asyncio.timeout(10):  # the secondary retries with backoff
        while any(names(p) for p in (group.primary, group.mirror, group.acme)):  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # polling the providers, with a deadline
        while any(KEY in p._desired or KEY in p._withdrawn for p in group.publishers):  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # polling the publishers' bookkeeping, with a deadline
