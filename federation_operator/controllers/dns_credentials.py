"""The DNS credentials Secret, followed: a changed Secret is put to use at once, without a restart.

The operator reads ``FEDOP_DNS_CREDENTIALS_SECRET`` at start-up to build its DNS provider. This loop reads the
Secret again every ``interval`` seconds (one GET of one object, by name) and, when its content changed,
builds a new provider from it and hands it to the publisher (`Publisher.replace_provider`), which reads the
zone with it at once and retries whatever the old credentials had failed.

Why a poll of one object rather than a watch: a watch needs ``list``/``watch`` on Secrets, which the chart
does not grant (the operator may only ``get`` Secrets it is pointed at, by name, in its own namespace), and
kopf's watches are cluster-wide. One GET every 5 s (the default) is 720 small requests an hour to the host
API server, and a fixed credential is in use within 5 s.

The Secret's content is never logged, nor kept beyond the provider built from it: only a fingerprint.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from federation_operator.dns.provider import DnsProvider
from federation_operator.dns.publisher import Publisher
from federation_operator.domain.errors import FederationError

__all__ = ["follow_dns_credentials", "secret_fingerprint"]

log = logging.getLogger(__name__)


def secret_fingerprint(data: Mapping[str, bytes]) -> str:
    """Tells one Secret's content from another's without keeping the credentials themselves around."""
    digest = hashlib.sha256()
    for key, value in sorted(data.items()):
        digest.update(hashlib.sha256(key.encode()).digest() + hashlib.sha256(value).digest())
    return digest.hexdigest()


async def follow_dns_credentials(
    *,
    secret: str,
    fetch: Callable[[], Awaitable[Mapping[str, bytes]]],
    build: Callable[[Mapping[str, bytes]], DnsProvider],
    publisher: Publisher,
    initial: str,
    interval: float,
    stopping: Callable[[], bool] = lambda: False,
) -> None:
    """Read the Secret (``fetch``) every ``interval`` seconds; when its fingerprint differs from the one in
    use (``initial`` at first), build a provider from it (``build``) and give it to ``publisher``.

    A Secret that cannot be read, or whose content makes no usable provider, is logged (once per distinct
    problem) and the provider in use is kept: a half-edited Secret must not stop publishing.
    """
    in_use = initial
    problem: str | None = None
    while not stopping():
        await asyncio.sleep(interval)
        try:
            data = await fetch()
            fingerprint = secret_fingerprint(data)
            if fingerprint == in_use:
                problem = None
                continue
            provider = build(data)
        except FederationError as exc:
            if str(exc) != problem:
                problem = str(exc)
                log.warning("DNS credentials Secret %s: %s; keeping the provider in use", secret, exc)
            continue
        if stopping():
            return
        in_use, problem = fingerprint, None
        log.info("DNS credentials Secret %s changed: using the new credentials now", secret)
        publisher.replace_provider(provider)
