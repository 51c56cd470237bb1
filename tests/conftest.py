"""Fixtures shared by every test tier: the local federation and a local BIND, started and stopped by PID."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from localfed import FederationConfig, LocalFederation
from localfed.bind import BindServer, start_bind
from localfed.federation import binaries_dir, free_port
from localfed.processes import stop

# The DNS providers' local servers (moto for Route 53, our Cloud DNS fake), one set-up for every tier.
pytest_plugins = ["tests.dns_fixtures"]


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """Host + 3 members + BIND, shared by the session; everything is stopped at the end, whatever happened."""
    state_dir = Path(os.environ.get("LOCALFED_TEST_STATE_DIR") or tmp_path_factory.mktemp("localfed"))
    fed = LocalFederation(FederationConfig(state_dir=state_dir, members=3))
    try:
        fed.up(log=lambda msg: print(f"[localfed] {msg}"))
        yield fed
    finally:
        fed.down(log=lambda msg: print(f"[localfed] {msg}"), keep_logs=True)


@pytest.fixture(scope="session")
def bind_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BindServer]:
    """A BIND of its own (not the federation's), for DNS adapter tests that don't need clusters."""
    server, record = start_bind(tmp_path_factory.mktemp("bind"), free_port(), extra_zones=("acme.com",))
    try:
        yield server
    finally:
        stop(record)


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The helm command, with its cache/config/data homes in a temporary directory rather than in ~."""
    binary = binaries_dir() / "helm"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run hack/build-binaries.sh")
    home = tmp_path_factory.mktemp("helm-home")
    return [
        "env",
        f"HELM_CACHE_HOME={home / 'cache'}",
        f"HELM_CONFIG_HOME={home / 'config'}",
        f"HELM_DATA_HOME={home / 'data'}",
        str(binary),
    ]
