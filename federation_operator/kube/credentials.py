"""API clients for member clusters, built from their credential Secrets.

A member's Secret (in the host cluster) holds either a ``kubeconfig`` key or a ``token`` key and a ``ca.crt``
key; :func:`build_api_client` turns it into a :class:`MemberApiClient` with the transport policy every member
call shares: bounded timeouts, no urllib3-level retries, a small connection pool. Requests through it go
through :mod:`federation_operator.kube.transport`.

Nothing read from a Secret is ever put into a message, a log line or an exception chain.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import ssl
import tempfile
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import yaml
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.rest import RESTResponse
from urllib3.util.retry import Retry

from federation_operator import __version__
from federation_operator.domain.errors import PermanentError
from federation_operator.domain.specs import MemberClusterSpec
from federation_operator.kube.transport import BEARER_AUTH, DEFAULT_TIMEOUT, Timeout

__all__ = [
    "CONNECTION_POOL_SIZE",
    "KEY_CA",
    "KEY_KUBECONFIG",
    "KEY_TOKEN",
    "MemberApiClient",
    "build_api_client",
]

KEY_KUBECONFIG = "kubeconfig"
KEY_TOKEN = "token"
KEY_CA = "ca.crt"

# Two watches, the probe and Service writes from the reconcile workers share a member's pool.
CONNECTION_POOL_SIZE = 16

_USER_AGENT = f"federation-operator/{__version__}"
_UNSUPPORTED_USER_FIELDS = ("exec", "auth-provider", "username", "password", "tokenFile")


class MemberApiClient(ApiClient):
    """An ``ApiClient`` for one member cluster that owns the private files its TLS client certificate needs.

    urllib3 loads a client certificate and key from files, on every new connection, so they live in a private
    temporary directory (mode 0700, files 0600) for as long as the client does. :meth:`close` removes them; a
    client that is garbage-collected, or still open at interpreter exit, removes them too.
    """

    def __init__(self, configuration: Configuration, private_dir: Path | None = None) -> None:
        super().__init__(configuration)
        self.user_agent = _USER_AGENT
        self.private_dir = private_dir
        self._cleanup = weakref.finalize(self, _remove_dir, private_dir) if private_dir else None

    def call_api(
        self,
        method: str,
        url: str,
        header_params: dict[str, str] | None = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Timeout | None = None,
    ) -> RESTResponse:
        """Every request has a timeout, even one made through the generated API classes without one."""
        return super().call_api(
            method,
            url,
            header_params,
            body,
            post_params,
            _request_timeout=_request_timeout or DEFAULT_TIMEOUT,
        )

    def close(self) -> None:
        """Close pooled connections and delete the private credential files; safe to call twice."""
        super().close()  # type: ignore[no-untyped-call]
        if self._cleanup is not None:
            self._cleanup()


def _remove_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


# --- building a client from a Secret -----------------------------------------------------------------------


def build_api_client(spec: MemberClusterSpec, secret_data: Mapping[str, bytes]) -> MemberApiClient:
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
    private files (see :class:`MemberApiClient`): call ``close()`` when done.
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
    return _client_for(spec.api_endpoint.rstrip("/"), material)


_Fail: TypeAlias = Callable[[str], PermanentError]


@dataclass(frozen=True)
class _Material:
    """Credentials extracted from a Secret, validated, not yet written anywhere."""

    token: str | None = None
    ca_pem: bytes | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    tls_server_name: str | None = None
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


def _client_for(endpoint: str, material: _Material) -> MemberApiClient:
    configuration = Configuration(
        host=endpoint,
        ca_cert_data=material.ca_pem.decode("ascii") if material.ca_pem else None,
        tls_server_name=material.tls_server_name,
        # No retries inside urllib3: a member that is down would turn every call into several, and our
        # callers already retry with backoff (probes on their period, watches with jittered backoff, handlers
        # through kopf).
        retries=Retry(total=0, redirect=0),
        connection_pool_maxsize=CONNECTION_POOL_SIZE,
    )
    # TCP keepalive: a watch on a member behind a NAT or LB that silently drops idle flows ends instead of
    # hanging until its read timeout.
    configuration.keep_alive = True
    if material.token:
        configuration.api_key = {BEARER_AUTH: material.token}
        configuration.api_key_prefix = {BEARER_AUTH: "Bearer"}
    private_dir: Path | None = None
    if material.cert_pem is not None and material.key_pem is not None:
        private_dir = Path(tempfile.mkdtemp(prefix="fedop-member-"))  # mode 0700
        try:
            configuration.cert_file = str(_write_private(private_dir / "client.crt", material.cert_pem))
            configuration.key_file = str(_write_private(private_dir / "client.key", material.key_pem))
            try:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.load_cert_chain(configuration.cert_file, configuration.key_file)
            except ssl.SSLError:
                raise PermanentError(
                    f"{material.cert_origin}: client-certificate and client-key are not a matching PEM pair"
                ) from None
        except BaseException:
            _remove_dir(private_dir)
            raise
    return MemberApiClient(configuration, private_dir)


def _write_private(path: Path, content: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(content)
    return path
