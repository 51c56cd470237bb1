"""API clients for member clusters, built from their credential Secrets.

A member's Secret (in the host cluster) holds either a ``kubeconfig`` key or a ``token`` key and a ``ca.crt``
key; :func:`build_api_client` turns it into a :class:`~federation_operator.kube.client.ClusterClient` with
the transport policy every member call shares: no urllib3-level retries, a small connection pool, TCP
keepalive. Requests through it go through :mod:`federation_operator.kube.transport` (each bounded by a
timeout) or :mod:`federation_operator.kube.async_transport`.

Nothing read from a Secret is ever put into a message, a log line or an exception chain.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import ssl
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import yaml

from federation_operator.domain.errors import PermanentError
from federation_operator.domain.specs import MemberClusterSpec
from federation_operator.kube.client import ClusterClient, ClusterConfig
from federation_operator.kube.exec_plugin import ExecPlugin, parse_exec_plugin
from federation_operator.kube.kubeconfig import Kubeconfig

__all__ = [
    "CONNECTION_POOL_SIZE",
    "KEY_CA",
    "KEY_KUBECONFIG",
    "KEY_TOKEN",
    "SERVICE_ACCOUNT_DIR",
    "build_api_client",
    "in_cluster_client",
    "kubeconfig_client",
]

KEY_KUBECONFIG = "kubeconfig"
KEY_TOKEN = "token"
KEY_CA = "ca.crt"

# Two watches, the probe and Service writes from the reconcile workers share a member's pool.
CONNECTION_POOL_SIZE = 16

_UNSUPPORTED_USER_FIELDS = ("exec", "auth-provider", "username", "password", "tokenFile")


# --- building a client from a Secret -----------------------------------------------------------------------


def build_api_client(spec: MemberClusterSpec, secret_data: Mapping[str, bytes]) -> ClusterClient:
    """An API client for the member described by ``spec``, authenticated with the Secret's (decoded) data.

    Two forms of Secret are understood, looked for in this order:

    * ``kubeconfig``: its ``current-context`` (or its only context) picks the cluster and user entries. The
      user authenticates with ``token`` and/or a client certificate (``client-certificate-data`` +
      ``client-key-data``, or ``client-certificate`` + ``client-key`` naming absolute file paths); the cluster
      entry gives the CA (``certificate-authority-data`` or ``certificate-authority``; neither means the
      system trust store) and optionally ``tls-server-name``. ``exec``, ``auth-provider``, basic auth and
      ``insecure-skip-tls-verify`` are refused: the operator runs unattended and verifies every member.
    * ``token`` + ``ca.crt``: a bearer token (a ServiceAccount token) and the PEM CA of the member's API.

    The server is **always** ``spec.apiEndpoint``; the kubeconfig's ``server`` is ignored. The MemberCluster
    is the one reviewed record of where a member is, so a Secret cannot send our credentials elsewhere, and a
    kubeconfig exported from a laptop (``https://localhost:…`` through a tunnel) still works.

    Every request through the client is bounded by a timeout (``DEFAULT_TIMEOUT`` unless the call gives its
    own), and urllib3 does not retry: callers retry with their own backoff. The returned client may hold
    private files (a client certificate): call ``close()`` when done.
    Raises :class:`PermanentError` naming the Secret key (and kubeconfig field) at fault; the message never
    includes what the Secret holds.
    """
    source = _SecretSource(f"{spec.secret_ref.namespace}/{spec.secret_ref.name}", secret_data)
    if KEY_KUBECONFIG in secret_data:
        material = _from_kubeconfig(source)
    elif KEY_TOKEN in secret_data or KEY_CA in secret_data:
        material = _from_token(source)
    else:
        raise PermanentError(
            f"Secret {source.ref}: needs a {KEY_KUBECONFIG!r} key, or a {KEY_TOKEN!r} and a {KEY_CA!r} key"
        )
    return _client_for(
        spec.api_endpoint.rstrip("/"),
        material,
        pool_size=CONNECTION_POOL_SIZE,
        # No retries inside urllib3: a member that is down would turn every call into several, and our
        # callers already retry with backoff (probes on their period, watches with jittered backoff, handlers
        # through kopf).
        retries=0,
        # TCP keepalive: a watch on a member behind a NAT or LB that silently drops idle flows ends instead of
        # hanging until its read timeout.
        keep_alive=True,
    )


# --- the host cluster's client -----------------------------------------------------------------------------

# Where a Pod finds its ServiceAccount's credentials.
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def kubeconfig_client(kubeconfig: Kubeconfig, context: str | None, *, pool_size: int) -> ClusterClient:
    """A client for ``context`` (else the current context) of the operator's own ``kubeconfig``: its
    cluster's server, CA (or ``insecure-skip-tls-verify``), ``tls-server-name`` and ``proxy-url``, and its
    user's token, ``tokenFile`` (read again as it rotates), ``exec`` plugin (its token renewed before it
    expires: :mod:`.exec_plugin`) or client certificate. ``auth-provider`` (kubectl's older, removed way)
    and basic auth are refused with a :class:`PermanentError` naming the field."""

    def fail(problem: str) -> PermanentError:
        return PermanentError(f"kubeconfig {kubeconfig.path}: {problem}")

    name = context or kubeconfig.current_context
    if not name:
        raise fail("no context given and current-context is not set")
    if name not in kubeconfig.contexts:
        raise fail(f"context {name!r} is not defined")
    entry = kubeconfig.contexts[name]
    cluster_name, user_name = entry.get("cluster"), entry.get("user")
    if cluster_name not in kubeconfig.clusters:
        raise fail(f"context {name!r} names cluster {cluster_name!r}, which is not defined")
    cluster = dict(kubeconfig.clusters[str(cluster_name)])
    where = f"clusters[{cluster_name}]"
    if not cluster.get("server"):
        raise fail(f"{where}.server is not set")
    ca_pem = _file_or_data(cluster, "certificate-authority", where, fail)
    if ca_pem is not None:
        ca_pem = _valid_ca(ca_pem, _field_fail(fail, where, "certificate-authority"))
    ca_path = str(cluster["certificate-authority"]) if cluster.get("certificate-authority") else None
    user: dict[str, Any] = {}
    if user_name:
        if user_name not in kubeconfig.users:
            raise fail(f"context {name!r} names user {user_name!r}, which is not defined")
        user = dict(kubeconfig.users[str(user_name)])
    material = _host_user(user, f"users[{user_name}]", fail, server=str(cluster["server"]), ca_pem=ca_pem)
    return _client_for(
        str(cluster["server"]).rstrip("/"),
        _Material(
            token=material.token,
            token_file=material.token_file,
            exec_plugin=material.exec_plugin,
            ca_pem=ca_pem,
            ca_file=None if cluster.get("certificate-authority-data") else ca_path,
            cert_pem=material.cert_pem,
            key_pem=material.key_pem,
            tls_server_name=str(cluster["tls-server-name"]) if cluster.get("tls-server-name") else None,
            verify=not cluster.get("insecure-skip-tls-verify"),
            proxy=str(cluster["proxy-url"]) if cluster.get("proxy-url") else None,
            cert_origin=f"kubeconfig {kubeconfig.path}: users[{user_name}]",
        ),
        pool_size=pool_size,
    )


def _host_user(
    user: dict[str, Any], entry: str, fail: _Fail, *, server: str, ca_pem: bytes | None
) -> _Material:
    """The credentials of the host kubeconfig's user entry (any of them, or none: anonymous)."""
    for unsupported in ("auth-provider", "username", "password"):
        if user.get(unsupported):
            raise fail(
                f"{entry}.{unsupported} is not supported by the operator: run it in its cluster, or give "
                "it a token, a tokenFile, an exec plugin or a client certificate"
            )
    exec_plugin = None
    if user.get("exec"):
        if not isinstance(user["exec"], dict):
            raise fail(f"{entry}.exec must be a mapping")
        try:
            exec_plugin = parse_exec_plugin(user["exec"], f"{entry}.exec", server=server, ca_pem=ca_pem)
        except PermanentError as exc:
            raise fail(str(exc)) from None
    token = user.get("token")
    if token is not None:
        token = _valid_token(token, _field_fail(fail, entry, "token"))
    token_file = str(user["tokenFile"]) if user.get("tokenFile") else None
    if token_file is not None and not Path(token_file).is_file():
        raise fail(f"{entry}.tokenFile: no file {token_file}")
    cert_pem = _file_or_data(user, "client-certificate", entry, fail)
    key_pem = _file_or_data(user, "client-key", entry, fail)
    if (cert_pem is None) != (key_pem is None):
        raise fail(f"{entry}: client-certificate and client-key must be given together")
    return _Material(
        token=token, token_file=token_file, exec_plugin=exec_plugin, cert_pem=cert_pem, key_pem=key_pem
    )


def in_cluster_client(*, pool_size: int, service_account: Path = SERVICE_ACCOUNT_DIR) -> ClusterClient:
    """A client for the cluster the operator runs in: its API service (``KUBERNETES_SERVICE_HOST`` and
    ``_PORT``), verified with the ServiceAccount's CA, authenticated with its token (read again as the kubelet
    rotates it)."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise PermanentError(
            "no kubeconfig found and not in a cluster (KUBERNETES_SERVICE_HOST and _PORT are not set)"
        )
    token_file, ca_file = service_account / "token", service_account / "ca.crt"
    for file in (token_file, ca_file):
        if not file.is_file():
            raise PermanentError(f"in a cluster, but the ServiceAccount's {file} is missing")
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    return ClusterClient(
        ClusterConfig(server=server, ca_file=str(ca_file), token_file=str(token_file), pool_size=pool_size)
    )


_Fail: TypeAlias = Callable[[str], PermanentError]


@dataclass(frozen=True)
class _Material:
    """Credentials extracted from a Secret, validated, not yet written anywhere."""

    token: str | None = None
    token_file: str | None = None
    exec_plugin: ExecPlugin | None = None
    ca_pem: bytes | None = None
    ca_file: str | None = None  # where ca_pem was read from, if from a file the client may read again
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    tls_server_name: str | None = None
    verify: bool = True
    proxy: str | None = None
    # Where the certificate came from ("Secret ns/name key 'kubeconfig': users[admin]"), for messages.
    cert_origin: str = ""


@dataclass(frozen=True)
class _SecretSource:
    ref: str
    data: Mapping[str, bytes]

    def fail(self, key: str, problem: str) -> PermanentError:
        return PermanentError(f"Secret {self.ref} key {key!r}: {problem}")


def _from_token(source: _SecretSource) -> _Material:
    for key in (KEY_TOKEN, KEY_CA):
        if key not in source.data:
            raise source.fail(key, f"missing (a token Secret needs both {KEY_TOKEN!r} and {KEY_CA!r})")
    token = _valid_token(source.data[KEY_TOKEN], lambda problem: source.fail(KEY_TOKEN, problem))
    ca_pem = _valid_ca(source.data[KEY_CA], lambda problem: source.fail(KEY_CA, problem))
    return _Material(token=token, ca_pem=ca_pem)


def _from_kubeconfig(source: _SecretSource) -> _Material:
    def fail(problem: str) -> PermanentError:
        return source.fail(KEY_KUBECONFIG, problem)

    try:
        doc = yaml.safe_load(source.data[KEY_KUBECONFIG])
    except (yaml.YAMLError, UnicodeDecodeError):
        # Not chained on purpose: YAML errors quote the offending line, which may hold a token.
        raise fail("not valid YAML") from None
    if not isinstance(doc, dict):
        raise fail("not a kubeconfig (expected a YAML mapping)")
    (cluster_name, cluster), (user_name, user) = _current_entries(doc, fail)
    ca_pem, tls_server_name = _cluster_trust(cluster, f"clusters[{cluster_name}]", fail)
    user_entry = f"users[{user_name}]"
    token, cert_pem, key_pem = _user_credentials(user, user_entry, fail)
    return _Material(
        token=token,
        ca_pem=ca_pem,
        cert_pem=cert_pem,
        key_pem=key_pem,
        tls_server_name=tls_server_name,
        cert_origin=f"Secret {source.ref} key {KEY_KUBECONFIG!r}: {user_entry}",
    )


_Entry: TypeAlias = tuple[str, dict[str, Any]]


def _current_entries(doc: dict[str, Any], fail: _Fail) -> tuple[_Entry, _Entry]:
    """The cluster and user entries (name, body) of the kubeconfig's current (or only) context."""
    contexts = _named_entries(doc, "contexts", "context", fail)
    context_name = doc.get("current-context") or (next(iter(contexts)) if len(contexts) == 1 else None)
    if not context_name:
        raise fail("current-context is not set and there is not exactly one context")
    if context_name not in contexts:
        raise fail(f"current-context {context_name!r} names no context")
    context = contexts[context_name]
    cluster_name, user_name = context.get("cluster"), context.get("user")
    clusters = _named_entries(doc, "clusters", "cluster", fail)
    users = _named_entries(doc, "users", "user", fail)
    if cluster_name not in clusters:
        raise fail(f"context {context_name!r} names cluster {cluster_name!r}, which is not defined")
    if user_name not in users:
        raise fail(f"context {context_name!r} names user {user_name!r}, which is not defined")
    return (str(cluster_name), clusters[cluster_name]), (str(user_name), users[user_name])


def _field_fail(fail: _Fail, entry: str, field: str) -> _Fail:
    return lambda problem: fail(f"{entry}.{field}: {problem}")


def _cluster_trust(cluster: dict[str, Any], entry: str, fail: _Fail) -> tuple[bytes | None, str | None]:
    """The CA (None: the system trust store) and ``tls-server-name`` of a kubeconfig's cluster entry."""
    if cluster.get("insecure-skip-tls-verify"):
        raise fail(f"{entry}.insecure-skip-tls-verify is not supported: give the member's CA")
    ca_pem = _file_or_data(cluster, "certificate-authority", entry, fail)
    if ca_pem is not None:
        ca_pem = _valid_ca(ca_pem, _field_fail(fail, entry, "certificate-authority-data"))
    tls_server_name = cluster.get("tls-server-name")
    return ca_pem, str(tls_server_name) if tls_server_name else None


def _user_credentials(
    user: dict[str, Any], entry: str, fail: _Fail
) -> tuple[str | None, bytes | None, bytes | None]:
    """The token, client certificate and key of a kubeconfig's user entry (a token or a certificate)."""
    for unsupported in _UNSUPPORTED_USER_FIELDS:
        if user.get(unsupported):
            raise fail(f"{entry}.{unsupported} is not supported: use a token or a client certificate")
    token = user.get("token")
    if token is not None:
        token = _valid_token(token, _field_fail(fail, entry, "token"))
    cert_pem = _file_or_data(user, "client-certificate", entry, fail)
    key_pem = _file_or_data(user, "client-key", entry, fail)
    if (cert_pem is None) != (key_pem is None):
        raise fail(f"{entry}: client-certificate and client-key must be given together")
    if token is None and cert_pem is None:
        raise fail(f"{entry}: has neither a token nor a client certificate")
    return token, cert_pem, key_pem


def _named_entries(doc: dict[str, Any], section: str, inner: str, fail: _Fail) -> dict[str, dict[str, Any]]:
    entries = doc.get(section) or []
    if not isinstance(entries, list):
        raise fail(f"{section} must be a list")
    named: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise fail(f"every entry of {section} needs a name")
        body = entry.get(inner) or {}
        if not isinstance(body, dict):
            raise fail(f"{section}[{entry['name']}].{inner} must be a mapping")
        named[entry["name"]] = body
    return named


def _file_or_data(entry: dict[str, Any], field: str, where: str, fail: _Fail) -> bytes | None:
    """The bytes of ``<field>-data`` (base64) or of the file ``<field>`` names; None when neither is set."""
    data, path = entry.get(f"{field}-data"), entry.get(field)
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except (binascii.Error, ValueError):
            raise fail(f"{where}.{field}-data: not valid base64") from None
    if path:
        file = Path(str(path))
        if not file.is_absolute():
            # A kubeconfig in a Secret has no directory for a relative path to be relative to.
            raise fail(f"{where}.{field}: {file} is a relative path; use {field}-data")
        try:
            return file.read_bytes()
        except OSError as exc:
            raise fail(f"{where}.{field}: cannot read {file}: {exc.strerror}") from None
    return None


def _valid_token(raw: bytes | str, fail: _Fail) -> str:
    try:
        token = (raw.decode() if isinstance(raw, bytes) else str(raw)).strip()
    except UnicodeDecodeError:
        raise fail("not a bearer token (not UTF-8)") from None
    # A token goes into an HTTP header: reject anything that could not be one (or could inject another).
    if not token or not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise fail("not a bearer token (empty, or has spaces or control characters)")
    return token


def _valid_ca(pem: bytes, fail: _Fail) -> bytes:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem.decode("ascii"))
    except (UnicodeDecodeError, ssl.SSLError, ValueError):
        raise fail("not a PEM CA certificate") from None
    return pem


