"""kind-config.yaml, for users who have Docker: kind itself (the pinned release) accepts it, for every member
region the README tells users to create, and its nodes carry the topology labels the operator reads.

There is no Docker engine here, so kind runs against a stand-in `docker` on PATH that answers kind's
read-only questions and refuses the first thing that would create something. kind decodes the file strictly
and validates it before that point: reaching it means kind accepted the config. Broken configs are the
control: kind must refuse them before it asks Docker for anything.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from localfed.federation import binaries_dir, member_specs

REPO = Path(__file__).resolve().parents[2]
KIND_CONFIG = REPO / "kind-config.yaml"

STAND_IN_DOCKER = """#!/bin/sh
echo "docker $*" >> "$(dirname "$0")/calls.log"
case "$1" in
  -v) echo "Docker version 28.2.2, build stand-in" ;;
  info) echo '{"CgroupDriver":"systemd","CgroupVersion":"2","MemoryLimit":true,"PidsLimit":true}' ;;
  ps) exit 0 ;;
  inspect) echo '[{}]' ;;
  *) echo "stand-in docker: refusing $1" >&2; exit 42 ;;
esac
"""


def kind_binary() -> Path:
    versions = dict(
        line.split("=", 1)
        for line in (REPO / "hack" / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    binary = binaries_dir() / f"kind-{versions['KIND_VERSION']}"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run hack/build-binaries.sh")
    return binary


def kind_create(config: str, tmp_path: Path) -> tuple[str, list[str]]:
    """`kind create cluster --config -` against the stand-in Docker: kind's output and the Docker calls."""
    docker = tmp_path / "docker"
    docker.write_text(STAND_IN_DOCKER)
    docker.chmod(0o755)
    (tmp_path / "calls.log").unlink(missing_ok=True)
    out = subprocess.run(
        [str(kind_binary()), "create", "cluster", "--config", "-"],
        input=config,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "KUBECONFIG": str(tmp_path / "kc")},
    )
    assert out.returncode != 0  # it can never create anything here
    calls = (tmp_path / "calls.log").read_text().splitlines() if (tmp_path / "calls.log").exists() else []
    return out.stdout + out.stderr, calls


def for_region(region: str) -> str:
    """The README's recipe for the other members: the file with its region substituted."""
    return KIND_CONFIG.read_text().replace("us-central1", region)


@pytest.mark.parametrize("region", sorted({s.region for s in member_specs(4) if s.region}))
def test_kind_accepts_the_config_for_every_member_region(region: str, tmp_path: Path) -> None:
    output, calls = kind_create(for_region(region), tmp_path)
    # Past decoding and validation: kind went on to prepare the cluster's Docker network.
    assert "Ensuring node image" in output, output
    assert "refusing network" in output, output
    assert any(c.startswith("docker network") for c in calls), calls
    assert not [c for c in calls if c.split()[1] in ("run", "create", "pull")], calls

    doc = yaml.safe_load(for_region(region))
    assert doc["name"] == f"gce-{region}"
    roles = [node["role"] for node in doc["nodes"]]
    assert roles.count("control-plane") == 1
    workers = [node for node in doc["nodes"] if node["role"] == "worker"]
    assert {n["labels"]["topology.kubernetes.io/region"] for n in workers} == {region}
    assert sorted(n["labels"]["topology.kubernetes.io/zone"] for n in workers) == [
        f"{region}-a",
        f"{region}-b",
    ]


@pytest.mark.parametrize(
    ("config", "refusal"),
    [
        pytest.param(
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: worker\n  label: {a: b}\n",
            "field label not found",
            id="misspelt-field",
        ),
        pytest.param(
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: worker\n",
            "must have at least one control-plane node",
            id="no-control-plane",
        ),
        pytest.param(
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha9\nnodes:\n- role: control-plane\n",
            "v1alpha9",
            id="unknown-version",
        ),
    ],
)
def test_kind_refuses_broken_configs(config: str, refusal: str, tmp_path: Path) -> None:
    output, calls = kind_create(config, tmp_path)
    assert refusal in output, output
    assert not any(c.startswith("docker network") for c in calls), calls
