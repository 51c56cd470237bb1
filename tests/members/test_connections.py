"""The plain requests' keep-alive connections (kube/connections.py), against a real server on loopback whose
every answer the test writes by hand: what goes on the wire, reuse and its limits, chunked bodies, a server
that closes, stalls, trickles or talks nonsense, cancellation, the connection limit and closing. (The same
path against a real kube-apiserver over TLS with a client certificate: every member test; and here, that a
closed one gives its TLS buffers back at once.)"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ssl
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from localfed import LocalFederation

from federation_operator.kube import connections as connections_module
from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.connections import ConnectionLostError, ConnectionPool
from federation_operator.kube.credentials import build_api_client
from federation_operator.kube.errors import ConnectTimeoutError, describe_failure
from federation_operator.kube.transport import Request, request_exchange
from tests.members import MEMBER, kubeconfig_secret, member_spec


@dataclass
class Seen:
    """One request as the server read it."""

    connection: int  # which connection (1, 2, ...)
    number: int  # which request, over all connections (1, 2, ...)
    head: list[str]  # the request line and header lines
    body: bytes


Reply = Callable[["Seen", asyncio.StreamWriter], Awaitable[bool]]
"""Writes the answer to one request; False: close the connection after it."""


@dataclass
class Server:
    reply: Reply
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    closed_by_client: int = 0  # connections the client ended (EOF or reset) while the server waited

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                try:
                    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")[:-2]
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.closed_by_client += 1
                    return
                length = next(
                    (int(line.split(":")[1]) for line in head if line.lower().startswith("content-length:")),
                    0,
                )
                body = await reader.readexactly(length)
                request = Seen(number, len(self.seen) + 1, head, body)
                self.seen.append(request)
                if not await self.reply(request, writer):
                    return
        finally:
            self.open_now -= 1
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def answer(body: bytes = b'{"ok": true}', status: str = "200 OK", headers: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


async def ok(request: Seen, writer: asyncio.StreamWriter) -> bool:
    writer.write(answer(b'{"path": "%s"}' % request.head[0].split()[1].encode()))
    return True


@contextlib.asynccontextmanager
async def serving(reply: Reply) -> AsyncIterator[tuple[Server, str]]:
    server = Server(reply)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        listener.close()
        await listener.wait_closed()


def pool(url: str, limit: int = 4) -> ConnectionPool:
    return ConnectionPool(url, ssl_context=None, limit=limit)


async def eventually(what: str, check: Callable[[], bool], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.01)


async def test_requests_go_out_as_written_and_share_one_kept_connection() -> None:
    async with serving(ok) as (server, url):
        connections = pool(url + "/k8s/clusters/c-1/")
        try:
            first = await connections.send(
                "PATCH", "/api/v1/x?a=1", {"Authorization": "Bearer t0ken"}, b'{"a":1}', (5.0, 5.0)
            )
            second = await connections.send("GET", "/api/v1/y", {}, None, 5.0)
        finally:
            connections.close()
    assert first.status == 200
    assert first.json() == {"path": "/k8s/clusters/c-1/api/v1/x?a=1"}
    assert first.headers["Content-Type"] == "application/json"
    assert second.json() == {"path": "/k8s/clusters/c-1/api/v1/y"}
    assert [s.connection for s in server.seen] == [1, 1], "the second request reuses the first's connection"
    patch, get = server.seen
    assert patch.head[0] == "PATCH /k8s/clusters/c-1/api/v1/x?a=1 HTTP/1.1"
    assert f"Host: {url.removeprefix('http://')}" in patch.head
    assert "Authorization: Bearer t0ken" in patch.head
    assert "Content-Length: 7" in patch.head
    assert patch.body == b'{"a":1}'
    assert not any(line.lower().startswith("content-length") for line in get.head), "no body, no length"


async def test_an_error_status_is_an_answer_like_any_other() -> None:
    async def throttled(request: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer(b'{"kind": "Status"}', "429 Too Many Requests", "Retry-After: 3\r\n"))
        return True

    async with serving(throttled) as (server, url):
        connections = pool(url)
        try:
            response = await connections.send("POST", "/api/v1/z", {}, None, 5.0)
        finally:
            connections.close()
    assert (response.status, response.headers["Retry-After"]) == (429, "3")
    assert "Content-Length: 0" in server.seen[0].head, "a POST without a body says so"


async def test_a_chunked_answer_is_read_whole() -> None:
    async def chunked(request: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b'{"items": [', b"1, 2, 3", b"]}"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        return True

    async with serving(chunked) as (server, url):
        connections = pool(url)
        try:
            for _ in range(2):
                assert (await connections.send("GET", "/list", {}, None, 5.0)).json() == {"items": [1, 2, 3]}
        finally:
            connections.close()
    assert [s.connection for s in server.seen] == [1, 1]


async def test_a_connection_the_server_closes_after_its_answer_is_not_kept() -> None:
    async def once(request: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer(headers="Connection: close\r\n"))
        return False

    async with serving(once) as (server, url):
        connections = pool(url)
        try:
            for _ in range(3):
                assert (await connections.send("GET", "/version", {}, None, 5.0)).status == 200
        finally:
            connections.close()
    assert [s.connection for s in server.seen] == [1, 2, 3]


async def test_a_kept_connection_the_server_closed_while_idle_is_not_used() -> None:
    async def then_close(request: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer())
        await writer.drain()
        return False  # closed after the answer, without saying so (an idle timeout's close)

    async with serving(then_close) as (server, url):
        connections = pool(url)
        try:
            assert (await connections.send("POST", "/a", {}, b"{}", 5.0)).status == 200
            await eventually("the server closed the first connection", lambda: server.open_now == 0)
            await eventually("the pool saw it closed", lambda: all(c.closed for c in connections._idle))
            assert (await connections.send("POST", "/b", {}, b"{}", 5.0)).status == 200
        finally:
            connections.close()
    assert [s.connection for s in server.seen] == [1, 2]


async def drop_the_second(request: Seen, writer: asyncio.StreamWriter) -> bool:
    if request.number == 2:
        return False  # read, never answered: the close of an idle connection racing the request
    writer.write(answer())
    return True


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_an_idempotent_request_a_kept_connection_dropped_unanswered_is_sent_again(method: str) -> None:
    async with serving(drop_the_second) as (server, url):
        connections = pool(url)
        try:
            assert (await connections.send("GET", "/a", {}, None, 5.0)).status == 200
            assert (await connections.send(method, "/b", {}, None, 5.0)).status == 200
        finally:
            connections.close()
    assert [(s.connection, s.head[0].split()[1]) for s in server.seen] == [(1, "/a"), (1, "/b"), (2, "/b")]


async def test_a_create_a_kept_connection_dropped_unanswered_fails_and_is_not_sent_twice() -> None:
    async with serving(drop_the_second) as (server, url):
        connections = pool(url)
        try:
            assert (await connections.send("GET", "/a", {}, None, 5.0)).status == 200
            with pytest.raises(ConnectionLostError) as failed:
                await connections.send("POST", "/b", {}, b"{}", 5.0)
            assert describe_failure(failed.value) == "connection lost"
            assert (await connections.send("GET", "/c", {}, None, 5.0)).status == 200, "a new one serves"
        finally:
            connections.close()
    assert [s.head[0].split()[1] for s in server.seen] == ["/a", "/b", "/c"], "the create went out once"


async def test_an_answer_cut_off_midway_fails_even_an_idempotent_request() -> None:
    async def half(request: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer(b'{"ok": true}')[:-4])
        await writer.drain()
        return False

    async with serving(half) as (server, url):
        connections = pool(url)
        try:
            with pytest.raises(ConnectionLostError):
                await connections.send("GET", "/a", {}, None, 5.0)
        finally:
            connections.close()
    assert len(server.seen) == 1, "part of the answer came: not sent again"


async def test_what_is_not_http_fails_the_request_and_the_connection() -> None:
    async def nonsense(request: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n") if request.connection == 1 else writer.write(answer())
        return True

    async with serving(nonsense) as (server, url):
        connections = pool(url)
        try:
            with pytest.raises(ConnectionLostError, match="not an HTTP response"):
                await connections.send("GET", "/a", {}, None, 5.0)
            assert (await connections.send("GET", "/b", {}, None, 5.0)).status == 200
        finally:
            connections.close()
    assert [s.connection for s in server.seen] == [1, 2]


async def test_an_answer_that_stalls_times_out_and_its_connection_is_dropped() -> None:
    stalled = asyncio.Event()

    async def stall_first(request: Seen, writer: asyncio.StreamWriter) -> bool:
        if request.connection == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{")  # and nothing more
            stalled.set()
            return True
        writer.write(answer())
        return True

    async with serving(stall_first) as (server, url):
        connections = pool(url)
        try:
            with pytest.raises(TimeoutError) as failed:
                await connections.send("GET", "/a", {}, None, (5.0, 0.3))
            assert describe_failure(failed.value) == "timed out"
            assert stalled.is_set()
            await eventually("the stalled connection is closed", lambda: server.closed_by_client == 1)
            assert (await connections.send("GET", "/b", {}, None, 5.0)).status == 200
        finally:
            connections.close()
    assert [s.connection for s in server.seen] == [1, 2]


async def test_a_read_timeout_bounds_each_wait_not_the_whole_answer() -> None:
    async def trickle(request: Seen, writer: asyncio.StreamWriter) -> bool:
        body = b'{"pieces": "abcdef"}'
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        for i in range(0, len(body), 4):  # 5 pieces
            await asyncio.sleep(0.3)
            writer.write(body[i : i + 4])
            await writer.drain()
        return True

    async with serving(trickle) as (_server, url):
        connections = pool(url)
        try:
            # 1.5 s in all, a piece every 0.3 s; a single number bounds the whole.
            assert (await connections.send("GET", "/a", {}, None, (5.0, 1.2))).json() == {"pieces": "abcdef"}
            with pytest.raises(TimeoutError):
                await connections.send("GET", "/a", {}, None, 1.2)
        finally:
            connections.close()


async def test_a_connection_that_never_completes_its_handshake_is_a_connect_timeout() -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepted, never a TLS byte back

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    connections = ConnectionPool(
        f"https://127.0.0.1:{port}", ssl_context=ssl.create_default_context(), limit=2
    )
    try:
        with pytest.raises(ConnectTimeoutError) as failed:
            await connections.send("GET", "/readyz", {}, None, (0.3, 5.0))
        assert describe_failure(failed.value) == "connect timed out"
    finally:
        connections.close()
        for writer in held:
            writer.close()
        listener.close()
        await listener.wait_closed()


async def test_a_cancelled_request_leaves_its_connection_unused() -> None:
    arrived = asyncio.Event()

    async def slow_first(request: Seen, writer: asyncio.StreamWriter) -> bool:
        if request.connection == 1:
            arrived.set()
            await asyncio.sleep(0.5)  # the answer comes after the request was given up
        writer.write(answer(b'{"n": %d}' % len(server.seen)))
        return True

    async with serving(slow_first) as (server, url):
        connections = pool(url)
        try:
            request = asyncio.ensure_future(connections.send("GET", "/a", {}, None, 5.0))
            await arrived.wait()
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
            second = await connections.send("GET", "/b", {}, None, 5.0)
        finally:
            connections.close()
    assert second.json() == {"n": 2}, "the late answer to the first is never taken for the second's"
    assert [s.connection for s in server.seen] == [1, 2]


async def test_no_more_connections_than_the_limit_at_once() -> None:
    async def slow(request: Seen, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        writer.write(answer())
        return True

    async with serving(slow) as (server, url):
        connections = pool(url, limit=2)
        try:
            answers = await asyncio.gather(
                *(connections.send("GET", f"/{i}", {}, None, 5.0) for i in range(8))
            )
        finally:
            connections.close()
    assert [a.status for a in answers] == [200] * 8
    assert (server.most_open, server.connections) == (2, 2), "two connections, each reused"


async def test_waiting_for_a_free_connection_counts_toward_the_requests_time() -> None:
    """Every connection held by a request to a server that hangs: the next request times out within its own
    time, not after theirs."""
    hung = asyncio.Event()

    async def hang(request: Seen, writer: asyncio.StreamWriter) -> bool:
        hung.set()
        await asyncio.sleep(30)
        return False

    async with serving(hang) as (_server, url):
        connections = pool(url, limit=1)
        try:
            first = asyncio.ensure_future(connections.send("GET", "/a", {}, None, 30.0))
            await hung.wait()
            with pytest.raises(TimeoutError):
                await connections.send("GET", "/b", {}, None, 0.3)
            assert not first.done(), "the first still waits on its own time"
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await first
        finally:
            connections.close()


async def test_a_connection_idle_for_long_is_closed_and_the_next_request_opens_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connections_module, "IDLE_SECONDS", 0.2)
    async with serving(ok) as (server, url):
        connections = pool(url)
        try:
            assert (await connections.send("GET", "/a", {}, None, 5.0)).status == 200
            assert (await connections.send("GET", "/b", {}, None, 5.0)).status == 200
            assert server.open_now == 1
            await eventually("the idle connection is closed", lambda: server.open_now == 0)
            assert server.closed_by_client == 1, "by the client"
            assert (await connections.send("GET", "/c", {}, None, 5.0)).status == 200
        finally:
            connections.close()
    assert [s.connection for s in server.seen] == [1, 1, 2]


async def test_closing_the_pool_closes_its_connections() -> None:
    async with serving(ok) as (server, url):
        connections = pool(url)
        assert (await connections.send("GET", "/a", {}, None, 5.0)).status == 200
        assert server.open_now == 1
        connections.close()
        await eventually("the server sees the connection end", lambda: server.open_now == 0)
    assert server.closed_by_client == 1


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="not an http"):
        ConnectionPool("unix:///var/run/k8s.sock", ssl_context=None, limit=1)


@pytest.mark.e2e
async def test_a_closed_tls_connection_to_a_kube_apiserver_is_freed_without_the_garbage_collector(
    federation: LocalFederation,
) -> None:
    """Its TLS protocol holds a 256 KiB read buffer: a connection closed after a busy spell must give it back
    at once, not when a garbage collection (which the GC pacer may have frozen it from) finds it."""
    api = build_api_client(member_spec(federation, MEMBER), kubeconfig_secret(federation, MEMBER))
    transport = AsyncTransport()
    collecting = gc.isenabled()
    gc.disable()
    try:
        response = await transport.run(api, request_exchange(Request("GET", "/version", "get version")))
        assert response.status == 200
        assert response.json()["gitVersion"].startswith("v1.")
        pool = transport._session(api).pool
        assert pool is not None, "no proxy: the request went over the pool's own connection"
        (connection,) = pool._idle
        assert connection._transport is not None
        # asyncio's TLS protocol, which holds the buffer (get_protocol() would name ours, the app protocol).
        tls = weakref.ref(connection._transport._ssl_protocol)  # type: ignore[attr-defined]
        ours = weakref.ref(connection)
        del connection
        transport.forget(api)  # closes the pool: the connection is aborted
        await eventually("the TLS protocol is freed", lambda: tls() is None)
        await eventually("our protocol and its parser are freed", lambda: ours() is None)
    finally:
        if collecting:
            gc.enable()
        await transport.close()
        api.close()
