"""The kopf handlers: thin wiring between kopf and the operator's parts.

- Start-up builds the parts: the work queue and its reconcile workers, the member cache, the DNS publisher,
  the event poster, and the FederatedService watch (our own list+watch of the host, not kopf's: see
  ``controllers/host_watch.py``), which feeds the store and marks objects dirty so bursts coalesce.
  Deletion runs behind our finalizer, kept by the controller.
- Each MemberCluster gets a daemon (its supervisor: credentials, shared watches, probes, status).

Our own errors become kopf's here and only here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import signal
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from federation_operator.controllers.discovery import DiscoveryController
from federation_operator.controllers.dns_credentials import follow_dns_credentials, secret_fingerprint
from federation_operator.controllers.federated_service import (
    FederatedServiceController,
    FederatedServiceStore,
)
from federation_operator.controllers.host_watch import FederatedServiceWatch
from federation_operator.controllers.member_cache import MemberRegistry
from federation_operator.controllers.member_calls import MemberCalls
from federation_operator.controllers.member_cluster import MemberSupervisor
from federation_operator.controllers.orphans import OrphanCollector
from federation_operator.controllers.shutdown import ShutdownGate
from federation_operator.controllers.workqueue import WorkQueue
from federation_operator.dns.factory import make_provider
from federation_operator.dns.provider import DnsProvider
from federation_operator.dns.publisher import Publisher
from federation_operator.dns.publishers import PublisherGroup, ZonePublisher
from federation_operator.domain.errors import FederationError, PermanentError, TransientError
from federation_operator.domain.keys import FINALIZER, GROUP, VERSION, Key
from federation_operator.domain.records import ProviderLimits
from federation_operator.domain.specs import DnsDefaults
from federation_operator.kube import host
from federation_operator.kube.async_transport import AsyncTransport
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.events import EventPoster
from federation_operator.kube.exec_plugin import EXEC_TIMEOUT
from federation_operator.observability.events import EventSink
from federation_operator.observability.metrics import Metrics
from federation_operator.planning.reconcile import Federation
from federation_operator.settings import DnsTarget, Settings

log = logging.getLogger(__name__)

FSVC, MC = "federatedservices", "memberclusters"


@dataclass
class Runtime:
    """Everything the handlers share, kept in kopf's memo (no module globals)."""

    settings: Settings
    host_api: ClusterClient
    store: FederatedServiceStore = field(default_factory=FederatedServiceStore)
    queue: WorkQueue[Key] | None = None
    registry: MemberRegistry | None = None
    controller: FederatedServiceController | None = None
    kicks: dict[str, asyncio.Event] = field(default_factory=dict)
    member_names: set[str] = field(default_factory=set)
    workers: list[asyncio.Task[None]] = field(default_factory=list)
    publisher_tasks: list[asyncio.Task[None]] = field(default_factory=list)  # one per zone and mirror
    collector_task: asyncio.Task[None] | None = None
    credentials_tasks: list[asyncio.Task[None]] = field(default_factory=list)  # follow credentials Secrets
    events: EventPoster | None = None
    # Requests to the host and the members from the event loop: one aiohttp session per cluster client.
    transport: AsyncTransport = field(default_factory=AsyncTransport)
    events_task: asyncio.Task[None] | None = None
    watch: FederatedServiceWatch | None = None
    metrics: Metrics = field(default_factory=Metrics)
    gate: ShutdownGate = field(default_factory=ShutdownGate)
    # Set (with the signal) to tell kopf to stop, once our own signal handlers have closed the gate.
    stop_flag: concurrent.futures.Future[signal.Signals] = field(default_factory=concurrent.futures.Future)
    signals_armed: bool = False
    # The host's Authorization header last handed to kopf (login): asked for again, it was refused.
    kopf_authorization: str | None = None


