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

Three more for a message sent while an earlier call's turn was still running (its reply text not yet
complete): what a gateway may do with it by its busy policy (:data:`POLICY_ALLOWS`), see
:func:`judge_overlap`:

``b``  refused as busy (409/429/503 or busy text) before the provider served it;
``m``  merged: no reply of its own, but its token reached the provider inside the running turn, whose
       reply carries it (steer);
``i``  interrupted: a running call that ended without a real reply while a message sent during it got one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidArgument, RaceFailure
from .gateway.log import MATCH_LIMIT, escape_controls, quote_line
from .records import CallRecord, JournalEntry, LogMatch, PreambleRecord
from .tokens import find_tokens
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
    "provider_failed_before_reply",
    "tool_problem",
    "verdict_of",
]

LETTERS: dict[str, str] = {
    "p": "real reply",
    "f": "fast-fail",
    "w": "wrong reply",
    "l": "lost reply",
    "e": "error",
    "h": "corrupted history",
    "b": "refused as busy",
    "m": "merged into a running turn",
    "i": "interrupted",
}
HISTORY_MODES = ("off", "no-duplicates", "exact")
FAST_FAIL_LETTERS = frozenset("fw")
BUSY_LETTERS = frozenset("bmi")
BUSY_POLICIES = ("queue", "reject", "steer", "interrupt", "any")
POLICY_ALLOWS: dict[str, frozenset[str]] = {
    "queue": frozenset(),
    "reject": frozenset("b"),
    "steer": frozenset("m"),
    "interrupt": frozenset("i"),
    "any": BUSY_LETTERS,
}
"""Which of ``b``, ``m``, ``i`` each busy policy allows; ``f``, ``w``, ``l`` and a message answered twice fail
under every policy."""
BUSY_TEXT = re.compile(
    r"\b(busy|already (running|active|in progress)|still (running|processing|shutting down)|in progress|"
    r"too many requests|try again)\b",
    re.IGNORECASE,
)
"""Text that refuses a message because a turn is running (for a transport that cannot say so by status)."""
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


def is_busy_refusal(call: CallRecord) -> bool:
    """The answer refuses the message as busy: the transport said so (a busy status), or the error or reply is
    busy text carrying no call's token."""
    if call.busy_refusal:
        return True
    texts = [call.error, call.reply, *(text for _, text in call.stream_errors)]
    return any(text and BUSY_TEXT.search(text) and not find_tokens(text) for text in texts)


def _was_running(call: CallRecord, at: float) -> bool:
    """Was ``call`` sent and its reply text not yet complete at ``at``?"""
    done = call.text_done_at
    return call.sent_at <= at and (done is None or done > at)


