"""The RFC 2136 provider against a real BIND 9: rounds of the seed article checked with real DNS answers,
zero messages for an unchanged state, atomic A ↔ CNAME switches, foreign records, 64 KiB splitting, and
error mapping (TSIG, stale plans, unreachable server); a publisher round where BIND refuses one owner
(SERVFAIL past max-records-per-type) and publishes the other; TSIG in BIND's own spelling."""

from __future__ import annotations

import dns.asyncquery
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.tsig
import dns.update
import dns.xfr
import dns.zone
import pytest
from localfed.bind import BindServer
from localfed.bind import rfc2136_provider as connect
from localfed.federation import free_port

from federation_operator.dns import make_provider
from federation_operator.dns.rfc2136 import Rfc2136Provider
from federation_operator.dns.rfc2136 import _steps as _steps_of_group
from federation_operator.dns.update_wire import UpdateWire
from federation_operator.domain.errors import PermanentError, StaleChangesError, TransientError
from federation_operator.domain.ownership import group_changes_by_name
from federation_operator.domain.records import Changes, RecordSet, ShardAddresses
from federation_operator.planning.records import plan_tiers
from federation_operator.planning.zone_diff import plan_zone_changes

from . import (
    ASIA,
    EUROPE,
    FEDERATION,
    NAMESPACE,
    TOPOLOGY,
    US,
    crowded_shards,
    global_name,
    plan_for,
    publish,
    seed_records,
    service_names,
    tier_name,
    unique_service,
)
from .publisher_round import publish_together

pytestmark = pytest.mark.dns

Answer = dict[str, tuple[str, ...]]


@pytest.fixture
def provider(bind_server: BindServer) -> Rfc2136Provider:
    return connect(bind_server)


async def ask(bind: BindServer, name: str, rtype: str = "A") -> Answer:
    """What BIND answers for ``name``: type → values of every RRset in the answer (CNAME chain included)."""
    query = dns.message.make_query(name, rtype)
    response = await dns.asyncquery.udp(query, bind.address, port=bind.port, timeout=5)
    if response.rcode() == dns.rcode.NXDOMAIN:
        return {}
    assert response.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(response.rcode())
    found: dict[str, list[str]] = {}
    for rrset in response.answer:
        texts = (
            [b"".join(rd.strings).decode() for rd in rrset]
            if rrset.rdtype == dns.rdatatype.TXT
            else [rd.to_text() for rd in rrset]
        )
        found.setdefault(dns.rdatatype.to_text(rrset.rdtype), []).extend(texts)
    return {rtype: tuple(sorted(values)) for rtype, values in found.items()}


async def serial(bind: BindServer) -> int:
    """The zone's SOA serial: BIND bumps it once per applied UPDATE message."""
    answer = await ask(bind, f"{bind.zone}.", "SOA")
    return int(answer["SOA"][0].split()[2])


