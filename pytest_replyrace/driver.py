"""The sequential-send driver: N messages, one after another, on one session.

Each call goes out ``gap`` seconds after a moment of the previous one, its ``send_at`` anchor: by default
the previous answer's end (``end``), as a careful client does; or, as real clients do, when the previous
reply's text was complete (``text``), when its first event arrived (``first``, double texting), when the
fake provider received its request (``request``) or finished serving it (``served``, where a negative gap
sends before that). Answers still arriving are read to their end concurrently. Gap 0 is the default: on real
OpenClaw 2026.5.7 a send that follows the previous reply at once hits the race every time, while a 1 s
pause misses it. Every call carries a unique token; after the run the provider journal is joined to the
calls by token and each call is classified (see :mod:`pytest_replyrace.verdict`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .clock import SEND_SPIN, sleep_until
from .errors import InvalidArgument, NotStarted, RaceFailure
from .explore import Explorer
from .gateway.log import LogScan
from .gateway.nemesis import ProcessPause
from .judge import judge
from .provider.server import FakeProvider
from .records import CallRecord, JournalEntry, PreambleRecord
from .sends import (
    InFlight,
    ProviderWatch,
    as_evidence,
    new_idempotency_key,
    one_call,
    preamble_call,
    probe_message,
    reports_events,
    transport_name,
    wait_anchor,
)
from .spec import DriverSettings, RunSpec
from .stop_judge import UNPAIRED_NOTE, busy_until, judge_stops
from .stopping import check_stoppable, stop_call
from .tokens import make_token, validate_session_key
from .transports.base import (
    CallEvents,
    Transport,
    TransportContractError,
    TransportError,
    check_transport,
)
from .verdict import RaceResult
from .window import RaceWindow, SearchSpec

__all__ = ["DriverSettings", "LogSource", "SequentialSender", "probe_message", "reports_events"]

_TAG_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


class LogSource(Protocol):
    """What the driver needs from a gateway: its log, read from an offset."""

    def log_offset(self) -> int: ...

    def log_matches(
        self, since: int = 0, *, late_from: int | None = None, containing: str | None = None
    ) -> LogScan: ...


def _report_settings(spec: RunSpec, extra: dict[str, Any]) -> dict[str, Any]:
    """The ``settings`` of the JSON report: the spec's knobs as they always were, then what the plugin adds."""
    data = spec.to_dict()
    del data["settle"]  # never reported
    return {**data, **extra}


def _log_matches(gateway: LogSource | None, start: int, last_reply: int, containing: str | None = None) -> LogScan:
    """Matches since the run began (bounded); those written after the last reply (in the settle time) marked
    late."""
    if gateway is None:
        return LogScan()
    return gateway.log_matches(start, late_from=last_reply, containing=containing)


def _stray_requests(journal: Sequence[JournalEntry], records: Sequence[CallRecord]) -> int:
    """Provider requests that arrived during the run (from its first send to its last end) carrying no token at
    all: not this run's calls, nor another run's (a gateway that rewrote or dropped the message)."""
    if not records:
        return 0
    start = records[0].sent_at
    end = max((r.ended_at for r in records if r.ended_at is not None), default=start)
    return sum(1 for e in journal if start <= e.arrived_at <= end and not e.tokens and not e.quoted)


def _late_replies(transport: Transport) -> dict[str, list[str]]:
    late = transport.late_replies()
    if not isinstance(late, dict):
        raise TransportContractError(
            f"{type(transport).__name__}.late_replies() returned {late!r:.80}; "
            "expected a dict of token -> list of texts ({} when there is none)"
        )
    return late


@dataclass
class _Setup:
    """One run's session, tag, transport, and what it must close again."""

    key: str
    run_tag: str
    transport: Transport
    pauser: ProcessPause | None
    watch: ProviderWatch | None

    async def close(self) -> None:
        if self.watch is not None:
            self.watch.close()
        if self.pauser is not None:
            await self.pauser.close()  # never leave the gateway stopped
        await self.transport.close()


