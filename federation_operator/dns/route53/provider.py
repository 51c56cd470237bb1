"""The Route 53 provider: one public hosted zone, through an injected boto3 ``route53`` client.

- **Hosted zone.** Given by id, or looked up once by the zone's name with ``ListHostedZonesByName`` (exact
  name, public zones only; none, or several public zones of that name, is a ``PermanentError`` naming the
  zone).
- **Reading** pages through ``ListResourceRecordSets`` (300 record sets a page) into a
  :class:`~federation_operator.dns.route53.zone_state.ZoneState` (escapes, alias and routing-policy
  stand-ins: see there).
- **Writing** checks the whole plan against the zone as last read (by :meth:`Route53Provider.records`, kept
  up to date by its own successful batches; read afresh by ``apply`` when there is no such reading), then
  sends it as ``ChangeResourceRecordSets`` batches (:mod:`federation_operator.dns.route53.batches`). Each
  batch is atomic; a plan of several is not, so after an error the caller reads the zone again before
  planning anew. ``apply`` returns the number of requests it sent: one per batch, plus any retries, plus the
  reading it needed (an empty plan sends none). Between that reading and the request, Route 53 itself has
  the last word: its ``InvalidChangeBatch`` answers "was not found", "values provided do not match" and
  "already exists" become ``StaleChangesError``.
- **Live, not just accepted.** A batch Route 53 answers PENDING is polled with ``GetChange`` until INSYNC
  (every 0.5 s, doubling, for at most ``insync_timeout``, 5 s by default). A change still PENDING then is
  left to the caller: ``apply`` returns with its id in :meth:`Route53Provider.unconfirmed`, and the publisher
  reports ``DNSPublished=True`` only once :meth:`Route53Provider.confirmed` says INSYNC (it asks again later,
  without holding the zone's next round).
- **Health checks** (``spec.dns.policy.healthCheck``, carried in the set identifiers of the routing-policy
  sets: :mod:`federation_operator.domain.health_checks`). Before the batches, ``apply`` creates one health
  check per new share that asks for one, on the share's first address (``CallerReference``: a prefix of
  the federation and zone, then a nonce; tagged with the federation, the owner, the zone and the set
  identifier without its settings), and names it in the set's ``HealthCheckId``; after them, it deletes
  the health checks of the shares the plan removed. A share whose address or settings change has a new set
  identifier, so its health check is replaced. Ours (by the ``CallerReference`` prefix, and tagged with our
  federation or not tagged at all) that no set of the zone names (a crash between the creation and the
  batch, a failed deletion) are deleted by the next :meth:`Route53Provider.records`, which lists the health
  checks while the zone holds a health-checked set or this provider has written one (so a zone without
  health checks costs no extra request). Another federation's operator writing the same hosted zone has
  another prefix and tag: neither collects the other's. :meth:`Route53Provider.health_check_states` says
  what Route 53's checkers make of each check the zone's sets name (``GetHealthCheckStatus``, one request
  per check, none without checks), for the publisher's poll.

**Errors**, mapped once here with ``raise ... from exc``. ``Throttling``, ``PriorRequestNotComplete``,
``ServiceUnavailable``, any 5xx and connection failures or timeouts are retried with jittered exponential
backoff up to ``max_retries`` times, then raised as ``TransientError``;
``InvalidChangeBatch``, ``InvalidInput``, ``NoSuchHostedZone``, ``AccessDenied``, missing credentials and
every other refusal are permanent; the refusals of a batch's content (``InvalidChangeBatch``,
``InvalidInput``) are ``RejectedChangeError``, which the publisher splits to find the owner at fault.
Blocking boto3 calls run in :func:`asyncio.to_thread` (boto3 clients are
thread-safe), one request at a time per provider.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from federation_operator.dns.polling import poll_until_live
from federation_operator.dns.provider import backoff_delay, check_in_zone
from federation_operator.dns.route53.batches import Batch, plan_batches
from federation_operator.dns.route53.zone_state import ZoneState, parse_route53_name
from federation_operator.domain.errors import (
    FederationError,
    PermanentError,
    RejectedChangeError,
    StaleChangesError,
    TransientError,
)
from federation_operator.domain.health_checks import (
    HealthCheck,
    ProviderHealth,
    read_checker_reports,
    read_health_check,
    read_shares,
)
from federation_operator.domain.ownership import ownership_name, read_owner
from federation_operator.domain.records import (
    Changes,
    ProviderLimits,
    RecordSet,
    normalize_name,
    other_types_marker,
)

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53.type_defs import (
        HealthCheckConfigTypeDef,
        ListHealthChecksRequestTypeDef,
        ListHealthChecksResponseTypeDef,
        ListHostedZonesByNameRequestTypeDef,
        ListHostedZonesByNameResponseTypeDef,
        ListResourceRecordSetsRequestTypeDef,
        ListResourceRecordSetsResponseTypeDef,
        ListTagsForResourcesResponseTypeDef,
        TagTypeDef,
    )

__all__ = [
    "FEDERATION_TAG",
    "INSYNC_TIMEOUT",
    "ROUTE53_MAX_RECORD_SETS",
    "ROUTE53_MAX_VALUES_PER_SET",
    "Route53Provider",
]

ROUTE53_MAX_RECORD_SETS = 10_000
"""Route 53's default quota of records per hosted zone (``MAX_RRSETS_BY_ZONE``)."""
ROUTE53_MAX_VALUES_PER_SET = 240
"""Addresses the planner puts in one record set, so that the changes at one name always fit one ChangeBatch
(1,000 values, 32,000 characters): the worst is a tier whose A and AAAA sets both change at once, each a
DELETE of the old set and a CREATE of the new, 4 x 240 = 960 values and at most 2 x 240 x (15 + 39) =
25,920 characters, plus their ownership records. Route 53 itself takes more per set; a tier with more healthy
addresses publishes the lowest 240 and its status says so."""

