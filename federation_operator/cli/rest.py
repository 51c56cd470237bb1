"""A small JSON client for one cluster reached through a kubeconfig context: what ``fedctl`` talks through.

Every request goes through :func:`federation_operator.kube.transport.send_request` (the operator's own raw
request path), and every failure is one of the operator's errors, classified once
(:mod:`federation_operator.kube.errors`), with a message naming the cluster by its role and context ("the
member cluster kind-east"): an unreachable cluster is an
:class:`~federation_operator.kube.errors.ApiConnectionError`, an error status a ``TransientError`` or a
``PermanentError``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from kubernetes import config
from kubernetes.client import Configuration

from federation_operator import __version__
from federation_operator.domain.errors import PermanentError, TransientError
from federation_operator.kube.client import ClusterClient, ClusterConfig
from federation_operator.kube.errors import ApiConnectionError, status_error
from federation_operator.kube.kubeconfig import Kubeconfig, KubeconfigError
from federation_operator.kube.transport import (
    Query,
    RawResponse,
    send_delete,
    send_request,
    status_message,
)

__all__ = ["APPLY_PATCH", "PAGE_SIZE", "Cluster", "connect", "poll"]

APPLY_PATCH = "application/apply-patch+yaml"
PAGE_SIZE = 500
T = TypeVar("T")


def connect(kubeconfig: Kubeconfig, context: str, role: str, *, agent: str) -> Cluster:
    """A client for ``context``; ``role`` ("host", "member") is how messages refer to that cluster.

    ``agent`` ("fedctl") is the client's user agent (with the version) and its server-side apply field
    manager.
    """
    configuration = Configuration()
    try:
        config.load_kube_config(
            config_file=kubeconfig.path,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
        # Every way a kubeconfig authenticates (exec plugins, auth providers) ends in this header, once.
        authorization = configuration.auth_settings().get("BearerToken", {}).get("value")
    except (config.ConfigException, OSError, ValueError, KeyError) as exc:
        raise KubeconfigError(f"context {context!r} in {kubeconfig.path}: {exc}") from None
    token = str(authorization).removeprefix("Bearer ") if authorization else None
    api = ClusterClient(
        ClusterConfig(
            server=configuration.host,
            ca_file=configuration.ssl_ca_cert or None,
            cert_file=configuration.cert_file or None,
            key_file=configuration.key_file or None,
            token=token,
            verify=bool(configuration.verify_ssl),
            tls_server_name=configuration.tls_server_name or None,
            proxy=configuration.proxy,
            no_proxy=configuration.no_proxy,
            user_agent=f"{agent}/{__version__}",
        )
    )
    return Cluster(context=context, role=role, api=api, field_manager=agent)


@dataclass
class Cluster:
    """One cluster reached through a kubeconfig context: JSON in, JSON out, failures as our errors."""

    context: str
    role: str
    api: ClusterClient
    field_manager: str

    @property
    def server(self) -> str:
        return self.api.server

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
        query: Query = (),
        content_type: str | None = None,
    ) -> RawResponse:
        """Send one request and read the whole response, whatever its status."""
        with self._reaching():
            return send_request(
                self.api, method, path, what=what, body=body, query=query, content_type=content_type
            )

    @contextlib.contextmanager
    def _reaching(self) -> Iterator[None]:
        """A connection failure names the cluster and its server."""
        try:
            yield
        except ApiConnectionError as exc:
            raise ApiConnectionError(f"cannot reach the {self.label} at {self.server}", exc.reason) from None

    def fail(self, response: RawResponse, what: str) -> TransientError | PermanentError:
        """The error for an unexpected ``response`` to ``what`` ("create ClusterRole fedop-x")."""
        if response.status == 401:
            message = f"{what}: the {self.label} does not accept the kubeconfig's credentials (401)"
        elif response.status == 403:
            message = f"{what}: forbidden in the {self.label}: {status_message(response)}"
        else:
            message = f"{what} in the {self.label}: {status_message(response)} (HTTP {response.status})"
        return status_error(response.status, message, response.headers)

    def _json(self, response: RawResponse, what: str) -> dict[str, Any]:
        try:
            value = response.json()
        except ValueError:
            raise TransientError(f"{what}: the {self.label} answered with malformed JSON") from None
        if not isinstance(value, dict):
            raise TransientError(f"{what}: the {self.label} answered with something other than an object")
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
        """Server-side apply ``body`` to the object at ``path`` (created when missing), forcing conflicts."""
        response = self.request(
            "PATCH",
            path,
            what=what,
            body=dict(body),
            query=[("fieldManager", self.field_manager), ("force", True)],
            content_type=APPLY_PATCH,
        )
        if response.status not in (200, 201):
            raise self.fail(response, what)
        return self._json(response, what)

    def delete(self, path: str, what: str, uid: str | None = None) -> bool:
        """Delete the object at ``path`` (only if its UID is ``uid``, when given); False when it was gone.

        An object someone re-created under that name is not ours any more: it is left, and that is False too.
        """
        with self._reaching():
            outcome, response = send_delete(self.api, path, what=what, uid=uid)
        if outcome is None:
            raise self.fail(response, what)
        return outcome == "deleted"

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
