"""The process the ``acp`` transport launches as its gateway: it starts the agent, holds the agent's stdin and
stdout, and passes ACP's JSON-RPC lines between them and one WebSocket on loopback, unchanged.

    python -m pytest_replyrace.transports.acp_bridge --port PORT -- AGENT COMMAND...

The agent is launched in the bridge's own process group (so the launcher's stop ends both), with the bridge's
stderr as its stderr: the agent's log is the gateway log. Ready (``GET /readyz`` 200) is the agent's answer to
``initialize``; the agent's JSON-RPC lines reach the transport through ``GET /acp`` (a WebSocket; one at a time,
each run's own), byte for byte, so that a line that is not JSON is still the transport's to quote. An agent that
exits ends the bridge with the agent's exit code; one that exits before answering ``initialize`` ends it with a
line saying so (its stderr is already in the log above it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from typing import Any

from aiohttp import WSMsgType, web

__all__ = ["INITIALIZE", "INIT_ID", "main"]

INIT_ID = "replyrace-initialize"
"""The JSON-RPC id of the bridge's own ``initialize``; the transport's ids never take it."""
INITIALIZE = {
    "protocolVersion": 1,
    "clientCapabilities": {"fs": {"readTextFile": False, "writeTextFile": False}, "terminal": False},
    "clientInfo": {"name": "pytest-replyrace", "version": "0"},
}
LINE_LIMIT = 8 * 1024 * 1024


def log(text: str) -> None:
    print(f"[replyrace acp bridge] {text}", file=sys.stderr, flush=True)


class Bridge:
    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.agent: asyncio.subprocess.Process | None = None
        self.initialized: dict[str, Any] | None = None
        self.socket: web.WebSocketResponse | None = None
        self.exit_code: int | None = None

    async def start(self, app: web.Application) -> None:
        self.agent = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # the bridge's: the gateway log
            limit=LINE_LIMIT,
            cwd=os.environ.get("REPLYRACE_STATE_DIR") or None,
        )
        await self.write(json.dumps({"jsonrpc": "2.0", "id": INIT_ID, "method": "initialize", "params": INITIALIZE}))
        app["reader"] = asyncio.ensure_future(self.read())

    async def stop(self, app: web.Application) -> None:
        app["reader"].cancel()
        if self.agent is not None and self.agent.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.agent.terminate()

    async def write(self, line: str) -> None:
        assert self.agent is not None and self.agent.stdin is not None
        self.agent.stdin.write(line.encode() + b"\n")
        await self.agent.stdin.drain()

    async def read(self) -> None:
        """The agent's stdout, a line at a time, to the transport's WebSocket; its end ends the bridge."""
        assert self.agent is not None and self.agent.stdout is not None
        while True:
            try:
                line = await self.agent.stdout.readline()
            except ValueError:  # a line over the limit: passed on cut, the transport quotes it
                line = await self.agent.stdout.read(LINE_LIMIT)
            if not line:
                break
            if self.initialized is None and self.init_answer(line):
                continue
            await self.forward(line.decode("utf-8", "replace").rstrip("\r\n"))
        code = await self.agent.wait()
        if self.initialized is None:
            log(f"the agent {self.command[0]!r} exited with code {code} before it answered initialize")
        else:
            log(f"the agent exited with code {code}")
        os._exit(code if code > 0 else 1)

    def init_answer(self, line: bytes) -> bool:
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if isinstance(message, dict) and message.get("id") == INIT_ID:
                if "result" in message:
                    self.initialized = message["result"] if isinstance(message["result"], dict) else {}
                    log(f"the agent answered initialize: {line[:300].decode('utf-8', 'replace')}")
                else:
                    log(f"the agent refused initialize: {line[:300].decode('utf-8', 'replace')}")
                return True
        log(f"before initialize, the agent wrote: {line[:300].decode('utf-8', 'replace')!r}")
        return False

    async def forward(self, text: str) -> None:
        socket = self.socket
        if socket is None or socket.closed:
            log(f"no client connected; dropped: {text[:300]!r}")
            return
        with contextlib.suppress(ConnectionError):
            await socket.send_str(text)

    async def readyz(self, request: web.Request) -> web.Response:
        if self.initialized is None:
            return web.json_response({"ready": False}, status=503)
        return web.json_response({"ready": True, "initialize": self.initialized, "cwd": os.getcwd()})

    async def acp(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(max_msg_size=LINE_LIMIT)
        await socket.prepare(request)
        if self.socket is not None and not self.socket.closed:
            await self.socket.close()  # one client at a time: a new run takes the agent over
        self.socket = socket
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                await self.write(message.data)
        return socket


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("REPLYRACE_GATEWAY_PORT", "0")))
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the agent's command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no agent command after --")
    bridge = Bridge(command)
    app = web.Application()
    app.on_startup.append(bridge.start)
    app.on_cleanup.append(bridge.stop)
    app.router.add_get("/readyz", bridge.readyz)
    app.router.add_get("/acp", bridge.acp)
    log(f"starting {command!r}; listening on 127.0.0.1:{args.port}")
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, shutdown_timeout=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
