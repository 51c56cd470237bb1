"""fedctl's pure parts: argument parsing, the member RBAC and MemberCluster manifests, the status tables."""

from __future__ import annotations

import base64
import copy
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from federation_operator.cli import main
from federation_operator.cli.context import open_kubeconfig, require_context
from federation_operator.cli.errors import EXIT_USAGE, CliError, UsageError
from federation_operator.cli.parser import (
    build_parser,
    parse_dns_server,
    parse_label,
    parse_zones,
    program_name,
)
from federation_operator.cli.rbac import (
    MEMBER_RULES,
    MemberAccess,
    render_cluster_role,
    render_cluster_role_binding,
    render_fedctl_selector,
    render_member_namespace,
    render_service_account,
    render_token_secret,
)
from federation_operator.cli.registration import (
    MemberClusterPlan,
    ProbeFlags,
    Topology,
    check_federation_name,
    check_member_cluster_name,
    check_not_registered,
    plan_topology,
    render_credentials_secret,
    render_member_cluster,
    validate_member_cluster_spec,
)
from federation_operator.cli.render import (
    LiveAnswer,
    member_view,
    render_json,
    render_status,
    render_table,
    service_view,
)
from federation_operator.kube.kubeconfig import Kubeconfig
from federation_operator.kube.transport import api_path

# --- command line -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv0", "prog"),
    [
        ("/usr/local/bin/kubectl-fed", "kubectl fed"),
        ("kubectl-fed", "kubectl fed"),
        ("/repo/.venv/bin/fedctl", "fedctl"),
        ("/repo/federation_operator/cli/__main__.py", "fedctl"),
    ],
)
def test_program_name_follows_how_it_was_called(argv0: str, prog: str) -> None:
    assert program_name(argv0) == prog
    assert build_parser(prog).format_usage().startswith(f"usage: {prog} ")


def test_join_flags() -> None:
    args = build_parser().parse_args(
        [
            "join",
            "gce-us-central1",
            "--name",
            "us",
            "--api-endpoint",
            "https://us-control-plane:6443",
            "--region",
            "us-central1",
            "--zones",
            "us-central1-a,us-central1-b",
            "--label",
            "continent=america",
            "--label",
            "fedop.io/tier=gold",
            "--probe-period",
            "2",
            "--failure-threshold",
            "4",
            "--member-namespace",
            "fed",
            "--wait",
            "--timeout",
            "30s",
        ]
    )
    assert args.command == "join"
    assert (args.context, args.name, args.api_endpoint, args.region) == (
        "gce-us-central1",
        "us",
        "https://us-control-plane:6443",
        "us-central1",
    )
    assert args.zones == ("us-central1-a", "us-central1-b")
    assert dict(args.labels) == {"continent": "america", "fedop.io/tier": "gold"}
    assert (args.probe_period, args.probe_timeout, args.failure_threshold, args.success_threshold) == (
        2,
        None,
        4,
        None,
    )
    assert (args.member_namespace, args.wait, args.timeout) == ("fed", True, 30.0)
    # Defaults of the global flags.
    assert (args.kubeconfig, args.host_context, args.federation, args.operator_namespace, args.quiet) == (
        None,
        None,
        "myfederation",
        "fedop-system",
        False,
    )


def test_global_flags_go_before_or_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(
        [
            "--kubeconfig",
            "k",
            "--host-context",
            "fed",
            "--federation",
            "f",
            "--namespace",
            "ns",
            "unjoin",
            "c",
        ]
    )
    after = parser.parse_args(
        ["unjoin", "c", "--kubeconfig", "k", "--context", "fed", "--federation", "f", "--namespace", "ns"]
    )
    for args in (before, after):
        assert (args.kubeconfig, args.host_context, args.federation, args.operator_namespace) == (
            "k",
            "fed",
            "f",
            "ns",
        )
    # A flag given before the command is not reset by the command's own parser.
    assert parser.parse_args(["-q", "status"]).quiet is True


