"""The Route 53 provider: one public hosted zone, through an injected boto3 ``route53`` client.

- **Hosted zone.** Given by id, or looked up once by the zone's name with ``ListHostedZonesByName`` (exact
  name, public zones only; none, or several public zones of that name, is a
  ``PermanentError`` naming the zone).
- **Reading** pages through ``ListResourceRecordSets`` (300 record sets a page) and keeps A, AAAA, CNAME and
  TXT record sets. Route 53 writes names with octal escapes (``\\052`` for ``*``) and TXT values as quoted
  character-strings (``"abc" "def"``, with ``\\"``, ``\\\\`` and ``\\ooo`` escapes); both are unescaped, and
  the strings of one TXT value joined, so what is read back equals what was planned.
- **Alias and routing-policy record sets** (``AliasTarget``, ``SetIdentifier``, ``TrafficPolicyInstanceId``)
  cannot be expressed as a ``RecordSet``, and the operator never writes
  them. Each (name, type) holding one is listed as a *stand-in*: TTL 0 and the value ``0.0.0.0`` (A), ``::``
  (AAAA), ``alias.invalid.`` (CNAME) or ``route53 alias or routing-policy record set`` (TXT). The stand-in
  occupies its name and type for the diff, and has no ownership record, so
  :func:`~federation_operator.planning.zone_diff.plan_changes` treats it as foreign: reported as a conflict
  when wanted, never deleted. A plan that touches one anyway is refused with a ``PermanentError``. A record
  set listed twice under one name and type, or with values that are no such data (an A without an address),
  is listed as a stand-in too.

**Writing.** A ``Changes`` becomes ``ChangeResourceRecordSets`` requests:

==========================  =========================================================================
change                      Route 53 changes
==========================  =========================================================================
delete ``old``              ``DELETE`` of ``old`` exactly as held (TTL and every value)
update ``old`` → ``new``    ``DELETE`` of ``old`` exactly as held, then ``CREATE`` of ``new``
create ``new``              ``CREATE`` of ``new``
==========================  =========================================================================

Updates are ``DELETE`` + ``CREATE`` rather than ``UPSERT``: Route 53 checks that a ``DELETE`` names the
current record set exactly and that a ``CREATE`` finds none, and applies a batch all or nothing, so a plan
made against a zone that changed in between fails whole (→ :class:`StaleChangesError`) instead of silently
overwriting someone's edit. It costs Route 53's quota the same as an ``UPSERT``, which counts twice.

All changes about one name (its record sets and their ownership records, so an A → CNAME switch too) travel in
one batch, so resolvers never see the name empty or holding both. Names are packed in order into as few
batches as Route 53 accepts: at most 1,000 ``ResourceRecord`` values and 32,000 characters of values per
request, an ``UPSERT`` counting twice (:func:`plan_batches`). Each batch is atomic; a plan of several is not,
so after an error the caller reads the zone again before planning anew. ``apply`` returns the number of
requests it sent: one per batch, plus any retries, plus the reading it needed (an empty plan sends none).

**Rules our own code enforces.** Real Route 53 refuses a CNAME beside other data at one name, a ``DELETE``
that does not match the current record set, a ``CREATE`` of a record set that exists, and applies a batch all
or nothing. moto's server (our test double) does none of these faithfully: it stores a CNAME beside an A,
duplicates a record set on ``CREATE``, checks a ``DELETE`` against its change journal instead of the zone,
and applies a failing batch partially. So before the first request the provider checks the *whole* plan
against the zone as it last read it (by :meth:`Route53Provider.records`, kept up to date by its own
successful batches; read afresh by ``apply`` when there is no such reading):

- a deletion or update whose record set is not held exactly, or a creation that finds one:
  :class:`StaleChangesError`, nothing sent;
- a name that would hold a CNAME beside other data (of any type, foreign or ours): ``PermanentError`` naming
  the name, nothing sent;
- a change to an alias or routing-policy record set: ``PermanentError``, nothing sent.

Between that reading and the request, Route 53 itself has the last word: its ``InvalidChangeBatch`` answers
"was not found", "values provided do not match" and "already exists" become :class:`StaleChangesError`.

**Errors**, mapped once here with ``raise ... from exc``. ``Throttling``, ``PriorRequestNotComplete``,
``ServiceUnavailable``, any 5xx and connection failures or timeouts are retried with jittered exponential
backoff up to ``max_retries`` times, then raised as ``TransientError``;
``InvalidChangeBatch``, ``InvalidInput``, ``NoSuchHostedZone``, ``AccessDenied``, missing credentials and
every other refusal are permanent. Blocking boto3 calls run in :func:`asyncio.to_thread` (boto3 clients are
thread-safe), one request at a time per provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

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
    RecordType,
    cname_clashes,
    normalize_name,
)

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53.literals import ChangeActionType
    from mypy_boto3_route53.type_defs import (
        ChangeTypeDef,
        ListHostedZonesByNameRequestTypeDef,
        ListHostedZonesByNameResponseTypeDef,
        ListResourceRecordSetsRequestTypeDef,
        ListResourceRecordSetsResponseTypeDef,
        ResourceRecordSetOutputTypeDef,
        ResourceRecordSetTypeDef,
    )

__all__ = [
    "MAX_BATCH_CHARACTERS",
    "MAX_BATCH_VALUES",
    "MAX_VALUE_CHARACTERS",
    "Batch",
    "Route53Provider",
    "build_route53",
    "change_cost",
    "parse_route53_name",
    "parse_txt_value",
    "plan_batches",
    "render_txt_value",
]

T = TypeVar("T")

MAX_BATCH_VALUES: Final = 1000
"""Route 53's limit on ``ResourceRecord`` elements in one ``ChangeResourceRecordSets`` request."""
MAX_BATCH_CHARACTERS: Final = 32_000
"""Route 53's limit on the characters of all ``Value`` elements in one request."""
MAX_VALUE_CHARACTERS: Final = 4000
"""Route 53's limit on one ``Value`` element (a TXT value with its quotes and escapes)."""