def _emitter(runtime: Runtime) -> EventSink:
    def emit(body: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        if runtime.events is not None:
            runtime.events.emit(body, kind, reason, message)

    return emit


def _runtime(memo: kopf.Memo) -> Runtime:
    runtime = memo.get("runtime")
    assert isinstance(runtime, Runtime), (
        "the operator was started without its runtime (use federation_operator)"
    )
    return runtime


def _arm_signals(runtime: Runtime) -> None:
    """Take SIGTERM/SIGINT over from kopf: close the shutdown gate first, then let kopf stop.

    kopf installs its own handlers while it starts its tasks, and the startup activity may run before it
    has. So ours are installed later: when the FederatedService watch has come back with its first list
    (a round trip to the host cluster after start-up), or at the first MemberCluster handler (which kopf
    runs only once start-up is over), whichever comes first. Before then there is nothing to protect: no
    member is connected and no DNS round has gone out.
    """
    if runtime.signals_armed:
        return
    runtime.signals_armed = True
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        runtime.gate.close(f"signal {signum.name}")
        if not runtime.stop_flag.done():
            runtime.stop_flag.set_result(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread: kopf said so too
            log.warning("cannot handle %s: a stop may publish what our own teardown looks like", signum.name)
            return
    log.info("SIGTERM/SIGINT now close the shutdown gate before the operator stops")


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf keeps each object's last handled spec (its "diff base") to tell creations from updates. We have
    no creation, update or resume handlers, so there is nothing to compare, and storing it would cost one
    PATCH per object. Deletion does not depend on it."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        # kopf's own build deep-copies the whole body on every event, only to be compared with nothing.
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        pass


@kopf.on.login()
def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    """kopf talks to the host cluster with the same credentials as our own host client."""
    runtime = _runtime(memo)
    host = runtime.host_api
    config = host.config
    try:
        authorization = host.headers().get("Authorization", "")
        if authorization and authorization == runtime.kopf_authorization:
            # kopf asks again for what it holds: the server refused it (or it expired and no renewal came).
            renewal = host.credentials_refused(authorization)
            if renewal is not None:
                renewal.join(EXEC_TIMEOUT)
            authorization = host.headers().get("Authorization", "")
    except FederationError as exc:  # an exec plugin that failed: kopf asks again
        raise kopf.TemporaryError(f"host credentials: {exc}", delay=10) from exc
    runtime.kopf_authorization = authorization
    scheme, _sep, token = authorization.partition(" ")
    expires = host.token_expires
    return kopf.ConnectionInfo(
        server=config.server,
        ca_path=config.ca_file,
        ca_data=config.ca_data,
        insecure=not config.verify,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
        scheme=scheme or None,
        token=token or None,
        proxy_url=host.proxy,
        # kopf logs in again when this passes (an exec plugin's token): the plugin is asked for a new one.
        expiration=datetime.fromtimestamp(expires, UTC) if expires is not None else None,
    )


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    # Our bookkeeping lives in annotations under our own prefix; the status belongs to the CRD's schema.
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="fedop.io")
    settings.persistence.diffbase_storage = NoDiffBase()
    # Only warnings from kopf's own handler bookkeeping become events; ours are posted explicitly.
    settings.posting.level = logging.WARNING
    # `kubectl describe` shows this as the events' "From"; the instance tells replicas apart.
    settings.posting.reporting_component = "federation-operator"
    settings.posting.reporting_instance = socket.gethostname()
    settings.posting.event_name_prefix = "fedop-"
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330

    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(runtime.settings.io_threads, "fedop-io"))
    runtime.events = EventPoster(
        runtime.host_api,
        send=runtime.transport.run,
        component=settings.posting.reporting_component,
        instance=socket.gethostname(),
    )
    runtime.events_task = asyncio.create_task(runtime.events.run(), name="event-poster")
    queue: WorkQueue[Key] = WorkQueue(loop)
    runtime.queue = queue
    runtime.metrics.track_workqueue(queue.__len__)

    def enqueue_all() -> None:
        for key in runtime.store.known():
            queue.add(key)

    # The member watches run on this loop, and their callbacks with them: keys are queued directly.
    runtime.registry = registry = MemberRegistry(
        runtime.settings.federation_name,
        enqueue=queue.add,
        enqueue_all=enqueue_all,
        request_timeout=runtime.settings.member_request_timeout,
        transport=runtime.transport,
    )
    runtime.metrics.track_objects(lambda: {"federatedservices": len(runtime.store), **registry.held()})
    publisher = await _start_publishers(runtime, queue)
    config = runtime.settings
    # Every call to a member, from reconciles and the orphan collector alike, goes through these bounds.
    calls = MemberCalls(
        timeout=config.member_request_timeout,
        limit=config.workers,
        api_of=registry.api,
        send=runtime.transport.run,
        on_answer=lambda _cluster: enqueue_all(),
    )
    # In-cluster discovery (#11): members whose MemberCluster carries fedop.io/discovery.
    discovery = DiscoveryController(
        federation=config.federation_name,
        registry=registry,
        calls=calls,
        gate=runtime.gate,
        store_has=lambda key: runtime.store.get(key) is not None,
        enqueue=queue.add,
    )
    runtime.controller = FederatedServiceController(
        federation=Federation(
            name=config.federation_name,
            domain=config.federation_zone if publisher is not None else None,
            zones=publisher.zones if publisher is not None else (),
            defaults=DnsDefaults(
                ttl=config.default_ttl, min_ready_endpoints=config.default_min_ready_endpoints
            ),
            grace=config.unreachable_grace_seconds,
            alias_domains=config.alias_domains,
            # As the provider knows them at start-up (Cloud DNS: its project's quotas, read with the zone).
            limits=publisher.limits if publisher is not None else ProviderLimits(),
            providers=publisher.federation_providers if publisher is not None else (),
        ),
        registry=runtime.registry,
        store=runtime.store,
        host_api=runtime.host_api,
        emit=_emitter(runtime),
        publisher=publisher,
        metrics=runtime.metrics,
        # A MemberCluster refused as a duplicate of an older one never connects: DNS must not wait for it.
        expected_members=lambda: runtime.member_names - registry.refused(),
        gate=runtime.gate,
        # A hung member holds at most this many connections and reconcile workers, each for at most the
        # request timeout (README: the hung-member bound).
        calls=calls,
        discovery=discovery,
        send=runtime.transport.run,
    )
    collector = OrphanCollector(
        registry=runtime.registry,
        store=runtime.store,
        host_api=runtime.host_api,
        gate=runtime.gate,
        interval=config.orphan_collection_seconds,
        calls=calls,
        collect_dns=publisher.collect_orphans if publisher is not None else None,
        collect_discovery=discovery.collect_orphans,
    )
    runtime.collector_task = asyncio.create_task(collector.run(), name="orphan-collector")
    # The members that exist before any of them connects: until they have, DNS must not treat them as gone.
    try:
        runtime.member_names.update(
            await asyncio.to_thread(host.fetch_member_cluster_names, runtime.host_api)
        )
    except FederationError as exc:  # the MemberCluster events fill it in shortly anyway
        log.warning("could not list MemberClusters at start-up: %s", exc)
    controller = runtime.controller
    runtime.workers = [
        asyncio.create_task(_work(queue, controller, runtime.metrics, runtime.gate), name=f"reconcile-{i}")
        for i in range(config.workers)
    ]
    runtime.watch = FederatedServiceWatch(
        runtime.host_api,
        transport=runtime.transport,
        store=runtime.store,
        queue=queue,
        ours=controller.written_status,
        forget=controller.forget,
        # By the time a list has come back, kopf has long installed its signal handlers: ours replace them.
        on_synced=lambda: _arm_signals(runtime),
    )
    runtime.watch.start()


