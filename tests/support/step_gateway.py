"""The suite's multi-step gateway: correct shapes the plugin must never cry wolf on, and their broken twins.

    python step_gateway.py --port P --provider-url URL --mode MODE [--drop-turn N] [--note-ms MS]

An OpenAI chat gateway (``POST /v1/chat/completions``, the session in the ``user`` field, streamed when asked)
that keeps each session's conversation and sends it whole to the fake provider. Modes:

- ``two-step``: a turn is the reply, then a note step: a second model call whose prompt quotes the reply as a
  *user* message (``For context: [responder] said: …``), as frameworks that pass one agent's output to another
  do. The note's text is streamed after the reply's ``finish_reason`` chunk, in the same answer. The session's
  next turn waits for the whole turn (the note included). Correct.
- ``two-step-stale`` (broken): the same, but when the session's next message arrived while the note step ran,
  the note step fails with an error event inside the 200 stream, after the reply (a stale-session write).
- ``steer-empty``: a message sent while the session's turn runs is folded into that turn (the turn's model is
  called again with it), and its own request is answered with an empty 200 completion when the turn ends.
  Correct under ``busy_policy="steer"``.
- ``drop`` (broken): queues like ``two-step`` without the note, but turn ``--drop-turn`` of a session is accepted
  (headers and a first role chunk) and then never answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from aiohttp import web
from gateway_app import ProviderSession, serve

MODES = ("two-step", "two-step-stale", "steer-empty", "drop")
DROP_HOLD_S = 30.0
"""How long a dropped answer stays open (bounded: the client gives up long before)."""


class Session:
    def __init__(self) -> None:
        self.history: list[dict[str, str]] = []
        self.lock = asyncio.Lock()
        self.arrived = 0
        """Messages that arrived on this session, the running one included."""
        self.folded: list[str] = []
        """steer-empty: messages folded into the running turn, not yet given to the model."""
        self.running: asyncio.Event | None = None
        """steer-empty: set when the running turn ends."""


class Gateway(ProviderSession):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sessions: dict[str, Session] = {}
        self.runs = 0

    def log(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

    async def model(self, messages: list[dict[str, str]]) -> str:
        """One model call to the fake provider: its text, or a RuntimeError with its error."""
        assert self.http is not None
        url = self.args.provider_url.rstrip("/") + "/chat/completions"
        async with self.http.post(url, json={"model": "fake", "messages": messages, "stream": False}) as response:
            body = await response.json(content_type=None)
        if response.status != 200:
            raise RuntimeError(f"provider HTTP {response.status}")
        return str(body["choices"][0]["message"]["content"] or "")

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        key = str(body.get("user") or "default")
        text = str(body["messages"][-1]["content"])
        session = self.sessions.setdefault(key, Session())
        session.arrived += 1
        turn = session.arrived
        self.runs += 1
        run_id = f"chatcmpl-{self.runs}"
        self.log(f"turn {turn} of {key}: {text[:60]!r}")
        if self.args.mode == "steer-empty" and session.running is not None:
            session.folded.append(text)  # folded into the running turn; its own answer is empty at the turn's end
            await session.running.wait()
            return web.json_response(_completion(run_id, ""))
        stream = StreamOut(request, run_id) if body.get("stream") else None
        if stream is not None:
            await stream.start()  # the headers and a first role chunk: the answer was accepted
        if self.args.mode == "drop" and turn == self.args.drop_turn:
            await asyncio.sleep(DROP_HOLD_S)  # accepted, then never answered
            return stream.response if stream is not None else web.json_response(_completion(run_id, ""))
        async with session.lock:
            return await self.turn(session, turn, text, stream, run_id)

    async def turn(
        self, session: Session, turn: int, text: str, stream: StreamOut | None, run_id: str
    ) -> web.StreamResponse:
        mode = self.args.mode
        if mode == "steer-empty":
            session.running = asyncio.Event()
        try:
            messages = [*session.history, {"role": "user", "content": text}]
            reply = await self.model(messages)
            while mode == "steer-empty" and session.folded:  # the turn answers the folded messages too
                messages += [{"role": "user", "content": m} for m in session.folded]
                session.folded = []
                reply = await self.model(messages)
        except RuntimeError as exc:
            if stream is None:
                return web.json_response({"error": {"message": str(exc)}})
            await stream.error(str(exc))
            return await stream.done()
        finally:
            if session.running is not None:
                session.running.set()
                session.running = None
        session.history = [*messages, {"role": "assistant", "content": reply}]
        if stream is None:
            return web.json_response(_completion(run_id, reply))
        await stream.text(reply)
        await stream.finish()
        if mode.startswith("two-step"):
            await self.note_step(session, turn, reply, stream)
        return await stream.done()

    async def note_step(self, session: Session, turn: int, reply: str, stream: StreamOut) -> None:
        """The turn's second model step: a note taker given the reply as a user message, streamed after the
        reply's finish chunk. The broken twin fails it when the next message arrived meanwhile."""
        quote = [*session.history, {"role": "user", "content": f"For context: [responder] said: {reply}"}]
        note = await self.model(quote)
        await asyncio.sleep(self.args.note_ms / 1000)
        if self.args.mode == "two-step-stale" and session.arrived > turn:
            await stream.error("stale session: the note could not be saved (the session moved on)")
            return
        await stream.text(f" [note: {note}]")


def _completion(run_id: str, text: str) -> dict[str, Any]:
    return {
        "id": run_id,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }


class StreamOut:
    """One streamed chat completion, written chunk by chunk."""

    def __init__(self, request: web.Request, run_id: str) -> None:
        self.request = request
        self.run_id = run_id
        self.response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})

    async def _chunk(self, data: dict[str, Any] | str) -> None:
        line = data if isinstance(data, str) else json.dumps(data)
        await self.response.write(f"data: {line}\n\n".encode())

    async def start(self) -> None:
        await self.response.prepare(self.request)
        await self._chunk(self._delta({"role": "assistant"}))

    def _delta(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": self.run_id, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    async def text(self, text: str) -> None:
        await self._chunk(self._delta({"content": text}))

    async def finish(self) -> None:
        await self._chunk(self._delta({}, "stop"))

    async def error(self, message: str) -> None:
        await self._chunk({"error": {"message": message}})

    async def done(self) -> web.StreamResponse:
        await self._chunk("[DONE]")
        await self.response.write_eof()
        return self.response


async def readyz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--provider-url", required=True)
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--drop-turn", type=int, default=2)
    parser.add_argument("--note-ms", type=int, default=60)
    args = parser.parse_args()
    gateway = Gateway(args)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", gateway.chat)
    app.router.add_get("/readyz", readyz)
    serve(app, gateway, args.port, f"step gateway ({args.mode}) on 127.0.0.1:{args.port}")


if __name__ == "__main__":
    main()
