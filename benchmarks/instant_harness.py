"""What ``send_at.py`` and ``stop_at.py`` share: their arguments, the toy gateway they run against, the figures.

The toy gateway is the example project's (``fixed --busy queue``, a real subprocess) behind a fake provider,
both on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"

from pytest_replyrace import FakeProvider, LaunchedGateway  # noqa: E402

TARGET_MS = 2


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def arguments(doc: str | None, calls: tuple[int, str], runs: tuple[int, str], rtt: float) -> argparse.Namespace:
    """``--calls``, ``--runs`` and ``--rtt`` (each ``(default, help)``; the help says the default)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=calls[0], help=f"{calls[1]} (default {calls[0]})")
    parser.add_argument("--runs", type=int, default=runs[0], help=f"{runs[1]} (default {runs[0]})")
    parser.add_argument("--rtt", type=float, default=rtt, help=f"provider RTT in seconds (default {rtt:g})")
    return parser.parse_args()


@contextmanager
def toy_gateway(rtt: float) -> Iterator[tuple[FakeProvider, LaunchedGateway]]:
    """The fake provider at ``rtt`` and the toy gateway launched against it; both stopped on the way out."""
    command = (
        f"{sys.executable} -m toy_gateway --port {{port}} --provider-url {{provider_url}} --mode fixed --busy queue"
    )
    env = {"PYTHONPATH": str(EXAMPLE)}
    with (
        FakeProvider(rtt=rtt, seed=1) as provider,
        LaunchedGateway(
            command, provider_url=provider.base_url, cwd=EXAMPLE, env=env, ready="http:/readyz", ready_timeout=30
        ) as gateway,
    ):
        yield provider, gateway


def figures(errors: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max of ``errors`` (NaN each when there are none)."""
    if not errors:
        return float("nan"), float("nan"), float("nan")
    return statistics.median(errors), percentile(errors, 99), max(errors)


def worst_line(worst: float) -> str:
    return f"worst p99: {worst:.3f} ms ({'within' if worst <= TARGET_MS else 'over'} the {TARGET_MS} ms target)"
