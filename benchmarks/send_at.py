"""How close each send lands to its send_at moment plus the gap.

    python benchmarks/send_at.py [--calls 40] [--runs 3]

Against the example project's toy gateway (``fixed --busy queue``, a real subprocess) over its WebSocket with
agent.wait, at 100 ms provider RTT: for each anchor (end, text, first, request, served, and served with a
negative gap) the error ``sent_at - (anchor_at + gap)`` of every call after the first, p50 / p99 / max in
milliseconds. The target is p99 within 2 ms. Only 127.0.0.1 is used; every loop is bounded.
"""

from __future__ import annotations

import sys

from instant_harness import arguments, figures, toy_gateway, worst_line

from pytest_replyrace import OpenClawTransport
from pytest_replyrace.driver import DriverSettings, SequentialSender

POINTS = (("end", 0.02), ("text", 0.0), ("first", 0.02), ("request", 0.05), ("served", 0.02), ("served", -0.05))


def main() -> int:
    args = arguments(__doc__, calls=(40, "calls per run"), runs=(3, "runs per anchor"), rtt=0.1)
    print(
        f"send instant error, sent_at - (anchor + gap), {args.runs} runs x {args.calls - 1} sends per anchor, "
        f"rtt {args.rtt * 1000:g} ms"
    )
    print(f"{'anchor':>8} {'gap':>7} {'n':>5} {'p50':>8} {'p99':>8} {'max':>8}  fallbacks")
    worst = 0.0
    with toy_gateway(args.rtt) as (provider, gateway):
        for seed, (anchor, gap) in enumerate(POINTS):
            errors: list[float] = []
            fallbacks = 0
            for run in range(args.runs):
                provider.reset(rtt=args.rtt)
                sender = SequentialSender(
                    lambda: OpenClawTransport(gateway.url, token="replyrace-token", agent_wait=True),
                    provider=provider,
                    gateway=gateway,
                    seed=seed * 100 + run,
                    rtt=args.rtt,
                    settings=DriverSettings(calls=args.calls, gap=gap, timeout=10, settle=0, send_at=anchor),
                )
                result = sender.run()
                for call in result.calls[1:]:
                    if call.anchor_fallback:
                        fallbacks += 1
                    assert call.anchor_at is not None
                    target = call.anchor_at + gap
                    errors.append((call.sent_at - target) * 1000)
                assert set(result.pattern) == {"p"}, result.timeline()
            median, p99, top = figures(errors)
            worst = max(worst, p99)
            print(
                f"{anchor:>8} {gap * 1000:>5.0f}ms {len(errors):>5} {median:>7.3f}ms "
                f"{p99:>7.3f}ms {top:>7.3f}ms  {fallbacks}"
            )
    print(worst_line(worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
