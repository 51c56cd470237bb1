"""Start-up: settings → host client → (leader election) → kopf.run.

Usage: python -m federation_operator [--config FILE] [--verbose]

With ``leader_election`` on, the process first stands by until it holds the Lease; only then does kopf
start (watches, daemons, writes). A replica that loses the Lease exits at once with status 3, as
controller-runtime operators do: Kubernetes restarts it, and it stands by again.
"""

from __future__ import annotations

import sys

# kopf imports the kubernetes client library whenever it is installed (fedctl and the tests need it), only
# to recognise the library's model objects, which this operator never hands to kopf: it talks to clusters
# through kube/ alone (kube/client.py). Loading it would cost ~18 MiB of memory and ~0.4 CPU-s at every
# start; a None entry in sys.modules makes that import fail as if it were not installed (kopf then skips it).
if "kubernetes" not in sys.modules:
    sys.modules["kubernetes"] = None  # type: ignore[assignment]

import argparse
import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

import kopf

from federation_operator import handlers
from federation_operator.allocator import trimmer
from federation_operator.domain.errors import PermanentError, TransientError
from federation_operator.gc_pacing import GcPacer
from federation_operator.kube.host import build_host_client
from federation_operator.kube.lease import LeaseElector, LeaseTimings, replica_identity
from federation_operator.observability import endpoints
from federation_operator.settings import Settings, SettingsError, load_settings

log = logging.getLogger("federation_operator")

EXIT_LOST_LEADERSHIP = 3
# Host connections beyond one per reconcile worker: the event poster, the FederatedService watch, the orphan
# collector, the lease, the DNS credentials poll.
HOST_POOL_SPARE = 8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="federation-operator", description=__doc__)
    parser.add_argument("--config", type=Path, help="YAML settings file (also: FEDOP_CONFIG_FILE)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    # kopf logs every watch-event handler call at INFO; what matters is logged by our code (and posted
    # as events), so kopf's per-object chatter is kept to warnings.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    try:
        settings = load_settings(args.config)
        host_api = build_host_client(
            settings.kubeconfig, settings.host_context, pool_size=settings.workers + HOST_POOL_SPARE
        )
    except (SettingsError, PermanentError) as exc:
        print(f"federation-operator: {exc}", file=sys.stderr)
        return 2
    try:
        # An exec plugin's first token is taken here: a request on the event loop never waits for the
        # plugin, and would go without a token.
        host_api.headers()
    except PermanentError as exc:
        print(f"federation-operator: {exc}", file=sys.stderr)
        return 2
    except TransientError as exc:
        log.warning("host credentials: %s; the plugin is asked again as requests need it", exc)
    runtime = handlers.Runtime(settings=settings, host_api=host_api)
    metrics_server = None
    elector: LeaseElector | None = None
    pacer = _pace_gc(settings, runtime)
    try:
        if settings.metrics_port is not None:
            metrics_server = endpoints.serve_metrics(
                runtime.metrics, settings.metrics_port, str(settings.metrics_address)
            )
        if settings.leader_election:
            elector = _elector(settings, runtime)
            if not _stand_by(elector, settings.liveness_port):
                return 0  # asked to stop while standing by
            elector.hold(on_lost=_lost_leadership)
        runtime.metrics.leader.set(1)
        kopf.run(
            clusterwide=True,
            # Never kopf's own peering: with leader election the Lease decides who runs, and without it
            # this is the only replica.
            standalone=True,
            memo=kopf.Memo(runtime=runtime),
            # Our SIGTERM/SIGINT handlers close the shutdown gate, then raise this flag (handlers.py).
            stop_flag=runtime.stop_flag,
            liveness_endpoint=f"http://0.0.0.0:{settings.liveness_port}/healthz"
            if settings.liveness_port
            else None,
        )
    except PermanentError as exc:
        print(f"federation-operator: {exc}", file=sys.stderr)
        return 2
    finally:
        if pacer is not None:
            pacer.stop()
        runtime.metrics.leader.set(0)
        if elector is not None:
            elector.release()
        if metrics_server is not None:
            endpoints.shutdown(metrics_server)
    return 0


def _pace_gc(settings: Settings, runtime: handlers.Runtime) -> GcPacer | None:
    """The garbage collector's pacer (gc_pacing.py), started now that the modules are loaded."""
    if not settings.gc_young_seconds:
        return None
    pacer = GcPacer(
        settings.gc_young_seconds,
        on_pass=lambda p: runtime.metrics.observe_gc_pass(p.full, p.seconds, p.frozen),
        after_pass=trimmer(),
    )
    pacer.start()
    return pacer


def _elector(settings: Settings, runtime: handlers.Runtime) -> LeaseElector:
    assert settings.leader_election_namespace is not None  # checked by the settings
    identity = replica_identity(os.getpid())
    return LeaseElector(
        runtime.host_api,
        namespace=settings.leader_election_namespace,
        name=settings.lease_name,
        identity=identity,
        timings=LeaseTimings(
            lease_duration=settings.lease_duration_seconds,
            renew_deadline=settings.renew_deadline_seconds,
            retry_period=settings.retry_period_seconds,
        ),
    )


def _stand_by(elector: LeaseElector, liveness_port: int | None) -> bool:
    """Block until this process holds the Lease (True) or SIGTERM/SIGINT asks it to stop (False)."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping while standing by (signal %d)", signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    health = endpoints.serve_standby_health(liveness_port) if liveness_port else None
    try:
        return elector.acquire(stop)
    finally:
        if health is not None:
            endpoints.shutdown(health)  # kopf serves the same port from now on
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _lost_leadership(reason: str) -> None:
    # Another replica may be active within moments: stop writing now, without a graceful shutdown (which
    # could still run handlers). Kubernetes restarts the process, which then stands by.
    log.critical("leadership lost (%s); exiting", reason)
    logging.shutdown()
    os._exit(EXIT_LOST_LEADERSHIP)


if __name__ == "__main__":
    sys.exit(main())
