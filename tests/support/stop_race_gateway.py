"""The suite's stop-capable gateway: the replyrace HTTP contract with ``POST /chat.abort``, one turn at a time
per session (a queue), the conversation kept and sent to the fake provider, and one switch per way a stop or a
disconnect goes wrong.

    python stop_race_gateway.py --port P --provider-url URL [--flaw NAME] [--on-disconnect continue|cancel]
                                [--busy queue|reject]

Correct (no ``--flaw``): a stop cancels the turn's task, which closes its model call, answers
``{"aborted": true}``, and the stopped message is never run nor stored; a message stopped while it waits in
the queue is taken out of it. A client that goes away mid-answer: with ``--on-disconnect continue`` (the
default) its turn runs to its end and is stored; with ``cancel`` it is cancelled as by a stop. A message that
arrives while its session's turn runs waits for it (``--busy queue``, the default) or is refused with HTTP 409
(``--busy reject``). The flaws:

- ``ignore``: the stop is answered ``{"aborted": true}`` and nothing is cancelled: the reply is delivered;
- ``refuse``: the stop is answered ``{"aborted": false}`` and the turn runs on;
- ``keep-model-open``: the stop is acknowledged and the client's answer ends, but the model call is left to
  run to its end (its reply thrown away);
- ``call-again``: the stop cancels the turn, and the gateway calls the model for the stopped message again
  200 ms later (a retry that forgot the stop);
- ``fold-stopped``: the stop cancels the turn, but the stopped message stays pending and is folded into the
  next turn's message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass, field

from aiohttp import web
from gateway_app import ProviderSession, serve

FLAWS = ("ignore", "refuse", "keep-model-open", "call-again", "fold-stopped")
STOPPED = "run stopped by the client"
POLL = 0.005


@dataclass
class Session:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    history: list[tuple[str, str]] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)


@dataclass
class Turn:
    key: str
    message: str
    task: asyncio.Task[str | None] | None = None
    stopped: bool = False


class Gateway(ProviderSession):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sessions: dict[str, Session] = {}
        self.turns: dict[str, Turn] = {}
        self.background: set[asyncio.Task[object]] = set()

    def spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def readyz(self, request: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    async def ask(self, key: str, message: str) -> str:
        assert self.http is not None
        messages = []
        for user, reply in self.sessions[key].history:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
        messages.append({"role": "user", "content": message})
        body = {"model": "fake-model", "stream": False, "messages": messages}
        async with self.http.post(f"{self.args.provider_url}/chat/completions", json=body) as response:
            data = await response.json()
        return str(data["choices"][0]["message"]["content"])

    async def run_turn(self, turn: Turn) -> str | None:
        session = self.sessions[turn.key]
        async with session.lock:
            if turn.stopped:
                return None  # stopped while it waited: never run
            message = "\n".join([*session.folded, turn.message])
            session.folded.clear()
            reply = await self.ask(turn.key, message)
            if turn.stopped and self.args.flaw == "keep-model-open":
                return None  # the reply of a stopped turn, thrown away
            session.history.append((message, reply))
            return reply

    async def chat_send(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        key, message, run_id = body["sessionKey"], body["message"], body["idempotencyKey"]
        session = self.sessions.setdefault(key, Session())
        if self.args.busy == "reject" and session.lock.locked():
            return web.json_response({"runId": run_id, "error": "busy: a turn is running"}, status=409)
        turn = self.turns[run_id] = Turn(key, message)
        turn.task = asyncio.ensure_future(self.run_turn(turn))
        deadline = time.monotonic() + 60
        while not turn.task.done() and time.monotonic() < deadline:  # bounded
            if request.transport is None or request.transport.is_closing():
                if self.args.on_disconnect == "cancel":
                    turn.task.cancel()
                else:
                    self.spawn(turn.task)  # runs on, and stores its turn
                return web.Response(status=499)
            if turn.stopped and self.args.flaw == "keep-model-open":
                break
            await asyncio.sleep(POLL)
        if turn.stopped or turn.task.cancelled():
            return web.json_response({"runId": run_id, "reply": None, "error": STOPPED})
        try:
            reply = await turn.task
        except Exception as exc:  # the provider failed: an honest error
            return web.json_response({"runId": run_id, "reply": None, "error": f"provider failed: {exc!r}"})
        return web.json_response({"runId": run_id, "reply": reply, "error": None})

    async def chat_abort(self, request: web.Request) -> web.Response:
        body = await request.json()
        turn = self.turns.get(body.get("runId", ""))
        if turn is None or turn.task is None or turn.task.done():
            return web.json_response({"aborted": False})
        flaw = self.args.flaw
        if flaw in ("ignore", "refuse"):
            return web.json_response({"aborted": flaw == "ignore"})
        turn.stopped = True
        if flaw == "keep-model-open":
            return web.json_response({"aborted": True})
        turn.task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(turn.task), 1.0)
        if flaw == "call-again":
            self.spawn(self.again(turn))
        elif flaw == "fold-stopped":
            self.sessions[turn.key].folded.append(turn.message)
        return web.json_response({"aborted": True})

    async def again(self, turn: Turn) -> None:
        await asyncio.sleep(0.2)
        with contextlib.suppress(Exception):
            await self.ask(turn.key, turn.message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("REPLYRACE_GATEWAY_PORT", "0")))
    parser.add_argument("--provider-url", default=os.environ.get("REPLYRACE_PROVIDER_URL", ""))
    parser.add_argument("--flaw", choices=FLAWS, default=None)
    parser.add_argument("--on-disconnect", choices=("continue", "cancel"), default="continue")
    parser.add_argument("--busy", choices=("queue", "reject"), default="queue")
    args = parser.parse_args()
    gateway = Gateway(args)
    app = web.Application()
    app.router.add_get("/readyz", gateway.readyz)
    app.router.add_post("/chat.send", gateway.chat_send)
    app.router.add_post("/chat.abort", gateway.chat_abort)
    serve(app, gateway, args.port, f"stop race gateway on 127.0.0.1:{args.port} " + json.dumps(vars(args)))


if __name__ == "__main__":
    main()
