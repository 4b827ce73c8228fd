"""The suite's ACP agent: the Agent Client Protocol (JSON-RPC 2.0, one message a line) over its stdin and stdout.

    python acp_agent.py [--provider-url URL] [--ask-permission] [--bug BUG]

``initialize``; ``session/new`` (a session keeps its conversation); ``session/prompt`` sends the conversation to
the fake provider (env ``REPLYRACE_PROVIDER_URL``), streams the reply as two ``agent_message_chunk`` updates and
answers ``stopReason: "end_turn"``; a session's prompts queue behind one another. ``session/cancel`` closes the
running prompt's provider call and the prompt answers ``"cancelled"``. ``--queue``: a prompt sent while one runs
is answered at once (``end_turn``, no text: queued for the next turn), and its turn's text streams after the
running one, answering no prompt. ``--ask-permission`` asks the client's
permission (``session/request_permission``) and reads a file (``fs/read_text_file``) before each turn; a refusal
makes the turn answer "permission denied". Its log is its stderr.

Planted bugs (the broken twins): ``forget`` (no conversation kept), ``garbage`` (a line that is not JSON on stdout
before each reply), ``double-answer`` (each prompt answered twice), ``cancel-end-turn`` (a cancelled prompt
answers ``end_turn``, breaking ACP's rule), ``never-init`` (never answers ``initialize``), ``queue-drops`` (with
``--queue``: a queued prompt is acknowledged and never run).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
from typing import Any

import aiohttp


def log(text: str) -> None:
    print(f"[acp agent] {text}", file=sys.stderr, flush=True)


def write(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


class Agent:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.histories: dict[str, list[dict[str, str]]] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.running: dict[str, asyncio.Task[str]] = {}
        self.ids = itertools.count(1)
        self.asked: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.http: aiohttp.ClientSession | None = None
        self.prompts: set[asyncio.Future[None]] = set()

    async def ask_provider(self, history: list[dict[str, str]]) -> str:
        if self.http is None:
            self.http = aiohttp.ClientSession(trust_env=False)
        body = {"model": "fake-model", "stream": False, "messages": history}
        async with self.http.post(f"{self.args.provider_url}/chat/completions", json=body) as response:
            text = await response.text()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {text[:200]}")
        return str(json.loads(text)["choices"][0]["message"]["content"])

    async def ask_client(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = 1000 + next(self.ids)
        self.asked[request_id] = asyncio.get_running_loop().create_future()
        write({"id": request_id, "method": method, "params": params})
        return await self.asked[request_id]

    async def handle(self, message: dict[str, Any]) -> None:
        method, request_id, params = message.get("method"), message.get("id"), message.get("params") or {}
        if method is None:  # the client's answer to one of our requests
            future = self.asked.pop(int(request_id), None) if request_id is not None else None
            if future is not None:
                future.set_result(message)
            return
        if method == "initialize":
            if self.args.bug == "never-init":
                log("loading the model weights (this takes forever)")
                return
            write({"id": request_id, "result": {"protocolVersion": 1, "agentCapabilities": {}, "authMethods": []}})
        elif method == "session/new":
            session_id = f"sess-{len(self.histories) + 1}"
            self.histories[session_id] = []
            log(f"session/new {session_id} in {params.get('cwd')}")
            write({"id": request_id, "result": {"sessionId": session_id}})
        elif method == "session/prompt":
            self.prompts.add(asyncio.ensure_future(self.prompt(request_id, params)))
        elif method == "session/cancel":
            task = self.running.get(str(params.get("sessionId")))
            log(f"session/cancel {params.get('sessionId')} ({'a prompt runs' if task else 'idle'})")
            if task is not None:
                task.cancel()
        else:
            write({"id": request_id, "error": {"code": -32601, "message": f"Method not found: {method}"}})

    async def turn(self, session_id: str, text: str) -> str:
        if self.args.ask_permission:
            call = {"toolCallId": "t1", "title": "read notes.txt", "kind": "read"}
            options = [
                {"optionId": "yes", "name": "Allow", "kind": "allow_once"},
                {"optionId": "no", "name": "Reject", "kind": "reject_once"},
            ]
            answer = await self.ask_client(
                "session/request_permission", {"sessionId": session_id, "toolCall": call, "options": options}
            )
            log(f"permission answer: {json.dumps(answer)}")
            if answer.get("result", {}).get("outcome", {}).get("optionId") != "yes":
                return f"permission denied for {text}"
            read = await self.ask_client("fs/read_text_file", {"sessionId": session_id, "path": "notes.txt"})
            log(f"fs/read_text_file answer: {json.dumps(read)}")
        history = self.histories[session_id]
        sent = [{"role": "user", "content": text}]
        answer_text = await self.ask_provider(sent if self.args.bug == "forget" else [*history, *sent])
        history += [*sent, {"role": "assistant", "content": answer_text}]
        return answer_text

    async def prompt(self, request_id: Any, params: dict[str, Any]) -> None:
        session_id = str(params.get("sessionId"))
        text = "".join(str(p.get("text", "")) for p in params.get("prompt", []) if isinstance(p, dict))
        lock = self.locks.setdefault(session_id, asyncio.Lock())
        if self.args.queue and lock.locked():  # queued for the next turn: acknowledged now, answered later
            log(f"prompt {request_id} queued for the next turn")
            write({"id": request_id, "result": {"stopReason": "end_turn"}})
            if self.args.bug == "queue-drops":
                return  # acknowledged, and never run
            request_id = None
        async with lock:
            task = self.running[session_id] = asyncio.ensure_future(self.turn(session_id, text))
            try:
                answer = await task
            except asyncio.CancelledError:
                reason = "end_turn" if self.args.bug == "cancel-end-turn" else "cancelled"
                write({"id": request_id, "result": {"stopReason": reason}})
                return
            except Exception as exc:
                write({"id": request_id, "error": {"code": -32603, "message": f"provider failed: {exc}"}})
                return
            finally:
                self.running.pop(session_id, None)
            if self.args.bug == "garbage":
                sys.stdout.write("Loaded 3 tools from the config\n")
            half = len(answer) // 2
            for piece in (answer[:half], answer[half:]):
                update = {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": piece}}
                write({"method": "session/update", "params": {"sessionId": session_id, "update": update}})
            if request_id is not None:
                write({"id": request_id, "result": {"stopReason": "end_turn"}})
            if self.args.bug == "double-answer":
                write({"id": request_id, "result": {"stopReason": "end_turn"}})


async def serve(agent: Agent) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=8 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    log(f"ready for initialize (pid {os.getpid()})")
    while line := await reader.readline():
        try:
            message = json.loads(line)
        except ValueError:
            log(f"not JSON from the client: {line[:200]!r}")
            continue
        await agent.handle(message)
    log("stdin closed: exiting")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--provider-url", default=os.environ.get("REPLYRACE_PROVIDER_URL", ""))
    parser.add_argument("--ask-permission", action="store_true")
    parser.add_argument(
        "--queue", action="store_true", help="a prompt sent while one runs is queued (answered at once)"
    )
    parser.add_argument(
        "--bug",
        choices=("forget", "garbage", "double-answer", "cancel-end-turn", "never-init", "queue-drops"),
    )
    asyncio.run(serve(Agent(parser.parse_args(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
