"""The one classification of Kubernetes API failures (kube/errors.py), for both request paths: transport
failures (urllib3's and aiohttp's) and raw responses."""

from __future__ import annotations

import socket

import aiohttp
import pytest
import urllib3

from federation_operator.domain.errors import PermanentError, TransientError
from federation_operator.kube.client import ClusterClient, ClusterConfig
from federation_operator.kube.errors import (
    ApiConnectionError,
    connection_error,
    describe_failure,
    status_error,
)
from federation_operator.kube.member_services import check_answering_exchange
from federation_operator.kube.transport import RawResponse, response_error
from tests.members import Runner


@pytest.mark.parametrize(
    ("status", "transient"),
    [(429, True), (500, True), (501, True), (503, True), (504, True), (599, True), (400, False),
     (401, False), (403, False), (404, False), (409, False), (422, False)],
)  # fmt: skip
def test_429_and_every_5xx_are_transient_the_rest_permanent(status: int, transient: bool) -> None:
    for error in (
        status_error(status, "m"),
        response_error(RawResponse(status, b"", {}), "read x"),
    ):
        assert isinstance(error, TransientError) is transient
        assert isinstance(error, PermanentError) is not transient


@pytest.mark.parametrize(
    ("headers", "delay"),
    [({"Retry-After": "7"}, 7.0), ({"retry-after": "0.5"}, 0.5), ({"Retry-After": "soon"}, None), ({}, None)],
)
def test_retry_after_is_honoured_when_given_in_seconds(headers: dict[str, str], delay: float | None) -> None:
    assert status_error(429, "m", headers).delay == delay
    error = response_error(RawResponse(503, b"", headers), "patch status")
    assert isinstance(error, TransientError)
    assert error.delay == delay
    assert str(error) == "patch status: HTTP 503"


def test_a_raw_response_error_carries_the_api_servers_message() -> None:
    body = b'{"kind": "Status", "message": "services \\"x\\" is forbidden", "reason": "Forbidden"}'
    error = response_error(RawResponse(403, body, {}), "create Service ns/x")
    assert isinstance(error, PermanentError)
    assert str(error) == 'create Service ns/x: services "x" is forbidden'


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (ConnectionRefusedError(111, "refused"), "connection refused"),
        (urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"), "timed out"),
        (ConnectionResetError(104, "reset"), "connection lost"),
        (urllib3.exceptions.SSLError("bad handshake"), "TLS error"),
    ],
)
def test_connection_failures_are_transient_with_a_short_reason(
    exc: OSError | urllib3.exceptions.HTTPError, reason: str
) -> None:
    assert describe_failure(exc) == reason
    error = connection_error("list MemberClusters", exc)
    assert isinstance(error, ApiConnectionError)
    assert isinstance(error, TransientError)
    assert error.reason == reason
    assert str(error) == f"list MemberClusters: {reason}"


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), "connect timed out"),
        (aiohttp.SocketTimeoutError("read"), "timed out"),
        (TimeoutError(), "timed out"),
        (aiohttp.ServerDisconnectedError(), "connection lost"),
        (aiohttp.ClientPayloadError("cut short"), "connection lost"),
        (aiohttp.ClientOSError(104, "reset"), "connection failed (ECONNRESET)"),
    ],
)
def test_the_event_loops_failures_get_the_same_short_reasons(exc: Exception, reason: str) -> None:
    assert describe_failure(exc) == reason


def test_a_refused_connection_is_said_so_on_either_request_path(runner: Runner) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # a port of ours nobody listens on
        api = ClusterClient(ClusterConfig(server=f"http://127.0.0.1:{closed.getsockname()[1]}"))
        try:
            with pytest.raises(ApiConnectionError) as failure:
                runner(api, check_answering_exchange(), timeout=5.0)
        finally:
            api.close()
    assert failure.value.reason == "connection refused"
    assert str(failure.value) == "check that it answers: connection refused"
