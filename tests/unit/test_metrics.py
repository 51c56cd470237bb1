"""The Prometheus metrics: names rendered from a dedicated registry, and the exact shard-health gauge."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from federation_operator.dns.inmemory import InMemoryProvider
from federation_operator.dns.publisher import Publisher
from federation_operator.domain.errors import PermanentError, StaleChangesError, TransientError
from federation_operator.domain.records import RecordSet
from federation_operator.observability.metrics import Metrics, ShardHealth, dns_error_kind

EXPECTED = {
    "fedop_reconcile_duration_seconds": "histogram",
    "fedop_member_writes": "counter",
    "fedop_dns_changes": "counter",
    "fedop_dns_provider_calls": "counter",
    "fedop_dns_errors": "counter",
    "fedop_shards": "gauge",
    "fedop_cluster_probe": "counter",
    "fedop_cluster_ready": "gauge",
    "fedop_dns_frozen": "gauge",
    "fedop_workqueue_depth": "gauge",
    "fedop_objects_held": "gauge",
}


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def shard_series(metrics: Metrics) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["cluster"], dict(labels)["healthy"]): value
        for (name, labels), value in samples(metrics).items()
        if name == "fedop_shards"
    }


def test_every_metric_is_rendered_with_its_type() -> None:
    metrics = Metrics()
    metrics.observe_reconcile(0.03, ok=True)
    metrics.count_member_write("gce-us-central1", "create")
    metrics.count_dns_calls("rfc2136", 2)
    metrics.count_dns_error("rfc2136", TransientError("timeout"))
    metrics.observe_probe("gce-us-central1", ok=True, ready=True)
    metrics.track_workqueue(lambda: 3)
    held = {"federatedservices": 2, "services": 8}
    metrics.track_objects(lambda: held)
    families = {
        f.name: f.type for f in text_string_to_metric_families(generate_latest(metrics.registry).decode())
    }
    assert {name: families.get(name) for name in EXPECTED} == EXPECTED
    got = samples(metrics)
    assert got[("fedop_reconcile_duration_seconds_count", frozenset({("result", "ok")}))] == 1
    assert (
        got[("fedop_member_writes_total", frozenset({("cluster", "gce-us-central1"), ("verb", "create")}))]
        == 1
    )
    assert got[("fedop_dns_provider_calls_total", frozenset({("provider", "rfc2136")}))] == 2
    assert got[("fedop_dns_errors_total", frozenset({("provider", "rfc2136"), ("kind", "transient")}))] == 1
    assert (
        got[("fedop_cluster_probe_total", frozenset({("cluster", "gce-us-central1"), ("result", "success")}))]
        == 1
    )
    assert got[("fedop_cluster_ready", frozenset({("cluster", "gce-us-central1")}))] == 1
    assert got[("fedop_workqueue_depth", frozenset())] == 3
    assert got[("fedop_dns_frozen", frozenset())] == 0
    assert got[("fedop_objects_held", frozenset({("kind", "services")}))] == 8
    held["services"] = 12  # read at each scrape, never stale
    assert samples(metrics)[("fedop_objects_held", frozenset({("kind", "services")}))] == 12


def test_instances_do_not_share_series_nor_touch_the_global_registry() -> None:
    first, second = Metrics(), Metrics()
    first.count_member_write("a", "apply")
    assert ("fedop_member_writes_total", frozenset({("cluster", "a"), ("verb", "apply")})) not in samples(
        second
    )
    assert REGISTRY.get_sample_value("fedop_member_writes_total", {"cluster": "a", "verb": "apply"}) is None


def test_shard_gauge_is_exact_after_updates_and_removal() -> None:
    metrics = Metrics()
    metrics.set_shards(("ns", "web"), [ShardHealth("east", True), ShardHealth("west", False)])
    metrics.set_shards(("ns", "api"), [ShardHealth("east", True), ShardHealth("west", True)])
    assert shard_series(metrics) == {
        ("east", "true"): 2,
        ("east", "false"): 0,
        ("west", "true"): 1,
        ("west", "false"): 1,
    }
    # web recovers in west and leaves east; the same report twice changes nothing.
    for _ in range(2):
        metrics.set_shards(("ns", "web"), [ShardHealth("west", True)])
    assert shard_series(metrics) == {
        ("east", "true"): 1,
        ("east", "false"): 0,
        ("west", "true"): 2,
        ("west", "false"): 0,
    }
    metrics.forget_shards(("ns", "api"))
    assert shard_series(metrics) == {("west", "true"): 1, ("west", "false"): 0}
    metrics.forget_shards(("ns", "web"))
    metrics.forget_shards(("ns", "never-seen"))
    assert shard_series(metrics) == {}


def unserved(metrics: Metrics) -> tuple[float, dict[str, float]]:
    got = samples(metrics)
    regions = {
        dict(labels)["region"]: value
        for (name, labels), value in got.items()
        if name == "fedop_regions_unserved"
    }
    return got[("fedop_services_unserved", frozenset())], regions


def test_services_and_regions_without_a_healthy_shard_are_counted_exactly() -> None:
    metrics = Metrics()
    assert unserved(metrics) == (0, {})
    us, eu = ShardHealth("us-1", True, "us"), ShardHealth("eu-1", True, "eu")
    down = ShardHealth("eu-2", False, "eu")
    metrics.set_shards(("ns", "web"), [us, eu, down])  # healthy somewhere in every region
    metrics.set_shards(("ns", "api"), [ShardHealth("us-1", False, "us"), down])  # nowhere healthy
    assert unserved(metrics) == (1, {"us": 1, "eu": 1})
    metrics.set_shards(("ns", "web"), [us, ShardHealth("eu-1", False, "eu"), down])  # eu lost
    assert unserved(metrics) == (1, {"us": 1, "eu": 2})
    metrics.set_shards(("ns", "api"), [ShardHealth("us-1", True, "us"), down])  # api back in us
    assert unserved(metrics) == (0, {"us": 0, "eu": 2})
    metrics.forget_shards(("ns", "api"))
    metrics.forget_shards(("ns", "web"))
    assert unserved(metrics) == (0, {"us": 0, "eu": 0})
    metrics.set_shards(("ns", "new"), [])  # not placed anywhere yet: not "unserved"
    assert unserved(metrics) == (0, {"us": 0, "eu": 0})


def test_dns_pending_changes_are_read_at_each_scrape() -> None:
    metrics = Metrics()
    ages: list[float] = []
    metrics.track_dns_pending(lambda: ages)
    assert samples(metrics)[("fedop_dns_pending_changes", frozenset())] == 0
    assert samples(metrics)[("fedop_dns_oldest_pending_seconds", frozenset())] == 0
    ages.extend([12.5, 340.0])
    assert samples(metrics)[("fedop_dns_pending_changes", frozenset())] == 2
    assert samples(metrics)[("fedop_dns_oldest_pending_seconds", frozenset())] == 340.0


def test_cluster_ready_follows_probes_and_goes_away_with_the_member() -> None:
    metrics = Metrics()
    metrics.observe_probe("east", ok=False, ready=True)  # below the failure threshold: still Ready
    metrics.observe_probe("east", ok=False, ready=False)
    got = samples(metrics)
    assert got[("fedop_cluster_probe_total", frozenset({("cluster", "east"), ("result", "failure")}))] == 2
    assert got[("fedop_cluster_ready", frozenset({("cluster", "east")}))] == 0
    metrics.forget_cluster("east")
    metrics.forget_cluster("east")
    assert ("fedop_cluster_ready", frozenset({("cluster", "east")})) not in samples(metrics)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (StaleChangesError("zone changed"), "stale"),
        (TransientError("timeout"), "transient"),
        (PermanentError("refused"), "permanent"),
        (RuntimeError("bug"), "unexpected"),
    ],
)
def test_dns_error_kinds(error: BaseException, kind: str) -> None:
    assert dns_error_kind(error) == kind


async def test_publisher_counts_changes_calls_and_freezing() -> None:
    metrics = Metrics()
    provider = InMemoryProvider("example.com.")
    publisher = Publisher(
        provider, federation="myfederation", on_result=lambda _key: None, metrics=metrics, provider_name="mem"
    )
    task = asyncio.create_task(publisher.run())
    try:
        record = RecordSet("web.ns.myfederation.svc.example.com.", "A", 60, ("192.0.2.1",))
        publisher.submit(("ns", "web"), (record,))
        async with asyncio.timeout(5):
            while publisher.result(("ns", "web")) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # polling the publisher's outcome, with a deadline
        publisher.set_frozen(True)
        got = samples(metrics)
        # The record set and its ownership TXT record: two changes; one read and one apply.
        assert got[("fedop_dns_changes_total", frozenset({("provider", "mem")}))] == 2
        assert got[("fedop_dns_provider_calls_total", frozenset({("provider", "mem")}))] == (
            publisher.provider_calls
        )
        assert got[("fedop_dns_frozen", frozenset())] == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def series_of(metrics: Metrics, metric: str, *keys: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(dict(labels)[k] for k in keys): value
        for (name, labels), value in samples(metrics).items()
        if name == metric
    }


def test_shards_per_federated_service_and_per_region_follow_each_status_and_go_with_the_object() -> None:
    metrics = Metrics()
    us, eu, eu_down = (
        ShardHealth("us-1", True, "us"),
        ShardHealth("eu-1", True, "eu"),
        ShardHealth("eu-2", False, "eu"),
    )
    metrics.set_shards(("shop", "web"), [us, eu, eu_down])
    metrics.set_shards(("shop", "api"), [ShardHealth("us-1", False, "us")])
    per_service = series_of(metrics, "fedop_service_shards", "namespace", "name", "healthy")
    assert per_service == {
        ("shop", "web", "true"): 2,
        ("shop", "web", "false"): 1,
        ("shop", "api", "true"): 0,
        ("shop", "api", "false"): 1,
    }
    per_region = series_of(metrics, "fedop_region_shards", "region", "healthy")
    assert per_region == {("us", "true"): 1, ("us", "false"): 1, ("eu", "true"): 1, ("eu", "false"): 1}

    metrics.set_shards(("shop", "web"), [us, ShardHealth("eu-1", False, "eu"), eu_down])  # eu-1 fails over
    assert (
        series_of(metrics, "fedop_service_shards", "namespace", "name", "healthy")[("shop", "web", "true")]
        == 1
    )
    assert series_of(metrics, "fedop_region_shards", "region", "healthy")[("eu", "false")] == 2

    metrics.forget_shards(("shop", "web"))  # deleted: its series go, the regions' totals drop
    assert ("shop", "web", "true") not in series_of(
        metrics, "fedop_service_shards", "namespace", "name", "healthy"
    )
    per_region = series_of(metrics, "fedop_region_shards", "region", "healthy")
    assert per_region == {("us", "true"): 0, ("us", "false"): 1, ("eu", "true"): 0, ("eu", "false"): 0}
