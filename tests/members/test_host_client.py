"""The operator's own client for the host cluster (kube/host.py, kube/credentials.py, kube/client.py): read
from a kubeconfig as kubectl reads it, or from the Pod's ServiceAccount, with credentials that rotate."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from localfed.pki import CertificateAuthority, KeyPair

from federation_operator.domain.errors import PermanentError, TransientError
from federation_operator.kube import client as client_module
from federation_operator.kube.client import TOKEN_FILE_PERIOD, ClusterClient, ClusterConfig, bypasses_proxy
from federation_operator.kube.credentials import in_cluster_client
from federation_operator.kube.host import build_host_client
from federation_operator.kube.kubeconfig import KubeconfigNotFoundError
from tests.members import write_kubeconfig


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeyPair, KeyPair]:
    ca = CertificateAuthority(tmp_path_factory.mktemp("pki"), "test-ca")
    return ca.pair, ca.issue("operator", "operator")


def test_relative_paths_are_taken_from_the_kubeconfigs_directory(
    tmp_path: Path, pki: tuple[KeyPair, KeyPair], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As kubectl reads them: a kubeconfig written next to its certificates works from any directory."""
    ca, operator = pki
    home = tmp_path / "conf"
    home.mkdir()
    for source, name in ((ca.cert, "ca.crt"), (operator.cert, "op.crt"), (operator.key, "op.key")):
        (home / name).write_bytes(source.read_bytes())
    kubeconfig = write_kubeconfig(
        home / "config",
        cluster={
            "server": "https://127.0.0.1:6443/",
            "certificate-authority": "ca.crt",
            "tls-server-name": "api",
        },
        user={"client-certificate": "op.crt", "client-key": "op.key"},
    )
    monkeypatch.chdir(tmp_path)
    api = build_host_client(kubeconfig, None, pool_size=12)
    try:
        assert api.server == "https://127.0.0.1:6443"
        assert api.config.ca_file == str(home / "ca.crt")
        assert api.config.tls_server_name == "api"
        assert api.config.pool_size == 12
        assert Path(str(api.config.key_file)).read_bytes() == operator.key.read_bytes()
        assert "Authorization" not in api.headers()
        assert api.ssl_context().verify_mode.name == "CERT_REQUIRED"
    finally:
        api.close()


