"""A user's kubeconfig, read the way kubectl reads it: which file(s), their contexts, clusters and users.

Several files (``$KUBECONFIG`` is a ``:``-separated list) are merged, the first one naming a context,
cluster or user winning; a relative file path in an entry is relative to the file that holds it. fedctl picks
contexts from it (its clients are built by the kubernetes client's own loader,
:func:`federation_operator.cli.rest.connect`, which understands every way a kubeconfig can authenticate);
the operator builds its host client from it (:func:`federation_operator.kube.credentials.kubeconfig_client`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from federation_operator.domain.errors import PermanentError

__all__ = ["Kubeconfig", "KubeconfigError", "KubeconfigNotFoundError", "kubeconfig_path", "load_kubeconfig"]


class KubeconfigError(PermanentError):
    """A kubeconfig that cannot be read, or a context in it that cannot be used."""


class KubeconfigNotFoundError(KubeconfigError):
    """No file of the kubeconfig path exists."""


def kubeconfig_path(explicit: str | None) -> str:
    """``explicit``, else ``$KUBECONFIG`` (a list joined with ``:``), else ``~/.kube/config``."""
    if explicit:
        return explicit
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


@dataclass(frozen=True)
class Kubeconfig:
    """The contexts of a kubeconfig (several files merged, first one wins, as kubectl does)."""

    path: str
    contexts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    current_context: str | None = None
    # Each cluster entry's server, by cluster name.
    servers: Mapping[str, str] = field(default_factory=dict)
    # The cluster and user entries, by name; their file paths made absolute.
    clusters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    users: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def namespace(self, context: str) -> str | None:
        value = self.contexts.get(context, {}).get("namespace")
        return str(value) if value else None

    def server(self, context: str) -> str | None:
        cluster = self.contexts.get(context, {}).get("cluster")
        return self.servers.get(str(cluster)) if cluster else None

    def contexts_for_server(self, server: str) -> list[str]:
        """The contexts whose cluster's server is ``server`` (a trailing slash does not count)."""
        wanted = server.rstrip("/")
        return sorted(c for c in self.contexts if (self.server(c) or "").rstrip("/") == wanted)


def load_kubeconfig(path: str) -> Kubeconfig:
    """Read the contexts of the kubeconfig file(s) at ``path``; a missing or broken file is an error."""
    contexts: dict[str, Mapping[str, Any]] = {}
    servers: dict[str, str] = {}
    clusters: dict[str, Mapping[str, Any]] = {}
    users: dict[str, Mapping[str, Any]] = {}
    current: str | None = None
    found = False
    for part in filter(None, path.split(os.pathsep)):
        file = Path(part).expanduser()
        doc = _read(file)
        if doc is None:
            continue
        found = True
        for name, body in _named(doc, "contexts", "context"):
            contexts.setdefault(name, body)
        for name, body in _named(doc, "clusters", "cluster"):
            clusters.setdefault(name, _absolute(body, file.parent, _CLUSTER_FILES))
            if body.get("server"):
                servers.setdefault(name, str(body["server"]))
        for name, body in _named(doc, "users", "user"):
            users.setdefault(name, _absolute(body, file.parent, _USER_FILES))
        current = current or (str(doc["current-context"]) if doc.get("current-context") else None)
    if not found:
        raise KubeconfigNotFoundError(f"no kubeconfig at {path}")
    return Kubeconfig(path, contexts, current, servers, clusters, users)


# The fields of an entry that name a file (relative to the kubeconfig that holds the entry).
_CLUSTER_FILES = ("certificate-authority",)
_USER_FILES = ("client-certificate", "client-key", "tokenFile")


def _absolute(body: Mapping[str, Any], directory: Path, fields: tuple[str, ...]) -> Mapping[str, Any]:
    """``body`` with the paths of ``fields`` made absolute: ``~`` expanded, a relative one taken from
    ``directory``."""
    paths = {f: Path(str(body[f])).expanduser() for f in fields if body.get(f)}
    if not paths:
        return body
    return {**body, **{f: str(path if path.is_absolute() else directory / path) for f, path in paths.items()}}


def _read(file: Path) -> dict[str, Any] | None:
    """The kubeconfig document in ``file``; None when there is no such file."""
    try:
        text = file.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KubeconfigError(f"cannot read kubeconfig {file}: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        raise KubeconfigError(f"kubeconfig {file} is not valid YAML") from None
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig {file} is not a kubeconfig (expected a YAML mapping)")
    return doc


def _named(doc: Mapping[str, Any], section: str, inner: str) -> list[tuple[str, Mapping[str, Any]]]:
    """The ``(name, body)`` of each entry of ``section`` that has a name; the others are skipped."""
    entries: list[tuple[str, Mapping[str, Any]]] = []
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            body = entry.get(inner)
            entries.append((entry["name"], body if isinstance(body, dict) else {}))
    return entries
