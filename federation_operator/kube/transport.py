"""The one raw request path to a cluster's API: send a request, read the whole response, whatever its status.

Every raw request made in a thread (fedctl's, the probes', the host calls made with ``asyncio.to_thread``)
goes through :func:`send_request`, which maps transport failures (refused, timed out, TLS) to
:class:`~federation_operator.kube.errors.ApiConnectionError` once, here; the operator's requests from the
event loop (its writes, the watches) go through
:class:`~federation_operator.kube.async_transport.AsyncTransport`, mapped the same way. HTTP error statuses
are returned, not raised: each caller knows which ones it expects (404 on a fetch, 409 on a create, 410 on a
watch) and asks :func:`response_error` for the error of the others.

A call of several requests (make the namespace, then the Service) is written once, as an *exchange*: a
generator that yields each :class:`Request` and is sent its :class:`RawResponse`, returning the call's
result. It makes no I/O itself, so the same exchange runs in a thread (:func:`run_exchange`, here) or on
the event loop (``AsyncTransport.run``), each request given what is left of the call's one budget of time
(:class:`Call`).

A request goes straight to the client's own urllib3 pool (its TLS, proxy, keep-alive and retry settings:
:class:`~federation_operator.kube.client.ClusterClient`) with the client's headers and credentials. (The
kubernetes client library's request layers, used here until they were replaced, walked every body to
sanitize and re-encode it: a third of the CPU of a request, for a status or a Service manifest that is
plain JSON already.) Bodies are encoded and responses decoded with orjson (several times
faster than the standard json module on watch events and lists, the bulk of what the operator reads).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar
from urllib.parse import quote, urlencode

import orjson
import urllib3

from federation_operator.domain.errors import PermanentError, TransientError
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.errors import (
    TRANSPORT_ERRORS,
    ApiConnectionError,
    connection_error,
    status_error,
)

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "JSON",
    "METADATA_ONLY_LIST",
    "Call",
    "DeleteOutcome",
    "Exchange",
    "JsonLines",
    "Query",
    "RawResponse",
    "Request",
    "Send",
    "Timeout",
    "api_path",
    "api_status",
    "delete_exchange",
    "encode_request",
    "query_string",
    "request_exchange",
    "response_error",
    "run_exchange",
    "send_delete",
    "send_request",
    "status_message",
]

T = TypeVar("T")

# One number is a total deadline for the whole request; a pair is (connect, read).
Timeout = float | tuple[float, float]
# Connect fast (a cluster that does not accept a TCP connection in 5 s is down for our purposes); reads may
# wait longer for admission webhooks and a busy etcd behind the API.
CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_TIMEOUT: Timeout = (CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)

JSON = "application/json"
# Accept: a list of only the objects' metadata (the server falls back to the full objects if it cannot).
METADATA_ONLY_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
Query = Sequence[tuple[str, str | int | bool]]


DeleteOutcome = Literal["deleted", "absent", "uid-mismatch"]
"""What :func:`send_delete` did: deleted it, found nothing, or found a different object at that name."""


@dataclass(frozen=True, slots=True)
class Request:
    """One request of an exchange: what :func:`send_request` takes. ``what`` ("create Service ns/name")
    prefixes the message of the error raised when the cluster cannot be reached."""

    method: str
    path: str
    what: str
    query: Query = ()
    body: Any = None
    content_type: str | None = None
    accept: str = JSON
    timeout: Timeout = DEFAULT_TIMEOUT  # when its call has no budget (Call)


@dataclass(frozen=True)
class RawResponse:
    """An API response, read in full: the status, headers and undecoded body."""

    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return orjson.loads(self.body)


Exchange: TypeAlias = Generator[Request, RawResponse, T]
"""A call to the API as data: yields its requests, is sent each one's response, returns the call's result."""


class Send(Protocol):
    """Makes the requests of an exchange to a cluster, all in ``within`` seconds (``AsyncTransport.run``)."""

    async def __call__(self, api: ClusterClient, exchange: Exchange[T], *, within: float | None = None) -> T:
        """The exchange's result."""
        ...


