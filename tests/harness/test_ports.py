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
    if low - federation._LOWEST_PORT >= 1000:  # else the kernel picks (an ephemeral range from near 1024)
        assert all(federation._LOWEST_PORT <= port < low for port in ports)
    for port in ports[-20:]:  # the DNS ports: free for UDP as well as TCP
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", port))


def test_a_port_something_is_bound_to_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        busy = int(taken.getsockname()[1])
        real = federation.random.randrange
        offered: list[int] = []

        def pick(low: int, high: int) -> int:
            # The taken port first (as if chosen at random), then real picks.
            offered.append(busy if not offered else real(low, high))
            return offered[-1]

        monkeypatch.setattr(federation, "_ephemeral_ports", lambda: (60000, 60999))
        monkeypatch.setattr(federation.random, "randrange", pick)
        assert free_port() != busy
        assert offered[0] == busy
