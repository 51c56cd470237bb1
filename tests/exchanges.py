"""Exchanges (kube/transport.py: a call's requests as data) answered without a cluster, for unit tests."""

from __future__ import annotations

from typing import TypeVar

from federation_operator.kube.transport import Call, Exchange, RawResponse

__all__ = ["answer"]

T = TypeVar("T")


def answer(exchange: Exchange[T], status: int = 200, body: bytes = b"{}") -> T:
    """The result of ``exchange`` when every request of it is answered ``status`` with ``body``."""
    call = Call(exchange, None)
    while call.request is not None:
        call.answer(RawResponse(status, body, {}))
    return call.result
