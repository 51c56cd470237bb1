"""Keep-alive HTTP/1.1 connections to one API server: the path of the operator's plain requests.

A request whose whole response is read at once (a member write, a status or finalizer write, an event, a
read) goes through a :class:`ConnectionPool` of its cluster client: the request's head written in one piece,
the response parsed by httptools (llhttp, the parser Node.js uses) as it arrives, on the event loop. Watches,
which read a response piece by piece, and clusters reached through an HTTP proxy stay on aiohttp
(``kube/async_transport.py``).

Why not aiohttp for these too: its per-request machinery (a ``ClientRequest`` and a ``ClientResponse``
object, header multidicts, URL objects, a timer context, a stream reader, the connector's bookkeeping)
costs more than the exchange itself. Against a real kube-apiserver over TLS (``benchmarks/request_cpu.py``)
a lone PATCH cost ~440 µs of CPU through aiohttp and ~190 µs here, a GET ~370 against ~175. The operator
makes ~9 such requests for each new FederatedService over 4 members, most of them alone, and their CPU was
the largest share of its own.

What it does not do, because the API server needs none of it: proxies (aiohttp's path), redirects (the API
server answers, it does not redirect), compression (no ``Accept-Encoding`` is sent, so none comes back),
``Expect: 100-continue``, HTTP/2 (no ALPN is offered), responses delimited by the connection's end (the API
server sends a length or chunks).

Timeouts (:data:`~federation_operator.kube.transport.Timeout`): one number bounds the whole request, the
connection included; a pair ``(connect, read)`` bounds the connection and each wait for the next piece of
the response, as urllib3's does. A connection whose request timed out, was cancelled or failed is aborted,
never reused; a kept one that the server closed while it was idle is dropped when found closed, and an
idempotent request it failed on is sent once more on a new connection.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

import httptools

from federation_operator.kube.errors import ConnectTimeoutError
from federation_operator.kube.transport import CONNECT_TIMEOUT, RawResponse, Timeout

__all__ = ["ConnectionLostError", "ConnectionPool"]

# A kept connection unused this long is closed (aiohttp's keep-alive timeout too): a busy spell's connections
# do not outlive it, nor their TLS buffers (see gc_pacing: memory handed back after quiet spells).
IDLE_SECONDS = 15.0
# Methods whose request may be sent again when a kept connection turned out closed (RFC 9110, 9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class ConnectionLostError(ConnectionResetError):
    """The server closed the connection, or sent what is not an HTTP response, before the response ended."""

    def __init__(self, message: str, *, before_response: bool) -> None:
        super().__init__(message)
        self.before_response = before_response  # no byte of the response had come


class _Connection(asyncio.Protocol):
    """One connection: one request at a time, its response parsed as it comes (httptools calls the
    ``on_*`` methods from ``feed_data``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[RawResponse] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._status = 0
        self._started = False  # some of the current response has come
        self._read_timeout = 0.0
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.reusable = True
        self.idle_since = 0.0  # the loop's time when it was last put back among the kept ones

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or self._waiter is None or self._waiter.done():
            self._fail(ConnectionLostError("data came while no request was waiting", before_response=False))
            return
        self._started = True
        self._last_read = self._loop.time()
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionLostError(f"not an HTTP response ({exc})", before_response=False))

    def eof_received(self) -> bool | None:
        self._lost("the server closed the connection")
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost("the connection was lost" if exc is None else f"the connection was lost ({exc})")
        # This protocol, its transport and the TLS protocol's 256 KiB read buffer go with their last
        # reference, now: the parser holds this protocol (its callbacks), a cycle that only the garbage
        # collector would otherwise break, and the GC pacer freezes what survived a busy spell.
        self._transport = None
        self._parser = None

    # httptools

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1")] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        assert self._parser is not None  # called by it
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        assert self._parser is not None  # called by it
        if not self._parser.should_keep_alive():
            self.reusable = False
        response = RawResponse(self._status, b"".join(self._body), self._headers)
        self._reset()
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    # the request

    async def exchange(
        self, head: bytes, body: bytes | None, read_timeout: float, deadline: float
    ) -> RawResponse:
        """Send one request (``head`` and ``body``) and wait for its whole response: at most ``read_timeout``
        for each piece of it and in all until the loop's time ``deadline``."""
        assert self._transport is not None
        waiter: asyncio.Future[RawResponse] = self._loop.create_future()
        self._waiter = waiter
        self._read_timeout = read_timeout
        self._last_read = self._loop.time()
        self._timer = self._loop.call_at(min(deadline, self._last_read + read_timeout), self._check, deadline)
        self._transport.write(head + body if body else head)
        try:
            return await waiter
        except BaseException:
            self.abort()  # mid-response, cancelled or timed out: nothing else may be read from it
            raise
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _check(self, deadline: float) -> None:
        self._timer = None
        now = self._loop.time()
        due = min(deadline, self._last_read + self._read_timeout)
        if now < due:  # a piece came since: wait on
            self._timer = self._loop.call_at(due, self._check, deadline)
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(TimeoutError("timed out waiting for the response"))

    def abort(self) -> None:
        """Close at once, unread (a TLS close would wait for the server's own, up to 30 s of a hung one)."""
        self.reusable = False
        if not self.closed and self._transport is not None:
            self._transport.abort()
        self.closed = True

    def _lost(self, why: str) -> None:
        self.closed = True
        self.reusable = False
        self._fail(ConnectionLostError(why, before_response=not self._started))

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        self.reusable = False
        self._reset()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if not self.closed:
            self.abort()

    def _reset(self) -> None:
        self._waiter = None
        self._headers = {}
        self._body = []
        self._status = 0
        self._started = False


