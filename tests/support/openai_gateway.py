"""The suite's OpenAI-style test gateway: server-side sessions behind
``POST /v1/chat/completions`` and ``POST /v1/responses``, as nanobot-ai and
OpenClaw's HTTP API keep them.

    python openai_gateway.py --port P --provider-url URL [options]

A client sends only the new user message and names the session in a header,
a body field, a ``conversation`` or a ``previous_response_id``; the gateway
keeps the history and sends the whole conversation to the fake provider.
Switches make it corrupt that history (``--history``), or answer a send that
finds the session's turn still held with a busy reply (``--hold-guard-ms``,
``--busy``), so a real process produces each letter.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from aiohttp import web
from gateway_app import ProviderSession, serve

BUSY_TEXT = "Session is busy with another turn; try again in a moment."
HISTORY_MODES = ("correct", "none", "duplicate", "drop", "reorder")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("REPLYRACE_GATEWAY_PORT", "0")))
    parser.add_argument("--provider-url", default=os.environ.get("REPLYRACE_PROVIDER_URL", ""))
    parser.add_argument("--session-header", default=None, help="read the session key from this header")
    parser.add_argument("--session-field", default=None, help="read the session key from this body field")
    parser.add_argument(
        "--history",
        choices=HISTORY_MODES,
        default="correct",
        help="correct; none (send only the new turn); duplicate (store the turn, then append it "
        "again); drop (forget the first turn); reorder (newest turns first)",
    )
    parser.add_argument(
        "--hold-guard-ms", type=float, default=0.0, help="keep the session's turn guard this long after each reply"
    )
    parser.add_argument(
        "--busy",
        default="canned",
        help="answer to a send that finds the guard held: canned "
        "(a 200 with the busy text) or an HTTP status such as 409",
    )
    parser.add_argument(
        "--require-header", action="append", default=[], help="'Name: value' every request must carry, else 401"
    )
    parser.add_argument("--config", default=None, help="a JSON file with 'port' and 'provider_url' (overrides)")
    return parser.parse_args(argv)


class Sessions(ProviderSession):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.history: dict[str, list[dict[str, str]]] = {}
        self.guards: dict[str, float] = {}  # session key -> monotonic time the guard is released (inf: held)
        self.response_sessions: dict[str, str] = {}  # response id -> session key
        self.dropped: set[str] = set()
        self.count = 0

    def log(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

    def refused(self, request: web.Request) -> web.Response | None:
        for line in self.args.require_header:
            name, _, value = line.partition(":")
            if request.headers.get(name.strip()) != value.strip():
                return web.json_response({"error": {"message": f"missing header {name.strip()}"}}, status=401)
        return None

    def session_of(self, request: web.Request, body: dict[str, Any]) -> str | None:
        if self.args.session_header and request.headers.get(self.args.session_header):
            return request.headers[self.args.session_header]
        if self.args.session_field and isinstance(body.get(self.args.session_field), str):
            return str(body[self.args.session_field])
        return None

    def messages_for(self, key: str, text: str) -> list[dict[str, str]]:
        """What the provider gets for this turn, per --history."""
        turn = {"role": "user", "content": text}
        stored = self.history.setdefault(key, [])
        mode = self.args.history
        if mode == "none":
            return [turn]
        if mode == "duplicate":
            stored.append(turn)  # stored first, then appended again below
        if mode == "reorder":
            pairs = [stored[i : i + 2] for i in range(0, len(stored), 2)]
            return [m for pair in reversed(pairs) for m in pair] + [turn]
        return [*stored, turn]

    def remember(self, key: str, text: str, answer: str) -> None:
        mode, stored = self.args.history, self.history.setdefault(key, [])
        if mode == "none" or (mode == "drop" and key not in self.dropped):
            self.dropped.add(key)  # drop: the session's first turn is forgotten
            return
        if mode != "duplicate":
            stored.append({"role": "user", "content": text})
        stored.append({"role": "assistant", "content": answer})

    async def turn(self, key: str, text: str) -> str | web.Response:
        """One turn: the answer text, or the busy reply when the session's guard is held."""
        self.count += 1
        self.log(f"turn #{self.count} session={key}")
        if self.guards.get(key, 0.0) > time.monotonic():
            self.log(f"session {key} is busy: refused turn #{self.count}")
            if self.args.busy == "canned":
                return BUSY_TEXT
            return web.json_response({"error": {"message": BUSY_TEXT, "type": "busy"}}, status=int(self.args.busy))
        self.guards[key] = float("inf")
        try:
            answer = await self.ask_provider(self.messages_for(key, text))
        except Exception as exc:
            self.guards[key] = 0.0
            return web.json_response({"error": {"message": f"provider failed: {exc!r}"}}, status=502)
        self.remember(key, text, answer)
        self.guards[key] = time.monotonic() + self.args.hold_guard_ms / 1000
        return answer

    async def ask_provider(self, messages: list[dict[str, str]]) -> str:
        assert self.http is not None
        body = {"model": "fake-model", "stream": False, "messages": messages}
        async with self.http.post(f"{self.args.provider_url}/chat/completions", json=body) as response:
            data = await response.json()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {data}")
        return str(data["choices"][0]["message"]["content"])

    async def chat(self, request: web.Request) -> web.StreamResponse:
        refused = self.refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        key = self.session_of(request, body)
        if key is None:
            return web.json_response({"error": {"message": "no session named"}}, status=400)
        answer = await self.turn(key, str(body["messages"][-1]["content"]))
        if isinstance(answer, web.Response):
            return answer
        if body.get("stream"):
            chunks = [
                {"id": "chatcmpl-gw", "choices": [{"index": 0, "delta": {"content": piece}}]}
                for piece in (answer[: len(answer) // 2], answer[len(answer) // 2 :])
            ]
            chunks.append({"id": "chatcmpl-gw", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            return await sse(request, chunks, done=True)
        return web.json_response(
            {
                "id": "chatcmpl-gw",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            }
        )

    async def responses(self, request: web.Request) -> web.StreamResponse:
        refused = self.refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        previous = body.get("previous_response_id")
        key = (
            (self.response_sessions.get(previous) if isinstance(previous, str) else None)
            or (body["conversation"] if isinstance(body.get("conversation"), str) else None)
            or self.session_of(request, body)
            or f"fresh-{self.count + 1}"
        )
        answer = await self.turn(key, str(body["input"]))
        if isinstance(answer, web.Response):
            return answer
        response_id = f"resp_{self.count}"
        self.response_sessions[response_id] = key
        whole = {
            "id": response_id,
            "object": "response",
            "status": "completed",
            "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": answer}]}],
        }
        if body.get("stream"):
            events = [
                {"type": "response.created", "response": {"id": response_id, "status": "in_progress"}},
                {"type": "response.output_text.delta", "delta": answer},
                {"type": "response.completed", "response": whole},
            ]
            return await sse(request, events, done=False)
        return web.json_response(whole)

    async def readyz(self, request: web.Request) -> web.Response:
        return web.json_response({"ready": True})


async def sse(request: web.Request, events: list[dict[str, Any]], *, done: bool) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for event in events:
        await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")
    if done:
        await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.config:
        # A gateway that reads its port and provider from a config file (the gateway_files feature).
        with open(args.config, encoding="utf-8") as handle:
            config = json.load(handle)
        args.port, args.provider_url = int(config["port"]), str(config["provider_url"])
    sessions = Sessions(args)
    app = web.Application()
    app.router.add_get("/readyz", sessions.readyz)
    app.router.add_post("/v1/chat/completions", sessions.chat)
    app.router.add_post("/v1/responses", sessions.responses)
    serve(app, sessions, args.port, f"[openai gateway] ready on 127.0.0.1:{args.port} history={args.history}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
