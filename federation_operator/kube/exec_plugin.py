"""A kubeconfig user's exec credential plugin (``client.authentication.k8s.io``): the command a cloud's
kubeconfig runs for a token (``aws eks get-token``, ``gke-gcloud-auth-plugin``, ``kubelogin``), as kubectl
runs it: its ``args`` and ``env``, ``KUBERNETES_EXEC_INFO`` saying that nobody is there to answer a prompt,
and its answer an ``ExecCredential`` on stdout whose status holds a bearer token and when it expires.

Only the operator's host client runs one (:func:`federation_operator.kube.credentials.kubeconfig_client`), and
only when the operator runs outside its cluster with such a kubeconfig; the members' Secrets never name a
command to run. What the plugin prints is never logged: a failure says only its exit status and the last line
it wrote to stderr.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from federation_operator.domain.errors import PermanentError, TransientError

__all__ = ["EXEC_TIMEOUT", "ExecPlugin", "ExecToken", "parse_exec_plugin"]

# A plugin that has not answered in this long will not: it is waiting for a prompt nobody can answer, or
# for a network that is not there.
EXEC_TIMEOUT = 30.0
_API_VERSIONS = (
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
)


@dataclass(frozen=True)
class ExecToken:
    """A plugin's answer: the bearer token, and until when it is good (seconds since the epoch; None: until
    the server refuses it)."""

    token: str
    expires: float | None


@dataclass(frozen=True)
class ExecPlugin:
    """The ``exec`` entry of a kubeconfig user."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = _API_VERSIONS[0]
    # The cluster the token is for, handed to a plugin that asks for it (provideClusterInfo).
    cluster: Mapping[str, Any] | None = None

    def run(self, timeout: float = EXEC_TIMEOUT) -> ExecToken:
        """Run the plugin and read its token: a :class:`TransientError` when it fails or says nothing usable
        this time (it may be a network away from its cloud), a :class:`PermanentError` when it answers with
        credentials the operator cannot use (a client certificate)."""
        what = f"exec credential plugin {self.command!r}"
        spec: dict[str, Any] = {"interactive": False}
        if self.cluster is not None:
            spec["cluster"] = dict(self.cluster)
        info = {"apiVersion": self.api_version, "kind": "ExecCredential", "spec": spec}
        env = {**os.environ, **dict(self.env), "KUBERNETES_EXEC_INFO": orjson.dumps(info).decode()}
        try:
            done = subprocess.run(
                [self.command, *self.args],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TransientError(f"{what}: no answer within {timeout:.0f}s") from None
        except OSError as exc:
            raise TransientError(f"{what}: cannot run it ({exc.strerror})") from None
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip().splitlines()
            last = f": {said[-1][:200]}" if said else ""
            raise TransientError(f"{what} exited with status {done.returncode}{last}")
        return _token(done.stdout, what)


def _token(stdout: bytes, what: str) -> ExecToken:
    try:
        answer = orjson.loads(stdout)
    except orjson.JSONDecodeError:
        raise TransientError(f"{what}: its answer is not JSON") from None
    status = answer.get("status") if isinstance(answer, dict) else None
    if not isinstance(status, dict):
        raise TransientError(f"{what}: its answer is not an ExecCredential with a status")
    if status.get("clientCertificateData") and not status.get("token"):
        raise PermanentError(
            f"{what} answers with a client certificate, which the operator does not use: give it a plugin "
            "that answers with a token, or a token, tokenFile or client certificate in the kubeconfig"
        )
    token = status.get("token")
    if not isinstance(token, str) or not token or any(c.isspace() for c in token):
        raise TransientError(f"{what}: its answer holds no usable token")
    expires: float | None = None
    stamp = status.get("expirationTimestamp")
    if stamp:
        try:
            expires = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise TransientError(f"{what}: expirationTimestamp {stamp!r} is not a time") from None
    return ExecToken(token, expires)


def parse_exec_plugin(
    entry: Mapping[str, Any], where: str, *, server: str, ca_pem: bytes | None
) -> ExecPlugin:
    """The plugin a kubeconfig user's ``exec`` entry describes (``where`` names the entry in errors)."""
    command = entry.get("command")
    if not isinstance(command, str) or not command:
        raise PermanentError(f"{where}.command is not set")
    args = entry.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise PermanentError(f"{where}.args must be a list of strings")
    env: list[tuple[str, str]] = []
    for item in entry.get("env") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise PermanentError(f"{where}.env: every entry needs a name and a value")
        env.append((item["name"], str(item.get("value") or "")))
    api_version = str(entry.get("apiVersion") or _API_VERSIONS[0])
    if api_version not in _API_VERSIONS:
        raise PermanentError(
            f"{where}.apiVersion {api_version!r}: expected one of {', '.join(_API_VERSIONS)}"
        )
    cluster: dict[str, Any] | None = None
    if entry.get("provideClusterInfo"):
        cluster = {"server": server}
        if ca_pem is not None:
            cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return ExecPlugin(command, tuple(args), tuple(env), api_version, cluster)
