"""The messages of a zone transfer read straight from wire format: the rfc2136 adapter's decoder.

A transfer of a zone of 1,000 FederatedServices is ~26,000 record sets in a few dozen messages. dnspython
reads each record into objects (a name, an rdata, an rrset) and cost the drift check seconds of CPU; the
adapter needs only each record's name, type, TTL and value as text, so :func:`read_transfer_message` reads
those from the octets (RFC 1035 §4.1: names decompressed through a table of the names already read in the
message, A/AAAA/CNAME/TXT data decoded, other data skipped: the adapter only notes their types, and the
SOA's serial).

The signature is checked by dnspython (``dns.tsig.validate`` on the message's TSIG record, which must be the
message's last; the context carried from message to message as RFC 8945 §5.3.1 says, and as dnspython's own
transfers carry it: an unsigned message between signed ones goes into the next one's digest). Anything
malformed raises :class:`dns.exception.FormError`.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig

__all__ = [
    "TYPE_A",
    "TYPE_AAAA",
    "TYPE_CNAME",
    "TYPE_SOA",
    "TYPE_TXT",
    "TransferMessage",
    "read_transfer_message",
]

TYPE_A, TYPE_CNAME, TYPE_SOA, TYPE_TXT, TYPE_AAAA = 1, 5, 6, 16, 28
_TYPE_OPT, _TYPE_TSIG = 41, 250
_QR = 0x8000
# Octets a name's text form escapes (dnspython's and BIND's presentation format).
_ESCAPED = re.compile(rb'[\x00-\x20\x7f-\xff"().;\\@$]')

Record = tuple[str, int, int, int, str | int | None]
"""(name, type, class, TTL, value): the value as text for A, AAAA, CNAME and TXT, the serial for an SOA,
None for other types. Names are lowercase text, absolute (with the final dot)."""


@dataclass
class TransferMessage:
    """One message of a zone transfer: its id, rcode, answer records, whether it was signed, and the TSIG
    context the next message is checked with."""

    id: int
    rcode: int
    answer: list[Record]
    signed: bool
    context: Any


def _fail(why: str) -> dns.exception.FormError:
    return dns.exception.FormError(why)  # type: ignore[no-untyped-call]


def read_transfer_message(
    wire: bytes, key: dns.tsig.Key | None, request_mac: bytes, context: Any
) -> TransferMessage:
    """Read one message of a transfer asked for with a query signed by ``key`` (MAC ``request_mac``), the
    context being what the previous message's reading returned (None for the first)."""
    try:
        return _Reader(wire).read(key, request_mac, context)
    except (IndexError, struct.error, UnicodeError, ValueError, OSError) as exc:
        raise _fail(f"a malformed zone transfer message: {exc}") from exc


