"""Following the DNS credentials Secret: a changed Secret builds a new provider at once; a broken or
unreadable one keeps the provider in use."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from federation_operator.controllers.dns_credentials import follow_dns_credentials, secret_fingerprint
from federation_operator.dns.inmemory import InMemoryProvider
from federation_operator.dns.provider import DnsProvider
from federation_operator.dns.publisher import Publisher
from federation_operator.domain.errors import PermanentError

ZONE = "example.com"


def test_fingerprints_tell_contents_apart() -> None:
    assert secret_fingerprint({"key_secret": b"a"}) == secret_fingerprint({"key_secret": b"a"})
    assert secret_fingerprint({"key_secret": b"a"}) != secret_fingerprint({"key_secret": b"b"})
    assert secret_fingerprint({"a": b"bc"}) != secret_fingerprint({"ab": b"c"})


async def test_a_changed_secret_replaces_the_provider_and_a_broken_one_does_not() -> None:
    secret: dict[str, bytes] = {"key_secret": b"old"}
    built: list[str] = []

    async def fetch() -> Mapping[str, bytes]:
        return dict(secret)

    def build(data: Mapping[str, bytes]) -> DnsProvider:
        if data.get("key_secret") == b"broken":
            raise PermanentError("rfc2136: TSIG key is unusable")
        built.append(data["key_secret"].decode())
        return InMemoryProvider(ZONE)

    publisher = Publisher(InMemoryProvider(ZONE), federation="myfederation", on_result=lambda _k: None)
    replaced: list[DnsProvider] = []
    publisher.replace_provider = replaced.append  # type: ignore[method-assign]
    stop = False
    task = asyncio.create_task(
        follow_dns_credentials(
            secret="ns/dns",
            fetch=fetch,
            build=build,
            publisher=publisher,
            initial=secret_fingerprint(secret),
            interval=0.01,
            stopping=lambda: stop,
        )
    )
    try:
        await asyncio.sleep(0.05)
        assert replaced == []  # unchanged: nothing built
        secret["key_secret"] = b"broken"
        await asyncio.sleep(0.05)
        assert replaced == []  # unusable: the provider in use stays
        secret["key_secret"] = b"new"
        async with asyncio.timeout(5):
            while not replaced:  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # polling the loop's outcome, with a deadline
        assert built == ["new"]
        await asyncio.sleep(0.05)
        assert len(replaced) == 1  # built once per change
    finally:
        stop = True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