def judge_overlap(calls: Sequence[CallRecord]) -> None:
    """Letters for messages sent while an earlier call's turn was running, and the answered-twice check.

    Run after :func:`classify` over the calls of one run, in order. A call sent while busy whose answer is
    ``f`` becomes ``b`` when it was refused as busy, ``m`` when its token reached the provider inside a running
    turn whose reply carries it, ``p`` when its answer came later under another run id after the provider
    served it (queued), and ``l`` when it was accepted and then neither answered, merged nor refused. A running
    call that ended without a real reply while a message sent during it got one becomes ``i``. The running call
    whose reply carries only merged messages' tokens is ``p`` if its own token was served earlier in its turn.
    A busy refusal of a call *not* sent while busy stays ``f``: the gateway said it was done while it was not.
    """
    by_token = {call.token: call for call in calls}
    for call in calls:
        if call.letter != "f" or not call.sent_while_busy:
            continue
        if is_busy_refusal(call):
            call.letter, call.note = "b", "refused as busy while an earlier turn ran"
            continue
        for host in calls:
            if host is call or call.token not in find_tokens(host.reply):
                continue
            if _was_running(host, call.sent_at) and any(
                e.served
                and e.arrived_at >= host.sent_at
                and e.ended_at is not None
                and (host.replied_at is None or e.ended_at <= host.replied_at)
                for e in call.journal
            ):
                call.letter, call.note = "m", f"merged into call {host.index}'s running turn"
                break
        if call.letter != "f":
            continue
        if (
            call.error is None
            and call.journal
            and any(e.served for e in call.journal)
            and any(call.token in find_tokens(text) for text in call.late_replies)
        ):
            call.letter, call.note = "p", "queued: answered later under another run id"
        elif call.error is None and not find_tokens(call.reply):
            evidence = (
                "its token was served by the provider"
                if any(e.served for e in call.journal)
                else "its token reached the provider, not served"
                if call.journal
                else "its token never reached the provider"
            )
            call.letter, call.note = "l", f"accepted, then neither answered, merged nor refused: {evidence}"
    for host in calls:
        merged = [by_token[t] for t in find_tokens(host.reply) if t in by_token and by_token[t].letter == "m"]
        foreign = {t for t in find_tokens(host.reply) if t != host.token}
        names = ", ".join(f"call {m.index}" for m in merged)
        if host.letter == "w" and merged and foreign <= {m.token for m in merged} and host.served_before_reply():
            host.letter = "p"  # steer: the turn answered the message folded into it; its own was served first
            host.note = f"answered the merged {names}"
        elif host.letter == "p" and merged:
            host.note = f"also answered the merged {names}"
    for host in reversed(calls):  # from the last: a chain of interrupts ends in the message that got its reply
        if host.letter not in "fel" or host.timed_out or not host.journal:
            continue
        during = [
            c
            for c in calls
            if c.index > host.index and (c.letter in REAL_LETTERS or c.letter == "i") and _was_running(host, c.sent_at)
        ]
        if during:
            host.letter = "i"
            host.note = f"interrupted: call {during[0].index}, sent while it ran, " + (
                "got a real reply" if during[0].letter in REAL_LETTERS else "was interrupted in turn"
            )
    for call in calls:
        carriers = [other.index for other in calls if call.token in find_tokens(other.reply)]
        late = [text for text in call.late_replies if call.token in find_tokens(text)]
        if len(carriers) > 1 and len({calls[i - 1].run_id for i in carriers}) > 1:
            call.answered_twice = "its token is in the replies of calls " + ", ".join(map(str, carriers))
        elif carriers and late and call.letter in REAL_LETTERS and call.note is None:
            call.answered_twice = f"answered in call {carriers[0]}'s reply and again under another run id"


def _run_tag(token: str) -> str:
    return token.rsplit("-", 1)[0]


def _number(token: str) -> int:
    return int(token.rsplit("-", 1)[1])


def history_problem(call: CallRecord, mode: str, earlier_real: Sequence[CallRecord | str]) -> str | None:
    """What is wrong with the history of the request the gateway made for ``call`` (None: nothing).

    Only the requests that arrived while the call was waiting and were served before its reply count,
    and only tokens of this run. ``earlier_real``: this run's earlier real replies, in order (records, or
    their tokens). In ``exact`` mode a request must hold every earlier real turn that was answered before it
    reached the provider; a turn whose message was sent after the previous reply's text was complete must
    hold that previous turn.
    """
    if mode == "off" or call.replied_at is None:
        return None
    tag = _run_tag(call.token)
    for entry in call.journal:
        if (
            not entry.served
            or entry.ended_at is None
            or entry.ended_at > call.replied_at
            or entry.arrived_at < call.sent_at
        ):
            continue
        # The request's user messages, history and latest turn together, message by message.
        turns = [t for t in entry.history + entry.tokens if _run_tag(t) == tag]
        twice = sorted({t for t in turns if turns.count(t) > 1}, key=_number)
        if twice:
            return f"sent twice: {', '.join(twice)} (request #{entry.seq})"
        numbers = [_number(t) for t in turns]
        if numbers != sorted(numbers):
            return f"out of call order: the request's turns were {', '.join(map(str, numbers))} (request #{entry.seq})"
        if mode != "exact":
            continue
        expected = [
            e if isinstance(e, str) else e.token
            for e in earlier_real
            if isinstance(e, str)
            or e.replied_at is None
            or e.replied_at <= entry.arrived_at
            or not call.sent_while_busy
        ]
        missing = [t for t in expected if t not in turns]
        previous = earlier_real[-1] if earlier_real else None
        if (
            isinstance(previous, CallRecord)
            and previous.index == call.index - 1
            and not call.sent_while_busy
            and missing == [previous.token]
        ):
            # Sent after the previous reply's text was complete, and answered without it: the stale-history race.
            return f"the previous turn was not in the conversation: {previous.token} (request #{entry.seq})"
        if missing:
            return f"missing earlier real turn{'s' * (len(missing) > 1)}: {', '.join(missing)} (request #{entry.seq})"
    return None


