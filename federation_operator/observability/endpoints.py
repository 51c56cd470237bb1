"""The HTTP endpoints the operator serves itself, each from a thread of its own, outside kopf's event loop.

- Prometheus ``/metrics`` (prometheus-client's server), for the whole life of the process, so a standby
  replica reports ``fedop_leader 0`` too.
- ``/healthz`` while a replica stands by for the Lease. kopf serves the liveness endpoint only once it
  runs, and a standby does not run kopf (it would watch and could write); without this endpoint the
  kubelet's liveness probe would restart every standby over and over.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from wsgiref.simple_server import WSGIServer

import prometheus_client

from federation_operator.domain.errors import PermanentError
from federation_operator.observability.metrics import Metrics

__all__ = ["serve_metrics", "serve_standby_health", "shutdown"]

log = logging.getLogger(__name__)


def serve_metrics(metrics: Metrics, port: int, address: str) -> WSGIServer:
    try:
        server, _thread = prometheus_client.start_http_server(port, addr=address, registry=metrics.registry)
    except OSError as exc:
        raise PermanentError(f"metrics_port {port} on {address}: {exc.strerror or exc}") from exc
    log.info("serving Prometheus metrics on http://%s:%d/metrics", address, port)
    return server


class _StandbyHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/healthz":
            self.send_error(404)
            return
        body = json.dumps({"standby": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # a probe every few seconds is not worth a log line


def serve_standby_health(port: int) -> ThreadingHTTPServer:
    """``/healthz`` on every interface at `port` (where kopf's liveness endpoint will be once active)."""
    try:
        server = ThreadingHTTPServer(("0.0.0.0", port), _StandbyHandler)  # probed by the kubelet
    except OSError as exc:
        raise PermanentError(f"liveness_port {port}: {exc.strerror or exc}") from exc
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="standby-healthz", daemon=True).start()
    return server


def shutdown(server: ThreadingHTTPServer | WSGIServer) -> None:
    server.shutdown()  # waits for its poll loop (0.5 s)
    server.server_close()