def test_a_token_file_is_read_again_as_it_rotates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    kubeconfig = write_kubeconfig(
        tmp_path / "config",
        cluster={"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True},
        user={"tokenFile": str(token)},
    )
    clock = [1000.0]
    monkeypatch.setattr(client_module.time, "monotonic", lambda: clock[0])
    api = build_host_client(kubeconfig, None)
    try:
        assert api.headers()["Authorization"] == "Bearer first"
        assert api.ssl_context().verify_mode.name == "CERT_NONE"
        token.write_text("second\n")
        clock[0] += TOKEN_FILE_PERIOD - 1
        assert api.headers()["Authorization"] == "Bearer first"  # not read on every request
        clock[0] += 1
        assert api.headers()["Authorization"] == "Bearer second"
        token.unlink()  # mid-rotation: the token read last stands
        clock[0] += TOKEN_FILE_PERIOD
        assert api.headers()["Authorization"] == "Bearer second"
    finally:
        api.close()


def test_a_context_is_picked_by_name_and_a_bad_one_is_named(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(
        tmp_path / "config", cluster={"server": "https://127.0.0.1:6443"}, user={"token": "t0ken"}
    )
    with pytest.raises(
        PermanentError, match="context 'other' names cluster 'elsewhere', which is not defined"
    ):
        build_host_client(kubeconfig, "other")
    with pytest.raises(PermanentError, match="context 'nowhere' is not defined"):
        build_host_client(kubeconfig, "nowhere")
    with pytest.raises(KubeconfigNotFoundError):
        build_host_client(tmp_path / "missing", None)


def test_a_user_the_operator_cannot_authenticate_as_is_refused_by_field(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(
        tmp_path / "config",
        cluster={"server": "https://127.0.0.1:6443"},
        user={"auth-provider": {"name": "oidc"}},
    )
    with pytest.raises(
        PermanentError, match=r"users\[operator\]\.auth-provider is not supported by the operator"
    ):
        build_host_client(kubeconfig, None)


PLUGIN = """#!{python}
import json, os, pathlib, sys, time
state = pathlib.Path(sys.argv[1])
calls = int(state.read_text()) + 1 if state.exists() else 1
state.write_text(str(calls))
pathlib.Path(sys.argv[1] + ".info").write_text(os.environ["KUBERNETES_EXEC_INFO"] + os.environ["GREETING"])
if sys.argv[2] == "fail":
    print("first line", file=sys.stderr)
    print("token expired, log in again", file=sys.stderr)
    sys.exit(3)
status = {{"token": f"exec-token-{{calls}}", "expirationTimestamp": sys.argv[3]}}
if sys.argv[2] == "certificate":
    status = {{"clientCertificateData": "PEM", "clientKeyData": "PEM"}}
kind = {{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential"}}
print(json.dumps({{**kind, "status": status}}))
"""


def exec_kubeconfig(tmp_path: Path, mode: str, expires: str = "2030-01-01T00:00:00Z") -> Path:
    plugin = tmp_path / "plugin"
    plugin.write_text(PLUGIN.format(python=sys.executable))
    plugin.chmod(0o755)
    exec_entry = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": str(plugin),
        "args": [str(tmp_path / "calls"), mode, expires],
        "env": [{"name": "GREETING", "value": "hello"}],
        "provideClusterInfo": True,
    }
    return write_kubeconfig(
        tmp_path / "config",
        cluster={"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True},
        user={"exec": exec_entry},
    )


def test_an_exec_plugins_token_is_sent_and_renewed_in_the_background_before_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As kubectl runs a cloud's plugin (aws eks get-token, gke-gcloud-auth-plugin): its env, the exec info
    saying nobody can answer a prompt, its token until shortly before its expirationTimestamp."""
    api = build_host_client(exec_kubeconfig(tmp_path, "token", "2030-01-01T00:00:00Z"), None)
    end = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    try:
        assert api.headers()["Authorization"] == "Bearer exec-token-1"
        assert api.token_expires == end
        info = (tmp_path / "calls.info").read_text()
        assert info.endswith("hello")
        assert json.loads(info.removesuffix("hello"))["spec"] == {
            "interactive": False,
            "cluster": {"server": "https://127.0.0.1:6443"},
        }
        assert api.headers()["Authorization"] == "Bearer exec-token-1"  # not run for every request
        monkeypatch.setattr(client_module, "EXEC_RETRY_SECONDS", 0.0)  # the first run was just now
        monkeypatch.setattr(client_module.time, "time", lambda: end - client_module.EXEC_RENEW_AHEAD + 1)
        assert api.headers()["Authorization"] == "Bearer exec-token-1"  # still good: sent while renewed
        renewing = api._renewing
        assert renewing is not None
        renewing.join(30)
        # The plugin handed out the same end again (a cached token): it is not run again for every request,
        # only once per EXEC_RETRY_SECONDS.
        monkeypatch.setattr(client_module, "EXEC_RETRY_SECONDS", 3600.0)
        assert api.headers()["Authorization"] == "Bearer exec-token-2"
        for _ in range(20):
            api.headers()
        assert api._renewing is None
        assert (tmp_path / "calls").read_text() == "2"
    finally:
        api.close()


def test_an_expired_exec_token_is_renewed_in_the_caller_but_never_on_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the token has ended (its renewal ahead of time failed), a thread's request waits for the plugin;
    a request made on the event loop does not (the operator's watches, writes and DNS rounds would all wait
    with it, up to the plugin's timeout): the plugin runs in the background, and the request goes with the
    old token meanwhile."""
    api = build_host_client(exec_kubeconfig(tmp_path, "token", "2030-01-01T00:00:00Z"), None)
    end = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    try:
        assert api.headers()["Authorization"] == "Bearer exec-token-1"
        monkeypatch.setattr(client_module, "EXEC_RETRY_SECONDS", 0.0)
        monkeypatch.setattr(client_module.time, "time", lambda: end + 1)

        async def on_the_loop() -> str:
            return api.headers()["Authorization"]

        assert asyncio.run(on_the_loop()) == "Bearer exec-token-1"
        renewing = api._renewing
        assert renewing is not None  # started by that request, not waited for
        renewing.join(30)
        assert (tmp_path / "calls").read_text() == "2"
        # The plugin's new token ends at the same moment, so it too has ended: a thread waits for the plugin.
        assert api.headers()["Authorization"] == "Bearer exec-token-3"
        assert (tmp_path / "calls").read_text() == "3"
    finally:
        api.close()


def test_an_exec_plugin_that_fails_says_how_and_is_asked_again(tmp_path: Path) -> None:
    api = build_host_client(exec_kubeconfig(tmp_path, "fail"), None)
    for _ in range(2):  # no token to send: each request asks the plugin
        with pytest.raises(TransientError, match="exited with status 3: token expired, log in again"):
            api.headers()
    assert (tmp_path / "calls").read_text() == "2"


def test_an_exec_plugin_answering_with_a_certificate_is_refused(tmp_path: Path) -> None:
    api = build_host_client(exec_kubeconfig(tmp_path, "certificate"), None)
    with pytest.raises(PermanentError, match="answers with a client certificate"):
        api.headers()


def test_the_operator_takes_its_first_exec_token_before_it_starts_and_stops_on_a_refusal(
    tmp_path: Path,
) -> None:
    """The first token is taken at start-up, outside the event loop (where a request never waits for the
    plugin): a plugin whose answer the operator cannot use stops it at once, naming the plugin."""
    kubeconfig = exec_kubeconfig(tmp_path, "certificate")
    env = {**os.environ, "FEDOP_KUBECONFIG": str(kubeconfig)}
    done = subprocess.run(
        [sys.executable, "-m", "federation_operator"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "answers with a client certificate" in done.stderr
    assert (tmp_path / "calls").read_text() == "1"


def test_in_a_pod_the_service_account_is_used(
    tmp_path: Path, pki: tuple[KeyPair, KeyPair], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("pod-token")
    (tmp_path / "ca.crt").write_bytes(pki[0].cert.read_bytes())
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    api = in_cluster_client(pool_size=4, service_account=tmp_path)
    try:
        assert api.server == "https://[fd00::1]:443"
        assert api.headers()["Authorization"] == "Bearer pod-token"
        assert api.config.token_file == str(tmp_path / "token")
    finally:
        api.close()
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    with pytest.raises(PermanentError, match="not in a cluster"):
        in_cluster_client(pool_size=4, service_account=tmp_path)


@pytest.mark.parametrize(
    ("url", "rules", "bypassed"),
    [
        ("https://api.internal.example:6443", "internal.example", True),
        ("https://api.internal.example:6443", ".example", True),
        ("https://api.example.org:6443", "example.com", False),
        ("https://10.1.2.3:6443", "10.0.0.0/8", True),
        ("https://10.1.2.3:6443", "192.168.0.0/16,10.1.2.3:6443", True),
        ("https://10.1.2.3:443", "*", True),
        ("https://10.1.2.3:443", "", False),
    ],
)
def test_no_proxy_rules(url: str, rules: str, bypassed: bool) -> None:
    assert bypasses_proxy(url, rules) is bypassed


def test_the_proxy_comes_from_the_environment_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.9:3128")
    monkeypatch.setenv("NO_PROXY", "bypassed.example")
    assert ClusterClient(ClusterConfig(server="https://api.example:6443")).proxy == "http://127.0.0.9:3128"
    assert ClusterClient(ClusterConfig(server="https://bypassed.example:6443")).proxy is None
    assert ClusterClient(ClusterConfig(server="https://api.example:6443", proxy="")).proxy is None
