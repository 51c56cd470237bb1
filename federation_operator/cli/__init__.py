"""``fedctl``, also the kubectl plugin ``kubectl fed``: join and unjoin member clusters, show the status.

``join CONTEXT`` gives the operator least-privilege access to the member behind a kubeconfig context (a
ServiceAccount bound to a ClusterRole over Services, EndpointSlices, Namespaces and Nodes read), stores the
minted token in the host cluster and creates the MemberCluster; ``unjoin`` undoes it; ``status`` shows every
FederatedService with its shards, health and DNS names; ``backup`` and ``restore`` export the federation's
host objects to one YAML stream and create them again in a rebuilt host cluster. Installed as the console
scripts ``fedctl`` and ``kubectl-fed`` (so ``kubectl fed join ...`` works); ``python -m
federation_operator.cli`` runs it too.

Expected failures (unknown context, unreachable cluster, forbidden, bad flag) end with one line on stderr
and a non-zero exit code: 1 failed, 2 bad usage, 3 ``unjoin`` left objects in an unreachable member.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from federation_operator.cli.backup import BackupRequest, RestoreRequest, backup, restore
from federation_operator.cli.context import Globals, open_kubeconfig, require_context
from federation_operator.cli.discovery import DiscoveryRequest, discovery
from federation_operator.cli.errors import EXIT_ERROR, EXIT_OK, CliError, UsageError
from federation_operator.cli.join import JoinRequest, join
from federation_operator.cli.parser import build_parser, program_name
from federation_operator.cli.registration import ProbeFlags, check_federation_name
from federation_operator.cli.status import StatusRequest, status
from federation_operator.cli.unjoin import UnjoinRequest, unjoin
from federation_operator.domain.errors import FederationError

__all__ = ["main", "run"]


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    if prog is None:
        prog = program_name(sys.argv[0]) if argv is None else "fedctl"
    parser = build_parser(prog)
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        return run(args, prog)
    except CliError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except FederationError as exc:  # from kube/: an unreachable cluster, a refused request, a bad kubeconfig
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR


def run(args: argparse.Namespace, prog: str) -> int:
    """Run the parsed command ``args``; raises :class:`CliError` (or the ``FederationError`` of a Kubernetes
    call) for expected failures."""
    quiet = bool(args.quiet)

    def say(line: str) -> None:
        if not quiet:
            print(line, flush=True)

    def warn(line: str) -> None:
        print(f"{prog}: {line}", file=sys.stderr, flush=True)

    kubeconfig = open_kubeconfig(args.kubeconfig)
    g = Globals(
        kubeconfig=kubeconfig,
        host_context=require_context(kubeconfig, args.host_context, "--host-context"),
        federation=check_federation_name(args.federation),
        operator_namespace=args.operator_namespace,
        prog=prog,
    )
    if args.command == "join":
        require_context(kubeconfig, args.context, "CONTEXT")
        request = JoinRequest(
            context=args.context,
            name=args.name,
            api_endpoint=args.api_endpoint,
            region=args.region,
            zones=args.zones,
            labels=dict(args.labels),
            probe=ProbeFlags(
                args.probe_period, args.probe_timeout, args.failure_threshold, args.success_threshold
            ),
            member_namespace=args.member_namespace,
            wait=args.wait,
            timeout=args.timeout,
        )
        joined = join(g, request, say, warn)
        if joined != EXIT_OK or not args.discovery:
            return joined
        return discovery(
            g, DiscoveryRequest("enable", args.context, args.name, timeout=args.timeout), say, warn
        )
    if args.command == "unjoin":
        return unjoin(
            g,
            UnjoinRequest(args.context, args.name, keep_services=args.keep_services, timeout=args.timeout),
            say,
            warn,
        )
    if args.command == "discovery":
        return discovery(
            g,
            DiscoveryRequest(
                args.action,
                args.context,
                args.name,
                configmap=args.configmap,
                cluster_domain=args.cluster_domain,
            ),
            say,
            warn,
        )
    if args.command == "backup":
        request_backup = BackupRequest(args.output, args.include_credentials, tuple(args.secrets))
        if request_backup.secrets and not request_backup.include_credentials:
            raise UsageError("--secret adds credentials: give --include-credentials too")
        # On stdout the backup is the output: the summary goes to stderr.
        report = warn if request_backup.output is None else say
        return backup(g, request_backup, lambda text: print(text, end="", flush=True), report, _now)
    if args.command == "restore":
        source = args.source

        def read() -> str:
            return sys.stdin.read() if source == "-" else Path(source).read_text()

        return restore(g, RestoreRequest(source, dry_run=args.dry_run), say, warn, read)
    request_status = StatusRequest(
        name=args.name,
        namespace=args.service_namespace,
        all_namespaces=args.all_namespaces,
        resolve=args.resolve,
        output=args.output,
    )
    return status(g, request_status, lambda text: print(text, flush=True))


def _now() -> datetime:
    return datetime.now(UTC)
