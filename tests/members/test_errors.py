"""The one classification of Kubernetes API failures (kube/errors.py), for every client the operator uses:
the generated client's ApiException, transport failures, and raw responses."""

from __future__ import annotations

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from federation_operator.domain.errors import PermanentError, TransientError
from federation_operator.kube.errors import ApiConnectionError, api_error, describe_failure, status_error
from federation_operator.kube.transport import RawResponse, response_error


def api_exception(status: int, headers: dict[str, str] | None = None) -> ApiException:
    exc = ApiException(status=status, reason="Reason")
    exc.headers = headers
    return exc


@pytest.mark.parametrize(
    ("status", "transient"),
    [(429, True), (500, True), (501, True), (503, True), (504, True), (599, True), (400, False),
     (401, False), (403, False), (404, False), (409, False), (422, False)],
)  # fmt: skip
def test_429_and_every_5xx_are_transient_the_rest_permanent(status: int, transient: bool) -> None:
    for error in (
        status_error(status, "m"),
        api_error("read x", api_exception(status)),
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
    error = api_error("patch status", api_exception(503, headers))
    assert isinstance(error, TransientError)
    assert error.delay == delay
    assert str(error) == "patch status: HTTP 503 Reason"


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
        (ApiException(status=0, reason="SSLError"), "TLS error"),
    ],
)
def test_connection_failures_are_transient_with_a_short_reason(
    exc: ApiException | OSError | urllib3.exceptions.HTTPError, reason: str
) -> None:
    assert describe_failure(exc) == reason
    error = api_error("list MemberClusters", exc)
    assert isinstance(error, ApiConnectionError)
    assert isinstance(error, TransientError)
    assert error.reason == reason
    assert str(error) == f"list MemberClusters: {reason}"
