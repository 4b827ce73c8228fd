"""A client going away: cut one call's HTTP answer without a stop call (``stop_by="disconnect"``).

Each send runs as its own task, keyed by its idempotency key; :meth:`SendCutter.cut` cancels that task,
which closes the connection carrying the call (aiohttp closes a connection whose request or body was not
finished), and the call's ``send`` returns a reply saying the client disconnected, with the cut's instant.
Other calls, and calls after it, open their own connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from .base import TransportReply

__all__ = ["DISCONNECTED", "SendCutter", "cut_reply"]

DISCONNECTED = "the client disconnected before the answer ended"
UNWIND_TIMEOUT = 1.0
"""How long a cut waits for the cancelled send to close its connection."""


def cut_reply(at: float, run_id: str | None = None, state: str | None = None) -> TransportReply:
    """What ``send`` returns for a call the client cut: no reply, the cut's instant."""
    return TransportReply(run_id=run_id, reply=None, error=DISCONNECTED, replied_at=at, state=state, cut_at=at)


class SendCutter:
    """The sends in flight of one transport, by idempotency key, and the cuts asked for."""

    def __init__(self) -> None:
        self._sends: dict[str, asyncio.Task[TransportReply]] = {}
        self._cuts: dict[str, float] = {}

    async def run(self, key: str, send: Coroutine[Any, Any, TransportReply]) -> TransportReply:
        """Await ``send`` as a task that :meth:`cut` can cancel; a cut send returns :func:`cut_reply`."""
        task = asyncio.ensure_future(send)
        self._sends[key] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            cut = self._cuts.get(key)
            if cut is None or (current is not None and current.cancelling()):
                raise  # the driver cancelled this send (its timeout): not a cut
            return cut_reply(cut)
        finally:
            self._sends.pop(key, None)
            if not task.done():
                task.cancel()

    async def cut(self, key: str) -> float:
        """Close the connection of the call sent with ``key`` (if it is still in flight): the cut's instant."""
        at = self._cuts[key] = time.monotonic()
        task = self._sends.get(key)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=UNWIND_TIMEOUT)
        return at
