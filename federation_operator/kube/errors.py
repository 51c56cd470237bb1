"""The one classification of Kubernetes API failures into the operator's errors.

Every module of ``kube`` maps what went wrong here, once, whichever path it used (urllib3's, aiohttp's and
the socket's exceptions, or a raw response's status):

* the API could not be reached or talked to (refused, timed out, TLS failure, connection lost) →
  :class:`ApiConnectionError`, a :class:`TransientError` with a short, credential-free ``reason``;
* 429 Too Many Requests and every 5xx → :class:`TransientError`, after ``Retry-After`` seconds when the
  server says so;
* any other error status → :class:`PermanentError`.

Callers that expect a status (404 on a read, 409 on a create) handle it before asking for the error.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Mapping

import aiohttp
import urllib3

from federation_operator.domain.errors import PermanentError, TransientError

__all__ = [
    "ASYNC_TRANSPORT_ERRORS",
    "TIMEOUT_REASONS",
    "TRANSPORT_ERRORS",
    "ApiConnectionError",
    "ConnectTimeoutError",
    "connection_error",
    "describe_failure",
    "is_transient_status",
    "retry_after",
    "status_error",
]

# What the client and the socket under it raise when the connection, not the API, failed.
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)
# The same from aiohttp (kube/async_transport.py); its timeouts are TimeoutError.
ASYNC_TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)
# The reasons (describe_failure) of a cluster that did not answer in time.
TIMEOUT_REASONS = frozenset({"timed out", "connect timed out"})


class ApiConnectionError(TransientError):
    """A cluster's API could not be reached or talked to (refused, timed out, TLS failure, connection lost).

    ``reason`` is short and credential-free ("connection refused", "timed out"): fit for a condition message.
    ``timed_out``: the cluster did not answer in time (a hung API server, a black-holed route), as opposed to
    a failure that came back at once (refused, reset): only the former holds its caller up.
    """

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.reason = reason
        self.timed_out = reason in TIMEOUT_REASONS


class ConnectTimeoutError(TimeoutError):
    """A connection (TCP and TLS) to a cluster's API was not made in time (``kube/connections.py``)."""


def is_transient_status(status: int) -> bool:
    """Whether an HTTP error status may go away by itself: 429 (throttled) and every 5xx."""
    return status == 429 or status >= 500


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds; None when absent or not a number."""
    value = {key.lower(): v for key, v in (headers or {}).items()}.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def status_error(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> TransientError | PermanentError:
    """The error for an HTTP error ``status``; ``message`` is the whole message (what failed, and why)."""
    if is_transient_status(status):
        return TransientError(message, delay=retry_after(headers))
    return PermanentError(message)


def connection_error(what: str, exc: BaseException) -> ApiConnectionError:
    """The error for a request ``what`` whose connection failed with ``exc`` (chain it: ``from exc``)."""
    return ApiConnectionError(what, describe_failure(exc))


def describe_failure(exc: BaseException) -> str:
    """A short, credential-free reason for a transport failure: "connection refused", "timed out", ...."""
    chain = _exception_chain(exc)
    for err in chain:
        # (aiohttp's error is one too, without the message: the ssl module's, which it wraps, has it.)
        if isinstance(err, ssl.SSLCertVerificationError) and not isinstance(err, aiohttp.ClientError):
            return f"TLS certificate verification failed ({err.verify_message})"
    for err in chain:
        reason = _reason_connecting(err) or _reason_talking(err)
        if reason is not None:
            return reason
    return f"connection failed ({type(exc).__name__})"


def _reason_connecting(err: BaseException) -> str | None:
    match err:
        case ConnectionRefusedError():
            return "connection refused"
        case socket.gaierror():
            return "cannot resolve host name"
        case urllib3.exceptions.ConnectTimeoutError() if not isinstance(
            err, urllib3.exceptions.NewConnectionError
        ):
            return "connect timed out"
        case aiohttp.ConnectionTimeoutError() | ConnectTimeoutError():
            return "connect timed out"
        case urllib3.exceptions.ReadTimeoutError() | TimeoutError():
            return "timed out"
    return None


def _reason_talking(err: BaseException) -> str | None:
    match err:
        case ssl.SSLError():
            return f"TLS error ({err.reason or type(err).__name__})"
        case urllib3.exceptions.SSLError() | aiohttp.ClientSSLError():
            return "TLS error"
        case (
            ConnectionResetError()
            | BrokenPipeError()
            | urllib3.exceptions.ProtocolError()
            | aiohttp.ServerDisconnectedError()
            | aiohttp.ClientPayloadError()
        ):
            return "connection lost"
        case OSError() if err.errno is not None and not isinstance(err, aiohttp.ClientConnectorError):
            # (aiohttp's connector error carries the errno of the error it wraps: that one says more.)
            return f"connection failed ({errno.errorcode.get(err.errno, err.errno)})"
    return None


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it wraps (causes, contexts, urllib3 ``reason`` and args), in order."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        err = todo.pop(0)
        if any(err is s for s in seen):
            continue
        seen.append(err)
        # urllib3 wraps the socket's error as its ``reason``, aiohttp's connector as its ``os_error`` (or
        # ``certificate_error``).
        wrapped = [
            getattr(err, "reason", None),
            getattr(err, "os_error", None),
            getattr(err, "certificate_error", None),
            err.__cause__,
            err.__context__,
            *err.args,
        ]
        todo.extend(w for w in wrapped if isinstance(w, BaseException))
    return seen