def _judged(records: list[CallRecord], settings: RunSpec) -> list[CallRecord]:
    """The observations are complete: the judge reads them and says each call's letter, as new data; then the
    stop judge says ``s`` and ``o`` of the stopped calls (and reads the calls after a stop)."""
    records = [
        dataclasses.replace(
            record,
            letter=judged.letter,
            note=judged.note,
            answered_twice=judged.answered_twice,
            history_problem=judged.history_problem,
        )
        for record, judged in zip(records, judge(records, settings.history))
    ]
    if not settings.stops and not any(e.error == UNPAIRED_NOTE for r in records for e in r.journal):
        return records
    return [
        dataclasses.replace(
            record,
            letter=judged.letter,
            note=judged.note,
            stop=dataclasses.replace(record.stop, reason=judged.reason) if record.stop else None,
        )
        for record, judged in zip(records, judge_stops(records, settings))
    ]


def _launch(setup: _Setup, settings: RunSpec, index: int, anchor: float | None, fallback: bool) -> InFlight:
    """Send call ``index`` now, and, when it is one the client stops, its stop beside it."""
    record = CallRecord(
        index=index,
        token=make_token(setup.run_tag, index),
        session_key=setup.key,
        sent_at=time.monotonic(),
        send_at=settings.send_at_of(index),
        anchor_at=anchor,
        anchor_fallback=fallback,
        gap=settings.gap_of(index) if index > 1 else 0.0,
    )
    flight = InFlight(record, CallEvents())
    key = new_idempotency_key()
    flight.task = asyncio.create_task(
        one_call(setup.transport, flight, settings, setup.pauser, key), name=f"replyrace-call-{index}"
    )
    if settings.stopped(index):
        nth = sum(1 for i in range(1, index) if settings.stopped(i))
        flight.stop_task = asyncio.create_task(
            stop_call(setup.transport, flight, settings, nth, key, setup.watch), name=f"replyrace-stop-{index}"
        )
    return flight


