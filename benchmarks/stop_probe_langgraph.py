"""What LangGraph's Agent Server does with a run cancelled mid-turn (issue 29, item 7).

    python benchmarks/stop_probe_langgraph.py [enqueue,reject]

Starts the pinned ``langgraph dev`` (tests/integration/langgraph_install.py, the suite's one-node graph) against
the holding provider of stop_probe_openclaw.py (a model call whose user text says HOLD is held 4 s, its
connection watched), and per ``multitask_strategy``: a thread, message A on ``/runs/stream``, ``POST
/threads/{id}/runs/{run_id}/cancel`` 0.5 s after the provider got A's request, then message B. Prints the cancel's
answer, how A's stream ended, whether and when A's model call was closed, B's answer and latency, the thread's
stored messages and the server's log lines about cancels. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stop_probe_openclaw import Provider, rel, wait_request

from pytest_replyrace.gateway.launcher import LaunchedGateway
from tests.integration.langgraph_install import ensure_langgraph

TEMPLATES = Path(__file__).resolve().parents[1] / "tests" / "integration" / "langgraph"
LOG_WORDS = re.compile(r"cancel|interrupt|abort|error|409|reject", re.I)


async def stream_run(
    http: aiohttp.ClientSession, url: str, thread: str, text: str, strategy: str, seen: dict[str, Any]
) -> None:
    """One ``/runs/stream``: its status, run id, events and end into ``seen``."""
    body = {
        "assistant_id": "agent",
        "input": {"messages": [{"role": "user", "content": text}]},
        "stream_mode": ["messages-tuple"],
        "multitask_strategy": strategy,
    }
    async with http.post(f"{url}/threads/{thread}/runs/stream", json=body) as response:
        seen["status"] = response.status
        if response.status != 200:
            seen["body"] = (await response.text())[:300]
            seen["ended"] = time.monotonic()
            return
        event = ""
        async for raw in response.content:
            line = raw.decode(errors="replace").strip()
            if line.startswith("event:"):
                event = line[6:].strip()
                seen.setdefault("events", []).append(event)
            elif line.startswith("data:") and event == "metadata":
                seen["run_id"] = json.loads(line[5:]).get("run_id")
            elif line.startswith("data:") and event in ("error", "end"):
                seen[event] = line[5:].strip()[:200]
            elif line.startswith("data:") and event == "messages":
                data = json.loads(line[5:])
                chunk = data[0] if isinstance(data, list) and data else {}
                if isinstance(chunk, dict) and isinstance(chunk.get("content"), str):
                    seen["text"] = seen.get("text", "") + chunk["content"]
        seen["ended"] = time.monotonic()


async def scenario(url: str, provider: Provider, strategy: str) -> dict[str, Any]:
    out: dict[str, Any] = {"strategy": strategy}
    a_word, b_word = f"A-{secrets.token_hex(3)}", f"B-{secrets.token_hex(3)}"
    async with aiohttp.ClientSession(trust_env=False) as http:
        async with http.post(f"{url}/threads", json={}) as response:
            thread = (await response.json())["thread_id"]
        zero = time.monotonic()
        a: dict[str, Any] = {}
        a_task = asyncio.create_task(stream_run(http, url, thread, f"HOLD {a_word}", strategy, a))
        seen = await wait_request(provider, a_word, 30)
        out["A request"] = rel(seen.arrived if seen else None, zero)
        if seen is not None:
            await asyncio.sleep(max(0.0, seen.arrived + 0.5 - time.monotonic()))
        for _ in range(200):  # the run id comes in the stream's metadata event (bounded: 2 s)
            if "run_id" in a:
                break
            await asyncio.sleep(0.01)
        cancel_sent = time.monotonic()
        async with http.post(f"{url}/threads/{thread}/runs/{a.get('run_id')}/cancel") as response:
            out["cancel"] = {
                "sent": rel(cancel_sent, zero),
                "answered": rel(time.monotonic(), zero),
                "status": response.status,
                "body": (await response.text())[:200],
            }
        await asyncio.wait_for(a_task, 30)
        out["A stream"] = {k: (rel(v, zero) if k == "ended" else v) for k, v in a.items()}
        b: dict[str, Any] = {}
        b_sent = time.monotonic()
        await asyncio.wait_for(stream_run(http, url, thread, f"next {b_word}", strategy, b), 60)
        out["B stream"] = {k: v for k, v in b.items() if k != "ended"}
        out["B latency"] = f"{(b['ended'] - b_sent) * 1000:.0f} ms"
        await asyncio.sleep(1.0)
        async with http.get(f"{url}/threads/{thread}/state") as response:
            state = await response.json()
        messages = (state.get("values") or {}).get("messages") or []
        out["stored"] = [f"{m.get('type')}: {str(m.get('content'))[:80]}" for m in messages]
        async with http.get(f"{url}/threads/{thread}/runs") as response:
            out["runs"] = [(r.get("run_id", "")[:8], r.get("status")) for r in await response.json()]
    out["provider"] = [
        f"{rel(s.arrived, zero)} held={s.held} user={s.user[:60]!r} closed={rel(s.closed_at, zero)} "
        f"finished={rel(s.finished_at, zero)}"
        for s in provider.seen
        if a_word in s.user or b_word in s.user
    ]
    return out


def main() -> None:
    strategies = (sys.argv[1] if len(sys.argv) > 1 else "enqueue,reject").split(",")
    t = time.monotonic()
    langgraph = ensure_langgraph(note=print)
    print(f"install/cache: {time.monotonic() - t:.1f} s", flush=True)
    provider = Provider()
    threading.Thread(target=provider.run, daemon=True).start()
    provider.ready.wait(10)
    provider_url = f"http://127.0.0.1:{provider.port}/v1"
    command = (
        f"{langgraph} dev --host 127.0.0.1 --port {{port}} --no-browser --no-reload "
        "--config {state_dir}/langgraph.json"
    )
    gw = LaunchedGateway(
        command,
        provider_url=provider_url,
        ready="http:/ok",
        ready_timeout=180,
        env={"LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"},
        files=[("langgraph.json", TEMPLATES / "langgraph.json"), ("agent.py", TEMPLATES / "agent.py")],
    )
    gw.cwd = gw.prepare().state_dir  # langgraph dev keeps its state in ./.langgraph_api
    t = time.monotonic()
    gw.start()
    print(f"langgraph dev ready in {time.monotonic() - t:.1f} s at {gw.url}", flush=True)
    try:
        for strategy in strategies:
            mark = len(gw.log_path.read_text(errors="replace").splitlines())
            result = asyncio.run(scenario(gw.url, provider, strategy))
            lines = gw.log_path.read_text(errors="replace").splitlines()[mark:]
            result["log"] = [line[:240] for line in lines if LOG_WORDS.search(line)][-15:]
            print(json.dumps(result, indent=1), flush=True)
    finally:
        gw.stop()


if __name__ == "__main__":
    main()
