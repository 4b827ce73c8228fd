"""Find the race window, not a single point.

A reply race shows only when the provider is fast enough AND the next send
comes soon enough after the previous reply. :func:`probe_grid` probes every
(RTT, gap) point, several at once on separate session keys when ``parallel``
allows (the fake provider serves each run's tokens at that run's RTT);
:func:`search` bisects, for each gap, the RTT below which fast-fails appear,
and confirms the edge with a second probe.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import InvalidArgument, RaceFailure
from .letters import FAST_FAIL_LETTERS
from .spec import SearchSpec
from .units import format_duration as _exact

__all__ = ["GridPoint", "Probe", "Prober", "RaceWindow", "SearchSpec", "linear_points", "probe_grid", "search"]


class Probe(Protocol):
    """What one probe tells the search: its pattern and the session it ran on."""

    @property
    def pattern(self) -> str: ...

    @property
    def session_key(self) -> str: ...


class Prober(Protocol):
    """What the search needs: one sequential run of ``calls`` at an RTT and a gap (the driver's ``arun``).
    Probes may run concurrently, each on its own session key."""

    async def arun(self, *, calls: int, gap: float, rtt: float) -> Probe: ...


@dataclass
class GridPoint:
    rtt: float
    gap: float
    pattern: str
    session_key: str

    @property
    def fails(self) -> bool:
        return any(letter in FAST_FAIL_LETTERS for letter in self.pattern)


@dataclass
class RaceWindow:
    points: list[GridPoint] = field(default_factory=list)
    boundaries: dict[float, float | None] = field(default_factory=dict)
    """Per gap: the highest RTT that still failed (None: no fast-fail at any RTT tried)."""
    confirmed: dict[float, bool] = field(default_factory=dict)
    unresolved: dict[float, tuple[float, float]] = field(default_factory=dict)
    """Per gap whose bisection the budget cut short: the last failing and the first clean RTT."""
    rtt_range: tuple[float, float] | None = None
    wall: float = 0.0

    @property
    def found(self) -> bool:
        return any(point.fails for point in self.points)

    def verdicts(self) -> dict[tuple[float, float], bool]:
        return {(p.rtt, p.gap): p.fails for p in self.points}

    def statement(self) -> str:
        """The window in words: "fails when RTT ≤ 450ms with gap ≤ 200ms"."""
        if not self.found:
            return "no fast-fail at any point probed"
        if not self.boundaries:
            failing = [p for p in self.points if p.fails]
            top_gap = max(p.gap for p in failing)
            top_rtt = max(p.rtt for p in failing if p.gap == top_gap)
            return f"fails when RTT ≤ {format_duration(top_rtt)} with gap ≤ {format_duration(top_gap)} (grid)"
        failing_gaps = [g for g, b in self.boundaries.items() if b is not None]
        top_gap = max(failing_gaps)
        edge = self.boundaries[top_gap]
        assert edge is not None
        hi = self.rtt_range[1] if self.rtt_range else math.inf
        rtt_text = f"up to the top of the range ({format_duration(hi)})" if edge >= hi else f"≤ {format_duration(edge)}"
        return f"fails when RTT {rtt_text} with gap ≤ {format_duration(top_gap)}{self._unresolved_note(top_gap)}"

    def _unresolved_note(self, gap: float) -> str:
        if gap not in self.unresolved:
            return ""
        failing, clean = self.unresolved[gap]
        return f"; edge between {format_duration(failing)} and {format_duration(clean)} (budget ran out)"

    def describe(self) -> str:
        lines = [f"replyrace window: {self.statement()} ({len(self.points)} probes, {self.wall:.1f}s)"]
        for gap, edge in sorted(self.boundaries.items()):
            state = "no fast-fail" if edge is None else f"fast-fails at RTT ≤ {format_duration(edge)}"
            if edge is not None and not self.confirmed.get(gap, True):
                state += " (not confirmed by a second probe: intermittent)"
            state += self._unresolved_note(gap)
            lines.append(f"  gap {format_duration(gap):>6}: {state}")
        lines.append("  probes (rtt, gap → pattern):")
        for point in sorted(self.points, key=lambda p: (p.gap, p.rtt)):
            rtt_label, gap_label = format_duration(point.rtt), format_duration(point.gap)
            lines.append(f"    rtt={rtt_label:>7} gap={gap_label:>6} → {point.pattern}")
        return "\n".join(lines)

    def assert_no_window(self) -> None:
        __tracebackhide__ = True
        if self.found:
            raise RaceFailure(self.describe())

    def to_dict(self) -> dict[str, Any]:
        return {
            "statement": self.statement(),
            "boundaries": {str(g): b for g, b in self.boundaries.items()},
            "confirmed": {str(g): c for g, c in self.confirmed.items()},
            "unresolved": {str(g): list(pair) for g, pair in self.unresolved.items()},
            "points": [
                {"rtt": p.rtt, "gap": p.gap, "pattern": p.pattern, "session_key": p.session_key} for p in self.points
            ],
        }


def format_duration(seconds: float) -> str:
    """Bisection lands on odd values: show whole milliseconds, or seconds to 2 decimals."""
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else _exact(round(seconds, 2))


def linear_points(lo: float, hi: float, n: int) -> list[float]:
    if n <= 1 or lo == hi:
        return [lo]
    return [round(lo + (hi - lo) * i / (n - 1), 6) for i in range(n)]


async def _probe(sender: Prober, rtt: float, gap: float, calls: int, gate: asyncio.Semaphore) -> GridPoint:
    async with gate:
        result = await sender.arun(calls=calls, gap=gap, rtt=rtt)
    return GridPoint(rtt, gap, result.pattern, result.session_key)


async def probe_grid(
    sender: Prober, rtts: Sequence[float], gaps: Sequence[float], *, calls: int = 4, parallel: int = 1
) -> RaceWindow:
    """Every (rtt, gap) point, ``parallel`` at a time."""
    if parallel < 1:
        raise InvalidArgument(f"parallel {parallel!r}: expected an integer >= 1")
    start = time.monotonic()
    gate = asyncio.Semaphore(parallel)
    points = await asyncio.gather(*(_probe(sender, r, g, calls, gate) for g in gaps for r in rtts))
    return RaceWindow(points=list(points), rtt_range=(min(rtts), max(rtts)), wall=time.monotonic() - start)


async def _edge_for_gap(
    sender: Prober,
    gap: float,
    lo: float,
    hi: float,
    calls: int,
    gate: asyncio.Semaphore,
    deadline: float,
    window: RaceWindow,
    tolerance: float,
) -> None:
    async def probe(rtt: float) -> bool:
        point = await _probe(sender, rtt, gap, calls, gate)
        window.points.append(point)
        return point.fails

    if not await probe(lo):
        window.boundaries[gap] = None
        return
    if await probe(hi):
        window.boundaries[gap] = hi
        window.confirmed[gap] = True
        return
    failing, clean = lo, hi
    while clean / failing > 1 + tolerance:
        if time.monotonic() >= deadline:
            window.unresolved[gap] = (failing, clean)
            break
        # Bisect in log space (RTTs span decades), on whole milliseconds so ids and tables stay readable.
        middle = round(math.sqrt(failing * clean), 3)
        if not failing < middle < clean:
            break
        if await probe(middle):
            failing = middle
        else:
            clean = middle
    window.boundaries[gap] = failing
    # The second look stands one tolerance inside the edge: right at it, a probe is a coin toss.
    inside = max(lo, round(failing / (1 + tolerance), 3))
    window.confirmed[gap] = failing == lo or await probe(inside)


async def search(
    sender: Prober,
    rtt: tuple[float, float],
    gap: tuple[float, float],
    *,
    gaps: int = 3,
    budget_s: float = 120.0,
    calls: int = 4,
    parallel: int = 1,
    tolerance: float = 0.05,
) -> RaceWindow:
    """For each of ``gaps`` gaps from gap[0] to gap[1], the RTT edge of the fast-fail window.

    Bisection in log space between rtt[0] and rtt[1] until the edge is known to
    within ``tolerance`` (or the budget runs out), then a confirming re-probe.
    Gaps are searched concurrently when ``parallel`` > 1.
    """
    lo, hi = rtt
    if not 0 < lo < hi:
        raise InvalidArgument(f"rtt {rtt!r}: expected (lo, hi) seconds with 0 < lo < hi")
    if not 0 <= gap[0] <= gap[1]:
        raise InvalidArgument(f"gap {gap!r}: expected (lo, hi) seconds with 0 <= lo <= hi")
    if calls < 2:
        raise InvalidArgument(f"max_calls {calls!r}: expected at least 2 (a race needs a second send)")
    start = time.monotonic()
    deadline = start + budget_s
    window = RaceWindow(rtt_range=rtt)
    gate = asyncio.Semaphore(max(1, parallel))
    await asyncio.gather(
        *(
            _edge_for_gap(sender, g, lo, hi, calls, gate, deadline, window, tolerance)
            for g in linear_points(gap[0], gap[1], gaps)
        )
    )
    window.wall = time.monotonic() - start
    return window
