"""fetch_probe against real members: version and topology; a stopped or silent API fails fast, no raise."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from localfed import LocalFederation

from federation_operator.kube.client import ClusterClient
from federation_operator.kube.credentials import build_api_client
from federation_operator.kube.probe import fetch_probe
from tests.members import FAULT_MEMBER, kubeconfig_secret, member_spec

pytestmark = pytest.mark.e2e

KUBERNETES_VERSION = next(
    line.split("=", 1)[1]
    for line in (Path(__file__).parents[2] / "hack" / "versions.env").read_text().splitlines()
    if line.startswith("KUBERNETES_VERSION=")
)
# Time a failing probe may take beyond its timeout (thread scheduling on a busy 2-core machine).
MARGIN = 1.5


@pytest.fixture
def member_api(federation: LocalFederation, request: pytest.FixtureRequest) -> Iterator[ClusterClient]:
    cluster: str = request.param
    api = build_api_client(member_spec(federation, cluster), kubeconfig_secret(federation, cluster))
    yield api
    api.close()


@pytest.mark.parametrize(
    ("member_api", "region"),
    [
        ("gce-asia-east1", "asia-east1"),
        ("gce-europe-west1", "europe-west1"),
        ("gce-us-central1", "us-central1"),
    ],
    indirect=["member_api"],
)
def test_probe_reports_version_region_and_zones(member_api: ClusterClient, region: str) -> None:
    result = fetch_probe(member_api, 5.0)
    assert result.ok, result.error
    assert result.error is None
    assert result.kubernetes_version == KUBERNETES_VERSION == "v1.33.13"
    assert result.regions == {region}
    assert result.zones == {f"{region}-a", f"{region}-b"}


@pytest.mark.parametrize("member_api", [FAULT_MEMBER], indirect=True)
def test_stopped_apiserver_fails_fast(federation: LocalFederation, member_api: ClusterClient) -> None:
    assert fetch_probe(member_api, 5.0).ok  # a pooled connection exists: it must not be trusted blindly
    federation.stop_apiserver(FAULT_MEMBER)
    try:
        started = time.monotonic()
        result = fetch_probe(member_api, 2.0)
        elapsed = time.monotonic() - started
    finally:
        federation.start_apiserver(FAULT_MEMBER)
    assert not result.ok
    assert result.error in ("connection refused", "connection lost")
    assert elapsed < 2.0 + MARGIN
    assert fetch_probe(member_api, 5.0).ok, "the same client works again once the member is back"


def test_silent_endpoint_times_out_within_the_timeout(federation: LocalFederation) -> None:
    # A socket that accepts TCP connections (the kernel does, from the backlog) but never answers TLS.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        spec = member_spec(federation, FAULT_MEMBER, apiEndpoint=f"https://127.0.0.1:{port}")
        api = build_api_client(spec, kubeconfig_secret(federation, FAULT_MEMBER))
        try:
            started = time.monotonic()
            result = fetch_probe(api, 1.0)
            elapsed = time.monotonic() - started
        finally:
            api.close()
    assert not result.ok
    assert result.error == "timed out"
    assert 0.9 <= elapsed < 1.0 + MARGIN