def test_unjoin_and_status_flags() -> None:
    parser = build_parser()
    unjoin = parser.parse_args(["unjoin", "--name", "us", "--keep-services"])
    assert (unjoin.context, unjoin.name, unjoin.keep_services) == (None, "us", True)
    status = parser.parse_args(["status", "nginx", "-n", "mynamespace", "--resolve", "127.0.0.1:5353"])
    assert (status.name, status.service_namespace, status.resolve) == (
        "nginx",
        "mynamespace",
        ("127.0.0.1", 5353),
    )
    everywhere = parser.parse_args(["status", "-A", "-o", "json"])
    assert (everywhere.all_namespaces, everywhere.output) == (True, "json")


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["join", "c", "--label", "novalue"], "argument --label: 'novalue' is not KEY=VALUE"),
        (["join", "c", "--label", "bad key=x"], "argument --label"),
        (["join", "c", "--label", "k=" + "v" * 64], "argument --label"),
        (["join", "c", "--zones", "Zone_A"], "argument --zones"),
        (["join", "c", "--probe-period", "0"], "argument --probe-period: '0' must be at least 1"),
        (["join", "c", "--timeout", "soon"], "argument --timeout"),
        (["join", "c", "--member-namespace", "Not_A_Namespace"], "argument --member-namespace"),
        (["status", "-n", "a", "-A"], "not allowed with argument"),
        (["status", "--resolve", "127.0.0.1:99999"], "argument --resolve"),
        (["status", "-o", "yaml"], "argument -o/--output"),
        (["join"], "the following arguments are required: CONTEXT"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_bad_command_lines_exit_2_naming_the_flag(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert complaint in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("region=us", ("region", "us")),
        ("fedop.io/tier=gold", ("fedop.io/tier", "gold")),
        ("empty=", ("empty", "")),
        ("A_b.c-d=E_f.g-h", ("A_b.c-d", "E_f.g-h")),
    ],
)
def test_parse_label(raw: str, expected: tuple[str, str]) -> None:
    assert parse_label(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("a,b", ("a", "b")), (" a , b ", ("a", "b")), ("", ()), ("us-central1-a", ("us-central1-a",))],
)
def test_parse_zones(raw: str, expected: tuple[str, ...]) -> None:
    assert parse_zones(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]", ("::1", 53)),
        ("ns1.example.com:53", ("ns1.example.com", 53)),
    ],
)
def test_parse_dns_server(raw: str, expected: tuple[str, int]) -> None:
    assert parse_dns_server(raw) == expected


# --- member RBAC --------------------------------------------------------------------------------------------


def test_member_rules_are_exactly_what_the_operator_needs() -> None:
    granted = {
        (group, resource, verb)
        for rule in MEMBER_RULES
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {
        *(("", "services", v) for v in ("get", "list", "watch", "create", "patch", "delete")),
        ("discovery.k8s.io", "endpointslices", "list"),
        ("discovery.k8s.io", "endpointslices", "watch"),
        ("", "namespaces", "get"),
        ("", "namespaces", "create"),
        ("", "nodes", "list"),
    }
    flat = [*(x for r in MEMBER_RULES for x in (*r["resources"], *r["verbs"], *r["apiGroups"]))]
    for never in ("secrets", "pods", "*", "update", "escalate", "bind", "impersonate"):
        assert never not in flat
    # /readyz and /version come from system:public-info-viewer, which every authenticated user has.
    assert all("nonResourceURLs" not in r for r in MEMBER_RULES)


def test_member_access_manifests() -> None:
    access = MemberAccess("myfederation", "fedop-system")
    labels = {"app.kubernetes.io/managed-by": "fedctl", "fedop.io/federation": "myfederation"}
    assert render_fedctl_selector("myfederation") == (
        "app.kubernetes.io/managed-by=fedctl,fedop.io/federation=myfederation"
    )

    namespace = render_member_namespace(access)
    assert namespace["metadata"] == {"name": "fedop-system", "labels": labels}

    account = render_service_account(access)
    assert account["metadata"] == {
        "name": "fedop-myfederation",
        "namespace": "fedop-system",
        "labels": labels,
    }

    role = render_cluster_role(access)
    assert role["kind"] == "ClusterRole"
    assert role["metadata"] == {"name": "fedop-myfederation", "labels": labels}
    assert role["rules"] == [dict(r) for r in MEMBER_RULES]

    binding = render_cluster_role_binding(access)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "fedop-myfederation",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "fedop-myfederation", "namespace": "fedop-system"}
    ]

    token = render_token_secret(access)
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "fedop-myfederation"}
    assert token["metadata"]["namespace"] == "fedop-system"
    assert "data" not in token  # the member's token controller fills it
    assert access.username == "system:serviceaccount:fedop-system:fedop-myfederation"


