"""An in-process fake of the Google Cloud DNS v1 REST API, for tests.

``FakeCloudDns`` serves the JSON API that ``google.cloud.dns.Client`` (and any other client of
``https://dns.googleapis.com/dns/v1``) speaks, from a thread on 127.0.0.1, so the operator's Cloud DNS
provider can be tested against the real client library without network access or credentials::

    with FakeCloudDns(projects=["my-project"]) as fake:
        client = google.cloud.dns.Client(
            project="my-project",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": fake.endpoint},
        )

What it models, because provider code depends on it:

* managedZones create/get/list/delete. A new zone gets the apex SOA and NS record sets (recorded as
  change "0", as the real service does); deleting a zone that holds anything else fails with
  ``containerNotEmpty``.
* resourceRecordSets list (``name``/``type`` filters) and get; a record set holds ``rrdatas`` or a
  ``routingPolicy`` (``wrr``, ``geo`` or ``primaryBackup``, checked as the API documents: exactly one kind,
  never beside ``rrdatas``, ``wrr`` weights non-negative, ``geo`` locations unique Google Cloud region names
  and ``enableFencing`` a boolean, every item with valid rrdatas or health-checked targets, not both;
  ``primaryBackup`` with ``primaryTargets`` (external endpoints: IP addresses of the record set's type) and
  ``backupGeoTargets`` (a ``geo`` policy), ``trickleTraffic`` from 0 to 1; external endpoints only with the
  policy's ``healthCheck``, a Compute Engine health check's URL; internal load balancers refused, as every
  zone here is public), stored and returned as sent and compared as a whole by a deletion.
* changes create/get/list. A change is validated completely against the current state and then applied
  as a whole, or not at all, with the error reasons and HTTP statuses of the real API
  (``invalid``, ``invalidRecordCount``, ``notFound``, ``conditionNotMet``, ``alreadyExists``,
  ``invalidZoneApex``, ``cnameResourceRecordSetConflict``).
* projects.get with the project's ``quota``; changes are held to two of its quotas, as the real service
  holds them: ``resourceRecordsPerRrset`` (100 records in one record set) and ``rrsetsPerManagedZone``
  (10,000 record sets in one zone), both refused with 403 ``quotaExceeded`` and nothing applied (the
  reason Google APIs give for a quota; the message wording is ours). A change that leaves a zone already
  over its quota no fuller (a deletion, an update) is accepted.
* Paging with ``maxResults``/``pageToken``/``nextPageToken`` on every list method.
* Errors in the standard Google JSON envelope, so ``google.api_core.exceptions`` carry the reason in
  ``exc.errors[0]["reason"]``.

Test hooks: ``calls`` (a Counter keyed by API method name such as ``"changes.create"``),
``changes_applied``, ``requests`` (every request received), ``fail_next()`` to inject error responses,
and ``apply_change()``/``seed_zone()``/``rrsets()`` to set up and inspect state without HTTP; ``answer()``
says what a client in a given Google Cloud region is answered (a ``geo`` policy's nearest item; a
``primaryBackup`` policy's primary targets while one passes the health check, else its backup), and
``set_endpoint_health()`` plays the health checks' verdict on an external endpoint.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import json
import math
import re
import socket
import threading
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NotRequired, TypedDict, TypeVar, cast
from urllib.parse import parse_qs, unquote, urlsplit

# The record types Cloud DNS accepts in a ResourceRecordSet.
KNOWN_TYPES = frozenset(
    {"A", "AAAA", "CAA", "CNAME", "DNSKEY", "DS", "HTTPS", "IPSECKEY", "MX", "NAPTR", "NS", "PTR", "SOA"}
    | {"SPF", "SRV", "SSHFP", "SVCB", "TLSA", "TXT"}
)
# DNS allows only one record in these sets; Cloud DNS rejects more with invalidRecordCount.
SINGLE_RECORD_TYPES = frozenset({"CNAME", "SOA"})
# Every zone must keep exactly one of each of these at its apex.
APEX_TYPES = ("SOA", "NS")

DEFAULT_PROJECT = "fake-project"
DEFAULT_NAME_SERVERS = (
    "ns-cloud-a1.googledomains.com.",
    "ns-cloud-a2.googledomains.com.",
    "ns-cloud-a3.googledomains.com.",
    "ns-cloud-a4.googledomains.com.",
)
APEX_TTL = 21600
SOA_TAIL = "cloud-dns-hostmaster.google.com. 1 21600 3600 259200 300"

# The API method names, used as keys of FakeCloudDns.calls and as fail_next(route=...).
ROUTE_NAMES = frozenset(
    {
        "managedZones.create",
        "managedZones.get",
        "managedZones.list",
        "managedZones.delete",
        "resourceRecordSets.list",
        "resourceRecordSets.get",
        "changes.create",
        "changes.get",
        "changes.list",
        "projects.get",
    }
)
UNKNOWN_ROUTE = "unknown"

_HOST = "127.0.0.1"  # never listen beyond loopback
_API_PREFIX = "/dns/v1/projects/"
# (HTTP method, path shape below the prefix, API method name); "{x}" captures a path segment.
_ROUTES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("GET", ("{project}",), "projects.get"),
    ("POST", ("{project}", "managedZones"), "managedZones.create"),
    ("GET", ("{project}", "managedZones"), "managedZones.list"),
    ("GET", ("{project}", "managedZones", "{zone}"), "managedZones.get"),
    ("DELETE", ("{project}", "managedZones", "{zone}"), "managedZones.delete"),
    ("GET", ("{project}", "managedZones", "{zone}", "rrsets"), "resourceRecordSets.list"),
    ("GET", ("{project}", "managedZones", "{zone}", "rrsets", "{name}", "{type}"), "resourceRecordSets.get"),
    ("POST", ("{project}", "managedZones", "{zone}", "changes"), "changes.create"),
    ("GET", ("{project}", "managedZones", "{zone}", "changes"), "changes.list"),
    ("GET", ("{project}", "managedZones", "{zone}", "changes", "{change}"), "changes.get"),
)

# The reason a fault carries when fail_next() is not given one: what the real front end sends.
_DEFAULT_FAULT_REASONS = {
    400: "badRequest",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "internalError",
    503: "backendError",
}

_ZONE_NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_INTEGER_RE = re.compile(r"^-?[0-9]+$")
_GCP_REGION_RE = re.compile(r"^[a-z]+(?:-[a-z]+)+[0-9]+$")  # us-east1, northamerica-northeast1
# RRSetRoutingPolicy.healthCheck: "the fully qualified URL of the HealthCheck ... like
# https://www.googleapis.com/compute/v1/projects/{project}/global/healthChecks/{healthCheck}".
_HEALTH_CHECK_URL_RE = re.compile(
    r"^https://www\.googleapis\.com/compute/v1/projects/[a-z][-a-z0-9.:]{4,61}[a-z0-9]"
    r"/global/healthChecks/[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"
)

# Where some Google Cloud regions are (latitude, longitude of their metro, roughly): enough for ``answer`` to
# pick the nearest geo item, as Cloud DNS does for a client in a region no item names.
GCP_REGION_COORDINATES: Mapping[str, tuple[float, float]] = {
    "us-central1": (41.3, -95.9),
    "us-east1": (33.2, -80.0),
    "us-east4": (39.0, -77.5),
    "us-west1": (45.6, -121.2),
    "us-west2": (34.1, -118.2),
    "northamerica-northeast1": (45.5, -73.6),
    "southamerica-east1": (-23.5, -46.6),
    "europe-west1": (50.4, 3.8),
    "europe-west2": (51.5, -0.1),
    "europe-west3": (50.1, 8.7),
    "europe-west4": (53.4, 6.8),
    "europe-north1": (60.6, 27.2),
    "asia-east1": (24.1, 120.5),
    "asia-east2": (22.3, 114.2),
    "asia-northeast1": (35.7, 139.7),
    "asia-south1": (19.1, 72.9),
    "asia-southeast1": (1.3, 103.8),
    "australia-southeast1": (-33.9, 151.2),
}

_T = TypeVar("_T")
RRKey = tuple[str, str]  # (lower-cased owner name, type): DNS names compare case-insensitively.


class RecordSetJson(TypedDict):
    kind: str
    name: str
    type: str
    ttl: int
    rrdatas: NotRequired[list[str]]
    routingPolicy: NotRequired[dict[str, Any]]


class ZoneJson(TypedDict):
    kind: str
    name: str
    dnsName: str
    description: str
    id: str
    nameServers: list[str]
    creationTime: str
    visibility: str
    nameServerSet: NotRequired[str]


class ChangeJson(TypedDict):
    kind: str
    id: str
    startTime: str
    status: str
    additions: NotRequired[list[RecordSetJson]]
    deletions: NotRequired[list[RecordSetJson]]


class ApiError(Exception):
    """An error response of the API: HTTP status plus the Google error ``reason``."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    def body(self) -> dict[str, Any]:
        error = {"domain": "global", "reason": self.reason, "message": self.message}
        return {"error": {"code": self.status, "message": self.message, "errors": [error]}}


