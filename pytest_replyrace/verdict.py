"""Classification of calls, pattern shapes and the readable failure timeline.

Pure functions over :class:`~pytest_replyrace.records.CallRecord`: no I/O, no
clock. One letter per call:

``p``  real reply: carries this call's token and the provider finished serving
       that token before the reply arrived;
``f``  fast-fail: the call ended (empty, canned, error text, even its own
       token) before the provider had served its token — also canned text
       that papers over a provider fault;
``w``  wrong reply: carries another call's token and not its own;
``l``  lost: no reply within the call timeout (an answer accepted and then
       silent too: "accepted, then silent");
``e``  error: the transport failed; the gateway reported an error after the
       provider failed this call (an honest error); the gateway gave up on a
       model call our own fault held; an error event after the reply's
       text-complete event (the turn failed after its reply); or the gateway
       answered badly after the provider had served the call;
``h``  corrupted history: a real reply, but the conversation the gateway sent
       the provider for it was wrong (a turn twice, turns out of order, or, in
       ``exact`` mode, an earlier real turn missing); see :func:`check_history`.

Three more for a message sent while an earlier call's turn was still running (its reply text not yet
complete): what a gateway may do with it by its busy policy (:data:`POLICY_ALLOWS`), see
:func:`judge_overlap`:

``b``  refused as busy (409/429/503 or busy text) before the provider served it;
``m``  merged: no reply of its own, but its token reached the provider inside the running turn, whose
       reply carries it (steer);
``i``  interrupted: a running call that ended without a real reply while a message sent during it got one.

Two for a call the client stopped (``stop_at``), see :mod:`pytest_replyrace.stop_judge`:

``s``  stopped: its turn ended as asked (clean);
``o``  overran the stop: a reply, a model call or an open model call after the stop (a failure under every
       policy), with the reason in the timeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import RaceFailure
from .evidence import missing_evidence
from .gateway.log import MATCH_LIMIT, escape_controls, quote_line
from .judge import (
    BUSY_TEXT,
    classify,
    history_problem,
    is_busy_refusal,
    judge_history,
    judge_overlaps,
    provider_failed_before_reply,
    tool_problem,
)
from .lanes import instants_text, lane_marks, marks_legend, overlay_marks, run_instants
from .letters import (
    BUSY_LETTERS,
    BUSY_POLICIES,
    FAST_FAIL_LETTERS,
    LETTERS,
    OVERRAN,
    POLICY_ALLOWS,
    REAL_LETTERS,
    STOP_LETTERS,
    allowed_letters,
    verdict_of,
)
from .records import CallRecord, JournalEntry, LogMatch, PreambleRecord
from .spec import DEFAULTS, HISTORY_MODES, RunSpec
from .units import format_duration

__all__ = [
    "BUSY_LETTERS",
    "BUSY_POLICIES",
    "BUSY_TEXT",
    "FAST_FAIL_LETTERS",
    "HISTORY_MODES",
    "LETTERS",
    "POLICY_ALLOWS",
    "RaceFailure",
    "RaceResult",
    "check_history",
    "classify",
    "describe_shape",
    "format_timeline",
    "history_problem",
    "is_busy_refusal",
    "judge_overlap",
    "provider_failed_before_reply",
    "tool_problem",
    "verdict_of",
]

REPLY_LETTERS = REAL_LETTERS | FAST_FAIL_LETTERS | BUSY_LETTERS | frozenset("le")
"""The letters that judge a call by its reply; a run lettered only with these and no real one is a broken setup."""

LOG_LINES_SHOWN = 20
"""Matched log lines a failure message shows (the JSON report keeps up to MATCH_LIMIT)."""


def judge_overlap(calls: Sequence[CallRecord]) -> None:
    """Apply :func:`~pytest_replyrace.judge.judge_overlaps` to the calls (their letters as the start): the
    form of the judge that writes its letters, notes and answered-twice reasons back on the records."""
    for call, judged in zip(calls, judge_overlaps(calls, [c.letter for c in calls])):
        call.letter, call.note, call.answered_twice = judged.letter, judged.note, judged.answered_twice


def check_history(calls: Sequence[CallRecord], mode: str = "no-duplicates") -> None:
    """Apply :func:`~pytest_replyrace.judge.judge_history` to the calls (their letters as the start), writing
    the ``h`` letters and the reasons back on the records."""
    for call, judged in zip(calls, judge_history(calls, mode, [c.letter for c in calls])):
        if call.letter == "p":
            call.history_problem = judged.history_problem
        call.letter = judged.letter


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _period(marks: Sequence[bool]) -> int | None:
    """The shortest period of ``marks`` seen at least twice in full, or None."""
    n = len(marks)
    for k in range(2, n // 2 + 1):
        if all(marks[i] == marks[i % k] for i in range(n)):
            return k
    return None


def _run_shape(positions: list[int], n: int) -> str | None:
    """Names one unbroken run of bad calls: at the start, at the end, or in between."""
    count = len(positions)
    if positions != list(range(positions[0], positions[0] + count)):
        return None
    if positions[0] == 1:
        return "the first call" if count == 1 else f"the first {count} calls"
    if positions[-1] == n:
        return "the last call" if count == 1 else f"the last {count} calls"
    return f"only call {positions[0]}" if count == 1 else f"a run of {count} from call {positions[0]}"


def describe_shape(pattern: str, bad: Iterable[str] = FAST_FAIL_LETTERS) -> str:
    """Name the shape of the bad letters in ``pattern``: regular shapes by their rule, ``intermittent`` only
    for irregular ones.

    ``"pfpfpf"`` → ``"alternating: every 2nd call"``; ``"pffpff"`` → ``"periodic: 2 of every 3 calls"``;
    ``"pffff"`` → ``"all after the first"``; ``"pf"`` → ``"the last call"``; ``"ppfpppfppf"`` →
    ``"intermittent 3/10"``.
    """
    bad_set = set(bad)
    n = len(pattern)
    marks = [letter in bad_set for letter in pattern]
    positions = [i + 1 for i, mark in enumerate(marks) if mark]
    if not positions:
        return "clean"
    count = len(positions)
    if count == n:
        return "every call"
    if n >= 3 and positions == list(range(2, n + 1)):
        return "all after the first"
    run = _run_shape(positions, n)
    if run is not None:
        return run
    period = _period(marks)
    if period is not None:
        per = sum(marks[:period])
        if per == 1:
            kind = "alternating" if period == 2 else "periodic"
            return f"{kind}: every {_ordinal(period)} call"
        return f"periodic: {per} of every {period} calls"
    return f"intermittent {count}/{n}"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}ms"


def _excerpt(text: str | None, width: int = 60) -> str:
    if text is None:
        return "(none)"
    if text == "":
        return "(empty)"
    flat = escape_controls(" ".join(text.split()))  # a reply is the gateway's text too: never raw escapes
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _served_column(call: CallRecord) -> str:
    if not call.journal:
        return "no request"
    if call.replied_at is None:
        return "n/a"
    if call.served_before_reply():
        return "yes"
    ended = [e.ended_at for e in call.journal if e.ended_at is not None]
    if not ended:
        status = call.journal[0].error or f"status {call.journal[0].status}"
        return f"no ({_excerpt(status, 28)})"
    first_end = min(ended)
    if first_end > call.replied_at:
        return f"no (+{_ms(first_end - call.replied_at)} after)"
    return f"no (status {call.journal[0].status})"


def _anchor_column(call: CallRecord) -> str:
    """``text+20ms``: what the send waited for (its own anchor, in a per-call schedule) and the gap after it;
    ``end*`` when the end stood in for it."""
    if call.anchor_at is None:
        return "-"
    gap = call.sent_at - call.anchor_at
    sign = "+" if gap >= 0 else "-"
    label = "end*" if call.anchor_fallback else call.send_at
    return f"{label}{sign}{abs(gap) * 1000:.0f}ms" + ("!" if call.sent_while_busy else "")


def stop_line(call: CallRecord) -> str:
    """The stop of a stopped call, for the timeline: its anchor and gap, when it went out, the answer, the
    model call's close, and what the stop judgement saw."""
    stop = call.stop
    assert stop is not None
    gap = f"{'+' if stop.gap >= 0 else '-'}{abs(stop.gap) * 1000:.0f}ms"
    head = f"{stop.by} at {stop.at}{gap}"
    if not stop.done:
        return f"{head}: {stop.skipped or 'not stopped'}"
    assert stop.sent_at is not None
    parts = [f"{head}: sent +{_ms(stop.sent_at - call.sent_at)} after the call"]
    if stop.due_at is not None:
        parts.append(f"{(stop.sent_at - stop.due_at) * 1000:+.1f}ms off its instant")
    if stop.answered_at is not None:
        what = "cut" if stop.by == "disconnect" else "answered"
        said = {True: "aborted", False: "not aborted", None: ""}[stop.aborted]
        parts.append(f"{what} +{_ms(stop.answered_at - stop.sent_at)}" + (f" ({said})" if said else ""))
    if stop.error:
        parts.append(f"error: {_excerpt(stop.error, 80)}")
    closed = [e.closed_at for e in call.journal if e.closed_at is not None]
    if closed and stop.answered_at is not None:
        parts.append(f"model call closed {(min(closed) - stop.answered_at) * 1000:+.0f}ms after the answer")
    if stop.reason:
        parts.append(stop.reason)
    return "; ".join(parts)