def test_every_federation_gets_its_own_names() -> None:
    a, b = MemberAccess("a", "fedop-system"), MemberAccess("b", "fedop-system")
    assert {a.service_account, a.cluster_role, a.token_secret}.isdisjoint(
        {b.service_account, b.cluster_role, b.token_secret}
    )


# --- MemberCluster and credentials --------------------------------------------------------------------------

NODES = [
    {"topology.kubernetes.io/region": "us-central1", "topology.kubernetes.io/zone": "us-central1-b"},
    {"topology.kubernetes.io/region": "us-central1", "topology.kubernetes.io/zone": "us-central1-a"},
    {"kubernetes.io/hostname": "unlabelled"},
]


@pytest.mark.parametrize(
    ("region", "zones", "nodes", "expected"),
    [
        pytest.param(
            None, None, NODES, Topology("us-central1", ("us-central1-a", "us-central1-b"), True, True)
        ),
        pytest.param("eu", None, NODES, Topology("eu", ("us-central1-a", "us-central1-b"), False, True)),
        pytest.param("eu", ("eu-a",), None, Topology("eu", ("eu-a",), False, False)),
        pytest.param("eu", (), None, Topology("eu", (), False, False)),
        pytest.param(None, None, [{"topology.kubernetes.io/region": "r"}], Topology("r", (), True, True)),
    ],
)
def test_plan_topology(
    region: str | None, zones: tuple[str, ...] | None, nodes: list[dict[str, str]] | None, expected: Topology
) -> None:
    assert plan_topology("ctx", region, zones, nodes) == expected


@pytest.mark.parametrize(
    ("nodes", "complaint"),
    [
        ([], "no node of ctx has a topology.kubernetes.io/region label"),
        ([{"kubernetes.io/hostname": "n"}], "pass --region"),
        (
            [{"topology.kubernetes.io/region": "a"}, {"topology.kubernetes.io/region": "b"}],
            "several regions (a, b): pass --region",
        ),
    ],
)
def test_plan_topology_without_a_region_names_the_flag(nodes: list[dict[str, str]], complaint: str) -> None:
    with pytest.raises(CliError, match="--region") as raised:
        plan_topology("ctx", None, None, nodes)
    assert complaint in str(raised.value)


def plan(**changes: Any) -> MemberClusterPlan:
    values: dict[str, Any] = {
        "name": "gce-us-central1",
        "federation": "myfederation",
        "api_endpoint": "https://127.0.0.1:6443",
        "secret_namespace": "fedop-system",
        "topology": Topology("us-central1", ("us-central1-a", "us-central1-b")),
    }
    values.update(changes)
    return MemberClusterPlan(**values)


def test_member_cluster_manifest_leaves_probe_defaults_to_the_crd() -> None:
    manifest = render_member_cluster(plan())
    assert manifest["apiVersion"] == "fedop.io/v1alpha1"
    assert manifest["kind"] == "MemberCluster"
    assert manifest["metadata"] == {
        "name": "gce-us-central1",
        "labels": {
            "region": "us-central1",
            "app.kubernetes.io/managed-by": "fedctl",
            "fedop.io/federation": "myfederation",
        },
    }
    assert manifest["spec"] == {
        "apiEndpoint": "https://127.0.0.1:6443",
        "secretRef": {"name": "gce-us-central1-credentials", "namespace": "fedop-system"},
        "region": "us-central1",
        "zones": ["us-central1-a", "us-central1-b"],
    }
    spec = validate_member_cluster_spec(manifest["spec"])
    assert spec.probe.period_seconds == 10  # the CRD's (and the model's) default


