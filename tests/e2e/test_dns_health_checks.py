"""Route 53 health checks with the operator as a real process on the local federation, publishing to moto's
standalone server (on loopback) in place of the session's BIND: a ``weighted`` policy with ``healthCheck``
gets one health check per member's share, tagged with the federation and the owner, whose state reaches
``status.shards[].providerHealth``; an operator killed (SIGKILL) while they exist, the object deleted
meanwhile, and the operator started again leaves no health check of ours and no record set behind."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from localfed import LocalFederation
from localfed.federation import free_port
from localfed.operator import OPERATOR_NAMESPACE, OperatorProcess, eventually, register_dns_credentials
from moto.server import ThreadedMotoServer

from tests.e2e.test_dns import FEDERATION, member_names
from tests.e2e.test_dns_policy import PolicySeed

pytestmark = [pytest.mark.e2e, pytest.mark.dns]

SECRET = "route53-endpoint"
POLL_SECONDS = "1"  # FEDOP_DNS_HEALTH_CHECK_POLL_SECONDS


class Route53Operator:
    """This module's operator (Route 53 on moto) and a boto3 client of the same moto server."""

    def __init__(self, process: OperatorProcess, route53: Any, zone_id: str) -> None:
        self.process = process
        self.route53 = route53
        self.zone_id = zone_id

    def our_health_checks(self) -> dict[str, dict[str, str]]:
        """Every health check tagged with our federation: id → its tags."""
        checks = [c["Id"] for c in self.route53.list_health_checks()["HealthChecks"]]
        tags: dict[str, dict[str, str]] = {}
        for start in range(0, len(checks), 10):
            answer = self.route53.list_tags_for_resources(
                ResourceType="healthcheck", ResourceIds=checks[start : start + 10]
            )
            for tag_set in answer["ResourceTagSets"]:
                tags[tag_set["ResourceId"]] = {t["Key"]: t["Value"] for t in tag_set["Tags"]}
        return {i: t for i, t in tags.items() if t.get("federation-operator/federation") == FEDERATION}

    def record_names(self) -> set[str]:
        records = self.route53.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
        return {r["Name"] for r in records}


@pytest.fixture(scope="module")
def route53_operator(
    operator: OperatorProcess, registered: LocalFederation, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Route53Operator]:
    """An operator of this module's own, publishing the federation's zone to moto, in place of the
    session's (which publishes to BIND): started again as it was afterwards."""
    assert registered.dns is not None
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    core = client.CoreV1Api(registered.api_client("federation"))
    # The endpoint as a credentials Secret's key: provider options from a Secret, as in production.
    core.create_namespaced_secret(
        OPERATOR_NAMESPACE,
        {
            "metadata": {"name": SECRET, "namespace": OPERATOR_NAMESPACE},
            "stringData": {"endpoint_url": endpoint},
        },
    )
    operator.stop()
    own: OperatorProcess | None = None
    try:
        with pytest.MonkeyPatch.context() as env:
            fake_credentials(env, tmp_path_factory.mktemp("aws"))
            route53 = boto3.session.Session(region_name="us-east-1").client(
                "route53", endpoint_url=endpoint, config=Config(retries={"total_max_attempts": 1})
            )
            zone = route53.create_hosted_zone(Name=registered.dns.zone, CallerReference=uuid.uuid4().hex)
            own = OperatorProcess(
                registered,
                tmp_path_factory.mktemp("route53") / "operator.log",
                unreachable_grace_seconds="20",
                dns_provider="route53",
                dns_options=json.dumps({}),
                dns_credentials_secret=f"{OPERATOR_NAMESPACE}/{SECRET}",
                dns_health_check_poll_seconds=POLL_SECONDS,
                metrics_port=str(free_port()),
                metrics_address="127.0.0.1",
            )
            own.start()
            yield Route53Operator(own, route53, str(zone["HostedZone"]["Id"]).rsplit("/", 1)[-1])
            assert own.alive(), f"the operator died:\n{own.tail()}"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\noperator log:\n{own.tail() if own else ''}") from exc
    finally:
        if own is not None:
            own.stop()
        server.stop()
        try:
            core.delete_namespaced_secret(SECRET, OPERATOR_NAMESPACE)
        except ApiException as exc:
            if exc.status != 404:
                raise
        register_dns_credentials(registered)
        operator.start()


def fake_credentials(env: pytest.MonkeyPatch, home: Path) -> None:
    """Fake keys for moto, inherited by the operator process; nothing else in boto3's chain to look at."""
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        env.delenv(variable, raising=False)
    env.setenv("AWS_ACCESS_KEY_ID", "testing")
    env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    env.setenv("AWS_CONFIG_FILE", str(home / "config"))
    env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    env.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_health_checks_reach_status_and_a_killed_operator_leaves_none_behind(
    route53_operator: Route53Operator, registered: LocalFederation
) -> None:
    namespace = f"hc-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    seed = PolicySeed(registered, "nginx", namespace)
    seed.create_with({"type": "weighted", "healthCheck": {"protocol": "TCP", "port": 80}})
    members = member_names(registered)
    for member in members:
        seed.start_backends(member)
    addresses = {m: eventually(f"address in {m}", lambda m=m: seed.address(m)) for m in members}
    ours = route53_operator.our_health_checks
    checks = eventually(
        "one health check per member, tagged with the owner",
        lambda: (found := ours()) and len(found) == len(members) and found,
        timeout=60,
    )
    assert {t["federation-operator/owner"] for t in checks.values()} == {f"{namespace}/nginx"}

    def provider_health() -> dict[str, Any]:
        return {s["cluster"]: s.get("providerHealth") for s in seed.get().get("status", {}).get("shards", [])}

    # moto's checkers always succeed: every shard shows its share's check Healthy, by its id and address.
    shown = eventually(
        "every shard shows its share's health check Healthy",
        lambda: (h := provider_health()) and all(v and v["state"] == "Healthy" for v in h.values()) and h,
        timeout=60,
    )
    assert {v["healthCheckId"] for v in shown.values()} == set(checks)
    assert {c: v["address"] for c, v in shown.items()} == addresses

    # The operator is killed while its health checks exist; the object is deleted meanwhile (our finalizer
    # holds it); the operator starts again: the object goes, with every record set and health check of ours.
    process = route53_operator.process
    assert process.proc is not None
    process.proc.send_signal(signal.SIGKILL)
    process.proc.wait(10)
    process.stop()
    seed.delete()
    process.start()

    def gone() -> bool:
        try:
            seed.get()
        except ApiException as exc:
            return exc.status == 404
        return False

    eventually("the object deleted (the restarted operator's finalizer ran)", gone, timeout=90)
    eventually("no health check of ours left", lambda: not ours(), timeout=60)
    assert not {n for n in route53_operator.record_names() if f".{namespace}." in n}
