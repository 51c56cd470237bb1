"""What ``status`` prints: aligned tables of member clusters, FederatedServices, shards and DNS names.

Pure: the functions take the views built from the host's objects (and, with ``--resolve``, the live DNS
answers) and return text or JSON-ready values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from federation_operator.domain.status import (
    CONDITION_DNS_PUBLISHED,
    CONDITION_HEALTHY,
    CONDITION_PROPAGATED,
    CONDITION_READY,
    Condition,
    FederatedServiceStatus,
    IngressAddress,
    ShardStatus,
)

__all__ = [
    "LiveAnswer",
    "MemberView",
    "ServiceView",
    "member_view",
    "published_names",
    "render_json",
    "render_status",
    "render_table",
    "service_view",
]

NONE = "-"
CONDITION_ORDER = (CONDITION_PROPAGATED, CONDITION_HEALTHY, CONDITION_DNS_PUBLISHED, CONDITION_READY)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Rows under headers, each column as wide as its widest cell, two spaces apart; no trailing blanks."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = []
    for row in (headers, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


@dataclass(frozen=True)
class MemberView:
    """One MemberCluster as ``status`` shows it."""

    name: str
    ready: str
    version: str
    region: str
    zones: tuple[str, ...]
    message: str = ""


def member_view(obj: Mapping[str, Any]) -> MemberView:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == CONDITION_READY), None)
    ready_text = str(ready.get("status")) if ready else "Unknown"
    if ready and ready.get("status") != "True" and ready.get("reason"):
        ready_text += f" ({ready['reason']})"
    zones = tuple(status.get("zones") or spec.get("zones") or ())
    return MemberView(
        name=str(meta.get("name") or ""),
        ready=ready_text,
        version=str(status.get("kubernetesVersion") or NONE),
        region=str(spec.get("region") or NONE),
        zones=tuple(str(z) for z in zones),
        message=str(ready.get("message") or "") if ready and ready.get("status") != "True" else "",
    )


@dataclass(frozen=True)
class ServiceView:
    """One FederatedService as ``status`` shows it: its identity and its parsed status."""

    namespace: str
    name: str
    status: FederatedServiceStatus
    raw_status: Mapping[str, Any] = field(default_factory=dict)
    # Set when the status could not be read (written by another version of the operator).
    problem: str | None = None


def service_view(obj: Mapping[str, Any]) -> ServiceView:
    meta = obj.get("metadata") or {}
    raw = obj.get("status") or {}
    try:
        status = FederatedServiceStatus.model_validate(raw)
        problem = None
    except ValidationError as exc:
        status = FederatedServiceStatus()
        problem = f"status not understood ({exc.error_count()} problems): another version of the operator?"
    return ServiceView(str(meta.get("namespace") or ""), str(meta.get("name") or ""), status, raw, problem)


@dataclass(frozen=True)
class LiveAnswer:
    """What a DNS server answered for one name: the CNAME chain it followed and the addresses at its end."""

    rcode: str = "NOERROR"
    cnames: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    error: str | None = None

    def text(self) -> str:
        if self.error:
            return f"error: {self.error}"
        if self.rcode != "NOERROR":
            return self.rcode
        parts = [f"CNAME {target}" for target in self.cnames]
        v4 = [a for a in self.addresses if ":" not in a]
        v6 = [a for a in self.addresses if ":" in a]
        parts += [f"{kind} {', '.join(found)}" for kind, found in (("A", v4), ("AAAA", v6)) if found]
        if not self.addresses:
            parts.append("no address" if self.cnames else "no records")
        return " -> ".join(parts)


def _condition(status: FederatedServiceStatus, kind: str) -> Condition | None:
    return next((c for c in status.conditions if c.type == kind), None)


def _ready(status: FederatedServiceStatus) -> str:
    ready = _condition(status, CONDITION_READY)
    if ready is None:
        return "Unknown"
    return ready.status if ready.status == "True" else f"{ready.status} ({ready.reason})"


def _clusters(status: FederatedServiceStatus) -> str:
    if status.cluster_summary:
        return status.cluster_summary
    if status.clusters is not None:
        return f"{status.clusters.healthy}/{status.clusters.total}"
    return NONE


def _ingress(points: Sequence[IngressAddress]) -> str:
    return ",".join(p.ip or p.hostname or "" for p in points) or NONE


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def render_members(members: Sequence[MemberView]) -> list[str]:
    if not members:
        return ["No MemberClusters: join one with 'join CONTEXT'."]
    rows = [[m.name, m.ready, m.version, m.region, ",".join(m.zones) or NONE] for m in members]
    lines = render_table(["MEMBER CLUSTER", "READY", "VERSION", "REGION", "ZONES"], rows)
    lines += [f"  {m.name}: {m.message}" for m in members if m.message]
    return lines


def render_service(
    view: ServiceView, answers: Mapping[str, LiveAnswer] | None, server: str | None
) -> list[str]:
    """One FederatedService's block: conditions, one line per shard, one line per published DNS name."""
    lines = [f"{view.namespace}/{view.name}"]
    if view.problem:
        return [*lines, f"  {view.problem}"]
    return (
        lines
        + _conditions(view.status)
        + _shards(view.status)
        + _dns(view.status, answers, server)
        + _discovery(view.status)
    )


