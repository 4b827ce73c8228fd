"""One clock for everything: ``time.monotonic()``, and a sleep that lands on a deadline within a millisecond."""

from __future__ import annotations

import asyncio
import time

__all__ = ["SEND_SPIN", "SPIN", "sleep_until"]

SPIN = 0.002
"""How long before a deadline the loop's timer hands over to yielding (the timer overshoots by about 1 ms)."""
SEND_SPIN = 0.005
"""The same for the driver's sends, whose loop also reads other answers still arriving: a longer yielding
finish keeps a send on its instant while a stream's frames are being handled (a few ms of CPU per send)."""


async def sleep_until(deadline: float, spin: float = 0.0) -> None:
    """Sleep on the loop's timer until ``spin`` seconds short of ``deadline``, then yield to the loop until it.

    The timer alone overshoots by a millisecond or more (epoll's millisecond timeout, wake-up latency); the
    yielding finish keeps other tasks running while it costs CPU for at most ``spin`` seconds (:data:`SPIN`
    is the usual choice; 0 trusts the timer).
    """
    delay = deadline - time.monotonic() - spin
    if delay > 0:
        await asyncio.sleep(delay)
    while time.monotonic() < deadline:  # bounded by the deadline
        await asyncio.sleep(0)
