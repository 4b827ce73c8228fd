"""The judge: a run's observed calls in, one :class:`Judgement` per call out; no I/O, no clock, no mutation.

:func:`judge` reads what the driver observed (the :class:`~pytest_replyrace.records.CallRecord` of each call,
its provider journal joined by token) and returns new data: the letter, the overlap note, why a message was
answered twice and why its conversation was corrupted. Each reply is tokenised once. Called twice on the same
calls it returns equal judgements and leaves the calls as they were. The letters are described in
:mod:`pytest_replyrace.verdict`; which fail under which policy is in :mod:`pytest_replyrace.letters`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InvalidArgument
from .letters import REAL_LETTERS
from .records import CallRecord
from .spec import HISTORY_MODES
from .tokens import find_tokens

__all__ = [
    "BUSY_TEXT",
    "HELD_FAULTS",
    "Judgement",
    "classify",
    "error_after_reply",
    "held_by_us",
    "history_problem",
    "is_busy_refusal",
    "judge",
    "judge_history",
    "judge_overlaps",
    "provider_failed_before_reply",
    "tool_problem",
]

BUSY_TEXT = re.compile(
    r"\b(busy|already (running|active|in progress)|still (running|processing|shutting down)|in progress|"
    r"too many requests|try again)\b",
    re.IGNORECASE,
)
"""Text that refuses a message because a turn is running (for a transport that cannot say so by status)."""


@dataclass(frozen=True)
class Judgement:
    """What the judge says of one call."""

    letter: str
    note: str | None = None
    """What the overlap judgement saw: merged into which turn, interrupted by which call, refused as busy, or
    lost with the provider's evidence."""
    answered_twice: str | None = None
    history_problem: str | None = None


def provider_failed_before_reply(call: CallRecord) -> bool:
    """Did the provider fail this token (an error status or an injected fault) before the reply?"""
    if call.replied_at is None:
        return False
    return any(e.ended_at is not None and e.ended_at <= call.replied_at and not e.served for e in call.journal)


def classify(call: CallRecord, reply_tokens: Sequence[str] | None = None) -> str:
    """The letter of one call on its own (see :mod:`pytest_replyrace.verdict`)."""
    if call.timed_out:
        return "l"
    if call.transport_error is not None:
        return "e"
    if reply_tokens is None:
        reply_tokens = find_tokens(call.reply)
    tokens = [*reply_tokens, *find_tokens(call.error)]
    own = call.token in tokens
    if own and call.served_before_reply():
        return "p"
    if not own and any(t != call.token for t in tokens):
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


class _Run:
    """The judge's working state over one run: the calls (read only), their reply tokens (read once) and the
    letters and notes being decided."""

    def __init__(self, calls: Sequence[CallRecord], letters: Sequence[str] | None = None) -> None:
        self.calls = tuple(calls)
        self.tokens = [find_tokens(c.reply) for c in self.calls]
        self.letters = (
            list(letters) if letters is not None else [classify(c, t) for c, t in zip(self.calls, self.tokens)]
        )
        self.notes: list[str | None] = [None] * len(self.calls)
        self.twice: list[str | None] = [None] * len(self.calls)
        self.history: list[str | None] = [None] * len(self.calls)
        self.settled: set[int] = set()
        """Calls whose end their own evidence explains (an error after the reply, a model call we held): never
        ``i``."""

    def judgements(self) -> tuple[Judgement, ...]:
        return tuple(
            Judgement(letter, note, twice, history)
            for letter, note, twice, history in zip(self.letters, self.notes, self.twice, self.history)
        )

    def set(self, i: int, letter: str, note: str | None) -> None:
        self.letters[i], self.notes[i] = letter, note


def _merged_into(run: _Run, i: int) -> int | None:
    """The call whose running turn took call ``i``'s message in and whose reply carries it, if any."""
    call = run.calls[i]
    for h, host in enumerate(run.calls):
        if h == i or call.token not in run.tokens[h]:
            continue
        if _was_running(host, call.sent_at) and any(
            e.served
            and e.arrived_at >= host.sent_at
            and e.ended_at is not None
            and (host.replied_at is None or e.ended_at <= host.replied_at)
            for e in call.journal
        ):
            return h
    return None


def _busy_letter(run: _Run, i: int) -> None:
    """An ``f`` sent while busy: ``b`` refused, ``m`` merged, ``p`` queued, ``l`` accepted then dropped."""
    call = run.calls[i]
    if is_busy_refusal(call):
        run.set(i, "b", "refused as busy while an earlier turn ran")
        return
    host = _merged_into(run, i)
    if host is not None:
        run.set(i, "m", f"merged into call {run.calls[host].index}'s running turn")
        return
    if (
        call.error is None
        and call.journal
        and any(e.served for e in call.journal)
        and any(call.token in find_tokens(text) for text in call.late_replies)
    ):
        run.set(i, "p", "queued: answered later under another run id")
    elif call.error is None and not run.tokens[i]:
        evidence = (
            "its token was served by the provider"
            if any(e.served for e in call.journal)
            else "its token reached the provider, not served"
            if call.journal
            else "its token never reached the provider"
        )
        run.set(i, "l", f"accepted, then neither answered, merged nor refused: {evidence}")


