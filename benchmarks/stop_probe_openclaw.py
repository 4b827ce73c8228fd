"""What a real OpenClaw release does with a stop, and with a client that goes away, mid-turn (issue 29, item 7).

    python benchmarks/stop_probe_openclaw.py 2026.9.6 [--disconnect]

Installs (or reuses from the cache) the release with tests/integration/openclaw_install.py, starts it against a
small OpenAI chat provider of its own on 127.0.0.1 that holds a model call whose user turn says HOLD for 4 s and
watches its connection (so it sees when the gateway closes the model call, not only at its next write), and
drives it with the OpenClawTransport:

- stop at request + 1 s: chat.send A (held), chat.abort at 1 s after the provider got A's request, then B;
- stop at sent + 0: chat.abort right after A's chat.send frame, then B;
- with --disconnect: the client's WebSocket is closed at request + 1 s, then B on a new connection.

Prints what each did: the abort's answer, A's terminal state, whether and when A's model call was closed, B's
answer and latency, the provider requests (with the user texts they carried), and the gateway's log lines about
aborts, locks and errors. Everything on loopback; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_replyrace.gateway.launcher import LaunchedGateway
from pytest_replyrace.gateway.openclaw import OpenClawProfile, json_log_line
from pytest_replyrace.gateway.readiness import ReadyCheck
from pytest_replyrace.transports.base import CallEvents
from pytest_replyrace.transports.openclaw import OpenClawTransport
from tests.integration.openclaw_install import ensure_node, ensure_openclaw, node_major_for

HOLD = 4.0
DELTAS = "--deltas" in sys.argv
"""Stream a small text delta every DELTA_EVERY seconds while a call is held (a stop lands mid-stream)."""
DELTA_EVERY = 0.25
LOG_WORDS = re.compile(r"abort|lock|stop|cancel|error|fail|timeout", re.I)


@dataclass
class Seen:
    """One model call the provider received."""

    arrived: float
    user: str
    held: bool
    closed_at: float | None = None
    finished_at: float | None = None
    messages: list[Any] = field(default_factory=list)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


class Provider:
    """An OpenAI chat completions endpoint that streams an echo of the latest user text."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.held: set[str] = set()
        self.port = 0
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        messages = body.get("messages", [])
        last = max((i for i, m in enumerate(messages) if m.get("role") != "user"), default=-1)
        # The latest user turn: every user message after the last other one (9.6 adds a context message).
        text = " ".join(_text(m.get("content")) for m in messages[last + 1 :])
        # Only a message's first model call is held: a stopped message folded into the next turn is not.
        words = set(re.findall(r"\b[A-Z]+-[0-9a-f]{6}\b", text))
        held = "HOLD" in text and words.isdisjoint(self.held)
        self.held |= words if held else set()
        entry = Seen(time.monotonic(), text[:200], held, messages=body.get("messages", []))
        self.seen.append(entry)
        until = entry.arrived + (HOLD if entry.held else 0.05)
        if not body.get("stream"):
            return await self.whole(request, entry, until, text)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        next_delta = entry.arrived + DELTA_EVERY
        while time.monotonic() < until:  # bounded by HOLD
            if request.transport is None or request.transport.is_closing():
                entry.closed_at = time.monotonic()
                return response
            if DELTAS and time.monotonic() >= next_delta:  # a model stream in progress, not a silent one
                next_delta += DELTA_EVERY
                frame = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "fake-model"}
                frame["choices"] = [{"index": 0, "delta": {"role": "assistant", "content": "… "}}]
                try:
                    await response.write(f"data: {json.dumps(frame)}\n\n".encode())
                except ConnectionError:
                    entry.closed_at = time.monotonic()
                    return response
            await asyncio.sleep(0.01)
        words = re.findall(r"\b[A-Z]+-[0-9a-f]{6}\b", text)
        reply = "ECHO " + " ".join(words or ["ok"])
        for chunk in (
            {"delta": {"role": "assistant", "content": reply}, "finish_reason": None},
            {"delta": {}, "finish_reason": "stop"},
        ):
            frame = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "fake-model"}
            frame["choices"] = [{"index": 0, **chunk}]
            try:
                await response.write(f"data: {json.dumps(frame)}\n\n".encode())
            except ConnectionError:
                entry.closed_at = time.monotonic()
                return response
        await response.write(b"data: [DONE]\n\n")
        entry.finished_at = time.monotonic()
        return response

    async def whole(self, request: web.Request, entry: Seen, until: float, text: str) -> web.StreamResponse:
        """A non-streamed completion after the hold (its connection watched the same way)."""
        while time.monotonic() < until:  # bounded by HOLD
            if request.transport is None or request.transport.is_closing():
                entry.closed_at = time.monotonic()
                return web.Response(status=499)
            await asyncio.sleep(0.01)
        reply = "ECHO " + " ".join(re.findall(r"\b[A-Z]+-[0-9a-f]{6}\b", text) or ["ok"])
        entry.finished_at = time.monotonic()
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": "fake-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    def run(self) -> None:
        async def main() -> None:
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self.handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.loop = asyncio.get_running_loop()
            self.ready.set()
            await asyncio.Event().wait()

        asyncio.run(main())


def rel(t: float | None, zero: float) -> str:
    return "-" if t is None else f"{(t - zero) * 1000:+.0f} ms"


def stop_summary(answer: Any, zero: float) -> dict[str, Any]:
    """The stop's answer as the probe prints it, its instant from ``zero``."""
    return {
        "at": rel(answer.answered_at, zero),
        "aborted": answer.aborted,
        "runIds": answer.run_ids,
        "error": answer.error,
        "detail": answer.detail,
    }


async def wait_request(provider: Provider, word: str, timeout: float) -> Seen | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for seen in provider.seen:
            if word in seen.user:
                return seen
        await asyncio.sleep(0.005)
    return None


