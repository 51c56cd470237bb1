"""The raw request paths (kube/transport.py in a thread, kube/async_transport.py on the event loop) as a
client is configured: a server behind a path prefix, the client's own credentials, a pool closed under it,
and an HTTP proxy; against a real HTTP server on loopback that records what it was sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.client import ClusterClient, ClusterConfig
from federation_operator.kube.host import build_host_client
from federation_operator.kube.transport import Exchange, Query, RawResponse, Request, send_request
from tests.members import Runner


def get(path: str, query: Query = ()) -> Exchange[RawResponse]:
    """One GET, its response as it came."""
    return (yield Request("GET", path, f"get {path}", query=query))


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str | None]] = []  # noqa: RUF012  (one per server class below)

    def do_GET(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization")))
        body = b'{"kind": "Status", "message": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[tuple[str, str, str | None]]]]:
    seen: list[tuple[str, str, str | None]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _client(host: str, *, proxy: str | None = None) -> ClusterClient:
    return ClusterClient(ClusterConfig(server=host, token="t0ken", proxy=proxy or ""))


def test_a_server_behind_a_path_prefix_gets_the_prefix_the_query_and_the_credentials(
    server: tuple[str, list[tuple[str, str, str | None]]], runner: Runner
) -> None:
    url, seen = server
    api = _client(url + "/k8s/clusters/c-1/")
    try:
        for _ in range(2):  # the second request goes through the pool (or session) found by the first
            response = runner(api, get("/api/v1/services", [("limit", 5), ("watch", True)]))
            assert response.status == 200
            assert response.json()["message"] == "ok"
    finally:
        api.close()
    assert seen == [("GET", "/k8s/clusters/c-1/api/v1/services?limit=5&watch=true", "Bearer t0ken")] * 2


def test_a_pool_closed_under_the_client_is_found_again(
    server: tuple[str, list[tuple[str, str, str | None]]],
) -> None:
    url, seen = server
    api = _client(url)
    try:
        assert send_request(api, "GET", "/version", what="version").status == 200
        api.pool_manager().clear()  # closes every pool it held
        assert send_request(api, "GET", "/version", what="version").status == 200
    finally:
        api.close()
    assert [path for _, path, _ in seen] == ["/version", "/version"]


def test_through_an_http_proxy_the_request_names_the_whole_url(
    server: tuple[str, list[tuple[str, str, str | None]]], runner: Runner
) -> None:
    proxy, seen = server
    # The API server is never reached: the proxy (our recorder) answers for it.
    api = _client("http://127.0.0.2:6443", proxy=proxy)
    try:
        assert runner(api, get("/readyz")).status == 200
    finally:
        api.close()
    assert seen == [("GET", "http://127.0.0.2:6443/readyz", "Bearer t0ken")]


def test_the_host_client_keeps_as_many_connections_as_it_is_told(tmp_path: Path) -> None:
    """Every reconcile worker may write to the host at once: a smaller pool discards connections under load
    (and each one reopened costs a TLS handshake)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: host\n"
        "clusters: [{name: host, cluster: {server: 'https://127.0.0.1:6443',"
        " insecure-skip-tls-verify: true}}]\n"
        "users: [{name: host, user: {token: t0ken}}]\n"
        "contexts: [{name: host, context: {cluster: host, user: host}}]\n"
    )
    api = build_host_client(kubeconfig, None, pool_size=24)
    try:
        assert api.pool_manager().connection_pool_kw["maxsize"] == 24
    finally:
        api.close()


async def test_a_forgotten_clients_session_is_closed_and_made_again_if_asked(
    server: tuple[str, list[tuple[str, str, str | None]]],
) -> None:
    url, seen = server
    transport, api = AsyncTransport(), _client(url)
    try:
        assert (await transport.run(api, get("/version"))).status == 200
        first = transport._session(api).session
        transport.forget(api)  # as when a member is disconnected: its client is closed
        assert (await transport.run(api, get("/version"))).status == 200
        assert transport._session(api).session is not first
    finally:
        await transport.close()
        api.close()
    assert first.closed
    assert [path for _, path, _ in seen] == ["/version", "/version"]