def _hosts(run: _Run) -> None:
    """A running call whose reply carries only merged messages' tokens is ``p`` if its own was served first."""
    by_token = {call.token: i for i, call in enumerate(run.calls)}
    for h, host in enumerate(run.calls):
        merged = [by_token[t] for t in run.tokens[h] if t in by_token and run.letters[by_token[t]] == "m"]
        foreign = {t for t in run.tokens[h] if t != host.token}
        names = ", ".join(f"call {run.calls[m].index}" for m in merged)
        if (
            run.letters[h] == "w"
            and merged
            and foreign <= {run.calls[m].token for m in merged}
            and host.served_before_reply()
        ):
            run.set(h, "p", f"answered the merged {names}")  # steer: the turn answered the message folded in
        elif run.letters[h] == "p" and merged:
            run.notes[h] = f"also answered the merged {names}"


def _interrupts(run: _Run) -> None:
    """A running call that ended without a real reply while a message sent during it got one is ``i``."""
    calls = run.calls
    for h in reversed(range(len(calls))):  # from the last: a chain of interrupts ends in the one answered
        host = calls[h]
        if run.letters[h] not in "fel" or host.timed_out or not host.journal or h in run.settled:
            continue
        during = [
            j
            for j in range(h + 1, len(calls))
            if (run.letters[j] in REAL_LETTERS or run.letters[j] == "i") and _was_running(host, calls[j].sent_at)
        ]
        if during:
            first = during[0]
            real = run.letters[first] in REAL_LETTERS
            run.set(
                h,
                "i",
                f"interrupted: call {calls[first].index}, sent while it ran, "
                + ("got a real reply" if real else "was interrupted in turn"),
            )


def _answered_twice(run: _Run) -> None:
    for i, call in enumerate(run.calls):
        carriers = [j for j in range(len(run.calls)) if call.token in run.tokens[j]]
        late = [text for text in call.late_replies if call.token in find_tokens(text)]
        if len(carriers) > 1 and len({run.calls[j].run_id for j in carriers}) > 1:
            run.twice[i] = "its token is in the replies of calls " + ", ".join(
                str(run.calls[j].index) for j in carriers
            )
        elif carriers and late and run.letters[i] in REAL_LETTERS and run.notes[i] is None:
            run.twice[i] = f"answered in call {run.calls[carriers[0]].index}'s reply and again under another run id"


# -- honest ends: a call's end that its own answer or our own fault explains ------------------------------------
# Each step below reads one kind of evidence and is run before the busy letters (see _honest_ends).

HELD_FAULTS = frozenset({"ttft"})
"""Our injected faults that hold a model call open (a held first token): a gateway may honestly give up on it.
The only one today is `ttft`; a fault kind that holds a call is added here too."""


def error_after_reply(call: CallRecord) -> str | None:
    """The first error event in the call's answer after its text-complete event, if any: the turn failed after its
    reply (a later step of the turn failed, and the user was told)."""
    if call.text_at is None:
        return None
    return next((text for at, text in call.stream_errors if at > call.text_at), None)


def held_by_us(call: CallRecord) -> bool:
    """Did the call end while its model call was still held by our own injected fault (the request open, never
    served, at the call's end)? Then the gateway gave up on the model, honestly."""
    end = call.ended_at if call.ended_at is not None else call.replied_at
    if end is None or call.timed_out:
        return False
    return any(
        e.fault in HELD_FAULTS and e.kind != "side" and (e.ended_at is None or e.ended_at > end) for e in call.journal
    )


def _provider_evidence(call: CallRecord) -> str:
    """What the provider saw of a call's token, for the note of a lost message."""
    if any(e.served for e in call.journal):
        return "its token was served by the provider"
    return "its token reached the provider, not served" if call.journal else "its token never reached the provider"


def _merged_answer(run: _Run, i: int) -> bool:
    """A message sent while busy whose own answer has no reply of its own (a refusal, nothing, an empty completion,
    a bare final), whose token was served inside a running turn whose reply carries it: ``m``."""
    call = run.calls[i]
    if not call.sent_while_busy or call.token in run.tokens[i] or call.timed_out or call.transport_error:
        return False
    if run.letters[i] not in "febl":
        return False
    host = _merged_into(run, i)
    if host is None:
        return False
    run.set(i, "m", f"merged into call {run.calls[host].index}'s running turn")
    return True