async def _start_publishers(runtime: Runtime, queue: WorkQueue[Key]) -> PublisherGroup | None:
    """A publishing loop for every zone and mirror of the settings, as one group; None when DNS is off."""
    settings = runtime.settings
    targets = settings.dns_targets
    if not targets:
        log.info("DNS publishing is off (no FEDOP_DNS_PROVIDER or FEDOP_DNS_ZONES)")
        return None
    members = [await _start_publisher(runtime, queue, target) for target in targets]
    runtime.metrics.track_dns_pending(
        lambda: [age for member in members for age in member.publisher.pending_ages()]
    )
    return PublisherGroup(members, federation_zone=settings.federation_zone)


async def _start_publisher(runtime: Runtime, queue: WorkQueue[Key], target: DnsTarget) -> ZonePublisher:
    """One zone's provider (credentials from its Secret) and its publishing loop."""
    settings = runtime.settings
    provider_name, zone = target.provider, target.zone

    def build(secret_data: Mapping[str, bytes]) -> DnsProvider:
        options = dict(target.options)
        options.update({k: v.decode() for k, v in secret_data.items()})
        return make_provider(provider_name, zone=zone, options=options, federation=settings.federation_name)

    secret = target.credentials_secret
    namespace, _slash, name = (secret or "").partition("/")

    async def fetch() -> Mapping[str, bytes]:
        return await asyncio.to_thread(host.fetch_secret_data, runtime.host_api, namespace, name)

    data: Mapping[str, bytes] = {}
    if secret:
        try:
            data = await fetch()
        except FederationError as exc:
            raise kopf.PermanentError(f"DNS credentials of {target.label}: {exc}") from exc
    try:
        provider = build(data)
    except FederationError as exc:
        raise kopf.PermanentError(f"DNS provider {provider_name} of {target.label}: {exc}") from exc
    publisher = Publisher(
        provider,
        federation=settings.federation_name,
        on_result=queue.add_routine,
        metrics=runtime.metrics,
        provider_name=provider_name,
        stopping=runtime.gate.is_closed,
        resync_seconds=settings.dns_resync_seconds_for(provider_name),
        health_check_seconds=settings.dns_health_check_poll_seconds,
    )
    runtime.publisher_tasks.append(asyncio.create_task(publisher.run(), name=f"dns-publisher {target.label}"))
    if secret:
        # A changed Secret is used at once (a poll of that one object: see controllers/dns_credentials).
        runtime.credentials_tasks.append(
            asyncio.create_task(
                follow_dns_credentials(
                    secret=secret,
                    fetch=fetch,
                    build=build,
                    publisher=publisher,
                    initial=secret_fingerprint(data),
                    interval=settings.dns_credentials_poll_seconds,
                    stopping=runtime.gate.is_closed,
                ),
                name=f"dns-credentials {target.label}",
            )
        )
    log.info("publishing DNS for %s through %s", zone, target.mirror_name)
    return ZonePublisher(publisher, mirror=target.mirror_name, provider_name=provider_name)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    runtime.gate.close("operator cleanup")
    if runtime.watch is not None:
        runtime.watch.stop()
    tasks = [
        *runtime.workers,
        *runtime.publisher_tasks,
        *runtime.credentials_tasks,
        *(task for task in (runtime.collector_task, runtime.events_task) if task is not None),
    ]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if runtime.registry is not None:
        for cluster in runtime.registry.clusters():
            runtime.registry.disconnect(cluster.name, notify=False)
    await runtime.transport.close()