def _preamble_lines(preamble: Sequence[PreambleRecord], t0: float) -> list[str]:
    lines = []
    for i, record in enumerate(preamble, 1):
        said = record.reply if record.reply else (f"error: {record.error}" if record.error else record.reply)
        lines.append(
            f"  {'pre' + str(i):>5}  {record.sent_at - t0:>7.3f}s  {_ms(record.latency):>9}  "
            f"{_excerpt(record.message, 24):<24}  (not judged)  {_excerpt(said)}"
        )
    return lines


def _step_label(entry: JournalEntry) -> str:
    """`` tool 1`` / `` text 2``: a provider request's step of its turn."""
    return f" {entry.kind} {entry.step}"


LANE_WIDTH = 48
LANE_MARKS = {"call": "·", "tool": "░", "text": "█"}
"""The terminal lane of a tool turn: the call from send to end, then each provider step as its own bar."""


def _lane(call: CallRecord, t0: float, span: float, width: int = LANE_WIDTH) -> str:
    """One call's lane on a run-wide scale: ``·`` while the call is open, ``░`` a tool step, ``█`` the text
    step (a bar is at least one character wide, so a short step still shows)."""
    cells = [" "] * width

    def paint(start: float, end: float | None, mark: str) -> None:
        lo = min(width - 1, max(0, int((start - t0) / span * width)))
        hi = lo if end is None else min(width - 1, max(lo, int((end - t0) / span * width)))
        cells[lo : hi + 1] = [mark] * (hi + 1 - lo)

    paint(call.sent_at, call.ended_at if call.ended_at is not None else call.replied_at, LANE_MARKS["call"])
    for entry in call.journal:
        paint(entry.arrived_at, entry.ended_at, LANE_MARKS["tool" if entry.kind == "tool" else "text"])
    return "|" + "".join(cells) + "|"


