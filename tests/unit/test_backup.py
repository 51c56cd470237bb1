"""fedctl backup / restore, the pure part: what a backup keeps of each object, the stream's header, and the
restore plan (order, refusals). The whole drill against a real host is tests/e2e/test_restore.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from federation_operator.cli import main
from federation_operator.cli.backup import plan_restore, render_backup, render_backup_object
from federation_operator.cli.errors import UsageError
from federation_operator.cli.parser import build_parser

NOW = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)

LIVE_SERVICE: dict[str, Any] = {
    "apiVersion": "fedop.io/v1alpha1",
    "kind": "FederatedService",
    "metadata": {
        "name": "nginx",
        "namespace": "shop",
        "uid": "0d5c-old",
        "resourceVersion": "4711",
        "generation": 3,
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "finalizers": ["fedop.io/cleanup"],
        "managedFields": [{"manager": "kubectl"}],
        "labels": {"team": "web"},
        "annotations": {
            "owner": "web-team",
            "kopf.zalando.org/last-handled-configuration": "{}",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
        },
    },
    "spec": {"template": {"spec": {"ports": [{"port": 80}]}}},
    "status": {"observedGeneration": 3, "conditions": [{"type": "Ready", "status": "True"}]},
}
LIVE_MEMBER: dict[str, Any] = {
    "apiVersion": "fedop.io/v1alpha1",
    "kind": "MemberCluster",
    "metadata": {"name": "us-east", "uid": "x", "resourceVersion": "1", "labels": {"region": "us-east1"}},
    "spec": {
        "apiEndpoint": "https://203.0.113.10:6443",
        "secretRef": {"name": "fedop-member-us-east", "namespace": "fedop-system"},
        "region": "us-east1",
    },
    "status": {"conditions": []},
}
LIVE_SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {
        "name": "fedop-member-us-east",
        "namespace": "fedop-system",
        "uid": "s",
        "resourceVersion": "2",
    },
    "type": "Opaque",
    "data": {"token": "dG9rZW4=", "ca.crt": "Y2E="},
}


def test_a_backup_keeps_what_was_declared_and_drops_what_the_cluster_filled_in() -> None:
    assert render_backup_object(LIVE_SERVICE, "FederatedService") == {
        "apiVersion": "fedop.io/v1alpha1",
        "kind": "FederatedService",
        "metadata": {
            "name": "nginx",
            "namespace": "shop",
            "labels": {"team": "web"},
            "annotations": {"owner": "web-team"},
        },
        "spec": {"template": {"spec": {"ports": [{"port": 80}]}}},
    }
    assert render_backup_object(LIVE_SECRET, "Secret") == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "fedop-member-us-east", "namespace": "fedop-system"},
        "type": "Opaque",
        "data": {"token": "dG9rZW4=", "ca.crt": "Y2E="},
    }


def test_without_credentials_the_header_says_what_to_recreate_and_no_secret_is_written() -> None:
    text = render_backup(federation="myfed", members=[LIVE_MEMBER], services=[LIVE_SERVICE], now=NOW)
    assert text.startswith("# fedctl backup of federation myfed, 2026-12-04T20:00:00+00:00:\n")
    assert "# 1 MemberClusters, 1 FederatedServices, 1 namespaces." in text
    assert "# Credentials NOT included" in text
    docs = list(yaml.safe_load_all(text))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Namespace", "shop"),
        ("MemberCluster", "us-east"),
        ("FederatedService", "nginx"),
    ]
    assert "dG9rZW4=" not in text


def test_with_credentials_the_header_warns_and_their_namespace_comes_first() -> None:
    text = render_backup(
        federation="myfed", members=[LIVE_MEMBER], services=[LIVE_SERVICE], secrets=[LIVE_SECRET], now=NOW
    )
    assert "# CREDENTIALS INCLUDED: 1 Secrets (fedop-system/fedop-member-us-east)" in text
    kinds = [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(text)]
    assert kinds == [
        ("Namespace", "fedop-system"),
        ("Namespace", "shop"),
        ("Secret", "fedop-member-us-east"),
        ("MemberCluster", "us-east"),
        ("FederatedService", "nginx"),
    ]


def test_restore_plans_a_backup_as_it_was_written_in_dependency_order() -> None:
    text = render_backup(
        federation="myfed", members=[LIVE_MEMBER], services=[LIVE_SERVICE], secrets=[LIVE_SECRET], now=NOW
    )
    written = list(yaml.safe_load_all(text))
    assert plan_restore(written) == written
    # Hand-edited out of order, it is put back in order.
    shuffled = [written[4], written[3], written[2], written[0], written[1]]
    assert [d["kind"] for d in plan_restore(shuffled)] == [
        "Namespace",
        "Namespace",
        "Secret",
        "MemberCluster",
        "FederatedService",
    ]
    # A plain `kubectl get -o yaml` of the objects restores just as well: what the cluster filled in goes.
    assert plan_restore([LIVE_SERVICE]) == [render_backup_object(LIVE_SERVICE, "FederatedService")]


@pytest.mark.parametrize(
    ("doc", "complaint"),
    [
        (
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}},
            "document 1 is Deployment",
        ),
        ("just text", "document 1 is not a Kubernetes object"),
        (
            {"apiVersion": "fedop.io/v1", "kind": "MemberCluster", "metadata": {"name": "x"}},
            "is fedop.io/v1alpha1",
        ),
        ({"apiVersion": "v1", "kind": "Secret", "metadata": {}}, "a Secret without a name"),
    ],
    ids=["other-kind", "not-an-object", "other-version", "nameless"],
)
def test_restore_refuses_what_a_backup_never_holds(doc: Any, complaint: str) -> None:
    with pytest.raises(UsageError, match=complaint):
        plan_restore([doc])


def test_backup_and_restore_flags() -> None:
    args = build_parser().parse_args(
        ["backup", "-f", "fed.yaml", "--include-credentials", "--secret", "dns", "--secret", "more"]
    )
    assert (args.command, args.output, args.include_credentials, args.secrets) == (
        "backup",
        "fed.yaml",
        True,
        ["dns", "more"],
    )
    args = build_parser().parse_args(["restore", "-f", "-", "--dry-run", "--context", "new-host"])
    assert (args.command, args.source, args.dry_run, args.host_context) == ("restore", "-", True, "new-host")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["restore"])  # -f is required


def write_kubeconfig(path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "h", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "host", "context": {"cluster": "h", "user": "u"}}],
                "current-context": "host",
            }
        )
    )
    return path


def test_usage_errors_before_any_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = str(write_kubeconfig(tmp_path / "kc"))
    assert main(["--kubeconfig", kubeconfig, "backup", "--secret", "dns"]) == 2
    assert "--secret adds credentials: give --include-credentials too" in capsys.readouterr().err
    (tmp_path / "other.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n")
    assert main(["--kubeconfig", kubeconfig, "restore", "-f", str(tmp_path / "other.yaml")]) == 2
    assert "a backup holds only Namespace, Secret, MemberCluster, FederatedService" in capsys.readouterr().err
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    assert main(["--kubeconfig", kubeconfig, "restore", "-f", str(tmp_path / "empty.yaml")]) == 2
    assert "holds no object to restore" in capsys.readouterr().err
