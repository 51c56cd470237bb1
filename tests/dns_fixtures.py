"""The DNS providers' local servers, set up once for every test tier (registered in tests/conftest.py).

Route 53 is moto's standalone server; Cloud DNS is our fake of its v1 API (``tests/fakes/clouddns.py``).
Both listen on 127.0.0.1 only and are stopped by their handles when their fixture ends.

Route 53: ``fake_aws_credentials`` (keys and nothing else in boto3's chain), ``moto_url`` (one server per
module), ``route53`` (that server reset, and a boto3 client of it), ``zone_id`` (the public hosted zone
example.com on it), ``wire`` (what the client sends after the zone exists), ``route53_provider``.

Cloud DNS: ``fake`` (a fresh fake per test holding example.com, or what its ``clouddns_fake`` marker asks
for), ``clouddns`` (an anonymous client of it), ``sleeps`` (the delays a provider asked for) and
``clouddns_provider`` (for example.com, never sleeping).

A module with another set-up keeps the difference in a small fixture over these (or the marker), never in a
copy of them.
"""

from __future__ import annotations

import contextlib
import copy
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from google.auth.credentials import AnonymousCredentials
from google.cloud import dns
from moto.route53 import models as route53_models
from moto.route53.exceptions import ResourceRecordAlreadyExists
from moto.server import ThreadedMotoServer

from federation_operator.dns.clouddns import CloudDnsProvider
from federation_operator.dns.route53 import Route53Provider
from tests.fakes.clouddns import FakeCloudDns
from tests.providers import unique_service

CLOUDDNS_PROJECT = "federation-test"

# --- Route 53: moto's standalone server ---------------------------------------------------------------------


