"""Credential Secrets that cannot work are refused up front, naming the key and never showing its content."""

from __future__ import annotations

import base64
import gc
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from localfed.pki import CertificateAuthority, KeyPair

from federation_operator.domain.errors import PermanentError
from federation_operator.domain.specs import MemberClusterSpec
from federation_operator.kube.client import ClusterClient
from federation_operator.kube.credentials import build_api_client

SPEC = MemberClusterSpec.model_validate(
    {
        "apiEndpoint": "https://203.0.113.10:6443",
        "secretRef": {"name": "eu-credentials", "namespace": "fedop-system"},
        "region": "europe-west1",
    }
)
# Planted in every bad Secret: it must never surface in an error message.
SECRET = "s3cr3t-Token-value-42"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeyPair, KeyPair, KeyPair]:
    """A CA, a client certificate it issued, and a second client certificate (for mismatched pairs)."""
    ca = CertificateAuthority(tmp_path_factory.mktemp("pki"), "test-ca")
    return ca.pair, ca.issue("alice", "alice"), ca.issue("bob", "bob")


def b64(data: bytes | str) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def kubeconfig(
    pki: tuple[KeyPair, KeyPair, KeyPair],
    *,
    cluster: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
    current: str | None = "member",
) -> dict[str, bytes]:
    ca, alice, _ = pki
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "member",
                "cluster": cluster
                if cluster is not None
                else {
                    "server": "https://ignored.example:6443",
                    "certificate-authority-data": b64(ca.cert.read_bytes()),
                },
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": user
                if user is not None
                else {
                    "client-certificate-data": b64(alice.cert.read_bytes()),
                    "client-key-data": b64(alice.key.read_bytes()),
                },
            }
        ],
        "contexts": [{"name": "member", "context": {"cluster": "member", "user": "admin"}}],
    }
    if current is not None:
        doc["current-context"] = current
    return {"kubeconfig": yaml.safe_dump(doc).encode()}


Case = Callable[[tuple[KeyPair, KeyPair, KeyPair]], dict[str, bytes]]

BAD_SECRETS: list[tuple[str, Case, str]] = [
    ("empty", lambda pki: {}, "needs a 'kubeconfig' key, or a 'token' and a 'ca.crt' key"),
    ("token without CA", lambda pki: {"token": SECRET.encode()}, "key 'ca.crt': missing"),
    ("CA without token", lambda pki: {"ca.crt": pki[0].cert.read_bytes()}, "key 'token': missing"),
    (
        "token with a newline inside",
        lambda pki: {"token": f"{SECRET}\nX-Injected: 1".encode(), "ca.crt": pki[0].cert.read_bytes()},
        "key 'token': not a bearer token",
    ),
    (
        "CA that is not PEM",
        lambda pki: {"token": SECRET.encode(), "ca.crt": SECRET.encode()},
        "key 'ca.crt': not a PEM CA certificate",
    ),
    ("kubeconfig not YAML", lambda pki: {"kubeconfig": f"users: [{SECRET}".encode()}, "not valid YAML"),
    ("kubeconfig a list", lambda pki: {"kubeconfig": f"- {SECRET}".encode()}, "expected a YAML mapping"),
    (
        "no current context",
        lambda pki: {"kubeconfig": yaml.safe_dump({"contexts": [], "clusters": [], "users": []}).encode()},
        "current-context is not set",
    ),
    ("unknown current context", lambda pki: kubeconfig(pki, current="other"), "'other' names no context"),
    (
        "CA data not base64",
        lambda pki: kubeconfig(pki, cluster={"certificate-authority-data": f"!{SECRET}!"}),
        "clusters[member].certificate-authority-data: not valid base64",
    ),
    (
        "CA data not a certificate",
        lambda pki: kubeconfig(pki, cluster={"certificate-authority-data": b64(SECRET)}),
        "certificate-authority-data: not a PEM CA certificate",
    ),
    (
        "insecure",
        lambda pki: kubeconfig(pki, cluster={"insecure-skip-tls-verify": True}),
        "insecure-skip-tls-verify is not supported",
    ),
    (
        "exec plugin",
        lambda pki: kubeconfig(pki, user={"exec": {"command": "aws", "args": [SECRET]}}),
        "users[admin].exec is not supported",
    ),
    (
        "basic auth",
        lambda pki: kubeconfig(pki, user={"username": "admin", "password": SECRET}),
        "users[admin].username is not supported",
    ),
    ("no credentials", lambda pki: kubeconfig(pki, user={}), "has neither a token nor a client certificate"),
    (
        "certificate without key",
        lambda pki: kubeconfig(pki, user={"client-certificate-data": b64(pki[1].cert.read_bytes())}),
        "client-certificate and client-key must be given together",
    ),
    (
        "key data not base64",
        lambda pki: kubeconfig(
            pki,
            user={"client-certificate-data": b64(pki[1].cert.read_bytes()), "client-key-data": SECRET + "!"},
        ),
        "users[admin].client-key-data: not valid base64",
    ),
    (
        "certificate and key do not match",
        lambda pki: kubeconfig(
            pki,
            user={
                "client-certificate-data": b64(pki[1].cert.read_bytes()),
                "client-key-data": b64(pki[2].key.read_bytes()),
            },
        ),
        "users[admin]: client-certificate and client-key are not a matching PEM pair",
    ),
    (
        "relative certificate path",
        lambda pki: kubeconfig(pki, user={"client-certificate": "alice.crt", "client-key": "alice.key"}),
        "alice.crt is a relative path",
    ),
    (
        "missing certificate file",
        lambda pki: kubeconfig(
            pki, user={"client-certificate": "/nonexistent/alice.crt", "client-key": str(pki[1].key)}
        ),
        "cannot read /nonexistent/alice.crt",
    ),
    (
        "bad token in kubeconfig",
        lambda pki: kubeconfig(pki, user={"token": f"{SECRET} {SECRET}"}),
        "users[admin].token: not a bearer token",
    ),
]


