"""Route 53 health checks with the operator as a real process on the local federation, publishing to moto's
standalone server (on loopback) in place of the session's BIND: a ``weighted`` policy with ``healthCheck``
gets one health check per member's share, tagged with the federation and the owner, whose state reaches
``status.shards[].providerHealth``; an operator killed (SIGKILL) while they exist, the object deleted
meanwhile, and the operator started again leaves no health check of ours and no record set behind. moto's
checkers always succeed, so the operator reaches moto through a small proxy on loopback (`StatusProxy`)
that turns the reports of chosen health checks to failures: such a shard shows Unhealthy, with a Warning
event, while its own health and the records stay the operator's."""

from __future__ import annotations

import http.client
import http.server
import json
import re
import signal
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from localfed import LocalFederation
from localfed.federation import free_port
from localfed.operator import OPERATOR_NAMESPACE, OperatorProcess, eventually, register_dns_credentials

from tests.dns_fixtures import create_zone, new_client, set_fake_aws_credentials
from tests.e2e.test_dns import FEDERATION, member_names
from tests.e2e.test_dns_policy import PolicySeed

pytestmark = [pytest.mark.e2e, pytest.mark.dns]

SECRET = "route53-endpoint"
POLL_SECONDS = "1"  # FEDOP_DNS_HEALTH_CHECK_POLL_SECONDS


class StatusProxy:
    """A pass-through HTTP proxy to moto, on loopback, that answers GetHealthCheckStatus of the health checks
    in ``failing`` with every checker's report turned to a failure (moto never probes, so never fails one)."""

    def __init__(self, host: str, port: int) -> None:
        self.failing: set[str] = set()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                # http.client, not urllib: urllib would add a form Content-Type that moto then misreads.
                connection = http.client.HTTPConnection(host, port, timeout=30)
                try:
                    connection.request(self.command, self.path, body=body or None, headers=headers)
                    reply = connection.getresponse()
                    status, answer, kept = reply.status, reply.read(), reply.getheaders()
                finally:
                    connection.close()
                match = re.fullmatch(r"/2013-04-01/healthcheck/([^/]+)/status", self.path)
                if match and match.group(1) in proxy.failing:
                    answer = re.sub(
                        rb"<Status>Success[^<]*</Status>", b"<Status>Failure: timed out</Status>", answer
                    )
                self.send_response(status)
                for key, value in kept:
                    if key.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "server",
                        "date",
                    ):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_DELETE = _forward

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class Route53Operator:
    """This module's operator (Route 53 on moto, through `proxy`) and a boto3 client of moto itself."""

    def __init__(self, process: OperatorProcess, route53: Any, zone_id: str, proxy: StatusProxy) -> None:
        self.process = process
        self.route53 = route53
        self.zone_id = zone_id
        self.proxy = proxy

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

    def records_of(self, namespace: str) -> list[dict[str, Any]]:
        records = self.route53.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
        return [r for r in records if f".{namespace}." in r["Name"]]

    def record_names(self) -> set[str]:
        records = self.route53.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
        return {r["Name"] for r in records}


@pytest.fixture(scope="module")
def route53_operator(
    operator: OperatorProcess,
    registered: LocalFederation,
    moto_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Route53Operator]:
    """An operator of this module's own, publishing the federation's zone to the module's moto
    (tests/dns_fixtures.py), in place of the session's (which publishes to BIND): started again as it was
    afterwards."""
    assert registered.dns is not None
    moto = urllib.parse.urlsplit(moto_url)
    assert moto.hostname is not None
    assert moto.port is not None
    proxy = StatusProxy(moto.hostname, moto.port)
    core = client.CoreV1Api(registered.api_client("federation"))
    # The endpoint as a credentials Secret's key: provider options from a Secret, as in production.
    core.create_namespaced_secret(
        OPERATOR_NAMESPACE,
        {
            "metadata": {"name": SECRET, "namespace": OPERATOR_NAMESPACE},
            "stringData": {"endpoint_url": proxy.url},
        },
    )
    operator.stop()
    own: OperatorProcess | None = None
    try:
        with pytest.MonkeyPatch.context() as env:
            set_fake_aws_credentials(env, tmp_path_factory.mktemp("aws"))
            route53 = new_client(moto_url)
            zone_id = create_zone(route53, registered.dns.zone)
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
            yield Route53Operator(own, route53, zone_id, proxy)
            assert own.alive(), f"the operator died:\n{own.tail()}"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\noperator log:\n{own.tail() if own else ''}") from exc
    finally:
        if own is not None:
            own.stop()
        proxy.stop()
        try:
            core.delete_namespaced_secret(SECRET, OPERATOR_NAMESPACE)
        except ApiException as exc:
            if exc.status != 404:
                raise
        register_dns_credentials(registered)
        operator.start()


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

    eventually("the object deleted (the restarted operator's finalizer ran)", lambda: gone(seed), timeout=90)
    eventually("no health check of ours left", lambda: not ours(), timeout=60)
    assert not {n for n in route53_operator.record_names() if f".{namespace}." in n}


def gone(seed: PolicySeed) -> bool:
    try:
        seed.get()
    except ApiException as exc:
        return exc.status == 404
    return False


def test_a_failing_provider_check_shows_on_its_shard_with_an_event_and_decides_nothing(
    route53_operator: Route53Operator, registered: LocalFederation
) -> None:
    namespace = f"hc-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(registered.api_client("federation")).create_namespace({"metadata": {"name": namespace}})
    seed = PolicySeed(registered, "nginx", namespace)
    seed.create_with({"type": "weighted", "healthCheck": {"protocol": "TCP", "port": 80}})
    members = member_names(registered)
    for member in members:
        seed.start_backends(member)
    failing, *others = members

    def shards() -> dict[str, Any]:
        return {s["cluster"]: s for s in seed.get().get("status", {}).get("shards", [])}

    def provider_state(cluster: str) -> str | None:
        return (shards().get(cluster, {}).get("providerHealth") or {}).get("state")

    eventually(
        "every shard's health check Healthy",
        lambda: all(provider_state(m) == "Healthy" for m in members),
        timeout=90,
    )
    check = shards()[failing]["providerHealth"]["healthCheckId"]
    records_before = route53_operator.records_of(namespace)
    route53_operator.proxy.failing.add(check)
    eventually(
        f"{failing}'s health check Unhealthy", lambda: provider_state(failing) == "Unhealthy", timeout=60
    )
    shown = shards()
    assert shown[failing]["providerHealth"]["healthCheckId"] == check
    assert "timed out" in shown[failing]["providerHealth"]["message"]
    assert {provider_state(m) for m in others} == {"Healthy"}
    # Reported, not decided on: the shard stays healthy by the operator's rules, the records as they were.
    assert shown[failing]["healthy"] is True
    assert route53_operator.records_of(namespace) == records_before
    core = client.CoreV1Api(registered.api_client("federation"))
    warned = eventually(
        "a ProviderHealthCheckFailed event",
        lambda: [
            e for e in core.list_namespaced_event(namespace).items if e.reason == "ProviderHealthCheckFailed"
        ],
    )
    assert {(e.type, check in e.message, failing in e.message) for e in warned} == {("Warning", True, True)}
    route53_operator.proxy.failing.discard(check)
    eventually(
        f"{failing}'s health check Healthy again", lambda: provider_state(failing) == "Healthy", timeout=60
    )
    seed.delete()
    eventually("the object deleted", lambda: gone(seed), timeout=90)