_TXT_CHUNK = 255  # a TXT character-string holds at most 255 octets
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
_STALE_MARKERS = ("not found", "values provided do not match", "already exists")
_CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)
_STAND_INS: Mapping[RecordType, str] = {
    "A": "0.0.0.0",
    "AAAA": "::",
    "CNAME": "alias.invalid.",
    "TXT": "route53 alias or routing-policy record set",
}
_SPECIAL_KEYS = ("AliasTarget", "SetIdentifier", "TrafficPolicyInstanceId")


class Route53Provider:
    """One public Route 53 hosted zone, behind the narrow :class:`~federation_operator.dns.DnsProvider` API.

    ``client`` is a boto3 ``route53`` client (tests point one at moto's server with ``endpoint_url``); give it
    no retries of its own (``Config(retries={"total_max_attempts": 1})``, as :func:`build_route53` does), so
    that ``max_retries`` is the only retry policy. ``sleep`` waits between retries (injectable for tests).
    ``requests_sent`` counts every request sent to Route 53 over the provider's life, retries included.
    """

    def __init__(
        self,
        client: Route53Client,
        *,
        zone: str,
        hosted_zone_id: str | None = None,
        max_retries: int = 5,
        backoff_base: float = 0.2,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_retries < 0:
            raise PermanentError(f"route53: max_retries must be 0 or more, got {max_retries}")
        if backoff_base < 0:
            raise PermanentError(f"route53: backoff_base must be 0 or more, got {backoff_base}")
        self._client = client
        self._zone = normalize_name(zone)
        # Route 53 accepts both "Z123" and "/hostedzone/Z123"; the short form reads better in messages.
        self._zone_id = hosted_zone_id.rsplit("/", 1)[-1] if hosted_zone_id else None
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._sleep = sleep
        self._state: _ZoneState | None = None
        # One request at a time: the zone state is read, checked and advanced in step with the requests.
        self._lock = asyncio.Lock()
        self.requests_sent = 0

    @property
    def zone(self) -> str:
        return self._zone

    @property
    def hosted_zone_id(self) -> str | None:
        """The hosted zone's id (``Z...``), once given or looked up."""
        return self._zone_id

    def __repr__(self) -> str:
        return f"Route53Provider(zone={self._zone}, hosted_zone_id={self._zone_id or '(by name)'})"

    # --- reading -------------------------------------------------------------------------------------------

    async def records(self) -> list[RecordSet]:
        async with self._lock:
            self._state = await self._read()
            return sorted(self._state.records.values())

    async def _read(self) -> _ZoneState:
        zone_id = await self._hosted_zone()
        state = _ZoneState()
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

    async def apply(self, changes: Changes) -> int:
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
                for batch in batches:
                    await self._send(zone_id, batch)
                    self._state.apply(batch.changes)
            except BaseException:
                # Route 53 refused, or a request failed or was cancelled in flight (applied or not, unknown):
                # the zone is no longer what this provider last read, so the next apply reads it again.
                self._state = None
                raise
            return self.requests_sent - before

    async def _send(self, zone_id: str, batch: Batch) -> None:
        changes = list(batch.request)
        await self._call(
            "ChangeResourceRecordSets",
            lambda: self._client.change_resource_record_sets(
                HostedZoneId=zone_id, ChangeBatch={"Comment": "federation-operator", "Changes": changes}
            ),
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
                    "route53:ListResourceRecordSets and route53:ChangeResourceRecordSets)"
                ), False
            return PermanentError(text), False
        if isinstance(exc, BotoConnectionError | HTTPClientError):
            return TransientError(f"{what} failed: {exc}"), True
        if isinstance(exc, _CREDENTIAL_ERRORS):
            return PermanentError(f"{what}: no usable AWS credentials: {exc}"), False
        return PermanentError(f"{what} failed: {type(exc).__name__}: {exc}"), False


def build_route53(zone: str, options: Mapping[str, str]) -> Route53Provider:
    """The Route 53 provider for ``zone``, from the operator's string options (a factory builder).

    Options: ``hosted_zone_id`` (else looked up by the zone's name), ``endpoint_url`` (a Route 53 compatible
    endpoint, such as a local moto server), ``region`` (for request signing; Route 53 is global, so by default
    the environment's region or ``us-east-1``), ``max_retries`` (5), ``backoff_base`` (0.2 s) and
    ``timeout`` (connect and read timeout, 10 s). Credentials come from boto3's standard chain (environment
    variables, typically from a Secret; a web identity token for IRSA; shared files; instance metadata) and
    never from options, so they never reach the settings object or its logs.
    """
    import boto3  # noqa: PLC0415 (boto3 is loaded when Route 53 is chosen)
    from botocore.config import Config  # noqa: PLC0415

    check_options(
        "route53",
        options,
        required=(),
        optional=("hosted_zone_id", "endpoint_url", "region", "max_retries", "backoff_base", "timeout"),
    )
    max_retries = number_option("route53", options, "max_retries", int, 5)
    backoff_base = number_option("route53", options, "backoff_base", float, 0.2)
    timeout = number_option("route53", options, "timeout", float, 10.0)
    if timeout <= 0:
        raise PermanentError(f"DNS provider route53: option timeout must be positive, got {timeout:g}")
    session = boto3.session.Session(region_name=options.get("region") or None)
    client = session.client(
        "route53",
        region_name=session.region_name or "us-east-1",
        endpoint_url=options.get("endpoint_url") or None,
        # botocore's own retries would multiply ours (5 by 5 attempts under throttling): ours are the policy.
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=timeout, read_timeout=timeout),
    )
    return Route53Provider(
        client,
        zone=zone,
        hosted_zone_id=options.get("hosted_zone_id") or None,
        max_retries=max_retries,
        backoff_base=backoff_base,
    )


