"""The replyrace HTTP contract: ``POST /chat.send``, ``POST /chat.abort``, ``GET /readyz``, ``GET /healthz``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from .gateway import ToyGateway
from .turns import BUSY_TEXT

__all__ = ["add_http_routes"]

REPLY_TIMEOUT = 600.0
GONE_POLL = 0.01
"""How often a waiting ``chat.send`` looks whether its client went away (aiohttp does not cancel the handler)."""


def _bad(message: str) -> web.Response:
    return web.json_response({"runId": None, "reply": None, "error": message}, status=400)


def add_http_routes(app: web.Application, gateway: ToyGateway, ready: dict[str, bool]) -> None:
    async def readyz(request: web.Request) -> web.Response:
        return web.json_response({"ready": ready["ready"]}, status=200 if ready["ready"] else 503)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def chat_send(request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _bad("request body is not JSON")
        if not isinstance(body, dict):
            return _bad("request body must be a JSON object")
        fields = {name: body.get(name) for name in ("sessionKey", "message", "idempotencyKey")}
        missing = [name for name, value in fields.items() if not isinstance(value, str) or not value]
        if missing:
            return _bad(f"missing or empty string field(s): {', '.join(missing)}")
        ack = gateway.chat_send(fields["sessionKey"], fields["message"], fields["idempotencyKey"])
        run_id = ack["runId"]
        # Like a WebSocket client: wait for this run's terminal chat event (or for the client to go away).
        terminal = await _terminal_or_gone(request, gateway, fields["sessionKey"], run_id)
        if terminal is None:
            return web.json_response({"runId": run_id, "reply": None, "error": "no final within the gateway's limit"})
        message = terminal.get("message")
        text = None
        if isinstance(message, dict):
            text = "".join(p.get("text", "") for p in message.get("content", []) if isinstance(p, dict))
        error = terminal.get("errorMessage")
        # A message refused because a turn runs is a 409, as agent servers answer it.
        status = 409 if error == BUSY_TEXT else 200
        return web.json_response({"runId": run_id, "reply": text, "error": error}, status=status)

    async def chat_abort(request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "request body is not JSON"}, status=400)
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("sessionKey", "runId")):
            return web.json_response({"error": "chat.abort needs sessionKey and runId strings"}, status=400)
        return web.json_response({"aborted": await gateway.chat_abort(body["sessionKey"], body["runId"])})

    app.router.add_get("/readyz", readyz)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/chat.send", chat_send)
    app.router.add_post("/chat.abort", chat_abort)


async def _terminal_or_gone(request: web.Request, gateway: ToyGateway, key: str, run_id: str) -> dict[str, Any] | None:
    """The run's terminal chat payload; None when the client went away first (the gateway is told) or the
    gateway's limit passed."""
    waiter = asyncio.ensure_future(gateway.events.wait_terminal(run_id, REPLY_TIMEOUT))
    try:
        while not waiter.done():  # bounded by the waiter's REPLY_TIMEOUT
            if request.transport is None or request.transport.is_closing():
                await gateway.client_gone(key, run_id)
                return None
            await asyncio.wait([waiter], timeout=GONE_POLL)
        return waiter.result()
    finally:
        waiter.cancel()
