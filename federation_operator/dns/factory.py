"""Provider name → constructor: how the operator's settings become a
:class:`~federation_operator.dns.provider.DnsProvider`.

Each builder takes the zone and the provider's options (strings, as they come from the settings file, the
environment or a Secret), checks them, and imports its SDK only when called, so an operator publishing to
BIND never loads boto3 or google-cloud-dns. Unknown providers and unknown or malformed options fail fast
with a ``PermanentError`` naming them.

Registered: ``inmemory`` (dry runs and tests; no options), ``rfc2136`` (options: ``server`` (required),
``port``, ``key_name``, ``key_secret``, ``key_algorithm`` (any spelling BIND accepts:
:data:`~federation_operator.dns.options.TSIG_ALGORITHMS`), ``timeout``, ``max_records_per_type`` (the
server's, 100 as BIND's default, 0 for none)), ``route53`` and ``clouddns`` (their options:
:func:`~federation_operator.dns.route53.build_route53`,
:func:`~federation_operator.dns.clouddns.build_clouddns`). Option checking itself is
:mod:`federation_operator.dns.options`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from federation_operator.dns.options import check_options, number_option, tsig_algorithm
from federation_operator.dns.provider import DnsProvider
from federation_operator.domain.errors import PermanentError

__all__ = ["PROVIDERS", "ProviderBuilder", "make_provider"]

ProviderBuilder = Callable[[str, Mapping[str, str], str], DnsProvider]
"""Builds a provider from the zone name, the provider's options and the federation's name (a provider that
keeps objects of its own outside the zone, such as Route 53 health checks, marks them with it)."""


def _build_inmemory(zone: str, options: Mapping[str, str], _federation: str) -> DnsProvider:
    from federation_operator.dns.inmemory import InMemoryProvider  # noqa: PLC0415 (loaded when chosen)

    check_options("inmemory", options, required=(), optional=())
    return InMemoryProvider(zone)


def _build_rfc2136(zone: str, options: Mapping[str, str], _federation: str) -> DnsProvider:
    from federation_operator.dns.rfc2136 import Rfc2136Provider  # noqa: PLC0415 (dnspython loaded when chosen)

    check_options(
        "rfc2136",
        options,
        required=("server",),
        optional=("port", "key_name", "key_secret", "key_algorithm", "timeout", "max_records_per_type"),
    )
    # BIND's max-records-per-type (100 by default); 0, as in named.conf, is no limit.
    per_type = number_option("rfc2136", options, "max_records_per_type", int, 100)
    if per_type < 0:
        raise PermanentError(
            f"DNS provider rfc2136: option max_records_per_type must be 0 or more, got {per_type}"
        )
    return Rfc2136Provider(
        server=options["server"],
        zone=zone,
        port=number_option("rfc2136", options, "port", int, 53),
        key_name=options.get("key_name"),
        key_secret=options.get("key_secret"),
        key_algorithm=tsig_algorithm(options.get("key_algorithm", "hmac-sha256")),
        timeout=number_option("rfc2136", options, "timeout", float, 10.0),
        max_values_per_set=per_type or None,
    )


def _build_route53(zone: str, options: Mapping[str, str], federation: str) -> DnsProvider:
    from federation_operator.dns.route53 import build_route53  # noqa: PLC0415 (boto3 loaded when chosen)

    return build_route53(zone, options, federation=federation)


def _build_clouddns(zone: str, options: Mapping[str, str], _federation: str) -> DnsProvider:
    from federation_operator.dns.clouddns import build_clouddns  # noqa: PLC0415 (google loaded when chosen)

    return build_clouddns(zone, options)


PROVIDERS: Mapping[str, ProviderBuilder] = {
    "inmemory": _build_inmemory,
    "rfc2136": _build_rfc2136,
    "route53": _build_route53,
    "clouddns": _build_clouddns,
}
"""Every provider the operator can publish to, by the name used in the settings."""


def make_provider(
    name: str, *, zone: str, options: Mapping[str, str] | None = None, federation: str = "myfederation"
) -> DnsProvider:
    """The provider called ``name`` serving ``zone`` for ``federation``, configured from ``options``."""
    builder = PROVIDERS.get(name)
    if builder is None:
        raise PermanentError(f"unknown DNS provider {name!r}; known: {', '.join(sorted(PROVIDERS))}")
    return builder(zone, dict(options or {}), federation)