def _lanes_legend(calls: Sequence[CallRecord], *, marked: bool, tools: bool) -> list[str]:
    """The legend of a run whose lanes carry every instant (its sends did not wait for the previous end)."""
    if not marked:
        return []
    legend = ["· call open", "█ provider serving", *(["░ a tool step"] if tools else [])]
    legend.append(marks_legend(mark for call in calls for mark in lane_marks(vars(call))))
    return ["  lanes: " + ", ".join(part for part in legend if part)]


def _lane_lines(call: CallRecord, t0: float, span: float, pad: str, *, marked: bool, tools: bool) -> list[str]:
    """The call's lane: the provider's steps (a run with tool turns) and, when sends did not wait for the end,
    every instant of its answer marked on it and said in numbers after the run's start."""
    label = "lane (░ tool, █ text):" if tools else "lane:"
    if not marked:
        return [f"{pad}  {label:<22}     {_lane(call, t0, span)}"] if tools else []
    marks = lane_marks(vars(call))
    return [
        f"{pad}  {label:<22}     {overlay_marks(_lane(call, t0, span), marks, t0, span)}",
        f"{pad}  {'instants:':<22}     {instants_text(marks, t0)}",
    ]


def format_timeline(
    calls: Sequence[CallRecord], origin: float | None = None, preamble: Sequence[PreambleRecord] = ()
) -> str:
    """Per call: index, sent at, latency, provider RTT, served before reply?, letter, reply; for a run whose
    sends did not wait for the previous end, also what each send waited for (``!``: sent while busy)."""
    if not calls:
        return "  (no calls)"
    t0 = (preamble[0].sent_at if preamble else calls[0].sent_at) if origin is None else origin
    overlap = any(call.send_at != DEFAULTS.send_at or call.stop is not None for call in calls)
    anchor = f"  {'sent after':>14}" if overlap else ""
    header = (
        f"  {'#':>3}  {'sent at':>8}{anchor}  {'latency':>9}  {'provider RTT':>12}  {'served<reply':<22}  {'':1}  reply"
    )
    lanes = any(e.kind == "tool" for call in calls for e in call.journal)
    lines = [header, *_lanes_legend(calls, marked=overlap, tools=lanes), *_preamble_lines(preamble, t0)]
    pad = f"  {'':>3}  {'':>8}{'  ' + ' ' * 14 if overlap else ''}  {'':>9}  {'':>12}"
    span = max([*run_instants(vars(call) for call in calls), t0]) - t0 or 1.0
    for call in calls:
        provider_rtt = next((e.duration for e in call.journal if e.duration is not None), None)
        reply = call.reply if call.reply else (f"error: {call.error}" if call.error else call.reply)
        width = 60
        if call.transport_error:
            # The whole failure matters more than alignment: quote it in full (bounded).
            reply, width = f"transport: {call.transport_error}", 240
        if call.timed_out:
            reply = "(no reply within the call timeout)"
        sent_after = f"  {_anchor_column(call):>14}" if overlap else ""
        lines.append(
            f"  {call.index:>3}  {call.sent_at - t0:>7.3f}s{sent_after}  {_ms(call.latency):>9}  "
            f"{_ms(provider_rtt):>12}  {_served_column(call):<22}  {call.letter}  {_excerpt(reply, width)}"
        )
        tools = any(e.kind == "tool" for e in call.journal)
        if len(call.journal) > 1 or tools:
            steps = ", ".join(
                f"#{e.seq}{_step_label(e) if tools else ''} +{(e.arrived_at - t0):.3f}s {_ms(e.duration)}"
                for e in call.journal[:8]
            )
            lines.append(f"{pad}  {'provider requests:':<22}     {steps}")
        lines.extend(_lane_lines(call, t0, span, pad, marked=overlap, tools=lanes))
        if tools and not any(e.kind == "text" and e.step > 1 for e in call.journal):
            lines.append(f"{pad}  {'tool turn:':<22}     no text step: the tool result never came back to the provider")
        lines.extend(_detail_lines(call, pad))
    return "\n".join(lines)


