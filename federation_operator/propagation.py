"""Reconciling one FederatedService: desired member Services → create / repair / withdraw → status.

The planning is pure (`federation_operator.planning`); this module sequences it with the member I/O
(`federation_operator.members.services`, run in threads) and the host status write. A reconcile reads only
the in-memory index fed by the shared member watches, so a FederatedService that is in sync costs no API
call at all; writes happen only for real differences.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client
from pydantic import ValidationError

from federation_operator import host
from federation_operator.errors import InvalidSpecError, PermanentError, TransientError
from federation_operator.members.services import (
    ServiceExistsError,
    apply_service,
    create_service,
    delete_service,
    ensure_namespace,
    fetch_service,
    observe_service,
)
from federation_operator.model.members import ClusterInfo, ObservedService
from federation_operator.model.specs import FederatedServiceSpec, parse_federated_service_spec
from federation_operator.model.status import FederatedServiceStatus, ShardStatus
from federation_operator.planning.overrides import plan_cluster_overrides
from federation_operator.planning.placement import plan_placement, unknown_clusters
from federation_operator.planning.services import is_in_sync, is_owned_by, render_member_service
from federation_operator.planning.status import render_shard, render_status
from federation_operator.registry import Key, MemberRegistry

__all__ = ["EventSink", "FederatedServiceStore", "Propagator"]

log = logging.getLogger(__name__)

# emit(body, type, reason, message): posts a Kubernetes event about the object (kopf.event in production).
EventSink = Callable[[Mapping[str, Any], str, str, str], None]


class FederatedServiceStore:
    """The latest body of every FederatedService, as the host watch delivered it."""

    def __init__(self) -> None:
        self._bodies: dict[Key, dict[str, Any]] = {}

    def put(self, body: Mapping[str, Any]) -> Key:
        meta = body["metadata"]
        key = (str(meta["namespace"]), str(meta["name"]))
        self._bodies[key] = _plain(body)
        return key

    def remove(self, key: Key) -> None:
        self._bodies.pop(key, None)

    def get(self, key: Key) -> dict[str, Any] | None:
        return self._bodies.get(key)

    def known(self) -> list[Key]:
        return list(self._bodies)


def _plain(value: Any) -> Any:
    """A deep, plain copy of kopf's read-only body views."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _previous_status(body: Mapping[str, Any]) -> FederatedServiceStatus | None:
    raw = body.get("status") or {}
    try:
        return FederatedServiceStatus.model_validate(raw)
    except ValidationError:
        return None  # written by an older version or by hand: rebuilt from scratch


