"""How close each stop lands to its stop instant: its stop_at anchor plus its stop_gap.

    python benchmarks/stop_at.py [--calls 30] [--runs 2]

Beside ``send_at.py``. Against the example project's toy gateway (``fixed --busy queue``, a real subprocess)
over its HTTP contract (``POST /chat.send``, ``POST /chat.abort``), at 300 ms provider RTT, every call stopped
(``stop_calls="all"``): for each anchor (sent, request, served with a negative gap, text, end) and each
``stop_by`` (cancel, disconnect), the error ``stop.sent_at - stop.due_at`` of every stop that was sent,
p50 / p99 / max in milliseconds. The target is p99 within 2 ms. Only 127.0.0.1 is used; every loop is bounded.
"""

from __future__ import annotations

import sys

from instant_harness import arguments, figures, toy_gateway, worst_line

from pytest_replyrace import HttpTransport
from pytest_replyrace.driver import DriverSettings, SequentialSender

POINTS = (("sent", 0.05), ("request", 0.05), ("served", -0.05), ("text", 0.02), ("end", 0.02))


def main() -> int:
    args = arguments(
        __doc__, calls=(30, "calls per run, each stopped"), runs=(2, "runs per anchor and stop_by"), rtt=0.3
    )
    print(
        f"stop instant error, stop sent_at - (anchor + stop_gap), {args.runs} runs x {args.calls} stopped calls per "
        f"point, rtt {args.rtt * 1000:g} ms"
    )
    print(f"{'stop_by':>10} {'anchor':>8} {'gap':>7} {'n':>5} {'p50':>8} {'p99':>8} {'max':>8}  not stopped")
    worst = 0.0
    with toy_gateway(args.rtt) as (provider, gateway):
        for seed, ((anchor, gap), stop_by) in enumerate((p, by) for by in ("cancel", "disconnect") for p in POINTS):
            errors: list[float] = []
            skipped = 0
            for run in range(args.runs):
                provider.reset(rtt=args.rtt)
                settings = DriverSettings(
                    calls=args.calls,
                    timeout=10,
                    settle=0,
                    stop_at=anchor,
                    stop_gap=gap,
                    stop_calls="all",
                    stop_by=stop_by,
                )
                sender = SequentialSender(
                    lambda: HttpTransport(gateway.url),
                    provider=provider,
                    gateway=gateway,
                    seed=seed * 100 + run,
                    rtt=args.rtt,
                    settings=settings,
                )
                result = sender.run()
                for call in result.calls:
                    stop = call.stop
                    assert stop is not None
                    if stop.sent_at is None or stop.due_at is None:
                        skipped += 1
                        continue
                    errors.append((stop.sent_at - stop.due_at) * 1000)
                assert "o" not in result.pattern, result.timeline()
            median, p99, top = figures(errors)
            worst = max(worst, p99) if errors else worst
            print(
                f"{stop_by:>10} {anchor:>8} {gap * 1000:>5.0f}ms {len(errors):>5} {median:>7.3f}ms "
                f"{p99:>7.3f}ms {top:>7.3f}ms  {skipped}"
            )
    print(worst_line(worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
