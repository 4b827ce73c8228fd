"""The probe's own cost, against a raw client doing the same sequential sends.

    python benchmarks/overhead.py [--rounds 7]

One process, one fake provider (50 ms RTT), one toy gateway in `correct` mode
(example_project, a real subprocess). In turns, A B A B …: the plugin's 10-call
probe (`SequentialSender.run()` with the HTTP transport, gap 0, settle 0 so
that only overhead is measured; the settle time is a deliberate wait, shown
apart), and a minimal hand-written aiohttp loop posting the same ten
`/chat.send` requests one after another. Prints both walls (median, min, max)
and the median of the per-pair ratios probe / raw (target ≤ 1.02). Only
127.0.0.1 is used; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"
sys.path.insert(0, str(ROOT))

from pytest_replyrace import (  # noqa: E402
    DriverSettings,
    FakeProvider,
    HttpTransport,
    LaunchedGateway,
    SequentialSender,
)
from pytest_replyrace.driver import probe_message  # noqa: E402

CALLS, RTT = 10, 0.05


async def raw_loop(url: str, run: int) -> float:
    """What a maintainer would write by hand: ten sequential sends on one session, nothing else."""
    async with aiohttp.ClientSession(trust_env=False) as session:
        start = time.monotonic()
        key = f"agent:test:raw-{run}"
        for index in range(1, CALLS + 1):
            body = {
                "sessionKey": key,
                "message": probe_message(f"rr-raw{run:03d}-{index}", index, CALLS),
                "idempotencyKey": str(uuid.uuid4()),
            }
            async with session.post(f"{url}/chat.send", json=body) as response:
                data = await response.json()
                assert data.get("reply"), data
        return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="pairs of runs (default 7)")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EXAMPLE), os.environ.get("PYTHONPATH")]))
    command = "{python} -m toy_gateway --port {port} --provider-url {provider_url} --mode correct"
    probe_walls: list[float] = []
    raw_walls: list[float] = []
    with (
        FakeProvider(rtt=RTT, seed=1) as provider,
        LaunchedGateway(command, provider_url=provider.base_url, ready_timeout=30, cwd=EXAMPLE) as gateway,
    ):
        asyncio.run(raw_loop(gateway.url, 0))  # warm-up: imports, first connections
        for i in range(args.rounds):
            provider.reset(rtt=RTT)
            sender = SequentialSender(
                lambda: HttpTransport(gateway.url),
                provider=provider,
                gateway=gateway,
                settings=DriverSettings(calls=CALLS, gap=0.0, timeout=10, settle=0.0),
                seed=i,
                rtt=RTT,
            )
            start = time.monotonic()
            result = sender.run()
            probe_walls.append(time.monotonic() - start)
            assert result.pattern == "p" * CALLS, result.pattern
            raw_walls.append(asyncio.run(raw_loop(gateway.url, i + 1)))
    ratios = [p / r for p, r in zip(probe_walls, raw_walls)]
    for name, walls in (("probe (plugin)", probe_walls), ("raw aiohttp loop", raw_walls)):
        print(
            f"{name:>17}: wall median {statistics.median(walls):.3f} s "
            f"(min {min(walls):.3f}, max {max(walls):.3f}) for {CALLS} calls at {RTT * 1000:.0f} ms RTT, gap 0"
        )
    print(
        f"ratio probe/raw, median of {len(ratios)} pairs: {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}); target <= 1.02"
    )
    print("the default settle time (0.5 s after the last call, for late log lines and replies) comes on top by design")


if __name__ == "__main__":
    main()
