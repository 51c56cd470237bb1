"""The Cloud DNS provider: one managed zone of Google Cloud DNS, through google-cloud-dns's client.

- **The managed zone** is the one named by ``managed_zone``, or else the one whose ``dnsName`` is the
  provider's zone (found with ``managedZones.list?dnsName=``). It is looked up once, on first use, and its
  ``dnsName`` checked against the zone, so a setting that points at another domain fails at once with a
  clear message instead of with ``invalid`` errors for every record.
- **Reading** lists the zone's record sets page by page and keeps A, AAAA, CNAME and TXT (the apex SOA and
  NS, and every other type, are not the operator's business). TXT data comes in presentation form
  (``"part one" "part two"``) and is unquoted, unescaped and joined into one value per record.
- **Writing** creates Cloud DNS *changes*. A change is atomic and its ``deletions`` are preconditions: the
  server applies it only if every deleted record set is held exactly as sent (TTL and data). So deletions and
  the old side of updates are sent as the record sets were *read* (their raw JSON, kept from the last
  :meth:`CloudDnsProvider.records`), an update is the deletion of the old record set plus the addition of the
  new one, and an A → CNAME switch is one change: resolvers never see the name empty or holding both.
  Before anything is sent, the plan is checked against the last read for a CNAME beside other data at one
  name, which the server would refuse less legibly.
- **Batching.** A plan is one change, unless it exceeds the per-change limits of Cloud DNS
  (:class:`ChangeLimits`); then it is split into as few changes as fit, never splitting the changes at one
  name (a record set and its ownership records) across two. Each change is atomic, the set is not: after an
  error the caller reads the zone again before planning anew.
- **Retries.** Throttling (429 ``rateLimitExceeded``, 403 ``rateLimitExceeded``/``userRateLimitExceeded``),
  server errors (5xx) and network failures are retried with jittered exponential backoff, honouring
  ``Retry-After``; when retries run out, ``TransientError``. Retrying a
  change whose first attempt may have been applied is safe: its exact deletions and additions then fail
  with ``notFound``/``alreadyExists``, a stale plan, and the caller re-reads.

Errors, mapped once here: ``conditionNotMet`` (412), ``notFound`` on a deletion and ``alreadyExists``
(409) mean the zone changed since the plan → :class:`~federation_operator.domain.errors.StaleChangesError`;
``cnameResourceRecordSetConflict``, other 400s, 401, 403, 413 (a per-change quota lower than
:class:`ChangeLimits`) and a missing zone or project (404) →
``PermanentError``.

Why the client's JSON connection rather than its ``ManagedZone``/``Changes`` objects: those send only
``name``/``type``/``ttl``/``rrdatas`` (so a deletion could not carry a record set exactly as read),
``ResourceRecordSet.from_api_repr`` fails on record sets with a routing policy (no ``rrdatas``), and their
page iterator cannot retry one page of a listing after a throttled request. The connection is the same
authenticated session and endpoint the client was built with.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict, cast

import google.auth
import google.auth.exceptions
import requests
from google.api_core import exceptions as api_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import dns as google_dns
from google.oauth2 import service_account

from federation_operator.dns.options import check_options, number_option
from federation_operator.dns.provider import backoff_delay, check_in_zone
from federation_operator.domain.errors import (
    FederationError,
    PermanentError,
    StaleChangesError,
    TransientError,
)
from federation_operator.domain.ownership import group_changes_by_name
from federation_operator.domain.records import (
    RECORD_TYPES,
    Changes,
    RecordKey,
    RecordSet,
    cname_clashes,
    normalize_name,
)

__all__ = ["DEFAULT_LIMITS", "ChangeLimits", "CloudDnsProvider", "build_clouddns"]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[object]]


@dataclass(frozen=True)
class ChangeLimits:
    """What one Cloud DNS change may hold.

    The defaults are the documented per-project defaults ("Quotas and limits",
    https://cloud.google.com/dns/quotas: additions per change 1,000, deletions per change 1,000, resource
    record data size per change 100,000 bytes, records per RR set 100; the API reports a project's own values
    as ``rrsetAdditionsPerChange``, ``rrsetDeletionsPerChange``, ``totalRrdataSizePerChange`` and
    ``resourceRecordsPerRrset`` of ``projects.get``). A project granted more can raise them here.
    """

    additions: int = 1000
    deletions: int = 1000
    rrdata_bytes: int = 100_000
    records_per_rrset: int = 100

    def __post_init__(self) -> None:
        for name in ("additions", "deletions", "rrdata_bytes", "records_per_rrset"):
            if getattr(self, name) < 1:
                raise PermanentError(f"clouddns: limit {name} must be at least 1")


DEFAULT_LIMITS = ChangeLimits()


class RrsetJson(TypedDict):
    """A ResourceRecordSet of the Cloud DNS v1 API, as sent and as read."""

    name: str
    type: str
    ttl: int
    rrdatas: NotRequired[list[str]]
    routingPolicy: NotRequired[dict[str, Any]]
    kind: NotRequired[str]


@dataclass
class _Group:
    """Every change at one name (a record set's own name and its ownership records' names)."""

    name: str
    deletions: list[RrsetJson] = field(default_factory=list)
    additions: list[RrsetJson] = field(default_factory=list)


@dataclass
class _Batch:
    """The groups of one Cloud DNS change."""

    groups: list[_Group] = field(default_factory=list)
    additions: int = 0
    deletions: int = 0
    rrdata_bytes: int = 0

    def add(self, group: _Group, limits: ChangeLimits) -> bool:
        """Count ``group`` in, unless the change would then exceed ``limits`` (then nothing changes)."""
        additions = self.additions + len(group.additions)
        deletions = self.deletions + len(group.deletions)
        size = self.rrdata_bytes + sum(_rrdata_size(r) for r in (*group.additions, *group.deletions))
        if additions > limits.additions or deletions > limits.deletions or size > limits.rrdata_bytes:
            return False
        self.groups.append(group)
        self.additions, self.deletions, self.rrdata_bytes = additions, deletions, size
        return True

    def body(self) -> dict[str, list[RrsetJson]]:
        return {
            "additions": [r for g in self.groups for r in g.additions],
            "deletions": [r for g in self.groups for r in g.deletions],
        }


@dataclass
class _Tally:
    """API requests made by one :meth:`CloudDnsProvider.apply` or :meth:`CloudDnsProvider.records`."""

    calls: int = 0


class CloudDnsProvider:
    """One Cloud DNS managed zone, read and written with an injected ``google.cloud.dns.Client``.

    ``zone`` is the DNS name served (``example.com``); ``managed_zone`` the managed zone's resource name
    (``example-com``), found by ``dnsName`` when not given. Throttled and failed requests are retried up to
    ``max_retries`` times, waiting ``backoff_base * 2**attempt`` seconds (jittered, at most ``max_backoff``,
    at least the server's ``Retry-After``) with ``sleep``. ``api_calls`` counts the API requests made
    (attempts included) over the provider's life.

    Meant for one caller at a time (the zone's publishing loop): it remembers what it last read, to send
    deletions exactly as read.
    """

    def __init__(
        self,
        client: google_dns.Client,
        *,
        zone: str,
        managed_zone: str | None = None,
        max_retries: int = 5,
        backoff_base: float = 0.2,
        max_backoff: float = 20.0,
        limits: ChangeLimits = DEFAULT_LIMITS,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        try:
            self._zone = normalize_name(zone)
        except ValueError as exc:
            raise PermanentError(f"clouddns: {exc}") from exc
        if max_retries < 0:
            raise PermanentError(f"clouddns: max_retries must be 0 or more, got {max_retries}")
        if backoff_base < 0 or max_backoff < backoff_base:
            raise PermanentError("clouddns: backoff_base must be from 0 to max_backoff")
        if managed_zone is not None and not managed_zone:
            raise PermanentError("clouddns: managed_zone must not be empty")
        self._client = client
        self._project: str = str(client.project)
        self._managed_zone = managed_zone
        self._path: str | None = None  # the managed zone's API path, once looked up and checked
        self._lookup = asyncio.Lock()
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._max_backoff = max_backoff
        self._limits = limits
        self._sleep = sleep
        # The zone's record sets as last read (parsed and raw), kept up to date by our own changes; None
        # when unknown (before the first read, or after a change that failed).
        self._seen: dict[RecordKey, tuple[RecordSet, RrsetJson]] | None = None
        self.api_calls = 0

    @property
    def zone(self) -> str:
        return self._zone

    @property
    def managed_zone(self) -> str | None:
        """The managed zone's resource name (``None`` until found, when it was not given)."""
        return self._managed_zone

    def __repr__(self) -> str:
        managed = self._managed_zone or "?"
        return f"CloudDnsProvider(project={self._project}, managed_zone={managed}, zone={self._zone})"

    def close(self) -> None:
        """Close the client's pooled HTTP connections (the provider built by :func:`build_clouddns` owns
        its client; an injected one may be closed by whoever made it instead)."""
        self._client.close()

    # --- reading -------------------------------------------------------------------------------------------

    async def records(self) -> list[RecordSet]:
        tally = _Tally()
        path = await self._zone_path(tally)
        seen: dict[RecordKey, tuple[RecordSet, RrsetJson]] = {}
        token: str | None = None
        while True:
            query = {"pageToken": token} if token else None
            page = await self._request("listing record sets", "GET", f"{path}/rrsets", tally, query=query)
            for raw in page.get("rrsets") or ():
                record = _read_rrset(raw)
                if record is not None:
                    seen[record.key] = (record, cast(RrsetJson, raw))
            token = page.get("nextPageToken") or None
            if token is None:
                break
        self._seen = seen
        return sorted(record for record, _ in seen.values())

    # --- writing -------------------------------------------------------------------------------------------

    async def apply(self, changes: Changes) -> int:
        if changes.is_empty:
            return 0
        check_in_zone(changes, self._zone)
        self._check_cname_exclusive(changes)
        batches = self._pack(self._group(changes))
        tally = _Tally()
        path = await self._zone_path(tally)
        for batch in batches:
            try:
                await self._request("creating a change", "POST", f"{path}/changes", tally, batch=batch)
            except BaseException:
                # Refused, or unknown (a cancelled request's thread may still get the change through):
                # what the zone holds now is for the next read to say.
                self._seen = None
                raise
            self._remember(batch)
        return tally.calls

    def _group(self, changes: Changes) -> list[_Group]:
        """The changes grouped by the name they are about, in name order (ownership records with their
        record), as Cloud DNS JSON: deletions as last read where the plan matches that read exactly."""
        groups: list[_Group] = []
        for name, part in group_changes_by_name(changes):
            group = _Group(name)
            for record in (*part.delete, *part.update_old):
                group.deletions.append(self._as_read(record))
            for record in (*part.update_new, *part.create):
                if len(record.values) > self._limits.records_per_rrset:
                    raise PermanentError(
                        f"{record.name} {record.type} has {len(record.values)} records; Cloud DNS takes at "
                        f"most {self._limits.records_per_rrset} per record set"
                    )
                group.additions.append(_render(record))
            groups.append(group)
        return groups

    def _as_read(self, record: RecordSet) -> RrsetJson:
        found = self._seen.get(record.key) if self._seen is not None else None
        if found is not None and found[0] == record:
            # As read, data and all (a routing policy included), less the resource-type marker.
            return cast(RrsetJson, {key: value for key, value in found[1].items() if key != "kind"})
        # Not read as planned: the server judges the precondition (and answers conditionNotMet if stale).
        return _render(record)

    def _pack(self, groups: Sequence[_Group]) -> list[_Batch]:
        """Groups packed greedily, in order, into as few changes as the limits allow."""
        batches: list[_Batch] = []
        for group in groups:
            if batches and batches[-1].add(group, self._limits):
                continue
            batch = _Batch()
            if not batch.add(group, self._limits):
                raise PermanentError(
                    f"the changes at {group.name} exceed what one Cloud DNS change may hold ({self._limits})"
                )
            batches.append(batch)
        return batches

    def _check_cname_exclusive(self, changes: Changes) -> None:
        """Refuse a plan that would leave a CNAME beside other data at one name, judged against the last
        read (or, with none, against the plan alone): the server would refuse it anyway, less legibly."""
        types_at: dict[str, set[str]] = {}
        for name, rtype in self._seen or {}:
            types_at.setdefault(name, set()).add(rtype)
        clashes = cname_clashes(types_at, changes)
        if clashes:
            name, others = clashes[0]
            raise PermanentError(
                f"{name} would hold a CNAME beside {', '.join(others)} in zone {self._zone}; a CNAME cannot "
                "share its name with other data"
            )

    def _remember(self, batch: _Batch) -> None:
        """Keep the last read up to date with a change the server applied."""
        if self._seen is None:
            return
        for group in batch.groups:
            for raw in group.deletions:
                self._seen.pop((normalize_name(raw["name"]), cast(Any, raw["type"])), None)
            for raw in group.additions:
                record = _read_rrset(cast(dict[str, Any], raw))
                if record is not None:
                    self._seen[record.key] = (record, raw)

    # --- the managed zone ----------------------------------------------------------------------------------

    async def _zone_path(self, tally: _Tally) -> str:
        async with self._lookup:
            if self._path is None:
                self._path = await self._find_zone(tally)
            return self._path

    async def _find_zone(self, tally: _Tally) -> str:
        base = f"/projects/{self._project}/managedZones"
        if self._managed_zone is not None:
            found = await self._request(
                f"looking up managed zone {self._managed_zone}", "GET", f"{base}/{self._managed_zone}", tally
            )
            serves = str(found.get("dnsName", ""))
            if serves.lower() != self._zone:
                raise PermanentError(
                    f"Cloud DNS managed zone {self._managed_zone} (project {self._project}) serves {serves}, "
                    f"not {self._zone}"
                )
            return f"{base}/{self._managed_zone}"
        zones: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = {"dnsName": self._zone, **({"pageToken": token} if token else {})}
            page = await self._request(
                f"looking up the managed zone of {self._zone}", "GET", base, tally, query=query
            )
            zones += [
                z for z in page.get("managedZones") or () if str(z.get("dnsName", "")).lower() == self._zone
            ]
            token = page.get("nextPageToken") or None
            if token is None:
                break
        if len(zones) > 1:
            # A public zone and private ones may share a name; the operator publishes to the public one.
            public = [z for z in zones if z.get("visibility", "public") == "public"]
            zones = public if len(public) == 1 else zones
        if not zones:
            raise PermanentError(f"no Cloud DNS managed zone serves {self._zone} in project {self._project}")
        if len(zones) > 1:
            names = ", ".join(sorted(str(z.get("name")) for z in zones))
            raise PermanentError(
                f"several Cloud DNS managed zones serve {self._zone} in project {self._project} ({names}); "
                "choose one with the managed_zone option"
            )
        self._managed_zone = str(zones[0]["name"])
        return f"{base}/{self._managed_zone}"

    # --- requests, retries and error mapping ---------------------------------------------------------------

    async def _request(
        self,
        what: str,
        method: str,
        path: str,
        tally: _Tally,
        *,
        query: Mapping[str, str] | None = None,
        batch: _Batch | None = None,
    ) -> dict[str, Any]:
        """One API request, in a worker thread (the client blocks), retried while the failure may pass."""
        data = batch.body() if batch is not None else None
        attempt = 0
        while True:
            self.api_calls += 1
            tally.calls += 1
            try:
                response = await asyncio.to_thread(
                    self._client._connection.api_request,
                    method=method,
                    path=path,
                    query_params=dict(query) if query else None,
                    data=data,
                )
            except Exception as exc:
                wait = _retry_after(exc)
                if wait is None:
                    raise self._error(exc, what, batch) from exc
                delay = self._backoff(attempt, wait)
                if attempt >= self._max_retries:
                    raise TransientError(
                        f"{what} in {self._where()} still failing after {attempt + 1} attempts: "
                        f"{_detail(exc)}",
                        delay=delay,
                    ) from exc
                log.debug("%s in %s failed (%s); retrying in %.2fs", what, self._where(), _detail(exc), delay)
                await self._sleep(delay)
                attempt += 1
                continue
            return cast(dict[str, Any], response) if isinstance(response, dict) else {}

    def _backoff(self, attempt: int, retry_after: float) -> float:
        # A Retry-After from the server wins when it asks for longer.
        jittered = backoff_delay(self._backoff_base, attempt, self._max_backoff)
        return max(jittered, min(retry_after, self._max_backoff))

    def _where(self) -> str:
        return (
            f"Cloud DNS zone {self._zone} (project {self._project}, managed zone {self._managed_zone or '?'})"
        )

    def _error(self, exc: Exception, what: str, batch: _Batch | None) -> FederationError:
        where = self._where()
        if isinstance(exc, api_exceptions.GoogleAPICallError):
            code, reason, message = exc.code, _reason(exc), _message(exc)
            if batch is not None and (code == 412 or reason == "conditionNotMet"):
                return StaleChangesError(
                    f"{what} in {where} refused (conditionNotMet): a record set to delete or update no "
                    f"longer holds what the plan expected: {message}"
                )
            if batch is not None and (code == 409 or reason == "alreadyExists"):
                return StaleChangesError(
                    f"{what} in {where} refused (alreadyExists): a record set to create exists already: "
                    f"{message}"
                )
            if batch is not None and code == 404 and "entity.change.deletions" in message:
                return StaleChangesError(
                    f"{what} in {where} refused (notFound): a record set to delete or update is gone: "
                    f"{message}"
                )
            if reason == "cnameResourceRecordSetConflict":
                name = _conflicting_name(message, batch)
                return PermanentError(
                    f"{what} in {where} refused: {name} would hold a CNAME beside other data "
                    "(cnameResourceRecordSetConflict)"
                )
            if code == 404:
                self._path = None  # look the zone up again next time: it may be created again
                return PermanentError(f"{what}: {where} not found: {message}")
            if code == 401:
                return PermanentError(f"{what} in {where}: the credentials were rejected (401): {message}")
            if code == 403:
                return PermanentError(
                    f"{what} in {where}: permission denied (403 {reason}); the credentials need the DNS "
                    "Administrator role (dns.changes.create, dns.resourceRecordSets.list, "
                    f"dns.managedZones.list) on the project: {message}"
                )
            if code == 413:
                return PermanentError(
                    f"{what} in {where}: the change exceeds the project's Cloud DNS quota per change (413); "
                    f"lower the provider's limits ({self._limits}): {message}"
                )
            return PermanentError(f"{what} in {where} refused ({code} {reason}): {message}")
        if isinstance(exc, google.auth.exceptions.GoogleAuthError):
            return PermanentError(f"{what} in {where}: the credentials are unusable: {_detail(exc)}")
        return PermanentError(f"{what} in {where} failed unexpectedly: {_detail(exc)}")


# --- errors ------------------------------------------------------------------------------------------------

_THROTTLED = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    google.auth.exceptions.TransportError,  # a token refresh that could not reach the token endpoint
)


def _retry_after(exc: Exception) -> float | None:
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


def _detail(exc: Exception) -> str:
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        return f"{exc.code} {_reason(exc)}: {_message(exc)}"
    return str(exc) or type(exc).__name__


_ADDITION_INDEX = re.compile(r"entity\.change\.additions\[(\d+)\]")
_DNS_NAME = re.compile(r"DNS name '([^']+)'")


def _conflicting_name(message: str, batch: _Batch | None) -> str:
    """The name a ``cnameResourceRecordSetConflict`` is about: the addition the message points at."""
    found = _ADDITION_INDEX.search(message)
    if found is not None and batch is not None:
        additions = batch.body()["additions"]
        index = int(found.group(1))
        if index < len(additions):
            return additions[index]["name"]
    named = _DNS_NAME.search(message)
    return named.group(1) if named else "a name"


# --- record sets as JSON -----------------------------------------------------------------------------------

_TXT_CHUNK = 255  # a TXT character-string holds at most 255 octets


def _render(record: RecordSet) -> RrsetJson:
    values = [_render_txt(v) for v in record.values] if record.type == "TXT" else list(record.values)
    return {"name": record.name, "type": record.type, "ttl": record.ttl, "rrdatas": values}


def _read_rrset(raw: dict[str, Any]) -> RecordSet | None:
    """The record set ``raw`` stands for, or ``None`` for a type the operator does not manage (or data it
    cannot read, which is logged: a foreign oddity must not stop the zone from being published)."""
    rtype = raw.get("type")
    if rtype not in RECORD_TYPES:
        return None
    # A record set with a routing policy (geo, weighted) has its data in the policy's items: their union
    # stands for it, so that it shows up as the foreign record it is at that name.
    rrdatas = raw.get("rrdatas") or sorted(set(_policy_rrdatas(raw.get("routingPolicy"))))
    try:
        values = [_read_txt(v) for v in rrdatas] if rtype == "TXT" else [str(v) for v in rrdatas]
        return RecordSet(name=str(raw["name"]), type=rtype, ttl=int(raw.get("ttl", 0)), values=tuple(values))
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ignoring Cloud DNS record set %s %s: %s", raw.get("name"), rtype, exc)
        return None


def _policy_rrdatas(policy: object) -> Iterator[str]:
    if isinstance(policy, dict):
        for key, value in policy.items():
            if key == "rrdatas" and isinstance(value, list):
                yield from (str(v) for v in value)
            else:
                yield from _policy_rrdatas(value)
    elif isinstance(policy, list):
        for item in policy:
            yield from _policy_rrdatas(item)


def _rrdata_size(rrset: RrsetJson) -> int:
    # The quota does not say how it measures rrdata; the text as sent, plus a length octet per record,
    # is at least the wire size for every type the operator writes.
    return sum(len(data.encode()) + 1 for data in rrset.get("rrdatas", ()))


def _render_txt(value: str) -> str:
    """One TXT value in presentation form: quoted character-strings of at most 255 octets, escaped."""
    raw = value.encode()
    chunks = [raw[i : i + _TXT_CHUNK] for i in range(0, len(raw), _TXT_CHUNK)] or [b""]
    return " ".join(f'"{"".join(_escape(octet) for octet in chunk)}"' for chunk in chunks)


def _escape(octet: int) -> str:
    if octet in (0x22, 0x5C):  # " and \
        return f"\\{chr(octet)}"
    if 0x20 <= octet < 0x7F:
        return chr(octet)
    return f"\\{octet:03d}"


def _read_txt(text: str) -> str:
    """``"part one" "part two"`` (or unquoted words) → ``part onepart two``: the TXT record's
    character-strings, unescaped (``\\"``, ``\\DDD``) and joined, as the operator writes values."""
    out = bytearray()
    i, end = 0, len(text)
    while i < end:
        if text[i].isspace():
            i += 1
            continue
        quoted = text[i] == '"'
        i += quoted
        while i < end:
            char = text[i]
            if quoted and char == '"':
                i += 1
                break
            if not quoted and char.isspace():
                break
            if char == "\\" and i + 1 < end:
                digits = text[i + 1 : i + 4]
                if len(digits) == 3 and digits.isdigit():
                    out.append(min(int(digits), 255))
                    i += 4
                else:
                    out += text[i + 1].encode()
                    i += 2
                continue
            out += char.encode()
            i += 1
    return out.decode(errors="backslashreplace")


# --- the factory's builder ---------------------------------------------------------------------------------

_OPTIONS = ("project", "managed_zone", "endpoint", "credentials_file", "anonymous", "max_retries")


def build_clouddns(zone: str, options: Mapping[str, str]) -> CloudDnsProvider:
    """A :class:`CloudDnsProvider` for ``zone`` from string options, with a client of its own.

    Options (all optional):

    - ``project``: the Google Cloud project holding the managed zone; by default the project of the
      credentials (the key file's ``project_id``, or what the standard chain finds);
    - ``managed_zone``: the managed zone's resource name; by default the zone whose ``dnsName`` is ``zone``;
    - ``endpoint``: the API's base URL, for a non-default endpoint (``https://dns.googleapis.com``);
    - ``credentials_file``: the path of a service-account key file (JSON), such as one mounted from a
      Secret; without it, the standard chain (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's application
      default credentials, the metadata server of GKE or GCE: workload identity);
    - ``anonymous``: ``true`` to send no credentials at all (emulators and test fakes; needs ``project``);
    - ``max_retries``: retries of a throttled or failed request (default 5).
    """
    check_options("clouddns", options, required=(), optional=_OPTIONS)
    anonymous = options.get("anonymous", "false").strip().lower()
    if anonymous not in ("true", "false"):
        raise PermanentError(
            f"DNS provider clouddns: option anonymous={options['anonymous']!r} is not true or false"
        )
    credentials_file = options.get("credentials_file")
    if anonymous == "true" and credentials_file:
        raise PermanentError(
            "DNS provider clouddns: options anonymous and credentials_file exclude each other"
        )
    endpoint = options.get("endpoint")
    if endpoint is not None and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", endpoint):
        raise PermanentError(f"DNS provider clouddns: option endpoint={endpoint!r} is not an http(s) URL")
    max_retries = number_option("clouddns", options, "max_retries", int, 5)

    scopes = list(google_dns.Client.SCOPE)
    found_project: str | None = None
    try:
        if anonymous == "true":
            credentials: Any = AnonymousCredentials()  # type: ignore[no-untyped-call]  # google-auth
        elif credentials_file:
            # The type-specific loader: a file of any other credential type (which could, say, make the
            # operator run a command or fetch a URL to get a token) is refused rather than trusted.
            credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                credentials_file, scopes=scopes
            )
            found_project = credentials.project_id
        else:
            credentials, found_project = google.auth.default(scopes=scopes)
    except (google.auth.exceptions.GoogleAuthError, OSError, ValueError) as exc:
        source = (
            f"credentials_file {credentials_file}" if credentials_file else "the default credentials chain"
        )
        raise PermanentError(f"DNS provider clouddns: no usable credentials from {source}: {exc}") from exc
    project = options.get("project") or found_project
    if not project:
        raise PermanentError(
            "DNS provider clouddns: option project is required (the credentials name no project)"
        )
    client = google_dns.Client(
        project=project,
        credentials=credentials,
        client_options={"api_endpoint": endpoint.rstrip("/")} if endpoint else None,
    )
    return CloudDnsProvider(
        client, zone=zone, managed_zone=options.get("managed_zone"), max_retries=max_retries
    )
