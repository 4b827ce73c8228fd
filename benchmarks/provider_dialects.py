"""The fake provider's RTT error in every dialect, and what the fine-grained timer finish costs.

    python benchmarks/provider_dialects.py [--requests 200] [--slow-requests 20] [--compare-spin]

For each dialect (OpenAI chat, Anthropic Messages, OpenAI Responses, Ollama),
streaming and not, at 50 ms and 1 s: served duration (arrival to last write, as
journaled) minus the configured RTT, p50 / p99 / max over sequential requests
from a loopback aiohttp client, and the process CPU time per request.
``--compare-spin`` repeats the 50 ms figures with the spin finish off
(``FakeProvider.timer_spin = 0``: the loop's timer alone), for the CPU cost.
Only 127.0.0.1 is used; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_replyrace.provider.server import FakeProvider

PATHS = {
    "openai-chat": "/v1/chat/completions",
    "anthropic-messages": "/v1/messages",
    "openai-responses": "/v1/responses",
    "ollama": "/api/chat",
}


def body(api: str, text: str, stream: bool) -> dict[str, Any]:
    user = {"role": "user", "content": text}
    if api == "anthropic-messages":
        return {"model": "m", "max_tokens": 16, "stream": stream, "messages": [user]}
    if api == "openai-responses":
        return {"model": "m", "stream": stream, "input": text}
    return {"model": "m", "stream": stream, "messages": [user]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def hammer(port: int, api: str, n: int, stream: bool) -> None:
    async with aiohttp.ClientSession(trust_env=False) as session:
        for i in range(n):
            url = f"http://127.0.0.1:{port}{PATHS[api]}"
            async with session.post(url, json=body(api, f"rr-bnch-{i + 1}", stream)) as response:
                await response.read()
                assert response.status == 200, response.status


def measure(api: str, rtt: float, stream: bool, n: int, spin: float) -> dict[str, Any]:
    with FakeProvider(rtt=rtt, seed=1) as provider:
        provider.timer_spin = spin
        cpu = time.process_time()
        asyncio.run(hammer(provider.port, api, n, stream))
        cpu = time.process_time() - cpu
        errors = [(e.duration or 0.0) - rtt for e in provider.journal if e.served]
    assert len(errors) == n, f"{api}: {len(errors)} of {n} served"
    return {
        "api": api,
        "rtt_ms": rtt * 1000,
        "stream": stream,
        "spin_ms": spin * 1000,
        "requests": n,
        "p50_ms": percentile(errors, 50) * 1000,
        "p99_ms": percentile(errors, 99) * 1000,
        "max_ms": max(errors) * 1000,
        "cpu_ms_per_request": cpu / n * 1000,
    }


def show(row: dict[str, Any]) -> None:
    print(
        f"{row['api']:<19} {row['rtt_ms']:>5.0f} ms {'stream' if row['stream'] else 'json  '} "
        f"spin {row['spin_ms']:.1f} ms  n={row['requests']:<4} p50 {row['p50_ms']:+.2f} ms  "
        f"p99 {row['p99_ms']:+.2f} ms  max {row['max_ms']:+.2f} ms  cpu {row['cpu_ms_per_request']:.2f} ms/req",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="requests per figure at 50 ms (default 200)")
    parser.add_argument("--slow-requests", type=int, default=20, help="requests per figure at 1 s (default 20)")
    parser.add_argument("--compare-spin", action="store_true", help="also measure 50 ms with the spin off")
    args = parser.parse_args()
    rows = []
    runs = [(0.05, args.requests, FakeProvider.timer_spin), (1.0, args.slow_requests, FakeProvider.timer_spin)]
    if args.compare_spin:
        runs.append((0.05, args.requests, 0.0))
    for rtt, n, spin in runs:
        for api in PATHS:
            for stream in (False, True):
                rows.append(measure(api, rtt, stream, n, spin))
                show(rows[-1])
    print(json.dumps({"python": sys.version.split()[0], "rows": rows}))


if __name__ == "__main__":
    main()