def set_fake_aws_credentials(env: pytest.MonkeyPatch, home: Path) -> None:
    """Fake keys first in boto3's credential chain, and nothing else in it to look at (no files, no IMDS, no
    endpoint override); an operator process started meanwhile inherits them."""
    for variable in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_ROUTE_53",
    ):
        env.delenv(variable, raising=False)
    env.setenv("AWS_ACCESS_KEY_ID", "testing")
    env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    env.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
    env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))
    env.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake AWS keys for the test (see `set_fake_aws_credentials`), undone afterwards."""
    set_fake_aws_credentials(monkeypatch, tmp_path)


def check_creates_against_the_zone() -> None:
    """Make moto refuse a CREATE the way Route 53 does: when the zone holds that record set (name, type, set
    identifier) at that point of the batch, and only then.

    moto 5.2 refuses a CREATE it finds in its change journal whenever the zone holds any record set that
    sorts at or after the name (it lists the zone from the name on, not at it): a name that went CNAME → A
    could never go back to the same CNAME, and an e2e test whose tiers flapped once in their first second
    (a shard's zones known a moment after its endpoints) failed over nothing for its whole minute. The server
    runs in this process (``ThreadedMotoServer``), so its backend is patched here, once.
    """
    backend = route53_models.Route53Backend
    if getattr(backend.change_resource_record_sets, "checks_the_zone", False):
        return
    moto_change = backend.change_resource_record_sets

    def change_resource_record_sets(self: Any, zoneid: str, change_list: list[dict[str, Any]]) -> None:
        zone = self.get_hosted_zone(zoneid)
        held = {(r.name.lower(), r.type, r.set_identifier) for r in zone.rrsets}
        for change in change_list:
            wanted = change["ResourceRecordSet"]
            name = wanted["Name"].strip(".").lower() + "."
            key = (name, wanted["Type"], wanted.get("SetIdentifier"))
            if change["Action"] == "CREATE" and key in held:
                raise ResourceRecordAlreadyExists(name=name, _type=wanted["Type"])
            if change["Action"] == "DELETE":
                held.discard(key)
            else:
                held.add(key)
        moto_change(self, zoneid, change_list)

    change_resource_record_sets.checks_the_zone = True  # type: ignore[attr-defined]
    backend.change_resource_record_sets = change_resource_record_sets  # type: ignore[method-assign]
    # moto's own check is the journal's, the only use of ChangeList's `in`: the check above replaces it.
    route53_models.ChangeList.__contains__ = lambda self, item: False  # type: ignore[method-assign,assignment]


@contextlib.contextmanager
def running_moto() -> Iterator[str]:
    """moto's standalone server on a free loopback port, as its URL; stopped on the way out. It refuses a
    CREATE as Route 53 does (`check_creates_against_the_zone`)."""
    check_creates_against_the_zone()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's standalone server, on loopback only, for the module that uses it (`route53` resets it)."""
    with running_moto() as url:
        yield url


def reset_moto(url: str) -> None:
    """Empty the moto server at ``url`` of every hosted zone, record set and health check."""
    with urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")) as reply:
        reply.read()


def new_client(endpoint_url: str) -> Any:
    """A boto3 Route 53 client of ``endpoint_url``."""
    # No botocore retries: the provider's own are the policy (as build_route53 configures it).
    return boto3.session.Session(region_name="us-east-1").client(
        "route53", endpoint_url=endpoint_url, config=Config(retries={"total_max_attempts": 1})
    )


def create_zone(client: Any, name: str, *, private: bool = False) -> str:
    """A new hosted zone ``name`` (public, else private to a made-up VPC), as its bare id."""
    extra: dict[str, Any] = {}
    if private:
        extra = {
            "HostedZoneConfig": {"PrivateZone": True, "Comment": "private"},
            "VPC": {"VPCRegion": "us-east-1", "VPCId": "vpc-12345678"},
        }
    zone = client.create_hosted_zone(
        Name=name, CallerReference=f"{name}-{private}-{unique_service()}", **extra
    )
    return str(zone["HostedZone"]["Id"]).rsplit("/", 1)[-1]


class Wire:
    """What a boto3 client sends, seen in botocore's events: each request's operation, each ChangeBatch."""

    def __init__(self, client: Any) -> None:
        self.operations: list[str] = []
        self.batches: list[list[dict[str, Any]]] = []
        client.meta.events.register("before-send.route-53", self._sent)
        client.meta.events.register("before-parameter-build.route-53.ChangeResourceRecordSets", self._batch)

    def _sent(self, event_name: str, **_: Any) -> None:
        self.operations.append(event_name.rsplit(".", 1)[-1])

    def _batch(self, params: dict[str, Any], **_: Any) -> None:
        self.batches.append(copy.deepcopy(params["ChangeBatch"]["Changes"]))

    def count(self, operation: str) -> int:
        return self.operations.count(operation)

    def reset(self) -> None:
        self.operations.clear()
        self.batches.clear()


@pytest.fixture
def route53(moto_url: str) -> Any:
    """The module's moto emptied for this test (nothing leaks between tests), and a boto3 client of it."""
    reset_moto(moto_url)
    return new_client(moto_url)


@pytest.fixture
def zone_id(route53: Any) -> str:
    """The id of the public hosted zone example.com, alone on the test's fresh moto."""
    return create_zone(route53, "example.com")


@pytest.fixture
def wire(route53: Any, zone_id: str) -> Wire:
    """What `route53` sends, attached after the zone exists: it sees the test's requests only."""
    return Wire(route53)


@pytest.fixture
def route53_provider(route53: Any, zone_id: str) -> Route53Provider:
    """A Route 53 provider of example.com over `route53`; it looks the hosted zone up by name."""
    return Route53Provider(route53, zone="example.com")


# --- Cloud DNS: our fake of the v1 API ----------------------------------------------------------------------


DEFAULT_CLOUDDNS_ZONES = (("example-com", "example.com."),)


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[FakeCloudDns]:
    """A fresh Cloud DNS fake on loopback for the test, project federation-test, holding the managed zone
    example.com; stopped afterwards, and the test fails if the fake itself crashed while serving a request.

    ``@pytest.mark.clouddns_fake(zones=..., **options)`` on the test (or its module) builds it with
    `FakeCloudDns` keyword arguments ``options`` (a page size, quotas) and the managed zones ``zones``
    (name, DNS name) instead."""
    marker = request.node.get_closest_marker("clouddns_fake")
    options = dict(marker.kwargs) if marker else {}
    zones = options.pop("zones", DEFAULT_CLOUDDNS_ZONES)
    with FakeCloudDns(projects=[CLOUDDNS_PROJECT], **options) as server:
        for name, dns_name in zones:
            server.seed_zone(CLOUDDNS_PROJECT, name, dns_name)
        yield server
    assert server.internal_errors == [], "the fake itself crashed while serving a request"


def new_clouddns_client(endpoint: str) -> dns.Client:
    """A google-cloud-dns client of ``endpoint`` for project federation-test."""
    # Anonymous credentials and an explicit project: no credentials lookup, no metadata server, no warning.
    return dns.Client(
        project=CLOUDDNS_PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": endpoint},
    )


@pytest.fixture
def clouddns(fake: FakeCloudDns) -> Iterator[dns.Client]:
    """A client of `fake`, closed afterwards."""
    client = new_clouddns_client(fake.endpoint)
    yield client
    client.close()  # pooled keep-alive sockets left to the garbage collector raise ResourceWarning


class Sleeps(list[float]):
    """An injected ``sleep`` that only records the delays asked for."""

    async def __call__(self, delay: float) -> None:
        self.append(delay)


@pytest.fixture
def sleeps() -> Sleeps:
    """The delays `clouddns_provider` asked for, none of them slept."""
    return Sleeps()


@pytest.fixture
def clouddns_provider(clouddns: dns.Client, sleeps: Sleeps) -> CloudDnsProvider:
    """A Cloud DNS provider of example.com over `clouddns`; it finds the managed zone by its DNS name."""
    return CloudDnsProvider(clouddns, zone="example.com", sleep=sleeps)
