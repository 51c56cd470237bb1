"""The in-memory provider (the seed article's rounds, strictness that catches planning bugs), the factory."""

from __future__ import annotations

import pytest

from federation_operator.dns import PROVIDERS, make_provider
from federation_operator.dns.inmemory import InMemoryProvider
from federation_operator.domain.errors import PermanentError, StaleChangesError, TransientError
from federation_operator.domain.records import Changes, RecordSet

from . import ASIA, EUROPE, US, global_name, plan_for, publish, seed_records, tier_name, unique_service


@pytest.fixture
def provider() -> InMemoryProvider:
    return InMemoryProvider("example.com")


async def test_empty_plan_makes_no_call(provider: InMemoryProvider) -> None:
    assert await provider.apply(Changes()) == 0
    assert provider.calls == 0


async def test_rounds_of_the_seed_article(provider: InMemoryProvider) -> None:
    svc = unique_service()
    # No backends: nothing to publish, nothing sent.
    assert await publish(provider, seed_records(svc, []), svc) == (0, ())
    # Backends everywhere: one call publishes every tier with its ownership records.
    assert await publish(provider, seed_records(svc, [ASIA, EUROPE, US]), svc) == (1, ())
    held = {r.key: r for r in await provider.records()}
    assert held[(global_name(svc), "A")].values == ("127.10.0.1", "127.20.0.1", "127.30.0.1")
    assert (f"_fedop-a.{global_name(svc)}", "TXT") in held
    # Second round with the same state: zero calls.
    assert await publish(provider, seed_records(svc, [ASIA, EUROPE, US]), svc) == (0, ())
    assert provider.calls == 1
    # Europe loses its backends: its region switches A → CNAME in the same single call.
    assert await publish(provider, seed_records(svc, [ASIA, US]), svc) == (1, ())
    held = {r.key: r for r in await provider.records()}
    assert held[(tier_name(svc, "europe-west1"), "CNAME")].values == (global_name(svc),)
    assert (tier_name(svc, "europe-west1"), "A") not in held
    # The FederatedService is deleted: everything it published goes, ownership records included.
    assert await publish(provider, (), svc) == (1, ())
    assert await provider.records() == []


async def test_stale_plan_is_refused_whole(provider: InMemoryProvider) -> None:
    svc = unique_service()
    await publish(provider, seed_records(svc, [ASIA]), svc)
    changes, _ = await plan_for(provider, seed_records(svc, [ASIA, US]), svc)
    # Someone changes the global record between our read and our write.
    (old,) = [r for r in provider.snapshot() if r.key == (global_name(svc), "A")]
    await provider.apply(Changes(update_old=(old,), update_new=(RecordSet(old.name, "A", 60, old.values),)))
    before = provider.snapshot()
    with pytest.raises(StaleChangesError, match="changed since the plan"):
        await provider.apply(changes)
    assert provider.snapshot() == before


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        pytest.param(
            Changes(create=(RecordSet("x.example.com.", "CNAME", 60, ("y.example.com.",)),)),
            StaleChangesError,
            id="cname-beside-other-data",
        ),
        pytest.param(
            Changes(delete=(RecordSet("x.example.com.", "A", 60, ("1.1.1.2",)),)),
            StaleChangesError,
            id="inexact-delete",
        ),
        pytest.param(
            Changes(create=(RecordSet("x.example.org.", "A", 60, ("1.1.1.1",)),)),
            PermanentError,
            id="outside-the-zone",
        ),
    ],
)
async def test_strictness(changes: Changes, error: type[Exception]) -> None:
    provider = InMemoryProvider("example.com.", [RecordSet("x.example.com.", "A", 60, ("1.1.1.1",))])
    with pytest.raises(error):
        await provider.apply(changes)
    assert provider.snapshot() == (RecordSet("x.example.com.", "A", 60, ("1.1.1.1",)),)


async def test_injected_failure_then_recovery(provider: InMemoryProvider) -> None:
    svc = unique_service()
    provider.fail_next(TransientError("throttled"))
    with pytest.raises(TransientError, match="throttled"):
        await publish(provider, seed_records(svc, [US]), svc)
    assert provider.snapshot() == ()
    assert await publish(provider, seed_records(svc, [US]), svc) == (1, ())
    assert provider.calls == 2


def test_factory_builds_registered_providers() -> None:
    assert sorted(PROVIDERS) == ["clouddns", "inmemory", "rfc2136", "route53"]
    built = make_provider("inmemory", zone="Example.com")
    assert isinstance(built, InMemoryProvider)
    assert built.zone == "example.com."


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        pytest.param(
            "route66",
            {},
            "unknown DNS provider 'route66'; known: clouddns, inmemory, rfc2136, route53",
            id="unknown",
        ),
        pytest.param("inmemory", {"server": "x"}, "unknown option server", id="inmemory-takes-no-options"),
        pytest.param("rfc2136", {}, "option server is required", id="rfc2136-needs-server"),
        pytest.param("rfc2136", {"server": "127.0.0.1", "port": "dns"}, "port='dns'", id="bad-port"),
        pytest.param(
            "rfc2136", {"server": "127.0.0.1", "key": "k"}, "unknown option key", id="unknown-option"
        ),
        pytest.param(
            "rfc2136", {"server": "127.0.0.1", "key_name": "k"}, "both the TSIG key name", id="half-a-key"
        ),
        pytest.param(
            "rfc2136",
            {"server": "127.0.0.1", "key_name": "k", "key_secret": "not base64!"},
            "TSIG key 'k' is unusable",
            id="secret-not-base64",
        ),
    ],
)
def test_factory_fails_fast_naming_the_problem(name: str, options: dict[str, str], message: str) -> None:
    with pytest.raises(PermanentError, match=message.replace("(", r"\(")):
        make_provider(name, zone="example.com", options=options)


async def test_serial_is_none_unless_asked_for_and_then_every_change_moves_it() -> None:
    plain = InMemoryProvider("example.com")
    assert await plain.serial() is None
    versioned = InMemoryProvider("example.com", with_serial=True)
    first = await versioned.serial()
    record = RecordSet(f"{unique_service()}.example.com.", "A", 60, ("192.0.2.1",))
    await versioned.apply(Changes(create=(record,)))
    second = await versioned.serial()
    assert second != first
    versioned.edit(Changes(delete=(record,)))  # a hand edit moves it too
    assert await versioned.serial() != second
    assert versioned.snapshot() == ()
