"""Cloud DNS failures as the operator's errors, mapped once: which pass by retrying, and what each means.

``conditionNotMet`` (412), ``notFound`` on a deletion and ``alreadyExists`` (409) mean the zone changed since
the plan → ``StaleChangesError``; ``cnameResourceRecordSetConflict``, other 400s, 401, 403, 413 (a per-change
quota lower than the provider's ``ChangeLimits``) and a missing zone or project (404) → ``PermanentError``;
of these, the refusals of what a change holds (a CNAME conflict, a 400, a 413, a 403 ``quotaExceeded``) are
``RejectedChangeError``, which the publisher splits to find the owner at fault.
Throttling (429 ``rateLimitExceeded``, 403 ``rateLimitExceeded``/``userRateLimitExceeded``), server errors
(5xx) and network failures pass by retrying (:func:`retry_after`).
"""

from __future__ import annotations

import re

import google.auth.exceptions
import requests
from google.api_core import exceptions as api_exceptions

from federation_operator.dns.clouddns.changes import ChangeLimits, ChangeRequest
from federation_operator.domain.errors import (
    FederationError,
    PermanentError,
    RejectedChangeError,
    StaleChangesError,
)

__all__ = ["detail", "map_error", "retry_after"]


def map_error(
    exc: Exception, *, what: str, where: str, request: ChangeRequest | None, limits: ChangeLimits
) -> tuple[FederationError, bool]:
    """Our error for ``exc``, which failed ``what`` in ``where`` (sending ``request``, if a change), and
    whether it says the managed zone is gone (to be looked up again next time: it may be created again)."""
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        stale = _stale(exc, what, where) if request is not None else None
        if stale is not None:
            return stale, False
        return _refusal(exc, what, where, request, limits), exc.code == 404
    if isinstance(exc, google.auth.exceptions.GoogleAuthError):
        return PermanentError(f"{what} in {where}: the credentials are unusable: {detail(exc)}"), False
    return PermanentError(f"{what} in {where} failed unexpectedly: {detail(exc)}"), False


def _stale(exc: api_exceptions.GoogleAPICallError, what: str, where: str) -> StaleChangesError | None:
    """The refusal of a change as stale, when the zone no longer holds what the plan expected."""
    code, reason, message = exc.code, _reason(exc), _message(exc)
    if code == 412 or reason == "conditionNotMet":
        return StaleChangesError(
            f"{what} in {where} refused (conditionNotMet): a record set to delete or update no "
            f"longer holds what the plan expected: {message}"
        )
    if code == 409 or reason == "alreadyExists":
        return StaleChangesError(
            f"{what} in {where} refused (alreadyExists): a record set to create exists already: {message}"
        )
    if code == 404 and "entity.change.deletions" in message:
        return StaleChangesError(
            f"{what} in {where} refused (notFound): a record set to delete or update is gone: {message}"
        )
    return None


def _refusal(
    exc: api_exceptions.GoogleAPICallError,
    what: str,
    where: str,
    request: ChangeRequest | None,
    limits: ChangeLimits,
) -> PermanentError:
    code, reason, message = exc.code, _reason(exc), _message(exc)
    if reason == "cnameResourceRecordSetConflict":
        name = _conflicting_name(message, request)
        return RejectedChangeError(
            f"{what} in {where} refused: {name} would hold a CNAME beside other data "
            "(cnameResourceRecordSetConflict)"
        )
    if code == 404:
        return PermanentError(f"{what}: {where} not found: {message}")
    if code == 401:
        return PermanentError(f"{what} in {where}: the credentials were rejected (401): {message}")
    if code == 403 and reason == "quotaExceeded" and request is not None:
        return RejectedChangeError(f"{what} in {where} refused (403 quotaExceeded): {message}")
    if code == 403:
        return PermanentError(
            f"{what} in {where}: permission denied (403 {reason}); the credentials need the DNS "
            "Administrator role (dns.changes.create, dns.resourceRecordSets.list, "
            f"dns.managedZones.list) on the project: {message}"
        )
    if code == 413:
        return RejectedChangeError(
            f"{what} in {where}: the change exceeds the project's Cloud DNS quota per change (413); "
            f"lower the provider's limits ({limits}): {message}"
        )
    if code == 400 and request is not None:
        return RejectedChangeError(f"{what} in {where} refused ({code} {reason}): {message}")
    return PermanentError(f"{what} in {where} refused ({code} {reason}): {message}")


_THROTTLED = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    google.auth.exceptions.TransportError,  # a token refresh that could not reach the token endpoint
)


def retry_after(exc: Exception) -> float | None:
    """``None`` if ``exc`` will not pass by retrying; else the least wait the server asked for (0: none)."""
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        throttled = exc.code == 429 or (exc.code == 403 and _reason(exc) in _THROTTLED)
        # 501 Not Implemented will not be implemented by the next attempt.
        if not (throttled or (isinstance(exc.code, int) and exc.code >= 500 and exc.code != 501)):
            return None
        header = exc.response.headers.get("Retry-After") if exc.response is not None else None
        return float(header) if header and header.strip().isdigit() else 0.0
    if isinstance(exc, _NETWORK_ERRORS):
        return 0.0
    if isinstance(exc, google.auth.exceptions.RefreshError) and exc.retryable:
        return 0.0
    return None


def _reason(exc: api_exceptions.GoogleAPICallError) -> str:
    errors = exc.errors or []
    first = errors[0] if errors else None
    return str(first.get("reason", "")) if isinstance(first, dict) else ""


def _message(exc: api_exceptions.GoogleAPICallError) -> str:
    """The API's own message (without the request URL that ``exc.message`` starts with)."""
    errors = exc.errors or []
    first = errors[0] if errors else None
    if isinstance(first, dict) and first.get("message"):
        return str(first["message"])
    return str(exc.message)


def detail(exc: Exception) -> str:
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        return f"{exc.code} {_reason(exc)}: {_message(exc)}"
    return str(exc) or type(exc).__name__


_ADDITION_INDEX = re.compile(r"entity\.change\.additions\[(\d+)\]")
_DNS_NAME = re.compile(r"DNS name '([^']+)'")


def _conflicting_name(message: str, request: ChangeRequest | None) -> str:
    """The name a ``cnameResourceRecordSetConflict`` is about: the addition the message points at."""
    found = _ADDITION_INDEX.search(message)
    if found is not None and request is not None:
        additions = request.body()["additions"]
        index = int(found.group(1))
        if index < len(additions):
            return additions[index]["name"]
    named = _DNS_NAME.search(message)
    return named.group(1) if named else "a name"