def tool_problem(call: CallRecord, mode: str = "no-duplicates") -> str | None:
    """What is wrong with the tool results of ``call``'s turn (None: nothing, or no tool step).

    Each tool-call id the provider issued in the turn (a request carrying the call's token) must be answered
    by exactly one tool result in the turn's later requests: in no request twice, and in at least one. A
    result for an id the turn was never issued is wrong too (``?``: a result that names no id).
    """
    if mode == "off":
        return None
    journal = sorted(call.journal, key=lambda e: e.seq)
    issued: dict[str, int] = {}
    for entry in journal:
        for call_id in entry.issued if entry.served else ():  # an answer that never got out issued nothing
            issued.setdefault(call_id, entry.seq)
    for entry in journal:
        twice = sorted({i for i in entry.answered if entry.answered.count(i) > 1 and i in issued})
        if twice:
            return f"tool call {', '.join(twice)} answered twice in request #{entry.seq}"
        foreign = [i for i in dict.fromkeys(entry.answered) if i not in issued or issued[i] >= entry.seq]
        if foreign:
            what = "naming no call id" if foreign == ["?"] else f"for {', '.join(foreign)}, never issued in this turn"
            return f"a tool result {what} (request #{entry.seq})"
    never = [i for i, seq in issued.items() if not any(i in e.answered for e in journal if e.seq > seq)]
    if never:
        return f"tool call {', '.join(never)} never answered (issued in request #{issued[never[0]]})"
    return None


def check_history(calls: Sequence[CallRecord], mode: str = "no-duplicates") -> None:
    """Turn the real replies (``p``) whose request carried a corrupted history into ``h``, with the reason.

    ``no-duplicates``: a turn twice or turns out of order (never legitimate; a gateway that sends no history
    never gets ``h``), or a tool call answered twice, never, or a result for a call never issued
    (:func:`tool_problem`); ``exact``: also an earlier real turn of this run missing; ``off``: no check.
    """
    if mode not in HISTORY_MODES:
        raise InvalidArgument(f"history mode {mode!r}: expected one of {', '.join(HISTORY_MODES)}")
    earlier_real: list[CallRecord] = []
    for call in calls:
        if call.letter == "p":
            call.history_problem = history_problem(call, mode, earlier_real) or tool_problem(call, mode)
            if call.history_problem is not None:
                call.letter = "h"
        if call.letter in "ph":
            earlier_real.append(call)


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


def verdict_of(pattern: str, policy: str = "queue") -> str:
    """One word for a pattern: ``clean`` (p and the busy letters ``policy`` allows), ``fast-fail`` (f or w),
    ``busy-policy`` (a b, m or i the policy does not allow), or ``unreliable`` (l, e or h)."""
    if not pattern:
        return "empty"
    if any(letter in FAST_FAIL_LETTERS for letter in pattern):
        return "fast-fail"
    allowed = POLICY_ALLOWS.get(policy, frozenset())
    if any(letter in BUSY_LETTERS - allowed for letter in pattern):
        return "busy-policy"
    if set(pattern) <= {"p"} | allowed and "p" in pattern:
        return "clean"
    return "unreliable"


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
    """``text+20ms``: what the send waited for and the gap after it; ``end*`` when the end stood in for it."""
    if call.anchor_at is None:
        return "-"
    gap = call.sent_at - call.anchor_at
    sign = "+" if gap >= 0 else "-"
    label = "end*" if call.anchor_fallback else call.send_at
    return f"{label}{sign}{abs(gap) * 1000:.0f}ms" + ("!" if call.sent_while_busy else "")


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


