"""The suite's small AG-UI server, for the built-in ``agui`` API file: POST a ``RunAgentInput``, an SSE answer.

    python agui_gateway.py --port P --provider-url URL [--history client|server] [--bug BUG]

Events: ``RUN_STARTED``, ``TEXT_MESSAGE_START``, two ``TEXT_MESSAGE_CONTENT`` deltas, ``TEXT_MESSAGE_END``,
``RUN_FINISHED``; a provider failure is a ``RUN_ERROR``. Two kinds of history, as AG-UI servers have them:

- ``client`` (the default): the server keeps nothing; the client sends the whole conversation in ``messages``
  (the built-in file's ``{history}``), and the run sends it all to the fake provider.
- ``server``: the server keeps each thread (by ``threadId``), its runs queue behind one another, and only the
  input's last message is new (a file that sends one message per run).

Planted bugs (the broken twins): ``last-only`` (client kind: the run sends only the input's last message, the
history the client sent is dropped); ``thread-per-run`` (server kind: the thread is kept under the run id, so
every run starts an empty conversation).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from aiohttp import web
from gateway_app import ChatSession, end_stream, gateway_parser, readyz, serve


class Gateway(ChatSession):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.threads: dict[str, list[dict[str, str]]] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    async def turn(self, body: dict[str, Any]) -> str:
        messages = [
            {"role": str(m["role"]), "content": str(m.get("content", ""))}
            for m in body.get("messages", [])
            if m.get("role") in ("user", "assistant")
        ]
        if self.args.history == "client":
            return await self.ask_provider(messages[-1:] if self.args.bug == "last-only" else messages)
        key = str(body["runId"] if self.args.bug == "thread-per-run" else body["threadId"])
        async with self.locks.setdefault(key, asyncio.Lock()):
            thread = self.threads.setdefault(key, [])
            new = messages[-1:]
            answer = await self.ask_provider([*thread, *new])
            thread += [*new, {"role": "assistant", "content": answer}]
            return answer

    async def run(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not isinstance(body.get("messages"), list) or "threadId" not in body or "runId" not in body:
            return web.json_response({"detail": "not a RunAgentInput"}, status=422)
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(event: dict[str, Any]) -> None:
            await response.write(f"data: {json.dumps(event)}\n\n".encode())

        ids = {"threadId": body["threadId"], "runId": body["runId"]}
        await send({"type": "RUN_STARTED", **ids})
        try:
            answer = await self.turn(body)
        except Exception as exc:
            await send({"type": "RUN_ERROR", "message": f"provider failed: {exc}"})
        else:
            message_id = f"{body['runId']}-reply"
            await send({"type": "TEXT_MESSAGE_START", "messageId": message_id, "role": "assistant"})
            half = len(answer) // 2
            for delta in (answer[:half], answer[half:]):
                await send({"type": "TEXT_MESSAGE_CONTENT", "messageId": message_id, "delta": delta})
            await send({"type": "TEXT_MESSAGE_END", "messageId": message_id})
            await send({"type": "RUN_FINISHED", **ids})
        return await end_stream(response)


def main(argv: list[str]) -> int:
    parser = gateway_parser(__doc__)
    parser.add_argument("--history", choices=("client", "server"), default="client")
    parser.add_argument("--bug", choices=("last-only", "thread-per-run"), default=None)
    args = parser.parse_args(argv)
    gateway = Gateway(args)
    app = web.Application()
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/", gateway.run)
    app.router.add_post("/agent", gateway.run)
    serve(
        app, gateway, args.port, f"[agui gateway] ready on 127.0.0.1:{args.port} (history kept by the {args.history})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