def test_member_cluster_manifest_with_probe_flags_and_labels() -> None:
    manifest = render_member_cluster(
        plan(
            labels={"region": "america", "tier": "gold", "app.kubernetes.io/managed-by": "me"},
            probe=ProbeFlags(period_seconds=2, timeout_seconds=2, failure_threshold=2, success_threshold=1),
            topology=Topology("us-central1", ()),
        )
    )
    assert manifest["metadata"]["labels"] == {
        "region": "america",  # --label region=... replaces the default
        "tier": "gold",
        "app.kubernetes.io/managed-by": "fedctl",  # fedctl's own marks cannot be replaced
        "fedop.io/federation": "myfederation",
    }
    assert manifest["spec"]["probe"] == {
        "periodSeconds": 2,
        "timeoutSeconds": 2,
        "failureThreshold": 2,
        "successThreshold": 1,
    }
    assert "zones" not in manifest["spec"]
    assert validate_member_cluster_spec(manifest["spec"]).probe.failure_threshold == 2


@pytest.mark.parametrize(
    ("changes", "flag"),
    [
        (
            {"api_endpoint": "http://insecure:8080"},
            "--api-endpoint: 'http://insecure:8080' is not an https://",
        ),
        ({"topology": Topology("US_Central", ())}, "--region"),
        ({"topology": Topology("us", ("Zone A",))}, "--zones"),
    ],
)
def test_member_cluster_spec_problems_name_their_flag(changes: dict[str, Any], flag: str) -> None:
    with pytest.raises(UsageError) as raised:
        validate_member_cluster_spec(render_member_cluster(plan(**changes))["spec"])
    assert str(raised.value).startswith(flag)


def test_probe_flags_name_themselves() -> None:
    spec = render_member_cluster(plan(probe=ProbeFlags(period_seconds=0)))["spec"]
    with pytest.raises(UsageError, match=r"^--probe-period"):
        validate_member_cluster_spec(spec)


def test_names() -> None:
    assert check_member_cluster_name("gce-us-central1", from_context=True) == "gce-us-central1"
    with pytest.raises(UsageError, match=r"context name 'arn:aws:eks:x' .*; pass --name"):
        check_member_cluster_name("arn:aws:eks:x", from_context=True)
    with pytest.raises(UsageError, match=r"^--name 'Upper'"):
        check_member_cluster_name("Upper", from_context=False)
    assert check_federation_name("myfederation") == "myfederation"
    with pytest.raises(UsageError, match="--federation"):
        check_federation_name("My.Federation")


def registered(
    name: str, endpoint: str, cluster_id: str | None = None, created: str = "2026-01-01T00:00:00Z"
) -> dict[str, Any]:
    """A MemberCluster as the host lists it, with the cluster ID the operator recorded (if any)."""
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"apiEndpoint": endpoint},
        "status": {"clusterID": cluster_id} if cluster_id else {},
    }


UID = "0c4f9a3e-1111-4222-8333-444455556666"


def test_join_refuses_a_cluster_registered_under_another_name_by_its_kube_system_uid() -> None:
    members = [registered("gce-us-central1", "https://127.0.0.1:6443", UID)]
    with pytest.raises(CliError) as caught:
        check_not_registered(
            "another-name", endpoint="https://localhost:6443/", cluster_id=UID, members=members
        )
    message = str(caught.value)
    assert f"kube-system UID {UID}" in message
    assert "already joined as MemberCluster gce-us-central1 (through https://127.0.0.1:6443)" in message
    assert "--name gce-us-central1" in message


def test_join_names_the_oldest_of_several_holders() -> None:
    members = [
        registered("dup", "https://b:6443", UID, created="2026-02-01T00:00:00Z"),
        registered("original", "https://a:6443", UID, created="2026-01-01T00:00:00Z"),
    ]
    with pytest.raises(CliError, match="already joined as MemberCluster original "):
        check_not_registered("new", endpoint="https://c:6443", cluster_id=UID, members=members)


def test_join_still_refuses_the_same_api_endpoint() -> None:
    members = [registered("gce-us-central1", "https://127.0.0.1:6443/")]
    with pytest.raises(CliError, match=r"https://127.0.0.1:6443 is already joined as MemberCluster gce-us-"):
        check_not_registered("x", endpoint="https://127.0.0.1:6443", cluster_id=None, members=members)