def format_timeline(
    calls: Sequence[CallRecord], origin: float | None = None, preamble: Sequence[PreambleRecord] = ()
) -> str:
    """Per call: index, sent at, latency, provider RTT, served before reply?, letter, reply; for a run whose
    sends did not wait for the previous end, also what each send waited for (``!``: sent while busy)."""
    if not calls:
        return "  (no calls)"
    t0 = (preamble[0].sent_at if preamble else calls[0].sent_at) if origin is None else origin
    overlap = any(call.send_at != "end" for call in calls)
    anchor = f"  {'sent after':>14}" if overlap else ""
    header = (
        f"  {'#':>3}  {'sent at':>8}{anchor}  {'latency':>9}  {'provider RTT':>12}  {'served<reply':<22}  {'':1}  reply"
    )
    lines = [header, *_preamble_lines(preamble, t0)]
    pad = f"  {'':>3}  {'':>8}{'  ' + ' ' * 14 if overlap else ''}  {'':>9}  {'':>12}"
    lanes = any(e.kind == "tool" for call in calls for e in call.journal)
    ends = [
        t
        for call in calls
        for t in (call.ended_at, call.replied_at, *(e.ended_at for e in call.journal))
        if t is not None
    ]
    span = max([*ends, t0]) - t0 or 1.0
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
        if lanes:
            lines.append(f"{pad}  {'lane (░ tool, █ text):':<22}     {_lane(call, t0, span)}")
        if tools and not any(e.kind == "text" and e.step > 1 for e in call.journal):
            lines.append(f"{pad}  {'tool turn:':<22}     no text step: the tool result never came back to the provider")
        if call.note:
            lines.append(f"{pad}  {'overlap:':<22}     {call.note}")
        if call.answered_twice:
            lines.append(f"{pad}  {'answered twice:':<22}     {call.answered_twice}")
        for at, text in call.stream_errors[:3]:
            lines.append(f"{pad}  {'stream error:':<22}     +{_ms(at - call.sent_at)} {_excerpt(text)}")
        if call.history_problem:
            lines.append(f"{pad}  {'history:':<22}     {call.history_problem}")
        for late in call.late_replies:
            lines.append(f"{pad}  {'later, other runId:':<22}     {_excerpt(late)}")
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
    send_at: str = "end"
    """What each send waited for (see :data:`~pytest_replyrace.records.SEND_ANCHORS`)."""
    busy_policy: str = "queue"
    """What the gateway promises for a message sent while a turn runs; decides which of b, m, i may pass."""
    preamble: list[PreambleRecord] = field(default_factory=list)
    """The messages sent before the first call, and their answers (shown, not judged)."""

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
        return POLICY_ALLOWS.get(self.busy_policy, frozenset())

    def race_letters(self) -> frozenset[str]:
        """The letters ``assert_no_fast_fail`` fails on: f, w, and the busy letters the policy does not allow."""
        return FAST_FAIL_LETTERS | (BUSY_LETTERS - self.allowed)

    def race_calls(self) -> list[CallRecord]:
        """Calls that break the gateway's promise: a race letter, a message answered twice, or a message sent
        while busy and then lost."""
        bad = self.race_letters()
        return [c for c in self.calls if c.letter in bad or c.answered_twice or (c.letter == "l" and c.sent_while_busy)]

    def shape(self, bad: Iterable[str] = FAST_FAIL_LETTERS) -> str:
        return describe_shape(self.pattern, bad)

    def timeline(self) -> str:
        return format_timeline(self.calls, preamble=self.preamble)

    def _where(self) -> str:
        where = [] if self.rtt is None else [f"rtt={format_duration(self.rtt)}"]
        where.append(f"gap={format_duration(self.gap)}")
        if self.send_at != "end":
            where.append(f"send_at={self.send_at}")
        if self.busy_policy != "queue":
            where.append(f"busy_policy={self.busy_policy}")
        return ", ".join(where)

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
        if self.send_at != "end" or self.busy_policy != "queue":
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
        text = self.describe(bad, title, headline)
        if self.on_failure is not None:
            more = self.on_failure(self, bad)
            if more:
                text += "\n" + more
        return RaceFailure(text)

    def assert_no_fast_fail(self) -> None:
        """Fail when any call is a fast-fail (``f``) or a wrong reply (``w``), a ``b``, ``m`` or ``i`` the
        busy policy does not allow, a message answered twice, or one sent while busy and then lost (``l``);
        or when no call got a real reply (``p``, or ``h``: real, over a corrupted history): a run of only
        errors and lost replies says nothing about the race."""
        __tracebackhide__ = True
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
        if not set(self.pattern) & REAL_LETTERS:
            raise self._failure(
                frozenset(LETTERS) - REAL_LETTERS,
                "no real reply",
                headline=(
                    f"replyrace: no call got a real reply — a race cannot be told from a broken setup: pattern "
                    f"{self.pattern or '(no calls)'} ({self._counts()}) at {self._where()}; check the transport, the "
                    "gateway's provider URL and the timeline below"
                ),
            )

    def assert_clean(self) -> None:
        """Fail on anything but real replies and the busy letters the policy allows (``b`` under reject, ``m``
        under steer, ``i`` under interrupt), and on a message answered twice."""
        __tracebackhide__ = True
        bad = set(self.pattern) - {"p"} - self.allowed
        if bad or not self.calls or any(c.answered_twice for c in self.calls) or "p" not in self.pattern:
            raise self._failure(frozenset(LETTERS) - {"p"} - self.allowed, "unclean run")

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