class ConnectionPool:
    """Keep-alive connections to the API server at ``url`` (``https://host:port[/prefix]``), at most
    ``limit`` at once; :meth:`send` one request over one of them."""

    def __init__(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None = None,
        limit: int,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        secure = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if secure else 80)
        self._prefix = parts.path.rstrip("/")
        netloc = parts.netloc.rpartition("@")[2]  # never userinfo in a Host header
        self._host_line = f"Host: {netloc}\r\n"
        self._ssl = ssl_context if secure else None
        self._server_hostname = (server_hostname or self._host) if secure else None
        self._limit = limit
        self._slots: asyncio.Semaphore | None = None  # made on the loop, at the first request
        self._idle: list[_Connection] = []  # the least recently used first
        self._open: set[_Connection] = set()
        self._sweep: asyncio.TimerHandle | None = None  # closes what stayed idle too long, while any is kept

    async def send(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None, limit: Timeout
    ) -> RawResponse:
        """``method`` of ``target`` (a path with its query, under the URL's prefix), its whole response read
        within ``limit``, whatever its status. Raises ``OSError`` (``TimeoutError``,
        :class:`ConnectionLostError`, ``ssl.SSLError``...) when the connection failed."""
        lines = [f"{method} {self._prefix}{target} HTTP/1.1\r\n", self._host_line]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body) if body else 0}\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        loop = asyncio.get_running_loop()
        if isinstance(limit, tuple):
            connect_timeout, read_timeout = limit
            deadline = float("inf")
        else:
            connect_timeout, read_timeout = min(CONNECT_TIMEOUT, limit), limit
            deadline = loop.time() + limit
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._limit)
        # Waiting for a free connection counts toward the whole request's time (every one may be held by a
        # request to a server that hangs).
        async with asyncio.timeout_at(None if deadline == float("inf") else deadline):
            await self._slots.acquire()
        try:
            connection = self._kept()
            if connection is not None:
                try:
                    return await self._exchange(connection, head, body, read_timeout, deadline)
                except ConnectionLostError as exc:
                    # Closed by the server while it was idle, just before the request reached it.
                    if not (exc.before_response and method in IDEMPOTENT):
                        raise
            connection = await self._connect(loop, min(connect_timeout, deadline - loop.time()))
            return await self._exchange(connection, head, body, read_timeout, deadline)
        finally:
            self._slots.release()

    async def _exchange(
        self, connection: _Connection, head: bytes, body: bytes | None, read_timeout: float, deadline: float
    ) -> RawResponse:
        try:
            response = await connection.exchange(head, body, read_timeout, deadline)
        finally:
            if connection.reusable and not connection.closed:
                self._keep(connection)
            else:
                connection.abort()
                self._open.discard(connection)
        return response

    def _keep(self, connection: _Connection) -> None:
        loop = asyncio.get_running_loop()
        connection.idle_since = loop.time()
        self._idle.append(connection)
        if self._sweep is None:
            self._sweep = loop.call_later(IDLE_SECONDS, self._close_idle, loop)

    def _close_idle(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the connections idle for IDLE_SECONDS (the oldest are first in line); again later while
        some are kept."""
        self._sweep = None
        cutoff = loop.time() - IDLE_SECONDS
        expired = 0
        for connection in self._idle:
            if connection.idle_since > cutoff:
                break
            expired += 1
            connection.abort()
            self._open.discard(connection)
        del self._idle[:expired]
        if self._idle:
            self._sweep = loop.call_at(self._idle[0].idle_since + IDLE_SECONDS, self._close_idle, loop)

    def _kept(self) -> _Connection | None:
        """The most recently used idle connection still open (the others may be closed by the server first,
        as idle ones are)."""
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
            self._open.discard(connection)
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop, within: float) -> _Connection:
        if within <= 0:
            raise ConnectTimeoutError("no time left to connect")
        try:
            async with asyncio.timeout(within):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop),
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._server_hostname,
                )
        except TimeoutError as exc:
            raise ConnectTimeoutError(f"connect timed out after {within:g}s") from exc
        self._open.add(connection)
        return connection

    def close(self) -> None:
        """Close every connection (idle or not: a request still on one fails)."""
        for connection in self._open:
            connection.abort()
        self._open.clear()
        self._idle.clear()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
