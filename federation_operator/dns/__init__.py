"""DNS: the provider protocol, the publishing loop of a zone, and the adapters behind a name → constructor
factory.

May import: ``domain``, ``planning``, ``observability``. Never ``kube``, ``controllers``, ``cli``,
``handlers`` or ``settings``: a DNS zone knows record sets and their owners, not clusters, and is configured
by what it is handed.

Shared by the adapters: :mod:`~federation_operator.dns.provider` (the protocol, the in-zone check, backoff),
:mod:`~federation_operator.dns.options` (option checking), :mod:`~federation_operator.dns.txt` (TXT
presentation format) and :mod:`~federation_operator.dns.packing` (a plan's names packed into requests).
Importing this package loads no DNS SDK: the adapters (``rfc2136``, the ``route53`` and ``clouddns``
packages, ``inmemory``) are imported by whoever uses them, or by :func:`make_provider` when the settings
choose them.
"""

from __future__ import annotations

from federation_operator.dns.factory import PROVIDERS, make_provider
from federation_operator.dns.provider import DnsProvider

__all__ = ["PROVIDERS", "DnsProvider", "make_provider"]
