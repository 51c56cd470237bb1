"""``status --resolve``: ask a DNS server (dnspython, UDP then TCP when truncated) for published names.

For each name an A and an AAAA query; the answer is the CNAME chain the server followed and the addresses at
its end, or its error code (NXDOMAIN), or the transport failure. The names come from the FederatedServices'
status; nothing else is queried.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from federation_operator.cli.errors import UsageError
from federation_operator.cli.render import LiveAnswer

__all__ = ["fetch_answers", "resolve_server_address"]

TIMEOUT = 3.0


def resolve_server_address(host: str) -> str:
    """``host`` as an IP address (a host name is looked up once); an error names ``--resolve``."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP)
    except socket.gaierror as exc:
        raise UsageError(f"--resolve {host}: cannot look up the server's address ({exc.strerror})") from None
    return str(infos[0][4][0])


def _query(name: str, rdtype: dns.rdatatype.RdataType, address: str, port: int) -> dns.message.Message:
    query = dns.message.make_query(dns.name.from_text(name), rdtype)
    response = dns.query.udp(query, address, port=port, timeout=TIMEOUT)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(query, address, port=port, timeout=TIMEOUT)
    return response


def fetch_answer(name: str, address: str, port: int) -> LiveAnswer:
    """The server's A and AAAA answers for ``name``, merged into one :class:`LiveAnswer`."""
    cnames: list[str] = []
    addresses: list[str] = []
    rcode = "NOERROR"
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        try:
            response = _query(name, rdtype, address, port)
        except dns.exception.Timeout:
            return LiveAnswer(error="timed out")
        except (OSError, dns.exception.DNSException) as exc:
            return LiveAnswer(error=str(exc) or type(exc).__name__)
        code = dns.rcode.to_text(response.rcode())
        if code != "NOERROR":
            rcode = code
            break
        for rrset in response.answer:
            for record in rrset:
                if rrset.rdtype == dns.rdatatype.CNAME:
                    target = record.target.to_text()
                    if target not in cnames:
                        cnames.append(target)
                elif rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                    addresses.append(record.address)
    return LiveAnswer(rcode=rcode, cnames=tuple(cnames), addresses=tuple(sorted(addresses)))


def fetch_answers(names: Iterable[str], address: str, port: int) -> dict[str, LiveAnswer]:
    """:func:`fetch_answer` for every distinct name."""
    return {name: fetch_answer(name, address, port) for name in dict.fromkeys(names)}
