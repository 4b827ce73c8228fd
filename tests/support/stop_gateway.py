"""A gateway that holds every turn, for the transports' stop and disconnect (issue 29).

One aiohttp app on 127.0.0.1 speaks the replyrace HTTP contract (``POST /chat.send``, ``POST /chat.abort``),
OpenAI chat completions and Responses (streamed: the headers at once, the text when the turn ends) and the
OpenClaw WebSocket (``chat.send``, ``chat.abort``, ``chat`` events). A turn ends after ``hold`` seconds with
an echo of its message, or at once when it is aborted (``aborted`` terminal state). The server records what a
witness needs: when each run's client went away (seen while it happens, by watching the connection), every
WebSocket request in arrival order, and whether ``chat.send`` was acknowledged before a ``chat.abort`` came.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

__all__ = ["StopGateway", "stop_gateway"]


@dataclass
class Run:
    message: str
    started: float = field(default_factory=time.monotonic)
    aborted: asyncio.Event = field(default_factory=asyncio.Event)
    gone_at: float | None = None
    """When the connection carrying the answer closed before the turn ended."""
    ended_at: float | None = None


@dataclass
class StopGateway:
    hold: float = 2.0
    ack_delay: float = 0.0
    """How long the WebSocket ``chat.send`` acknowledgement is held back (a stop must not wait for it)."""
    runs: dict[str, Run] = field(default_factory=dict)
    frames: list[tuple[str, str, bool]] = field(default_factory=list)
    """WebSocket requests in order: (method, run id or key, whether chat.send of that run was acked yet)."""
    acked: set[str] = field(default_factory=set)
    url: str = ""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def turn(self, run_id: str, message: str, request: web.Request | None = None) -> str:
        """Hold the turn; 'final' or 'aborted' (or 'gone' when the client's connection closed)."""
        run = self.runs.setdefault(run_id, Run(message))
        deadline = run.started + self.hold
        while time.monotonic() < deadline:  # bounded by hold
            if run.aborted.is_set():
                run.ended_at = time.monotonic()
                return "aborted"
            if request is not None and (request.transport is None or request.transport.is_closing()):
                run.gone_at = time.monotonic()
                return "gone"
            await asyncio.sleep(0.005)
        run.ended_at = time.monotonic()
        return "final"

    def abort(self, run_id: str) -> bool:
        run = self.runs.get(run_id)
        if run is None or run.ended_at is not None or run.gone_at is not None:
            return False
        run.aborted.set()
        return True

    # -- HTTP -----------------------------------------------------------------

    async def chat_send(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        state = await self.turn(body["idempotencyKey"], body["message"], request)
        reply = f"ECHO {body['message']}" if state == "final" else None
        error = None if state == "final" else f"run {state}"
        return web.json_response({"runId": body["idempotencyKey"], "reply": reply, "error": error})

    async def chat_abort(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("runId") == "refuse":
            return web.json_response({"error": "no such session"}, status=404)
        return web.json_response({"aborted": self.abort(str(body.get("runId")))})

    async def openai(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        message = body["messages"][-1]["content"] if "messages" in body else body["input"]
        run_id = message.split()[-1]
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)  # the answer has begun: its connection is what a disconnect closes
        if await self.turn(run_id, message, request) != "final":
            return response
        if "messages" in body:
            chunk = {"id": run_id, "choices": [{"index": 0, "delta": {"content": f"ECHO {message}"}}]}
            done = {"id": run_id, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            events = [chunk, done, "[DONE]"]
        else:
            events = [
                {"type": "response.output_text.delta", "delta": f"ECHO {message}"},
                {"type": "response.completed", "response": {"id": run_id, "output": []}},
            ]
        for event in events:
            await response.write(f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n".encode())
        return response

    # -- OpenClaw WebSocket ------------------------------------------------------

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 20)
        await ws.prepare(request)
        await ws.send_json({"type": "event", "event": "connect.challenge", "payload": {"nonce": "n", "ts": 0}})
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            frame = json.loads(message.data)
            task = asyncio.ensure_future(self.ws_request(ws, frame))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return ws

    async def ws_request(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        method, params, rid = frame.get("method"), frame.get("params") or {}, frame.get("id")
        if method == "connect":
            payload = {"type": "hello-ok", "protocol": 3, "auth": {"scopes": ["operator.write"]}}
            await ws.send_json({"type": "res", "id": rid, "ok": True, "payload": payload})
        elif method == "chat.send":
            run_id = params["idempotencyKey"]
            self.frames.append(("chat.send", run_id, False))
            self.runs[run_id] = Run(params["message"])
            self.runs[run_id].queue_mode = params.get("queueMode")  # type: ignore[attr-defined]
            turn = asyncio.ensure_future(self.turn(run_id, params["message"]))
            await asyncio.sleep(self.ack_delay)
            self.acked.add(run_id)
            await ws.send_json(
                {"type": "res", "id": rid, "ok": True, "payload": {"runId": run_id, "status": "started"}}
            )
            state = await turn
            if ws.closed:
                self.runs[run_id].gone_at = self.runs[run_id].gone_at or time.monotonic()
                return
            payload: dict[str, Any] = {"runId": run_id, "sessionKey": params["sessionKey"], "state": state}
            if state == "final":
                payload["message"] = {"role": "assistant", "content": [{"type": "text", "text": "ECHO"}]}
            await ws.send_json({"type": "event", "event": "chat", "payload": payload})
        elif method == "chat.abort":
            run_id = str(params.get("runId"))
            self.frames.append(("chat.abort", run_id, run_id in self.acked))
            if params.get("sessionKey") == "refuse":
                error = {"code": "INVALID_REQUEST", "message": "unknown session"}
                await ws.send_json({"type": "res", "id": rid, "ok": False, "error": error})
                return
            aborted = self.abort(run_id)
            answer = {"ok": True, "aborted": aborted, "runIds": [run_id] if aborted else []}
            await ws.send_json({"type": "res", "id": rid, "ok": True, "payload": answer})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.ws)
        app.router.add_post("/chat.send", self.chat_send)
        app.router.add_post("/chat.abort", self.chat_abort)
        app.router.add_post("/v1/chat/completions", self.openai)
        app.router.add_post("/v1/responses", self.openai)
        return app


@asynccontextmanager
async def stop_gateway(hold: float = 2.0, ack_delay: float = 0.0) -> AsyncIterator[StopGateway]:
    """The gateway on a free port of 127.0.0.1, for the length of the block."""
    gateway = StopGateway(hold=hold, ack_delay=ack_delay)
    runner = web.AppRunner(gateway.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    gateway.url = f"http://127.0.0.1:{port}"
    try:
        yield gateway
    finally:
        await runner.cleanup()