async def scenario(gw: LaunchedGateway, provider: Provider, token: str, how: str, log_mark: int) -> dict[str, Any]:
    """One stop (``request`` or ``sent``) or ``disconnect`` of a held turn A, then message B."""
    key = f"agent:test:stop-{secrets.token_hex(3)}"
    a_word, b_word = f"A-{secrets.token_hex(3)}", f"B-{secrets.token_hex(3)}"
    transport = OpenClawTransport(gw.url, token=token, handshake_timeout=60)
    await transport.open()
    out: dict[str, Any] = {"how": how, "session": key, "A": a_word, "B": b_word}
    a_key = secrets.token_hex(16)
    zero = time.monotonic()
    a_task = asyncio.create_task(transport.send(key, f"HOLD {a_word}", a_key, events=CallEvents()))
    if how == "sent":
        answer = await transport.stop(key, a_key, wait_for_run=2.0)
        out["stop"] = stop_summary(answer, zero)
    a_seen = await wait_request(provider, a_word, 30)
    out["A request"] = rel(a_seen.arrived if a_seen else None, zero)
    if how in ("request", "disconnect") and a_seen is not None:
        await asyncio.sleep(max(0.0, a_seen.arrived + 1.0 - time.monotonic()))
        if how == "request":
            answer = await transport.stop(key, a_key, wait_for_run=2.0)
            out["stop"] = stop_summary(answer, zero)
        else:
            out["cut"] = rel(await transport.disconnect(a_key), zero)
    try:
        a = await asyncio.wait_for(a_task, 30)
        out["A answer"] = {
            "state": a.state,
            "reply": a.reply,
            "error": a.error,
            "at": rel(a.replied_at, zero),
            "cut_at": rel(a.cut_at, zero),
        }
    except Exception as exc:
        out["A answer"] = f"raised {type(exc).__name__}: {exc}"
    b_sent = time.monotonic()
    try:
        b = await asyncio.wait_for(transport.send(key, f"next {b_word}", secrets.token_hex(16)), 60)
        out["B answer"] = {
            "state": b.state,
            "reply": b.reply,
            "error": b.error,
            "latency": f"{((b.replied_at or time.monotonic()) - b_sent) * 1000:.0f} ms",
        }
    except Exception as exc:
        out["B answer"] = f"raised {type(exc).__name__}: {exc} after {(time.monotonic() - b_sent) * 1000:.0f} ms"
    await asyncio.sleep(HOLD + 1.0)  # let a turn that ran on finish, so the provider saw it
    try:
        history = await transport._request("chat.history", {"sessionKey": key}, 10)
        messages = (history.get("payload") or {}).get("messages") or []
        out["history"] = [f"{m.get('role')}: {json.dumps(m.get('content'))[:120]}" for m in messages]
    except Exception as exc:
        out["history"] = f"raised {exc}"
    await transport.close()
    out["provider"] = [
        f"{rel(s.arrived, zero)} held={s.held} user={s.user[:80]!r} closed={rel(s.closed_at, zero)} "
        f"finished={rel(s.finished_at, zero)} roles={[m.get('role') for m in s.messages]}"
        for s in provider.seen
        if a_word in json.dumps(s.messages) or b_word in json.dumps(s.messages)
    ]
    out["log"] = [line for line in gw_log(gw)[log_mark:] if LOG_WORDS.search(line)][-25:]
    return out


def gw_log(gw: LaunchedGateway) -> list[str]:
    lines = gw.log_path.read_text(errors="replace").splitlines() if gw.log_path.exists() else []
    for path, transform in gw.extra_logs:
        if Path(path).exists():
            lines += [transform(x)[:300] for x in Path(path).read_text(errors="replace").splitlines()]
    return lines


async def probe(gw: LaunchedGateway, provider: Provider, token: str, hows: list[str]) -> None:
    warm = OpenClawTransport(gw.url, token=token, handshake_timeout=60)
    t = time.monotonic()
    await warm.open()
    await warm.send("agent:test:warm", "warm-up ok", secrets.token_hex(16))
    await warm.close()
    print(f"warm-up turn: {time.monotonic() - t:.1f} s", flush=True)
    for how in hows:
        mark = len(gw_log(gw))
        result = await scenario(gw, provider, token, how, mark)
        print(json.dumps(result, indent=1), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("version")
    parser.add_argument("--hows", default="request,sent", help="comma list of request, sent, disconnect")
    parser.add_argument("--deltas", action="store_true", help="stream deltas while a call is held")
    args = parser.parse_args()
    t = time.monotonic()
    entry = ensure_openclaw(args.version, note=print)
    node = ensure_node(node_major_for(args.version))
    print(f"install/cache: {time.monotonic() - t:.1f} s", flush=True)
    provider = Provider()
    threading.Thread(target=provider.run, daemon=True).start()
    provider.ready.wait(10)
    url = f"http://127.0.0.1:{provider.port}/v1"
    profile = OpenClawProfile(entry, node=str(node))
    gw = LaunchedGateway(profile.command(), provider_url=url, ready=ReadyCheck("http", "/readyz"), ready_timeout=180)
    state_dir = gw.prepare().state_dir  # the config names the port and the state dir
    gw.extra_env.update(profile.env(state_dir))
    gw.extra_logs = [(path, json_log_line) for path in profile.log_files(state_dir)]
    profile.write_config(state_dir, gw.port, url)
    t = time.monotonic()
    gw.start()
    print(f"openclaw@{args.version} ready in {time.monotonic() - t:.1f} s at {gw.url}", flush=True)
    try:
        asyncio.run(probe(gw, provider, profile.token, args.hows.split(",")))
    finally:
        gw.stop()


if __name__ == "__main__":
    main()
