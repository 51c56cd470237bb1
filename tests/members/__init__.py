"""Tests of member-cluster I/O (`federation_operator.kube`), and the helpers they share."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from localfed import LocalFederation

from federation_operator.domain.specs import MemberClusterSpec
from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.transport import Exchange, run_exchange

T = TypeVar("T")

# The member the fault tests stop and start: the other tests stay on the first member.
FAULT_MEMBER = "gce-us-central1"
MEMBER = "gce-asia-east1"


class LoopRunner:
    """Exchanges made on an event loop by :class:`AsyncTransport`, as the operator makes them: one loop and
    one transport kept across calls (so a connection opened by one call serves the next)."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()
        self._transport = AsyncTransport()

    def __call__(self, api: ClusterClient, exchange: Exchange[T], *, timeout: float | None = None) -> T:
        return self._runner.run(self._transport.run(api, exchange, within=timeout))

    def close(self) -> None:
        self._runner.run(self._transport.close())
        self._runner.close()


def thread_runner(api: ClusterClient, exchange: Exchange[T], *, timeout: float | None = None) -> T:
    """Exchanges made in this thread (urllib3), as fedctl and the sync functions make them."""
    return run_exchange(api, exchange, timeout=timeout)


Runner = Callable[..., Any]


def eventually(what: str, probe: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        last = value
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout:.0f}s (last: {last!r})")


def member_spec(federation: LocalFederation, cluster: str, **overrides: Any) -> MemberClusterSpec:
    """The MemberCluster spec of one member of the local federation."""
    state = federation.clusters[cluster]
    raw = {
        "apiEndpoint": state.server,
        "secretRef": {"name": f"{cluster}-credentials", "namespace": "fedop-system"},
        "region": state.spec.region,
        "zones": list(state.spec.zones),
        **overrides,
    }
    return MemberClusterSpec.model_validate(raw)


def write_kubeconfig(
    path: Path, *, cluster: dict[str, Any], user: dict[str, Any], current: str = "host"
) -> Path:
    """A kubeconfig at ``path`` whose context ``host`` joins ``cluster`` and ``user``, beside a context
    ``other`` naming a cluster that is not defined; ``current`` is its current context."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current,
        "clusters": [{"name": "host", "cluster": cluster}],
        "users": [{"name": "operator", "user": user}],
        "contexts": [
            {"name": "host", "context": {"cluster": "host", "user": "operator"}},
            {"name": "other", "context": {"cluster": "elsewhere", "user": "operator"}},
        ],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def kubeconfig_secret(
    federation: LocalFederation, cluster: str, *, inline: bool = False, server: str | None = None
) -> dict[str, bytes]:
    """A ``kubeconfig`` Secret for ``cluster`` (admin): certificate files by path, or inline ``*-data``."""
    doc = yaml.safe_load(federation.kubeconfig.read_text())
    doc["current-context"] = cluster
    if inline:
        for section, inner, fields in (
            ("clusters", "cluster", ("certificate-authority",)),
            ("users", "user", ("client-certificate", "client-key")),
        ):
            for entry in doc[section]:
                for field in fields:
                    path = Path(entry[inner].pop(field))
                    entry[inner][f"{field}-data"] = base64.b64encode(path.read_bytes()).decode()
    if server is not None:
        for entry in doc["clusters"]:
            entry["cluster"]["server"] = server
    return {"kubeconfig": yaml.safe_dump(doc).encode()}


@contextmanager
def admin_client(federation: LocalFederation, cluster: str) -> Iterator[client.ApiClient]:
    """The harness's admin client for ``cluster`` (test set-up and checks), closed afterwards."""
    api = federation.api_client(cluster)
    try:
        yield api
    finally:
        api.close()


@contextmanager
def fresh_namespace(federation: LocalFederation, cluster: str) -> Iterator[str]:
    """A new namespace in ``cluster``, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    with admin_client(federation, cluster) as api:
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": name}})
        try:
            yield name
        finally:
            try:
                core.delete_namespace(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise


def service_manifest(namespace: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A small ClusterIP Service manifest, as the planner would render one."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "type": "ClusterIP",
            "selector": {"run": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }
