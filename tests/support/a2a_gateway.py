"""The suite's small A2A server (JSON-RPC 2.0 over HTTP), for the built-in ``a2a`` API file.

    python a2a_gateway.py --port P --provider-url URL [--wire 0.3|1.0] [--bug forget|cancel-ignored]

``message/stream`` answers an SSE stream: the task, a ``working`` status, the reply as two artifact chunks and
the whole artifact again (``append: false``, as fasta2a ends), then the ``completed`` status (``final``); a provider failure is a ``failed`` status. A conversation is its
``contextId``: its turns queue behind one another and each sends the whole conversation to the fake provider.
``tasks/cancel`` cancels a running task (its provider call is closed, its stream ends ``canceled``) and answers
the task; a task that ended is not cancelable (JSON-RPC error -32002). It answers at ``/`` and at
``/a2a/{assistant}``. ``--wire 1.0`` speaks A2A 1.0's shapes (``{"statusUpdate": ...}``, ``TASK_STATE_*``).

Planted bugs (the broken twins): ``forget`` keeps no conversation (each turn sends only its own message);
``cancel-ignored`` answers a cancel ``canceled`` but lets the task run on and deliver its reply.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from aiohttp import web
from gateway_app import ChatSession, end_stream, gateway_parser, readyz, serve

STATES_1_0 = {"submitted": "TASK_STATE_SUBMITTED", "working": "TASK_STATE_WORKING"}
STATES_1_0.update(completed="TASK_STATE_COMPLETED", failed="TASK_STATE_FAILED", canceled="TASK_STATE_CANCELED")


class Task:
    def __init__(self, task_id: str, context_id: str) -> None:
        self.id = task_id
        self.context_id = context_id
        self.state = "submitted"
        self.work: asyncio.Task[str] | None = None

    @property
    def ended(self) -> bool:
        return self.state in ("completed", "failed", "canceled")


class Gateway(ChatSession):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.histories: dict[str, list[dict[str, str]]] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.tasks: dict[str, Task] = {}

    def log(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

    # -- the wire ------------------------------------------------------------------------------------------------

    def state(self, state: str) -> str:
        return STATES_1_0[state] if self.args.wire == "1.0" else state

    def part(self, text: str) -> dict[str, str]:
        return {"text": text} if self.args.wire == "1.0" else {"kind": "text", "text": text}

    def task_result(self, task: Task) -> dict[str, Any]:
        body = {"id": task.id, "contextId": task.context_id, "status": {"state": self.state(task.state)}}
        return {"task": body} if self.args.wire == "1.0" else {"kind": "task", **body}

    def status_result(self, task: Task, final: bool, message: str | None = None) -> dict[str, Any]:
        status: dict[str, Any] = {"state": self.state(task.state)}
        if message is not None:
            status["message"] = {"role": "agent", "messageId": f"{task.id}-m", "parts": [self.part(message)]}
        body = {"taskId": task.id, "contextId": task.context_id, "status": status}
        if self.args.wire == "1.0":
            return {"statusUpdate": body}
        return {"kind": "status-update", **body, "final": final}

    def artifact_result(self, task: Task, text: str, append: bool, last: bool) -> dict[str, Any]:
        artifact = {"artifactId": f"{task.id}-a", "parts": [self.part(text)]}
        body = {"taskId": task.id, "contextId": task.context_id, "artifact": artifact, "append": append}
        if self.args.wire == "1.0":
            return {"artifactUpdate": {**body, "lastChunk": last}}
        return {"kind": "artifact-update", **body, "lastChunk": last}

    # -- the provider ----------------------------------------------------------------------------------------------

    async def turn(self, task: Task, text: str) -> str:
        """One turn, after the conversation's running one; the reply joins the conversation when it completes."""
        async with self.locks.setdefault(task.context_id, asyncio.Lock()):
            history = self.histories.setdefault(task.context_id, [])
            sent = [{"role": "user", "content": text}]
            if self.args.bug != "forget":
                sent = [*history, *sent]
            answer = await self.ask_provider(sent)
            history += [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]
            return answer

    # -- JSON-RPC ----------------------------------------------------------------------------------------------

    async def rpc(self, request: web.Request) -> web.StreamResponse:
        try:
            call = await request.json()
            method, params, rpc_id = call["method"], call.get("params", {}), call.get("id")
        except (ValueError, KeyError, TypeError):
            return web.json_response({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "bad"}})
        if method == "message/stream":
            return await self.stream(request, rpc_id, params["message"])
        if method == "tasks/cancel":
            return web.json_response({"jsonrpc": "2.0", "id": rpc_id, **self.cancel(str(params.get("id")))})
        error = {"code": -32601, "message": f"Method not found: {method}"}
        return web.json_response({"jsonrpc": "2.0", "id": rpc_id, "error": error})

    def cancel(self, task_id: str) -> dict[str, Any]:
        task = self.tasks.get(task_id)
        if task is None:
            return {"error": {"code": -32001, "message": f"Task not found: {task_id}"}}
        if task.ended:
            return {"error": {"code": -32002, "message": f"Task cannot be canceled: it is {task.state}"}}
        self.log(f"cancel {task_id} ({task.state})")
        if self.args.bug != "cancel-ignored" and task.work is not None:
            task.work.cancel()
        answer = self.task_result(task)
        answer.get("task", answer)["status"] = {"state": self.state("canceled")}
        if self.args.bug != "cancel-ignored":
            task.state = "canceled"
        return {"result": answer}

    async def stream(self, request: web.Request, rpc_id: Any, message: dict[str, Any]) -> web.StreamResponse:
        text = "".join(str(p.get("text", "")) for p in message.get("parts", []))
        task = Task(f"t-{len(self.tasks) + 1}", str(message.get("contextId") or "ctx-default"))
        self.tasks[task.id] = task
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(result: dict[str, Any]) -> None:
            await response.write(f"data: {json.dumps({'jsonrpc': '2.0', 'id': rpc_id, 'result': result})}\n\n".encode())

        await send(self.task_result(task))
        task.state = "working"
        await send(self.status_result(task, final=False))
        task.work = asyncio.ensure_future(self.turn(task, text))
        try:
            answer = await task.work
        except asyncio.CancelledError:
            if not task.work.cancelled():
                raise  # the handler itself is cancelled (the client went away)
            await send(self.status_result(task, final=True))
            return await end_stream(response)
        except Exception as exc:
            task.state = "failed"
            await send(self.status_result(task, final=True, message=f"provider failed: {exc}"))
            return await end_stream(response)
        half = len(answer) // 2  # two chunks, then the whole artifact again (append false), as fasta2a ends
        await send(self.artifact_result(task, answer[:half], append=False, last=False))
        await send(self.artifact_result(task, answer[half:], append=True, last=False))
        await send(self.artifact_result(task, answer, append=False, last=True))
        task.state = "completed"
        await send(self.status_result(task, final=True))
        return await end_stream(response)


def main(argv: list[str]) -> int:
    parser = gateway_parser(__doc__)
    parser.add_argument("--wire", choices=("0.3", "1.0"), default="0.3")
    parser.add_argument("--bug", choices=("forget", "cancel-ignored"), default=None)
    args = parser.parse_args(argv)
    gateway = Gateway(args)
    app = web.Application()
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/", gateway.rpc)
    app.router.add_post("/a2a/{assistant}", gateway.rpc)
    serve(app, gateway, args.port, f"[a2a gateway] ready on 127.0.0.1:{args.port} (A2A {args.wire})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