@dataclass
class SequentialSender:
    """Runs sequential sends through a transport and classifies every call."""

    transport_factory: Callable[[], Transport]
    provider: FakeProvider | None = None
    gateway: LogSource | None = None
    settings: RunSpec = field(default_factory=RunSpec)
    seed: int | None = None
    rtt: float | None = None
    node_id: str | None = None
    replay: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    on_result: Callable[[RaceResult], None] | None = None
    log_since: int | None = None
    """Log offset from which matches are reported (default: the start of each run)."""
    session_key: str | None = None
    """Fixed session key for every run (default: a fresh key per run)."""
    pause_pgid: int | None = None
    """Process group the pause nemesis freezes (the launched gateway's)."""
    shrink_budget: float = 0.0
    """Seconds a failing assertion may spend looking for the fewest calls that still fail (0: off)."""
    replay_calls: Callable[[int], str] | None = None
    """Turns a call count into the command that replays the test with that many calls."""
    parallel: int = 1
    """How many grid points a grid or a search probes at the same time (separate session keys)."""
    on_window: Callable[[RaceWindow], None] | None = None
    """Called with every window a grid or a search finds (the plugin puts it in the reports)."""
    search_spec: SearchSpec | None = None
    """Where ``search()`` looks when called without ranges; a failing assertion then appends the window."""
    progress: Callable[[str], None] | None = None
    """Gets one line per probe of a grid, a window search or a shrink (the point, its pattern, elapsed of the
    budget): long work is never silent. The plugin writes it on the terminal, and nothing with ``-q``."""

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.seed}:{self.node_id}")
        self.results: list[RaceResult] = []
        self._active = 0
        self.explorer = Explorer(self)
        """Shrink, grid and window search: many runs through this one's :meth:`arun`."""

    def _tag(self, length: int) -> str:
        return "".join(self._rng.choice(_TAG_ALPHABET) for _ in range(length))

    def new_session_key(self) -> str:
        return f"agent:test:race-{self._tag(8)}"

    def run(
        self,
        calls: int | None = None,
        gap: float | tuple[float, ...] | None = None,
        session_key: str | None = None,
        *,
        send_at: str | None = None,
        busy_policy: str | None = None,
    ) -> RaceResult:
        """Blocking form for sync tests."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(
                self.arun(calls=calls, gap=gap, session_key=session_key, send_at=send_at, busy_policy=busy_policy)
            )
        raise NotStarted(
            "sequential_sender.run() was called inside a running event loop; use `await sequential_sender.arun(...)`"
        )

    async def arun(
        self,
        calls: int | None = None,
        gap: float | tuple[float, ...] | None = None,
        session_key: str | None = None,
        rtt: float | None = None,
        *,
        send_at: str | None = None,
        busy_policy: str | None = None,
    ) -> RaceResult:
        """One sequential run. ``rtt`` serves this run's tokens at their own RTT, so runs on
        other session keys can go on at other RTTs at the same time; ``send_at`` and ``busy_policy`` override
        the settings for this run."""
        given = {"calls": calls, "gap": gap, "send_at": send_at, "busy_policy": busy_policy}
        settings = self.settings.override("arun", **{k: v for k, v in given.items() if v is not None})
        setup = self._open(settings, session_key, rtt)
        self._active += 1
        log_start = self.log_since if self.log_since is not None else (self.gateway.log_offset() if self.gateway else 0)
        try:
            records, preamble, late, last_reply_mark = await self._send_all(setup, settings)
        finally:
            self._active -= 1
        result = self._finish(
            records,
            setup.key,
            settings,
            (log_start, last_reply_mark),
            late,
            self.rtt if rtt is None else rtt,
            concurrent=self._active > 0 or self.explorer.concurrent,
            preamble=preamble,
        )
        self.explorer.report(result)
        return result

    def _open(self, settings: RunSpec, session_key: str | None, rtt: float | None) -> _Setup:
        """What one run needs before its first send, each refusal said before anything is sent."""
        pauser = None
        if settings.pause is not None:
            if self.pause_pgid is None:
                raise InvalidArgument(
                    "pause: the process-pause nemesis needs a launched gateway (no process group known)"
                )
            pauser = ProcessPause(self.pause_pgid, *settings.pause)
        fixed = session_key if session_key is not None else self.session_key
        key = validate_session_key(fixed) if fixed is not None else self.new_session_key()
        run_tag = self._tag(6)
        if rtt is not None:
            if self.provider is None:
                raise InvalidArgument("rtt: a per-run RTT needs the fake provider")
            self.provider.set_token_rtt(f"rr-{run_tag}-", rtt, self.provider.rtt.jitter)
        transport = check_transport(self.transport_factory(), "replyrace_transport_factory")
        check_stoppable(transport, settings)
        waits = {
            *settings.anchors(),
            *(settings.stop_at if isinstance(settings.stop_at, tuple) else (settings.stop_at,)),
        }
        event_anchor = next((a for a in settings.anchors() if a in ("text", "first")), None)
        if event_anchor is not None and not reports_events(transport):
            raise TransportContractError(
                f"send_at={event_anchor!r} waits for an event of the previous answer, and the "
                f"{transport_name(transport)} transport reports none; use send_at 'end', 'request' or 'served' with "
                "it, or give it `reports_events = True` and report on the CallEvents its send() is handed (see docs, "
                "'When clients send')"
            )
        if waits & {"request", "served"} and self.provider is None:
            raise InvalidArgument(
                f"send_at={settings.text('send_at')!r} stop_at={settings.text('stop_at')!r} waits for the fake "
                "provider, and this sender has none"
            )
        watch = (
            ProviderWatch(self.provider, asyncio.get_running_loop())
            if waits & {"request", "served"} and self.provider is not None
            else None
        )
        return _Setup(key, run_tag, transport, pauser, watch)

    async def _send_all(
        self, setup: _Setup, settings: RunSpec
    ) -> tuple[list[CallRecord], list[PreambleRecord], dict[str, list[str]], int]:
        """The preamble, then every call at its moment; the answers read to their end, the settle time waited."""
        transport, key = setup.transport, setup.key
        preamble: list[PreambleRecord] = []
        flights: list[InFlight] = []
        try:
            with as_evidence(transport, "open()"):
                await transport.open()
        except TransportError:
            pass  # each call retries the connection and records the failure as an `e`
        try:
            for message in settings.preamble:
                preamble.append(await preamble_call(transport, key, message, settings))
            previous: InFlight | None = None
            for index in range(1, settings.calls + 1):
                anchor, fallback = (None, False)
                if previous is not None:
                    anchor, fallback, target = await wait_anchor(previous, settings, setup.watch)
                    await sleep_until(target, SEND_SPIN)
                previous = _launch(setup, settings, index, anchor, fallback)
                flights.append(previous)
            await asyncio.gather(*(flight.task for flight in flights))
            await asyncio.gather(*(flight.stop_task for flight in flights if flight.stop_task is not None))
            last_reply_mark = self.gateway.log_offset() if self.gateway else 0
            await asyncio.sleep(settings.settle)
            if self.provider is not None:
                # Requests still in flight get their end time before they are shown.
                await self.provider.await_idle(timeout=min(5.0, settings.timeout))
            late = _late_replies(transport)
        finally:
            for flight in flights:
                flight.task.cancel()  # a no-op for those that ended; only a failing run leaves any running
                if flight.stop_task is not None:
                    flight.stop_task.cancel()
            await setup.close()
        return [flight.record for flight in flights], preamble, late, last_reply_mark

    def _finish(
        self,
        records: list[CallRecord],
        key: str,
        settings: DriverSettings,
        log_window: tuple[int, int],
        late: dict[str, list[str]],
        rtt: float | None,
        concurrent: bool = False,
        preamble: Sequence[PreambleRecord] = (),
    ) -> RaceResult:
        stray = 0
        if self.provider is not None:
            self.provider.check_handler_errors()  # our own failure must never read as the gateway's letters
            journal = self.provider.journal
            for record in records:
                record.journal = [e for e in journal if record.token in e.tokens]
            stray = _stray_requests(journal, records)
        untils = [busy_until(records, j) for j in range(len(records))]  # once per call, not per later call
        for record in records:
            record.late_replies = list(late.get(record.token, []))
            record.sent_while_busy = any(
                until is None or until > record.sent_at for until in untils[: record.index - 1]
            )
        records = _judged(records, settings)
        # Other sessions ran at the same time: keep the lines that name this one.
        scan = _log_matches(self.gateway, *log_window, containing=key if concurrent else None)
        result = RaceResult(
            calls=records,
            session_key=key,
            rtt=rtt,
            gap=settings.gap_of(2),
            seed=self.seed,
            log_matches=scan.matches,
            log_matches_more=scan.more,
            node_id=self.node_id,
            replay=self.replay,
            settings=_report_settings(settings, self.extra),
            spec=settings,
            preamble=list(preamble),
            stray_requests=stray,
        )
        if self.explorer.quiet:
            return result  # a shrink or search probe after a failure is not one of the test's runs
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)
        return result

    # -- exploring: the explorer beside this driver does it ------------------

    def explain(self, failure: RaceFailure) -> str | None:
        """After a failing race assertion: shrink it to the fewest calls that still fail and search the window
        around it (as the settings ask), append what was found to the failure's message and return it. The
        plugin calls it after every failed test that used this sender; blocking, for sync code."""
        return self.explorer.explain(failure)

    async def aexplain(self, failure: RaceFailure) -> str | None:
        """:meth:`explain` for async code."""
        return await self.explorer.aexplain(failure)

    async def ashrink(self, failed: RaceResult, bad: frozenset[str]) -> str | None:
        return await self.explorer.ashrink(failed, bad)

    def grid(
        self, rtts: Sequence[float], gaps: Sequence[float], calls: int | None = None, parallel: int | None = None
    ) -> RaceWindow:
        """Probe every (rtt, gap) point; see :func:`pytest_replyrace.window.probe_grid`."""
        return asyncio.run(self.agrid(rtts, gaps, calls, parallel))

    async def agrid(
        self, rtts: Sequence[float], gaps: Sequence[float], calls: int | None = None, parallel: int | None = None
    ) -> RaceWindow:
        return await self.explorer.agrid(rtts, gaps, calls, parallel)

    def search(
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

        Arguments left out come from ``search_spec`` (the ``replyrace_search`` marker or ``--replyrace-search``).
        """
        return asyncio.run(self.asearch(rtt, gap, gaps=gaps, budget_s=budget_s, max_calls=max_calls, parallel=parallel))

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
        return await self.explorer.asearch(
            rtt, gap, gaps=gaps, budget_s=budget_s, max_calls=max_calls, parallel=parallel
        )
