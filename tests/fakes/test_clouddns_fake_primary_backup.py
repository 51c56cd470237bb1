"""The fake Cloud DNS API's ``primaryBackup`` routing policy (failover), driven over HTTP through the real
google-cloud-dns client's connection: what the API refuses (no health check for external endpoints, targets
beside rrdatas, a malformed backup or trickle), what it stores and returns as sent (a deletion compares the
whole policy), and what a client is answered (the healthy primary targets, else the backup's nearest item)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import dns

from .clouddns import FakeCloudDns

PROJECT = "federation-test"
ZONE = "example-com"
NAME = "www.example.com."
CHECK = "https://www.googleapis.com/compute/v1/projects/federation-test/global/healthChecks/www-tcp-80"


def policy(
    primary: list[str] | None = None,
    backup: list[tuple[str, list[str]]] | None = None,
    *,
    check: str | None = CHECK,
    trickle: float | None = None,
) -> dict[str, Any]:
    """A failover routing policy: external endpoints ``primary``, plain backup geo items ``backup``."""
    body: dict[str, Any] = {
        "primaryTargets": {"externalEndpoints": primary or ["127.0.0.1", "127.0.0.2"]},
        "backupGeoTargets": {
            "items": [
                {"location": location, "rrdatas": rrdatas}
                for location, rrdatas in (backup or [("europe-west1", ["127.0.1.1"])])
            ]
        },
    }
    if trickle is not None:
        body["trickleTraffic"] = trickle
    found: dict[str, Any] = {"primaryBackup": body}
    if check is not None:
        found["healthCheck"] = check
    return found


def rrset(routing: dict[str, Any], ttl: int = 60) -> dict[str, Any]:
    return {"name": NAME, "type": "A", "ttl": ttl, "routingPolicy": routing}


def change(
    client: dns.Client, additions: list[dict[str, Any]], deletions: list[dict[str, Any]] | None = None
) -> Any:
    return client._connection.api_request(
        method="POST",
        path=f"/projects/{PROJECT}/managedZones/{ZONE}/changes",
        data={"additions": additions, "deletions": deletions or []},
    )


def held(fake: FakeCloudDns) -> list[dict[str, Any]]:
    return [dict(r) for r in fake.rrsets(PROJECT, ZONE) if r["name"] == NAME]


def test_a_failover_policy_is_stored_and_returned_as_sent(clouddns: dns.Client, fake: FakeCloudDns) -> None:
    sent = policy(trickle=0.1)
    change(clouddns, [rrset(sent)])
    (stored,) = held(fake)
    assert stored["routingPolicy"] == sent
    assert "rrdatas" not in stored
    listed = clouddns._connection.api_request(
        method="GET", path=f"/projects/{PROJECT}/managedZones/{ZONE}/rrsets", query_params={"name": NAME}
    )
    assert [r["routingPolicy"] for r in listed["rrsets"]] == [sent]


def test_a_deletion_compares_the_whole_failover_policy(clouddns: dns.Client, fake: FakeCloudDns) -> None:
    sent = policy()
    change(clouddns, [rrset(sent)])
    other = copy.deepcopy(sent)
    other["primaryBackup"]["primaryTargets"]["externalEndpoints"] = ["127.0.0.1"]
    with pytest.raises(exceptions.PreconditionFailed):
        change(clouddns, [], [rrset(other)])
    assert held(fake)[0]["routingPolicy"] == sent
    # Exactly as held: replaced in one change by a plain record set.
    change(clouddns, [{"name": NAME, "type": "A", "ttl": 60, "rrdatas": ["127.0.0.9"]}], [rrset(sent)])
    assert held(fake)[0]["rrdatas"] == ["127.0.0.9"]


def _with(mutate: Any) -> dict[str, Any]:
    found = policy()
    mutate(found)
    return found


@pytest.mark.parametrize(
    ("routing", "field"),
    [
        pytest.param(policy(check=None), "routingPolicy.healthCheck", id="external-endpoints-without-check"),
        pytest.param(policy(check="www-tcp-80"), "routingPolicy.healthCheck", id="check-not-a-url"),
        pytest.param(
            policy(check="https://www.googleapis.com/compute/v1/projects/p-1234/regions/x/healthChecks/c"),
            "routingPolicy.healthCheck",
            id="check-not-global",
        ),
        pytest.param(
            _with(lambda p: p["primaryBackup"].pop("primaryTargets")), "primaryTargets", id="no-primary"
        ),
        pytest.param(
            _with(lambda p: p["primaryBackup"].pop("backupGeoTargets")), "backupGeoTargets", id="no-backup"
        ),
        pytest.param(
            _with(lambda p: p["primaryBackup"]["primaryTargets"].update(externalEndpoints=[])),
            "externalEndpoints",
            id="no-endpoints",
        ),
        pytest.param(
            _with(lambda p: p["primaryBackup"]["primaryTargets"].update(externalEndpoints=["host.example."])),
            "externalEndpoints[0]",
            id="endpoint-not-an-address",
        ),
        pytest.param(
            _with(
                lambda p: p["primaryBackup"]["primaryTargets"].update(
                    internalLoadBalancers=[{"ipAddress": "10.0.0.1"}]
                )
            ),
            "primaryTargets",
            id="balancers-and-endpoints",
        ),
        pytest.param(
            _with(
                lambda p: p["primaryBackup"].update(
                    primaryTargets={"internalLoadBalancers": [{"ipAddress": "10.0.0.1"}]}
                )
            ),
            "internalLoadBalancers",
            id="internal-balancers-in-a-public-zone",
        ),
        pytest.param(
            _with(lambda p: p["primaryBackup"]["backupGeoTargets"].update(items=[])),
            "backupGeoTargets.items",
            id="no-backup-items",
        ),
        pytest.param(
            policy(backup=[("US", ["127.0.1.1"])]), "backupGeoTargets.items[0].location", id="backup-country"
        ),
        pytest.param(
            policy(backup=[("europe-west1", ["127.0.1.1"]), ("europe-west1", ["127.0.1.2"])]),
            "backupGeoTargets.items[1].location",
            id="backup-location-twice",
        ),
        pytest.param(
            _with(
                lambda p: p["primaryBackup"]["backupGeoTargets"]["items"][0].update(
                    healthCheckedTargets={"externalEndpoints": ["127.0.1.1"]}
                )
            ),
            "backupGeoTargets.items[0]",
            id="backup-rrdatas-and-targets",
        ),
        pytest.param(policy(trickle=1.5), "trickleTraffic", id="trickle-over-one"),
        pytest.param(policy(trickle=-0.1), "trickleTraffic", id="trickle-negative"),
        pytest.param(
            {**policy(), "wrr": {"items": [{"weight": 1, "rrdatas": ["127.0.0.1"]}]}},
            "routingPolicy",
            id="two-kinds",
        ),
    ],
)
def test_the_fake_refuses_failover_policies_the_api_refuses(
    clouddns: dns.Client, fake: FakeCloudDns, routing: dict[str, Any], field: str
) -> None:
    with pytest.raises(exceptions.BadRequest) as caught:
        change(clouddns, [rrset(routing)])
    assert field in str(caught.value)
    assert held(fake) == []


def test_a_failover_policy_with_rrdatas_beside_it_is_refused(
    clouddns: dns.Client, fake: FakeCloudDns
) -> None:
    with pytest.raises(exceptions.BadRequest, match="routingPolicy"):
        change(clouddns, [{**rrset(policy()), "rrdatas": ["127.0.0.1"]}])
    assert held(fake) == []


def test_health_checked_backup_items_need_the_policys_health_check(clouddns: dns.Client) -> None:
    checked = policy(check=None)
    checked["primaryBackup"]["backupGeoTargets"]["items"] = [
        {"location": "europe-west1", "healthCheckedTargets": {"externalEndpoints": ["127.0.1.1"]}}
    ]
    checked["primaryBackup"]["primaryTargets"] = {"externalEndpoints": ["127.0.0.1"]}
    with pytest.raises(exceptions.BadRequest, match="healthCheck"):
        change(clouddns, [rrset(checked)])
    change(clouddns, [rrset({**checked, "healthCheck": CHECK})])


def test_a_client_is_answered_the_healthy_primary_targets_else_the_nearest_backup(
    clouddns: dns.Client, fake: FakeCloudDns
) -> None:
    backup = [("europe-west1", ["127.0.1.1"]), ("asia-east1", ["127.0.2.1"])]
    change(clouddns, [rrset(policy(["127.0.0.1", "127.0.0.2"], backup))])

    def answer(region: str) -> list[str]:
        return fake.answer(PROJECT, ZONE, NAME, "A", client_region=region)

    assert answer("europe-west2") == ["127.0.0.1", "127.0.0.2"]
    fake.set_endpoint_health("127.0.0.1", healthy=False)
    assert answer("europe-west2") == ["127.0.0.2"]  # one healthy primary target is enough
    fake.set_endpoint_health("127.0.0.2", healthy=False)
    assert answer("europe-west2") == ["127.0.1.1"]  # every primary target failing: the nearest backup item
    assert answer("asia-east2") == ["127.0.2.1"]
    fake.set_endpoint_health("127.0.0.2", healthy=True)
    assert answer("asia-east2") == ["127.0.0.2"]
