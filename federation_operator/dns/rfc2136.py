"""The RFC 2136 provider: any server taking dynamic UPDATEs (BIND, Knot, PowerDNS, Windows DNS); dnspython.

- **Reading** is one zone transfer (AXFR, TSIG-signed), filtered to A, AAAA, CNAME and TXT record sets, plus
  one ``OTHER`` marker at each name below the apex holding other types (MX, SRV...): the planner must see
  them, because BIND silently ignores a CNAME added beside them. ``serial`` asks for the zone's SOA
  (one TSIG-signed query over UDP, a few hundred octets): every UPDATE moves the serial, ours and anyone
  else's, so drift checks transfer the zone only when it moved. The serial returned discounts the UPDATEs
  this provider had applied (BIND's default ``serial-update-method increment`` adds one per UPDATE), so the
  operator's own changes cost no transfer of the whole zone at the next check (a zone of 1,000 owners is
  ~26,000 record sets, seconds to transfer and parse); with another update method the serial moves with our
  own UPDATEs too, and the check transfers the zone as before. A signed query also proves the key each
  time: a refused key shows up at the cheap check, not only at the next write. When the serial moved, the
  check asks only for what changed since the last read (``changes_since``: an IXFR of the server's journal,
  RFC 1995), which the publisher replays onto its index; the server answers with the whole zone when its
  journal does not reach back that far or the whole zone is smaller (BIND's ``max-ixfr-ratio``), and a
  journal that touches types the operator does not manage makes it transfer the zone whole. Transfers are
  read straight from their octets (:mod:`~federation_operator.dns.transfer_wire`).
- **Writing** sends TSIG-signed UPDATE messages over TCP, written straight as octets
  (:mod:`~federation_operator.dns.update_wire`). Each change carries a prerequisite, so the server
  itself refuses a message planned against a zone that has changed since (``NXRRSET``/``YXRRSET`` →
  :class:`~federation_operator.domain.errors.StaleChangesError`) instead of silently doing something else:

  ========================  ====================================  ==========================================
  change                    prerequisite                          update
  ========================  ====================================  ==========================================
  delete ``old``            ``old``'s exact records exist          delete those records
  update ``old`` → ``new``  ``old``'s exact records exist          delete the record set, add ``new``
  create ``new``            no record set of ``new``'s type, and   add ``new``
                            no CNAME (for a CNAME: no A, AAAA or
                            TXT) unless deleted in the message
  ========================  ====================================  ==========================================

  The CNAME prerequisites matter: a server silently ignores a CNAME added beside other data (RFC 2136
  §3.4.2.2), and an A added beside a CNAME.

- **Batching.** All changes of one name travel in one message — its record sets, their ownership records, and
  so an A → CNAME switch (delete the A, add the CNAME), which the server applies atomically: resolvers never
  see the name empty or holding both. Names are packed into as few messages as fit in 64 KiB (the DNS over
  TCP limit). Each message is atomic; a plan split over several is not, so after an error the caller reads the
  zone again before planning anew.

Authentication: TSIG (RFC 8945) with HMAC-MD5, HMAC-SHA1, -SHA224, -SHA256 (the default), -SHA384 and -SHA512
(and their truncated forms), named as BIND names them (``hmac-sha256``, ``HMAC-SHA256.``,
``hmac-md5.sig-alg.reg.int``: :data:`~federation_operator.dns.options.TSIG_ALGORITHMS`), an unknown name
refused when the provider is built; or no key, for servers that allow updates by address. GSS-TSIG
(Kerberos, as Active Directory's "secure only" updates require) and SIG(0) are not supported.

Errors: timeouts, refused or reset connections and ``SERVFAIL`` are transient; ``REFUSED``, ``NOTAUTH``,
``NOTZONE`` and TSIG failures (``BADKEY``, ``BADSIG``, ``BADTIME``) are permanent, with a message naming the
likely cause. An UPDATE's ``SERVFAIL`` is a ``SuspectChangeError`` and its ``REFUSED`` (also ``FORMERR``,
``YXDOMAIN``) a ``RejectedChangeError``: BIND answers SERVFAIL when a record set would pass its
``max-records-per-type`` and REFUSED when an ``update-policy`` does not grant one name, so the publisher
splits such a change to find the owner at fault; a SERVFAIL that every part gets is the server's, and
transient.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import struct
from collections.abc import Collection, Sequence
from typing import Any, Literal

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rrset
import dns.tsig
import dns.xfr

from federation_operator.dns.options import tsig_algorithm
from federation_operator.dns.packing import pack_greedily
from federation_operator.dns.provider import check_in_zone
from federation_operator.dns.transfer_wire import TYPE_SOA, Record, read_transfer_message
from federation_operator.dns.update_wire import UpdateWire
from federation_operator.domain.errors import (
    PermanentError,
    RejectedChangeError,
    StaleChangesError,
    SuspectChangeError,
    TransientError,
)
from federation_operator.domain.ownership import group_changes_by_name
from federation_operator.domain.records import (
    RECORD_TYPES,
    Changes,
    ProviderLimits,
    RecordSet,
    RecordType,
    ZoneDelta,
    cname_clash,
    normalize_name,
    other_types_marker,
)

__all__ = ["BIND_MAX_RECORDS_PER_TYPE", "MAX_MESSAGE_SIZE", "Rfc2136Provider"]

BIND_MAX_RECORDS_PER_TYPE = 100
"""BIND 9's default ``max-records-per-type`` (since 9.18.28 and 9.20): an UPDATE that would put more records
in one record set is refused with SERVFAIL ("too many records")."""

MAX_MESSAGE_SIZE = 65535
"""The largest DNS message over TCP (a two-octet length prefix)."""
# Room left in every message for the TSIG record added when it is signed: owner (key name, up to 255
# octets), algorithm name, times, a MAC of up to 64 octets and a few fixed fields.
_TSIG_RESERVE = 512
_MIN_MESSAGE_SIZE = 1024
_POINTER_REACH = 0x3FFF  # a compression pointer holds a 14-bit offset

_RDTYPES: dict[RecordType, dns.rdatatype.RdataType] = {t: dns.rdatatype.from_text(t) for t in RECORD_TYPES}
_MANAGED: dict[int, RecordType] = {rdtype: t for t, rdtype in _RDTYPES.items()}
_STALE_RCODES = {dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN}


class Rfc2136Provider:
    """One zone on an RFC 2136 server, read by AXFR and written by UPDATE, both signed with a TSIG key.

    Without a key (``key_name`` and ``key_secret`` both ``None``) requests go unsigned, for servers that
    allow updates by address. ``messages_sent`` counts the UPDATE messages sent (or attempted, when the
    connection failed) over the provider's life.
    """

    def __init__(
        self,
        *,
        server: str,
        zone: str,
        port: int = 53,
        key_name: str | None = None,
        key_secret: str | None = None,
        key_algorithm: str = "hmac-sha256",
        timeout: float = 10.0,
        max_message_size: int = MAX_MESSAGE_SIZE,
        max_values_per_set: int | None = BIND_MAX_RECORDS_PER_TYPE,
    ) -> None:
        if (key_name is None) != (key_secret is None):
            raise PermanentError("rfc2136: give both the TSIG key name and its secret, or neither")
        if not 0 < port < 65536:
            raise PermanentError(f"rfc2136: port {port} is not a port number")
        if timeout <= 0:
            raise PermanentError(f"rfc2136: timeout must be positive, got {timeout}")
        if not _MIN_MESSAGE_SIZE <= max_message_size <= MAX_MESSAGE_SIZE:
            raise PermanentError(
                f"rfc2136: max_message_size must be from {_MIN_MESSAGE_SIZE} to {MAX_MESSAGE_SIZE}"
            )
        self._server = server
        self._port = port
        self._zone = normalize_name(zone)
        self._origin = dns.name.from_text(self._zone)
        self._timeout = timeout
        self._max_message_size = max_message_size
        self._key: dns.tsig.Key | None = None
        if key_name is not None and key_secret is not None:
            algorithm = dns.name.from_text(tsig_algorithm(key_algorithm))
            try:
                base64.b64decode(key_secret, validate=True)
                self._key = dns.tsig.Key(key_name, key_secret, algorithm)
            except (binascii.Error, ValueError, dns.exception.DNSException) as exc:
                raise PermanentError(f"rfc2136: TSIG key {key_name!r} is unusable: {exc}") from exc
        self.messages_sent = 0
        # UPDATEs the server applied for this provider: serial() discounts them (BIND adds one per UPDATE).
        self._own_updates = 0
        self._limits = ProviderLimits(max_values_per_set=max_values_per_set)
        self._read_serial: int | None = None
        self.transfers = {"AXFR": 0, "IXFR": 0}
        """How `changes_since` was answered: with the whole zone, or with what changed."""

    @property
    def zone(self) -> str:
        return self._zone

    @property
    def limits(self) -> ProviderLimits:
        """BIND's ``max-records-per-type`` (100 unless the server says otherwise); no zone quota."""
        return self._limits

    def __repr__(self) -> str:
        key = f", key={self._key.name}" if self._key else ""
        return f"Rfc2136Provider(server={self._server}:{self._port}, zone={self._zone}{key})"

    # --- reading -------------------------------------------------------------------------------------------

    async def serial(self) -> int:
        return (await self._soa_serial() - self._own_updates) % 2**32

    async def _soa_serial(self) -> int:
        query = dns.message.make_query(self._origin, dns.rdatatype.SOA)
        if self._key is not None:
            query.use_tsig(self._key)
        try:
            response = await dns.asyncquery.udp(query, self._server, timeout=self._timeout, port=self._port)
            if response.flags & dns.flags.TC:  # an SOA with a long TSIG can in theory not fit: ask over TCP
                response = await dns.asyncquery.tcp(
                    query, self._server, timeout=self._timeout, port=self._port
                )
        except Exception as exc:
            raise self._io_error(exc, "SOA query") from exc
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise self._rcode_error(rcode, "SOA query")
        for rrset in response.answer:
            if rrset.name == self._origin and rrset.rdtype == dns.rdatatype.SOA:
                for rdata in rrset:
                    if isinstance(rdata, dns.rdtypes.ANY.SOA.SOA):
                        return int(rdata.serial)
        # An answer without the zone's SOA: the server does not serve the zone (it may be a resolver).
        raise PermanentError(
            f"SOA query to {self._where()} returned no SOA for the zone: is it authoritative?"
        )

    @property
    def read_serial(self) -> int | None:
        """The serial of the zone as the last read that returned brought it (an AXFR's, or the end of an
        IXFR's): what `changes_since` takes to read only what changed after it. None before any read."""
        return self._read_serial

    async def records(self) -> list[RecordSet]:
        query = dns.message.make_query(self._origin, dns.rdatatype.AXFR)
        return self._whole(await self._read(query, None))

    def _whole(self, transfer: _Transfer) -> list[RecordSet]:
        self._read_serial = transfer.serial
        return sorted(transfer.records())

    async def changes_since(self, serial: int) -> list[RecordSet] | ZoneDelta:
        """What changed in the zone since it was read at ``serial`` (a `read_serial`): an incremental
        transfer (IXFR, RFC 1995) of the server's journal as a :class:`ZoneDelta`, which costs what changed
        rather than the zone. The whole zone (a list, as `records` gives it) when the server answers with
        all of it (its journal does not reach back to ``serial``, or it keeps none), and also when the
        journal touches types the operator does not manage below the apex (then the zone is transferred
        again in full: which other types a name still holds is known only from the whole zone)."""
        query = dns.message.make_query(self._origin, dns.rdatatype.IXFR)
        query.authority.append(
            dns.rrset.from_text(
                self._origin, 0, dns.rdataclass.IN, dns.rdatatype.SOA, f". . {serial} 0 0 0 0"
            )
        )
        transfer = await self._read(query, serial)
        if not transfer.incremental or transfer.foreign:
            self.transfers["AXFR"] += 1
            return await self.records() if transfer.incremental else self._whole(transfer)
        self._read_serial = transfer.serial
        self.transfers["IXFR"] += 1
        return ZoneDelta(tuple(transfer.steps))

    async def _read(self, query: dns.message.Message, since: int | None) -> _Transfer:
        what = "zone transfer (AXFR)" if since is None else "incremental zone transfer (IXFR)"
        if self._key is not None:
            query.use_tsig(self._key)
        try:
            return await self._transfer(query, since)
        except dns.xfr.TransferError as exc:
            raise self._rcode_error(exc.rcode, what) from exc
        except Exception as exc:
            raise self._io_error(exc, what) from exc

    async def _transfer(self, query: dns.message.Message, since: int | None) -> _Transfer:
        """The zone, or its changes since ``since``, transferred by ``query`` (an AXFR, or an IXFR from
        ``since``) over TCP: each message read as it comes (its TSIG checked in sequence, the first's and the
        last's required when signed) and taken in record by record, without building dnspython objects."""
        wire = query.to_wire()
        transfer = _Transfer(self._zone, since)
        async with asyncio.timeout(self._timeout):
            reader, writer = await asyncio.open_connection(self._server, self._port)
        try:
            writer.write(struct.pack("!H", len(wire)) + wire)
            context: Any = None
            signed = False
            while not transfer.done:
                async with asyncio.timeout(self._timeout):  # for each message, as dnspython's transfers
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    answer = await reader.readexactly(length)
                message = read_transfer_message(answer, self._key, query.mac or b"", context)
                context, signed = message.context, message.signed
                if message.id != query.id or (self._key is not None and transfer.empty and not signed):
                    raise dns.exception.FormError("not the answer to this zone transfer")  # type: ignore[no-untyped-call]
                if message.rcode != dns.rcode.NOERROR:
                    raise dns.xfr.TransferError(message.rcode)  # type: ignore[no-untyped-call]
                transfer.take(message.answer)
            if self._key is not None and not signed:
                raise dns.exception.FormError("the zone transfer's last message is not signed")  # type: ignore[no-untyped-call]
        finally:
            writer.close()
        return transfer

    # --- writing -------------------------------------------------------------------------------------------

    def unconfirmed(self) -> tuple[str, ...]:
        """Nothing: a server answers an UPDATE once it has applied it (live when ``apply`` returns)."""
        return ()

    async def confirmed(self, change_ids: Collection[str]) -> set[str]:
        return set(change_ids)

    async def apply(self, changes: Changes) -> int:
        if changes.is_empty:
            return 0
        check_in_zone(changes, self._zone)
        sent = 0
        for message in self._pack(changes):
            await self._send(*message.to_wire(self._key))
            sent += 1
        return sent

    def _pack(self, changes: Changes) -> list[UpdateWire]:
        """The changes of each name packed greedily, in name order, into as few messages as stay under the
        size limit once signed (each message written as it is filled: its size is exact)."""
        limit = self._max_message_size - _TSIG_RESERVE
        return pack_greedily(
            group_changes_by_name(changes),
            new_request=lambda: UpdateWire(self._zone, limit),
            add=lambda message, named: message.add(_steps(named[1])),
            too_big=lambda group: RejectedChangeError(
                f"the changes at {group[0]} exceed what one UPDATE message can carry ({limit} octets)"
            ),
        )

    async def _send(self, wire: bytes, mac: bytes | None) -> None:
        """Send one UPDATE (``wire``, signed with ``mac`` when there is a key) over TCP and check the answer:
        its signature (against ``mac``), its id, and its rcode."""
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await asyncio.open_connection(self._server, self._port)
                try:
                    writer.write(struct.pack("!H", len(wire)) + wire)
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    answer = await reader.readexactly(length)
                finally:
                    writer.close()
            response = dns.message.from_wire(answer, keyring=self._key, request_mac=mac or b"")
            if response.id != struct.unpack("!H", wire[:2])[0] or not response.flags & dns.flags.QR:
                raise dns.exception.FormError("the answer is not the one to this UPDATE")  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise self._io_error(exc, "UPDATE") from exc
        finally:
            self.messages_sent += 1
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise self._update_error(rcode)
        # Applied: the server moved its serial for it (see serial()). An UPDATE whose answer was lost is not
        # counted, so the serial looks moved and the next check reads the zone: the safe direction.
        self._own_updates += 1

    # --- error mapping -------------------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self._server}:{self._port} (zone {self._zone})"

    def _key_text(self) -> str:
        return f"TSIG key {self._key.name.to_text(omit_final_dot=True)}" if self._key else "no TSIG key"

    def _rcode_error(self, rcode: dns.rcode.Rcode, what: str) -> TransientError | PermanentError:
        text = dns.rcode.to_text(rcode)
        where = self._where()
        if rcode == dns.rcode.SERVFAIL:
            return TransientError(f"{what} to {where} failed: SERVFAIL")
        if rcode in _STALE_RCODES:
            return StaleChangesError(
                f"{what} to {where} not applied ({text}): the zone no longer holds what the plan expected"
            )
        if rcode == dns.rcode.REFUSED:
            return PermanentError(
                f"{what} to {where} REFUSED: the server does not allow it for {self._key_text()}"
            )
        if rcode == dns.rcode.NOTAUTH:
            return PermanentError(
                f"{what} to {where} failed: NOTAUTH (the server is not authoritative for the zone, or "
                f"rejects {self._key_text()})"
            )
        if rcode == dns.rcode.NOTZONE:
            return PermanentError(f"{what} to {where} failed: NOTZONE (a name is outside the zone)")
        return PermanentError(f"{what} to {where} failed: {text}")

    def _update_error(self, rcode: dns.rcode.Rcode) -> TransientError | PermanentError:
        """An UPDATE's rcode as an error. SERVFAIL may be the server's fault or this message's (BIND's
        "too many records" past ``max-records-per-type``), and REFUSED may be the key's or one name's (an
        ``update-policy`` that does not grant it): the publisher splits such a change to tell them apart."""
        error = self._rcode_error(rcode, "UPDATE")
        if rcode == dns.rcode.SERVFAIL:
            return SuspectChangeError(f"{error} (the server failed, or refused this message's records)")
        if rcode in (dns.rcode.REFUSED, dns.rcode.FORMERR, dns.rcode.YXDOMAIN):
            return RejectedChangeError(str(error))
        return error

    def _io_error(self, exc: Exception, what: str) -> TransientError | PermanentError:
        where, key = self._where(), self._key_text()
        if isinstance(exc, dns.tsig.PeerBadKey):
            return PermanentError(
                f"{what} to {where}: BADKEY, the server does not know {key} (or its algorithm)"
            )
        if isinstance(exc, dns.tsig.PeerBadSignature | dns.tsig.BadSignature):
            return PermanentError(
                f"{what} to {where}: BADSIG, the secret of {key} does not match the server's"
            )
        if isinstance(exc, dns.tsig.PeerBadTime | dns.tsig.BadTime):
            return PermanentError(f"{what} to {where}: BADTIME, this host's clock and the server's differ")
        if isinstance(exc, dns.tsig.PeerError | dns.tsig.BadAlgorithm | dns.tsig.BadKey):
            return PermanentError(f"{what} to {where}: TSIG failure with {key}: {exc}")
        if isinstance(exc, dns.exception.TooBig):  # the size bound failed: a bug, not a passing condition
            return PermanentError(f"{what} to {where}: message too large to send: {exc}")
        if isinstance(exc, dns.exception.Timeout | TimeoutError):
            return TransientError(f"{what} to {where} timed out after {self._timeout:g}s")
        if isinstance(exc, OSError | EOFError | dns.exception.DNSException):
            detail = str(exc) or type(exc).__name__
            return TransientError(f"{what} to {where} failed: {detail}")
        return PermanentError(f"{what} to {where} failed unexpectedly: {type(exc).__name__}: {exc}")


