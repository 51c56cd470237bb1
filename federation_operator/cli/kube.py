"""Kubernetes access for the CLI: the kubeconfig's contexts, and one small JSON client per cluster.

Every request goes through :func:`federation_operator.kube.credentials.send_request` (the operator's own
raw request path), so transport failures arrive as one error with a short, credential-free reason; here they
become :class:`~federation_operator.cli.errors.ClusterUnreachableError`, and error statuses become
:class:`~federation_operator.cli.errors.CliError` naming the cluster, the context and the object.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote

import yaml
from kubernetes import config
from kubernetes.client import ApiClient

from federation_operator import __version__
from federation_operator.cli.errors import CliError, ClusterUnreachableError, UsageError
from federation_operator.kube.errors import ApiConnectionError
from federation_operator.kube.transport import RawResponse, send_request, status_message

__all__ = [
    "FIELD_MANAGER",
    "Cluster",
    "Kubeconfig",
    "api_path",
    "connect",
    "load_kubeconfig",
    "poll",
    "resolve_kubeconfig_path",
]

FIELD_MANAGER = "fedctl"
APPLY_PATCH = "application/apply-patch+yaml"
PAGE_SIZE = 500
T = TypeVar("T")


def resolve_kubeconfig_path(flag: str | None) -> str:
    """``--kubeconfig``, else ``$KUBECONFIG`` (a list joined with ``:``, as kubectl reads it), else
    ``~/.kube/config``."""
    if flag:
        return flag
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


@dataclass(frozen=True)
class Kubeconfig:
    """The contexts of a kubeconfig (several files merged, first one wins, as kubectl does)."""

    path: str
    contexts: Mapping[str, Mapping[str, Any]]
    current_context: str | None
    # Each cluster entry's server, by cluster name.
    servers: Mapping[str, str]

    def require(self, context: str | None, flag: str) -> str:
        """``context`` (or the current context) if the kubeconfig has it; else an error naming ``flag``."""
        if context is None:
            if not self.current_context:
                raise UsageError(f"{self.path} has no current-context: pass {flag}")
            context = self.current_context
            flag = f"current-context of {self.path}"
        if context not in self.contexts:
            known = ", ".join(sorted(self.contexts)) or "none"
            raise UsageError(f"{flag}: no context {context!r} in {self.path} (contexts: {known})")
        return context

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
    current: str | None = None
    found = False
    for part in filter(None, path.split(os.pathsep)):
        file = Path(part).expanduser()
        try:
            text = file.read_text()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise CliError(f"cannot read kubeconfig {file}: {exc.strerror}") from None
        found = True
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            raise CliError(f"kubeconfig {file} is not valid YAML") from None
        if not isinstance(doc, dict):
            raise CliError(f"kubeconfig {file} is not a kubeconfig (expected a YAML mapping)")
        for entry in doc.get("contexts") or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                body = entry.get("context")
                contexts.setdefault(entry["name"], body if isinstance(body, dict) else {})
        for entry in doc.get("clusters") or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                body = entry.get("cluster")
                if isinstance(body, dict) and body.get("server"):
                    servers.setdefault(entry["name"], str(body["server"]))
        current = current or (str(doc["current-context"]) if doc.get("current-context") else None)
    if not found:
        raise UsageError(f"no kubeconfig at {path} (pass --kubeconfig or set KUBECONFIG)")
    return Kubeconfig(path, contexts, current, servers)


def connect(kubeconfig: Kubeconfig, context: str, role: str) -> Cluster:
    """A client for ``context``; ``role`` ("host", "member") is how messages refer to that cluster."""
    try:
        api = cast(
            ApiClient,
            config.new_client_from_config(config_file=kubeconfig.path, context=context, persist_config=False),
        )
    except (config.ConfigException, OSError, ValueError, KeyError) as exc:
        raise CliError(f"context {context!r} in {kubeconfig.path}: {exc}") from None
    api.user_agent = f"fedctl/{__version__}"
    return Cluster(context=context, role=role, api=api)


def api_path(
    api_version: str, plural: str, name: str | None = None, namespace: str | None = None, sub: str = ""
) -> str:
    """The REST path of a collection or object: ``/api/v1/namespaces/ns/secrets/name``."""
    path = ("/apis/" if "/" in api_version else "/api/") + api_version
    if namespace is not None:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{plural}"
    if name is not None:
        path += f"/{quote(name, safe='')}"
    return path + (f"/{sub}" if sub else "")


@dataclass
class Cluster:
    """One cluster reached through a kubeconfig context: JSON in, JSON out, errors as :class:`CliError`."""

    context: str
    role: str
    api: ApiClient

    @property
    def server(self) -> str:
        return str(self.api.configuration.host)

    @property
    def label(self) -> str:
        return f"{self.role} cluster {self.context}"

    def close(self) -> None:
        self.api.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        body: Any = None,
        query: Sequence[tuple[str, str | int | bool]] = (),
        content_type: str | None = None,
        timeout: float = 30.0,
    ) -> RawResponse:
        try:
            return send_request(
                self.api,
                method,
                path,
                what=what,
                body=body,
                query=query,
                content_type=content_type,
                timeout=(5.0, timeout),
            )
        except ApiConnectionError as exc:
            raise ClusterUnreachableError(
                f"cannot reach the {self.label} at {self.server}: {exc.reason}"
            ) from None

    def fail(self, response: RawResponse, what: str) -> CliError:
        """The error for an unexpected ``response`` to ``what`` ("create ClusterRole fedop-x")."""
        if response.status == 401:
            return CliError(f"{what}: the {self.label} does not accept the kubeconfig's credentials (401)")
        if response.status == 403:
            return CliError(f"{what}: forbidden in the {self.label}: {status_message(response)}")
        return CliError(f"{what} in the {self.label}: {status_message(response)} (HTTP {response.status})")

    def _json(self, response: RawResponse, what: str) -> dict[str, Any]:
        try:
            value = response.json()
        except ValueError:
            raise CliError(f"{what}: the {self.label} answered with malformed JSON") from None
        if not isinstance(value, dict):
            raise CliError(f"{what}: the {self.label} answered with something other than an object")
        return value

    def get(self, path: str, what: str) -> dict[str, Any] | None:
        """The object at ``path``, or None when there is none (404)."""
        response = self.request("GET", path, what=what)
        if response.status == 404:
            return None
        if response.status != 200:
            raise self.fail(response, what)
        return self._json(response, what)

    def items(self, path: str, what: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        """Every item of the collection at ``path`` (paged); a missing resource type is an error."""
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query: list[tuple[str, str | int | bool]] = [("limit", PAGE_SIZE)]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            response = self.request("GET", path, what=what, query=query)
            if response.status != 200:
                raise self.fail(response, what)
            page = self._json(response, what)
            items.extend(i for i in page.get("items") or [] if isinstance(i, dict))
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return items

    def create(self, path: str, body: Mapping[str, Any], what: str) -> dict[str, Any] | None:
        """POST ``body`` to the collection at ``path``; None when it already exists (409)."""
        response = self.request("POST", path, what=what, body=dict(body))
        if response.status == 409:
            return None
        if response.status not in (200, 201, 202):
            raise self.fail(response, what)
        return self._json(response, what)

    def replace(self, path: str, body: Mapping[str, Any], what: str) -> dict[str, Any]:
        """PUT ``body`` (with the ``resourceVersion`` it was read at) to the object at ``path``."""
        response = self.request("PUT", path, what=what, body=dict(body))
        if response.status not in (200, 201):
            raise self.fail(response, what)
        return self._json(response, what)

    def apply(self, path: str, body: Mapping[str, Any], what: str) -> dict[str, Any]:
        """Server-side apply ``body`` to the object at ``path`` (created when missing), as ``fedctl``."""
        response = self.request(
            "PATCH",
            path,
            what=what,
            body=dict(body),
            query=[("fieldManager", FIELD_MANAGER), ("force", True)],
            content_type=APPLY_PATCH,
        )
        if response.status not in (200, 201):
            raise self.fail(response, what)
        return self._json(response, what)

    def delete(self, path: str, what: str, uid: str | None = None) -> bool:
        """Delete the object at ``path`` (only if its UID is ``uid``, when given); False when it was gone."""
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
        }
        if uid:
            body["preconditions"] = {"uid": uid}
        response = self.request("DELETE", path, what=what, body=body)
        if response.status == 404:
            return False
        if response.status == 409 and uid:
            return False  # someone re-created it under that name: not ours any more
        if response.status not in (200, 202):
            raise self.fail(response, what)
        return True

    def wait_gone(self, path: str, what: str, timeout: float) -> dict[str, Any] | None:
        """Poll until the object at ``path`` is gone: None, or the object still there at the deadline."""
        last: dict[str, Any] | None = None

        def gone() -> bool:
            nonlocal last
            last = self.get(path, what)
            return last is None

        return None if poll(gone, timeout) else last


def poll(check: Callable[[], T | None], timeout: float, interval: float = 0.25) -> T | None:
    """Call ``check`` until it returns something truthy or ``timeout`` seconds have passed; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