@pytest.mark.parametrize(
    ("secret", "expected"),
    [(case, expected) for _, case, expected in BAD_SECRETS],
    ids=[c[0] for c in BAD_SECRETS],
)
def test_bad_secret_is_a_permanent_error_naming_the_key(
    pki: tuple[KeyPair, KeyPair, KeyPair], secret: Case, expected: str
) -> None:
    with pytest.raises(PermanentError) as caught:
        build_api_client(SPEC, secret(pki))
    message = str(caught.value)
    assert message.startswith("Secret fedop-system/eu-credentials")
    assert expected in message
    assert SECRET not in message
    # Nothing from the Secret hides in the exception chain either (tracebacks print it).
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_kubeconfig_takes_the_only_context_when_none_is_current(
    pki: tuple[KeyPair, KeyPair, KeyPair],
) -> None:
    api = build_api_client(SPEC, kubeconfig(pki, current=None))
    api.close()


def test_server_is_always_the_member_cluster_endpoint(pki: tuple[KeyPair, KeyPair, KeyPair]) -> None:
    api = build_api_client(SPEC, kubeconfig(pki))
    try:
        assert api.server == "https://203.0.113.10:6443"
    finally:
        api.close()


def test_token_and_ca_need_no_private_files(pki: tuple[KeyPair, KeyPair, KeyPair]) -> None:
    api = build_api_client(SPEC, {"token": f"{SECRET}\n".encode(), "ca.crt": pki[0].cert.read_bytes()})
    try:
        assert api.private_dir is None
        assert api.headers()["Authorization"] == f"Bearer {SECRET}"
        assert api.config.cert_file is None
    finally:
        api.close()


def test_client_certificate_lives_in_private_files_until_close(pki: tuple[KeyPair, KeyPair, KeyPair]) -> None:
    api: ClusterClient = build_api_client(SPEC, kubeconfig(pki))
    directory = api.private_dir
    assert directory is not None
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = sorted(directory.iterdir())
    assert [f.name for f in files] == ["client.crt", "client.key"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert Path(str(api.config.key_file)).read_bytes() == pki[1].key.read_bytes()
    api.close()
    assert not directory.exists()
    api.close()  # twice is fine


def test_client_certificate_files_go_with_the_client(pki: tuple[KeyPair, KeyPair, KeyPair]) -> None:
    api = build_api_client(SPEC, kubeconfig(pki))
    directory = api.private_dir
    assert directory is not None
    del api
    gc.collect()
    assert not os.path.exists(directory)