def _honest_ends(run: _Run) -> None:
    """The letters a call's own evidence settles before the busy letters: an error after the reply (``e``), a model
    call we held (``e``, never ``i``), a merged message's empty answer (``m``), accepted then silent (``l``)."""
    for i, call in enumerate(run.calls):
        failed = error_after_reply(call)
        if failed is not None and run.letters[i] in "pe":
            run.settled.add(i)
            run.set(i, "e", f"the turn failed after its reply: {failed}")
        elif run.letters[i] in "fe" and held_by_us(call) and call.token not in run.tokens[i]:
            run.settled.add(i)
            run.set(i, "e", "the gateway gave up on a model call we held")
        elif _merged_answer(run, i):
            pass
        elif call.timed_out and call.silent is not None:
            run.set(i, "l", f"accepted, then silent: {_provider_evidence(call)}; what arrived: {call.silent}")


def _overlaps(run: _Run) -> None:
    _honest_ends(run)
    for i, call in enumerate(run.calls):
        if run.letters[i] == "f" and call.sent_while_busy:
            _busy_letter(run, i)
    _hosts(run)
    _interrupts(run)
    _answered_twice(run)


def _run_tag(token: str) -> str:
    return token.rsplit("-", 1)[0]


def _number(token: str) -> int:
    return int(token.rsplit("-", 1)[1])


def _exact_problem(
    call: CallRecord, entry_seq: int, arrived_at: float, turns: list[str], earlier_real: Sequence[CallRecord | str]
) -> str | None:
    expected = [
        e if isinstance(e, str) else e.token
        for e in earlier_real
        if isinstance(e, str) or e.replied_at is None or e.replied_at <= arrived_at or not call.sent_while_busy
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
        return f"the previous turn was not in the conversation: {previous.token} (request #{entry_seq})"
    if missing:
        return f"missing earlier real turn{'s' * (len(missing) > 1)}: {', '.join(missing)} (request #{entry_seq})"
    return None


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
        if mode == "exact":
            present = turns + [t for t in entry.mentioned if _run_tag(t) == tag]  # a turn's message or reply, any role
            problem = _exact_problem(call, entry.seq, entry.arrived_at, present, earlier_real)
            if problem is not None:
                return problem
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


def _history(run: _Run, mode: str) -> None:
    if mode not in HISTORY_MODES:
        raise InvalidArgument(f"history mode {mode!r}: expected one of {', '.join(HISTORY_MODES)}")
    earlier_real: list[CallRecord] = []
    for i, call in enumerate(run.calls):
        if run.letters[i] == "p":
            run.history[i] = history_problem(call, mode, earlier_real) or tool_problem(call, mode)
            if run.history[i] is not None:
                run.letters[i] = "h"
        if run.letters[i] in "ph":
            earlier_real.append(call)


def judge(calls: Sequence[CallRecord], history: str = "no-duplicates") -> tuple[Judgement, ...]:
    """Judge one run's calls, in order: each call's own letter (:func:`classify`), then the overlap letters
    ``b``, ``m``, ``i`` and the answered-twice check (see :func:`judge_overlaps`), then the conversation check
    (see :func:`judge_history`). Returns one new :class:`Judgement` per call; the calls are not touched."""
    run = _Run(calls)
    _overlaps(run)
    _history(run, history)
    return run.judgements()


def judge_overlaps(calls: Sequence[CallRecord], letters: Sequence[str] | None = None) -> tuple[Judgement, ...]:
    """The overlap step alone, from the given letters (default: each call's own).

    A call sent while busy whose answer is ``f`` becomes ``b`` when it was refused as busy, ``m`` when its
    token reached the provider inside a running turn whose reply carries it, ``p`` when its answer came later
    under another run id after the provider served it (queued), and ``l`` when it was accepted and then neither
    answered, merged nor refused. A running call that ended without a real reply while a message sent during it
    got one becomes ``i``. The running call whose reply carries only merged messages' tokens is ``p`` if its own
    token was served earlier in its turn. A busy refusal of a call *not* sent while busy stays ``f``: the
    gateway said it was done while it was not.
    """
    run = _Run(calls, letters)
    _overlaps(run)
    return run.judgements()


def judge_history(
    calls: Sequence[CallRecord], mode: str = "no-duplicates", letters: Sequence[str] | None = None
) -> tuple[Judgement, ...]:
    """The conversation step alone: the real replies (``p``) whose request carried a corrupted history become
    ``h``, with the reason.

    ``no-duplicates``: a turn twice or turns out of order (never legitimate; a gateway that sends no history
    never gets ``h``), or a tool call answered twice, never, or a result for a call never issued
    (:func:`tool_problem`); ``exact``: also an earlier real turn of this run missing; ``off``: no check.
    """
    run = _Run(calls, letters)
    _history(run, mode)
    return run.judgements()
