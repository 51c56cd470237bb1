"""Requests from the event loop: the operator's writes to members and to the host, without a thread each.

:meth:`AsyncTransport.run` makes the requests of an exchange (:mod:`federation_operator.kube.transport`:
a call written once as data, the same that :func:`~federation_operator.kube.transport.run_exchange` runs in
a thread) on the loop. Each cluster client (:class:`~federation_operator.kube.client.ClusterClient`) gets
its connections set up from its configuration, as its urllib3 pool is: the server's URL, its TLS context (the
CA and client certificate), TLS server name, proxy, and its headers (the credentials: a token file is read
again as it rotates). A request read whole goes over the client's
:class:`~federation_operator.kube.connections.ConnectionPool` (keep-alive HTTP/1.1 connections of our own,
answers parsed by httptools); through a proxy, over the client's aiohttp session.

Why not the threads: the operator's CPU at 1,000 FederatedServices x 4 members was half request plumbing,
a request through urllib3 and ``asyncio.to_thread`` costing ~550 µs of CPU (http.client parses headers
with the email package; the thread hop wakes the loop) against ~190 µs through aiohttp (its C parser, no
hop), and ~250 µs against ~430 (a lone PATCH, measured on another day) through the pool instead of aiohttp
(``benchmarks/request_cpu.py``; see ``kube/connections.py``).

:meth:`AsyncTransport.stream` opens a response to be read piece by piece (a watch's events, as they come:
``kube/async_informer.py``) through the aiohttp session. Why the members' watches moved here from their
threads: an event arriving alone (a converging federation's ~250 a second spread over the watches) woke a
thread from its blocking read, which took the GIL and then woke the loop through its self-pipe to queue the
owner: ~100 µs of CPU per event, against ~60 µs read here (``benchmarks/watch_cpu.py``).

Failures are mapped once, as the threads' are (:func:`~federation_operator.kube.errors.connection_error`):
the cluster cannot be reached → :class:`~federation_operator.kube.errors.ApiConnectionError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from federation_operator.kube.client import ClusterClient
from federation_operator.kube.connections import ConnectionPool
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

__all__ = ["AsyncTransport", "Stream"]

T = TypeVar("T")

# Connections kept to one cluster when its client does not say (its connection_pool_maxsize).
DEFAULT_CONNECTIONS = 16


@dataclass(frozen=True)
class _Session:
    session: aiohttp.ClientSession
    base: str  # the server's URL, without a trailing slash (an API server may sit behind a path)
    server_hostname: str | None
    proxy: str | None
    pool: ConnectionPool | None  # the plain requests' connections; None through a proxy (aiohttp's then)

    def close(self) -> Coroutine[Any, Any, None]:
        """Close the pool's connections now; returns the aiohttp session's close, to be awaited."""
        if self.pool is not None:
            self.pool.close()
        return self.session.close()


class Stream:
    """A response being read piece by piece (:meth:`AsyncTransport.stream`): its status and headers, its
    body as it arrives; a failure to read it is an
    :class:`~federation_operator.kube.errors.ApiConnectionError`, as the request's would be."""

    __slots__ = ("_content", "_response", "_what", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, what: str) -> None:
        self._response = response
        self._content = response.content
        self._what = what
        self.status: int = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read_some(self) -> bytes:
        """The next piece of the body, as much as has arrived (at least a byte); b"" at its end."""
        try:
            return await self._content.readany()
        except ASYNC_TRANSPORT_ERRORS as exc:
            raise connection_error(self._what, exc) from exc

    async def read_all(self) -> RawResponse:
        """The rest of the response (an error status's body), read whole."""
        try:
            body = await self._response.read()
        except ASYNC_TRANSPORT_ERRORS as exc:
            raise connection_error(self._what, exc) from exc
        return RawResponse(self.status, body, dict(self.headers))


