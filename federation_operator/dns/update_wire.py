"""RFC 2136 UPDATE messages written straight to wire format, then TSIG-signed: the rfc2136 adapter's encoder.

dnspython builds a message from objects (a name, an rdata, an rrset per record, each hashed and looked up as
it is added, then rendered and compressed name by name): for the ~26 record sets a FederatedService
publishes, that cost more CPU than everything else the publisher does. Here the steps of each name's
changes (see ``_steps`` in :mod:`federation_operator.dns.rfc2136`) are written as octets as they come, into
a message whose exact size is known at every step, so packing needs no estimate: a name's changes that would
take the message past its limit are taken back out (the octets and the compression entries they added) and
open the next message.

Layout. A message's prerequisites all come before its updates (RFC 2136 §2), so the two sections are
written into buffers of their own and joined at the end. Compression (RFC 1035 §4.1.4) points only at names
in the zone and prerequisite sections, whose offsets never move as names are appended; an update's owner
name, nearly always the owner of a prerequisite in the same message, points there. Suffixes are compared as
lowercase text, which is how the normalized names of :class:`RecordSet` arrive.

Signing is dnspython's own (``dns.tsig.sign``, every algorithm it knows), over the finished message; the MAC
is returned so that the server's signed answer can be checked against it.
"""

from __future__ import annotations

import secrets
import socket
import struct
import time
from collections.abc import Iterable

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.tsig

from federation_operator.dns.txt import split_txt
from federation_operator.domain.records import RECORD_TYPES, RecordSet, RecordType

__all__ = ["Step", "UpdateWire"]

Step = tuple[str, str, RecordType, RecordSet | None]
"""(operation, name, type, records or None): ``present``/``absent`` are prerequisites, ``delete``,
``delete-rrset`` and ``add`` updates."""

_OPCODE_UPDATE = 5 << 11
_CLASS_IN = int(dns.rdataclass.IN)
_CLASS_NONE = int(dns.rdataclass.NONE)
_CLASS_ANY = int(dns.rdataclass.ANY)
_TYPE_SOA = int(dns.rdatatype.SOA)
_TYPE_TSIG = int(dns.rdatatype.TSIG)
_TYPES: dict[str, int] = {t: int(dns.rdatatype.from_text(t)) for t in RECORD_TYPES}
_POINTER_REACH = 0x3FFF  # a compression pointer holds a 14-bit offset
_FUDGE = 300  # seconds of clock difference the server allows (dnspython's default)
_HEADER = 12