class _Reader:
    def __init__(self, wire: bytes) -> None:
        self._wire = wire
        self._names: dict[int, str] = {}  # offset → the name (suffix) that starts there

    def read(self, key: dns.tsig.Key | None, request_mac: bytes, context: Any) -> TransferMessage:
        wire = self._wire
        if len(wire) < 12:
            raise _fail("a zone transfer message shorter than its header")
        message_id, flags, questions, answers, authorities, additionals = struct.unpack_from("!6H", wire)
        if not flags & _QR:
            raise _fail("a zone transfer message that is not a response")
        at = 12
        for _ in range(questions):
            _, at = self._name(at)
            at += 4
        answer: list[Record] = []
        for _ in range(answers):
            record, at = self._record(at)
            answer.append(record)
        for _ in range(authorities):
            _, at = self._skip_record(at)
        signed = False
        for index in range(additionals):
            start = at
            rtype, at = self._skip_record(at)
            if rtype == _TYPE_TSIG:
                if index != additionals - 1:
                    raise _fail("a TSIG record that is not the message's last")
                context = self._check_signature(start, key, request_mac, context)
                signed = True
            elif rtype != _TYPE_OPT:
                pass  # additional data of an AXFR answer: nothing the zone holds
        if at != len(wire):
            raise _fail("octets after the end of a zone transfer message")
        if not signed and context is not None:
            context.update(wire)  # an unsigned message between signed ones: part of the next one's digest
        return TransferMessage(message_id, flags & 0xF, answer, signed, context)

    def _check_signature(self, start: int, key: dns.tsig.Key | None, request_mac: bytes, context: Any) -> Any:
        if key is None:
            raise _fail("a signed zone transfer message, and no key to check it with")
        owner, at = self._name(start)
        _rtype, rdclass, _ttl, length = struct.unpack_from("!HHIH", self._wire, at)
        rdata = dns.rdata.from_wire(
            dns.rdataclass.RdataClass.make(rdclass), dns.rdatatype.TSIG, self._wire, at + 10, length
        )
        # (dnspython's TSIG functions are untyped.)
        return dns.tsig.validate(  # type: ignore[no-untyped-call]
            self._wire,
            key,
            dns.name.from_text(owner),
            rdata,
            int(time.time()),
            request_mac,
            start,
            context,
            True,
        )

    def _record(self, at: int) -> tuple[Record, int]:
        wire = self._wire
        name, at = self._name(at)
        rtype, rdclass, ttl, length = struct.unpack_from("!HHIH", wire, at)
        at += 10
        end = at + length
        if end > len(wire):
            raise _fail("a record's data runs past the end of the message")
        value: str | int | None = None
        if rtype == TYPE_A:
            value = socket.inet_ntop(socket.AF_INET, wire[at:end])
        elif rtype == TYPE_AAAA:
            value = socket.inet_ntop(socket.AF_INET6, wire[at:end])
        elif rtype == TYPE_CNAME:
            value, after = self._name(at)
            if after != end:
                raise _fail("a CNAME's data is not one name")
        elif rtype == TYPE_TXT:
            value = self._txt(at, end)
        elif rtype == TYPE_SOA:
            _, after = self._name(at)
            _, after = self._name(after)
            if after + 20 != end:
                raise _fail("an SOA's data is malformed")
            (value,) = struct.unpack_from("!I", wire, after)
        return (name, rtype, rdclass, ttl, value), end

    def _skip_record(self, at: int) -> tuple[int, int]:
        _, at = self._name(at)
        rtype, _rdclass, _ttl, length = struct.unpack_from("!HHIH", self._wire, at)
        end = at + 10 + length
        if end > len(self._wire):
            raise _fail("a record's data runs past the end of the message")
        return rtype, end

    def _txt(self, at: int, end: int) -> str:
        wire = self._wire
        strings: list[bytes] = []
        while at < end:
            length = wire[at]
            strings.append(wire[at + 1 : at + 1 + length])
            at += 1 + length
        if at != end:
            raise _fail("a TXT's character-strings run past its data")
        return b"".join(strings).decode(errors="backslashreplace")

    def _name(self, at: int) -> tuple[str, int]:
        """The name at ``at`` (lowercase text, absolute) and where what follows it starts."""
        wire = self._wire
        names = self._names
        labels: list[tuple[int, str]] = []  # (offset, label text) of the labels read before a pointer or root
        after: int | None = None
        here = at
        tail = "."
        while True:
            known = names.get(here)
            if known is not None:
                tail = known
                if after is None:
                    after = _past_name(wire, here)
                break
            length = wire[here]
            if length == 0:
                if after is None:
                    after = here + 1
                break
            if length >= 0xC0:
                pointer = ((length & 0x3F) << 8) | wire[here + 1]
                if pointer >= here:  # only backwards, so a loop cannot be made
                    raise _fail("a compression pointer that does not point backwards")
                if after is None:
                    after = here + 2
                here = pointer
                continue
            labels.append((here, _label_text(wire, here, length)))
            here += 1 + length
        return self._remember(labels, tail), after

    def _remember(self, labels: list[tuple[int, str]], tail: str) -> str:
        """The name made of ``labels`` (offset, text) before ``tail``; each of its suffixes remembered where
        it was read."""
        for offset, text in reversed(labels):
            tail = f"{text}.{tail}" if tail != "." else f"{text}."
            self._names[offset] = tail
        if len(tail) > 254 and len(dns.name.from_text(tail).to_wire() or b"") > 255:
            raise _fail("a name longer than 255 octets")
        return tail


def _past_name(wire: bytes, at: int) -> int:
    """Where the name written at ``at`` ends (after its root octet or its pointer)."""
    while True:
        length = wire[at]
        if length == 0:
            return at + 1
        if length >= 0xC0:
            return at + 2
        at += 1 + length


def _label_text(wire: bytes, at: int, length: int) -> str:
    """The label of ``length`` octets after its length octet at ``at``: lowercase, in presentation format."""
    if length > 63:
        raise _fail("a label longer than 63 octets")
    label = wire[at + 1 : at + 1 + length]
    if len(label) != length:
        raise _fail("a label runs past the end of the message")
    if _ESCAPED.search(label) is None:
        return label.decode().lower()
    return "".join(map(_octet_text, label.lower()))


def _octet_text(octet: int) -> str:
    if chr(octet) in '"().;\\@$':
        return f"\\{chr(octet)}"
    return chr(octet) if 0x20 < octet < 0x7F else f"\\{octet:03d}"
