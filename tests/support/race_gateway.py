"""The suite's small test gateway: the replyrace HTTP contract, a per-session
guard, and switches that make a real process produce each verdict letter.

    python race_gateway.py --port P --provider-url URL [options]

A normal turn takes the session's guard, asks the fake provider (non-streaming
chat completions) and answers with its text. The guard is released when the
reply is sent, or later: ``--hold-guard-ms`` keeps it after each reply, and
``--background-ms`` starts background work with each turn that holds it until
the work ends (so a fast provider leaves a window and a slow one does not). A
send that finds the guard held gets the canned OpenClaw text at once and the
OpenClaw log line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time

from aiohttp import web
from gateway_app import ProviderSession, serve

CANNED = "⚠️ Previous run is still shutting down. Please try again in a moment."


def call_numbers(text: str) -> set[int]:
    try:
        return {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected call numbers such as 2 or 2,4") from None


def background_on(text: str) -> dict[int, float]:
    out = {}
    for part in text.split(","):
        number, _, ms = part.partition(":")
        try:
            out[int(number)] = float(ms) / 1000
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected CALL:MS pairs such as 6:800") from None
    return out


def unescape(text: str) -> str:
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("REPLYRACE_GATEWAY_PORT", "0")))
    parser.add_argument("--provider-url", default=os.environ.get("REPLYRACE_PROVIDER_URL", ""))
    parser.add_argument("--hold-guard-ms", type=float, default=0.0)
    parser.add_argument("--background-ms", type=float, default=0.0)
    parser.add_argument("--background-on", type=background_on, default={})
    parser.add_argument("--wrong-reply-on", type=call_numbers, default=set())
    parser.add_argument("--hang-on", type=call_numbers, default=set())
    parser.add_argument("--error-on", type=call_numbers, default=set())
    parser.add_argument("--drop-on", type=call_numbers, default=set())
    parser.add_argument("--crash-on", type=call_numbers, default=set(), help="die by SIGKILL when this call arrives")
    parser.add_argument(
        "--freeze-on",
        type=call_numbers,
        default=set(),
        help="block the whole process (readyz too) when this call arrives",
    )
    parser.add_argument(
        "--keep-failed-turns",
        action="store_true",
        help="keep the user message of a turn the provider failed in the session's history and "
        "send it again before the next message (as gateways with a transcript do)",
    )
    parser.add_argument("--exit-at-start", type=int, default=None)
    parser.add_argument(
        "--reply-text", default=None, help="answer every turn with this text once the provider answered (no token)"
    )
    parser.add_argument(
        "--log-each-call",
        type=unescape,
        default=None,
        help="log this text (backslash escapes decoded: \\n, \\x1b) with every call",
    )
    parser.add_argument("--log-each-call-times", type=int, default=1, help="how many times, in one write")
    parser.add_argument(
        "--start-line-bytes",
        type=int,
        default=0,
        help="log one line of this many bytes at start (before --exit-at-start)",
    )
    parser.add_argument("--never-ready", action="store_true")
    parser.add_argument("--ready-after-ms", type=float, default=0.0)
    parser.add_argument("--ignore-sigterm", action="store_true")
    parser.add_argument(
        "--events", default=None, help="append 'started', 'call N' and 'sigterm' lines to this file as they happen"
    )
    parser.add_argument(
        "--escape",
        action="append",
        default=[],
        choices=("setsid", "double-fork"),
        help="start a `sleep` that leaves the gateway's process group: by setsid, or daemonized by "
        "a double fork (repeatable)",
    )
    parser.add_argument(
        "--late-log-ms",
        type=float,
        default=None,
        help="log a drain failure this long after each reply (a line that belongs to the run)",
    )
    parser.add_argument(
        "--child",
        action="store_true",
        help="start a child process in the gateway's group that outlives a killed leader",
    )
    return parser.parse_args(argv)


def event(args: argparse.Namespace, line: str) -> None:
    # Lets a test send its signal at a known point of the run rather than after a guessed sleep.
    if args.events:
        with open(args.events, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def escape(how: str) -> None:
    """Start a `sleep` outside the gateway's process group, as daemons and `setsid` helpers do."""
    if how == "setsid":
        subprocess.Popen(["setsid", "sleep", "300"])
        return
    child = os.fork()
    if child == 0:  # the first child: a new session, fork again, and leave the grandchild to init
        os.setsid()
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", "301"])
        os._exit(0)
    os.waitpid(child, 0)


