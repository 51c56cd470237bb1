"""The weighted policy on Cloud DNS against our fake of the v1 API: the global name as one A record set with
a weighted round robin routing policy (an item per share) and an ownership record of ours, read back as
planned (a second round sends nothing), a weight change and a switch from tiered in one change each, and
the API's routing-policy rules in the fake (rrdatas beside a policy, a negative weight, duplicate geo
locations)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from google.api_core import exceptions as google_exceptions
from google.cloud import dns

from federation_operator.dns.clouddns import CloudDnsProvider
from federation_operator.domain.errors import RejectedChangeError
from federation_operator.domain.records import WEIGHTED, Changes, RecordSet, ShardAddresses
from federation_operator.planning.records import plan_records
from tests.fakes.clouddns import FakeCloudDns

from . import ASIA, EUROPE, TOPOLOGY, US, global_name, publish, service_names, unique_service

PROJECT = "federation-test"
MANAGED_ZONE = "example-com"


def weighted(
    svc: str, healthy: Sequence[ShardAddresses], weights: Mapping[str, int] | None
) -> tuple[RecordSet, ...]:
    names = service_names(svc)
    return plan_records(
        names=names, ttl=60, aliases=(), topology=TOPOLOGY, healthy=healthy, global_weights=weights
    )


def held(fake: FakeCloudDns, name: str) -> list[dict[str, Any]]:
    return [dict(r) for r in fake.rrsets(PROJECT, MANAGED_ZONE) if r["name"] == name]


def wrr_items(fake: FakeCloudDns, name: str) -> list[tuple[float, list[str]]]:
    (rrset,) = [r for r in held(fake, name) if r["type"] == "A"]
    assert "rrdatas" not in rrset
    return sorted((i["weight"], i["rrdatas"]) for i in rrset["routingPolicy"]["wrr"]["items"])


def changes_sent(fake: FakeCloudDns) -> int:
    return fake.calls["changes.create"]


async def test_weighted_is_a_wrr_policy_read_back_as_planned_and_changed_in_one_change(
    clouddns_provider: CloudDnsProvider, clouddns: dns.Client, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    name = global_name(svc)
    desired = weighted(svc, [ASIA, EUROPE, US], {"asia": 5, "europe": 0})
    assert await publish(clouddns_provider, desired, svc) == (1, ())
    assert wrr_items(fake, name) == [(0, ["127.20.0.1"]), (1, ["127.30.0.1"]), (5, ["127.10.0.1"])]
    assert any(r["type"] == "TXT" for r in held(fake, f"_fedop-weighted.{name}"))
    # A restarted operator reads the policy back as the WEIGHTED record set it planned: nothing to send.
    fresh = CloudDnsProvider(clouddns, zone="example.com", sleep=clouddns_provider._sleep)
    assert WEIGHTED in {r.type for r in await fresh.records() if r.name == name}
    before = changes_sent(fake)
    assert await publish(fresh, desired, svc) == (0, ())
    assert changes_sent(fake) == before
    # A weight changes: one change replaces the record set (deleted exactly as read, created anew).
    assert (await publish(fresh, weighted(svc, [ASIA, EUROPE, US], {"asia": 5, "europe": 9}), svc))[0] == 1
    assert wrr_items(fake, name) == [(1, ["127.30.0.1"]), (5, ["127.10.0.1"]), (9, ["127.20.0.1"])]


async def test_switching_from_tiered_to_weighted_and_back_is_one_change_each(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await publish(clouddns_provider, weighted(svc, [ASIA, US], None), svc)
    assert [r.get("rrdatas") for r in held(fake, name) if r["type"] == "A"] == [["127.10.0.1", "127.30.0.1"]]
    before = changes_sent(fake)
    assert (await publish(clouddns_provider, weighted(svc, [ASIA, US], {"us": 3}), svc))[0] == 1
    assert wrr_items(fake, name) == [(1, ["127.10.0.1"]), (3, ["127.30.0.1"])]
    assert (await publish(clouddns_provider, weighted(svc, [ASIA, US], None), svc))[0] == 1
    assert changes_sent(fake) == before + 2
    assert [sorted(r["rrdatas"]) for r in held(fake, name) if r["type"] == "A"] == [
        ["127.10.0.1", "127.30.0.1"]
    ]


async def test_a_plain_a_record_set_beside_a_weighted_one_is_refused_before_sending(
    clouddns_provider: CloudDnsProvider, fake: FakeCloudDns
) -> None:
    svc = unique_service()
    name = global_name(svc)
    await clouddns_provider.records()
    group = next(r for r in weighted(svc, [ASIA], {"asia": 1}) if r.type == WEIGHTED)
    plain = RecordSet(name=name, type="A", ttl=60, values=("127.10.0.1",))
    before = changes_sent(fake)
    with pytest.raises(RejectedChangeError, match="two routing policies"):
        await clouddns_provider.apply(Changes(create=(group, plain)))
    assert changes_sent(fake) == before


@pytest.mark.parametrize(
    ("rrset", "field"),
    [
        pytest.param(
            {
                "rrdatas": ["127.0.0.1"],
                "routingPolicy": {"wrr": {"items": [{"weight": 1, "rrdatas": ["127.0.0.2"]}]}},
            },
            "routingPolicy",
            id="rrdatas-beside-a-policy",
        ),
        pytest.param(
            {"routingPolicy": {"wrr": {"items": [{"weight": -1, "rrdatas": ["127.0.0.2"]}]}}},
            "weight",
            id="negative-weight",
        ),
        pytest.param(
            {
                "routingPolicy": {
                    "geo": {
                        "items": [
                            {"location": "us-east1", "rrdatas": ["127.0.0.1"]},
                            {"location": "us-east1", "rrdatas": ["127.0.0.2"]},
                        ]
                    }
                }
            },
            "location",
            id="duplicate-geo-location",
        ),
        pytest.param(
            {"routingPolicy": {"wrr": {"items": []}, "geo": {"items": []}}}, "routingPolicy", id="two-kinds"
        ),
        pytest.param(
            {"routingPolicy": {"wrr": {"items": [{"weight": 1, "rrdatas": ["not-an-address"]}]}}},
            "rrdatas[0]",
            id="bad-item-data",
        ),
    ],
)
def test_the_fake_refuses_routing_policies_the_api_refuses(
    clouddns: dns.Client, rrset: dict[str, Any], field: str
) -> None:
    body = {"additions": [{"name": "p.example.com.", "type": "A", "ttl": 60, **rrset}]}
    with pytest.raises(google_exceptions.BadRequest) as caught:
        clouddns._connection.api_request(
            method="POST", path=f"/projects/{PROJECT}/managedZones/{MANAGED_ZONE}/changes", data=body
        )
    assert field in str(caught.value)