async def test_first_round_second_round_then_failover(
    bind_server: BindServer, provider: Rfc2136Provider
) -> None:
    svc = unique_service()
    alias = f"{svc}.acme.{bind_server.zone}."
    desired = seed_records(svc, [ASIA, EUROPE, US], aliases=[alias])

    # First round: every tier and its ownership records, in one message.
    assert await publish(provider, desired, svc) == (1, ())
    assert await ask(bind_server, global_name(svc)) == {"A": ("127.10.0.1", "127.20.0.1", "127.30.0.1")}
    assert await ask(bind_server, tier_name(svc, "europe-west1")) == {"A": ("127.20.0.1",)}
    assert await ask(bind_server, tier_name(svc, "us-central1-a")) == {"A": ("127.30.0.1",)}
    assert await ask(bind_server, tier_name(svc, "us-central1-b")) == {
        "CNAME": (tier_name(svc, "us-central1"),),
        "A": ("127.30.0.1",),
    }
    assert (await ask(bind_server, alias))["A"] == ("127.10.0.1", "127.20.0.1", "127.30.0.1")
    owner_txt = await ask(bind_server, f"_fedop-a.{global_name(svc)}", "TXT")
    assert owner_txt == {
        "TXT": (f"heritage=federation-operator,federation=myfederation,owner=mynamespace/{svc}",)
    }

    # Second round, same state: nothing sent, the zone's serial does not move.
    before, sent = await serial(bind_server), provider.messages_sent
    assert await publish(provider, desired, svc) == (0, ())
    assert provider.messages_sent == sent
    assert await serial(bind_server) == before

    # Europe's backends lose readiness: its region turns A → CNAME, in one message (one serial bump).
    assert await publish(provider, seed_records(svc, [ASIA, US], aliases=[alias]), svc) == (1, ())
    assert await serial(bind_server) == before + 1
    assert await ask(bind_server, tier_name(svc, "europe-west1")) == {
        "CNAME": (global_name(svc),),
        "A": ("127.10.0.1", "127.30.0.1"),
    }
    assert await ask(bind_server, tier_name(svc, "europe-west1-a")) == {
        "CNAME": tuple(sorted([global_name(svc), tier_name(svc, "europe-west1")])),
        "A": ("127.10.0.1", "127.30.0.1"),
    }
    assert await ask(bind_server, global_name(svc)) == {"A": ("127.10.0.1", "127.30.0.1")}

    # Readiness back: the CNAME turns back into an A.
    assert await publish(provider, desired, svc) == (1, ())
    assert await ask(bind_server, tier_name(svc, "europe-west1")) == {"A": ("127.20.0.1",)}
    assert await publish(provider, desired, svc) == (0, ())


async def test_empty_plan_sends_nothing(bind_server: BindServer, provider: Rfc2136Provider) -> None:
    before = await serial(bind_server)
    assert await provider.apply(Changes()) == 0
    assert provider.messages_sent == 0
    assert await serial(bind_server) == before


async def test_deletion_removes_every_tier_and_ownership_record(
    bind_server: BindServer, provider: Rfc2136Provider
) -> None:
    svc = unique_service()
    await publish(provider, seed_records(svc, [ASIA, EUROPE, US]), svc)
    assert await publish(provider, (), svc) == (1, ())
    assert [r for r in await provider.records() if svc in r.name] == []
    assert await ask(bind_server, global_name(svc)) == {}
    assert await ask(bind_server, f"_fedop-a.{global_name(svc)}", "TXT") == {}


async def test_foreign_record_survives_and_is_reported(
    bind_server: BindServer, provider: Rfc2136Provider
) -> None:
    svc = unique_service()
    # Someone else's A at our global name, written straight to BIND (no ownership record).
    foreign = dns.update.UpdateMessage(
        f"{bind_server.zone}.",
        keyring=dns.tsig.Key(bind_server.key_name, bind_server.key_secret, bind_server.key_algorithm),
    )
    foreign.add(global_name(svc), 60, "A", "192.0.2.1")
    assert (await dns.asyncquery.tcp(foreign, bind_server.address, port=bind_server.port)).rcode() == 0

    calls, conflicts = await publish(provider, seed_records(svc, [ASIA, US]), svc)
    assert calls == 1
    assert [(c.name, c.type) for c in conflicts] == [(global_name(svc), "A")]
    assert "without an ownership record" in conflicts[0].reason
    assert await ask(bind_server, global_name(svc)) == {"A": ("192.0.2.1",)}
    assert await ask(bind_server, tier_name(svc, "asia-east1")) == {"A": ("127.10.0.1",)}
    # Same state again: nothing to send, the conflict is still reported.
    assert await publish(provider, seed_records(svc, [ASIA, US]), svc) == (0, conflicts)

    # Deleting the FederatedService removes ours and leaves the foreign record in place.
    await publish(provider, (), svc)
    assert [r for r in await provider.records() if svc in r.name] == [
        RecordSet(global_name(svc), "A", 60, ("192.0.2.1",))
    ]