T = TypeVar("T")

_MAX_BACKOFF = 20.0  # seconds; beyond this a retry loop only delays the next plan, which reads afresh
# Route 53 answers these with HTTP 400, yet they say "later", not "never".
_RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "PriorRequestNotComplete",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
    }
)
# What Route 53 says, inside an InvalidChangeBatch, when the zone no longer holds what the plan expected.
INSYNC_TIMEOUT = 5.0
"""How long ``apply`` polls ``GetChange`` for a change to become INSYNC before leaving it unconfirmed (Route
53 says within 60 s): short, since the zone's next round waits for ``apply``; the rest is checked later."""
# GetChange every 0.5 s, doubling up to 5 s: a change is usually INSYNC within seconds, and the polls share
# the account's five requests per second with every other Route 53 client.
INSYNC_POLL_START = 0.5
INSYNC_POLL_CAP = 5.0
_STALE_MARKERS = ("not found", "values provided do not match", "already exists")
# Refusals of a batch's content (a CNAME beside an MX, a name Route 53 does not take): the publisher splits
# the batch to find the owner at fault.
_REJECTED_CODES = frozenset({"InvalidChangeBatch", "InvalidInput", "InvalidArgument"})
FEDERATION_TAG = "federation-operator/federation"
"""The tag naming the federation whose operator created a health check: the collector deletes only its own."""
_TAGS_PER_REQUEST = 10  # ListTagsForResources takes up to 10 resource ids
_CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)