def _client_for(
    endpoint: str,
    material: _Material,
    *,
    pool_size: int,
    retries: int | None = None,
    keep_alive: bool = False,
) -> ClusterClient:
    private_dir: Path | None = None
    cert_file = key_file = None
    if material.cert_pem is not None and material.key_pem is not None:
        # The TLS libraries load a client certificate from files: they live in a private directory (mode
        # 0700, files 0600) for as long as the client does (ClusterClient.close removes it).
        private_dir = Path(tempfile.mkdtemp(prefix="fedop-member-"))
        try:
            cert_file = str(_write_private(private_dir / "client.crt", material.cert_pem))
            key_file = str(_write_private(private_dir / "client.key", material.key_pem))
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert_file, key_file)
            except ssl.SSLError:
                raise PermanentError(
                    f"{material.cert_origin}: client-certificate and client-key are not a matching PEM pair"
                ) from None
        except BaseException:
            shutil.rmtree(private_dir, ignore_errors=True)
            raise
    config = ClusterConfig(
        server=endpoint,
        # A CA file is named as it is (kopf is given it too, and reads it as the TLS libraries do).
        ca_file=material.ca_file,
        ca_data=material.ca_pem.decode("ascii") if material.ca_pem and not material.ca_file else None,
        cert_file=cert_file,
        key_file=key_file,
        token=material.token,
        token_file=material.token_file,
        exec_plugin=material.exec_plugin,
        verify=material.verify,
        tls_server_name=material.tls_server_name,
        proxy=material.proxy,
        pool_size=pool_size,
        retries=retries,
        keep_alive=keep_alive,
    )
    return ClusterClient(config, private_dir)


def _write_private(path: Path, content: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(content)
    return path
