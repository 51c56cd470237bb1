"""The Cloud DNS provider: one managed zone of Google Cloud DNS, through google-cloud-dns's client.

- **The managed zone** is the one named by ``managed_zone``, or else the one whose ``dnsName`` is the
  provider's zone (found with ``managedZones.list?dnsName=``). It is looked up once, on first use, and its
  ``dnsName`` checked against the zone, so a setting that points at another domain fails at once with a
  clear message instead of with ``invalid`` errors for every record.
- **Reading** lists the zone's record sets page by page and keeps A, AAAA, CNAME and TXT (the apex SOA and
  NS, and every other type, are not the operator's business), each with its raw JSON: deletions are sent
  exactly as read (:mod:`federation_operator.dns.clouddns.changes`).
- **Writing** checks the plan against the last read for a CNAME beside other data at one name, which the
  server would refuse less legibly, then creates one Cloud DNS change, or as few as the per-change limits
  allow. Each change is atomic, the set is not: after an error the caller reads the zone again before
  planning anew. A change answered ``pending`` is polled (every 0.5 s, doubling, for at most
  ``done_timeout``, 5 s by default) until ``done``; one still ``pending`` then is left to the caller: its id
  is in :meth:`CloudDnsProvider.unconfirmed`, and the publisher reports ``DNSPublished=True`` only once
  :meth:`CloudDnsProvider.confirmed` says ``done`` (asked later, without holding the zone's next round).
- **Retries.** Throttling, server errors and network failures are retried with jittered exponential backoff,
  honouring ``Retry-After``; when retries run out, ``TransientError``. Retrying a change whose first attempt
  may have been applied is safe: its exact deletions and additions then fail with ``notFound``/
  ``alreadyExists``, a stale plan, and the caller re-reads. Every failure is mapped once
  (:mod:`federation_operator.dns.clouddns.errors`).

Why the client's JSON connection rather than its ``ManagedZone``/``Changes`` objects: those send only
``name``/``type``/``ttl``/``rrdatas`` (so a deletion could not carry a record set exactly as read),
``ResourceRecordSet.from_api_repr`` fails on record sets with a routing policy (no ``rrdatas``), and their
page iterator cannot retry one page of a listing after a throttled request. The connection is the same
authenticated session and endpoint the client was built with.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, cast

from google.cloud import dns as google_dns

from federation_operator.dns.clouddns.changes import (
    DEFAULT_LIMITS,
    ChangeLimits,
    ChangeRequest,
    RrsetJson,
    plan_change_requests,
    read_rrset,
    render_rrset,
)
from federation_operator.dns.clouddns.errors import detail, map_error, retry_after
from federation_operator.dns.polling import poll_until_live
from federation_operator.dns.provider import backoff_delay, check_in_zone
from federation_operator.domain.errors import (
    FederationError,
    PermanentError,
    RejectedChangeError,
    TransientError,
)
from federation_operator.domain.records import (
    FAILOVER,
    GEO,
    WEIGHTED,
    Changes,
    ProviderLimits,
    RecordKey,
    RecordSet,
    cname_clashes,
    normalize_name,
    other_types_marker,
    routing_clashes,
)

__all__ = ["CLOUDDNS_DEFAULT_QUOTAS", "CloudDnsProvider"]

DONE_TIMEOUT = 5.0
"""How long ``apply`` polls a change that Cloud DNS answered ``pending`` for ``done`` before leaving it
unconfirmed: short, since the zone's next round waits for ``apply``; the rest is checked later."""
# Every 0.5 s, doubling up to 5 s: changes are usually done within seconds, and polls count against the
# project's API rate.
DONE_POLL_START = 0.5
DONE_POLL_CAP = 5.0
CLOUDDNS_DEFAULT_QUOTAS = ProviderLimits(
    max_values_per_set=100, max_record_sets=10_000, geo_by_gcp_region=True, group_in_one_set=True
)
"""Cloud DNS's default ``resourceRecordsPerRrset`` and ``rrsetsPerManagedZone``, until the project's own
quotas are read (``projects.get``, with the zone's first read)."""

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[object]]


