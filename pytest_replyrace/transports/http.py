"""The replyrace HTTP contract: one JSON POST per message, one JSON body back."""

from __future__ import annotations

from dataclasses import dataclass

from .base import BUSY_STATUSES, CallEvents, HttpClient, TransportError, TransportReply, excerpt

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
    name: str = "http"

    async def send(
        self, session_key: str, message: str, idempotency_key: str, events: CallEvents | None = None
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
