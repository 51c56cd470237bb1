"""``backup`` and ``restore``: the federation's host objects as one YAML stream, and back into a host cluster.

A backup holds what the host cluster alone knows and the operator cannot rebuild: every MemberCluster and
every FederatedService (spec, labels, annotations; never status, UIDs, resourceVersions or finalizers, which
the API server and the operator make anew), the Namespaces the FederatedServices live in and, only with
``--include-credentials``, the Secrets the MemberClusters' ``secretRef`` names plus any ``--secret`` (the DNS
credentials Secret). Member Services and DNS records are not in it: they stay where they are, and the
restored objects adopt them (``planning/services.py``: ownership is the labels, not the UIDs).

``restore`` creates the objects of a backup in the host, in the order they depend on each other (Namespaces,
Secrets, MemberClusters, FederatedServices); an object that already exists is left as it is and reported.
Start (or restart) the operator afterwards: it adopts what its predecessor left, writing nothing when
nothing changed. The operator's settings are the Helm release's values (``helm get values``), kept with it.

The renderers and the restore plan are pure; :func:`backup` and :func:`restore` do the I/O.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from federation_operator.cli.context import Globals, Say, fetch_federation_objects
from federation_operator.cli.errors import EXIT_OK, CliError, UsageError
from federation_operator.cli.registration import API_VERSION
from federation_operator.cli.rest import Cluster
from federation_operator.kube.transport import api_path

__all__ = [
    "BackupRequest",
    "RestoreRequest",
    "backup",
    "plan_restore",
    "render_backup",
    "render_backup_object",
    "restore",
]

# Kinds a backup holds, in the order a restore creates them (each may need the ones before it).
RESTORE_ORDER = ("Namespace", "Secret", "MemberCluster", "FederatedService")
_API_VERSIONS = {
    "Namespace": "v1",
    "Secret": "v1",
    "MemberCluster": API_VERSION,
    "FederatedService": API_VERSION,
}
_PLURALS = {
    "Namespace": "namespaces",
    "Secret": "secrets",
    "MemberCluster": "memberclusters",
    "FederatedService": "federatedservices",
}
# Annotations that are bookkeeping of the tools that wrote the object, not part of what the user declared.
_BOOKKEEPING_ANNOTATION_PREFIXES = ("kopf.zalando.org/", "kubectl.kubernetes.io/last-applied-configuration")


@dataclass(frozen=True)
class BackupRequest:
    output: str | None = None  # a file; None: stdout
    include_credentials: bool = False
    secrets: tuple[str, ...] = ()  # more Secrets of the operator's namespace, e.g. the DNS credentials


@dataclass(frozen=True)
class RestoreRequest:
    source: str  # a file, or "-" for stdin
    dry_run: bool = False


# --- pure ------------------------------------------------------------------------------------------------


def render_backup_object(obj: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """``obj`` as a backup keeps it: what was declared (name, namespace, labels, annotations, spec, and a
    Secret's type and data), without what the API server or the operator fills in."""
    metadata: Mapping[str, Any] = obj.get("metadata") or {}
    kept: dict[str, Any] = {"name": metadata["name"]}
    if metadata.get("namespace"):
        kept["namespace"] = metadata["namespace"]
    if labels := metadata.get("labels"):
        kept["labels"] = dict(labels)
    annotations = {
        key: value
        for key, value in (metadata.get("annotations") or {}).items()
        if not key.startswith(_BOOKKEEPING_ANNOTATION_PREFIXES)
    }
    if annotations:
        kept["annotations"] = annotations
    out: dict[str, Any] = {"apiVersion": _API_VERSIONS[kind], "kind": kind, "metadata": kept}
    if kind == "Secret":
        out["type"] = obj.get("type") or "Opaque"
        out["data"] = dict(obj.get("data") or {})
    elif kind != "Namespace":
        out["spec"] = obj.get("spec") or {}
    return out


def render_backup(
    *,
    federation: str,
    members: Iterable[Mapping[str, Any]],
    services: Iterable[Mapping[str, Any]],
    secrets: Iterable[Mapping[str, Any]] = (),
    now: datetime,
) -> str:
    """The YAML stream of a backup, opening with comments that say what it holds (and, when it holds
    credentials, that it must be kept secret)."""
    service_docs = sorted(
        (render_backup_object(s, "FederatedService") for s in services),
        key=lambda d: (d["metadata"]["namespace"], d["metadata"]["name"]),
    )
    member_docs = sorted((render_backup_object(m, "MemberCluster") for m in members), key=_name)
    secret_docs = sorted(
        (render_backup_object(s, "Secret") for s in secrets),
        key=lambda d: (d["metadata"]["namespace"], d["metadata"]["name"]),
    )
    namespaces = sorted({d["metadata"]["namespace"] for d in (*service_docs, *secret_docs)})
    docs = [
        *(render_backup_object({"metadata": {"name": n}}, "Namespace") for n in namespaces),
        *secret_docs,
        *member_docs,
        *service_docs,
    ]
    header = [
        f"# fedctl backup of federation {federation}, {now.isoformat(timespec='seconds')}:",
        f"# {len(member_docs)} MemberClusters, {len(service_docs)} FederatedServices, "
        f"{len(namespaces)} namespaces.",
    ]
    if secret_docs:
        header.append(
            f"# CREDENTIALS INCLUDED: {len(secret_docs)} Secrets "
            f"({', '.join(_name(d) for d in secret_docs)}). Keep this file as secret as they are."
        )
    else:
        header.append(
            "# Credentials NOT included: before `fedctl restore`, re-create the Secrets the MemberClusters' "
            "secretRef names (or run `fedctl join` again for each member)."
        )
    body = yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True) if docs else ""
    return "\n".join(header) + "\n" + body


