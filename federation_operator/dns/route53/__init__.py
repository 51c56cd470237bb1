"""The Route 53 adapter: one public hosted zone through boto3, split by concern.

- :mod:`~federation_operator.dns.route53.provider`: :class:`Route53Provider` (the hosted zone, reading,
  writing, retries and error mapping);
- :mod:`~federation_operator.dns.route53.zone_state`: the zone as last read and the checks a plan must pass
  before anything is sent (pure);
- :mod:`~federation_operator.dns.route53.batches`: a plan as ``ChangeResourceRecordSets`` requests within
  Route 53's limits (pure);
- :mod:`~federation_operator.dns.route53.build`: :func:`build_route53`, the factory's builder.

Importing this package loads botocore; the factory imports it only when the settings choose ``route53``.
"""

from __future__ import annotations

from federation_operator.dns.route53.batches import (
    MAX_BATCH_CHARACTERS,
    MAX_BATCH_VALUES,
    MAX_VALUE_CHARACTERS,
    Batch,
    change_cost,
    plan_batches,
)
from federation_operator.dns.route53.build import build_route53
from federation_operator.dns.route53.provider import Route53Provider
from federation_operator.dns.route53.zone_state import parse_route53_name

__all__ = [
    "MAX_BATCH_CHARACTERS",
    "MAX_BATCH_VALUES",
    "MAX_VALUE_CHARACTERS",
    "Batch",
    "Route53Provider",
    "build_route53",
    "change_cost",
    "parse_route53_name",
    "plan_batches",
]
