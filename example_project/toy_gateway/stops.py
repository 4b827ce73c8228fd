"""What the turn engine does when a client stops a turn or goes away (``POST /chat.abort``, ``chat.abort``).

A correct gateway cancels a stopped turn at once: its model call is closed (the task running it is cancelled,
which closes the provider connection), nothing of it is stored, the session is free for the next message, and
a message stopped while it waited behind a running turn never runs. A client that goes away is not a stop:
its turn runs to its end and is stored. The planted bugs break one promise each:

- ``ignored``: the stop is acknowledged, and nothing is cancelled;
- ``wedge`` (ms): the stopped turn leaves the session's write lock held that long, so the next message fails;
- ``leaks_pending``: a stopped message that was waiting is answered ``aborted`` but stays queued and runs;
- ``orphan_tool``: a stop during the clock tool's step stores the model's tool call without its result;
- ``disconnect_drops``: a client going away cancels its turn and drops it from the session.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

__all__ = ["LOCK_TEXT", "STOPPED_TEXT", "StopFlaws", "cancel_and_wait", "locked_out"]

STOPPED_TEXT = "run stopped by the client"
LOCK_TEXT = "SessionWriteLockTimeoutError: timed out after 1000 ms waiting for the session write lock"
LOCK_WAIT = 1.0
"""How long a turn waits for a session write lock left behind before it fails."""
UNWIND_TIMEOUT = 1.0
"""How long a stop waits for the cancelled turn to unwind before it answers."""


@dataclass(frozen=True)
class StopFlaws:
    """The planted stop and disconnect bugs, all off in a correct gateway."""

    ignored: bool = False
    wedge: float = 0.0
    leaks_pending: bool = False
    orphan_tool: bool = False
    disconnect_drops: bool = False


async def cancel_and_wait(task: asyncio.Task[None] | None) -> bool:
    """Cancel a turn's task and wait (bounded) until it has unwound: its model call is closed then."""
    if task is None or task.done():
        return False
    task.cancel()
    await asyncio.wait([task], timeout=UNWIND_TIMEOUT)
    return True


async def locked_out(wedged: dict[str, float], key: str) -> bool:
    """True if a write lock left behind on ``key`` is still held after waiting up to LOCK_WAIT for it."""
    until = wedged.get(key, 0.0)
    now = time.monotonic()
    if until <= now:
        return False
    await asyncio.sleep(min(LOCK_WAIT, until - now))
    return wedged.get(key, 0.0) > time.monotonic()