def _detail_lines(call: CallRecord, pad: str) -> list[str]:
    """The lines under a call's row: its stop, the overlap note, answered twice, stream errors (those after the text was
    complete marked), the history problem, late text of the same answer and later answers."""
    lines = [f"{pad}  {'stop:':<22}     {stop_line(call)}"] if call.stop is not None else []
    if call.note:
        lines.append(f"{pad}  {'overlap:':<22}     {call.note}")
    if call.answered_twice:
        lines.append(f"{pad}  {'answered twice:':<22}     {call.answered_twice}")
    for at, text in call.stream_errors[:3]:
        after = " (after its text was complete)" if call.text_at is not None and at > call.text_at else ""
        lines.append(f"{pad}  {'stream error:':<22}     +{_ms(at - call.sent_at)}{after} {_excerpt(text)}")
    if call.history_problem:
        lines.append(f"{pad}  {'history:':<22}     {call.history_problem}")
    for at, text in call.gateway_requests[:3]:
        lines.append(f"{pad}  {'the gateway asked:':<22}     +{_ms(at - call.sent_at)} {_excerpt(text)}")
    for text in call.after_text[:3]:
        lines.append(f"{pad}  {'late text, same turn:':<22}     {_excerpt(text)}")
    for late in call.late_replies:
        lines.append(f"{pad}  {'later, other runId:':<22}     {_excerpt(late)}")
    return lines


