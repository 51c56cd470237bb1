"""The rfc2136 adapter's reader of zone transfer messages (dns/transfer_wire.py) against dnspython's own
reading of the same octets: every record, compressed and escaped names, signatures checked (a tampered
message refused), malformed messages refused. No server: the messages are dnspython's."""

from __future__ import annotations

import dns.exception
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import pytest

from federation_operator.dns.transfer_wire import read_transfer_message

KEY = dns.tsig.Key("fedop-key.", "c2VjcmV0c2VjcmV0c2VjcmV0", "hmac-sha256")
ZONE = "example.com."
RECORDS = [
    ("example.com.", "SOA", "ns1.example.com. hostmaster.example.com. 42 3600 600 86400 30"),
    ("example.com.", "NS", "ns1.example.com."),
    ("Nginx.NS.fed.svc.Example.com.", "A", "127.0.0.1"),
    ("nginx.ns.fed.svc.example.com.", "A", "127.0.0.2"),
    ("nginx.ns.fed.svc.example.com.", "AAAA", "fd00::1"),
    ("nginx.ns.fed.svc.us.example.com.", "CNAME", "NGINX.ns.fed.svc.example.com."),
    ("_fedop-a.nginx.ns.fed.svc.example.com.", "TXT", '"heritage=federation-operator,owner=ns/nginx"'),
    ("long.example.com.", "TXT", '"' + "x" * 255 + '" "yz"'),
    ("a\\.b.example.com.", "A", "127.0.0.3"),
    ("caf\\195\\169.example.com.", "TXT", '"caf\\195\\169"'),
    ("mail.example.com.", "MX", "10 mx.example.net."),
]


def transfer_response(*, signed: bool) -> tuple[bytes, dns.message.Message]:
    query = dns.message.make_query(ZONE, dns.rdatatype.AXFR)
    if signed:
        query.use_tsig(KEY)
    query.to_wire()  # sets its MAC
    response = dns.message.make_response(query)
    for name, rtype, value in RECORDS:
        response.answer.append(dns.rrset.from_text(name, 300, "IN", rtype, value))
    return response.to_wire(), query


def test_every_record_reads_as_dnspython_reads_it() -> None:
    wire, query = transfer_response(signed=False)
    read = read_transfer_message(wire, None, b"", None)
    expected = dns.message.from_wire(wire, one_rr_per_rrset=True)
    assert read.id == query.id
    assert read.rcode == 0
    assert not read.signed
    assert len(read.answer) == len(expected.answer) == len(RECORDS)
    for (name, rtype, rdclass, ttl, value), rrset in zip(read.answer, expected.answer, strict=True):
        assert name == rrset.name.to_text().lower()
        assert (rtype, rdclass, ttl) == (rrset.rdtype, rrset.rdclass, rrset.ttl)
        [rdata] = list(rrset)
        if rrset.rdtype == dns.rdatatype.TXT:
            assert value == b"".join(rdata.strings).decode(errors="backslashreplace")
        elif rrset.rdtype == dns.rdatatype.SOA:
            assert value == rdata.serial == 42
        elif rrset.rdtype == dns.rdatatype.CNAME:
            assert value == rdata.to_text().lower()
        elif rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            assert value == rdata.to_text()
        else:
            assert value is None
    # Escaped labels come out in presentation format, as dnspython writes them.
    assert read.answer[8][0] == "a\\.b.example.com."
    assert read.answer[9][0] == "caf\\195\\169.example.com."


def test_a_signed_message_is_checked_and_a_tampered_one_refused() -> None:
    wire, query = transfer_response(signed=True)
    read = read_transfer_message(wire, KEY, query.mac, None)
    assert read.signed
    assert read.context is not None  # what the next message of the transfer is checked with
    tampered = bytearray(wire)
    tampered[wire.index(b"\x7f\x00\x00\x02") + 3] = 9  # 127.0.0.2 → 127.0.0.9, the signature unchanged
    with pytest.raises(dns.tsig.BadSignature):
        read_transfer_message(bytes(tampered), KEY, query.mac, None)
    other = dns.tsig.Key("fedop-key.", "b3RoZXJvdGhlcm90aGVy", "hmac-sha256")
    with pytest.raises(dns.tsig.BadSignature):
        read_transfer_message(wire, other, query.mac, None)
    with pytest.raises(dns.exception.FormError, match="no key"):
        read_transfer_message(wire, None, b"", None)


@pytest.mark.parametrize(
    ("cut", "why"),
    [
        (lambda wire: wire[:8], "shorter than its header"),
        (lambda wire: wire[:-3], "malformed|past the end"),
        (lambda wire: wire + b"\0", "after the end"),
        # The first answer's name (a pointer to the question's, at offset 29) made a pointer to itself.
        (lambda wire: wire[:29] + b"\xc0\x1d" + wire[31:], "pointer"),
    ],
)
def test_malformed_messages_are_refused(cut: object, why: str) -> None:
    wire, _ = transfer_response(signed=False)
    assert callable(cut)
    with pytest.raises(dns.exception.FormError, match=why):
        read_transfer_message(cut(wire), None, b"", None)
