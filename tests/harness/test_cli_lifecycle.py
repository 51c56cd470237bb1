"""The harness CLI end to end: `up` a small federation, `status`; `down` leaves nothing."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
from localfed.processes import ProcessRecord, is_running

pytestmark = pytest.mark.e2e

CLI = Path(__file__).parents[2] / "hack" / "local-federation"


def run(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "--state-dir", str(state_dir), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_up_status_down_leaves_no_process_behind(tmp_path: Path) -> None:
    state_dir = tmp_path / "fed"
    try:
        up = run(state_dir, "up", "--members", "1")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "local federation up in" in up.stdout
        assert "gce-asia-east1" in up.stdout

        state = json.loads((state_dir / "state.json").read_text())
        records = [ProcessRecord.from_json(p) for p in state["shared"].values()]
        for cluster in state["clusters"]:
            records += [ProcessRecord.from_json(p) for p in cluster["processes"].values()]
        names = sorted(r.name for r in records)
        assert names.count("kube-apiserver") == 2  # host + one member
        assert {"etcd", "named", "lb-allocator", "kwok", "kube-scheduler", "kube-controller-manager"} <= set(
            names
        )
        assert all(is_running(r) for r in records)
        ports = [c["port"] for c in state["clusters"]] + [state["etcd_port"], state["dns"]["port"]]
        assert all(port_open(p) for p in ports)

        # `up` again is a no-op on a running federation.
        again = run(state_dir, "up", "--members", "1")
        assert again.returncode == 0
        assert "already up" in again.stdout

        status = run(state_dir, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "gce-asia-east1" in status.stdout
        assert "asia-east1-a,asia-east1-b" in status.stdout
    finally:
        down = run(state_dir, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(is_running(r) for r in records)
    assert not any(port_open(p) for p in ports)
    assert not state_dir.exists()