@pytest.mark.parametrize(
    ("name", "cluster_id"),
    [
        pytest.param("gce-us-central1", UID, id="joined again under its own name"),
        pytest.param("other", "a-different-cluster", id="another cluster"),
        pytest.param("other", None, id="uid unknown, other endpoint"),
    ],
)
def test_join_accepts(name: str, cluster_id: str | None) -> None:
    members = [registered("gce-us-central1", "https://127.0.0.1:6443", UID), registered("x", "https://x")]
    check_not_registered(
        name,
        endpoint="https://127.0.0.1:6443" if name == "gce-us-central1" else "https://n",
        cluster_id=cluster_id,
        members=members,
    )


def test_credentials_secret_holds_token_and_ca_only() -> None:
    secret = render_credentials_secret(
        member="gce-us-central1",
        namespace="fedop-system",
        federation="myfederation",
        token=b"t0k",
        ca_crt=b"PEM",
    )
    assert secret["metadata"]["name"] == "gce-us-central1-credentials"
    assert secret["metadata"]["labels"]["fedop.io/member-cluster"] == "gce-us-central1"
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "fedctl"
    assert {k: base64.b64decode(v) for k, v in secret["data"].items()} == {"token": b"t0k", "ca.crt": b"PEM"}


# --- kubeconfig ---------------------------------------------------------------------------------------------


def write_kubeconfig(path: Path, server: str = "https://127.0.0.1:1") -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c1", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
                "users": [{"name": "u", "user": {"token": "x"}}],
                "contexts": [
                    {"name": "host", "context": {"cluster": "c1", "user": "u", "namespace": "team"}},
                    {"name": "member", "context": {"cluster": "c1", "user": "u"}},
                ],
                "current-context": "host",
            }
        )
    )
    return path


def test_kubeconfig_contexts(tmp_path: Path) -> None:
    first = write_kubeconfig(tmp_path / "a")
    kubeconfig = open_kubeconfig(f"{tmp_path / 'missing'}:{first}")
    assert isinstance(kubeconfig, Kubeconfig)
    assert require_context(kubeconfig, None, "--host-context") == "host"
    assert require_context(kubeconfig, "member", "CONTEXT") == "member"
    assert kubeconfig.namespace("host") == "team"
    assert kubeconfig.server("member") == "https://127.0.0.1:1"
    assert kubeconfig.contexts_for_server("https://127.0.0.1:1/") == ["host", "member"]
    with pytest.raises(UsageError, match=r"^CONTEXT: no context 'nope' in .* \(contexts: host, member\)"):
        require_context(kubeconfig, "nope", "CONTEXT")
    with pytest.raises(UsageError, match=r"no kubeconfig at .* \(pass --kubeconfig or set KUBECONFIG\)"):
        open_kubeconfig(str(tmp_path / "missing"))


def test_api_paths() -> None:
    assert api_path("v1", "secrets", "s", "ns") == "/api/v1/namespaces/ns/secrets/s"
    assert api_path("v1", "nodes") == "/api/v1/nodes"
    assert api_path("fedop.io/v1alpha1", "memberclusters", "m") == "/apis/fedop.io/v1alpha1/memberclusters/m"
    assert api_path("fedop.io/v1alpha1", "federatedservices", namespace="a b") == (
        "/apis/fedop.io/v1alpha1/namespaces/a%20b/federatedservices"
    )


