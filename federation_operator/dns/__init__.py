"""DNS I/O: the provider protocol, ownership records, and the adapters behind a name → constructor factory.

Importing this package loads no DNS SDK: the adapters (:mod:`~federation_operator.dns.rfc2136`,
:mod:`~federation_operator.dns.inmemory`) are imported by whoever uses them, or by
:func:`~federation_operator.dns.factory.make_provider` when the settings choose them. The pure planning code
(:mod:`federation_operator.planning.dnsdiff`) imports :mod:`~federation_operator.dns.ownership` from here.
"""

from __future__ import annotations

from federation_operator.dns.factory import PROVIDERS, make_provider
from federation_operator.dns.ownership import (
    OwnerTag,
    ownership_name,
    parse_ownership_name,
    render_ownership_records,
    render_ownership_value,
)
from federation_operator.dns.provider import DnsProvider, StaleChangesError, check_in_zone

__all__ = [
    "PROVIDERS",
    "DnsProvider",
    "OwnerTag",
    "StaleChangesError",
    "check_in_zone",
    "make_provider",
    "ownership_name",
    "parse_ownership_name",
    "render_ownership_records",
    "render_ownership_value",
]
