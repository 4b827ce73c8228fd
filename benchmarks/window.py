"""Figures for the window search, measured in one run against the example toy gateway.

    python benchmarks/window.py

1. Time to detect the toy's `alternating` mode (background 650 ms): a serial
   5x4 grid (RTT 50 ms..3 s x gap 0..0.6 s), the same grid 20 at a time, and
   the adaptive search; with the ratio serial / parallel and whether the two
   grids agree point by point.
2. The probe's overhead ratio: wall time / N*(RTT+gap) for 10 calls on `correct`
   (no background work, so the gateway adds next to nothing).
3. The provider's RTT error (served minus configured) p50/p99 at 50 ms, 500 ms
   and 2 s, alone and with 8 concurrent sessions.
Loopback only; every loop bounded.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import aiohttp

from pytest_replyrace.driver import DriverSettings, SequentialSender
from pytest_replyrace.gateway.launcher import LaunchedGateway
from pytest_replyrace.provider.server import FakeProvider
from pytest_replyrace.transports.http import HttpTransport

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"
TOY = "{python} -m toy_gateway --port {port} --provider-url {provider_url} --mode %s --background-ms 650"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def sender_for(provider: FakeProvider, gateway: LaunchedGateway, calls: int = 3, gap: float = 0.0) -> SequentialSender:
    return SequentialSender(
        lambda: HttpTransport(gateway.url),
        provider=provider,
        gateway=gateway,
        settings=DriverSettings(calls=calls, gap=gap, timeout=30),
        seed=1,
    )


def detection(provider: FakeProvider) -> None:
    with LaunchedGateway(TOY % "alternating", provider_url=provider.base_url, cwd=EXAMPLE) as gateway:
        sender = sender_for(provider, gateway)
        rtts, gaps = [0.05, 0.14, 0.39, 1.1, 3.0], [0.0, 0.2, 0.4, 0.6]
        serial = sender.grid(rtts, gaps, calls=3, parallel=1)
        parallel = sender.grid(rtts, gaps, calls=3, parallel=20)
        window = sender.search((0.05, 2.0), (0.0, 0.6), gaps=4, max_calls=3, parallel=4)
    print(
        f"detect alternating: serial 5x4 grid {serial.wall:.1f} s, parallel grid {parallel.wall:.1f} s "
        f"(ratio {serial.wall / parallel.wall:.2f}, same verdicts: {serial.verdicts() == parallel.verdicts()}), "
        f"search {window.wall:.1f} s ({len(window.points)} probes)"
    )
    print(f"  grid: {serial.statement()}")
    print(
        f"  search: {window.statement()}; "
        + ", ".join(
            (
                f"gap {g:g}s -> edge {b:.3f}s (configured {0.65 - g:.3f}s)"
                if b is not None and g < 0.65
                else f"gap {g:g}s -> {b}"
            )
            for g, b in sorted(window.boundaries.items())
        )
    )


def overhead(provider: FakeProvider) -> None:
    plain = TOY.replace(" --background-ms 650", "") % "correct"
    with LaunchedGateway(plain, provider_url=provider.base_url, cwd=EXAMPLE) as gateway:
        for rtt, gap in ((0.05, 0.0), (0.05, 0.2), (0.5, 0.2)):
            provider.reset(rtt=rtt)
            sender = sender_for(provider, gateway, calls=10, gap=gap)
            start = time.monotonic()
            result = sender.run()
            wall = time.monotonic() - start
            floor = 10 * rtt + 9 * gap
            print(
                f"probe overhead at rtt {rtt * 1000:.0f} ms, gap {gap * 1000:.0f} ms: wall {wall:.3f} s / "
                f"N*(RTT+gap) {10 * (rtt + gap):.3f} s = {wall / (10 * (rtt + gap)):.3f} "
                f"(floor 10*RTT+9*gap {floor:.3f} s; pattern {result.pattern})"
            )


async def _client(base_url: str, tag: str, n: int) -> None:
    async with aiohttp.ClientSession(trust_env=False) as session:
        for i in range(n):
            body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": f"rr-{tag}-{i + 1}"}]}
            async with session.post(f"{base_url}/chat/completions", json=body) as response:
                await response.read()


async def _load(base_url: str, sessions: int, n: int) -> None:
    await asyncio.gather(*(_client(base_url, f"ld{s:02d}", n) for s in range(sessions)))


def rtt_error() -> None:
    for rtt, n in ((0.05, 100), (0.5, 20), (2.0, 6)):
        for sessions in (1, 8):
            with FakeProvider(rtt=rtt) as provider:
                asyncio.run(_load(provider.base_url, sessions, n))
                errors = [(e.duration or 0) - rtt for e in provider.journal if e.served]
            print(
                f"rtt error at {rtt * 1000:.0f} ms, {sessions} session(s), {len(errors)} requests: "
                f"p50 {pct(errors, 50) * 1000:+.2f} ms, p99 {pct(errors, 99) * 1000:+.2f} ms"
            )


def main() -> None:
    with FakeProvider(rtt=0.05) as provider:
        detection(provider)
        overhead(provider)
    rtt_error()
    print(f"python {sys.version.split()[0]}; single-run figures (ratios are measured within the run)")


if __name__ == "__main__":
    main()
