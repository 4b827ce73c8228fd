"""The process-pause nemesis: freeze the gateway for a while after each reply.

Like Jepsen's process pause: SIGSTOP to the launched gateway's process group,
AFTER seconds after each reply, for LENGTH seconds, then SIGCONT. A stall in
the gateway's terminal window stretches a race window of a few milliseconds
into one a realistic client pause can hit. The group is continued on every
exit path: when the freeze ends, when it is cancelled, when the run ends, and
at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal

from ..errors import InvalidArgument

__all__ = ["ProcessPause"]

_STOPPED: set[int] = set()


def _continue(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGCONT)
    _STOPPED.discard(pgid)


@atexit.register
def _continue_all() -> None:
    for pgid in list(_STOPPED):
        _continue(pgid)


class ProcessPause:
    """Schedules freezes of one process group; :meth:`close` guarantees it runs again."""

    def __init__(self, pgid: int, after: float, length: float) -> None:
        if pgid <= 1:
            raise InvalidArgument(f"process group {pgid!r}: refusing to pause it")
        self.pgid = pgid
        self.after = after
        self.length = length
        self.freezes = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def after_reply(self) -> None:
        task = asyncio.get_running_loop().create_task(self._freeze())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _freeze(self) -> None:
        await asyncio.sleep(self.after)
        try:
            _STOPPED.add(self.pgid)
            os.killpg(self.pgid, signal.SIGSTOP)
            self.freezes += 1
            await asyncio.sleep(self.length)
        except ProcessLookupError:
            pass
        finally:
            _continue(self.pgid)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        _continue(self.pgid)
