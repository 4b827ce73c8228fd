"""The window search's bisection, against a deterministic stand-in for a gateway.

The stand-in fails every probe with RTT < 650 ms - gap (the toy's alternating
mode with 650 ms of background work), so the edges are known exactly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_replyrace.window import RaceWindow, probe_grid, search


@dataclass
class Outcome:
    pattern: str
    session_key: str


@dataclass
class WindowedSender:
    hold: float = 0.65
    flaky_until: float = 0.0
    """RTTs from the true edge up to this fail only on the first probe among them (an intermittent edge)."""
    probes: list[tuple[float, float, int]] = field(default_factory=list)
    _parallel: bool = False

    async def arun(self, calls: int, gap: float, rtt: float) -> Any:
        self.probes.append((rtt, gap, calls))
        edge = self.hold - gap
        fails = rtt < edge
        if edge <= rtt < self.flaky_until:
            fails = sum(1 for r, g, _ in self.probes if g == gap and edge <= r < self.flaky_until) == 1
        pattern = "p" + ("f" if fails else "p") * (calls - 1)
        return Outcome(pattern, f"agent:test:race-{len(self.probes)}")


def run_search(sender: WindowedSender, **kwargs: Any) -> RaceWindow:
    return asyncio.run(search(sender, (0.05, 1.0), (0.2, 0.4), **kwargs))  # type: ignore[arg-type]


def test_edges_within_tolerance_and_confirmed() -> None:
    sender = WindowedSender()
    window = run_search(sender, gaps=3, calls=3)
    assert sorted(window.boundaries) == [0.2, 0.3, 0.4]
    for gap, edge in window.boundaries.items():
        true_edge = 0.65 - gap
        assert edge is not None and edge < true_edge <= edge * 1.05, (gap, edge)
        assert window.confirmed[gap]
    # Probes land on whole milliseconds, and every probe sent the requested calls.
    assert all(round(rtt, 3) == rtt and calls == 3 for rtt, _, calls in sender.probes)
    assert window.statement().startswith("fails when RTT ≤ 2") and window.statement().endswith("gap ≤ 400ms")
    assert len(window.points) == len(sender.probes) <= 3 * 12


def test_confirmation_looks_inside_the_edge() -> None:
    """A confirming probe right at a boundary is a coin toss; it stands one tolerance inside."""
    sender = WindowedSender()
    window = run_search(sender, gaps=1, calls=2)
    edge = window.boundaries[0.2]
    assert edge is not None
    last_rtt = sender.probes[-1][0]
    assert last_rtt == pytest.approx(edge / 1.05, abs=0.001)


def test_an_edge_that_does_not_fail_again_is_called_intermittent() -> None:
    sender = WindowedSender(flaky_until=0.6)
    window = run_search(sender, gaps=1, calls=2)
    edge = window.boundaries[0.2]
    assert edge is not None and 0.45 <= edge < 0.6  # the one flaky failure moved the edge
    assert window.confirmed[0.2] is False
    assert "gap  200ms: fast-fails at RTT ≤ " in window.describe()
    assert "(not confirmed by a second probe: intermittent)" in window.describe()


def test_failing_up_to_the_top_needs_no_bisection() -> None:
    sender = WindowedSender(hold=10.0)
    window = run_search(sender, gaps=1, calls=2)
    assert window.boundaries[0.2] == 1.0 and window.confirmed[0.2] and len(sender.probes) == 2
    assert window.statement() == "fails when RTT up to the top of the range (1s) with gap ≤ 200ms"
    with pytest.raises(AssertionError, match="replyrace window: fails when RTT up to the top"):
        window.assert_no_window()


def test_no_window_and_budget() -> None:
    clean = WindowedSender(hold=0.0)
    window = run_search(clean, gaps=2, calls=2)
    assert window.boundaries == {0.2: None, 0.4: None} and not window.found
    assert window.statement() == "no fast-fail at any point probed"
    window.assert_no_window()
    spent = WindowedSender()
    window = run_search(spent, gaps=1, calls=2, budget_s=0.0)
    # Out of budget at once: lo and hi only, and the edge stays at lo (which needs no second look).
    assert len(spent.probes) == 2 and window.boundaries == {0.2: 0.05} and window.confirmed[0.2]


def test_grid_and_bad_arguments() -> None:
    sender = WindowedSender()
    window = asyncio.run(probe_grid(sender, [0.05, 0.5, 1.0], [0.0, 0.4], calls=2, parallel=3))  # type: ignore[arg-type]
    assert window.verdicts() == {
        (0.05, 0.0): True,
        (0.5, 0.0): True,
        (1.0, 0.0): False,
        (0.05, 0.4): True,
        (0.5, 0.4): False,
        (1.0, 0.4): False,
    }
    assert "(grid)" in window.statement()
    with pytest.raises(ValueError, match=r"rtt \(1.0, 0.05\): expected \(lo, hi\) seconds with 0 < lo < hi"):
        asyncio.run(search(sender, (1.0, 0.05), (0, 0)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_calls 1: expected at least 2"):
        asyncio.run(search(sender, (0.05, 1.0), (0, 0), calls=1))  # type: ignore[arg-type]


def test_an_edge_the_budget_cut_short_says_so() -> None:
    window = run_search(WindowedSender(), gaps=1, calls=2, budget_s=0.0)
    assert window.unresolved == {0.2: (0.05, 1.0)}
    assert window.statement() == "fails when RTT ≤ 50ms with gap ≤ 200ms; edge between 50ms and 1s (budget ran out)"
    assert "gap  200ms: fast-fails at RTT ≤ 50ms; edge between 50ms and 1s (budget ran out)" in window.describe()
    assert window.to_dict()["unresolved"] == {"0.2": [0.05, 1.0]}


def test_a_resolved_edge_does_not_claim_the_budget_ran_out() -> None:
    window = run_search(WindowedSender(), gaps=1, calls=2)
    assert not window.unresolved and "budget" not in window.statement() + window.describe()