_Operation = Literal["present", "absent", "delete", "delete-rrset", "add"]
_PREREQUISITES: frozenset[_Operation] = frozenset({"present", "absent"})


def _steps(group: Changes) -> list[tuple[_Operation, str, RecordType, RecordSet | None]]:
    """What an UPDATE message says for ``group``, in order: (operation, name, type, records or None).

    ``present``, ``delete`` and ``add`` carry the record set whose records they name; ``absent`` and
    ``delete-rrset`` name a type only.
    """
    steps: list[tuple[_Operation, str, RecordType, RecordSet | None]] = []
    deleted = {record.key for record in group.delete}
    for record in group.delete:
        steps += [("present", record.name, record.type, record), ("delete", record.name, record.type, record)]
    for old, new in group.updates:
        steps += [
            ("present", old.name, old.type, old),
            ("delete-rrset", old.name, old.type, None),
            ("add", new.name, new.type, new),
        ]
    for record in group.create:
        steps.append(("absent", record.name, record.type, None))
        steps += [
            ("absent", record.name, other, None)
            for other in RECORD_TYPES
            if cname_clash((record.type, other)) and (record.name, other) not in deleted
        ]
        steps.append(("add", record.name, record.type, record))
    return steps


class _Transfer:
    """A zone transfer's records as they come. An AXFR (or an IXFR answered with the whole zone): managed
    record sets by name and type, and the other types at each name below the apex. An IXFR answered
    incrementally (RFC 1995 §4: the new SOA, then for each change its old SOA and the records removed, its
    new SOA and the records added, and the new SOA again): the steps, in order. Done at the SOA that closes
    it; an IXFR from a serial the zone has not passed is answered with its SOA alone."""

    def __init__(self, origin: str, since: int | None) -> None:
        self._origin = origin
        self._since = since
        self._sets: dict[tuple[str, int], tuple[list[int], list[str]]] = {}  # (name, type) → TTL, values
        self._others: dict[str, set[int]] = {}
        self.serial: int | None = None  # the zone's serial after the transfer (its first record's)
        self.incremental: bool | None = None if since is not None else False
        self.steps: list[tuple[bool, str, RecordType, int, str]] = []
        self.foreign = False  # an incremental answer touched types the operator does not manage
        self._adding = False
        self.done = False

    @property
    def empty(self) -> bool:
        return self.serial is None

    def take(self, answer: Sequence[Record]) -> None:
        for record in answer:
            if self.done:
                raise dns.exception.FormError("records after the end of the zone transfer")  # type: ignore[no-untyped-call]
            name, rtype, _, _, value = record
            soa = rtype == TYPE_SOA and name == self._origin
            if self.serial is None:
                if not soa or not isinstance(value, int):
                    raise dns.exception.FormError("a zone transfer that does not open with the SOA")  # type: ignore[no-untyped-call]
                self.serial = value
                if self._since is not None and not _newer(value, self._since):  # nothing new: the SOA alone
                    self.incremental, self.done = True, True
                continue
            if self.incremental is None:  # an IXFR's second record: the old SOA, or the whole zone's first
                self.incremental = soa and value != self.serial
                if self.incremental:
                    continue
            if self.incremental:
                self._take_step(record, soa)
            elif soa:
                self.done = True
            else:
                self._take_record(record)

    def _take_step(self, record: Record, soa: bool) -> None:
        name, rtype, rdclass, ttl, value = record
        if soa:  # the end of removals (then additions follow), of additions (then the next change), or all
            if self._adding and value == self.serial:
                self.done = True
            self._adding = not self._adding
            return
        if rdclass != dns.rdataclass.IN:
            return
        managed = _MANAGED.get(rtype)
        if managed is None:
            self.foreign = self.foreign or name != self._origin  # the apex's SOA and NS are the zone's own
            return
        self.steps.append((self._adding, name, managed, ttl, str(value)))

    def _take_record(self, record: Record) -> None:
        name, rtype, rdclass, ttl, value = record
        if rdclass != dns.rdataclass.IN:
            return
        if rtype not in _MANAGED:
            if name != self._origin:  # the apex's SOA and NS are the zone's own
                self._others.setdefault(name, set()).add(rtype)
            return
        kept = self._sets.get((name, rtype))
        if kept is None:
            kept = self._sets[name, rtype] = ([ttl], [])
        kept[0][0] = min(kept[0][0], ttl)  # a record set's TTL: its records' lowest, as dnspython's
        kept[1].append(str(value))

    def records(self) -> list[RecordSet]:
        found = [
            RecordSet(name=name, type=_MANAGED[rtype], ttl=ttl[0], values=tuple(values))
            for (name, rtype), (ttl, values) in self._sets.items()
        ]
        others = (
            other_types_marker(name, [dns.rdatatype.to_text(dns.rdatatype.RdataType.make(t)) for t in types])
            for name, types in self._others.items()
        )
        return found + list(filter(None, others))


def _newer(serial: int, than: int) -> bool:
    """Serial number arithmetic (RFC 1982): whether ``serial`` comes after ``than``."""
    return 0 < (serial - than) % 2**32 < 2**31
