"""A subset of the OpenClaw gateway WebSocket protocol, on the HTTP port.

connect.challenge → connect (token auth, protocol 3) → hello-ok; then
``chat.send``, ``agent.wait`` and ``chat.history`` requests, and every ``chat``
and ``agent`` event broadcast to the connected clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from . import __version__
from .gateway import ToyGateway

__all__ = ["MAX_FRAME_BYTES", "PROTOCOL", "add_ws_route"]

MAX_FRAME_BYTES = 64 * 1024
PROTOCOL = 3
METHODS = ["connect", "chat.send", "chat.abort", "agent.wait", "chat.history"]
SCOPES = ["operator.read", "operator.write", "operator.admin"]
CONNECT_TIMEOUT = 10.0


def _res(request_id: Any, payload: dict[str, Any] | None = None, error: tuple[str, str] | None = None) -> str:
    frame: dict[str, Any] = {"type": "res", "id": request_id, "ok": error is None}
    if error is None:
        frame["payload"] = payload or {}
    else:
        frame["error"] = {"code": error[0], "message": error[1]}
    return json.dumps(frame)


def _connect_error(frame: Any, token: str) -> tuple[str, str] | None:
    if not isinstance(frame, dict) or frame.get("type") != "req" or frame.get("method") != "connect":
        return ("INVALID_REQUEST", "the first frame must be a connect request")
    params = frame.get("params")
    if not isinstance(params, dict):
        return ("INVALID_REQUEST", "connect params must be an object")
    lo, hi = params.get("minProtocol"), params.get("maxProtocol")
    if not isinstance(lo, int) or not isinstance(hi, int) or not lo <= PROTOCOL <= hi:
        return ("INVALID_REQUEST", f"protocol mismatch: server speaks {PROTOCOL}")
    auth = params.get("auth")
    if not isinstance(auth, dict) or auth.get("token") != token:
        return ("UNAUTHORIZED", "gateway token missing or wrong")
    return None


async def _abort(gateway: ToyGateway, params: dict[str, Any]) -> dict[str, Any]:
    """``chat.abort {sessionKey, runId}`` answered as OpenClaw answers it: ``{ok, aborted, runIds}``."""
    key, run_id = str(params.get("sessionKey")), str(params.get("runId"))
    aborted = await gateway.chat_abort(key, run_id)
    return {"ok": True, "aborted": aborted, "runIds": [run_id] if aborted else []}


def add_ws_route(app: web.Application, gateway: ToyGateway, token: str) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, heartbeat=None)
        if not ws.can_prepare(request).ok:
            return web.json_response({"gateway": "toy", "hint": "WebSocket on this path; HTTP: POST /chat.send"})
        await ws.prepare(request)
        await ws.send_str(
            json.dumps(
                {
                    "type": "event",
                    "event": "connect.challenge",
                    "payload": {"nonce": str(uuid.uuid4()), "ts": int(time.time() * 1000)},
                }
            )
        )
        try:
            first = await ws.receive(timeout=CONNECT_TIMEOUT)
        except asyncio.TimeoutError:
            await ws.close(message=b"closed before connect")
            return ws
        if first.type != WSMsgType.TEXT:
            await ws.close(message=b"closed before connect")
            return ws
        try:
            frame = json.loads(first.data)
        except json.JSONDecodeError:
            frame = None
        problem = _connect_error(frame, token)
        request_id = frame.get("id") if isinstance(frame, dict) else None
        if problem is not None:
            await ws.send_str(_res(request_id, error=problem))
            await ws.close()
            return ws
        conn_id = str(uuid.uuid4())
        await ws.send_str(
            _res(
                request_id,
                {
                    "type": "hello-ok",
                    "protocol": PROTOCOL,
                    "server": {"version": f"toy-{__version__}", "connId": conn_id},
                    "features": {"methods": METHODS, "events": ["chat", "agent", "connect.challenge"]},
                    "snapshot": {"authMode": "token"},
                    "auth": {"role": "operator", "scopes": SCOPES},
                    "policy": {
                        "maxPayload": MAX_FRAME_BYTES,
                        "maxBufferedBytes": 8 * MAX_FRAME_BYTES,
                        "tickIntervalMs": 30000,
                    },
                },
            )
        )
        events = gateway.events.subscribe()
        pending: set[asyncio.Task[Any]] = set()
        sent: list[tuple[str, str]] = []
        """(session, run id) of every chat.send on this connection: a close is their client going away."""

        async def forward() -> None:
            while True:
                await ws.send_str(json.dumps(await events.get()))

        async def answer_later(rid: Any, coro: Any) -> None:
            payload = await coro
            if not ws.closed:
                await ws.send_str(_res(rid, payload))

        forwarder = asyncio.create_task(forward())
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    break
                try:
                    req = json.loads(message.data)
                except json.JSONDecodeError:
                    await ws.send_str(_res(None, error=("INVALID_REQUEST", "frame is not JSON")))
                    continue
                if not isinstance(req, dict) or req.get("type") != "req":
                    await ws.send_str(_res(None, error=("INVALID_REQUEST", "expected a req frame")))
                    continue
                rid, method, params = req.get("id"), req.get("method"), req.get("params") or {}
                if not isinstance(params, dict):
                    await ws.send_str(_res(rid, error=("INVALID_REQUEST", "params must be an object")))
                elif method == "chat.send":
                    fields = [params.get(k) for k in ("sessionKey", "message", "idempotencyKey")]
                    if not all(isinstance(v, str) and v for v in fields):
                        await ws.send_str(
                            _res(rid, error=("INVALID_REQUEST", "chat.send needs sessionKey, message, idempotencyKey"))
                        )
                    else:
                        ack = gateway.chat_send(*fields)  # type: ignore[arg-type]
                        sent.append((str(fields[0]), str(ack["runId"])))
                        await ws.send_str(_res(rid, ack))
                elif method == "chat.abort":
                    task = asyncio.create_task(answer_later(rid, _abort(gateway, params)))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                elif method == "agent.wait":
                    timeout = params.get("timeoutMs", 30000)
                    seconds = min(600.0, timeout / 1000) if isinstance(timeout, (int, float)) else 30.0
                    task = asyncio.create_task(answer_later(rid, gateway.agent_wait(str(params.get("runId")), seconds)))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                elif method == "chat.history":
                    limit = params.get("limit", 200)
                    await ws.send_str(
                        _res(
                            rid,
                            gateway.chat_history(
                                str(params.get("sessionKey")), limit if isinstance(limit, int) else 200
                            ),
                        )
                    )
                else:
                    await ws.send_str(_res(rid, error=("INVALID_REQUEST", f"unknown method {method!r}")))
        finally:
            gateway.events.unsubscribe(events)
            forwarder.cancel()
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await forwarder
            for key, run_id in sent:  # the client went away: its answers still arriving are a disconnect
                await gateway.client_gone(key, run_id)
        return ws

    app.router.add_get("/", handle)
    app.router.add_get("/ws", handle)