class UpdateWire:
    """One UPDATE message for ``zone`` being filled, name by name, up to ``limit`` octets (unsigned)."""

    def __init__(self, zone: str, limit: int) -> None:
        self._limit = limit
        self._names: dict[str, list[tuple[str, bytes]]] = {}  # name → (suffix, its first label) each
        self._pointers: dict[str, int] = {}  # a suffix (lowercase text) → where it was written
        self._added: list[str] = []  # pointers added by the name being written (taken back on overflow)
        zone_section = bytearray()
        self._write_name(zone_section, zone, _HEADER, register=True)
        self._added = []  # the zone's own names are never taken back
        zone_section += struct.pack("!HH", _TYPE_SOA, _CLASS_IN)
        self._zone_section = bytes(zone_section)
        self._prerequisites = bytearray()
        self._updates = bytearray()
        self._counts = [0, 0]  # prerequisite and update records
        self.names = 0
        """How many names' changes the message holds."""

    @property
    def size(self) -> int:
        """The message's size in octets, unsigned."""
        return _HEADER + len(self._zone_section) + len(self._prerequisites) + len(self._updates)

    def add(self, steps: Iterable[Step]) -> bool:
        """Write the steps of one name's changes, unless the message would then exceed its limit (then the
        message is left as it was)."""
        marks = (len(self._prerequisites), len(self._updates), *self._counts)
        self._added = []
        for operation, name, rtype, record in steps:
            if operation in {"present", "absent"}:
                self._prerequisite(operation, name, rtype, record)
            else:
                self._update(operation, name, rtype, record)
        if self.size <= self._limit:
            self.names += 1
            return True
        del self._prerequisites[marks[0] :], self._updates[marks[1] :]
        self._counts = [marks[2], marks[3]]
        for key in self._added:
            del self._pointers[key]
        return False

    def to_wire(self, key: dns.tsig.Key | None, *, now: float | None = None) -> tuple[bytes, bytes | None]:
        """The finished message, signed with ``key`` when there is one, and the signature's MAC (to check the
        server's signed answer with)."""
        message_id = secrets.randbits(16)
        header = struct.pack("!HHHHHH", message_id, _OPCODE_UPDATE, 1, *self._counts, 0)
        wire = b"".join((header, self._zone_section, self._prerequisites, self._updates))
        if key is None:
            return wire, None
        # (dnspython's TSIG rdata and signing are untyped.)
        template = dns.rdtypes.ANY.TSIG.TSIG(  # type: ignore[no-untyped-call]
            dns.rdataclass.ANY, dns.rdatatype.TSIG, key.algorithm, 0, _FUDGE, b"", message_id, 0, b""
        )
        signed_at = int(time.time() if now is None else now)
        tsig, _ = dns.tsig.sign(wire, key, template, signed_at, b"")  # type: ignore[no-untyped-call]
        data = tsig.to_wire()
        assert data is not None
        owner = key.name.to_wire()
        assert owner is not None
        record = owner + struct.pack("!HHIH", _TYPE_TSIG, _CLASS_ANY, 0, len(data)) + data
        signed = wire[:10] + struct.pack("!H", 1) + wire[12:] + record
        return signed, bytes(tsig.mac)

    # --- sections --------------------------------------------------------------------------------------

    def _prerequisite(self, operation: str, name: str, rtype: RecordType, record: RecordSet | None) -> None:
        out = self._prerequisites
        base = _HEADER + len(self._zone_section)
        if operation == "absent" or record is None:  # RRset does not exist: class NONE, no data
            self._write_name(out, name, base, register=True)
            out += struct.pack("!HHIH", _type(rtype), _CLASS_NONE, 0, 0)
            self._counts[0] += 1
            return
        for value in record.values:  # RRset exists with exactly these records: class IN, TTL 0
            self._write_name(out, name, base, register=True)
            self._write_record(out, rtype, _CLASS_IN, 0, value, base, register=True)
            self._counts[0] += 1

    def _update(self, operation: str, name: str, rtype: RecordType, record: RecordSet | None) -> None:
        out = self._updates
        if operation == "delete-rrset" or record is None:  # delete an RRset: class ANY, no data
            self._write_name(out, name, None, register=False)
            out += struct.pack("!HHIH", _type(rtype), _CLASS_ANY, 0, 0)
            self._counts[1] += 1
            return
        # delete RRs from an RRset: class NONE, TTL 0; add RRs: class IN with the TTL
        rdclass, ttl = (_CLASS_NONE, 0) if operation == "delete" else (_CLASS_IN, record.ttl)
        for value in record.values:
            self._write_name(out, name, None, register=False)
            self._write_record(out, rtype, rdclass, ttl, value, None, register=False)
            self._counts[1] += 1

    def _write_record(  # noqa: PLR0917 (one record's fields, in wire order)
        self,
        out: bytearray,
        rtype: RecordType,
        rdclass: int,
        ttl: int,
        value: str,
        base: int | None,
        *,
        register: bool,
    ) -> None:
        """Type, class, TTL, and the data of one record (``base``: where ``out`` starts in the message, or
        None when that is not known yet)."""
        out += struct.pack("!HHI", _type(rtype), rdclass, ttl)
        length_at = len(out)
        out += b"\0\0"
        if rtype == "A":
            out += socket.inet_pton(socket.AF_INET, value)
        elif rtype == "AAAA":
            out += socket.inet_pton(socket.AF_INET6, value)
        elif rtype == "CNAME":  # a well-known type: its target is compressed (RFC 3597 §4)
            self._write_name(out, value, base, register=register)
        elif rtype == "TXT":
            for string in split_txt(value):
                out.append(len(string))
                out += string
        else:
            rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.RdataType.make(_type(rtype)), value)
            out += rdata.to_wire() or b""
        struct.pack_into("!H", out, length_at, len(out) - length_at - 2)

    # --- names ------------------------------------------------------------------------------------------

    def _write_name(self, out: bytearray, name: str, base: int | None, *, register: bool) -> None:
        """``name`` written at the end of ``out`` (which starts at message offset ``base``, when known): its
        labels up to the longest suffix already written, then a pointer to that; with ``register``, the
        suffixes it writes are remembered while a pointer can reach them."""
        for key, label in self._labels(name):
            pointer = self._pointers.get(key)
            if pointer is not None:
                out += struct.pack("!H", 0xC000 | pointer)
                return
            if register and base is not None and base + len(out) <= _POINTER_REACH:
                self._pointers[key] = base + len(out)
                self._added.append(key)
            out += label
        out.append(0)

    def _labels(self, name: str) -> list[tuple[str, bytes]]:
        """``name``'s suffixes, longest first, each as (its lowercase text, its first label in wire form)."""
        found = self._names.get(name)
        if found is None:
            found = self._names[name] = _suffixes(name)
        return found


def _suffixes(name: str) -> list[tuple[str, bytes]]:
    text = name.lower()
    if "\\" in text or not text.isascii():  # escapes or other octets: dnspython parses it
        labels = dns.name.from_text(text).labels[:-1]
        return [
            (
                dns.name.Name((*labels[i:], b"")).to_text().lower(),
                bytes((len(labels[i]),)) + labels[i].lower(),
            )
            for i in range(len(labels))
        ]
    if not text.endswith("."):
        text += "."
    found: list[tuple[str, bytes]] = []
    start, end = 0, len(text) - 1
    while start < end:
        dot = text.index(".", start)
        found.append((text[start:], bytes((dot - start,)) + text[start:dot].encode()))
        start = dot + 1
    return found


def _type(rtype: RecordType) -> int:
    known = _TYPES.get(rtype)
    return known if known is not None else int(dns.rdatatype.from_text(rtype))
