"""The command line of ``fedctl`` / ``kubectl fed``: the argument parser and the parsers of flag values.

Pure: building the parser and checking values does no I/O. A bad value is reported by argparse as
``argument --label: ...`` with exit code 2. The global flags (``--kubeconfig``, ``--host-context``,
``--federation``, ``--namespace``, ``--quiet``) are accepted before or after the command, so that both
``kubectl fed --kubeconfig k join c`` and ``kubectl fed join c --kubeconfig k`` work (kubectl itself refuses
flags placed before a plugin's name).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re

from federation_operator import __version__
from federation_operator.domain.specs import DNS_LABEL_PATTERN

__all__ = [
    "DEFAULT_FEDERATION",
    "DEFAULT_NAMESPACE",
    "DEFAULT_TIMEOUT",
    "build_parser",
    "parse_dns_server",
    "parse_label",
    "parse_namespace",
    "parse_positive_int",
    "parse_timeout",
    "parse_zones",
    "program_name",
]

DEFAULT_FEDERATION = "myfederation"
DEFAULT_NAMESPACE = "fedop-system"
DEFAULT_TIMEOUT = 60.0

_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def program_name(argv0: str) -> str:
    """``kubectl fed`` when run as the kubectl plugin (``kubectl-fed``), else ``fedctl``."""
    base = os.path.basename(argv0)
    return "kubectl fed" if base.startswith("kubectl-fed") else "fedctl"


def parse_label(raw: str) -> tuple[str, str]:
    """``KEY=VALUE`` with a valid Kubernetes label key and value."""
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{raw!r} is not KEY=VALUE")
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _LABEL_PREFIX.fullmatch(prefix)):
        raise argparse.ArgumentTypeError(f"{raw!r}: the key's prefix {prefix!r} is not a DNS subdomain")
    if len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(
            f"{raw!r}: the key's name {name!r} must be 1-63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{raw!r}: the value {value!r} must be at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return key, value


def parse_zones(raw: str) -> tuple[str, ...]:
    """``a,b`` → ``("a", "b")``; an empty string means no zones. Each zone must be a DNS label."""
    zones = tuple(z.strip() for z in raw.split(",") if z.strip())
    for zone in zones:
        if len(zone) > 63 or not re.fullmatch(DNS_LABEL_PATTERN, zone):
            raise argparse.ArgumentTypeError(f"zone {zone!r} is not a lowercase DNS label")
    if len(set(zones)) != len(zones):
        raise argparse.ArgumentTypeError(f"{raw!r} names a zone twice")
    return zones


def parse_namespace(raw: str) -> str:
    if len(raw) > 63 or not re.fullmatch(DNS_LABEL_PATTERN, raw):
        raise argparse.ArgumentTypeError(f"{raw!r} is not a valid namespace name (a lowercase DNS label)")
    return raw


def parse_positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} must be at least 1")
    return value


def parse_timeout(raw: str) -> float:
    try:
        value = float(raw.removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{raw!r} must be more than 0 seconds")
    return value


def parse_dns_server(raw: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (``[v6]:PORT`` for an IPv6 address with a port); the port defaults to 53."""
    host, port = raw, "53"
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise argparse.ArgumentTypeError(f"{raw!r} is not HOST[:PORT]")
        port = rest[1:] or "53"
    elif raw.count(":") == 1:
        host, _, port = raw.partition(":")
    elif raw.count(":") > 1:
        try:
            ipaddress.IPv6Address(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not HOST[:PORT]") from None
    if not host:
        raise argparse.ArgumentTypeError(f"{raw!r}: the host is missing")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{raw!r}: the port must be a number from 1 to 65535")
    return host, int(port)


def _global_flags(parser: argparse.ArgumentParser, *, top: bool, with_namespace: bool = True) -> None:
    """The flags every command takes. In the commands' parsers their defaults are suppressed, so a flag
    given before the command is not reset by the command's parser."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("global flags")
    group.add_argument(
        "--kubeconfig",
        metavar="PATH",
        default=default(None),
        help="the kubeconfig with the host and member contexts (default: $KUBECONFIG, else ~/.kube/config)",
    )
    group.add_argument(
        "--host-context",
        "--context",
        dest="host_context",
        metavar="CONTEXT",
        default=default(None),
        help="the kubeconfig context of the host cluster, where the operator runs (default: current context)",
    )
    group.add_argument(
        "--federation",
        metavar="NAME",
        default=default(DEFAULT_FEDERATION),
        help="the federation's name, the operator's FEDOP_FEDERATION_NAME (default: %(default)s)"
        if top
        else f"the federation's name, the operator's FEDOP_FEDERATION_NAME (default: {DEFAULT_FEDERATION})",
    )
    if with_namespace:
        group.add_argument(
            "--namespace",
            dest="operator_namespace",
            metavar="NS",
            type=parse_namespace,
            default=default(DEFAULT_NAMESPACE),
            help=f"the operator's namespace in the host cluster, where member credentials are kept "
            f"(default: {DEFAULT_NAMESPACE})",
        )
    group.add_argument(
        "-q", "--quiet", action="store_true", default=default(False), help="print errors and warnings only"
    )


def build_parser(prog: str = "fedctl") -> argparse.ArgumentParser:
    """The whole command line; ``prog`` is how the program was called (``fedctl`` or ``kubectl fed``)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Join member clusters to a federation-operator federation, and see its federated "
        "Services at a glance.",
        epilog=f"Run '{prog} COMMAND --help' for a command's flags.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_flags(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    join = commands.add_parser(
        "join",
        help="register a member cluster: least-privilege ServiceAccount in it, credentials and MemberCluster "
        "in the host",
        description="Create a ServiceAccount with the operator's minimal RBAC in the member (the kubeconfig "
        "context CONTEXT), mint its token, store it as a Secret in the host cluster and create the "
        "MemberCluster. Running it again updates what it created.",
    )
    join.add_argument("context", metavar="CONTEXT", help="the member cluster's kubeconfig context")
    join.add_argument("--name", help="the MemberCluster's name (default: CONTEXT)")
    join.add_argument(
        "--api-endpoint",
        metavar="URL",
        help="the https URL the operator reaches the member at, when it is not the context's server "
        "(for example https://member-control-plane:6443 for kind)",
    )
    join.add_argument(
        "--region", help="the member's region (default: the topology.kubernetes.io/region label of its nodes)"
    )
    join.add_argument(
        "--zones",
        metavar="ZONE[,ZONE...]",
        type=parse_zones,
        help="the member's zones (default: the topology.kubernetes.io/zone labels of its nodes)",
    )
    join.add_argument(
        "--label",
        metavar="KEY=VALUE",
        dest="labels",
        action="append",
        type=parse_label,
        default=[],
        help="a label of the MemberCluster, for placement (repeatable; region=REGION is always added "
        "unless given here)",
    )
    probe = join.add_argument_group("probe settings (left out: the CRD's defaults)")
    probe.add_argument(
        "--probe-period", metavar="SECONDS", type=parse_positive_int, help="seconds between probes"
    )
    probe.add_argument(
        "--probe-timeout", metavar="SECONDS", type=parse_positive_int, help="seconds before a probe fails"
    )
    probe.add_argument(
        "--failure-threshold",
        metavar="N",
        type=parse_positive_int,
        help="failures in a row to turn not Ready",
    )
    probe.add_argument(
        "--success-threshold", metavar="N", type=parse_positive_int, help="successes in a row to turn Ready"
    )
    join.add_argument(
        "--member-namespace",
        metavar="NS",
        type=parse_namespace,
        default=DEFAULT_NAMESPACE,
        help="the namespace of the ServiceAccount in the member, created when missing (default: %(default)s)",
    )
    join.add_argument(
        "--wait", action="store_true", help="wait until the operator reports the MemberCluster Ready"
    )
    join.add_argument(
        "--discovery",
        action="store_true",
        help="also turn in-cluster discovery on in the member (as 'discovery enable CONTEXT' does)",
    )
    join.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=parse_timeout,
        default=DEFAULT_TIMEOUT,
        help="how long to wait for the token, and with --wait for Ready (default: %(default)g)",
    )
    _global_flags(join, top=False)

    unjoin = commands.add_parser(
        "unjoin",
        help="remove a member cluster: MemberCluster and credentials in the host, what join created in it",
        description="Delete the MemberCluster (waiting until the operator let it go) and its credentials "
        "Secret in the host, then in the member the Services this federation created (unless "
        "--keep-services), the ClusterRoleBinding, ClusterRole, token Secret and ServiceAccount, and the "
        "namespace if join created it. Anything already gone is skipped. Exit code 3: the host was cleaned "
        "but the member could not be reached, and the objects left there are listed.",
    )
    unjoin.add_argument(
        "context",
        metavar="CONTEXT",
        nargs="?",
        help="the member cluster's kubeconfig context (default: the context whose server is the "
        "MemberCluster's apiEndpoint)",
    )
    unjoin.add_argument("--name", help="the MemberCluster's name (default: CONTEXT)")
    unjoin.add_argument(
        "--keep-services",
        action="store_true",
        help="leave the federation's Services in the member (a later join adopts them)",
    )
    unjoin.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=parse_timeout,
        default=DEFAULT_TIMEOUT,
        help="how long to wait for each deletion to finish (default: %(default)g)",
    )
    _global_flags(unjoin, top=False)

    _discovery_command(commands)

    status = commands.add_parser(
        "status",
        help="every FederatedService with its shards, health and DNS names (and live DNS answers)",
        description="Show the member clusters, then every FederatedService with its shards (one line per "
        "member cluster) and the DNS names the operator published, from their status.",
    )
    status.add_argument("name", metavar="NAME", nargs="?", help="only this FederatedService")
    where = status.add_mutually_exclusive_group()
    where.add_argument(
        "-n",
        "--namespace",
        dest="service_namespace",
        metavar="NS",
        help="the FederatedServices' namespace (default: the host context's namespace, else default)",
    )
    where.add_argument(
        "-A", "--all-namespaces", action="store_true", help="FederatedServices in every namespace"
    )
    status.add_argument(
        "--resolve",
        metavar="HOST[:PORT]",
        type=parse_dns_server,
        help="also ask this DNS server (port 53 by default) for every published name, A/AAAA/CNAME",
    )
    status.add_argument("-o", "--output", choices=["table", "json"], default="table", help="output format")
    _global_flags(status, top=False, with_namespace=False)

    backup = commands.add_parser(
        "backup",
        help="export the MemberClusters and FederatedServices (and credentials, if asked) to YAML",
        description="Write every MemberCluster and FederatedService of the host cluster, with the Namespaces "
        "they need, to one YAML stream: what was declared (spec, labels, annotations), never status, UIDs or "
        "finalizers. Member Services and DNS records stay where they are: restored objects adopt them. "
        "Credentials are left out unless --include-credentials.",
    )
    backup.add_argument(
        "-f", "--file", dest="output", metavar="FILE", help="write to FILE (mode 0600), not stdout"
    )
    backup.add_argument(
        "--include-credentials",
        action="store_true",
        help="also the Secrets the MemberClusters' secretRef names, and every --secret: the file then holds "
        "credentials and must be kept secret",
    )
    backup.add_argument(
        "--secret",
        metavar="NAME",
        dest="secrets",
        action="append",
        default=[],
        help="with --include-credentials, one more Secret of the operator's namespace to include, e.g. the "
        "DNS credentials (repeatable)",
    )
    _global_flags(backup, top=False)

    restore = commands.add_parser(
        "restore",
        help="create the objects of a backup in a host cluster (existing ones are left as they are)",
        description="Create the Namespaces, Secrets, MemberClusters and FederatedServices of a fedctl backup "
        "in the host cluster, in that order; an object that exists already is left as it is and reported. "
        "The CRDs must be installed. Start the operator afterwards: it adopts the member Services and DNS "
        "records the restored objects owned, writing nothing when nothing changed.",
    )
    restore.add_argument(
        "-f", "--file", dest="source", metavar="FILE", required=True, help="the backup ('-': stdin)"
    )
    restore.add_argument("--dry-run", action="store_true", help="only list what would be created")
    _global_flags(restore, top=False)
    return parser