class Route53Provider:
    """One public Route 53 hosted zone, behind the narrow :class:`~federation_operator.dns.DnsProvider` API.

    ``client`` is a boto3 ``route53`` client (tests point one at moto's server with ``endpoint_url``); give it
    no retries of its own (``Config(retries={"total_max_attempts": 1})``, as :func:`build_route53` does), so
    that ``max_retries`` is the only retry policy. ``sleep`` waits between retries (injectable for tests).
    ``requests_sent`` counts every request sent to Route 53 over the provider's life, retries included.
    ``federation`` (the settings' federation name) is in the ``CallerReference`` and tags of the health
    checks it creates, and only such checks are ever collected as orphans.
    """

    def __init__(
        self,
        client: Route53Client,
        *,
        zone: str,
        hosted_zone_id: str | None = None,
        max_retries: int = 5,
        max_record_sets: int = ROUTE53_MAX_RECORD_SETS,
        backoff_base: float = 0.2,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        insync_timeout: float = INSYNC_TIMEOUT,
        federation: str = "myfederation",
    ) -> None:
        if max_retries < 0:
            raise PermanentError(f"route53: max_retries must be 0 or more, got {max_retries}")
        if insync_timeout <= 0:
            raise PermanentError(f"route53: insync_timeout must be positive, got {insync_timeout}")
        self._insync_timeout = insync_timeout
        if backoff_base < 0:
            raise PermanentError(f"route53: backoff_base must be 0 or more, got {backoff_base}")
        self._client = client
        self._zone = normalize_name(zone)
        # Route 53 accepts both "Z123" and "/hostedzone/Z123"; the short form reads better in messages.
        self._zone_id = hosted_zone_id.rsplit("/", 1)[-1] if hosted_zone_id else None
        self._max_retries = max_retries
        # moto implements no GetHostedZoneLimit, so the quota is an option (a raised limit is a support case,
        # known to whoever configures the operator) rather than a call whose absence a test could not catch.
        # Load balancer hostnames become weighted alias records (batches.py): a tier keeps every shard.
        self._limits = ProviderLimits(
            max_values_per_set=ROUTE53_MAX_VALUES_PER_SET,
            max_record_sets=max_record_sets,
            hostname_aliases=True,
        )
        self._backoff_base = backoff_base
        self._sleep = sleep
        self._state: ZoneState | None = None
        self._unconfirmed: tuple[str, ...] = ()  # the last apply's changes still PENDING when it returned
        # One request at a time: the zone state is read, checked and advanced in step with the requests.
        self._lock = asyncio.Lock()
        self.requests_sent = 0
        # Ours among the account's health checks: the federation (readable, cut to fit the reference's 64
        # characters) and a digest of the federation and zone at the start of the CallerReference, so that
        # the operators of two federations writing one hosted zone never take each other's for orphans.
        self._federation = federation
        digest = hashlib.sha256(f"{federation} {self._zone}".encode()).hexdigest()[:16]
        self._reference_prefix = f"fedop-{federation[:20]}-{digest}-"
        self._wrote_health_checks = False

    @property
    def zone(self) -> str:
        return self._zone

    @property
    def limits(self) -> ProviderLimits:
        """The hosted zone's record-set quota (10,000 by default, option ``max_record_sets``); load balancer
        hostnames as alias records."""
        return self._limits

    @property
    def hosted_zone_id(self) -> str | None:
        """The hosted zone's id (``Z...``), once given or looked up."""
        return self._zone_id

    @property
    def health_check_reference_prefix(self) -> str:
        """How the ``CallerReference`` of every health check this provider creates begins."""
        return self._reference_prefix

    @property
    def federation(self) -> str:
        """The federation whose health checks this provider creates, tags and collects."""
        return self._federation

    def __repr__(self) -> str:
        return f"Route53Provider(zone={self._zone}, hosted_zone_id={self._zone_id or '(by name)'})"

    # --- reading -------------------------------------------------------------------------------------------

    async def serial(self) -> int | None:
        """No serial that every change moves: a drift check reads the whole zone (no call here)."""
        return None

    async def records(self) -> list[RecordSet]:
        async with self._lock:
            self._state = await self._read()
            if self._state.health_checks or self._wrote_health_checks:
                await self._collect_health_checks(self._state)
            markers = (
                other_types_marker(name, types)
                for name, types in self._state.types_at.items()
                if name != self._zone  # the apex's SOA and NS are the zone's own
            )
            return sorted([*self._state.records.values(), *filter(None, markers)])

    async def _read(self) -> ZoneState:
        zone_id = await self._hosted_zone()
        state = ZoneState()
        request: ListResourceRecordSetsRequestTypeDef = {"HostedZoneId": zone_id}
        while True:
            page = await self._list_page(request)
            for rrset in page["ResourceRecordSets"]:
                state.add(rrset)
            if not page.get("IsTruncated"):
                return state
            if not page.get("NextRecordName") or not page.get("NextRecordType"):
                raise PermanentError(
                    f"route53: ListResourceRecordSets of {self._where()} is truncated without a next record"
                )
            request = {
                "HostedZoneId": zone_id,
                "StartRecordName": page["NextRecordName"],
                "StartRecordType": page["NextRecordType"],
            }
            if page.get("NextRecordIdentifier"):  # pages may split the record sets of one routing policy
                request["StartRecordIdentifier"] = page["NextRecordIdentifier"]

    async def _list_page(
        self, request: ListResourceRecordSetsRequestTypeDef
    ) -> ListResourceRecordSetsResponseTypeDef:
        return await self._call(
            "ListResourceRecordSets", lambda: self._client.list_resource_record_sets(**request)
        )

    async def _list_zones_page(
        self, request: ListHostedZonesByNameRequestTypeDef
    ) -> ListHostedZonesByNameResponseTypeDef:
        return await self._call(
            "ListHostedZonesByName", lambda: self._client.list_hosted_zones_by_name(**request)
        )

    async def _hosted_zone(self) -> str:
        if self._zone_id is None:
            self._zone_id = await self._find_hosted_zone()
        return self._zone_id

    async def _find_hosted_zone(self) -> str:
        # Zones come sorted by name, starting at ours; several hosted zones may share a name (a public and a
        # private one, or two public ones), hence the loop.
        public: list[str] = []
        request: ListHostedZonesByNameRequestTypeDef = {"DNSName": self._zone}
        while True:
            page = await self._list_zones_page(request)
            past_ours = False
            for hosted in page["HostedZones"]:
                if parse_route53_name(hosted["Name"]) != self._zone:
                    past_ours = True
                    break
                if not hosted.get("Config", {}).get("PrivateZone", False):
                    public.append(hosted["Id"].rsplit("/", 1)[-1])
            if past_ours or not page.get("IsTruncated") or not page.get("NextDNSName"):
                break
            request = {"DNSName": page["NextDNSName"], "HostedZoneId": page["NextHostedZoneId"]}
        if not public:
            raise PermanentError(f"route53: no public hosted zone named {self._zone}")
        if len(public) > 1:
            raise PermanentError(
                f"route53: {len(public)} public hosted zones are named {self._zone} ({', '.join(public)}); "
                "set the hosted_zone_id option to choose one"
            )
        return public[0]

    # --- writing -------------------------------------------------------------------------------------------

    def unconfirmed(self) -> tuple[str, ...]:
        """The last ``apply``'s changes that Route 53 still said PENDING when it returned."""
        return self._unconfirmed

    async def confirmed(self, change_ids: Collection[str]) -> set[str]:
        """Those of ``change_ids`` that ``GetChange`` now says are INSYNC (one request each)."""
        live: set[str] = set()
        for change_id in change_ids:
            if await self._insync(change_id):
                live.add(change_id)
        return live

    async def _insync(self, change_id: str) -> bool:
        response = await self._call("GetChange", lambda: self._client.get_change(Id=change_id))
        return response.get("ChangeInfo", {}).get("Status") == "INSYNC"

    async def apply(self, changes: Changes) -> int:
        self._unconfirmed = ()
        if changes.is_empty:
            return 0
        check_in_zone(changes, self._zone)
        batches = plan_batches(changes)
        async with self._lock:
            before = self.requests_sent
            if self._state is None:
                self._state = await self._read()
            zone_id = await self._hosted_zone()
            # The whole plan, before the first request: a batch that cannot apply entirely sends nothing,
            # and a refusal here leaves the reading as it was.
            self._state.check(changes)
            try:
                if await self._create_health_checks(self._state, changes):
                    batches = plan_batches(changes, health_check_ids=self._state.health_checks)
                pending: list[str] = []
                for batch in batches:
                    pending += await self._send(zone_id, batch)
                    self._state.apply(batch.changes)
                unconfirmed = [c for c in pending if not await self._until_insync(c)]
                self._unconfirmed = tuple(unconfirmed)
                await self._delete_health_checks(self._state, changes)
            except RejectedChangeError:
                # Route 53 refused this batch whole (a batch is transactional), the ones before it are in the
                # reading: still true, so the publisher's split of a refused change costs no re-read per part.
                raise
            except BaseException:
                # A request failed or was cancelled in flight (applied or not, unknown), or was stale: the
                # zone is no longer what this provider last read, so the next apply reads it again.
                self._state = None
                raise
            return self.requests_sent - before

    # --- health checks -------------------------------------------------------------------------------------

    async def _create_health_checks(self, state: ZoneState, changes: Changes) -> bool:
        """Create the health checks of the shares ``changes`` adds that ask for one and have none; True when
        it created any (their ids are then in ``state.health_checks``)."""
        created = False
        for record in (*changes.create, *changes.update_new):
            for identifier, addresses in read_shares(record).items():
                check = read_health_check(identifier)
                if check is None or identifier in state.health_checks:
                    continue
                state.health_checks[identifier] = await self._create_health_check(
                    identifier, addresses[0], check, _owner_of(record, state, changes)
                )
                created = True
        return created

    async def _create_health_check(
        self, identifier: str, address: str, check: HealthCheck, owner: str | None
    ) -> str:
        config: HealthCheckConfigTypeDef = {
            "IPAddress": address,
            "Port": check.port,
            "Type": check.protocol,
            "RequestInterval": check.interval,
            "FailureThreshold": check.failure_threshold,
        }
        if check.protocol != "TCP":
            config["ResourcePath"] = check.path
        # A nonce made once, before the retries: a retried creation is the same one (Route 53 answers it
        # with the health check it made), and a share that comes back later gets a fresh reference (Route 53
        # refuses a reference used before, even by a deleted health check).
        reference = f"{self._reference_prefix}{uuid.uuid4().hex[:16]}"
        self._wrote_health_checks = True
        response = await self._call(
            "CreateHealthCheck",
            lambda: self._client.create_health_check(CallerReference=reference, HealthCheckConfig=config),
        )
        health_check_id = response["HealthCheck"]["Id"]
        tags: list[TagTypeDef] = [
            {"Key": FEDERATION_TAG, "Value": self._federation},
            {"Key": "federation-operator/zone", "Value": self._zone},
            # The identifier without its settings: tag values take letters, digits and " .:/=+-@" only.
            {"Key": "federation-operator/set-identifier", "Value": identifier.partition("~")[0]},
        ]
        if owner is not None:  # <namespace>/<name>: Kubernetes names fit the tag values' alphabet
            tags.append({"Key": "federation-operator/owner", "Value": owner})
        await self._call(
            "ChangeTagsForResource",
            lambda: self._client.change_tags_for_resource(
                ResourceType="healthcheck", ResourceId=health_check_id, AddTags=tags
            ),
        )
        return health_check_id

    async def _delete_health_checks(self, state: ZoneState, changes: Changes) -> None:
        """Delete the health checks of the shares ``changes`` removed (and did not add back)."""
        kept = {i for record in (*changes.create, *changes.update_new) for i in read_shares(record)}
        for record in (*changes.delete, *changes.update_old):
            for identifier in read_shares(record):
                health_check_id = state.health_checks.get(identifier)
                if identifier in kept or health_check_id is None:
                    continue
                del state.health_checks[identifier]
                await self._delete_health_check(health_check_id)

    async def _delete_health_check(self, health_check_id: str) -> None:
        try:
            await self._call(
                "DeleteHealthCheck", lambda: self._client.delete_health_check(HealthCheckId=health_check_id)
            )
        except PermanentError as error:
            if "NoSuchHealthCheck" not in str(error):
                raise

    async def _collect_health_checks(self, state: ZoneState) -> None:
        """Delete the health checks that are ours (by ``CallerReference``) and that no set of ``state``
        names: left by a crash between a creation and its batch, or by a failed deletion. Before deleting,
        their tags are read (only when there is a candidate): one tagged with another federation is kept
        (the prefix already says ours; the tag is the owner's own word), one not tagged at all is ours,
        created by a run that stopped before tagging it."""
        used = set(state.health_checks.values())
        orphans: list[str] = []
        request: ListHealthChecksRequestTypeDef = {}
        while True:
            page = await self._list_health_checks_page(request)
            orphans += [
                check["Id"]
                for check in page["HealthChecks"]
                if check["CallerReference"].startswith(self._reference_prefix) and check["Id"] not in used
            ]
            if not page.get("IsTruncated") or not page.get("NextMarker"):
                break
            request = {"Marker": page["NextMarker"]}
        for health_check_id in await self._of_our_federation(orphans):
            await self._delete_health_check(health_check_id)

    async def _of_our_federation(self, health_check_ids: list[str]) -> list[str]:
        """Those of ``health_check_ids`` whose federation tag is ours, or that carry no tag of ours at all."""
        ours: list[str] = []
        for start in range(0, len(health_check_ids), _TAGS_PER_REQUEST):
            chunk = health_check_ids[start : start + _TAGS_PER_REQUEST]
            answer: ListTagsForResourcesResponseTypeDef = await self._call(
                "ListTagsForResources",
                functools.partial(
                    self._client.list_tags_for_resources, ResourceType="healthcheck", ResourceIds=chunk
                ),
            )
            for tag_set in answer["ResourceTagSets"]:
                tags = {t.get("Key", ""): t.get("Value", "") for t in tag_set.get("Tags", [])}
                if tags.get(FEDERATION_TAG, self._federation) == self._federation:
                    ours.append(tag_set.get("ResourceId", ""))
        return [i for i in health_check_ids if i in ours]

    async def collect_health_checks(self) -> None:
        """Delete ours that no set of the zone names, whatever the zone holds (the publisher calls it once
        after start): a run that stopped after the batch that dropped the zone's last health-checked set,
        before deleting its check, left an orphan that nothing in the zone hints at, so :meth:`records`
        would never look. Credentials without ``ListHealthChecks`` (made for a federation without health
        checks) are no fault here: there is nothing of theirs to collect."""
        async with self._lock:
            if self._state is None:
                self._state = await self._read()
            try:
                await self._collect_health_checks(self._state)
            except PermanentError as error:
                if "AccessDenied" not in str(error) or self._state.health_checks or self._wrote_health_checks:
                    raise

    async def health_check_states(self, identifiers: Collection[str]) -> dict[str, ProviderHealth] | None:
        """What Route 53's checkers make of the health check of each set of ``identifiers`` that the zone
        names one for, by set identifier: one ``GetHealthCheckStatus`` each (none for a set without one);
        ``None`` when the zone has not been read since the last failure, so nothing can be said now. Not
        under the zone's lock: a poll of many checks never holds up a round (boto3 clients are
        thread-safe)."""
        if self._state is None:
            return None
        held = self._state.health_checks
        owned = sorted((i, held[i]) for i in identifiers if i in held)
        states: dict[str, ProviderHealth] = {}
        for identifier, health_check_id in owned:
            states[identifier] = await self._health_check_state(health_check_id)
        return states

    async def _health_check_state(self, health_check_id: str) -> ProviderHealth:
        try:
            answer = await self._call(
                "GetHealthCheckStatus",
                lambda: self._client.get_health_check_status(HealthCheckId=health_check_id),
            )
        except PermanentError as error:
            if "NoSuchHealthCheck" not in str(error):
                raise
            return ProviderHealth("Unknown", health_check_id, "Route 53 has no such health check")
        reports = [o.get("StatusReport", {}).get("Status", "") for o in answer["HealthCheckObservations"]]
        return read_checker_reports(reports, health_check_id)

    async def _list_health_checks_page(
        self, request: ListHealthChecksRequestTypeDef
    ) -> ListHealthChecksResponseTypeDef:
        return await self._call("ListHealthChecks", lambda: self._client.list_health_checks(**request))

    async def _send(self, zone_id: str, batch: Batch) -> list[str]:
        """Send one batch; the id of its change while Route 53 says it is still PENDING."""
        changes = list(batch.request)
        response = await self._call(
            "ChangeResourceRecordSets",
            lambda: self._client.change_resource_record_sets(
                HostedZoneId=zone_id, ChangeBatch={"Comment": "federation-operator", "Changes": changes}
            ),
        )
        info = response.get("ChangeInfo", {})
        return [] if info.get("Status") == "INSYNC" else [str(info.get("Id", ""))]

    async def _until_insync(self, change_id: str) -> bool:
        """Poll ``GetChange`` until Route 53 says the change is INSYNC (live on all its name servers), for at
        most ``insync_timeout`` seconds; False when it is still PENDING then."""
        return await poll_until_live(
            lambda: self._insync(change_id),
            within=self._insync_timeout,
            start=INSYNC_POLL_START,
            cap=INSYNC_POLL_CAP,
            sleep=self._sleep,
        )

    # --- requests, retries and errors ----------------------------------------------------------------------

    async def _call(self, operation: str, request: Callable[[], T]) -> T:
        attempt = 0
        while True:
            self.requests_sent += 1
            try:
                return await asyncio.to_thread(request)
            except (ClientError, BotoCoreError) as exc:
                error, retryable = self._map(exc, operation)
                if not retryable:
                    raise error from exc
                if attempt >= self._max_retries:
                    raise TransientError(f"{error} (gave up after {attempt + 1} attempts)") from exc
            await self._sleep(backoff_delay(self._backoff_base, attempt, _MAX_BACKOFF))
            attempt += 1

    def _where(self) -> str:
        return f"hosted zone {self._zone_id or '?'} ({self._zone})"

    def _map(self, exc: ClientError | BotoCoreError, operation: str) -> tuple[FederationError, bool]:
        """Our error for ``exc``, and whether retrying the same request may succeed."""
        what = f"route53 {operation} on {self._where()}"
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            message = str(exc.response.get("Error", {}).get("Message", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            text = f"{what} failed: {code or status}: {message}"
            if code in _RETRYABLE_CODES or status >= 500:
                return TransientError(text), True
            if code == "InvalidChangeBatch" and any(marker in message for marker in _STALE_MARKERS):
                return StaleChangesError(f"{text} (the zone changed since the plan)"), False
            if code == "AccessDenied":
                return PermanentError(
                    f"{text} (the credentials need route53:ListHostedZonesByName, "
                    "route53:ListResourceRecordSets and route53:ChangeResourceRecordSets; with "
                    "spec.dns.policy.healthCheck also route53:CreateHealthCheck, route53:DeleteHealthCheck, "
                    "route53:ListHealthChecks, route53:ChangeTagsForResource, "
                    "route53:ListTagsForResources and route53:GetHealthCheckStatus)"
                ), False
            if code in _REJECTED_CODES:
                # What the batch holds, not who sent it: another batch would go through.
                return RejectedChangeError(text), False
            return PermanentError(text), False
        if isinstance(exc, BotoConnectionError | HTTPClientError):
            return TransientError(f"{what} failed: {exc}"), True
        if isinstance(exc, _CREDENTIAL_ERRORS):
            return PermanentError(f"{what}: no usable AWS credentials: {exc}"), False
        return PermanentError(f"{what} failed: {type(exc).__name__}: {exc}"), False


def _owner_of(record: RecordSet, state: ZoneState, changes: Changes) -> str | None:
    """The owner (``<namespace>/<name>``) the ownership record of ``record`` names, in ``changes`` (a new
    group) or else in the zone as read; None when neither says."""
    at = ownership_name(record.name, record.type)
    for candidate in (*changes.create, *changes.update_new):
        if candidate.name == at:
            tag = read_owner([candidate])
            return tag.owner if tag is not None else None
    held = state.records.get((at, "TXT"))
    tag = read_owner([held]) if held is not None else None
    return tag.owner if tag is not None else None