def _conditions(status: FederatedServiceStatus) -> list[str]:
    conditions = [c for kind in CONDITION_ORDER if (c := _condition(status, kind)) is not None]
    if not conditions:
        return ["  no status yet: is the operator running?"]
    return ["  " + "  ".join(f"{c.type}={c.status}" for c in conditions)] + [
        f"    {c.type}: {c.reason}: {c.message}" for c in conditions if c.status != "True" and c.message
    ]


def _shards(status: FederatedServiceStatus) -> list[str]:
    if not status.shards:
        return ["  no shards"]
    rows = [
        [
            s.cluster,
            s.region or NONE,
            ",".join(s.zones) or NONE,
            _yes(s.healthy),
            _yes(s.synced),
            str(s.ready_endpoints),
            _ingress(s.ingress),
            s.reason or NONE,
        ]
        for s in status.shards
    ]
    headers = ["CLUSTER", "REGION", "ZONES", "HEALTHY", "SYNCED", "ENDPOINTS", "INGRESS", "REASON"]
    # Under a spec.dns.policy only, so that the table of an object without one reads as before.
    columns: list[tuple[str, Callable[[ShardStatus], object]]] = [
        ("PRIORITY", lambda s: s.priority),
        ("WEIGHT", lambda s: s.weight),
        ("ANSWERING", lambda s: None if s.answering is None else _yes(s.answering)),
        # The DNS provider's own health check (Route 53, under healthCheck): its state and check id.
        ("PROVIDER HEALTH", _provider_health),
    ]
    for header, value in columns:
        values = [value(shard) for shard in status.shards]
        if any(v is not None for v in values):
            headers.append(header)
            for row, v in zip(rows, values, strict=True):
                row.append(NONE if v is None else str(v))
    return render_table(headers, rows, indent="  ")


def _provider_health(shard: ShardStatus) -> str | None:
    health = shard.provider_health
    if health is None:
        return None
    return f"{health.state} ({health.health_check_id})" if health.health_check_id else health.state


