"""How to reach a cluster's API (:class:`ClusterConfig`), and the client holding it (:class:`ClusterClient`).

Every request of the operator, to the host and to the members, in a thread (:mod:`.transport`) or on the
event loop (:mod:`.async_transport`), is sent through a :class:`ClusterClient`: its server, its TLS (CA,
client certificate, server name), its credentials (a bearer token, a token file read again as it rotates,
or an exec plugin's) and its proxy. The kubernetes client library is not used for it: its package loads
every generated model class (~700) on import, ~18 MiB of a fresh process and ~40 MiB of the running
operator with what it pulls in, for a request path the operator replaced long ago (see :mod:`.transport`).
fedctl, a short-lived command, still reads kubeconfigs with it (:mod:`federation_operator.cli.rest`).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import ssl
import threading
import time
import weakref
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import getproxies

import urllib3
from urllib3.util.retry import Retry

from federation_operator import __version__
from federation_operator.domain.errors import FederationError
from federation_operator.kube.exec_plugin import ExecPlugin

__all__ = [
    "DEFAULT_POOL_SIZE",
    "TOKEN_FILE_PERIOD",
    "USER_AGENT",
    "ClusterClient",
    "ClusterConfig",
    "bypasses_proxy",
]

USER_AGENT = f"federation-operator/{__version__}"
# Connections kept open to one API server, in each of the two request paths.
DEFAULT_POOL_SIZE = 16
log = logging.getLogger(__name__)

# A token file is read again this often: a projected ServiceAccount token is rotated by the kubelet well
# before it expires (client-go re-reads it every minute too).
TOKEN_FILE_PERIOD = 60.0
# TCP keepalive as client-go asks the kernel for it: an idle watch behind a NAT or load balancer that
# silently drops idle flows is probed after 30 s, and given up after 9 probes 15 s apart.
# An exec plugin's token is renewed this long before it expires, in the background, while it is still sent;
# the plugin is run again no sooner than EXEC_RETRY_SECONDS after its last run.
EXEC_RENEW_AHEAD = 300.0
EXEC_RETRY_SECONDS = 10.0
_KEEPALIVE = (
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
    *(
        (socket.IPPROTO_TCP, getattr(socket, name), value)
        for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 9))
        if hasattr(socket, name)
    ),
)


@dataclass(frozen=True)
class ClusterConfig:
    """Where a cluster's API is and how to authenticate to it.

    ``ca_file`` / ``ca_data`` (PEM): the CA to verify the server with (neither: the system's); ``cert_file`` +
    ``key_file``: a client certificate; ``token``, or ``token_file`` read again every ``TOKEN_FILE_PERIOD``,
    or ``exec_plugin``'s (renewed before it expires): a bearer token. ``proxy`` None takes the
    environment's (``HTTPS_PROXY``, ``NO_PROXY``: as the kubernetes client did); "" is none. ``retries``:
    urllib3's own retries in the threads' path (None: its default; 0 for the members, whose callers retry
    with their own backoff). ``keep_alive``: TCP keepalive.
    """

    server: str
    ca_file: str | None = None
    ca_data: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    exec_plugin: ExecPlugin | None = None
    verify: bool = True
    tls_server_name: str | None = None
    proxy: str | None = None
    no_proxy: str | None = None
    pool_size: int = DEFAULT_POOL_SIZE
    retries: int | None = None
    keep_alive: bool = False
    user_agent: str = USER_AGENT


class ClusterClient:
    """A :class:`ClusterConfig` with what requests through it share: its headers (the credentials among
    them), its TLS context, its urllib3 pool (the threads' path; made on first use) and the private
    directory holding a client certificate written from a Secret (removed by :meth:`close`, or when the
    client is garbage-collected, or at exit)."""

    def __init__(self, config: ClusterConfig, private_dir: Path | None = None) -> None:
        self.config = config
        self.private_dir = private_dir
        self._cleanup = weakref.finalize(self, _remove_dir, private_dir) if private_dir else None
        self._lock = threading.Lock()
        self._manager: urllib3.PoolManager | None = None
        # The server's own pool in the manager, and the server's path prefix: see server_pool.
        self._server_pool: tuple[urllib3.PoolManager, urllib3.HTTPConnectionPool, str] | None = None
        self._ssl: ssl.SSLContext | None = None
        self._headers = self._base_headers(config.token)
        self._token_read = time.monotonic() if config.token_file is None else -TOKEN_FILE_PERIOD
        self.token_expires: float | None = None  # an exec plugin's token's end (seconds since the epoch)
        self._renewing: threading.Thread | None = None
        self._plugin_run: float | None = None  # when the plugin was last run (monotonic)
        self._exec_lock = threading.Lock()
        self.proxy = _effective_proxy(config)

    @property
    def server(self) -> str:
        return self.config.server

    def headers(self) -> dict[str, str]:
        """The headers every request carries: the user agent and the credentials. Shared: copy to change."""
        if self.config.token_file is not None and time.monotonic() - self._token_read >= TOKEN_FILE_PERIOD:
            self._headers = self._base_headers(self._read_token_file())
        elif self.config.exec_plugin is not None:
            self._keep_exec_token()
        return self._headers

    def ssl_context(self) -> ssl.SSLContext:
        """TLS toward the server: its CA (else the system's), verification and the client certificate."""
        if self._ssl is None:
            self._ssl = _ssl_context(self.config)
        return self._ssl

    def pool_manager(self) -> urllib3.PoolManager:
        """The urllib3 pool manager of the threads' request path (through the proxy when there is one)."""
        with self._lock:
            if self._manager is None:
                self._manager = self._make_manager()
            return self._manager

    def server_pool(self) -> tuple[urllib3.HTTPConnectionPool, str]:
        """The urllib3 pool of connections to the server (without a proxy), and the server's own path prefix
        (an API server behind a path): found once, and again if the manager was replaced or the pool closed.
        The manager's way to it (parse the URL, normalize a pool key, look the pool up) was ~3 % of the
        operator's CPU samples at 1,000 objects."""
        manager = self.pool_manager()
        known = self._server_pool
        if known is not None and known[0] is manager and known[1].pool is not None:
            return known[1], known[2]
        pool = manager.connection_from_url(self.server)
        prefix = (urllib3.util.parse_url(self.server).path or "").rstrip("/")
        self._server_pool = (manager, pool, prefix)
        return pool, prefix

    def close(self) -> None:
        """Close the pooled connections and delete the private credential files; safe to call twice."""
        with self._lock:
            manager, self._manager = self._manager, None
            self._server_pool = None
        if manager is not None:
            manager.clear()
        if self._cleanup is not None:
            self._cleanup()

    def _base_headers(self, token: str | None) -> dict[str, str]:
        headers = {"User-Agent": self.config.user_agent}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def credentials_refused(self, authorization: str | None) -> threading.Thread | None:
        """The server answered 401 to a request that carried ``authorization`` (its Authorization header), as
        client-go acts on one: a token file is read again at once; an exec plugin is run again in the
        background (a plugin's token without an ``expirationTimestamp`` is otherwise kept until the process
        ends), no sooner than ``EXEC_RETRY_SECONDS`` after its last run. Nothing is done when the credentials
        changed since that request was sent. Returns the plugin's run under way, if there is one, for a
        caller that may wait for it (never the event loop)."""
        if authorization is None or authorization != self._headers.get("Authorization"):
            return self._renewing
        if self.config.token_file is not None:
            self._headers = self._base_headers(self._read_token_file())
        elif self.config.exec_plugin is not None:
            self._renew_in_background()
        return self._renewing

    def _keep_exec_token(self) -> None:
        """Run the exec plugin when there is no token to send (the first request waits for it, and a failure
        is that request's), or renew the token as its end nears: in the background while it is still good,
        else in the caller. The plugin runs at most once every ``EXEC_RETRY_SECONDS`` (a plugin that hands
        out a cached token close to its end would otherwise run for every request). A caller on the event
        loop never waits for the plugin (up to ``EXEC_TIMEOUT``: every watch, write and DNS round would wait
        with it): the plugin runs in the background, and the request goes with what there is meanwhile."""
        sent = self._headers.get("Authorization")
        if sent is None:
            if _on_event_loop():
                self._renew_in_background()
            else:
                self._renew_exec_token(None)
            return
        expires = self.token_expires
        now = time.time()
        if expires is None or now < expires - EXEC_RENEW_AHEAD:
            return
        if now >= expires and self._renewing is None and not self._ran_lately() and not _on_event_loop():
            self._renew_exec_token(sent)
            return
        self._renew_in_background()

    def _ran_lately(self) -> bool:
        return self._plugin_run is not None and time.monotonic() - self._plugin_run < EXEC_RETRY_SECONDS

    def _renew_in_background(self) -> None:
        with self._lock:
            if self._renewing is not None or self._ran_lately():
                return
            sent = self._headers.get("Authorization")
            self._renewing = threading.Thread(
                target=self._renew_quietly, args=(sent,), name="exec-credential", daemon=True
            )
            self._renewing.start()

    def _renew_exec_token(self, sent: str | None) -> None:
        """Run the plugin, unless another caller replaced the token ``sent`` meanwhile or ran it lately (None:
        there is no token to send, and the plugin runs whatever happened before)."""
        assert self.config.exec_plugin is not None
        with self._exec_lock:
            if sent is not None and (self._headers.get("Authorization") != sent or self._ran_lately()):
                return
            self._plugin_run = time.monotonic()
            answer = self.config.exec_plugin.run()
            self.token_expires = answer.expires
            self._headers = self._base_headers(answer.token)

    def _renew_quietly(self, sent: str | None) -> None:
        try:
            self._renew_exec_token(sent)
        except FederationError as exc:
            log.warning("renewing the token of %s: %s; the current one is sent meanwhile", self.server, exc)
        finally:
            self._renewing = None

    def _read_token_file(self) -> str | None:
        assert self.config.token_file is not None
        token: str | None
        try:
            token = Path(self.config.token_file).read_text().strip()
        except OSError:
            # Keep the token read last (a rotation writes the file anew); the server says if it expired.
            token = self._headers.get("Authorization", "").removeprefix("Bearer ") or None
        self._token_read = time.monotonic()
        return token

    def _make_manager(self) -> urllib3.PoolManager:
        config = self.config
        options: dict[str, object] = {
            "maxsize": config.pool_size,
            "ssl_context": self.ssl_context(),
            "cert_reqs": ssl.CERT_REQUIRED if config.verify else ssl.CERT_NONE,
        }
        if not config.verify:
            options["assert_hostname"] = False
        if config.tls_server_name:
            options["server_hostname"] = config.tls_server_name
        if config.retries is not None:
            options["retries"] = Retry(total=config.retries, redirect=0)
        if config.keep_alive:
            # urllib3 replaces its default options (Nagle off) with the ones given: keep that one.
            options["socket_options"] = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1), *_KEEPALIVE]
        if self.proxy:
            return urllib3.ProxyManager(self.proxy, **options)  # type: ignore[arg-type]
        return urllib3.PoolManager(**options)  # type: ignore[arg-type]


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _ssl_context(config: ClusterConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.ca_file or None, cadata=config.ca_data or None)
    if not config.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.cert_file:
        context.load_cert_chain(config.cert_file, config.key_file or None)
    return context


def _effective_proxy(config: ClusterConfig) -> str | None:
    """The proxy requests to ``config.server`` go through, if any (the environment's when not given)."""
    proxy, no_proxy = config.proxy, config.no_proxy
    if proxy is None or no_proxy is None:
        environment = getproxies()
        if proxy is None:
            proxy = environment.get(urlparse(config.server).scheme) or environment.get("all")
        if no_proxy is None:
            no_proxy = environment.get("no")
    if not proxy or bypasses_proxy(config.server, no_proxy or ""):
        return None
    return proxy


def bypasses_proxy(url: str, no_proxy: str) -> bool:
    """Whether ``url``'s host matches a rule of ``no_proxy`` (``NO_PROXY``'s comma-separated host names,
    domain suffixes, ``host:port``, IP networks, or ``*``)."""
    parsed = urlparse(url)
    if not parsed.hostname:
        return True
    host = parsed.hostname.lower()
    try:
        address = ip_address(host)
    except ValueError:
        address = None
    for rule in (r.strip().lower() for r in no_proxy.split(",")):
        if not rule:
            continue
        if rule == "*":
            return True
        if address is not None:
            try:
                if address in ip_network(rule, strict=False):
                    return True
            except ValueError:
                pass
        suffix = rule.lstrip(".")
        if host == suffix or host.endswith("." + suffix) or parsed.netloc.lower() == suffix:
            return True
    return False


def _remove_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
