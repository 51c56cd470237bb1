"""DNS: the provider protocol, the publishing loop of a zone, and the adapters behind a name → constructor
factory.

May import: ``domain``, ``planning``, ``observability``. Never ``kube`` or ``controllers``: a DNS zone knows
record sets and their owners, not clusters.

Importing this package loads no DNS SDK: the adapters (``rfc2136``, ``route53``, ``clouddns``, ``inmemory``)
are imported by whoever uses them, or by :func:`make_provider` when the settings choose them.
"""

from __future__ import annotations

from federation_operator.dns.factory import PROVIDERS, make_provider
from federation_operator.dns.provider import DnsProvider

__all__ = ["PROVIDERS", "DnsProvider", "make_provider"]