async def _work(
    queue: WorkQueue[Key], controller: FederatedServiceController, metrics: Metrics, gate: ShutdownGate
) -> None:
    """One reconcile worker. An unexpected error is logged and retried later: it never stops the worker;
    the shutdown gate does."""
    failures: dict[Key, int] = {}
    while not gate.is_closed():
        key = await queue.get()
        if gate.is_closed():
            break
        started, ok = time.perf_counter(), False
        try:
            delay = await controller.reconcile(key)
            failures.pop(key, None)
            ok = True
        except (TransientError, PermanentError) as exc:
            failures[key] = failures.get(key, 0) + 1
            delay = min(2.0 ** failures[key], 60.0)
            log.warning("reconciling %s/%s failed (%s); retrying in %.0fs", *key, exc, delay)
        except Exception:
            failures[key] = failures.get(key, 0) + 1
            delay = min(2.0 ** failures[key], 60.0)
            log.exception("reconciling %s/%s crashed; retrying in %.0fs", *key, delay)
        finally:
            queue.done(key)
        metrics.observe_reconcile(time.perf_counter() - started, ok=ok)
        if delay is not None:
            queue.add_after(key, delay)


# --- MemberCluster ------------------------------------------------------------------------------------------


@kopf.on.event(GROUP, VERSION, MC)
async def member_cluster_event(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    _arm_signals(runtime)
    name = str(body.metadata.name)
    if event.get("type") == "DELETED":
        runtime.member_names.discard(name)
    else:
        runtime.member_names.add(name)
    # The daemon reads kopf's live body; a kick makes it notice a change now rather than after its sleep.
    kick = runtime.kicks.get(name)
    if kick is not None:
        kick.set()


@kopf.daemon(GROUP, VERSION, MC, cancellation_timeout=10)
async def member_cluster_daemon(
    name: str, body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any
) -> None:
    runtime = _runtime(memo)
    _arm_signals(runtime)
    assert runtime.registry is not None
    kick = runtime.kicks.setdefault(name, asyncio.Event())

    async def sleep(seconds: float) -> bool:
        kick.clear()
        waiters = {asyncio.ensure_future(kick.wait()), asyncio.ensure_future(stopped.wait(seconds))}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return bool(stopped)

    supervisor = MemberSupervisor(
        name=name,
        body=body,
        registry=runtime.registry,
        host_api=runtime.host_api,
        emit=_emitter(runtime),
        metrics=runtime.metrics,
    )

    def on_exit() -> None:
        # Before the supervisor disconnects its member: a member that goes away because the operator
        # exits must not look like a member that failed (without a signal, e.g. a crashed kopf task,
        # this is the first we hear of it).
        reason = stopped.reason
        if reason is not None and reason & kopf.DaemonStoppingReason.OPERATOR_EXITING:
            runtime.gate.close("MemberCluster daemons stopping")

    try:
        await supervisor.run(sleep, on_exit=on_exit)
    finally:
        runtime.kicks.pop(name, None)


@kopf.on.delete(GROUP, VERSION, MC, optional=True)
async def member_cluster_deleted(name: str, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    _arm_signals(runtime)
    if runtime.registry is not None:
        runtime.registry.disconnect(name)