def stop_settings(spec: RunSpec) -> str:
    """The stop knobs as the replay line and the header spell them."""
    text = f"stop_at={spec.text('stop_at')}, stop_gap={spec.text('stop_gap')}, stop_calls={spec.text('stop_calls')}"
    text += f", stop_by={spec.stop_by}"
    if spec.stop_by == "disconnect":
        text += f", disconnect_policy={spec.disconnect_policy}"
    return text + f", close_within={format_duration(spec.close_within)}"


@dataclass
class RaceResult:
    """What one sequential run saw; assert on it."""

    calls: list[CallRecord]
    session_key: str
    rtt: float | None = None
    gap: float = 0.0
    seed: int | None = None
    log_matches: list[LogMatch] = field(default_factory=list)
    """The first MATCH_LIMIT log lines that matched (each quoted: cut and escaped)."""
    log_matches_more: int = 0
    """Further matching lines, counted but not kept."""
    node_id: str | None = None
    replay: str | None = None
    """A command that replays this test with the same seed."""
    settings: dict[str, Any] = field(default_factory=dict)
    send_at: str = "end"
    """What each send waited for (see :data:`~pytest_replyrace.records.SEND_ANCHORS`)."""
    busy_policy: str = DEFAULTS.busy_policy
    """What the gateway promises for a message sent while a turn runs; decides which of b, m, i may pass."""
    preamble: list[PreambleRecord] = field(default_factory=list)
    """The messages sent before the first call, and their answers (shown, not judged)."""
    spec: RunSpec | None = None
    """The run's parameters; given, its ``gap``, ``send_at`` and ``busy_policy`` are the result's (the
    loose fields stay for building a result by hand)."""
    stray_requests: int = 0
    """Requests the fake provider received during the run that carried none of its calls' tokens (counted by
    the driver; said when no call got a real reply)."""

    def __post_init__(self) -> None:
        if self.spec is None:
            self.spec = RunSpec.checked(
                "RaceResult", calls=max(1, len(self.calls)), send_at=self.send_at, busy_policy=self.busy_policy
            )
        else:
            self.gap, self.send_at = self.spec.gap_of(2), self.spec.text("send_at")
            self.busy_policy = self.spec.busy_policy

    @property
    def pattern(self) -> str:
        return "".join(call.letter for call in self.calls)

    @property
    def counts(self) -> dict[str, int]:
        return {letter: self.pattern.count(letter) for letter in LETTERS}

    @property
    def verdict(self) -> str:
        word = verdict_of(self.pattern, self.busy_policy)
        if word in ("clean", "unreliable") and self.race_calls():
            return "busy-policy"  # a message answered twice, or sent while busy and lost: the promise broke
        return word

    @property
    def allowed(self) -> frozenset[str]:
        """The busy letters this run's policy allows."""
        return allowed_letters(self.busy_policy)

    def race_letters(self) -> frozenset[str]:
        """The letters ``assert_no_fast_fail`` fails on: f, w, and the busy letters the policy does not allow."""
        return FAST_FAIL_LETTERS | (BUSY_LETTERS - self.allowed)

    def race_calls(self) -> list[CallRecord]:
        """Calls that break the gateway's promise: a race letter, a message answered twice, or a message sent
        while busy and then lost."""
        bad = self.race_letters()
        return [c for c in self.calls if c.letter in bad or c.answered_twice or (c.letter == "l" and c.sent_while_busy)]

    def shape(self, bad: Iterable[str] = FAST_FAIL_LETTERS) -> str:
        """The shape of the ``bad`` letters; a run without a real reply says that first (a broken setup, not a
        race: the summary row and the JSON ``shape`` read it from here)."""
        shape = describe_shape(self.pattern, bad)
        return f"no real reply, {shape}" if self.no_real_reply else shape

    def timeline(self) -> str:
        return format_timeline(self.calls, preamble=self.preamble)

    def _where(self) -> str:
        where = [] if self.rtt is None else [f"rtt={format_duration(self.rtt)}"]
        gap = self.spec.gap if self.spec is not None and isinstance(self.spec.gap, tuple) else self.gap
        where.append("gap=" + (",".join(map(format_duration, gap)) if isinstance(gap, tuple) else format_duration(gap)))
        if self.send_at != DEFAULTS.send_at:
            where.append(f"send_at={self.send_at}")
        if self.busy_policy != DEFAULTS.busy_policy:
            where.append(f"busy_policy={self.busy_policy}")
        if self.spec is not None and self.spec.stops:
            where.append(stop_settings(self.spec))
        return ", ".join(where)

    def stopped_calls(self) -> list[CallRecord]:
        """The calls the client stopped (their stop sent), in order."""
        return [c for c in self.calls if c.stop is not None and c.stop.done]

    def _counts(self) -> str:
        return ", ".join(f"{n}{letter}" for letter, n in self.counts.items() if n) or "no calls"

    def describe(
        self, bad: Iterable[str] = FAST_FAIL_LETTERS, title: str = "fast-fail", headline: str | None = None
    ) -> str:
        """The full failure text: headline, timeline, matched log lines, replay."""
        if headline is None:
            headline = (
                f"replyrace {title} at {self._where()}: {self.shape(bad)} — pattern {self.pattern} ({self._counts()})"
            )
        lines = [
            headline,
            f"session {self.session_key}, {len(self.calls)} calls, seed {self.seed}",
            "letters: " + ", ".join(f"{k}={v}" for k, v in LETTERS.items()),
        ]
        if self.spec is not None and self.spec.stops:
            lines.append(f"stops: {stop_settings(self.spec)} (s: stopped as asked, o: overran the stop)")
        if self.send_at != DEFAULTS.send_at or self.busy_policy != DEFAULTS.busy_policy:
            allows = "".join(sorted(self.allowed)) or "none of b, m, i"
            lines.append(
                f"sends waited for the previous call's {self.send_at}; busy policy {self.busy_policy} "
                f"allows {allows} ('!': sent while an earlier turn ran)"
            )
        twice = [c for c in self.calls if c.answered_twice]
        lines.extend(f"answered twice: call {c.index}: {c.answered_twice}" for c in twice)
        lines.append(format_timeline(self.calls, preamble=self.preamble))
        lines.extend(self._log_lines())
        if self.replay:
            lines.append(f"replay: {self.replay}")
        return "\n".join(lines)

    def bounded_log_matches(self) -> tuple[list[LogMatch], int]:
        """At most MATCH_LIMIT matches, each line quoted, and how many more there were."""
        kept = [LogMatch(m.pattern, quote_line(m.line), m.lineno, m.late) for m in self.log_matches[:MATCH_LIMIT]]
        return kept, self.log_matches_more + max(0, len(self.log_matches) - MATCH_LIMIT)

    def _log_lines(self, shown: int = LOG_LINES_SHOWN) -> list[str]:
        kept, more = self.bounded_log_matches()
        if not kept:
            return ["gateway log lines that matched during this test: none"]
        lines = [f"gateway log lines that matched during this test ({len(kept) + more:,}):"]
        lines.extend(f"  L{m.lineno}{' (after the last reply)' if m.late else ''}: {m.line}" for m in kept[:shown])
        hidden = len(kept) - len(kept[:shown]) + more
        if hidden:
            lines.append(f"  … and {hidden:,} more" + (" (see the JSON report)" if len(kept) > shown else ""))
        return lines

    def _failure(self, bad: frozenset[str], title: str, headline: str | None = None) -> RaceFailure:
        """The failure, carrying this result and its bad letters: exploring after it (a shrink, a window search)
        is the plugin's step after the test, or the library's ``sender.explain(failure)``, never this one's."""
        return RaceFailure(self.describe(bad, title, headline), result=self, bad=bad)

    def assert_no_fast_fail(self) -> None:
        """Fail when any call is a fast-fail (``f``) or a wrong reply (``w``), a ``b``, ``m`` or ``i`` the
        busy policy does not allow, a message answered twice, or one sent while busy and then lost (``l``);
        or when no call got a real reply (``p``, or ``h``: real, over a corrupted history): a run of only
        errors and lost replies says nothing about the race."""
        __tracebackhide__ = True
        if self.no_real_reply:
            raise self._no_real_reply()
        if any(letter in FAST_FAIL_LETTERS for letter in self.pattern):
            raise self._failure(FAST_FAIL_LETTERS, "fast-fail")
        broken = self.race_calls()
        if broken:
            reasons = []
            for call in broken:
                if call.letter in self.race_letters():
                    reasons.append(f"call {call.index} is {call.letter} ({LETTERS[call.letter]}, not allowed)")
                elif call.answered_twice:
                    reasons.append(f"call {call.index} answered twice")
                else:
                    reasons.append(f"call {call.index} sent while busy and lost")
            headline = (
                f"replyrace busy policy {self.busy_policy} broken at {self._where()}: "
                + "; ".join(reasons)
                + f" — pattern {self.pattern} ({self._counts()})"
            )
            raise self._failure(self.race_letters() | {"l"}, f"busy policy {self.busy_policy} broken", headline)
        overran = [c for c in self.calls if c.letter in OVERRAN]
        if overran:
            why = "; ".join(f"call {c.index}: {c.stop.reason if c.stop else 'overran'}" for c in overran)
            raise self._failure(
                OVERRAN,
                "stop overrun",
                f"replyrace: the stop was overrun at {self._where()}: {why} — pattern {self.pattern} "
                f"({self._counts()})",
            )

    @property
    def no_real_reply(self) -> bool:
        """No call got a real reply (``p``, or ``h``: real, over a corrupted history) and none broke the busy
        promise (a busy letter the policy does not allow, a message answered twice, one sent while busy and
        lost): the run says nothing about a race. Its failure names the missing evidence; nothing explores it."""
        letters = {call.letter for call in self.calls if call.letter not in STOP_LETTERS}  # stopped: not looked at
        if not letters or not letters <= REPLY_LETTERS or letters & REAL_LETTERS:
            return False  # a real reply, only stopped calls, or a call not judged yet: not for this check
        if self._failed_after_a_stop():
            return False
        return all(call.letter in FAST_FAIL_LETTERS for call in self.race_calls())

    def _failed_after_a_stop(self) -> bool:
        """The gateway called the model for a stopped call (it is wired to the provider), and a later call failed
        without reaching the model: the message after a stop broke (the wedge of the stop family), not the
        setup. A later call the provider served without its token coming back stays a setup question."""
        wired = False
        for call in self.calls:
            if call.stop is not None and call.stop.done and call.journal:
                wired = True
            elif wired and call.letter in FAST_FAIL_LETTERS and not call.journal:
                return True
        return False

    def _no_real_reply(self) -> RaceFailure:
        """The failure of a run without a real reply: the headline, then which link of the evidence is missing
        (the provider never called, never served, or no reply carried its token) and one answer quoted."""
        headline = (
            f"replyrace: no call got a real reply — a race cannot be told from a broken setup: pattern "
            f"{self.pattern or '(no calls)'} ({self._counts()}) at {self._where()}; check the transport, the "
            "gateway's provider URL and the timeline below"
        )
        lines = missing_evidence(self.calls, self.stray_requests) if self.calls else []
        return self._failure(frozenset(LETTERS) - REAL_LETTERS, "no real reply", "\n".join([headline, *lines]))

    def assert_clean(self) -> None:
        """Fail on anything but real replies and the busy letters the policy allows (``b`` under reject, ``m``
        under steer, ``i`` under interrupt), and on a message answered twice."""
        __tracebackhide__ = True
        if self.no_real_reply:
            raise self._no_real_reply()
        bad = set(self.pattern) - {"p", "s"} - self.allowed
        real = "p" in self.pattern or (self.pattern and set(self.pattern) == {"s"})
        if bad or not self.calls or any(c.answered_twice for c in self.calls) or not real:
            raise self._failure(frozenset(LETTERS) - {"p", "s"} - self.allowed, "unclean run")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the JSON report and xdist workers; the log matches bounded as everywhere."""
        kept, more = self.bounded_log_matches()
        return {
            "node_id": self.node_id,
            "session_key": self.session_key,
            "rtt": self.rtt,
            "gap": self.gap,
            "seed": self.seed,
            "pattern": self.pattern,
            "verdict": self.verdict,
            "send_at": self.send_at,
            "busy_policy": self.busy_policy,
            "preamble": [record.to_dict() for record in self.preamble],
            "shape": self.shape(),
            "counts": self.counts,
            "settings": self.settings,
            "replay": self.replay,
            "calls": [call.to_dict() for call in self.calls],
            "log_matches": [m.to_dict() for m in kept],
            "log_matches_more": more,
            "timeline": self.timeline(),
        }