def _positive(value: object, default: int) -> int:
    """A quota as the API gives it (a number, or digits in JSON's int64 string form), else ``default``."""
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


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
        limits: ChangeLimits | None = None,
        sleep: Sleep = asyncio.sleep,
        done_timeout: float = DONE_TIMEOUT,
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
        if done_timeout <= 0:
            raise PermanentError(f"clouddns: done_timeout must be positive, got {done_timeout}")
        self._done_timeout = done_timeout
        self._client = client
        self._project: str = str(client.project)
        self._managed_zone = managed_zone
        self._path: str | None = None  # the managed zone's API path, once looked up and checked
        self._lookup = asyncio.Lock()
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._max_backoff = max_backoff
        # What one change may hold: ``limits`` when given (then the project's quotas only lower it), else the
        # documented defaults until the project's quotas are read with the zone.
        self._given_limits = limits
        self._limits = limits or DEFAULT_LIMITS
        self._sleep = sleep
        # The zone's record sets as last read (parsed and raw), kept up to date by our own changes; None
        # when unknown (before the first read, or after a change that failed).
        self._seen: dict[RecordKey, tuple[RecordSet, RrsetJson]] | None = None
        self._quotas: ProviderLimits | None = None  # the project's, once read
        self._unconfirmed: tuple[str, ...] = ()  # the last apply's changes still pending when it returned
        self.api_calls = 0

    @property
    def zone(self) -> str:
        return self._zone

    @property
    def limits(self) -> ProviderLimits:
        """The project's quotas (``resourceRecordsPerRrset``, ``rrsetsPerManagedZone``) once read with the
        zone, the documented defaults (100, 10,000) before."""
        return self._quotas or CLOUDDNS_DEFAULT_QUOTAS

    @property
    def change_limits(self) -> ChangeLimits:
        """What one change may hold: the project's quotas once read with the zone, the given ones before."""
        return self._limits

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

    async def serial(self) -> int | None:
        """No serial that every change moves: a drift check reads the whole zone (no call here)."""
        return None

    async def records(self) -> list[RecordSet]:
        tally = _Tally()
        path = await self._zone_path(tally)
        if self._quotas is None:
            self._quotas = await self._read_quotas(tally)
        seen: dict[RecordKey, tuple[RecordSet, RrsetJson]] = {}
        others: dict[str, set[str]] = {}
        token: str | None = None
        while True:
            query = {"pageToken": token} if token else None
            page = await self._request("listing record sets", "GET", f"{path}/rrsets", tally, query=query)
            for raw in page.get("rrsets") or ():
                record = read_rrset(raw)
                if record is not None:
                    seen[record.key] = (record, cast(RrsetJson, raw))
                elif str(raw.get("name", "")).lower() != self._zone:  # the apex's SOA and NS are the zone's
                    others.setdefault(str(raw.get("name", "")), set()).add(str(raw.get("type", "")))
            token = page.get("nextPageToken") or None
            if token is None:
                break
        self._seen = seen
        markers = [other_types_marker(name, types) for name, types in others.items() if name]
        return sorted([*(record for record, _ in seen.values()), *filter(None, markers)])

    async def _read_quotas(self, tally: _Tally) -> ProviderLimits:
        """The project's record quotas (``projects.get``), each falling back to its documented default."""
        found = await self._request(
            f"reading the quotas of project {self._project}", "GET", f"/projects/{self._project}", tally
        )
        raw = found.get("quota")
        quota: dict[str, Any] = raw if isinstance(raw, dict) else {}
        per_set = quota.get("resourceRecordsPerRrset")
        per_zone = quota.get("rrsetsPerManagedZone")
        # What one change may hold is the project's too: a change is packed within these (changes.py), so
        # an owner's changes larger than one change go out in several instead of being refused.
        project = ChangeLimits(
            additions=_positive(quota.get("rrsetAdditionsPerChange"), DEFAULT_LIMITS.additions),
            deletions=_positive(quota.get("rrsetDeletionsPerChange"), DEFAULT_LIMITS.deletions),
            rrdata_bytes=_positive(quota.get("totalRrdataSizePerChange"), DEFAULT_LIMITS.rrdata_bytes),
            records_per_rrset=_positive(per_set, DEFAULT_LIMITS.records_per_rrset),
        )
        given = self._given_limits
        self._limits = (
            project
            if given is None
            else ChangeLimits(
                additions=min(given.additions, project.additions),
                deletions=min(given.deletions, project.deletions),
                rrdata_bytes=min(given.rrdata_bytes, project.rrdata_bytes),
                records_per_rrset=min(given.records_per_rrset, project.records_per_rrset),
            )
        )
        return ProviderLimits(
            max_values_per_set=int(per_set) if per_set else CLOUDDNS_DEFAULT_QUOTAS.max_values_per_set,
            max_record_sets=int(per_zone) if per_zone else CLOUDDNS_DEFAULT_QUOTAS.max_record_sets,
            geo_by_gcp_region=True,
            group_in_one_set=True,
        )

    # --- writing -------------------------------------------------------------------------------------------

    def unconfirmed(self) -> tuple[str, ...]:
        """The last ``apply``'s changes that Cloud DNS still said ``pending`` when it returned."""
        return self._unconfirmed

    async def confirmed(self, change_ids: Collection[str]) -> set[str]:
        """Those of ``change_ids`` that Cloud DNS now says are ``done`` (one ``changes.get`` each)."""
        tally = _Tally()
        path = await self._zone_path(tally)
        live: set[str] = set()
        for change_id in change_ids:
            change = await self._request(
                f"checking change {change_id}", "GET", f"{path}/changes/{change_id}", tally
            )
            if change.get("status") == "done":
                live.add(change_id)
        return live

    async def apply(self, changes: Changes) -> int:
        self._unconfirmed = ()
        if changes.is_empty:
            return 0
        check_in_zone(changes, self._zone)
        self._check_cname_exclusive(changes)
        requests = plan_change_requests(changes, limits=self._limits, as_read=self._as_read)
        tally = _Tally()
        path = await self._zone_path(tally)
        pending: list[str] = []
        for request in requests:
            try:
                change = await self._request(
                    "creating a change", "POST", f"{path}/changes", tally, request=request
                )
            except RejectedChangeError:
                # Refused whole (a change is atomic): the last read, with the changes before it, still holds.
                raise
            except BaseException:
                # Unknown (a cancelled request's thread may still get the change through), or stale: what
                # the zone holds now is for the next read to say.
                self._seen = None
                raise
            self._remember(request)
            if change.get("status", "done") != "done":
                pending.append(str(change.get("id", "")))
        self._unconfirmed = tuple([c for c in pending if not await self._until_done(path, c, tally)])
        return tally.calls

    async def _until_done(self, path: str, change_id: str, tally: _Tally) -> bool:
        """Poll the change until Cloud DNS says ``done`` (live on its name servers), for at most
        ``done_timeout`` seconds; False when it is still ``pending`` then."""

        async def done() -> bool:
            change = await self._request(
                f"checking change {change_id}", "GET", f"{path}/changes/{change_id}", tally
            )
            return change.get("status") == "done"

        return await poll_until_live(
            done, within=self._done_timeout, start=DONE_POLL_START, cap=DONE_POLL_CAP, sleep=self._sleep
        )

    def _as_read(self, record: RecordSet) -> RrsetJson:
        found = self._seen.get(record.key) if self._seen is not None else None
        if found is not None and found[0] == record:
            # As read, data and all (a routing policy included), less the resource-type marker.
            return cast(RrsetJson, {key: value for key, value in found[1].items() if key != "kind"})
        # Not read as planned: the server judges the precondition (and answers conditionNotMet if stale).
        return render_rrset(record)

    def _check_cname_exclusive(self, changes: Changes) -> None:
        """Refuse a plan that would leave a CNAME beside other data at one name, judged against the last
        read (or, with none, against the plan alone): the server would refuse it anyway, less legibly."""
        types_at: dict[str, set[str]] = {}
        for name, rtype in self._seen or {}:
            types_at.setdefault(name, set()).add(rtype)
        clashes = cname_clashes(types_at, changes)
        if clashes:
            raise RejectedChangeError(
                f"{clashes[0]} in zone {self._zone}; a CNAME cannot share its name with other data"
            )
        # A plain A record set and a weighted round robin, geo or primaryBackup one are all Cloud DNS's one A
        # record set at a name.
        mixed = routing_clashes(types_at, changes, frozenset({"A", WEIGHTED, GEO, FAILOVER}))
        if mixed:
            raise RejectedChangeError(
                f"{mixed[0]} in zone {self._zone}; Cloud DNS holds one A record set per name"
            )

    def _remember(self, request: ChangeRequest) -> None:
        """Keep the last read up to date with a change the server applied."""
        if self._seen is None:
            return
        for group in request.groups:
            for raw in group.deletions:
                read = read_rrset(cast(dict[str, Any], raw))
                key = read.key if read is not None else (normalize_name(raw["name"]), cast(Any, raw["type"]))
                self._seen.pop(key, None)
            for raw in group.additions:
                record = read_rrset(cast(dict[str, Any], raw))
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
        request: ChangeRequest | None = None,
    ) -> dict[str, Any]:
        """One API request, in a worker thread (the client blocks), retried while the failure may pass."""
        data = request.body() if request is not None else None
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
                wait = retry_after(exc)
                if wait is None:
                    raise self._error(exc, what, request) from exc
                delay = self._backoff(attempt, wait)
                if attempt >= self._max_retries:
                    raise TransientError(
                        f"{what} in {self._where()} still failing after {attempt + 1} attempts: "
                        f"{detail(exc)}",
                        delay=delay,
                    ) from exc
                log.debug("%s in %s failed (%s); retrying in %.2fs", what, self._where(), detail(exc), delay)
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

    def _error(self, exc: Exception, what: str, request: ChangeRequest | None) -> FederationError:
        error, zone_missing = map_error(
            exc, what=what, where=self._where(), request=request, limits=self._limits
        )
        if zone_missing:
            self._path = None  # look the zone up again next time: it may be created again
        return error