def _dns(
    status: FederatedServiceStatus, answers: Mapping[str, LiveAnswer] | None, server: str | None
) -> list[str]:
    dns = status.dns
    if dns is None or (not dns.names and not dns.global_name):
        return ["  DNS: nothing published"]
    policy = [f"  DNS policy: {dns.policy}"] if dns.policy else []
    if not dns.names:
        lines = [*policy, f"  DNS: {dns.global_name} (no records published)"]
    else:
        headers = ["DNS NAME", "TYPE", "TIER", "POINTS TO"]
        if answers is not None:
            headers.append(f"LIVE ANSWER ({server})" if server else "LIVE ANSWER")
        rows = []
        for record in dns.names:
            row = [record.name, record.type, record.tier, ",".join(record.targets) or NONE]
            if answers is not None:
                answer = answers.get(record.name)
                row.append(answer.text() if answer else NONE)
            rows.append(row)
        lines = [*policy, *render_table(headers, rows, indent="  ")]
    global_answer = (answers or {}).get(dns.global_name) if dns.global_name else None
    if global_answer is not None and not any(r.name == dns.global_name for r in dns.names):
        lines.append(f"  live answer for {dns.global_name}: {global_answer.text()}")
    # Several zones or mirrors: each one's own state (a failing mirror is named here).
    for mirror in dns.mirrors:
        detail = f": {mirror.message}" if mirror.message and mirror.state != "Published" else ""
        # A mirror is named after its provider unless the settings name it: then say both.
        which = mirror.provider if mirror.mirror == mirror.provider else f"{mirror.mirror}, {mirror.provider}"
        lines.append(f"  DNS {mirror.zone} ({which}): {mirror.state}{detail}")
    return lines


def _discovery(status: FederatedServiceStatus) -> list[str]:
    """Per member with in-cluster discovery on: whether its cluster DNS answers locally or by fallback."""
    if not status.discovery:
        return []
    rows = [[d.cluster, d.state.lower(), d.target or NONE, d.message or ""] for d in status.discovery]
    return render_table(["IN-CLUSTER DISCOVERY", "ANSWERS", "POINTS TO", "PROBLEM"], rows, indent="  ")


def published_names(view: ServiceView) -> list[str]:
    """Every DNS name the operator published for the FederatedService: its records' and its global name."""
    dns = view.status.dns
    if dns is None:
        return []
    return sorted({r.name for r in dns.names} | ({dns.global_name} if dns.global_name else set()))


def render_status(
    members: Sequence[MemberView],
    services: Sequence[ServiceView],
    *,
    scope: str,
    answers: Mapping[str, LiveAnswer] | None = None,
    server: str | None = None,
) -> str:
    """The whole ``status`` output; ``scope`` says where the FederatedServices were looked for."""
    lines = render_members(members)
    lines.append("")
    if not services:
        lines.append(f"No FederatedServices {scope}.")
        return "\n".join(lines)
    rows = [
        [
            v.namespace,
            v.name,
            _clusters(v.status),
            _ready(v.status),
            (v.status.dns.global_name if v.status.dns else None) or NONE,
        ]
        for v in services
    ]
    lines += render_table(["NAMESPACE", "FEDERATED SERVICE", "CLUSTERS", "READY", "DNS"], rows)
    for view in services:
        lines.append("")
        lines += render_service(view, answers, server)
    return "\n".join(lines)


def render_json(
    members: Sequence[MemberView],
    services: Sequence[ServiceView],
    answers: Mapping[str, LiveAnswer] | None = None,
) -> dict[str, Any]:
    """The same as :func:`render_status`, as a JSON-ready value (statuses as the API holds them)."""

    def live(view: ServiceView) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name in published_names(view):
            answer = (answers or {}).get(name)
            if answer is not None:
                result[name] = {
                    "rcode": answer.rcode,
                    "cnames": list(answer.cnames),
                    "addresses": list(answer.addresses),
                    **({"error": answer.error} if answer.error else {}),
                }
        return result

    return {
        "memberClusters": [
            {
                "name": m.name,
                "ready": m.ready,
                "version": m.version,
                "region": m.region,
                "zones": list(m.zones),
            }
            for m in members
        ],
        "federatedServices": [
            {
                "namespace": v.namespace,
                "name": v.name,
                "clusters": _clusters(v.status),
                "ready": _ready(v.status),
                "status": dict(v.raw_status),
                **({"liveAnswers": live(v)} if answers is not None else {}),
            }
            for v in services
        ],
    }