@pytest.mark.parametrize(
    ("argv", "code", "complaint"),
    [
        (["--host-context", "nope", "status"], 2, "--host-context: no context 'nope'"),
        (["join", "nope"], 2, "CONTEXT: no context 'nope'"),
        (["--federation", "Bad_Name", "status"], 2, "--federation 'Bad_Name'"),
        (["join", "member", "--name", "Upper"], 2, "--name 'Upper'"),
        (["unjoin"], 2, "unjoin needs the member's CONTEXT or --name"),
        (["status", "-A", "x"], 2, "drop -A"),
    ],
)
def test_expected_failures_are_one_line_without_traceback(
    tmp_path: Path, argv: list[str], code: int, complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config")
    assert main(["--kubeconfig", str(kubeconfig), *argv]) == code
    err = capsys.readouterr().err
    assert err.startswith("fedctl: error: ")
    assert complaint in err
    assert "Traceback" not in err


def test_unreachable_cluster_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = write_kubeconfig(tmp_path / "config", server=f"https://127.0.0.1:{port}")
    assert main(["--kubeconfig", str(kubeconfig), "status"]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the host cluster host at https://127.0.0.1:{port}: connection refused" in err
    assert "Traceback" not in err


# --- status rendering ---------------------------------------------------------------------------------------

NOW = datetime(2025, 1, 1, tzinfo=UTC).isoformat()


def condition(kind: str, status: str = "True", reason: str = "Ok", message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": status, "lastTransitionTime": NOW, "reason": reason, "message": message}


FSVC = {
    "metadata": {"name": "nginx", "namespace": "mynamespace"},
    "status": {
        "observedGeneration": 1,
        "conditions": [
            condition("Propagated"),
            condition("Healthy", "True", "SomeHealthy", "2 of 3 shards are healthy"),
            condition("DNSPublished"),
            condition("Ready"),
        ],
        "clusterSummary": "2/3",
        "clusters": {"healthy": 2, "total": 3},
        "shards": [
            {
                "cluster": "gce-asia-east1",
                "region": "asia-east1",
                "zones": ["asia-east1-a"],
                "synced": True,
                "ingress": [{"ip": "127.1.0.1"}],
                "readyEndpoints": 1,
                "healthy": True,
                "reason": "Healthy",
            },
            {
                "cluster": "gce-us-central1",
                "region": "us-central1",
                "zones": [],
                "synced": True,
                "ingress": [],
                "readyEndpoints": 0,
                "healthy": False,
                "reason": "NoReadyEndpoints",
            },
        ],
        "dns": {
            "globalName": "nginx.mynamespace.myfederation.svc.example.com.",
            "names": [
                {
                    "name": "nginx.mynamespace.myfederation.svc.example.com.",
                    "type": "A",
                    "targets": ["127.1.0.1"],
                    "tier": "global",
                },
                {
                    "name": "nginx.mynamespace.myfederation.svc.us-central1.example.com.",
                    "type": "CNAME",
                    "targets": ["nginx.mynamespace.myfederation.svc.example.com."],
                    "tier": "region",
                },
            ],
        },
    },
}
MEMBER = {
    "metadata": {"name": "gce-asia-east1"},
    "spec": {"region": "asia-east1", "zones": ["asia-east1-a"]},
    "status": {
        "conditions": [condition("Ready", "True", "ProbeSucceeded")],
        "kubernetesVersion": "v1.33.13",
        "zones": ["asia-east1-a", "asia-east1-b"],
    },
}
DOWN = {
    "metadata": {"name": "gce-us-central1"},
    "spec": {"region": "us-central1"},
    "status": {"conditions": [condition("Ready", "False", "ProbeFailed", "connection refused")]},
}


def columns_of(header: str, line: str, names: list[str]) -> None:
    """Every column of ``line`` starts where its header does (the table is aligned)."""
    for name in names:
        start = header.index(name)
        assert line[start - 2 : start] == "  " or start == len(line) - len(line.lstrip())
        assert line[start] != " "


def test_render_table_aligns_columns() -> None:
    lines = render_table(["A", "LONGER"], [["wide value", "x"], ["v", ""]], indent="  ")
    assert lines == ["  A           LONGER", "  wide value  x", "  v"]


def test_status_shows_members_services_shards_and_dns() -> None:
    text = render_status(
        [member_view(MEMBER), member_view(DOWN)], [service_view(FSVC)], scope="in namespace mynamespace"
    )
    lines = text.splitlines()
    assert lines[0].split() == ["MEMBER", "CLUSTER", "READY", "VERSION", "REGION", "ZONES"]
    assert lines[1].split() == [
        "gce-asia-east1",
        "True",
        "v1.33.13",
        "asia-east1",
        "asia-east1-a,asia-east1-b",
    ]
    assert lines[2].split() == ["gce-us-central1", "False", "(ProbeFailed)", "-", "us-central1", "-"]
    assert "  gce-us-central1: connection refused" in lines
    summary = lines.index(next(line for line in lines if line.startswith("NAMESPACE")))
    assert lines[summary + 1].split() == [
        "mynamespace",
        "nginx",
        "2/3",
        "True",
        "nginx.mynamespace.myfederation.svc.example.com.",
    ]
    assert "mynamespace/nginx" in lines
    assert "  Propagated=True  Healthy=True  DNSPublished=True  Ready=True" in lines
    shard_header = next(line for line in lines if line.strip().startswith("CLUSTER"))
    asia = next(line for line in lines if line.startswith("  gce-asia-east1  "))
    us = next(line for line in lines if line.startswith("  gce-us-central1  "))
    assert asia.split() == [
        "gce-asia-east1",
        "asia-east1",
        "asia-east1-a",
        "yes",
        "yes",
        "1",
        "127.1.0.1",
        "Healthy",
    ]
    assert us.split() == ["gce-us-central1", "us-central1", "-", "no", "yes", "0", "-", "NoReadyEndpoints"]
    for line in (asia, us):
        columns_of(shard_header, line, ["REGION", "ZONES", "HEALTHY", "ENDPOINTS", "INGRESS", "REASON"])
    dns_header = next(line for line in lines if line.strip().startswith("DNS NAME"))
    assert "LIVE" not in dns_header
    region = next(line for line in lines if "svc.us-central1.example.com." in line and "CNAME" in line)
    assert region.split() == [
        "nginx.mynamespace.myfederation.svc.us-central1.example.com.",
        "CNAME",
        "region",
        "nginx.mynamespace.myfederation.svc.example.com.",
    ]
    columns_of(dns_header, region, ["TYPE", "TIER", "POINTS TO"])
    assert all(line == line.rstrip() for line in lines)


def test_status_shows_each_dns_mirror() -> None:
    mirrored = copy.deepcopy(FSVC)
    mirrored["status"]["dns"]["mirrors"] = [
        {"zone": "example.com", "mirror": "rfc2136", "provider": "rfc2136", "state": "Published"},
        {
            "zone": "example.com",
            "mirror": "secondary",
            "provider": "rfc2136",
            "state": "Failed",
            "message": "the DNS provider cannot be reached",
        },
    ]
    lines = render_status([member_view(MEMBER)], [service_view(mirrored)], scope="").splitlines()
    assert "  DNS example.com (rfc2136): Published" in lines
    assert "  DNS example.com (secondary, rfc2136): Failed: the DNS provider cannot be reached" in lines


def test_status_with_live_answers() -> None:
    answers = {
        "nginx.mynamespace.myfederation.svc.example.com.": LiveAnswer(addresses=("127.1.0.1",)),
        "nginx.mynamespace.myfederation.svc.us-central1.example.com.": LiveAnswer(
            cnames=("nginx.mynamespace.myfederation.svc.example.com.",), addresses=("127.1.0.1",)
        ),
    }
    text = render_status(
        [member_view(MEMBER)], [service_view(FSVC)], scope="", answers=answers, server="127.0.0.1:5353"
    )
    lines = text.splitlines()
    header = next(line for line in lines if line.strip().startswith("DNS NAME"))
    assert header.rstrip().endswith("LIVE ANSWER (127.0.0.1:5353)")
    region = next(line for line in lines if "svc.us-central1.example.com.  " in line)
    assert region.endswith("CNAME nginx.mynamespace.myfederation.svc.example.com. -> A 127.1.0.1")
    columns_of(header, region, ["LIVE ANSWER"])


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        (LiveAnswer(addresses=("127.1.0.1", "127.2.0.1")), "A 127.1.0.1, 127.2.0.1"),
        (LiveAnswer(addresses=("127.1.0.1", "::1")), "A 127.1.0.1 -> AAAA ::1"),
        (LiveAnswer(cnames=("a.", "b.")), "CNAME a. -> CNAME b. -> no address"),
        (LiveAnswer(rcode="NXDOMAIN"), "NXDOMAIN"),
        (LiveAnswer(), "no records"),
        (LiveAnswer(error="timed out"), "error: timed out"),
    ],
)
def test_live_answer_text(answer: LiveAnswer, text: str) -> None:
    assert answer.text() == text


def test_status_without_services_or_status() -> None:
    assert render_status([], [], scope="in namespace default").splitlines() == [
        "No MemberClusters: join one with 'join CONTEXT'.",
        "",
        "No FederatedServices in namespace default.",
    ]
    fresh = service_view({"metadata": {"name": "new", "namespace": "ns"}})
    text = render_status([], [fresh], scope="")
    assert "  no status yet: is the operator running?" in text.splitlines()
    assert "  no shards" in text.splitlines()
    broken = service_view({"metadata": {"name": "old", "namespace": "ns"}, "status": {"shards": "bad"}})
    assert "status not understood" in render_status([], [broken], scope="")


def test_json_output() -> None:
    answers = {"nginx.mynamespace.myfederation.svc.example.com.": LiveAnswer(addresses=("127.1.0.1",))}
    doc = render_json([member_view(MEMBER)], [service_view(FSVC)], answers)
    assert doc["memberClusters"] == [
        {
            "name": "gce-asia-east1",
            "ready": "True",
            "version": "v1.33.13",
            "region": "asia-east1",
            "zones": ["asia-east1-a", "asia-east1-b"],
        }
    ]
    service = doc["federatedServices"][0]
    assert (service["namespace"], service["name"], service["clusters"], service["ready"]) == (
        "mynamespace",
        "nginx",
        "2/3",
        "True",
    )
    assert service["status"] == FSVC["status"]
    assert service["liveAnswers"]["nginx.mynamespace.myfederation.svc.example.com."] == {
        "rcode": "NOERROR",
        "cnames": [],
        "addresses": ["127.1.0.1"],
    }


def test_status_shows_each_members_in_cluster_discovery() -> None:
    discovery = [
        {"cluster": "gce-asia-east1", "state": "Local", "target": "nginx.mynamespace.svc.cluster.local"},
        {
            "cluster": "gce-us-central1",
            "state": "Fallback",
            "target": "nginx.mynamespace.myfederation.svc.us-central1-a.example.com",
        },
    ]
    fsvc = {**FSVC, "status": {**FSVC["status"], "discovery": discovery}}  # type: ignore[dict-item]
    lines = render_status([member_view(MEMBER)], [service_view(fsvc)], scope="").splitlines()
    header = next(line for line in lines if line.strip().startswith("IN-CLUSTER DISCOVERY"))
    asia = next(line for line in lines if line.startswith("  gce-asia-east1  ") and "local" in line)
    us = next(line for line in lines if line.startswith("  gce-us-central1  ") and "fallback" in line)
    assert asia.split() == ["gce-asia-east1", "local", "nginx.mynamespace.svc.cluster.local"]
    assert us.split() == [
        "gce-us-central1",
        "fallback",
        "nginx.mynamespace.myfederation.svc.us-central1-a.example.com",
    ]
    columns_of(header, us, ["ANSWERS", "POINTS TO"])


def test_status_without_discovery_shows_no_discovery_table() -> None:
    text = render_status([member_view(MEMBER)], [service_view(FSVC)], scope="")
    assert "IN-CLUSTER DISCOVERY" not in text


def test_discovery_flags() -> None:
    args = build_parser().parse_args(
        ["discovery", "enable", "gce-us-central1", "--zone", "us-central1-b", "--configmap", "dns/coredns"]
    )
    assert (args.command, args.action, args.context) == ("discovery", "enable", "gce-us-central1")
    assert (args.zone, args.configmap, args.cluster_domain, args.name) == (
        "us-central1-b",
        "dns/coredns",
        None,
        None,
    )
    assert build_parser().parse_args(["join", "ctx", "--discovery"]).discovery is True
    assert build_parser().parse_args(["join", "ctx"]).discovery is False
    with pytest.raises(SystemExit):
        build_parser().parse_args(["discovery", "toggle", "ctx"])