def _invalid(path: str, value: object) -> ApiError:
    return ApiError(400, "invalid", f"Invalid value for '{path}': '{value}'")


def _required(path: str) -> ApiError:
    return ApiError(400, "required", f"The '{path}' parameter is required but was missing.")


def _now_rfc3339() -> str:
    # The client parses timestamps with "%Y-%m-%dT%H:%M:%S.%fZ", so keep the fraction and the "Z".
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class RecordSet:
    """One stored resource record set."""

    name: str
    type: str
    ttl: int
    rrdatas: tuple[str, ...]
    """The record set's data; with a routing policy, the union of its items' (what quotas count)."""
    routing_policy: str | None = None
    """The routing policy as canonical JSON (sorted keys), or None for static data."""

    @property
    def key(self) -> RRKey:
        return (self.name.lower(), self.type)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.type})"

    def same_data(self, other: RecordSet) -> bool:
        """Whether a deletion of ``other`` matches this set: the API compares rrdatas as a set, and a routing
        policy as a whole."""
        if self.routing_policy is not None or other.routing_policy is not None:
            return (
                self.key == other.key
                and self.ttl == other.ttl
                and self.routing_policy == other.routing_policy
            )
        return (
            self.key == other.key and self.ttl == other.ttl and sorted(self.rrdatas) == sorted(other.rrdatas)
        )

    def to_json(self) -> RecordSetJson:
        rrset: RecordSetJson = {
            "kind": "dns#resourceRecordSet",
            "name": self.name,
            "type": self.type,
            "ttl": self.ttl,
        }
        if self.routing_policy is not None:
            rrset["routingPolicy"] = json.loads(self.routing_policy)
        else:
            rrset["rrdatas"] = list(self.rrdatas)
        return rrset


@dataclass(frozen=True)
class ChangeRecord:
    """One applied change, as changes.get/list report it."""

    id: str
    start_time: str
    additions: tuple[RecordSet, ...]
    deletions: tuple[RecordSet, ...]

    def to_json(self, status: str = "done") -> ChangeJson:
        result: ChangeJson = {
            "kind": "dns#change",
            "id": self.id,
            "startTime": self.start_time,
            "status": status,
        }
        # Like the real API (proto3 JSON), empty lists are left out rather than sent as [].
        if self.additions:
            result["additions"] = [rrset.to_json() for rrset in self.additions]
        if self.deletions:
            result["deletions"] = [rrset.to_json() for rrset in self.deletions]
        return result


@dataclass
class Zone:
    """A managed zone and everything in it."""

    project: str
    name: str
    dns_name: str
    description: str
    id: str
    creation_time: str
    name_servers: tuple[str, ...]
    name_server_set: str | None = None
    rrsets: dict[RRKey, RecordSet] = field(default_factory=dict)
    changes: list[ChangeRecord] = field(default_factory=list)

    @property
    def apex(self) -> str:
        return self.dns_name.lower()

    def contains_name(self, name: str) -> bool:
        lowered = name.lower()
        return lowered == self.apex or lowered.endswith("." + self.apex)

    def to_json(self) -> ZoneJson:
        result: ZoneJson = {
            "kind": "dns#managedZone",
            "name": self.name,
            "dnsName": self.dns_name,
            "description": self.description,
            "id": self.id,
            "nameServers": list(self.name_servers),
            "creationTime": self.creation_time,
            "visibility": "public",
        }
        if self.name_server_set is not None:
            result["nameServerSet"] = self.name_server_set
        return result


