"""Requests from the event loop: the operator's writes to members and to the host, without a thread each.

:meth:`AsyncTransport.run` makes the requests of an exchange (:mod:`federation_operator.kube.transport`:
a call written once as data, the same that :func:`~federation_operator.kube.transport.run_exchange` runs in
a thread) over aiohttp, on the loop. Each cluster client (``ApiClient``) gets one aiohttp session, set up
from the client's own configuration as the generated client sets up its urllib3 pool: the server's URL,
the CA and client certificate, TLS server name, proxy, default headers and credentials (a refresh hook
runs for each request, as there).

Why not the threads: the operator's CPU at 1,000 FederatedServices x 4 members was half request plumbing,
a request through urllib3 and ``asyncio.to_thread`` costing ~550 µs of CPU (http.client parses headers
with the email package; the thread hop wakes the loop) against ~190 µs through aiohttp (its C parser, no
hop). aiohttp is kopf's own dependency. The watches stay on their threads (one long stream each).

Failures are mapped once, as the threads' are (:func:`~federation_operator.kube.errors.connection_error`):
the cluster cannot be reached → :class:`~federation_operator.kube.errors.ApiConnectionError`.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.rest import should_bypass_proxies
from yarl import URL

from federation_operator.kube.errors import ASYNC_TRANSPORT_ERRORS, connection_error
from federation_operator.kube.transport import (
    CONNECT_TIMEOUT,
    Call,
    Exchange,
    RawResponse,
    Request,
    Timeout,
    encode_request,
    query_string,
)

__all__ = ["AsyncTransport"]

T = TypeVar("T")

# Connections kept to one cluster when its client does not say (its connection_pool_maxsize).
DEFAULT_CONNECTIONS = 16


@dataclass(frozen=True)
class _Session:
    session: aiohttp.ClientSession
    base: str  # the server's URL, without a trailing slash (an API server may sit behind a path)
    server_hostname: str | None
    proxy: str | None
    proxy_headers: dict[str, str] | None


class AsyncTransport:
    """One aiohttp session per cluster client, made on first use; :meth:`forget` a client when it is closed,
    :meth:`close` them all when the operator stops."""

    def __init__(self) -> None:
        self._sessions: dict[ApiClient, _Session] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def run(self, api: ApiClient, exchange: Exchange[T], *, within: float | None = None) -> T:
        """Make the requests of ``exchange`` against ``api``'s cluster, all within ``within`` seconds when
        given (else each within its own timeout); returns its result."""
        call = Call(exchange, within)
        while (request := call.request) is not None:
            call.answer(await self._send(api, request, call.timeout(request)))
        return call.result

    async def _send(self, api: ApiClient, request: Request, limit: Timeout) -> RawResponse:
        """One request, its whole response read, whatever its status, within ``limit``."""
        held = self._session(api)
        headers, data = encode_request(
            api, body=request.body, content_type=request.content_type, accept=request.accept
        )
        url = held.base + request.path
        if request.query:
            url += "?" + query_string(request.query)
        try:
            async with held.session.request(
                request.method,
                URL(url, encoded=True),  # quoted already (api_path, query_string): not parsed again
                data=data,
                headers=headers,
                timeout=_client_timeout(limit),
                server_hostname=held.server_hostname,
                proxy=held.proxy,
                proxy_headers=held.proxy_headers,
                allow_redirects=False,  # the API server answers, it does not redirect
            ) as response:
                body = await response.read()
                return RawResponse(response.status, body, dict(response.headers))
        except ASYNC_TRANSPORT_ERRORS as exc:
            raise connection_error(request.what, exc) from exc

    def forget(self, api: ApiClient) -> None:
        """``api`` is closed: close its session (in the background)."""
        held = self._sessions.pop(api, None)
        if held is not None:
            task = asyncio.get_running_loop().create_task(held.session.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close every session (the operator is stopping)."""
        held, self._sessions = self._sessions, {}
        await asyncio.gather(*(s.session.close() for s in held.values()), *self._closing)

    def _session(self, api: ApiClient) -> _Session:
        known = self._sessions.get(api)
        if known is not None:
            return known
        configuration: Configuration = api.configuration
        base: str = configuration.host.rstrip("/")
        connector = aiohttp.TCPConnector(
            ssl=_ssl_context(configuration) if base.startswith("https:") else False,
            limit=configuration.connection_pool_maxsize or DEFAULT_CONNECTIONS,
        )
        proxy = configuration.proxy
        if proxy and should_bypass_proxies(configuration.host, configuration.no_proxy or ""):
            proxy = None
        held = _Session(
            session=aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # an API server sets none we would send back
                skip_auto_headers=("User-Agent",),  # the client's own, in its default headers
            ),
            base=base,
            server_hostname=configuration.tls_server_name or None,
            proxy=proxy or None,
            proxy_headers=dict(configuration.proxy_headers)
            if proxy and configuration.proxy_headers
            else None,
        )
        self._sessions[api] = held
        return held


def _ssl_context(configuration: Configuration) -> ssl.SSLContext:
    """TLS as the generated client sets it up for urllib3: the configured CA (else the system's), its
    verification switch and hostname check, and the client certificate."""
    context = ssl.create_default_context()
    if configuration.ssl_ca_cert or configuration.ca_cert_data:
        context = ssl.create_default_context(
            cafile=configuration.ssl_ca_cert or None, cadata=configuration.ca_cert_data or None
        )
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif configuration.assert_hostname is False:
        context.check_hostname = False
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    return context


def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    # One number is a total deadline for the whole request; a pair is (connect, read), as for urllib3.
    if isinstance(timeout, tuple):
        return aiohttp.ClientTimeout(sock_connect=timeout[0], sock_read=timeout[1])
    return aiohttp.ClientTimeout(total=timeout, sock_connect=min(CONNECT_TIMEOUT, timeout))