# --- the zone as the provider knows it ---------------------------------------------------------------------


@dataclass
class _ZoneState:
    """The hosted zone as last read, advanced by the provider's own successful batches."""

    records: dict[RecordKey, RecordSet] = field(default_factory=dict)
    special: set[RecordKey] = field(default_factory=set)
    """Keys listed as stand-ins: alias and routing-policy record sets, or record sets Route 53 lists oddly."""
    types_at: dict[str, set[str]] = field(default_factory=dict)
    """Every record type at every name, unmanaged ones (MX, SRV, NS...) too: CNAME exclusivity needs them."""

    def add(self, rrset: ResourceRecordSetOutputTypeDef) -> None:
        name = parse_route53_name(rrset["Name"])
        rtype = rrset["Type"]
        self.types_at.setdefault(name, set()).add(rtype)
        if rtype not in RECORD_TYPES:
            return
        key: RecordKey = (name, rtype)
        record = None
        if key not in self.records and not any(k in rrset for k in _SPECIAL_KEYS):
            record = _record_of(name, rtype, rrset)
        if record is None:
            self.special.add(key)
            record = RecordSet(name=name, type=rtype, ttl=0, values=(_STAND_INS[rtype],))
        self.records[key] = record

    def check(self, changes: Changes) -> None:
        """Raise unless the whole of ``changes`` applies to this zone as Route 53 would apply it."""
        removed: dict[RecordKey, RecordSet] = {}
        for record in (*changes.delete, *changes.update_old):
            if record.key in removed:
                raise PermanentError(f"route53: the plan removes {record.name} {record.type} twice")
            removed[record.key] = record
            if record.key in self.special:
                raise PermanentError(
                    f"route53: {record.name} {record.type} is an alias or routing-policy record set, "
                    "which federation-operator never changes"
                )
            held = self.records.get(record.key)
            if held != record:
                found = f"the zone holds {held}" if held else "the zone holds no such record set"
                raise StaleChangesError(f"route53: cannot delete or update {record}: {found}")
        created: set[RecordKey] = set()
        for record in changes.create:
            if record.key in created:
                raise PermanentError(f"route53: the plan creates {record.name} {record.type} twice")
            created.add(record.key)
            if record.key in self.special or (record.key in self.records and record.key not in removed):
                raise StaleChangesError(
                    f"route53: cannot create {record}: the zone already holds {record.type}"
                )
        clashes = cname_clashes(self.types_at, changes)
        if clashes:
            name, others = clashes[0]
            raise PermanentError(
                f"route53: {name} would hold a CNAME beside {', '.join(others)}, "
                "which Route 53 refuses; nothing was sent"
            )

    def apply(self, changes: Changes) -> None:
        """Advance the state by ``changes``, which Route 53 has just applied (after :meth:`check`)."""
        for record in changes.delete:
            del self.records[record.key]
            types = self.types_at[record.name]
            types.discard(record.type)
            if not types:
                del self.types_at[record.name]
        for record in (*changes.update_new, *changes.create):
            self.records[record.key] = record
            self.types_at.setdefault(record.name, set()).add(record.type)


