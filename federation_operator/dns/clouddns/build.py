"""The Cloud DNS provider from the operator's string options (the factory's ``clouddns`` builder), with a
client of its own and credentials from a key file, the standard chain or none at all.

Loaded when the settings choose ``clouddns``, so an operator publishing elsewhere never imports google-cloud.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import google.auth
import google.auth.exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import dns as google_dns
from google.oauth2 import service_account

from federation_operator.dns.clouddns.provider import CloudDnsProvider
from federation_operator.dns.options import check_options, number_option
from federation_operator.domain.errors import PermanentError

__all__ = ["build_clouddns"]

_OPTIONS = ("project", "managed_zone", "endpoint", "credentials_file", "anonymous", "max_retries")


def build_clouddns(zone: str, options: Mapping[str, str]) -> CloudDnsProvider:
    """A :class:`CloudDnsProvider` for ``zone`` from string options, with a client of its own.

    Options (all optional):

    - ``project``: the Google Cloud project holding the managed zone; by default the project of the
      credentials (the key file's ``project_id``, or what the standard chain finds);
    - ``managed_zone``: the managed zone's resource name; by default the zone whose ``dnsName`` is ``zone``;
    - ``endpoint``: the API's base URL, for a non-default endpoint (``https://dns.googleapis.com``);
    - ``credentials_file``: the path of a service-account key file (JSON), such as one mounted from a
      Secret; without it, the standard chain (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's application
      default credentials, the metadata server of GKE or GCE: workload identity);
    - ``anonymous``: ``true`` to send no credentials at all (emulators and test fakes; needs ``project``);
    - ``max_retries``: retries of a throttled or failed request (default 5).
    """
    check_options("clouddns", options, required=(), optional=_OPTIONS)
    anonymous = options.get("anonymous", "false").strip().lower()
    if anonymous not in ("true", "false"):
        raise PermanentError(
            f"DNS provider clouddns: option anonymous={options['anonymous']!r} is not true or false"
        )
    credentials_file = options.get("credentials_file")
    if anonymous == "true" and credentials_file:
        raise PermanentError(
            "DNS provider clouddns: options anonymous and credentials_file exclude each other"
        )
    endpoint = options.get("endpoint")
    if endpoint is not None and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", endpoint):
        raise PermanentError(f"DNS provider clouddns: option endpoint={endpoint!r} is not an http(s) URL")
    max_retries = number_option("clouddns", options, "max_retries", int, 5)

    scopes = list(google_dns.Client.SCOPE)
    found_project: str | None = None
    try:
        if anonymous == "true":
            credentials: Any = AnonymousCredentials()  # type: ignore[no-untyped-call]  # google-auth
        elif credentials_file:
            # The type-specific loader: a file of any other credential type (which could, say, make the
            # operator run a command or fetch a URL to get a token) is refused rather than trusted.
            credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                credentials_file, scopes=scopes
            )
            found_project = credentials.project_id
        else:
            credentials, found_project = google.auth.default(scopes=scopes)
    except (google.auth.exceptions.GoogleAuthError, OSError, ValueError) as exc:
        source = (
            f"credentials_file {credentials_file}" if credentials_file else "the default credentials chain"
        )
        raise PermanentError(f"DNS provider clouddns: no usable credentials from {source}: {exc}") from exc
    project = options.get("project") or found_project
    if not project:
        raise PermanentError(
            "DNS provider clouddns: option project is required (the credentials name no project)"
        )
    client = google_dns.Client(
        project=project,
        credentials=credentials,
        client_options={"api_endpoint": endpoint.rstrip("/")} if endpoint else None,
    )
    return CloudDnsProvider(
        client, zone=zone, managed_zone=options.get("managed_zone"), max_retries=max_retries
    )