class Call(Generic[T]):
    """One exchange being made: its next :attr:`request` (None once it has ended, its :attr:`result` then
    set), each request given what is left of one budget of ``seconds`` for them all (an apply that also
    repairs ports, a create that first makes the namespace), so that the call as a whole ends in time; without
    a budget (None) each request has its own timeout."""

    def __init__(self, exchange: Exchange[T], seconds: float | None) -> None:
        self._exchange = exchange
        self._end = None if seconds is None else time.monotonic() + seconds
        self.request: Request | None = None
        self._advance(next, exchange)

    def timeout(self, request: Request) -> Timeout:
        """The timeout of ``request``: what is left (:class:`ApiConnectionError`, "timed out", when nothing
        is), or its own."""
        if self._end is None:
            return request.timeout
        left = self._end - time.monotonic()
        if left <= 0:
            raise ApiConnectionError(request.what, "timed out")
        return left

    def answer(self, response: RawResponse) -> None:
        """The response to :attr:`request`: the exchange goes on to its next request, or ends."""
        self._advance(self._exchange.send, response)

    def _advance(self, step: Callable[[Any], Request], value: Any) -> None:
        try:
            self.request = step(value)
        except StopIteration as done:
            self.request = None
            self.result: T = done.value


def run_exchange(api: ClusterClient, exchange: Exchange[T], *, timeout: float | None = None) -> T:
    """Make the requests of ``exchange`` (in this thread), all within ``timeout`` seconds when given;
    returns its result."""
    call = Call(exchange, timeout)
    while (request := call.request) is not None:
        call.answer(
            send_request(
                api,
                request.method,
                request.path,
                what=request.what,
                query=request.query,
                body=request.body,
                content_type=request.content_type,
                accept=request.accept,
                timeout=call.timeout(request),
            )
        )
    return call.result


def api_path(
    api_version: str, plural: str, name: str | None = None, namespace: str | None = None, sub: str = ""
) -> str:
    """The REST path of a collection or object: ``/api/v1/namespaces/ns/secrets/name``."""
    path = ("/apis/" if "/" in api_version else "/api/") + api_version
    if namespace is not None:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{plural}"
    if name is not None:
        path += f"/{quote(name, safe='')}"
    return path + (f"/{sub}" if sub else "")


def send_request(
    api: ClusterClient,
    method: str,
    path: str,
    *,
    what: str,
    query: Query = (),
    body: Any = None,
    content_type: str | None = None,
    accept: str = JSON,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> RawResponse:
    """Send one request to a cluster's API and read the whole response, whatever its status.

    ``what`` ("apply Service ns/name") prefixes the message of the
    :class:`~federation_operator.kube.errors.ApiConnectionError` raised when the cluster cannot be reached
    or the connection fails.
    """
    headers, data = encode_request(api, body=body, content_type=content_type, accept=accept)
    if query:
        path += "?" + query_string(query)
    options: dict[str, Any] = {
        "body": data,
        "headers": headers,
        "timeout": _urllib3_timeout(timeout),
        "preload_content": False,
    }
    try:
        manager = api.pool_manager()
        if isinstance(manager, urllib3.ProxyManager):
            # Through a proxy: its manager adds the proxy's headers and picks the form of the URL.
            response: urllib3.BaseHTTPResponse = manager.urlopen(method, api.server + path, **options)
        else:
            pool, prefix = api.server_pool()
            # The API server answers, it does not redirect; a pool of one host never changes hosts.
            response = pool.urlopen(method, prefix + path, redirect=False, assert_same_host=False, **options)
    except TRANSPORT_ERRORS as exc:
        raise connection_error(what, exc) from exc
    try:
        content = response.read()
    except TRANSPORT_ERRORS as exc:
        raise connection_error(what, exc) from exc
    finally:
        response.release_conn()
    if response.status == 401:
        api.credentials_refused(headers.get("Authorization"))
    return RawResponse(response.status, content, dict(response.headers))


def encode_request(
    api: ClusterClient, *, body: Any, content_type: str | None, accept: str
) -> tuple[dict[str, str], bytes | None]:
    """The headers and encoded body of a request through ``api``, whichever path sends it: the client's
    headers (its credentials among them) and the body as JSON."""
    headers = {**api.headers(), "Accept": accept}
    data: bytes | None = None
    if body is not None:
        data = orjson.dumps(body)
        headers["Content-Type"] = content_type or JSON
    return headers, data


def query_string(query: Query) -> str:
    """``query`` encoded for a URL, its values spelled as the API server spells them."""
    return urlencode([(key, _query_value(value)) for key, value in query])


def _query_value(value: str | int | bool) -> str:
    # As the API server spells them (and the generated client sends them): true/false, not True/False.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _urllib3_timeout(timeout: Timeout) -> urllib3.Timeout:
    if timeout == DEFAULT_TIMEOUT:
        return _DEFAULT_URLLIB3_TIMEOUT  # most requests: built once (urllib3 copies it per connection)
    if isinstance(timeout, tuple):
        return urllib3.Timeout(connect=timeout[0], read=timeout[1])
    return urllib3.Timeout(total=timeout)


_DEFAULT_URLLIB3_TIMEOUT = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=DEFAULT_READ_TIMEOUT)