class Gateway(ProviderSession):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.guards: dict[str, float] = {}  # session key -> monotonic time the guard is released (inf: held)
        self.count = 0
        self.last_reply: str | None = None
        self.started = time.monotonic()
        self.failed_turns: dict[str, list[str]] = {}  # session key -> user messages with no answer yet

    def log(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

    def guard_held(self, key: str) -> bool:
        return self.guards.get(key, 0.0) > time.monotonic()

    async def readyz(self, request: web.Request) -> web.Response:
        ready = not self.args.never_ready and time.monotonic() - self.started >= self.args.ready_after_ms / 1000
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    async def ask_provider(self, message: str, history: list[str]) -> str:
        assert self.http is not None
        messages = [{"role": "user", "content": text} for text in [*history, message]]
        body = {"model": "fake-model", "stream": False, "messages": messages}
        async with self.http.post(f"{self.args.provider_url}/chat/completions", json=body) as response:
            data = await response.json()
        return str(data["choices"][0]["message"]["content"])

    async def chat_send(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            key, message, run_id = body["sessionKey"], body["message"], body["idempotencyKey"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            return web.json_response({"error": f"bad request: {exc!r}"}, status=400)
        self.count += 1
        n = self.count
        self.log(f"chat.send #{n} session={key} run={run_id}")
        event(self.args, f"call {n}")
        if self.args.log_each_call is not None:
            # One write however many lines: a flood of log costs the gateway nothing.
            sys.stdout.write((self.args.log_each_call + "\n") * self.args.log_each_call_times)
            sys.stdout.flush()
        if n in self.args.crash_on:
            self.log(f"call #{n}: crashing")
            os.kill(os.getpid(), signal.SIGKILL)
        if n in self.args.freeze_on:
            self.log(f"call #{n}: freezing the whole process")
            time.sleep(600)  # blocks the event loop: nothing answers, not even /readyz
        if n in self.args.hang_on:
            self.log(f"call #{n}: hanging (no reply)")
            await asyncio.sleep(600)
        if n in self.args.drop_on:
            self.log(f"call #{n}: dropping the connection")
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if self.guard_held(key):
            self.log(
                f"followup queue drain failed for {key}: ReplyRunAlreadyActiveError: Reply run already active for {key}"
            )
            return web.json_response({"runId": run_id, "reply": CANNED, "error": None})
        turn_start = time.monotonic()
        self.guards[key] = float("inf")
        background = self.args.background_on.get(n, self.args.background_ms / 1000)
        history = self.failed_turns.setdefault(key, [])
        try:
            text = await self.ask_provider(message, history if self.args.keep_failed_turns else [])
        except Exception as exc:
            self.guards[key] = 0.0
            history.append(message)
            return web.json_response({"runId": run_id, "reply": None, "error": f"provider failed: {exc!r}"})
        history.clear()
        if n in self.args.error_on:
            self.guards[key] = 0.0
            return web.json_response({"runId": run_id, "reply": None, "error": "model run failed"})
        reply = text if self.args.reply_text is None else self.args.reply_text
        if n in self.args.wrong_reply_on and self.last_reply is not None:
            reply = self.last_reply
        self.last_reply = text
        # The guard outlives the reply: background work, or a fixed hold after it.
        self.guards[key] = max(time.monotonic() + self.args.hold_guard_ms / 1000, turn_start + background)
        if self.args.late_log_ms is not None:
            asyncio.get_running_loop().call_later(
                self.args.late_log_ms / 1000, self.log, f"followup queue drain failed for {key} (late, after #{n})"
            )
        return web.json_response({"runId": run_id, "reply": reply, "error": None})


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.start_line_bytes:
        sys.stdout.write("x" * args.start_line_bytes + "\n")
    if args.exit_at_start is not None:
        print(f"race gateway: exiting at start with code {args.exit_at_start}", flush=True)
        return int(args.exit_at_start)
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, lambda *_: event(args, "sigterm"))
    if args.child:
        # Not waited for: it lives until its process group is ended.
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    for how in args.escape:
        escape(how)
    event(args, "started")
    gateway = Gateway(args)
    app = web.Application()
    app.router.add_get("/readyz", gateway.readyz)
    app.router.add_post("/chat.send", gateway.chat_send)
    serve(app, gateway, args.port, f"[gateway] ready on 127.0.0.1:{args.port}", handle_signals=not args.ignore_sigterm)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
