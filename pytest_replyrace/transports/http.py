"""The replyrace HTTP contract: one JSON POST per message, one JSON body back; ``POST /chat.abort`` to stop
a message's turn."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from .base import BUSY_STATUSES, CallEvents, HttpClient, StopAnswer, TransportError, TransportReply, excerpt
from .cuts import SendCutter

__all__ = ["HttpTransport"]


@dataclass
class HttpTransport(HttpClient):
    """The replyrace HTTP contract.

    ``POST {base_url}{path}`` with JSON ``{"sessionKey", "message",
    "idempotencyKey"}`` answered 200 with ``{"runId", "reply", "error"}``.
    Path and field names are configurable for gateways that spell them
    differently.
    """

    session_key_field: str = "sessionKey"
    message_field: str = "message"
    idempotency_key_field: str = "idempotencyKey"
    run_id_field: str = "runId"
    reply_field: str = "reply"
    error_field: str = "error"
    abort_path: str = "/chat.abort"
    name: str = "http"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._cutter = SendCutter()

    async def send(
        self, session_key: str, message: str, idempotency_key: str, events: CallEvents | None = None
    ) -> TransportReply:
        return await self._cutter.run(idempotency_key, self._send(session_key, message, idempotency_key, events))

    async def disconnect(self, idempotency_key: str) -> float:
        """Close the connection carrying that call's answer (no stop call): the cut's instant."""
        return await self._cutter.cut(idempotency_key)

    async def stop(self, session_key: str, idempotency_key: str, *, wait_for_run: float) -> StopAnswer:
        """``POST /chat.abort {"sessionKey", "runId"}`` for the turn of the message sent with that key (its
        run id is the idempotency key: the contract's answer names the run only at its end), answered
        ``200 {"aborted": true|false}``. A failed exchange is the answer's ``error``, never raised."""
        await self.open()
        assert self._session is not None
        url = self.base_url.rstrip("/") + self.abort_path
        body = {self.session_key_field: session_key, self.run_id_field: idempotency_key}
        try:
            async with self._session.post(url, json=body, headers=self.headers) as response:
                status, raw = response.status, await response.content.read(64 * 1024)
        except (aiohttp.ClientError, ConnectionError, OSError) as exc:
            return StopAnswer(time.monotonic(), error=f"POST {url} failed: {type(exc).__name__}: {exc}")
        return _abort_answer(url, status, raw, time.monotonic())

    async def _send(
        self, session_key: str, message: str, idempotency_key: str, events: CallEvents | None
    ) -> TransportReply:
        body = {
            self.session_key_field: session_key,
            self.message_field: message,
            self.idempotency_key_field: idempotency_key,
        }
        status, raw, _ = await self.post(body, self.headers, events=events)
        if status in BUSY_STATUSES:
            # The session (or the gateway) refused the message as busy: the call's answer, judged by the busy
            # policy, not a broken exchange.
            return TransportReply(run_id=None, reply=None, error=f"HTTP {status}: {excerpt(raw)}", busy=True)
        if status != 200:
            raise TransportError(f"POST {self.url} answered HTTP {status}: {excerpt(raw)}")
        data = self.json_object(raw)
        reply, error, run_id = data.get(self.reply_field), data.get(self.error_field), data.get(self.run_id_field)
        for name, value in ((self.reply_field, reply), (self.error_field, error), (self.run_id_field, run_id)):
            if value is not None and not isinstance(value, str):
                raise TransportError(f"POST {self.url}: field {name!r} is not a string or null: {excerpt(raw)}")
        return TransportReply(run_id=run_id, reply=reply, error=error)


def _abort_answer(url: str, status: int, raw: bytes, at: float) -> StopAnswer:
    """``200 {"aborted": bool}`` as a StopAnswer; anything else is its error, quoted."""
    if status != 200:
        return StopAnswer(at, error=f"POST {url} answered HTTP {status}: {excerpt(raw)}", detail=excerpt(raw, 120))
    try:
        data: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return StopAnswer(at, error=f"POST {url}: answer is not JSON: {excerpt(raw)}", detail=excerpt(raw, 120))
    aborted = data.get("aborted") if isinstance(data, dict) else None
    if not isinstance(aborted, bool):
        return StopAnswer(
            at, error=f"POST {url}: answer has no boolean 'aborted': {excerpt(raw)}", detail=excerpt(raw, 120)
        )
    return StopAnswer(at, aborted=aborted, detail=excerpt(raw, 120))
