"""The local federation's ports: each free, never handed out twice, and outside the kernel's ephemeral range
(a port from that range can be taken by any outgoing connection before its server binds it)."""

from __future__ import annotations

import socket

import pytest
from localfed import federation
from localfed.federation import _ephemeral_ports, free_dns_port, free_port


def test_ports_are_free_distinct_and_below_the_ephemeral_range() -> None:
    low, _high = _ephemeral_ports()
    ports = [free_port() for _ in range(200)] + [free_dns_port() for _ in range(20)]
    assert len(set(ports)) == len(ports)
    assert all(port < low for port in ports)
    for port in ports[-20:]:  # the DNS ports: free for UDP as well as TCP
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", port))


def test_a_port_something_is_bound_to_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        busy = int(taken.getsockname()[1])
        spare = free_port()
        picks = iter([busy, spare + 1 if spare + 1 != busy else spare + 2])
        monkeypatch.setattr(federation, "_ephemeral_ports", lambda: (60000, 60999))
        monkeypatch.setattr(federation.random, "randrange", lambda _low, _high: next(picks))
        assert free_port() != busy
