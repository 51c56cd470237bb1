"""Waiting for a provider to say an accepted change is live: Route 53's INSYNC, Cloud DNS's ``done``.

Both adapters poll the same way: at once, then after a delay that doubles from ``start`` up to ``cap``,
for at most ``within`` seconds of waiting in all (counted by the sleeps, which tests replace); a change still
pending then is left to the publisher's own timer (``unconfirmed()``), so that one slow change never holds
the zone's next round.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

__all__ = ["poll_until_live"]


async def poll_until_live(
    live: Callable[[], Awaitable[bool]],
    *,
    within: float,
    start: float,
    cap: float,
    sleep: Callable[[float], Awaitable[object]],
) -> bool:
    """Ask ``live()`` until it says True (then True), or until ``within`` seconds of waiting (then False)."""
    waited, attempt = 0.0, 0
    while True:
        if await live():
            return True
        if waited >= within:
            return False
        delay = min(start * 2.0**attempt, cap, within - waited)
        await sleep(delay)
        waited += delay
        attempt += 1
