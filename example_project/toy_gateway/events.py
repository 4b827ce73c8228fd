"""Gateway events (``chat`` and ``agent``) and who listens to them.

WebSocket clients subscribe to everything; the HTTP contract waits for the
terminal ``chat`` event of one run id.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

__all__ = ["TERMINAL", "EventBus", "chat_message"]

TERMINAL = frozenset({"final", "error", "aborted"})


def chat_message(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}], "timestamp": int(time.time() * 1000)}


class EventBus:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._terminal: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._seq = 0

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10_000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    def terminal_of(self, run_id: str) -> asyncio.Future[dict[str, Any]]:
        """The terminal chat payload of ``run_id``; register before dispatching."""
        future = self._terminal.get(run_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._terminal[run_id] = future
        return future

    async def wait_terminal(self, run_id: str, timeout: float) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(asyncio.shield(self.terminal_of(run_id)), timeout)
        except asyncio.TimeoutError:
            return None

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        self._seq += 1
        frame = {"type": "event", "event": event, "payload": payload, "seq": self._seq}
        for queue in list(self._subscribers):
            if not queue.full():  # a stuck client loses events rather than the gateway its memory
                queue.put_nowait(frame)
        if event == "chat" and payload.get("state") in TERMINAL:
            future = self.terminal_of(payload["runId"])
            if not future.done():
                future.set_result(payload)

    def chat(self, run_id: str, key: str, state: str, text: str | None = None, error: str | None = None) -> None:
        payload: dict[str, Any] = {"runId": run_id, "sessionKey": key, "seq": self._seq + 1, "state": state}
        if text is not None:
            payload["message"] = chat_message(text)
        if error is not None:
            payload["errorMessage"] = error
        self.emit("chat", payload)

    def lifecycle(self, run_id: str, key: str, phase: str) -> None:
        self.emit(
            "agent",
            {
                "runId": run_id,
                "seq": self._seq + 1,
                "stream": "lifecycle",
                "ts": int(time.time() * 1000),
                "data": {"phase": phase},
                "sessionKey": key,
            },
        )
