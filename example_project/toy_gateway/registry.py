"""The per-session active-run guard (OpenClaw's reply-run registry)."""

from __future__ import annotations

import asyncio

__all__ = ["ReplyOperation", "ReplyRunAlreadyActiveError", "RunRegistry"]


class ReplyRunAlreadyActiveError(RuntimeError):
    def __init__(self, key: str) -> None:
        super().__init__(f"Reply run already active for {key}")
        self.key = key


class ReplyOperation:
    """Holds a session key from creation until ``complete()`` (once)."""

    def __init__(self, registry: RunRegistry, key: str, run_id: str) -> None:
        self.registry = registry
        self.key = key
        self.run_id = run_id
        self.done = False

    def complete(self) -> None:
        if not self.done:
            self.done = True
            self.registry._release(self)


class RunRegistry:
    def __init__(self) -> None:
        self._active: dict[str, ReplyOperation] = {}
        self._idle: dict[str, asyncio.Event] = {}

    def is_active(self, key: str) -> bool:
        return key in self._active

    def create(self, key: str, run_id: str) -> ReplyOperation:
        if key in self._active:
            raise ReplyRunAlreadyActiveError(key)
        op = ReplyOperation(self, key, run_id)
        self._active[key] = op
        self._idle.setdefault(key, asyncio.Event()).clear()
        return op

    def _release(self, op: ReplyOperation) -> None:
        if self._active.get(op.key) is op:
            del self._active[op.key]
            self._idle.setdefault(op.key, asyncio.Event()).set()

    async def wait_for_idle(self, key: str, timeout: float) -> bool:
        """True once nothing holds ``key`` (bounded by ``timeout`` seconds)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while key in self._active:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            event = self._idle.setdefault(key, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                return False
        return True