def _record_of(name: str, rtype: RecordType, rrset: ResourceRecordSetOutputTypeDef) -> RecordSet | None:
    """The record set Route 53 listed, or ``None`` when it is no plain record set (listed as a stand-in)."""
    raw = [item["Value"] for item in rrset.get("ResourceRecords", [])]
    if rtype == "TXT":
        values = [parse_txt_value(value) for value in raw]
    elif rtype == "CNAME":
        values = [parse_route53_name(value) for value in raw]
    else:
        values = raw
    try:
        return RecordSet(name=name, type=rtype, ttl=rrset.get("TTL", 0), values=tuple(values))
    except ValueError:  # no values, or values no resolver would read as such: foreign, whatever they are
        return None


# --- batches (pure) ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """One ``ChangeResourceRecordSets`` request: the part of a plan it carries, and its Route 53 changes."""

    changes: Changes
    request: tuple[ChangeTypeDef, ...]


@dataclass
class _Group:
    """Every change about one name: its record sets and their ownership records."""

    delete: list[RecordSet] = field(default_factory=list)
    updates: list[tuple[RecordSet, RecordSet]] = field(default_factory=list)
    create: list[RecordSet] = field(default_factory=list)

    def request(self) -> list[ChangeTypeDef]:
        # DELETEs first: an A → CNAME switch must free the name before the CNAME arrives.
        deletes = [*self.delete, *(old for old, _ in self.updates)]
        creates = [*(new for _, new in self.updates), *self.create]
        return [*(_change("DELETE", r) for r in deletes), *(_change("CREATE", r) for r in creates)]


def plan_batches(
    changes: Changes, *, max_values: int = MAX_BATCH_VALUES, max_characters: int = MAX_BATCH_CHARACTERS
) -> list[Batch]:
    """``changes`` as Route 53 requests, each within the limits; all changes about one name in one request.

    Names are packed greedily in name order (an ownership record goes with the name it stands for). Raises
    :class:`PermanentError` when the changes about one name exceed a limit on their own, or a value is longer
    than Route 53 accepts.
    """
    groups = {
        name: _Group(delete=list(part.delete), updates=list(part.updates), create=list(part.create))
        for name, part in group_changes_by_name(changes)
    }

    batches: list[Batch] = []
    pending: list[_Group] = []
    values = characters = 0
    for name in sorted(groups):
        group = groups[name]
        group_values, group_characters = change_cost(group.request())
        if group_values > max_values or group_characters > max_characters:
            raise PermanentError(
                f"route53: the changes at {name} need {group_values} values and {group_characters} "
                f"characters, more than one request may carry ({max_values} and {max_characters})"
            )
        if pending and (values + group_values > max_values or characters + group_characters > max_characters):
            batches.append(_batch(pending))
            pending, values, characters = [], 0, 0
        pending.append(group)
        values += group_values
        characters += group_characters
    if pending:
        batches.append(_batch(pending))
    return batches