class AsyncTransport:
    """One aiohttp session per cluster client, made on first use; :meth:`forget` a client when it is closed,
    :meth:`close` them all when the operator stops."""

    def __init__(self) -> None:
        self._sessions: dict[ClusterClient, _Session] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def run(self, api: ClusterClient, exchange: Exchange[T], *, within: float | None = None) -> T:
        """Make the requests of ``exchange`` against ``api``'s cluster, all within ``within`` seconds when
        given (else each within its own timeout); returns its result."""
        call = Call(exchange, within)
        while (request := call.request) is not None:
            call.answer(await self._send(api, request, call.timeout(request)))
        return call.result

    async def _send(self, api: ClusterClient, request: Request, limit: Timeout) -> RawResponse:
        """One request, its whole response read, whatever its status, within ``limit``."""
        held = self._session(api)
        encoded = _encoded(api, request)
        if held.pool is not None:
            try:
                answer = await held.pool.send(request.method, *encoded, limit)
            except OSError as exc:  # timeouts, lost connections and TLS failures are all OSErrors
                raise connection_error(request.what, exc) from exc
        else:
            try:
                async with self._request(held, request.method, encoded, limit) as response:
                    body = await response.read()
                    answer = RawResponse(response.status, body, dict(response.headers))
            except ASYNC_TRANSPORT_ERRORS as exc:
                raise connection_error(request.what, exc) from exc
        if answer.status == 401:
            api.credentials_refused(encoded[1].get("Authorization"))
        return answer

    @contextlib.asynccontextmanager
    async def stream(self, api: ClusterClient, request: Request) -> AsyncIterator[Stream]:
        """``request`` sent to ``api``'s cluster (within its own timeout: a pair bounds the connect and each
        read), its response handed over unread, whatever its status, to be read piece by piece (a watch).
        Leaving the block before the response's end closes the connection."""
        encoded = _encoded(api, request)
        try:
            response: aiohttp.ClientResponse = await self._request(
                self._session(api), request.method, encoded, request.timeout
            )
        except ASYNC_TRANSPORT_ERRORS as exc:
            raise connection_error(request.what, exc) from exc
        if response.status == 401:
            api.credentials_refused(encoded[1].get("Authorization"))
        try:
            yield Stream(response, request.what)
        except BaseException:
            # Not read to its end (cut off, or refused mid-way): the connection cannot serve another request.
            # Aborted, not closed: a TLS close waits for the server's own close_notify, up to 30 s of a hung
            # member holding the socket.
            connection = response.connection
            if connection is not None and connection.transport is not None:
                connection.transport.abort()
            response.close()
            raise
        finally:
            response.release()

    @staticmethod
    def _request(held: _Session, method: str, encoded: Encoded, limit: Timeout) -> Any:
        """aiohttp's request of ``encoded`` through ``held`` (awaited: its response; entered: its response,
        released when left)."""
        target, headers, data = encoded
        # Quoted already (api_path, query_string): not parsed again.
        url = URL(held.base + target, encoded=True)
        return held.session.request(
            method,
            url,
            data=data,
            headers=headers,
            timeout=_client_timeout(limit),
            server_hostname=held.server_hostname,
            proxy=held.proxy,
            allow_redirects=False,  # the API server answers, it does not redirect
        )

    def forget(self, api: ClusterClient) -> None:
        """``api`` is closed: close its session (in the background)."""
        held = self._sessions.pop(api, None)
        if held is not None:
            task = asyncio.get_running_loop().create_task(held.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close every session (the operator is stopping)."""
        held, self._sessions = self._sessions, {}
        await asyncio.gather(*(s.close() for s in held.values()), *self._closing)

    def _session(self, api: ClusterClient) -> _Session:
        known = self._sessions.get(api)
        if known is not None:
            return known
        config = api.config
        base = config.server.rstrip("/")
        context = api.ssl_context() if base.startswith("https:") else None
        limit = config.pool_size or DEFAULT_CONNECTIONS
        connector = aiohttp.TCPConnector(ssl=context or False, limit=limit)
        proxy = api.proxy
        server_hostname = config.tls_server_name or None
        held = _Session(
            session=aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # an API server sets none we would send back
                skip_auto_headers=("User-Agent",),  # the client's own, in its headers
            ),
            base=base,
            server_hostname=server_hostname,
            proxy=proxy,
            pool=None
            if proxy
            else ConnectionPool(base, ssl_context=context, server_hostname=server_hostname, limit=limit),
        )
        self._sessions[api] = held
        return held


Encoded = tuple[str, dict[str, str], bytes | None]


def _encoded(api: ClusterClient, request: Request) -> Encoded:
    """``request`` as it goes on the wire, whichever path sends it: its path with the query, its headers
    (``api``'s own and its credentials) and its encoded body."""
    headers, data = encode_request(
        api, body=request.body, content_type=request.content_type, accept=request.accept
    )
    target = request.path + ("?" + query_string(request.query) if request.query else "")
    return target, headers, data


def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    # One number is a total deadline for the whole request; a pair is (connect, read), as for urllib3.
    if isinstance(timeout, tuple):
        return aiohttp.ClientTimeout(sock_connect=timeout[0], sock_read=timeout[1])
    return aiohttp.ClientTimeout(total=timeout, sock_connect=min(CONNECT_TIMEOUT, timeout))
