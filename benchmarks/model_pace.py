"""How close each streamed piece lands to its schedule, in every provider API.

    python benchmarks/model_pace.py [--pieces 50] [--rtt 2] [--ttft 0.04] [--runs 3] [--jitter 0.2]

For each API (OpenAI chat, Anthropic Messages, OpenAI Responses, Ollama) the fake provider streams the text
step in ``--pieces`` pieces from ``--ttft`` to the RTT (``--rtt`` seconds, seeded jitter ``--jitter`` per
piece); a loopback aiohttp client stamps each text piece as it arrives. Two errors per piece, p50 / p99 / max
in milliseconds over every piece of ``--runs`` sequential requests: ``written`` - ``schedule`` (the provider's
own write against its plan, both in the journal) and the client's arrival minus ``arrived_at + schedule[i]``
(adds the loopback hop and the client's own wake-up). The target is p99 within 2 ms. Only 127.0.0.1 is used;
every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.tool_agent import APIS, ask, first_body  # noqa: E402

from pytest_replyrace.provider.model import ModelSpec  # noqa: E402
from pytest_replyrace.provider.server import FakeProvider  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def measure(provider: FakeProvider, api: str, runs: int, pieces: int) -> tuple[list[float], list[float]]:
    errors: list[float] = []
    writes: list[float] = []
    async with aiohttp.ClientSession() as session:
        for run in range(runs):
            start = len(provider.journal)
            answer = await ask(
                session, f"http://127.0.0.1:{provider.port}", api, first_body(api, f"rr-pace-{run + 1}", True, tools=())
            )
            entry = provider.journal[start]
            if len(answer.text_times) != pieces or len(entry.schedule) != pieces:
                raise SystemExit(f"{api}: {len(answer.text_times)} pieces arrived, {len(entry.schedule)} planned")
            errors += [at - (entry.arrived_at + planned) for at, planned in zip(answer.text_times, entry.schedule)]
            writes += [at - planned for at, planned in zip(entry.written, entry.schedule)]
    return writes, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pieces", type=int, default=50)
    parser.add_argument("--rtt", type=float, default=2.0)
    parser.add_argument("--ttft", type=float, default=0.04)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jitter", type=float, default=0.2)
    args = parser.parse_args()
    if not (1 <= args.pieces <= 1000 and 1 <= args.runs <= 20 and 0 < args.rtt <= 30):
        parser.error("expected --pieces 1..1000, --runs 1..20, --rtt up to 30 s")
    spec = ModelSpec(ttft=args.ttft, reply_pieces=args.pieces, reply_words=args.pieces * 2)
    print(
        f"{args.pieces} pieces from {args.ttft * 1000:g} ms to {args.rtt:g} s, jitter {args.jitter:g}, "
        f"{args.runs} runs per API; piece arrival minus schedule, ms"
    )
    print(f"{'':20} {'provider write - schedule':^31} {'client arrival - schedule':^31}")
    print(f"{'api':20}" + f" {'p50':>7} {'p99':>7} {'max':>7} {'min':>7}" * 2)
    worst = {"write": 0.0, "arrival": 0.0}
    with FakeProvider(rtt=args.rtt, jitter=args.jitter, seed=1, model_spec=spec) as provider:
        for api in APIS:
            line = f"{api:20}"
            for name, errors in zip(worst, asyncio.run(measure(provider, api, args.runs, args.pieces))):
                ms = [e * 1000 for e in errors]
                worst[name] = max(worst[name], percentile(ms, 99))
                line += f" {percentile(ms, 50):7.2f} {percentile(ms, 99):7.2f} {max(ms):7.2f} {min(ms):7.2f}"
            print(line)
    for name, p99 in worst.items():
        print(f"worst {name} p99 {p99:.2f} ms (target 2 ms): {'ok' if p99 <= 2.0 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
