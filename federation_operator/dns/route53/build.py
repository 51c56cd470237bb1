"""The Route 53 provider from the operator's string options (the factory's ``route53`` builder).

boto3 is imported when this is called, so an operator publishing elsewhere never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping

from federation_operator.dns.options import check_options, number_option
from federation_operator.dns.route53.provider import ROUTE53_MAX_RECORD_SETS, Route53Provider
from federation_operator.domain.errors import PermanentError

__all__ = ["build_route53"]


def build_route53(
    zone: str, options: Mapping[str, str], *, federation: str = "myfederation"
) -> Route53Provider:
    """The Route 53 provider for ``zone``, from the operator's string options (a factory builder); its
    health checks carry ``federation`` (the settings' federation name).

    Options: ``hosted_zone_id`` (else looked up by the zone's name), ``endpoint_url`` (a Route 53 compatible
    endpoint, such as a local moto server), ``region`` (for request signing; Route 53 is global, so by default
    the environment's region or ``us-east-1``), ``max_retries`` (5), ``backoff_base`` (0.2 s), ``timeout``
    (connect and read timeout, 10 s) and ``max_record_sets`` (the hosted zone's quota of record sets, 10,000
    unless AWS raised it: the planner keeps within it). Credentials come from boto3's standard chain
    (environment variables, typically from a Secret; a web identity token for IRSA; shared files; instance
    metadata) and never from options, so they never reach the settings object or its logs.
    """
    import boto3  # noqa: PLC0415 (boto3 is loaded when Route 53 is chosen)
    from botocore.config import Config  # noqa: PLC0415

    check_options(
        "route53",
        options,
        required=(),
        optional=(
            "hosted_zone_id",
            "endpoint_url",
            "region",
            "max_retries",
            "backoff_base",
            "timeout",
            "max_record_sets",
        ),
    )
    max_record_sets = number_option("route53", options, "max_record_sets", int, ROUTE53_MAX_RECORD_SETS)
    if max_record_sets < 1:
        raise PermanentError(
            f"DNS provider route53: option max_record_sets must be positive, got {max_record_sets}"
        )
    max_retries = number_option("route53", options, "max_retries", int, 5)
    backoff_base = number_option("route53", options, "backoff_base", float, 0.2)
    timeout = number_option("route53", options, "timeout", float, 10.0)
    if timeout <= 0:
        raise PermanentError(f"DNS provider route53: option timeout must be positive, got {timeout:g}")
    session = boto3.session.Session(region_name=options.get("region") or None)
    client = session.client(
        "route53",
        region_name=session.region_name or "us-east-1",
        endpoint_url=options.get("endpoint_url") or None,
        # botocore's own retries would multiply ours (5 by 5 attempts under throttling): ours are the policy.
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=timeout, read_timeout=timeout),
    )
    return Route53Provider(
        client,
        zone=zone,
        hosted_zone_id=options.get("hosted_zone_id") or None,
        max_retries=max_retries,
        backoff_base=backoff_base,
        max_record_sets=max_record_sets,
        federation=federation,
    )
