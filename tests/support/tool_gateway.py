"""The suite's tool-loop gateway: the replyrace HTTP contract (``POST /chat.send``), and each turn a tool loop
against the fake provider in any of its APIs, as an agent runs one.

    python tool_gateway.py --port P --provider-url URL [--provider-api API] [--stream] [options]

A turn offers one tool (``clock``); while the provider answers with a tool call the gateway runs it (the
time) and calls the provider again with the result, up to ``--max-steps`` calls; the text is the reply.
Switches make it answer a tool call twice (``--answer-twice-on``), leave the result out
(``--drop-result-on``) or answer a call it was never given (``--wrong-id-on``), on the calls numbered.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from aiohttp import web
from gateway_app import ProviderSession, serve
from tool_agent import APIS, Answer, ask, first_body, follow_up  # siblings: the script's folder is on sys.path


def call_numbers(text: str) -> set[int]:
    try:
        return {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected call numbers such as 2 or 2,4") from None


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("REPLYRACE_GATEWAY_PORT", "0")))
    parser.add_argument("--provider-url", default=os.environ.get("REPLYRACE_PROVIDER_URL", ""))
    parser.add_argument("--provider-api", choices=APIS, default="openai-chat")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--max-steps", type=int, default=5)
    parser.add_argument("--answer-twice-on", type=call_numbers, default=set())
    parser.add_argument("--drop-result-on", type=call_numbers, default=set())
    parser.add_argument("--wrong-id-on", type=call_numbers, default=set())
    return parser.parse_args(argv)


class Gateway(ProviderSession):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.count = 0
        self.root = args.provider_url.rstrip("/").removesuffix("/v1")

    async def readyz(self, request: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    async def turn(self, n: int, message: str) -> str:
        assert self.http is not None
        api = self.args.provider_api
        body = first_body(api, message, self.args.stream)
        for _ in range(max(1, min(self.args.max_steps, 20))):  # bounded: a model that never stops calling tools
            answer = await ask(self.http, self.root, api, body)
            if answer.status != 200:
                raise RuntimeError(f"provider answered HTTP {answer.status}")
            if answer.kind != "tool":
                return answer.text
            print(f"call #{n}: tool {answer.name} {answer.call_id} {answer.arguments}", flush=True)
            result = f"the time is {time.strftime('%H:%M:%S')}"
            results = [result, result] if n in self.args.answer_twice_on else [result]
            if n in self.args.drop_result_on:
                results = []
            if n in self.args.wrong_id_on:
                answer = Answer(**{**answer.__dict__, "call_id": "call_never_issued"})
            body = follow_up(api, body, answer, results)
        raise RuntimeError(f"no text after {self.args.max_steps} model calls")

    async def chat_send(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            message, run_id = body["message"], body["idempotencyKey"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            return web.json_response({"error": f"bad request: {exc!r}"}, status=400)
        self.count += 1
        try:
            text = await self.turn(self.count, message)
        except Exception as exc:
            return web.json_response({"runId": run_id, "reply": None, "error": f"model run failed: {exc!r}"})
        return web.json_response({"runId": run_id, "reply": text, "error": None})


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    gateway = Gateway(args)
    app = web.Application()
    app.router.add_get("/readyz", gateway.readyz)
    app.router.add_post("/chat.send", gateway.chat_send)
    serve(app, gateway, args.port, f"[tool gateway] ready on 127.0.0.1:{args.port}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