class Propagator:
    """Reconciles FederatedServices against the members in the registry."""

    def __init__(
        self,
        *,
        federation: str,
        registry: MemberRegistry,
        store: FederatedServiceStore,
        host_api: client.ApiClient,
        emit: EventSink,
    ) -> None:
        self.federation = federation
        self.registry = registry
        self.store = store
        self.host_api = host_api
        self.emit = emit
        self._written: dict[Key, dict[str, Any]] = {}
        self._reported: dict[tuple[Key, str], str] = {}
        self.member_writes = 0  # creates, applies and deletes sent to members (for tests and benchmarks)

    # --- events, once per distinct message ------------------------------------------------------------

    def _report(self, body: Mapping[str, Any], topic: str, kind: str, reason: str, message: str) -> None:
        key = (str(body["metadata"]["namespace"]), str(body["metadata"]["name"]))
        if self._reported.get((key, topic)) == f"{reason}:{message}":
            return
        self._reported[(key, topic)] = f"{reason}:{message}"
        log.log(
            logging.WARNING if kind == "Warning" else logging.INFO, "%s/%s: %s: %s", *key, reason, message
        )
        self.emit(body, kind, reason, message)

    def _clear_report(self, key: Key, topic: str) -> None:
        self._reported.pop((key, topic), None)

    def forget(self, key: Key) -> None:
        self._written.pop(key, None)
        for topic_key in [k for k in self._reported if k[0] == key]:
            del self._reported[topic_key]

    # --- the reconcile ----------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> float | None:
        """Bring members and status in line with the FederatedService; returns a retry delay or None."""
        body = self.store.get(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None  # gone, or the delete handler is cleaning up
        namespace, name = key
        meta = body["metadata"]
        generation = int(meta.get("generation") or 0)
        previous = _previous_status(body)
        clusters = {c.name: c for c in self.registry.clusters()}
        now = datetime.datetime.now(datetime.UTC)

        try:
            spec = parse_federated_service_spec(body.get("spec") or {})
            desired = self._plan(spec, body, list(clusters.values()))
        except InvalidSpecError as err:
            status = render_status(
                generation=generation,
                shards=previous.shards if previous else (),
                unknown_clusters=(),
                invalid=err,
                previous=previous,
                now=now,
            )
            await self._write_status(key, body, status)
            self._report(body, "spec", "Warning", "InvalidSpec", str(err))
            return None
        self._clear_report(key, "spec")

        retry: float | None = None
        shards: list[ShardStatus] = []
        for cluster_name, info in clusters.items():
            observed = self.registry.service(cluster_name, namespace, name)
            manifest = desired.get(cluster_name)
            if manifest is None:
                await self._withdraw(body, info, observed)
                continue
            problem: str | None = None
            in_sync = False
            if not info.ready or not info.synced:
                problem = "cluster not ready" if not info.ready else "cluster watches not synced yet"
            else:
                try:
                    observed, in_sync, problem = await self._ensure(body, info, manifest, observed)
                except TransientError as exc:
                    problem, retry = str(exc), 5.0
                except PermanentError as exc:
                    problem = str(exc)
            shards.append(
                render_shard(
                    cluster=info,
                    desired_present=True,
                    observed=observed,
                    in_sync=in_sync,
                    endpoints=self.registry.endpoints(cluster_name, namespace, name),
                    min_ready_endpoints=spec.dns.min_ready_endpoints,
                    problem=problem,
                    owned=observed is not None
                    and is_owned_by(observed, self.federation, namespace, name, str(meta["uid"])),
                )
            )
        missing = unknown_clusters(spec.placement, list(clusters.values()))
        status = render_status(
            generation=generation,
            shards=shards,
            unknown_clusters=missing,
            invalid=None,
            previous=previous,
            now=now,
        )
        await self._write_status(key, body, status)
        return retry

    def _plan(
        self, spec: FederatedServiceSpec, body: Mapping[str, Any], clusters: list[ClusterInfo]
    ) -> dict[str, dict[str, Any]]:
        meta = body["metadata"]
        desired: dict[str, dict[str, Any]] = {}
        for cluster in plan_placement(spec.placement, clusters):
            patches, prefix = plan_cluster_overrides(spec.overrides, cluster)
            desired[cluster] = render_member_service(
                federation=self.federation,
                namespace=str(meta["namespace"]),
                name=str(meta["name"]),
                owner_uid=str(meta["uid"]),
                template=spec.template,
                overrides=patches,
                override_field_prefix=prefix,
            )
        return desired

    async def _ensure(
        self,
        body: Mapping[str, Any],
        info: ClusterInfo,
        manifest: dict[str, Any],
        observed: ObservedService | None,
    ) -> tuple[ObservedService | None, bool, str | None]:
        """Create or repair the member Service; returns (what is there now, in sync?, problem)."""
        api = self.registry.api(info.name)
        if api is None:
            return observed, False, "cluster no longer registered"
        meta = body["metadata"]
        namespace, name, uid = str(meta["namespace"]), str(meta["name"]), str(meta["uid"])
        key = (namespace, name)
        if observed is None:
            await asyncio.to_thread(ensure_namespace, api, namespace)
            try:
                created = await asyncio.to_thread(create_service, api, manifest)
            except ServiceExistsError:
                live = await asyncio.to_thread(fetch_service, api, namespace, name)
                if live is None:
                    raise TransientError("Service vanished while being created; retrying") from None
                observed = observe_service(info.name, live)
            else:
                self.member_writes += 1
                self._clear_report(key, f"conflict/{info.name}")
                self._report(
                    body, f"sync/{info.name}", "Normal", "Created", f"Service created in {info.name}"
                )
                return observe_service(info.name, created), True, None
        if not is_owned_by(observed, self.federation, namespace, name, uid):
            message = (
                f"a Service {namespace}/{name} not managed by this FederatedService already exists in "
                f"{info.name}; it is left untouched"
            )
            self._report(body, f"conflict/{info.name}", "Warning", "Conflict", message)
            return observed, False, f"Conflict: {message}"
        self._clear_report(key, f"conflict/{info.name}")
        if is_in_sync(observed.manifest, manifest):
            return observed, True, None
        applied = await asyncio.to_thread(apply_service, api, manifest)
        self.member_writes += 1
        generation = body["metadata"].get("generation")
        self._report(
            body,
            f"sync/{info.name}",
            "Normal",
            "Updated",
            f"Service in {info.name} brought in line with the spec (generation {generation})",
        )
        return observe_service(info.name, applied), True, None

    async def _withdraw(
        self, body: Mapping[str, Any], info: ClusterInfo, observed: ObservedService | None
    ) -> None:
        """A cluster no longer selected: remove our Service there (only ours, only with the UID we saw)."""
        meta = body["metadata"]
        namespace, name = str(meta["namespace"]), str(meta["name"])
        if observed is None or not is_owned_by(observed, self.federation, namespace, name, str(meta["uid"])):
            return
        api = self.registry.api(info.name)
        if api is None or not info.ready:
            return  # done when the cluster is back: it is re-planned then
        uid = observed.manifest.get("metadata", {}).get("uid")
        await asyncio.to_thread(delete_service, api, namespace, name, uid)
        self.member_writes += 1
        self._report(body, f"sync/{info.name}", "Normal", "Withdrawn", f"Service removed from {info.name}")

    async def _write_status(self, key: Key, body: Mapping[str, Any], status: FederatedServiceStatus) -> None:
        rendered = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        if rendered == self._written.get(key) or rendered == body.get("status"):
            self._written[key] = rendered
            return
        namespace, name = key
        await asyncio.to_thread(host.patch_federated_service_status, self.host_api, namespace, name, rendered)
        self._written[key] = rendered

    # --- deletion ----------------------------------------------------------------------------------------

    async def cleanup(self, body: Mapping[str, Any]) -> list[str]:
        """Remove this FederatedService's Services from every member; returns clusters that were skipped.

        Only Services we own (labels naming this object) are deleted, each with a UID precondition. A member
        that is not Ready is skipped with a warning rather than blocking the deletion forever.
        """
        meta = body["metadata"]
        namespace, name, uid = str(meta["namespace"]), str(meta["name"]), str(meta["uid"])
        skipped: list[str] = []
        for info in self.registry.clusters():
            api = self.registry.api(info.name)
            if api is None:
                continue
            if not info.ready:
                skipped.append(info.name)
                continue
            observed = self.registry.service(info.name, namespace, name)
            if observed is None and not info.synced:
                live = await asyncio.to_thread(fetch_service, api, namespace, name)
                observed = observe_service(info.name, live) if live else None
            if observed is None or not is_owned_by(observed, self.federation, namespace, name, uid):
                continue
            await asyncio.to_thread(
                delete_service, api, namespace, name, observed.manifest.get("metadata", {}).get("uid")
            )
            self.member_writes += 1
        self.forget((namespace, name))
        return skipped
