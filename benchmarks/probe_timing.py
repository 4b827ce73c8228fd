"""Figures for the core: probe wall time and the fake provider's RTT error.

    python benchmarks/probe_timing.py [--requests 200]

1. Wall time of a 10-call sequential probe at 50 ms RTT and gap 0.2 s against
   the suite's test gateway (a real subprocess), next to its floor
   10 * RTT + 9 * gap, and the overhead ratio wall / floor.
2. Provider RTT error: served duration (arrival to last byte, as journaled)
   minus the configured RTT, p50 / p99 over N requests at 50 ms and 1 s, for
   streaming and non-streaming replies, from a loopback client.
Only 127.0.0.1 is used; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.selftest import race_gateway_cmd  # noqa: E402

from pytest_replyrace.driver import DriverSettings, SequentialSender  # noqa: E402
from pytest_replyrace.gateway.launcher import LaunchedGateway  # noqa: E402
from pytest_replyrace.provider.server import FakeProvider  # noqa: E402
from pytest_replyrace.transports.http import HttpTransport  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def probe_wall_time(rounds: int) -> None:
    rtt, gap, calls = 0.05, 0.2, 10
    floor = calls * rtt + (calls - 1) * gap
    with (
        FakeProvider(rtt=rtt, seed=1) as provider,
        LaunchedGateway(race_gateway_cmd(), provider_url=provider.base_url, ready_timeout=30) as gateway,
    ):
        walls = []
        for i in range(rounds):
            provider.reset(rtt=rtt)
            sender = SequentialSender(
                lambda: HttpTransport(gateway.url),
                provider=provider,
                gateway=gateway,
                settings=DriverSettings(calls=calls, gap=gap, timeout=10),
                seed=i,
                rtt=rtt,
            )
            start = time.monotonic()
            result = sender.run()
            walls.append(time.monotonic() - start)
            assert result.pattern == "p" * calls, result.pattern
    median = statistics.median(walls)
    print(f"probe: {calls} calls, rtt {rtt * 1000:.0f} ms, gap {gap * 1000:.0f} ms, {rounds} rounds")
    print(
        f"  wall median {median:.3f} s (min {min(walls):.3f}, max {max(walls):.3f}); floor {floor:.3f} s; "
        f"overhead ratio {median / floor:.3f}"
    )


async def _hammer(base_url: str, n: int, stream: bool) -> None:
    async with aiohttp.ClientSession(trust_env=False) as session:
        for i in range(n):
            body = {
                "model": "fake-model",
                "stream": stream,
                "messages": [{"role": "user", "content": f"rr-bnch-{i + 1}"}],
            }
            async with session.post(f"{base_url}/chat/completions", json=body) as response:
                await response.read()


def rtt_error(n: int) -> None:
    for rtt in (0.05, 1.0):
        count = n if rtt < 0.5 else max(10, n // 10)
        for stream in (False, True):
            with FakeProvider(rtt=rtt, seed=1) as provider:
                asyncio.run(_hammer(provider.base_url, count, stream))
                errors = [(e.duration or 0.0) - rtt for e in provider.journal if e.served]
            print(
                f"rtt error at {rtt * 1000:.0f} ms ({'stream' if stream else 'json'}, {len(errors)} requests): "
                f"p50 {percentile(errors, 50) * 1000:+.2f} ms, p99 {percentile(errors, 99) * 1000:+.2f} ms, "
                f"max {max(errors) * 1000:+.2f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="requests per RTT error figure (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="probe rounds (default 3)")
    args = parser.parse_args()
    probe_wall_time(args.rounds)
    rtt_error(args.requests)
    print(json.dumps({"python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