def _discovery_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``discovery enable|disable CONTEXT``."""
    discovery = commands.add_parser(
        "discovery",
        help="turn in-cluster discovery on or off in a member (its CoreDNS answers federated names)",
        description="enable: create the namespace fedop-discovery-FEDERATION in the member, add one rewrite "
        "rule to its CoreDNS Corefile (ConfigMap kube-system/coredns) and label its MemberCluster "
        "fedop.io/discovery=CLUSTER_DOMAIN, so that Pods there resolve SERVICE.NAMESPACE.FEDERATION to the "
        "member's own Service while its shard is healthy, else to the public zone name. disable: remove "
        "exactly that (the Corefile is restored byte for byte). Both are idempotent.",
    )
    discovery.add_argument("action", choices=["enable", "disable"], help="turn discovery on or off")
    discovery.add_argument("context", metavar="CONTEXT", help="the member cluster's kubeconfig context")
    discovery.add_argument("--name", help="the MemberCluster's name (default: CONTEXT)")
    discovery.add_argument(
        "--configmap",
        metavar="NAMESPACE/NAME",
        default="kube-system/coredns",
        help="the ConfigMap holding the member's Corefile (default: %(default)s)",
    )
    discovery.add_argument(
        "--cluster-domain",
        metavar="DOMAIN",
        help="the member's cluster domain (default: the first zone of the Corefile's kubernetes plugin)",
    )
    discovery.add_argument(
        "--zone",
        help="the zone whose public name the member's Pods fall back to (default: the zone of the node "
        "running its first CoreDNS Pod, else the MemberCluster's first zone)",
    )
    _global_flags(discovery, top=False)
