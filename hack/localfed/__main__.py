"""Command line of the local federation: up, down, status, and the fault hooks."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Callable
from pathlib import Path

from . import coredns, lb, operator
from .federation import REPO_ROOT, FederationConfig, LocalFederation

DEFAULT_STATE_DIR = REPO_ROOT / ".localfed"


def _print_status(fed: LocalFederation) -> int:
    rows = fed.status()
    if not rows:
        print("local federation is not running")
        return 1
    columns = ["cluster", "role", "ready", "version", "nodes", "region", "zones", "lb_pool", "dns", "server"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in columns))
    if fed.dns:
        d = fed.dns
        print(
            f"\nDNS: BIND serving {', '.join(d.zones)} on {d.address}:{d.port} "
            f"(TSIG key {d.key_name}, {d.key_algorithm})"
        )
        print(f"     dig @{d.address} -p {d.port} {d.zone} SOA")
    print(f"\nkubeconfig: export KUBECONFIG={fed.kubeconfig}")
    print(f"memory: {fed.memory_bytes() / 2**20:.0f} MiB RSS across all processes")
    if fed.startup_seconds is not None:
        print(f"last start-up took {fed.startup_seconds}s")
    return 0 if all(r["ready"] == "True" for r in rows) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="local-federation", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="default: %(default)s")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the host and member clusters and BIND; wait until Ready")
    up.add_argument("--members", type=int, default=3, help="number of member clusters (default 3)")
    up.add_argument("--dns-port", type=int, default=0, help="BIND's loopback port (default: a free one)")
    up.add_argument("--dns-zone", default="example.com")
    sub.add_parser("down", help="stop every process and remove the state")
    sub.add_parser("status", help="show clusters, DNS and memory; exit 1 unless all Ready")
    stop = sub.add_parser("stop-apiserver", help="fault: stop a cluster's apiserver (outage)")
    stop.add_argument("cluster")
    start = sub.add_parser("start-apiserver", help="end the outage: start that apiserver again")
    start.add_argument("cluster")
    pause = sub.add_parser("pause-apiserver", help="fault: freeze a cluster's apiserver (SIGSTOP: hung)")
    pause.add_argument("cluster")
    resume = sub.add_parser("resume-apiserver", help="end the hang: SIGCONT to that apiserver")
    resume.add_argument("cluster")
    backends = sub.add_parser("backends", help="fault: make selected Pods lose or regain readiness")
    backends.add_argument("cluster")
    backends.add_argument("selector", help="label selector, e.g. app=nginx")
    backends.add_argument("-n", "--namespace", default="default")
    backends.add_argument("--ready", choices=["true", "false"], required=True)
    sub.add_parser("register", help="apply the CRDs to the host and join every member with fedctl")
    op = sub.add_parser("operator", help="run the operator in the background (stopped by `down`), or stop it")
    op.add_argument("action", choices=["start", "stop"])
    sub.add_parser("lb-allocator", help="(internal) run the LoadBalancer allocator for the members")
    sub.add_parser("corefile-sync", help="(internal) keep each member's CoreDNS Corefile from its ConfigMap")
    return parser


# Fault hooks on one cluster's apiserver: command -> (what to do, what to say once done).
_APISERVER_FAULTS: dict[str, tuple[Callable[[LocalFederation, str], None], str]] = {
    "stop-apiserver": (LocalFederation.stop_apiserver, "stopped"),
    "start-apiserver": (LocalFederation.start_apiserver, "is back"),
    "pause-apiserver": (LocalFederation.pause_apiserver, "paused (SIGSTOP); resume it with resume-apiserver"),
    "resume-apiserver": (LocalFederation.resume_apiserver, "resumed"),
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)

    fed = LocalFederation(
        FederationConfig(
            args.state_dir,
            members=getattr(args, "members", 3),
            dns_port=getattr(args, "dns_port", 0),
            dns_zone=getattr(args, "dns_zone", "example.com"),
        )
    )
    if args.command == "up":
        fed.up()
        return _print_status(fed)
    if args.command == "down":
        fed.down()
        return 0
    if args.command == "status":
        return _print_status(fed)
    if args.command in _APISERVER_FAULTS:
        action, done = _APISERVER_FAULTS[args.command]
        action(fed, args.cluster)
        print(f"kube-apiserver of {args.cluster} {done}")
        return 0
    if args.command == "backends":
        n = fed.set_backends_ready(args.cluster, args.namespace, args.selector, args.ready == "true")
        print(f"{n} pod(s) in {args.cluster} set Ready={args.ready}")
        return 0
    if args.command == "register":
        operator.apply_crds(fed)
        operator.register_dns_credentials(fed)
        for member in fed.members:
            operator.register_member(fed, member)
        print(f"CRDs applied; registered {', '.join(m.spec.name for m in fed.members)}")
        return 0
    if args.command == "operator":
        if args.action == "start":
            record = operator.start_operator_detached(fed)
            print(f"operator running (pid {record.pid}); log: {record.log}")
        else:
            operator.stop_operator_detached(fed)
            print("operator stopped")
        return 0
    if args.command == "lb-allocator":
        lb.run_all(
            [
                (c.spec.name, fed.api_client(c.spec.name), ipaddress.IPv4Network(c.spec.lb_pool))
                for c in fed.members
                if c.spec.lb_pool
            ]
        )
        return 0
    if args.command == "corefile-sync":
        coredns.run_sync(
            [
                (c.spec.name, fed.api_client(c.spec.name), coredns.corefile_path(c.dir))
                for c in fed.members
                if c.dns
            ]
        )
        return 0
    parser.error(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