@dataclass
class Fault:
    """An error response queued by ``FakeCloudDns.fail_next``."""

    status: int
    reason: str
    message: str
    remaining: int
    route: str | None = None
    retry_after: int | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received (faulted ones included)."""

    method: str
    path: str
    route: str
    query: dict[str, str]
    body: Any


@dataclass(frozen=True)
class _Response:
    status: int
    payload: Any = None
    headers: tuple[tuple[str, str], ...] = ()


_Handler = Callable[[dict[str, str], dict[str, str], Any], tuple[int, Any]]


class FakeCloudDns:
    """A fake Cloud DNS v1 API served over HTTP on 127.0.0.1 (port chosen by the OS).

    ``projects`` lists the projects that exist; any other project is 404 ``notFound``.
    ``default_page_size`` is the page size list methods use when the request has no ``maxResults``
    (the real server picks its own; keep it small to exercise paging).
    ``bump_soa_serial`` makes every applied change (that does not itself replace the SOA) increment the
    apex SOA serial. Off by default: the real API leaves the SOA record set it returns alone and tools such
    as ``gcloud dns record-sets transaction`` bump it themselves, inside their change.
    """

    def __init__(
        self,
        projects: Iterable[str] = (DEFAULT_PROJECT,),
        *,
        default_page_size: int = 100,
        bump_soa_serial: bool = False,
        name_servers: Sequence[str] = DEFAULT_NAME_SERVERS,
        resource_records_per_rrset: int = 100,
        rrsets_per_managed_zone: int = 10_000,
    ) -> None:
        if default_page_size < 1:
            raise ValueError("default_page_size must be at least 1")
        self.default_page_size = default_page_size
        self.bump_soa_serial = bump_soa_serial
        self.name_servers = tuple(name_servers)
        # The project quotas projects.get reports and changes are held to (the real defaults).
        self.resource_records_per_rrset = resource_records_per_rrset
        self.rrsets_per_managed_zone = rrsets_per_managed_zone
        # Per change: record sets added, record sets deleted (settable by a test, to exercise the packing).
        self.rrset_additions_per_change = 1_000
        self.rrset_deletions_per_change = 1_000
        # An RLock so the public helpers can be used from inside handlers that already hold it.
        self._lock = threading.RLock()
        self._projects: dict[str, dict[str, Zone]] = {project: {} for project in projects}
        self._next_zone_id = 1_000_000_000_000_000_001
        self._faults: list[Fault] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.calls: Counter[str] = Counter()
        self.changes_applied = 0
        # Changes are "pending" in changes.create's answer and in this many changes.get of each after it,
        # then "done", as the real API reports a change not yet live on every name server (0: done at once).
        self.pending_polls = 0
        self._polls_left: dict[tuple[str, str, str], int] = {}
        # External endpoints the health checks find failing (set_endpoint_health): every other is healthy.
        self._failing_endpoints: set[str] = set()
        self.faults_served = 0
        self.requests: list[RecordedRequest] = []
        # Tracebacks of bugs in the fake itself (answered with 500), so a test can assert there were none.
        self.internal_errors: list[str] = []
        self._handlers: dict[str, _Handler] = {
            "managedZones.create": self._create_zone,
            "managedZones.get": self._get_zone,
            "managedZones.list": self._list_zones,
            "managedZones.delete": self._delete_zone,
            "resourceRecordSets.list": self._list_rrsets,
            "resourceRecordSets.get": self._get_rrset,
            "changes.create": self._create_change,
            "changes.get": self._get_change,
            "changes.list": self._list_changes,
            "projects.get": self._get_project,
        }

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeCloudDns:
        if self._server is not None:
            raise RuntimeError("FakeCloudDns is already running")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-clouddns",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        # Clients keep connections alive; close them so server_close() can join the handler threads.
        server.drop_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeCloudDns:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """Base URL to pass as ``client_options={"api_endpoint": ...}``."""
        if self._server is None:
            raise RuntimeError("FakeCloudDns is not running; call start() first")
        return f"http://{_HOST}:{self._server.server_port}"

    # -- test hooks --------------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 503,
        reason: str | None = None,
        *,
        count: int = 1,
        message: str | None = None,
        route: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``count`` requests (only those to ``route``, if given) with an error.

        Faults are served before the request is looked at, so nothing is changed by a faulted request,
        and they are consumed in the order they were queued. ``retry_after`` adds a Retry-After header.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status, not {status}")
        if count < 1:
            raise ValueError("count must be at least 1")
        if route is not None and route not in ROUTE_NAMES:
            raise ValueError(f"unknown route {route!r}; expected one of {sorted(ROUTE_NAMES)}")
        if reason is None:
            reason = _DEFAULT_FAULT_REASONS.get(status, "backendError" if status >= 500 else "badRequest")
        text = message if message is not None else f"Injected fault: {HTTPStatus(status).phrase}"
        with self._lock:
            self._faults.append(Fault(status, reason, text, count, route, retry_after))

    def clear_faults(self) -> None:
        """Drop every fault still queued by ``fail_next``: the service answers normally again."""
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return sum(fault.remaining for fault in self._faults)

    @property
    def total_calls(self) -> int:
        with self._lock:
            return self.calls.total()

    def reset_counters(self) -> None:
        """Forget calls, requests and changes_applied (state and queued faults stay)."""
        with self._lock:
            self.calls.clear()
            self.requests.clear()
            self.changes_applied = 0
            self.faults_served = 0

    def add_project(self, project: str) -> None:
        with self._lock:
            self._projects.setdefault(project, {})

    def seed_zone(self, project: str, name: str, dns_name: str, description: str = "") -> ZoneJson:
        """Create a zone without going through HTTP; not counted in ``calls``."""
        with self._lock:
            return self._insert_zone(project, {"name": name, "dnsName": dns_name, "description": description})

    def apply_change(
        self,
        project: str,
        zone: str,
        additions: Iterable[Mapping[str, Any]] = (),
        deletions: Iterable[Mapping[str, Any]] = (),
    ) -> ChangeJson:
        """Apply a change without going through HTTP, with the same rules; raises ``ApiError``.

        Meant for seeding state: it is recorded in the zone's change history but not counted in
        ``calls`` or ``changes_applied``.
        """
        body = {
            "additions": [dict(rrset) for rrset in additions],
            "deletions": [dict(rrset) for rrset in deletions],
        }
        with self._lock:
            return self._apply(self._zone(project, zone), body).to_json()

    def rrsets(self, project: str, zone: str) -> list[RecordSetJson]:
        """A snapshot of the zone's record sets, sorted by (name, type)."""
        with self._lock:
            found = self._zone(project, zone)
            return [found.rrsets[key].to_json() for key in sorted(found.rrsets)]

    def set_endpoint_health(self, address: str, *, healthy: bool) -> None:
        """Play the health checks' verdict on the external endpoint ``address`` (all pass by default)."""
        with self._lock:
            if healthy:
                self._failing_endpoints.discard(address)
            else:
                self._failing_endpoints.add(address)

    def answer(self, project: str, zone: str, name: str, rtype: str, *, client_region: str) -> list[str]:
        """What Cloud DNS answers a client in Google Cloud region ``client_region`` for ``name``/``rtype``:
        a plain record set's rrdatas; under a ``geo`` policy the item of that region, else of the nearest
        region that has one (by :data:`GCP_REGION_COORDINATES`; Cloud DNS has no default location); under
        ``wrr`` every item's rrdatas (the shares are a matter of frequency, not modelled); under
        ``primaryBackup`` the primary external endpoints that pass their health check
        (:meth:`set_endpoint_health`), and while none does, the backup ``geo`` policy's answer (trickled
        traffic is a matter of frequency, not modelled). [] when the name holds no such record set."""
        with self._lock:
            found = self._zone(project, zone).rrsets.get((name.lower(), rtype))
            failing = set(self._failing_endpoints)
        if found is None:
            return []
        if found.routing_policy is None:
            return list(found.rrdatas)
        policy = json.loads(found.routing_policy)
        if "primaryBackup" in policy:
            primary = policy["primaryBackup"]["primaryTargets"].get("externalEndpoints", [])
            healthy = [address for address in primary if address not in failing]
            if healthy:
                return healthy
            return _geo_answer(policy["primaryBackup"]["backupGeoTargets"], client_region, failing)
        if "geo" not in policy:
            return list(found.rrdatas)
        return _geo_answer(policy["geo"], client_region, failing)

    def zones(self, project: str) -> list[ZoneJson]:
        with self._lock:
            return [zone.to_json() for _, zone in sorted(self._project(project).items())]

    # -- request handling --------------------------------------------------------------------------

    def handle(self, method: str, target: str, raw_body: bytes) -> _Response:
        """Answer one HTTP request; called by the server threads."""
        split = urlsplit(target)
        route, args = _match_route(method, split.path)
        query = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        body, body_error = _decode_body(raw_body)
        with self._lock:
            self.calls[route or UNKNOWN_ROUTE] += 1
            self.requests.append(RecordedRequest(method, split.path, route or UNKNOWN_ROUTE, query, body))
            fault = self._take_fault(route)
        if fault is not None:
            headers = (("Retry-After", str(fault.retry_after)),) if fault.retry_after is not None else ()
            return _Response(
                fault.status, ApiError(fault.status, fault.reason, fault.message).body(), headers
            )
        try:
            if route is None:
                raise ApiError(404, "notFound", f"No such API method: {method} {split.path}")
            if body_error is not None:
                raise body_error
            with self._lock:
                status, payload = self._handlers[route](args, query, body)
            return _Response(status, payload)
        except ApiError as error:
            return _Response(error.status, error.body())
        except Exception:  # a bug in the fake: answer like the real backend would, and keep the evidence
            details = traceback.format_exc()
            with self._lock:
                self.internal_errors.append(details)
            return _Response(500, ApiError(500, "internalError", details.splitlines()[-1]).body())

    def _take_fault(self, route: str | None) -> Fault | None:
        for fault in self._faults:
            if fault.route is None or fault.route == route:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                self.faults_served += 1
                return fault
        return None

    # -- lookups -----------------------------------------------------------------------------------

    def _project(self, project: str) -> dict[str, Zone]:
        zones = self._projects.get(project)
        if zones is None:
            raise ApiError(
                404, "notFound", f"The 'parameters.project' resource named '{project}' does not exist."
            )
        return zones

    def _zone(self, project: str, ref: str) -> Zone:
        zones = self._project(project)
        # The API accepts a zone's name or its numeric id wherever it takes a managedZone.
        zone = zones.get(ref) or next((zone for zone in zones.values() if zone.id == ref), None)
        if zone is None:
            raise ApiError(
                404, "notFound", f"The 'parameters.managedZone' resource named '{ref}' does not exist."
            )
        return zone

    # -- managedZones ------------------------------------------------------------------------------

    def _create_zone(self, args: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        return 200, self._insert_zone(args["project"], body)

    def _insert_zone(self, project: str, body: Any) -> ZoneJson:
        zones = self._project(project)
        request = _require_mapping(body, "entity.managedZone")
        name = _require_str(request, "name", "entity.managedZone.name")
        dns_name = _require_str(request, "dnsName", "entity.managedZone.dnsName")
        description = _require_str(request, "description", "entity.managedZone.description", allow_empty=True)
        name_server_set = request.get("nameServerSet")
        if not _ZONE_NAME_RE.fullmatch(name):
            raise _invalid("entity.managedZone.name", name)
        if dns_name == "." or not _is_fqdn(dns_name) or "*" in dns_name:
            raise _invalid("entity.managedZone.dnsName", dns_name)
        if name in zones:
            raise ApiError(
                409, "alreadyExists", f"The resource 'entity.managedZone' named '{name}' already exists"
            )
        zone = Zone(
            project=project,
            name=name,
            dns_name=dns_name,
            description=description,
            id=str(self._next_zone_id),
            creation_time=_now_rfc3339(),
            name_servers=self.name_servers,
            name_server_set=name_server_set if isinstance(name_server_set, str) else None,
        )
        self._next_zone_id += 1
        # The service creates the apex SOA and NS itself; they show up as the zone's first change, "0".
        soa = RecordSet(dns_name, "SOA", APEX_TTL, (f"{self.name_servers[0]} {SOA_TAIL}",))
        ns = RecordSet(dns_name, "NS", APEX_TTL, self.name_servers)
        zone.rrsets = {soa.key: soa, ns.key: ns}
        zone.changes.append(ChangeRecord("0", zone.creation_time, (soa, ns), ()))
        zones[name] = zone
        return zone.to_json()

    def _get_zone(self, args: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        return 200, self._zone(args["project"], args["zone"]).to_json()

    def _list_zones(self, args: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        zones = self._project(args["project"])
        dns_name = query.get("dnsName")
        if dns_name is not None and not dns_name.endswith("."):
            raise _invalid("parameters.dnsName", dns_name)
        items = [
            ((zone.name,), zone.to_json())
            for zone in sorted(zones.values(), key=lambda zone: zone.name)
            if dns_name is None or zone.apex == dns_name.lower()
        ]
        page, token = _paginate(items, query, self.default_page_size)
        return 200, _list_response("dns#managedZonesListResponse", "managedZones", page, token)

    def _delete_zone(self, args: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        zone = self._zone(args["project"], args["zone"])
        apex_keys = {(zone.apex, rtype) for rtype in APEX_TYPES}
        if any(key not in apex_keys for key in zone.rrsets):
            raise ApiError(
                400,
                "containerNotEmpty",
                f"The resource named '{zone.name}' cannot be deleted because it is not empty",
            )
        del self._projects[zone.project][zone.name]
        return 204, None

    # -- resourceRecordSets ------------------------------------------------------------------------

    def _list_rrsets(self, args: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        zone = self._zone(args["project"], args["zone"])
        name, rtype = query.get("name"), query.get("type")
        if name is not None and not name.endswith("."):
            raise _invalid("parameters.name", name)
        if rtype is not None:
            if name is None:
                raise _invalid("parameters.name", "")  # the API wants a name whenever a type is given
            if rtype not in KNOWN_TYPES:
                raise _invalid("parameters.type", rtype)
        items = [
            (key, rrset.to_json())
            for key, rrset in sorted(zone.rrsets.items())
            if (name is None or key[0] == name.lower()) and (rtype is None or key[1] == rtype)
        ]
        page, token = _paginate(items, query, self.default_page_size)
        return 200, _list_response("dns#resourceRecordSetsListResponse", "rrsets", page, token)

    def _get_rrset(self, args: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        zone = self._zone(args["project"], args["zone"])
        rrset = zone.rrsets.get((args["name"].lower(), args["type"]))
        if rrset is None:
            label = f"{args['name']} ({args['type']})"
            raise ApiError(404, "notFound", f"The 'parameters.name' resource named '{label}' does not exist.")
        return 200, rrset.to_json()

    # -- changes -----------------------------------------------------------------------------------

    def _create_change(self, args: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        change = self._apply(self._zone(args["project"], args["zone"]), body)
        self.changes_applied += 1
        if self.pending_polls:
            self._polls_left[(args["project"], args["zone"], change.id)] = self.pending_polls
            return 200, change.to_json("pending")
        return 200, change.to_json()

    def _get_change(self, args: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        zone = self._zone(args["project"], args["zone"])
        change = next((change for change in zone.changes if change.id == args["change"]), None)
        if change is None:
            raise ApiError(
                404,
                "notFound",
                f"The 'parameters.changeId' resource named '{args['change']}' does not exist.",
            )
        polls = self._polls_left.pop((args["project"], args["zone"], change.id), 0)
        if polls > 1:
            self._polls_left[(args["project"], args["zone"], change.id)] = polls - 1
        return 200, change.to_json("pending" if polls else "done")

    def _list_changes(self, args: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        zone = self._zone(args["project"], args["zone"])
        sort_by = query.get("sortBy", "changeSequence")
        if sort_by.lower() != "changesequence":
            raise _invalid("parameters.sortBy", sort_by)
        order = query.get("sortOrder", "ascending")
        if order not in {"ascending", "descending"}:
            raise _invalid("parameters.sortOrder", order)
        descending = order == "descending"
        changes = sorted(zone.changes, key=lambda change: int(change.id), reverse=descending)
        items = [((int(change.id),), change.to_json()) for change in changes]
        page, token = _paginate(items, query, self.default_page_size, descending=descending)
        return 200, _list_response("dns#changesListResponse", "changes", page, token)

    def _get_project(self, args: dict[str, str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        project = args["project"]
        self._project(project)
        return 200, {
            "kind": "dns#project",
            "id": project,
            "number": str(abs(hash(project)) % 10**12),
            "quota": {
                "kind": "dns#quota",
                "managedZones": 10_000,
                "resourceRecordsPerRrset": self.resource_records_per_rrset,
                "rrsetsPerManagedZone": self.rrsets_per_managed_zone,
                "rrsetAdditionsPerChange": self.rrset_additions_per_change,
                "rrsetDeletionsPerChange": self.rrset_deletions_per_change,
                "totalRrdataSizePerChange": 100_000,
            },
        }

    def _check_quotas(
        self,
        zone: Zone,
        result: Mapping[RRKey, RecordSet],
        additions: Sequence[RecordSet],
        deletions: Sequence[RecordSet] = (),
    ) -> None:
        for what, count, quota, name in (
            ("additions", len(additions), self.rrset_additions_per_change, "rrsetAdditionsPerChange"),
            ("deletions", len(deletions), self.rrset_deletions_per_change, "rrsetDeletionsPerChange"),
        ):
            if count > quota:
                raise ApiError(
                    403,
                    "quotaExceeded",
                    f"Quota exceeded: the change holds {count} {what}, quota {name} is {quota}",
                )
        for index, addition in enumerate(additions):
            if len(addition.rrdatas) > self.resource_records_per_rrset:
                raise ApiError(
                    403,
                    "quotaExceeded",
                    f"Quota exceeded for 'entity.change.additions[{index}]': {len(addition.rrdatas)} "
                    "records in one resource record set, quota resourceRecordsPerRrset is "
                    f"{self.resource_records_per_rrset}",
                )
        if len(result) > self.rrsets_per_managed_zone and len(result) > len(zone.rrsets):
            raise ApiError(
                403,
                "quotaExceeded",
                f"Quota exceeded: the managed zone '{zone.name}' would hold {len(result)} resource record "
                f"sets, quota rrsetsPerManagedZone is {self.rrsets_per_managed_zone}",
            )

    def _apply(self, zone: Zone, body: Any) -> ChangeRecord:
        """Validate a change against the zone and apply all of it, or raise and apply none of it."""
        additions, deletions = _parse_change(body, zone)
        result = _plan_change(zone, additions, deletions)
        self._check_quotas(zone, result, additions, deletions)
        if self.bump_soa_serial and not any(rrset.type == "SOA" for rrset in additions):
            _bump_soa(result, zone.apex)
        zone.rrsets = result
        next_id = int(zone.changes[-1].id) + 1 if zone.changes else 0
        change = ChangeRecord(str(next_id), _now_rfc3339(), additions, deletions)
        zone.changes.append(change)
        return change


# -- change validation (pure functions of the request and the zone) ----------------------------------


def _parse_change(body: Any, zone: Zone) -> tuple[tuple[RecordSet, ...], tuple[RecordSet, ...]]:
    change = _require_mapping(body, "entity.change")
    additions = _parse_rrset_list(change, "additions", zone)
    deletions = _parse_rrset_list(change, "deletions", zone)
    if not additions and not deletions:
        raise _required("entity.change")
    _reject_repeats(additions, "additions")
    _reject_repeats(deletions, "deletions")
    return additions, deletions


def _parse_rrset_list(change: Mapping[str, Any], which: str, zone: Zone) -> tuple[RecordSet, ...]:
    items = change.get(which)
    if items is None:
        return ()
    if not isinstance(items, list):
        raise _invalid(f"entity.change.{which}", items)
    return tuple(
        _parse_rrset(item, f"entity.change.{which}[{index}]", zone) for index, item in enumerate(items)
    )


def _parse_rrset(item: Any, path: str, zone: Zone) -> RecordSet:
    """Check one record set of a change on its own (independently of the zone's contents)."""
    rrset = _require_mapping(item, path)
    name = _require_str(rrset, "name", f"{path}.name")
    if not _is_fqdn(name) or not zone.contains_name(name):
        raise _invalid(f"{path}.name", name)
    rtype = _require_str(rrset, "type", f"{path}.type")
    if rtype not in KNOWN_TYPES:
        raise _invalid(f"{path}.type", rtype)
    ttl = _parse_ttl(rrset.get("ttl"), f"{path}.ttl")
    rrdatas = rrset.get("rrdatas")
    policy = rrset.get("routingPolicy")
    if policy is not None:
        # "A valid ResourceRecordSet contains only rrdata (for static resolution) or a routingPolicy (for
        # dynamic resolution)."
        if rrdatas:
            raise _invalid(f"{path}.routingPolicy", "rrdatas and routingPolicy together")
        data = _parse_routing_policy(policy, rtype, f"{path}.routingPolicy")
        canonical = json.dumps(policy, sort_keys=True, separators=(",", ":"))
        return RecordSet(name, rtype, ttl, data, canonical)
    if not isinstance(rrdatas, list) or not rrdatas:
        raise _invalid(f"{path}.rrdata", "<empty>")
    if rtype in SINGLE_RECORD_TYPES and len(rrdatas) > 1:
        raise ApiError(
            400,
            "invalidRecordCount",
            f"The resource record set '{path}' is only permitted to have one record because it is of type "
            f"{rtype}.",
        )
    for index, data in enumerate(rrdatas):
        if not _valid_rrdata(rtype, data):
            raise _invalid(f"{path}.rrdata[{index}]", data)
    return RecordSet(name, rtype, ttl, tuple(rrdatas))


def _parse_routing_policy(policy: Any, rtype: str, path: str) -> tuple[str, ...]:
    """Check a routing policy as the API does (exactly one of ``geo``, ``wrr``, ``primaryBackup``; ``wrr``
    items with a non-negative weight; every item with data valid for the type, as rrdatas or health-checked
    targets; external endpoints only with the policy's ``healthCheck``) and return the union of its items'
    data, external endpoints included."""
    if not isinstance(policy, dict):
        raise _invalid(path, policy)
    kinds = [key for key in ("geo", "wrr", "primaryBackup") if key in policy]
    if len(kinds) != 1 or set(policy) - {"geo", "wrr", "primaryBackup", "kind", "healthCheck"}:
        raise _invalid(path, "exactly one of geo, wrr or primaryBackup")
    (kind,) = kinds
    body = policy[kind]
    if not isinstance(body, dict):
        raise _invalid(f"{path}.{kind}", body)
    health_check = policy.get("healthCheck")
    if health_check is not None and (
        not isinstance(health_check, str) or not _HEALTH_CHECK_URL_RE.fullmatch(health_check)
    ):
        raise _invalid(f"{path}.healthCheck", health_check)
    endpoints: list[str] = []  # the external endpoints anywhere in the policy, which need the health check
    if kind == "primaryBackup":
        data = _parse_primary_backup(body, rtype, f"{path}.primaryBackup", endpoints)
    else:
        data = _parse_policy_items(body, kind, rtype, f"{path}.{kind}", endpoints)
    if endpoints and health_check is None:
        # External endpoints are probed by the Compute Engine health check the policy names; without one
        # nothing would say whether they are healthy.
        raise _required(f"{path}.healthCheck")
    return tuple(dict.fromkeys(data))


def _parse_primary_backup(body: Mapping[str, Any], rtype: str, path: str, endpoints: list[str]) -> list[str]:
    """A ``primaryBackup`` policy's data: its primary targets' and its backup ``geo`` policy's."""
    if set(body) - {"kind", "primaryTargets", "backupGeoTargets", "trickleTraffic"}:
        raise _invalid(
            path, sorted(set(body) - {"kind", "primaryTargets", "backupGeoTargets", "trickleTraffic"})
        )
    primary = body.get("primaryTargets")
    if primary is None:
        raise _required(f"{path}.primaryTargets")
    data = _parse_targets(primary, rtype, f"{path}.primaryTargets", endpoints)
    backup = body.get("backupGeoTargets")
    if backup is None:
        raise _required(f"{path}.backupGeoTargets")
    if not isinstance(backup, dict):
        raise _invalid(f"{path}.backupGeoTargets", backup)
    data += _parse_policy_items(backup, "geo", rtype, f"{path}.backupGeoTargets", endpoints)
    trickle = body.get("trickleTraffic", 0)
    # A fraction of the traffic sent to the backup while the primary is healthy.
    if isinstance(trickle, bool) or not isinstance(trickle, int | float) or not 0 <= trickle <= 1:
        raise _invalid(f"{path}.trickleTraffic", trickle)
    return data


def _parse_targets(targets: Any, rtype: str, path: str, endpoints: list[str]) -> list[str]:
    """Health-checked targets (``internalLoadBalancers`` or ``externalEndpoints``, one of them), checked;
    their external endpoints are added to ``endpoints``."""
    if not isinstance(targets, dict) or set(targets) - {"kind", "internalLoadBalancers", "externalEndpoints"}:
        raise _invalid(path, targets)
    balancers, external = targets.get("internalLoadBalancers"), targets.get("externalEndpoints")
    if balancers and external:
        raise _invalid(path, "internalLoadBalancers and externalEndpoints together")
    if balancers:
        # Internal load balancers answer inside a VPC network: a private zone's business. Every zone of
        # this fake is public.
        raise _invalid(f"{path}.internalLoadBalancers", "internal load balancers in a public zone")
    if not isinstance(external, list) or not external:
        raise _invalid(f"{path}.externalEndpoints", "<empty>")
    for index, address in enumerate(external):
        if rtype not in ("A", "AAAA") or not _valid_rrdata(rtype, address):
            raise _invalid(f"{path}.externalEndpoints[{index}]", address)
    endpoints += [str(a) for a in external]
    return [str(a) for a in external]


def _parse_policy_items(
    body: Mapping[str, Any], kind: str, rtype: str, path: str, endpoints: list[str]
) -> list[str]:
    """A ``wrr`` or ``geo`` policy's items, checked, and the union of their data."""
    if kind == "geo" and not isinstance(body.get("enableFencing", False), bool):
        raise _invalid(f"{path}.enableFencing", body.get("enableFencing"))
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise _invalid(f"{path}.items", "<empty>")
    data: list[str] = []
    locations: set[str] = set()
    for index, item in enumerate(items):
        data += _parse_policy_item(item, kind, rtype, f"{path}.items[{index}]", locations, endpoints)
    return data


def _parse_policy_item(
    item: Any, kind: str, rtype: str, where: str, locations: set[str], endpoints: list[str]
) -> list[str]:
    """One routing policy item's data, checked (a ``geo`` location not yet in ``locations`` is added): its
    rrdatas or its health-checked targets, one of them."""
    if not isinstance(item, dict):
        raise _invalid(where, item)
    if kind == "wrr":
        weight = item.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise _invalid(f"{where}.weight", weight)
    if kind == "geo":
        # A geo item's location is a Google Cloud region ("us-east1"); the API refuses anything else (a
        # country, a continent, Route 53's "*" default: Cloud DNS has none, it answers the nearest item).
        location = item.get("location")
        if not isinstance(location, str) or not _GCP_REGION_RE.fullmatch(location) or location in locations:
            raise _invalid(f"{where}.location", location)
        locations.add(location)
    rrdatas, checked = item.get("rrdatas"), item.get("healthCheckedTargets")
    if checked is not None:
        if rrdatas:
            raise _invalid(where, "rrdatas and healthCheckedTargets together")
        return _parse_targets(checked, rtype, f"{where}.healthCheckedTargets", endpoints)
    if not isinstance(rrdatas, list) or not rrdatas:
        raise _invalid(f"{where}.rrdatas", "<empty>")
    for number, value in enumerate(rrdatas):
        if not _valid_rrdata(rtype, value):
            raise _invalid(f"{where}.rrdatas[{number}]", value)
    return [str(value) for value in rrdatas]


def _geo_answer(geo: Mapping[str, Any], client_region: str, failing: set[str]) -> list[str]:
    """A ``geo`` policy's answer to a client in ``client_region``: the item of that region, else of the
    nearest region whose item answers (a health-checked item answers while one of its targets passes)."""

    def answers(item: Mapping[str, Any]) -> list[str]:
        if "healthCheckedTargets" in item:
            return [a for a in item["healthCheckedTargets"].get("externalEndpoints", []) if a not in failing]
        return list(item["rrdatas"])

    items = {item["location"]: answers(item) for item in geo["items"]}
    live = {region: found for region, found in items.items() if found}
    if not live:
        return []
    if client_region in live:
        return live[client_region]
    here = GCP_REGION_COORDINATES[client_region]
    return live[min(live, key=lambda region: _distance(here, GCP_REGION_COORDINATES[region]))]


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) points, in radians."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * math.asin(math.sqrt(h))


def _parse_ttl(value: Any, path: str) -> int:
    # JSON clients send int64 fields as strings (google-cloud-dns sends "300"); accept both forms.
    if value is None:
        raise _required(path)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _invalid(path, value)
    if isinstance(value, str) and not _INTEGER_RE.fullmatch(value):
        raise _invalid(path, value)
    ttl = int(value)
    if ttl < 0:
        raise _invalid(path, value)
    return ttl


def _valid_rrdata(rtype: str, data: Any) -> bool:
    if not isinstance(data, str) or not data.strip():
        return False
    # Only address records are checked in depth: they are what the operator writes most.
    try:
        if rtype == "A":
            ipaddress.IPv4Address(data)
        elif rtype == "AAAA":
            ipaddress.IPv6Address(data)
    except ValueError:
        return False
    return True


def _reject_repeats(rrsets: Sequence[RecordSet], which: str) -> None:
    seen: set[RRKey] = set()
    for index, rrset in enumerate(rrsets):
        if rrset.key in seen:
            raise _invalid(
                f"entity.change.{which}[{index}]", f"{rrset.label} appears more than once in the change"
            )
        seen.add(rrset.key)


def _plan_change(
    zone: Zone, additions: Sequence[RecordSet], deletions: Sequence[RecordSet]
) -> dict[RRKey, RecordSet]:
    """Check the change against the zone's current state and return the state it would produce."""
    for index, deletion in enumerate(deletions):
        current = zone.rrsets.get(deletion.key)
        if current is None:
            raise ApiError(
                404,
                "notFound",
                f"The 'entity.change.deletions[{index}]' resource named '{deletion.label}' does not exist.",
            )
        # Deletions are optimistic-concurrency preconditions: ttl and rrdatas must match what is stored.
        if not current.same_data(deletion):
            raise ApiError(
                412, "conditionNotMet", f"Precondition not met for 'entity.change.deletions[{index}]'"
            )
    deleted = {deletion.key for deletion in deletions}
    for index, addition in enumerate(additions):
        if addition.key in zone.rrsets and addition.key not in deleted:
            raise ApiError(
                409,
                "alreadyExists",
                f"The 'entity.change.additions[{index}]' resource named '{addition.label}' already exists",
            )
    result = {key: rrset for key, rrset in zone.rrsets.items() if key not in deleted}
    result.update((addition.key, addition) for addition in additions)
    _check_apex(zone, result, additions, deletions)
    _check_cname_exclusive(result, additions)
    return result


def _check_apex(
    zone: Zone,
    result: Mapping[RRKey, RecordSet],
    additions: Sequence[RecordSet],
    deletions: Sequence[RecordSet],
) -> None:
    def apex_error(path: str, rtype: str) -> ApiError:
        return ApiError(
            400,
            "invalidZoneApex",
            f"The resource record set '{path}' is invalid because a zone must contain exactly one resource "
            f"record set of type '{rtype}' at the apex.",
        )

    for index, addition in enumerate(additions):
        if addition.type == "SOA" and addition.key[0] != zone.apex:
            raise apex_error(f"entity.change.additions[{index}]", "SOA")
    for rtype in APEX_TYPES:
        if (zone.apex, rtype) not in result:
            index = next((i for i, deletion in enumerate(deletions) if deletion.key == (zone.apex, rtype)), 0)
            raise apex_error(f"entity.change.deletions[{index}]", rtype)


def _check_cname_exclusive(result: Mapping[RRKey, RecordSet], additions: Sequence[RecordSet]) -> None:
    types_at: defaultdict[str, set[str]] = defaultdict(set)
    for name, rtype in result:
        types_at[name].add(rtype)
    # The zone was consistent before, so any conflict involves an addition; report the first one.
    for index, addition in enumerate(additions):
        types = types_at[addition.key[0]]
        if "CNAME" in types and len(types) > 1:
            other = "CNAME" if addition.type != "CNAME" else sorted(types - {"CNAME"})[0]
            raise ApiError(
                400,
                "cnameResourceRecordSetConflict",
                f"The resource record set 'entity.change.additions[{index}]' is invalid because the DNS name "
                f"'{addition.name}' has a resource record set of the type '{other}'. A DNS name may have "
                "either one CNAME resource record set or resource record sets of other types, but not both.",
            )


def _bump_soa(rrsets: dict[RRKey, RecordSet], apex: str) -> None:
    soa = rrsets.get((apex, "SOA"))
    if soa is None:
        return
    fields = soa.rrdatas[0].split()
    if len(fields) != 7 or not fields[2].isdigit():
        return  # a hand-written SOA we do not understand: leave it as it is
    fields[2] = str((int(fields[2]) + 1) % 2**32)
    rrsets[soa.key] = RecordSet(soa.name, soa.type, soa.ttl, (" ".join(fields),))


# -- small helpers ------------------------------------------------------------------------------------


def _is_fqdn(name: str) -> bool:
    """A fully qualified name with sane labels; a wildcard may only be the leftmost label."""
    if not name.endswith(".") or len(name) > 254:
        return False
    if name == ".":
        return True
    labels = name[:-1].split(".")
    return all(
        _LABEL_RE.fullmatch(label) or (index == 0 and label == "*") for index, label in enumerate(labels)
    )


def _require_mapping(value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        raise _required(path)
    if not isinstance(value, Mapping):
        raise _invalid(path, value)
    return cast(Mapping[str, Any], value)


def _require_str(mapping: Mapping[str, Any], key: str, path: str, *, allow_empty: bool = False) -> str:
    value = mapping.get(key)
    if value is None or (value == "" and not allow_empty):
        raise _required(path)
    if not isinstance(value, str):
        raise _invalid(path, value)
    return value


def _paginate(
    items: Sequence[tuple[tuple[Any, ...], _T]],
    query: Mapping[str, str],
    default_size: int,
    *,
    descending: bool = False,
) -> tuple[list[_T], str | None]:
    """One page of ``items`` (pre-sorted by key). The token names the last key served, not an offset,
    so records created or deleted between pages do not make the next page skip or repeat entries."""
    size = _page_size(query, default_size)
    token = query.get("pageToken")
    remaining = list(items)
    if token:
        after = _decode_page_token(token)
        try:
            remaining = [item for item in items if (item[0] < after if descending else item[0] > after)]
        except TypeError:  # a token from another collection: its key does not compare with ours
            raise _invalid("parameters.pageToken", token) from None
    page = remaining[:size]
    next_token = _encode_page_token(page[-1][0]) if len(remaining) > size else None
    return [value for _, value in page], next_token


def _page_size(query: Mapping[str, str], default_size: int) -> int:
    raw = query.get("maxResults")
    if raw is None:
        return default_size
    if not _INTEGER_RE.fullmatch(raw) or int(raw) <= 0:
        raise _invalid("parameters.maxResults", raw)
    return int(raw)


def _encode_page_token(key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_page_token(token: str) -> tuple[Any, ...]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise _invalid("parameters.pageToken", token) from None
    if not isinstance(key, list):
        raise _invalid("parameters.pageToken", token)
    return tuple(key)


def _list_response(kind: str, items_key: str, page: list[Any], token: str | None) -> dict[str, Any]:
    response: dict[str, Any] = {"kind": kind}
    if page:  # proto3 JSON leaves empty lists out
        response[items_key] = page
    if token is not None:
        response["nextPageToken"] = token
    return response


def _decode_body(raw: bytes) -> tuple[Any, ApiError | None]:
    if not raw:
        return None, None
    try:
        return json.loads(raw), None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, ApiError(400, "parseError", "Parse Error")


def _match_route(method: str, path: str) -> tuple[str | None, dict[str, str]]:
    if not path.startswith(_API_PREFIX):
        return None, {}
    segments = [unquote(segment) for segment in path[len(_API_PREFIX) :].split("/")]
    for route_method, shape, name in _ROUTES:
        if route_method != method or len(shape) != len(segments):
            continue
        args: dict[str, str] = {}
        for part, segment in zip(shape, segments, strict=True):
            if part.startswith("{"):
                if not segment:
                    break
                args[part[1:-1]] = segment
            elif part != segment:
                break
        else:
            return name, args
    return None, {}


# -- HTTP plumbing ------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    # Non-daemon handler threads, so server_close() joins them and stop() leaves nothing running.
    daemon_threads = False
    block_on_close = True

    def __init__(self, fake: FakeCloudDns) -> None:
        super().__init__((_HOST, 0), _RequestHandler)
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def drop_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive, as the client's connection pool expects.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus delayed ACKs stall
    # every keep-alive response by ~40 ms.
    disable_nagle_algorithm = True

    @property
    def _fake_server(self) -> _Server:
        return cast(_Server, self.server)

    def setup(self) -> None:
        super().setup()
        self._fake_server.track(self.connection)

    def finish(self) -> None:
        self._fake_server.untrack(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length > 0 else b""
        response = self._fake_server.fake.handle(method, self.path, raw_body)
        self.send_response(response.status)
        if response.status == HTTPStatus.NO_CONTENT:
            self.end_headers()
            return
        data = json.dumps(response.payload).encode()
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for header, value in response.headers:
            self.send_header(header, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; ``FakeCloudDns.requests`` records every request instead."""
