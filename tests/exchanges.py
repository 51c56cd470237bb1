"""Exchanges (kube/transport.py: a call's requests as data) answered without a cluster, for unit tests."""

from __future__ import annotations

from typing import TypeVar

from federation_operator.kube.transport import Exchange, RawResponse, Request

__all__ = ["answer"]

T = TypeVar("T")


def answer(
    exchange: Exchange[T], status: int = 200, body: bytes = b"{}", made: list[Request] | None = None
) -> T:
    """The result of ``exchange`` when every request of it is answered ``status`` with ``body``; the
    requests go to ``made`` when given."""
    response = RawResponse(status, body, {})
    try:
        request = next(exchange)
        while True:
            if made is not None:
                made.append(request)
            request = exchange.send(response)
    except StopIteration as done:
        result: T = done.value
        return result