def record_messages(provider: Rfc2136Provider, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every UPDATE message ``provider`` sends from now on, in wire form (as signed)."""
    sent: list[bytes] = []
    send = provider._send

    async def recording_send(wire: bytes, mac: bytes | None) -> None:
        sent.append(wire)
        await send(wire, mac)

    monkeypatch.setattr(provider, "_send", recording_send)
    return sent


def names_in(wire: bytes) -> set[str]:
    """The names an UPDATE message is about, ownership names folded into the names they stand for."""
    message = dns.message.from_wire(wire, keyring=False)  # False: read it without checking the signature
    names = {rrset.name.to_text() for section in message.sections[1:3] for rrset in section}
    return {name.split(".", 1)[1] if name.startswith("_fedop-") else name for name in names}


async def test_plan_larger_than_one_message_is_split_and_fully_applied(
    bind_server: BindServer, provider: Rfc2136Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = unique_service()
    desired = [
        RecordSet(f"h{i}.{svc}.{bind_server.zone}.", "A", 60, (f"10.{i // 250}.{i % 250}.1", "10.255.0.2"))
        for i in range(900)
    ]
    sent = record_messages(provider, monkeypatch)
    changes, conflicts = await plan_for(provider, desired, svc)
    assert conflicts == ()
    assert len(changes.create) == 1800
    assert await provider.apply(changes) == len(sent) > 1
    # Packed close to the limit, never over it.
    assert all(len(wire) <= 65535 for wire in sent)
    assert sum(len(wire) for wire in sent) > 65535 * (len(sent) - 1)
    held = {r for r in await provider.records() if svc in r.name}
    assert set(desired) <= held
    assert len(held) == 1800
    assert await publish(provider, desired, svc) == (0, ())
    assert (await publish(provider, (), svc))[0] > 1
    assert [r for r in await provider.records() if svc in r.name] == []


async def test_changes_at_one_name_never_straddle_two_messages(
    bind_server: BindServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = unique_service()
    provider = connect(bind_server, max_message_size=1536)
    await publish(provider, seed_records(svc, [ASIA, EUROPE, US]), svc)
    sent = record_messages(provider, monkeypatch)
    # Every region and most zones switch between A and CNAME: many small groups, 1.5 KiB messages.
    calls, _ = await publish(provider, seed_records(svc, [EUROPE]), svc)
    assert calls == len(sent) > 1
    assert all(len(wire) <= 1536 for wire in sent)
    about = [names_in(wire) for wire in sent]
    for i, names in enumerate(about):
        for other in about[i + 1 :]:
            assert not names & other
    assert await ask(bind_server, tier_name(svc, "us-central1")) == {
        "CNAME": (global_name(svc),),
        "A": ("127.20.0.1",),
    }
    assert await publish(provider, seed_records(svc, [EUROPE]), svc) == (0, ())


async def test_long_txt_values_round_trip(provider: Rfc2136Provider, bind_server: BindServer) -> None:
    svc = unique_service()
    record = RecordSet(f"{svc}.{bind_server.zone}.", "TXT", 60, ("x" * 600, "short"))
    await provider.apply(Changes(create=(record,)))
    assert record in await provider.records()
    await provider.apply(Changes(delete=(record,)))
    assert record not in await provider.records()


async def test_stale_plan_is_refused_by_the_server(
    bind_server: BindServer, provider: Rfc2136Provider
) -> None:
    svc = unique_service()
    await publish(provider, seed_records(svc, [ASIA]), svc)
    changes, _ = await plan_for(provider, seed_records(svc, [ASIA, US]), svc)
    old = RecordSet(global_name(svc), "A", 180, ("127.10.0.1",))
    await provider.apply(
        Changes(update_old=(old,), update_new=(RecordSet(old.name, "A", 180, ("127.10.0.9",)),))
    )
    before = await serial(bind_server)
    with pytest.raises(StaleChangesError, match="NXRRSET"):
        await provider.apply(changes)
    assert await serial(bind_server) == before
    assert await ask(bind_server, global_name(svc)) == {"A": ("127.10.0.9",)}


async def test_a_beside_a_foreign_cname_is_refused_not_silently_ignored(
    bind_server: BindServer, provider: Rfc2136Provider
) -> None:
    svc = unique_service()
    name = f"{svc}.{bind_server.zone}."
    await provider.apply(Changes(create=(RecordSet(name, "CNAME", 60, ("elsewhere.example.net.",)),)))
    with pytest.raises(StaleChangesError, match="YXRRSET"):
        await provider.apply(Changes(create=(RecordSet(name, "A", 60, ("192.0.2.1",)),)))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"key_secret": "d3Jvbmcgc2VjcmV0IG9mIDMyIGJ5dGVzIGxlbmd0aCEh"}, "BADSIG", id="wrong-secret"
        ),
        pytest.param({"key_name": "no-such-key"}, "BADKEY", id="unknown-key-name"),
        pytest.param({"key_name": None, "key_secret": None}, "REFUSED", id="unsigned"),
    ],
)
async def test_rejected_credentials_are_permanent(
    bind_server: BindServer, overrides: dict[str, object], message: str
) -> None:
    provider = connect(bind_server, **overrides)
    record = RecordSet(f"{unique_service()}.{bind_server.zone}.", "A", 60, ("192.0.2.1",))
    with pytest.raises(PermanentError, match=message):
        await provider.apply(Changes(create=(record,)))
    with pytest.raises(PermanentError):
        await provider.records()


async def test_unreachable_server_is_transient(bind_server: BindServer) -> None:
    provider = connect(bind_server, port=free_port(), timeout=1.0)
    record = RecordSet(f"{unique_service()}.{bind_server.zone}.", "A", 60, ("192.0.2.1",))
    with pytest.raises(TransientError):
        await provider.apply(Changes(create=(record,)))
    with pytest.raises(TransientError):
        await provider.records()


async def test_zone_the_server_does_not_serve_is_permanent(bind_server: BindServer) -> None:
    provider = connect(bind_server, zone="example.org")
    with pytest.raises(PermanentError, match=r"NOTAUTH|REFUSED|NOTZONE"):
        await provider.apply(Changes(create=(RecordSet("x.example.org.", "A", 60, ("192.0.2.1",)),)))


async def test_reading_skips_the_apex_soa_and_ns(provider: Rfc2136Provider) -> None:
    held = await provider.records()
    assert {r.type for r in held} <= {"A", "AAAA", "CNAME", "TXT"}
    assert RecordSet("ns1.example.com.", "A", 300, ("127.0.0.1",)) in held


async def test_our_reading_of_a_transfer_is_what_dnspythons_zone_holds(
    bind_server: BindServer, provider: Rfc2136Provider
) -> None:
    """The provider reads a zone transfer message by message, without dnspython's zone: what it lists must
    be what dnspython's zone of the same transfer holds, over a transfer of many messages with every kind
    of record set (long TXT, AAAA, CNAME, foreign MX and SRV beside ours, several values)."""
    svc = unique_service()
    many = [
        RecordSet(f"h{i}.{svc}.{bind_server.zone}.", "A", 60, (f"10.1.{i // 250}.{i % 250}", "10.2.0.1"))
        for i in range(1500)
    ]
    more = [
        RecordSet(f"t.{svc}.{bind_server.zone}.", "TXT", 30, ("x" * 600, "short")),
        RecordSet(f"v6.{svc}.{bind_server.zone}.", "AAAA", 40, ("fd00::2", "fd00::1")),
        RecordSet(f"c.{svc}.{bind_server.zone}.", "CNAME", 50, (f"h1.{svc}.{bind_server.zone}.",)),
    ]
    await provider.apply(Changes(create=(*many, *more)))
    await send_foreign(bind_server, f"h2.{svc}.{bind_server.zone}.", "MX", "10 mail.example.net.")
    await send_foreign(bind_server, f"h2.{svc}.{bind_server.zone}.", "SRV", "0 0 80 web.example.net.")

    transfer = dns.zone.Zone(f"{bind_server.zone}.", relativize=False)
    key = dns.tsig.Key(bind_server.key_name, bind_server.key_secret, bind_server.key_algorithm)
    query, _ = dns.xfr.make_query(transfer, keyring=key)
    await dns.asyncquery.inbound_xfr(bind_server.address, transfer, query, port=bind_server.port)
    expected: list[RecordSet] = []
    for name, rdataset in transfer.iterate_rdatasets():
        rtype = dns.rdatatype.to_text(rdataset.rdtype)
        if rtype in {"A", "AAAA", "CNAME"}:
            values = tuple(rdata.to_text() for rdata in rdataset)
        elif rtype == "TXT":
            values = tuple(b"".join(rdata.strings).decode() for rdata in rdataset)
        else:
            continue
        expected.append(RecordSet(name.to_text(), rtype, rdataset.ttl, values))  # type: ignore[arg-type]
    held = await provider.records()
    assert [r for r in held if r.type != "OTHER"] == sorted(expected)
    assert set(many) | set(more) <= set(held)
    assert RecordSet(f"h2.{svc}.{bind_server.zone}.", "OTHER", 0, ("MX", "SRV")) in held
    await provider.apply(Changes(delete=(*many, *more)))


def test_factory_builds_it_from_settings(bind_server: BindServer) -> None:
    built = make_provider(
        "rfc2136",
        zone=bind_server.zone,
        options={
            "server": bind_server.address,
            "port": str(bind_server.port),
            "key_name": bind_server.key_name,
            "key_secret": bind_server.key_secret,
        },
    )
    assert isinstance(built, Rfc2136Provider)
    assert built.zone == "example.com."
    assert bind_server.key_secret not in repr(built)


async def test_serial_moves_with_every_update_but_the_providers_own(
    bind_server: BindServer, provider: Rfc2136Provider
) -> None:
    """The SOA serial, less the UPDATEs this provider had applied: the operator's own changes do not make
    the next drift check transfer the whole zone; anyone else's UPDATE moves it."""
    before = await provider.serial()
    assert before == await serial(bind_server)
    record = RecordSet(f"{unique_service()}.{bind_server.zone}.", "A", 60, ("192.0.2.1",))
    await provider.apply(Changes(create=(record,)))
    assert await serial(bind_server) == before + 1  # BIND moved it...
    assert await provider.serial() == before  # ...for our own UPDATE
    # A hand edit (another client's UPDATE) moves it: that is what the drift check relies on.
    moved = await provider.serial()
    update = dns.update.UpdateMessage(
        f"{bind_server.zone}.",
        keyring=dns.tsig.Key(bind_server.key_name, bind_server.key_secret, bind_server.key_algorithm),
    )
    update.delete(record.name, "A")
    response = await dns.asyncquery.tcp(update, bind_server.address, port=bind_server.port, timeout=5)
    assert response.rcode() == dns.rcode.NOERROR
    assert await provider.serial() != moved


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"key_secret": "d3Jvbmcgc2VjcmV0IG9mIDMyIGJ5dGVzIGxlbmd0aCEh"}, "BADSIG", id="wrong-secret"
        ),
        pytest.param({"key_name": "no-such-key"}, "BADKEY", id="unknown-key-name"),
    ],
)
async def test_serial_query_proves_the_key(
    bind_server: BindServer, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(PermanentError, match=message):
        await connect(bind_server, **overrides).serial()


async def test_serial_of_an_unreachable_server_is_transient(bind_server: BindServer) -> None:
    with pytest.raises(TransientError, match="SOA query"):
        await connect(bind_server, port=free_port(), timeout=1.0).serial()


async def test_serial_of_a_zone_the_server_does_not_serve_is_permanent(bind_server: BindServer) -> None:
    with pytest.raises(PermanentError, match=r"REFUSED|NOTAUTH|no SOA"):
        await connect(bind_server, zone="example.org").serial()


async def test_a_round_with_one_owner_bind_refuses_publishes_the_healthy_one(bind_server: BindServer) -> None:
    """BIND refuses a record set past its max-records-per-type (100) with SERVFAIL: the publisher splits the
    round, the healthy owner is published in it, and only the owner with 101 addresses at one name fails,
    with BIND's answer; its other names are published."""
    provider = connect(bind_server, max_values_per_set=None)  # as if the operator did not know BIND's limit
    bad, good = unique_service(), unique_service()
    bad_records = (
        RecordSet(global_name(bad), "A", 180, tuple(f"127.66.0.{i}" for i in range(1, 102))),
        RecordSet(tier_name(bad, "us-central1"), "CNAME", 180, (global_name(bad),)),
    )
    publisher, results = await publish_together(
        provider, {bad: bad_records, good: seed_records(good, [ASIA, EUROPE, US])}
    )
    assert publisher.rounds == 1
    assert results[good].error is None
    assert await ask(bind_server, global_name(good)) == {"A": ("127.10.0.1", "127.20.0.1", "127.30.0.1")}
    error = results[bad].error
    assert error is not None
    assert "SERVFAIL" in error
    assert global_name(bad) in error
    assert await ask(bind_server, tier_name(bad, "us-central1"), "CNAME") == {"CNAME": (global_name(bad),)}
    assert publisher.fault is None


async def test_a_tsig_algorithm_in_binds_own_spelling_signs(bind_server: BindServer) -> None:
    spelled = bind_server.key_algorithm.upper() + "."  # HMAC-SHA256., as a named.conf may write it
    provider = connect(bind_server, key_algorithm=spelled)
    assert any(r.name == "ns1.example.com." for r in await provider.records())
    svc = unique_service()
    assert await publish(provider, seed_records(svc, [ASIA]), svc) == (1, ())


# --- limits planned, foreign types seen (issue #10 item 2) -----------------------------------------------


async def send_foreign(bind: BindServer, name: str, rtype: str, *values: str) -> int:
    """Someone else's records, written straight to BIND; returns the rcode."""
    update = dns.update.UpdateMessage(
        f"{bind.zone}.", keyring=dns.tsig.Key(bind.key_name, bind.key_secret, bind.key_algorithm)
    )
    update.add(name, 60, rtype, *values)
    return int((await dns.asyncquery.tcp(update, bind.address, port=bind.port)).rcode())


async def test_a_foreign_mx_beside_a_planned_cname_is_a_conflict_not_silently_dropped(
    bind_server: BindServer, provider: Rfc2136Provider
) -> None:
    svc = unique_service()
    region = tier_name(svc, "europe-west1")  # Europe has no healthy shard: a CNAME to the global name
    assert await send_foreign(bind_server, region, "MX", "10 mail.example.net.") == dns.rcode.NOERROR

    listed = [r for r in await provider.records() if r.name == region]
    assert listed == [RecordSet(region, "OTHER", 0, ("MX",))]
    calls, conflicts = await publish(provider, seed_records(svc, [ASIA, US]), svc)
    assert calls == 1
    assert [(c.name, c.type) for c in conflicts] == [(region, "CNAME")]
    assert "MX" in conflicts[0].reason
    # The rest of the object's records are published; the MX is untouched and no CNAME was sent.
    assert await ask(bind_server, global_name(svc)) == {"A": ("127.10.0.1", "127.30.0.1")}
    assert await ask(bind_server, region, "MX") == {"MX": ("10 mail.example.net.",)}
    assert "CNAME" not in await ask(bind_server, region)


async def test_bind_refuses_a_record_set_over_its_limit_so_the_plan_stays_within_it(
    bind_server: BindServer, provider: Rfc2136Provider
) -> None:
    svc, neighbour = unique_service(), unique_service()
    assert provider.limits.max_values_per_set == 100
    # The limit is BIND's, not ours: 101 addresses in one UPDATE are refused (SERVFAIL, "too many records").
    crowded = [f"10.9.{i // 200}.{i % 200 + 1}" for i in range(101)]
    assert await send_foreign(bind_server, f"crowded-{svc}.{bind_server.zone}.", "A", *crowded) == (
        dns.rcode.SERVFAIL
    )

    shards = crowded_shards(140, 77)
    names = service_names(svc, bind_server.zone)
    tiers = plan_tiers(
        names=names,
        ttl=180,
        aliases=(),
        topology=TOPOLOGY,
        healthy=shards,
        max_values=provider.limits.max_values_per_set,
    )
    assert "publishes 100 of 140" in tiers.notes[0]
    # One round for two owners, as the publisher plans it: the big one and an unrelated small one.
    changes, conflicts = plan_zone_changes(
        await provider.records(),
        {f"{NAMESPACE}/{svc}": tiers.records, f"{NAMESPACE}/{neighbour}": seed_records(neighbour, [ASIA])},
        federation=FEDERATION,
        zone=provider.zone,
    )
    assert all(found == () for found in conflicts.values())
    assert await provider.apply(changes) >= 1
    held = {r.key: r for r in await provider.records()}
    expected = RecordSet(global_name(svc), "A", 180, tuple(ip for s in shards for ip in s.ipv4)).values[:100]
    assert held[(global_name(svc), "A")].values == expected  # the 100 lowest addresses, in BIND
    assert await ask(bind_server, global_name(neighbour)) == {"A": ("127.10.0.1",)}
    # The same health plans the same subset: nothing more to send.
    again, _ = plan_zone_changes(
        await provider.records(),
        {f"{NAMESPACE}/{svc}": tiers.records, f"{NAMESPACE}/{neighbour}": seed_records(neighbour, [ASIA])},
        federation=FEDERATION,
        zone=provider.zone,
    )
    assert again.is_empty


async def test_an_ipv6_only_tier_publishes_aaaa_alone(
    bind_server: BindServer, provider: Rfc2136Provider
) -> None:
    svc = unique_service()
    v6 = ShardAddresses(
        cluster="v6", region="asia-east1", zones=frozenset({"asia-east1-a"}), ipv6=("fd00::10",)
    )
    assert (await publish(provider, seed_records(svc, [v6]), svc))[1] == ()
    assert await ask(bind_server, global_name(svc), "AAAA") == {"AAAA": ("fd00::10",)}
    assert await ask(bind_server, tier_name(svc, "asia-east1-a"), "AAAA") == {"AAAA": ("fd00::10",)}
    assert await ask(bind_server, global_name(svc), "A") == {}
    # A client in Europe follows the CNAMEs to the global name's AAAA.
    assert (await ask(bind_server, tier_name(svc, "europe-west1-a"), "AAAA"))["AAAA"] == ("fd00::10",)


def test_the_servers_limit_is_an_option(bind_server: BindServer) -> None:
    base = {"server": bind_server.address, "port": str(bind_server.port)}
    assert make_provider("rfc2136", zone=bind_server.zone, options=base).limits.max_values_per_set == 100
    raised = make_provider("rfc2136", zone=bind_server.zone, options={**base, "max_records_per_type": "500"})
    assert raised.limits.max_values_per_set == 500
    unlimited = make_provider("rfc2136", zone=bind_server.zone, options={**base, "max_records_per_type": "0"})
    assert unlimited.limits.max_values_per_set is None


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "tsig"])
def test_our_update_wire_says_what_dnspythons_message_says(signed: bool) -> None:
    """The provider writes its UPDATE messages as octets; read back by dnspython (its signature checked),
    every section must hold what dnspython's own API builds from the same steps."""
    zone = "example.com."
    key = dns.tsig.Key("fedop-key.", "c2VjcmV0c2VjcmV0c2VjcmV0", "hmac-sha256") if signed else None
    ours = RecordSet("_fedop-a.nginx.ns.fed.svc.example.com.", "TXT", 30, ("heritage=federation-operator",))
    changes = Changes(
        create=(
            RecordSet("nginx.ns.fed.svc.example.com.", "CNAME", 30, ("nginx.ns.fed.svc.us.example.com.",)),
            RecordSet("xn--n-0ga.example.com.", "A", 5, ("127.0.0.9",)),  # an IDNA label
            RecordSet("long.example.com.", "TXT", 5, ("x" * 300,)),  # two character-strings
            RecordSet("a\\.b.nginx.ns.fed.svc.example.com.", "A", 5, ("127.0.0.3",)),  # an escaped dot
            RecordSet("caf\\195\\169.svc.example.com.", "CNAME", 5, ("a\\.b.nginx.ns.fed.svc.example.com.",)),
            ours,
        ),
        update_old=(RecordSet("nginx.ns.fed.svc.us.example.com.", "AAAA", 30, ("::1",)),),
        update_new=(RecordSet("nginx.ns.fed.svc.us.example.com.", "AAAA", 60, ("::1", "::2")),),
        delete=(RecordSet("nginx.ns.fed.svc.example.com.", "A", 30, ("127.0.0.1", "127.0.0.2")),),
    )
    provider = Rfc2136Provider(server="127.0.0.1", port=53, zone=zone)
    messages = provider._pack(changes)
    assert len(messages) == 1
    wire, mac = messages[0].to_wire(key)
    assert len(wire) <= 65535
    assert (mac is not None) == signed
    read = dns.message.from_wire(wire, keyring=key)
    assert read.had_tsig == signed

    expected = dns.update.UpdateMessage(zone)
    for operation, name, rtype, record in _steps_of(changes):
        texts = (
            [" ".join(f'"{v[i : i + 255]}"' for i in range(0, len(v), 255)) for v in record.values]
            if record
            else []
        )
        if rtype != "TXT":
            texts = list(record.values) if record else []
        values = [dns.rdata.from_text("IN", rtype, text) for text in texts]
        if operation == "absent":
            expected.absent(name, rtype)
        elif operation == "delete-rrset":
            expected.delete(name, rtype)
        elif operation == "present":
            expected.present(name, *values)
        elif operation == "delete":
            expected.delete(name, *values)
        else:
            assert record is not None
            expected.add(name, record.ttl, *values)
    built = dns.message.from_wire(expected.to_wire())
    assert read.opcode() == built.opcode() == dns.opcode.UPDATE
    assert read.sections == built.sections
    # In the same order, record by record (an UPDATE's records are applied in order).
    assert [(r.name, r.rdtype, r.rdclass, r.ttl, list(r)) for s in read.sections for r in s] == [
        (r.name, r.rdtype, r.rdclass, r.ttl, list(r)) for s in built.sections for r in s
    ]


def test_an_update_that_would_pass_its_limit_is_left_as_it_was() -> None:
    """A name's changes that do not fit are taken back out whole, compression entries included: the
    message then reads as if they had never been offered."""
    zone = "example.com."
    first = Changes(create=(RecordSet("a.svc.example.com.", "A", 5, ("127.0.0.1",)),))
    big = Changes(create=(RecordSet("b.other.example.com.", "TXT", 5, ("y" * 900,)),))
    last = Changes(create=(RecordSet("c.other.example.com.", "A", 5, ("127.0.0.3",)),))
    message = UpdateWire(zone, 400)
    assert message.add(_steps_of_group(first))
    size = message.size
    assert not message.add(_steps_of_group(big))
    assert message.size == size
    assert message.add(_steps_of_group(last))
    alone = UpdateWire(zone, 400)
    alone.add(_steps_of_group(first))
    alone.add(_steps_of_group(last))
    assert message.to_wire(None)[0][2:] == alone.to_wire(None)[0][2:]  # all but the random id
    assert message.names == 2


def _steps_of(changes: Changes) -> list[tuple[str, str, str, RecordSet | None]]:
    return [step for _, group in group_changes_by_name(changes) for step in _steps_of_group(group)]
