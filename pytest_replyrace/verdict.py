"""Classification of calls, pattern shapes and the readable failure timeline.

Pure functions over :class:`~pytest_replyrace.records.CallRecord`: no I/O, no
clock. One letter per call:

``p``  real reply: carries this call's token and the provider finished serving
       that token before the reply arrived;
``f``  fast-fail: the call ended (empty, canned, error text, even its own
       token) before the provider had served its token — also canned text
       that papers over a provider fault;
``w``  wrong reply: carries another call's token and not its own;
``l``  lost: no reply within the call timeout;
``e``  error: the transport failed; the gateway reported an error after the
       provider failed this call (an honest error); or the gateway answered
       badly after the provider had served the call;
``h``  corrupted history: a real reply, but the conversation the gateway sent
       the provider for it was wrong (a turn twice, turns out of order, or, in
       ``exact`` mode, an earlier real turn missing); see :func:`check_history`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ReplyraceError
from .gateway.log import MATCH_LIMIT, escape_controls, quote_line
from .records import CallRecord, LogMatch
from .tokens import find_tokens
from .units import format_duration

__all__ = [
    "FAST_FAIL_LETTERS",
    "HISTORY_MODES",
    "LETTERS",
    "RaceFailure",
    "RaceResult",
    "check_history",
    "classify",
    "describe_shape",
    "format_timeline",
    "provider_failed_before_reply",
    "verdict_of",
]

LETTERS: dict[str, str] = {
    "p": "real reply",
    "f": "fast-fail",
    "w": "wrong reply",
    "l": "lost reply",
    "e": "error",
    "h": "corrupted history",
}
HISTORY_MODES = ("off", "no-duplicates", "exact")
FAST_FAIL_LETTERS = frozenset("fw")
REAL_LETTERS = frozenset("ph")
"""A reply the model really wrote for this call (``h``: over a corrupted conversation)."""
LOG_LINES_SHOWN = 20
"""Matched log lines a failure message shows (the JSON report keeps up to MATCH_LIMIT)."""


def provider_failed_before_reply(call: CallRecord) -> bool:
    """Did the provider fail this token (an error status or an injected fault) before the reply?"""
    if call.replied_at is None:
        return False
    return any(e.ended_at is not None and e.ended_at <= call.replied_at and not e.served for e in call.journal)


def classify(call: CallRecord) -> str:
    """The letter of one call (see the module docstring)."""
    if call.timed_out:
        return "l"
    if call.transport_error is not None:
        return "e"
    reply_tokens = find_tokens(call.reply) + find_tokens(call.error)
    own = call.token in reply_tokens
    if own and call.served_before_reply():
        return "p"
    if not own and any(t != call.token for t in reply_tokens):
        return "w"
    if call.served_before_reply():
        return "e"  # the model answered; the gateway lost or garbled it
    if call.error and provider_failed_before_reply(call):
        return "e"  # an honest report of the provider's failure
    return "f"


def _run_tag(token: str) -> str:
    return token.rsplit("-", 1)[0]


def _number(token: str) -> int:
    return int(token.rsplit("-", 1)[1])


def history_problem(call: CallRecord, mode: str, earlier_real: Sequence[str]) -> str | None:
    """What is wrong with the history of the request the gateway made for ``call`` (None: nothing).

    Only the requests that arrived while the call was waiting and were served before its reply count,
    and only tokens of this run. ``earlier_real``: the tokens of this run's earlier real replies, in order.
    """
    if mode == "off" or call.replied_at is None:
        return None
    tag = _run_tag(call.token)
    for entry in call.journal:
        if not entry.served or entry.ended_at is None or entry.ended_at > call.replied_at \
                or entry.arrived_at < call.sent_at:
            continue
        # The request's user messages, history and latest turn together, message by message.
        turns = [t for t in entry.history + entry.tokens if _run_tag(t) == tag]
        twice = sorted({t for t in turns if turns.count(t) > 1}, key=_number)
        if twice:
            return f"sent twice: {', '.join(twice)} (request #{entry.seq})"
        numbers = [_number(t) for t in turns]
        if numbers != sorted(numbers):
            return f"out of call order: the request's turns were {', '.join(map(str, numbers))} " \
                   f"(request #{entry.seq})"
        missing = [t for t in earlier_real if t not in turns]
        if mode == "exact" and missing:
            return f"missing earlier real turn{'s' * (len(missing) > 1)}: {', '.join(missing)} " \
                   f"(request #{entry.seq})"
    return None


def check_history(calls: Sequence[CallRecord], mode: str = "no-duplicates") -> None:
    """Turn the real replies (``p``) whose request carried a corrupted history into ``h``, with the reason.

    ``no-duplicates``: a turn twice or turns out of order (never legitimate; a gateway that sends no history
    never gets ``h``); ``exact``: also an earlier real turn of this run missing; ``off``: no check.
    """
    if mode not in HISTORY_MODES:
        raise ValueError(f"history mode {mode!r}: expected one of {', '.join(HISTORY_MODES)}")
    earlier_real: list[str] = []
    for call in calls:
        if call.letter == "p":
            call.history_problem = history_problem(call, mode, earlier_real)
            if call.history_problem is not None:
                call.letter = "h"
        if call.letter in "ph":
            earlier_real.append(call.token)


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


def verdict_of(pattern: str) -> str:
    """One word for a pattern: ``clean``, ``fast-fail`` (f or w), or ``unreliable`` (l, e or h only)."""
    if not pattern:
        return "empty"
    if any(letter in FAST_FAIL_LETTERS for letter in pattern):
        return "fast-fail"
    if set(pattern) == {"p"}:
        return "clean"
    return "unreliable"


class RaceFailure(ReplyraceError, AssertionError):
    """A race assertion failed; the message carries the timeline."""


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


def format_timeline(calls: Sequence[CallRecord], origin: float | None = None) -> str:
    """Per call: index, sent at, latency, provider RTT, served before reply?, letter, reply."""
    if not calls:
        return "  (no calls)"
    t0 = calls[0].sent_at if origin is None else origin
    header = f"  {'#':>3}  {'sent at':>8}  {'latency':>9}  {'provider RTT':>12}  {'served<reply':<22}  {'':1}  reply"
    lines = [header]
    for call in calls:
        provider_rtt = next((e.duration for e in call.journal if e.duration is not None), None)
        reply = call.reply if call.reply else (f"error: {call.error}" if call.error else call.reply)
        width = 60
        if call.transport_error:
            # The whole failure matters more than alignment: quote it in full (bounded).
            reply, width = f"transport: {call.transport_error}", 240
        if call.timed_out:
            reply = "(no reply within the call timeout)"
        lines.append(
            f"  {call.index:>3}  {call.sent_at - t0:>7.3f}s  {_ms(call.latency):>9}  "
            f"{_ms(provider_rtt):>12}  {_served_column(call):<22}  {call.letter}  {_excerpt(reply, width)}"
        )
        if call.history_problem:
            lines.append(f"  {'':>3}  {'':>8}  {'':>9}  {'':>12}  {'history:':<22}     {call.history_problem}")
        for late in call.late_replies:
            lines.append(f"  {'':>3}  {'':>8}  {'':>9}  {'':>12}  {'later, other runId:':<22}     {_excerpt(late)}")
    return "\n".join(lines)


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
    on_failure: Callable[[RaceResult, frozenset[str]], str | None] | None = field(default=None, repr=False)
    """Called when an assertion fails: returns more to print (the minimal reproduction, the window)."""

    @property
    def pattern(self) -> str:
        return "".join(call.letter for call in self.calls)

    @property
    def counts(self) -> dict[str, int]:
        return {letter: self.pattern.count(letter) for letter in LETTERS}

    @property
    def verdict(self) -> str:
        return verdict_of(self.pattern)

    def shape(self, bad: Iterable[str] = FAST_FAIL_LETTERS) -> str:
        return describe_shape(self.pattern, bad)

    def timeline(self) -> str:
        return format_timeline(self.calls)

    def _where(self) -> str:
        where = [] if self.rtt is None else [f"rtt={format_duration(self.rtt)}"]
        return ", ".join([*where, f"gap={format_duration(self.gap)}"])

    def _counts(self) -> str:
        return ", ".join(f"{n}{letter}" for letter, n in self.counts.items() if n) or "no calls"

    def describe(self, bad: Iterable[str] = FAST_FAIL_LETTERS, title: str = "fast-fail",
                 headline: str | None = None) -> str:
        """The full failure text: headline, timeline, matched log lines, replay."""
        if headline is None:
            headline = (f"replyrace {title} at {self._where()}: {self.shape(bad)} — pattern {self.pattern} "
                        f"({self._counts()})")
        lines = [
            headline,
            f"session {self.session_key}, {len(self.calls)} calls, seed {self.seed}",
            "letters: " + ", ".join(f"{k}={v}" for k, v in LETTERS.items()),
            format_timeline(self.calls),
        ]
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
        text = self.describe(bad, title, headline)
        if self.on_failure is not None:
            more = self.on_failure(self, bad)
            if more:
                text += "\n" + more
        return RaceFailure(text)

    def assert_no_fast_fail(self) -> None:
        """Fail when any call is a fast-fail (``f``) or a wrong reply (``w``), or when no call got a real
        reply (``p``, or ``h``: real, over a corrupted history): a run of only errors and lost replies says
        nothing about the race."""
        __tracebackhide__ = True
        if any(letter in FAST_FAIL_LETTERS for letter in self.pattern):
            raise self._failure(FAST_FAIL_LETTERS, "fast-fail")
        if not set(self.pattern) & REAL_LETTERS:
            raise self._failure(frozenset(LETTERS) - REAL_LETTERS, "no real reply", headline=(
                f"replyrace: no call got a real reply — a race cannot be told from a broken setup: pattern "
                f"{self.pattern or '(no calls)'} ({self._counts()}) at {self._where()}; check the transport, the "
                "gateway's provider URL and the timeline below"))

    def assert_clean(self) -> None:
        """Fail on anything but real replies."""
        __tracebackhide__ = True
        bad = set(self.pattern) - {"p"}
        if bad or not self.calls:
            raise self._failure(frozenset(LETTERS) - {"p"}, "unclean run")

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
            "shape": self.shape(),
            "counts": self.counts,
            "settings": self.settings,
            "replay": self.replay,
            "calls": [call.to_dict() for call in self.calls],
            "log_matches": [m.to_dict() for m in kept],
            "log_matches_more": more,
            "timeline": self.timeline(),
        }
