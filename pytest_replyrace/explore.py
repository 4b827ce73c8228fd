"""Exploring around a run: shrinking a failure, the grid and the window search, as a step of their own.

The driver runs one run; the :class:`Explorer` beside it runs many (through the driver's ``arun``) and says a
progress line per probe. A failing race assertion only raises: the plugin explores after the test (the
``pytest_runtest_call`` hook, for sync and async tests alike), and a library user calls
``sender.explain(failure)``; the text found (the minimal reproduction, the window) is appended to the failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from .errors import InvalidArgument, NotStarted, RaceFailure
from .units import format_duration
from .verdict import RaceResult
from .window import RaceWindow, SearchSpec, probe_grid, search

__all__ = ["Explorer", "Runner"]


class Runner(Protocol):
    """What the explorer needs of the driver: one run, and the settings of exploring."""

    seed: int | None
    node_id: str | None
    shrink_budget: float
    search_spec: SearchSpec | None
    parallel: int
    on_window: Callable[[RaceWindow], None] | None
    progress: Callable[[str], None] | None
    replay_calls: Callable[[int], str] | None

    async def arun(
        self,
        calls: int | None = None,
        gap: float | tuple[float, ...] | None = None,
        session_key: str | None = None,
        rtt: float | None = None,
        *,
        send_at: str | None = None,
        busy_policy: str | None = None,
    ) -> RaceResult: ...


class Explorer:
    """Shrink, grid and window search over a :class:`Runner`; while one runs, its probes are not the test's
    runs (``quiet``) and, with several sessions at once, each keeps only its own log lines (``concurrent``)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.quiet = False
        self.concurrent = False
        self._probing: tuple[str, float, float | None] | None = None
        """While a grid, a search or a shrink runs: its name, start and budget (for the progress lines)."""

    # -- what the driver asks ------------------------------------------------

    def report(self, result: RaceResult) -> None:
        """One progress line for a probe (nothing for a run outside a grid, a search or a shrink)."""
        progress = self.runner.progress
        if self._probing is None or progress is None:
            return
        what, started, budget = self._probing
        rtt = "-" if result.rtt is None else format_duration(result.rtt)
        elapsed = time.monotonic() - started
        of = f" of {budget:g}s" if budget else ""
        progress(
            f"replyrace: {what} probe rtt={rtt} gap={format_duration(result.gap)} calls={len(result.calls)}"
            f" -> {result.pattern} ({elapsed:.1f}s{of}) [{self.runner.node_id or 'library'}]"
        )

    @contextlib.contextmanager
    def _probes(self, what: str, budget: float | None, *, quiet: bool = False, parallel: int = 1) -> Iterator[None]:
        outer = self._probing, self.quiet, self.concurrent
        self._probing = (what, time.monotonic(), budget)
        self.quiet, self.concurrent = quiet or self.quiet, parallel > 1
        try:
            yield
        finally:
            self._probing, self.quiet, self.concurrent = outer

    # -- after a failure -----------------------------------------------------

    def wanted(self, result: RaceResult) -> bool:
        """Is there anything to explore after this result failed (a shrink budget, a search spec)? Never after a
        run in which no call got a real reply: a broken setup, not a race."""
        runner = self.runner
        if result.no_real_reply:
            return False
        return (runner.shrink_budget > 0 and len(result.calls) > 2) or runner.search_spec is not None

    def explain(self, failure: RaceFailure) -> str | None:
        """Explore after ``failure`` (blocking; outside a running event loop) and append what was found to its
        message; returns that text. A failure without its result, or nothing to explore: None."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.aexplain(failure))
        raise NotStarted("explain() was called inside a running event loop; use `await sender.aexplain(failure)`")

    async def aexplain(self, failure: RaceFailure) -> str | None:
        result = failure.result
        if not isinstance(result, RaceResult) or failure.explored or not self.wanted(result):
            return None
        failure.explored = True
        parts = []
        if self.runner.shrink_budget > 0 and len(result.calls) > 2:
            parts.append(await self.ashrink(result, failure.bad))
        if self.runner.search_spec is not None:
            with self._probes("window search", None, quiet=True):  # the search's probes are not the test's runs
                window = await self.asearch()
            parts.append(window.describe())
        text = "\n".join(p for p in parts if p) or None
        if text:
            failure.args = (f"{failure.args[0]}\n{text}", *failure.args[1:])
        return text

    async def ashrink(self, failed: RaceResult, bad: frozenset[str]) -> str | None:
        """The fewest calls (from 2) at the failure's RTT, gap and modes that still show a ``bad`` letter."""
        runner = self.runner
        deadline = time.monotonic() + runner.shrink_budget
        with self._probes("shrink", runner.shrink_budget, quiet=True):
            for calls in range(2, len(failed.calls)):
                if time.monotonic() >= deadline:
                    return f"minimal reproduction: none found within the {runner.shrink_budget:g}s shrink budget"
                probe = await runner.arun(
                    calls=calls,
                    gap=failed.spec.gap if failed.spec is not None else failed.gap,
                    rtt=failed.rtt,
                    send_at=failed.send_at,
                    busy_policy=failed.busy_policy,
                )
                if any(letter in bad for letter in probe.pattern):
                    return self._reproduction(failed, probe, calls)
        return f"minimal reproduction: fewer than {len(failed.calls)} calls did not fail again"

    def _reproduction(self, failed: RaceResult, probe: RaceResult, calls: int) -> str:
        command = self.runner.replay_calls(calls) if self.runner.replay_calls is not None else None
        rtt = "-" if failed.rtt is None else format_duration(failed.rtt)
        return (
            f"minimal reproduction: {calls} calls at rtt={rtt}, gap={format_duration(failed.gap)}, "
            f"seed {self.runner.seed}: pattern {probe.pattern} (session {probe.session_key})"
            + (f"\n  replay it: {command}" if command else "")
        )

    # -- the window ----------------------------------------------------------

    async def agrid(
        self, rtts: Sequence[float], gaps: Sequence[float], calls: int | None = None, parallel: int | None = None
    ) -> RaceWindow:
        """Probe every (rtt, gap) point; see :func:`pytest_replyrace.window.probe_grid`."""
        parallel = parallel or self.runner.parallel
        with self._probes("grid", None, parallel=parallel):
            window = await probe_grid(self.runner, rtts, gaps, calls=calls or 4, parallel=parallel)
        return self._found(window)

    async def asearch(
        self,
        rtt: tuple[float, float] | None = None,
        gap: tuple[float, float] | None = None,
        *,
        gaps: int | None = None,
        budget_s: float | None = None,
        max_calls: int | None = None,
        parallel: int | None = None,
    ) -> RaceWindow:
        """Find, for each gap, the RTT below which fast-fails appear; see :func:`pytest_replyrace.window.search`.
        Arguments left out come from the runner's ``search_spec``."""
        spec = self.runner.search_spec
        if spec is None:
            if rtt is None or gap is None:
                raise InvalidArgument(
                    "search: give rtt=(lo, hi) and gap=(lo, hi), or set them with "
                    "@pytest.mark.replyrace_search(rtt, gap) or --replyrace-search"
                )
            spec = SearchSpec(rtt, gap)
        parallel = parallel or self.runner.parallel
        budget = budget_s or spec.budget
        with self._probes("window search", budget, parallel=parallel):
            window = await search(
                self.runner,
                rtt or spec.rtt,
                gap or spec.gap,
                gaps=gaps or spec.gaps,
                budget_s=budget,
                calls=max_calls or spec.calls,
                parallel=parallel,
            )
        return self._found(window)

    def _found(self, window: RaceWindow) -> RaceWindow:
        if self.runner.on_window is not None:
            self.runner.on_window(window)
        return window