def change_cost(request: Iterable[ChangeTypeDef]) -> tuple[int, int]:
    """What ``request`` costs against Route 53's limits: (``ResourceRecord`` values, characters of values).

    Route 53 counts every value, and every character of it, twice in an ``UPSERT``.
    """
    values = characters = 0
    for change in request:
        weight = 2 if change["Action"] == "UPSERT" else 1
        records = change["ResourceRecordSet"].get("ResourceRecords", ())
        values += weight * len(records)
        characters += weight * sum(len(item["Value"]) for item in records)
    return values, characters


def _batch(groups: Sequence[_Group]) -> Batch:
    updates = [pair for group in groups for pair in group.updates]
    return Batch(
        changes=Changes(
            create=tuple(record for group in groups for record in group.create),
            update_old=tuple(old for old, _ in updates),
            update_new=tuple(new for _, new in updates),
            delete=tuple(record for group in groups for record in group.delete),
        ),
        request=tuple(change for group in groups for change in group.request()),
    )


def _change(action: ChangeActionType, record: RecordSet) -> ChangeTypeDef:
    values = [render_txt_value(v) for v in record.values] if record.type == "TXT" else list(record.values)
    for value in values:
        if len(value) > MAX_VALUE_CHARACTERS:
            raise PermanentError(
                f"route53: a {record.type} value at {record.name} is {len(value)} characters long once "
                f"quoted; Route 53 takes at most {MAX_VALUE_CHARACTERS}"
            )
    rrset: ResourceRecordSetTypeDef = {
        "Name": record.name,
        "Type": record.type,
        "TTL": record.ttl,
        "ResourceRecords": [{"Value": value} for value in values],
    }
    return {"Action": action, "ResourceRecordSet": rrset}


# --- Route 53's text forms (pure) --------------------------------------------------------------------------


def render_txt_value(text: str) -> str:
    """One TXT value as Route 53 takes it: quoted character-strings of at most 255 octets each.

    ``"`` and ``\\`` are escaped with a backslash, octets outside printable ASCII as ``\\ooo`` (octal).
    """
    raw = text.encode()
    chunks = [raw[i : i + _TXT_CHUNK] for i in range(0, len(raw), _TXT_CHUNK)] or [b""]
    return " ".join(f'"{"".join(_escape_octet(octet) for octet in chunk)}"' for chunk in chunks)


def parse_txt_value(value: str) -> str:
    """The text of one TXT value as Route 53 lists it: its character-strings unescaped and joined.

    Strings are usually quoted; an unquoted one runs to the next blank.
    """
    out = bytearray()
    i, end = 0, len(value)
    while i < end:
        if value[i].isspace():
            i += 1
            continue
        quoted = value[i] == '"'
        if quoted:
            i += 1
        while i < end:
            char = value[i]
            if (quoted and char == '"') or (not quoted and char.isspace()):
                i += 1
                break
            if char == "\\" and i + 1 < end:
                octet, i = _unescape_at(value, i)
                out.append(octet)
                continue
            out += char.encode()
            i += 1
    return out.decode(errors="backslashreplace")


def parse_route53_name(name: str) -> str:
    """A name as Route 53 lists it (``\\052.example.com.``), unescaped and normalized (``*.example.com.``).

    An escaped dot inside a label (``\\056``) cannot be told apart once unescaped; the operator publishes no
    such name, and a foreign one only has to stay distinct from ours, which it does.
    """
    out = bytearray()
    i = 0
    while i < len(name):
        if name[i] == "\\" and i + 1 < len(name):
            octet, i = _unescape_at(name, i)
            out.append(octet)
        else:
            out += name[i].encode()
            i += 1
    return normalize_name(out.decode(errors="backslashreplace"))


def _escape_octet(octet: int) -> str:
    if octet in (0x22, 0x5C):  # " and \
        return f"\\{chr(octet)}"
    if 0x20 <= octet <= 0x7E:
        return chr(octet)
    return f"\\{octet:03o}"


def _unescape_at(text: str, i: int) -> tuple[int, int]:
    """The octet escaped at ``text[i]`` (a backslash) and the index after the escape."""
    digits = text[i + 1 : i + 4]
    if len(digits) == 3 and all(d in "01234567" for d in digits) and int(digits, 8) <= 0xFF:
        return int(digits, 8), i + 4
    escaped = text[i + 1].encode()
    if len(escaped) == 1:
        return escaped[0], i + 2
    # A backslash before a non-ASCII character: keep the backslash, the character follows as usual.
    return 0x5C, i + 1
