"""The suite's test gateway for the declared transport: one small HTTP API in every shape an API file can declare.

    python declared_gateway.py --port P --provider-url URL [--require-token T] [--require-header 'Name: value']

Sessions are kept here (the whole history goes to the fake provider each turn); a session's turns queue behind
one another, as most agent servers do. The endpoints:

- ``POST /sessions`` (JSON) → ``{"data": {"id": "s-N"}}``: the session call; ``?fail=1`` answers 500.
- ``POST /json/{sid}`` with ``{"text": ...}`` → ``{"reply", "run", "error"}`` (a provider failure in ``error``).
- ``POST /form/{sid}``: the same, urlencoded (``message``, ``stream=true|false``, ``n`` an integer, ``tags``
  repeated ``a`` and ``b``; anything else is a 400), answered as ``/sse`` when ``stream=true``.
- ``POST /sse/{sid}``: ``event: meta`` (the run id) at once, then after the turn ``event: delta`` pieces (``d``,
  and the text so far in ``so_far``), ``event: done`` (the whole text in ``whole``), the tail, and
  ``data: [DONE]``; a provider failure is an ``event: error`` in the 200 stream.
- ``POST /ndjson/{sid}``: the same as ``{"type": ...}`` lines (``start``, ``delta``, ``text_done``, ``finish``).

Query switches on the send endpoints: ``tail_ms`` (the pause between the text-complete event and the stream's
end), ``busy`` (``reject``: a send while the session's turn runs is refused; ``hold``: also for ``hold_ms`` after
each reply), ``busy_status`` (409) and ``busy_text``, ``fault`` (``garbage``, ``cut``, ``silent``, ``headers``,
``huge``, ``late``) and ``fault_turn`` (only that turn of the session, default every one). A client-chosen session
id (one the gateway never made) is created on first use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from gateway_app import ChatSession, gateway_parser, readyz, serve

Writer = Callable[[str, dict[str, Any] | str], Awaitable[None]]


class Session:
    def __init__(self) -> None:
        self.history: list[dict[str, str]] = []
        self.lock = asyncio.Lock()
        self.turns = 0
        self.free_at = 0.0  # monotonic time the session takes a new message again (busy=hold)


class Gateway(ChatSession):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sessions: dict[str, Session] = {}
        self.made = 0
        self.runs = 0

    def log(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

    def refused(self, request: web.Request, send: bool = True) -> web.Response | None:
        for line in self.args.require_header if send else ():
            name, _, value = line.partition(":")
            if request.headers.get(name.strip()) != value.strip():
                return web.json_response({"error": f"missing header {name.strip()}"}, status=401)
        if self.args.require_token and request.headers.get("Authorization") != f"Bearer {self.args.require_token}":
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        return None

    async def make_session(self, request: web.Request) -> web.Response:
        refused = self.refused(request, send=False)
        if refused is not None:
            return refused
        if request.query.get("fail"):
            return web.json_response({"error": "cannot create a session right now"}, status=500)
        self.made += 1
        sid = f"s-{self.made}"
        self.sessions[sid] = Session()
        self.log(f"session {sid} created")
        return web.json_response({"data": {"id": sid}})

    def busy_answer(self, request: web.Request, session: Session) -> web.Response | None:
        mode = request.query.get("busy")
        running = session.lock.locked()
        held = mode == "hold" and time.monotonic() < session.free_at
        if mode in ("reject", "hold") and (running or held):
            status = int(request.query.get("busy_status", "409"))
            text = request.query.get("busy_text", "session already running")
            self.log(f"busy: refused a send ({status})")
            return web.json_response({"error": text, "reply": None}, status=status)
        return None

    async def turn(self, request: web.Request, session: Session, text: str) -> tuple[str | None, str | None]:
        """(answer, error): one turn, after the session's running turn (a queue)."""
        async with session.lock:
            session.history.append({"role": "user", "content": text})
            try:
                answer = await self.ask_provider(list(session.history))
            except Exception as exc:
                session.history.pop()
                return None, f"provider failed: {exc}"
            session.history.append({"role": "assistant", "content": answer})
            session.free_at = time.monotonic() + float(request.query.get("hold_ms", "0")) / 1000
            return answer, None

    def session_of(self, request: web.Request) -> Session:
        sid = request.match_info["sid"]
        return self.sessions.setdefault(sid, Session())  # a client-chosen id is created on first use

    def fault(self, request: web.Request, session: Session) -> str | None:
        fault = request.query.get("fault")
        wanted = request.query.get("fault_turn")
        return fault if fault and (wanted is None or int(wanted) == session.turns) else None

    # -- the send endpoints ----------------------------------------------------------------------------------

    async def json_send(self, request: web.Request) -> web.StreamResponse:
        refused = self.refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        return await self.answer_json(request, str(body["text"]))

    async def form_send(self, request: web.Request) -> web.StreamResponse:
        refused = self.refused(request)
        if refused is not None:
            return refused
        if request.content_type != "application/x-www-form-urlencoded":
            return web.json_response({"error": f"not a form: {request.content_type}"}, status=415)
        form = await request.post()
        problems = []
        if form.get("stream") not in ("true", "false"):
            problems.append(f"stream={form.get('stream')!r}")
        if not str(form.get("n", "")).isdigit():
            problems.append(f"n={form.get('n')!r}")
        if form.getall("tags", []) != ["a", "b"]:
            problems.append(f"tags={form.getall('tags', [])!r}")
        if problems:
            return web.json_response({"error": "bad form: " + ", ".join(problems)}, status=400)
        if form["stream"] == "true":
            return await self.answer_stream(request, str(form["message"]), "sse")
        return await self.answer_json(request, str(form["message"]))

    async def answer_json(self, request: web.Request, text: str) -> web.StreamResponse:
        session = self.session_of(request)
        busy = self.busy_answer(request, session)
        if busy is not None:
            return busy
        session.turns += 1
        self.runs += 1
        run = f"r-{self.runs}"
        answer, error = await self.turn(request, session, text)
        if self.fault(request, session) == "garbage":
            return web.Response(text="<html>gateway oops</html>", content_type="text/html")
        return web.json_response({"reply": answer, "run": run, "error": None if error is None else {"message": error}})

    async def sse_send(self, request: web.Request) -> web.StreamResponse:
        refused = self.refused(request)
        if refused is not None:
            return refused
        return await self.answer_stream(request, str((await request.json())["text"]), "sse")

    async def ndjson_send(self, request: web.Request) -> web.StreamResponse:
        refused = self.refused(request)
        if refused is not None:
            return refused
        return await self.answer_stream(request, str((await request.json())["text"]), "ndjson")

    async def answer_stream(self, request: web.Request, text: str, kind: str) -> web.StreamResponse:
        session = self.session_of(request)
        busy = self.busy_answer(request, session)
        if busy is not None:
            return busy
        session.turns += 1
        self.runs += 1
        run = f"r-{self.runs}"
        fault = self.fault(request, session)
        if fault == "garbage":
            answer, _ = await self.turn(request, session, text)
            return web.Response(text=f"<html>oops {answer}</html>", content_type="text/html")
        content_type = "text/event-stream" if kind == "sse" else "application/x-ndjson"
        response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
        await response.prepare(request)
        if fault == "headers":
            await asyncio.sleep(120)  # headers, then silence: the client times out
        write = self.writer(response, kind)
        await write("meta" if kind == "sse" else "start", {"run": run})
        if fault == "silent":
            await asyncio.sleep(120)
        answer, error = await self.turn(request, session, text)
        if error is not None:
            await write("error", {"message": error})  # an error inside the 200 stream
        else:
            assert answer is not None
            half = len(answer) // 2
            for piece, so_far in ((answer[:half], answer[:half]), (answer[half:], answer)):
                await write("delta", {"d": piece, "so_far": so_far})
            if fault == "cut":
                assert request.transport is not None
                request.transport.abort()  # the connection drops mid-answer
                return response
            if fault == "huge":
                await write("delta", {"d": "x" * (1100 * 1024)})
            await write("done" if kind == "sse" else "text_done", {"finish": "stop", "whole": answer})
            if fault == "late":
                await write("delta", {"d": " (late)"})
        await asyncio.sleep(float(request.query.get("tail_ms", "0")) / 1000)
        if kind == "sse":
            await response.write(b"data: [DONE]\n\n")
        else:
            await write("finish", {})
        await response.write_eof()
        return response

    @staticmethod
    def writer(response: web.StreamResponse, kind: str) -> Writer:
        async def write(name: str, data: dict[str, Any] | str) -> None:
            if kind == "sse":
                await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            else:
                await response.write(
                    (json.dumps({"type": name, **(data if isinstance(data, dict) else {})}) + "\n").encode()
                )

        return write


def main(argv: list[str]) -> int:
    parser = gateway_parser(__doc__)
    parser.add_argument("--require-token", default=None, help="every request must carry 'Authorization: Bearer T'")
    parser.add_argument(
        "--require-header", action="append", default=[], help="'Name: value' every send must carry, else 401"
    )
    args = parser.parse_args(argv)
    gateway = Gateway(args)
    app = web.Application()
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/sessions", gateway.make_session)
    app.router.add_post("/json/{sid}", gateway.json_send)
    app.router.add_post("/form/{sid}", gateway.form_send)
    app.router.add_post("/sse/{sid}", gateway.sse_send)
    app.router.add_post("/ndjson/{sid}", gateway.ndjson_send)
    serve(app, gateway, args.port, f"[declared gateway] ready on 127.0.0.1:{args.port}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