class JsonLines:
    """The JSON values of a stream read in pieces, one a line (a watch's events, as the socket hands them
    out): :meth:`feed` each piece, iterating over the values of the lines it completes; :meth:`end` the
    stream. A line that is not JSON is a ``ValueError``; a line of only whitespace is skipped."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""  # the start of a line whose end has not arrived yet

    def feed(self, chunk: bytes) -> Iterator[Any]:
        """The values of the lines ``chunk`` completes, in order, each parsed as it is taken: a burst's piece
        holds thousands of events, and parsing them all first would keep them all alive at once (each young
        collection of the garbage collector walking them all)."""
        # A watch's piece is mostly one whole event: its lines are parsed where they are, not copied out.
        data = self._rest + chunk if self._rest else chunk
        self._rest = b""
        view = memoryview(data)
        start = 0
        while (end := data.find(b"\n", start)) != -1:
            if end > start:
                try:
                    value = orjson.loads(view[start:end])
                except orjson.JSONDecodeError:
                    if data[start:end].strip():
                        raise
                else:
                    yield value
            start = end + 1
        self._rest = data[start:]

    def end(self) -> list[Any]:
        """The value of a last line without its newline, if any."""
        rest, self._rest = self._rest, b""
        return [orjson.loads(rest)] if rest.strip() else []


def request_exchange(request: Request) -> Exchange[RawResponse]:
    """An exchange of ``request`` alone, answered with its response whatever its status."""
    return (yield request)


def send_delete(
    api: ClusterClient, path: str, *, what: str, uid: str | None = None, timeout: Timeout = DEFAULT_TIMEOUT
) -> tuple[DeleteOutcome | None, RawResponse]:
    """Delete the object at ``path`` (the rules of :func:`delete_exchange`), in this thread."""
    return run_exchange(api, delete_exchange(path, what=what, uid=uid, timeout=timeout))


def delete_exchange(
    path: str, *, what: str, uid: str | None = None, timeout: Timeout = DEFAULT_TIMEOUT
) -> Exchange[tuple[DeleteOutcome | None, RawResponse]]:
    """Delete the object at ``path`` (dependents in the background), only if its UID is ``uid`` (when given).

    The UID precondition is checked by the API server atomically with the delete, so an object someone
    re-created at that name after we last saw ours is never deleted: that is ``"uid-mismatch"``.
    ``"absent"`` when there is nothing at that name; None with any other error status, for the caller to
    classify.
    """
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
    if uid:
        body["preconditions"] = {"uid": uid}
    response = yield Request("DELETE", path, what, body=body, timeout=timeout)
    if response.status == 404:
        return "absent", response
    if response.status == 409 and uid:
        return "uid-mismatch", response
    return ("deleted" if 200 <= response.status <= 299 else None), response


def api_status(response: RawResponse) -> dict[str, Any]:
    """The ``metav1.Status`` object of an error response; empty when the body is not one."""
    try:
        status = response.json()
    except ValueError:
        return {}
    return status if isinstance(status, dict) else {}


def status_message(response: RawResponse) -> str:
    """The API server's own words for an error response (its ``Status.message``), or the HTTP status."""
    message = api_status(response).get("message")
    if isinstance(message, str) and message:
        return message if len(message) <= 300 else message[:297] + "..."
    return f"HTTP {response.status}"


def response_error(response: RawResponse, what: str) -> TransientError | PermanentError:
    """The error for an error ``response`` to ``what``, by the one classification (:mod:`.errors`)."""
    return status_error(response.status, f"{what}: {status_message(response)}", response.headers)
