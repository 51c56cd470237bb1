"""The Cloud DNS adapter: one managed zone of Google Cloud DNS, split by concern.

- :mod:`~federation_operator.dns.clouddns.provider`: :class:`CloudDnsProvider` (the managed zone, reading,
  writing, retries);
- :mod:`~federation_operator.dns.clouddns.changes`: record sets as JSON and a plan as changes within
  :class:`ChangeLimits` (pure);
- :mod:`~federation_operator.dns.clouddns.errors`: the API's failures as the operator's errors;
- :mod:`~federation_operator.dns.clouddns.build`: :func:`build_clouddns`, the factory's builder.

Importing this package loads google-cloud-dns; the factory imports it only when the settings choose
``clouddns``.
"""

from __future__ import annotations

from federation_operator.dns.clouddns.build import build_clouddns
from federation_operator.dns.clouddns.changes import DEFAULT_LIMITS, ChangeLimits
from federation_operator.dns.clouddns.provider import CloudDnsProvider

__all__ = ["DEFAULT_LIMITS", "ChangeLimits", "CloudDnsProvider", "build_clouddns"]