def plan_restore(docs: Iterable[Any]) -> list[dict[str, Any]]:
    """The objects of a backup in the order to create them; anything but the kinds a backup holds (or an
    object without a name) is refused, naming it."""
    plan: list[dict[str, Any]] = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        kind = doc.get("kind") if isinstance(doc, Mapping) else None
        if kind not in RESTORE_ORDER:
            raise UsageError(
                f"document {index + 1} is {kind or 'not a Kubernetes object'}: a backup holds only "
                f"{', '.join(RESTORE_ORDER)}"
            )
        if doc.get("apiVersion") != _API_VERSIONS[kind]:
            raise UsageError(
                f"document {index + 1}: a {kind} is {_API_VERSIONS[kind]}, not {doc.get('apiVersion')}"
            )
        if not (doc.get("metadata") or {}).get("name"):
            raise UsageError(f"document {index + 1}: a {kind} without a name")
        plan.append(render_backup_object(doc, kind))
    return sorted(plan, key=lambda d: RESTORE_ORDER.index(d["kind"]))


def _name(doc: Mapping[str, Any]) -> str:
    metadata = doc["metadata"]
    return (
        f"{metadata['namespace']}/{metadata['name']}" if metadata.get("namespace") else str(metadata["name"])
    )


# --- I/O ---------------------------------------------------------------------------------------------------


def backup(g: Globals, request: BackupRequest, out: Say, say: Say, now: Callable[[], datetime]) -> int:
    """Write the backup to ``request.output`` (or through ``out``); ``say`` reports what it holds."""
    host = g.connect_host()
    try:
        members = fetch_federation_objects(host, "memberclusters", "list MemberClusters")
        services = fetch_federation_objects(host, "federatedservices", "list FederatedServices")
        secrets = _fetch_secrets(host, g, members, request) if request.include_credentials else []
    finally:
        host.close()
    text = render_backup(
        federation=g.federation, members=members, services=services, secrets=secrets, now=now()
    )
    if request.output is None:
        out(text)
    else:
        _write_private(Path(request.output), text)
    summary = f"{len(members)} MemberClusters, {len(services)} FederatedServices"
    where = request.output or "stdout"
    say(f"backed up {summary}" + (f", {len(secrets)} Secrets" if secrets else "") + f" to {where}")
    return EXIT_OK


def restore(g: Globals, request: RestoreRequest, say: Say, warn: Say, read: Callable[[], str]) -> int:
    """Create the objects of the backup ``read`` returns; ``say`` reports progress, ``warn`` what was left."""
    try:
        plan = plan_restore(yaml.safe_load_all(read()))
    except yaml.YAMLError as exc:
        raise UsageError(f"{request.source} is not a YAML stream: {exc}") from None
    if not plan:
        raise UsageError(f"{request.source} holds no object to restore")
    host = g.connect_host()
    try:
        fetch_federation_objects(host, "memberclusters", "check that the host serves MemberClusters")
        created = existing = 0
        for doc in plan:
            kind, metadata = doc["kind"], doc["metadata"]
            what = f"{kind} {_name(doc)}"
            if request.dry_run:
                say(f"would create {what}")
                continue
            path = api_path(doc["apiVersion"], _PLURALS[kind], namespace=metadata.get("namespace"))
            if host.create(path, doc, f"create {what}") is None:
                existing += 1
                if kind != "Namespace":  # a namespace already there is the usual case
                    warn(f"{what} already exists: left as it is")
            else:
                created += 1
                say(f"created {what}")
    finally:
        host.close()
    if not request.dry_run:
        say(f"restored {created} objects ({existing} already there); start the operator to adopt the rest")
    return EXIT_OK


def _fetch_secrets(
    host: Cluster, g: Globals, members: Sequence[Mapping[str, Any]], request: BackupRequest
) -> list[dict[str, Any]]:
    """The Secrets the MemberClusters name, and ``request.secrets`` of the operator's namespace."""
    wanted = {
        (str(ref["namespace"]), str(ref["name"]))
        for m in members
        if (ref := (m.get("spec") or {}).get("secretRef"))
    }
    wanted |= {(g.operator_namespace, name) for name in request.secrets}
    found = []
    for namespace, name in sorted(wanted):
        secret = host.get(api_path("v1", "secrets", name, namespace), f"get Secret {namespace}/{name}")
        if secret is None:
            raise CliError(f"Secret {namespace}/{name} not found in the {host.label}")
        found.append(secret)
    return found


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (it may hold credentials), all or nothing."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)
