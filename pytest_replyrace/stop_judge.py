"""The stop judge: ``s`` (stopped as asked) and ``o`` (overran the stop), pure, after the ordinary judge.

:func:`judge_stops` reads a run's calls (their letters from :func:`~pytest_replyrace.judge.judge`, their stops
as the driver recorded them, their provider journals) and returns one :class:`StopJudgement` per call; nothing
is touched. Its definitions:

- *the stop's answer*: when the client had the gateway's answer to the stop (for ``disconnect``, the cut);
- *a provider request for a call*: one whose latest user turn holds its token and no later call's token;
- *a reply for a call*: answer text, on any call's answer or under any run id, that carries its token; tokens
  inside error text are not replies. Another call's reply carrying a stopped message overran the stop only when
  the model had not been sent that message before the stop's answer: a message it had seen stays in the
  conversation on real gateways, and the fake model echoes it (see :func:`_seen_before`).

Under ``cancel`` a stopped call is ``s`` when the stop was accepted, no reply for it completed and no provider
request for it arrived more than :data:`LATE` after the stop's answer, and no model call for it was still open
``close_within`` after it; else ``o``, with the reason. A call whose reply completed before its stop instant
keeps its letter ("the stop came after the reply"); one that ended before it was not stopped. Under
``disconnect`` the ``disconnect_policy`` says which promise holds (see :func:`_went_on`). Calls after a stop are
judged as always, their failures marked "after the stop of call N"; a provider 400 for an unpaired tool call
makes a call ``e``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .records import CallRecord, JournalEntry, StopRecord
from .spec import RunSpec
from .tokens import find_tokens

__all__ = ["CARRIED", "LATE", "UNPAIRED_NOTE", "StopJudgement", "busy_until", "judge_stops", "requests_for"]

LATE = 0.05
"""Seconds after the stop's answer within which a reply or a provider request still counts as in flight."""
UNPAIRED_NOTE = "refused: unpaired tool call"
"""The provider journal's error for a request that held a tool call without its result (or the reverse)."""
REFUSED = "the stop was refused, or said nothing was running, while its turn ran"
DROPPED = "the turn was dropped when the client went away"
AFTER_REPLY = "the stop came after the reply"
CARRIED = "a reply carried it after the stop"


@dataclass(frozen=True)
class StopJudgement:
    letter: str
    note: str | None = None
    reason: str | None = None
    """What the stop judgement saw of a stopped call (the ``o`` reason, or why it kept its letter)."""


def _ms(seconds: float) -> str:
    return f"{max(0.0, seconds) * 1000:.0f} ms"


def requests_for(calls: Sequence[CallRecord], i: int) -> list[JournalEntry]:
    """The provider requests for call ``i``: its token in the latest user turn and no later call's token."""
    later = {c.token for c in calls[i + 1 :]}
    return [e for e in calls[i].journal if not later.intersection(e.tokens)]


def busy_until(calls: Sequence[CallRecord], i: int) -> float | None:
    """Until when call ``i``'s turn kept the session busy (None: it never ended). The client was done with it at
    its text-complete or end; a turn the client went away from (``disconnect``) may run on in the gateway, and
    then the provider is the witness: it stayed busy while a model call for it ran to its end after the cut. A
    message sent meanwhile was sent while busy, so its busy policy applies (OpenClaw 2026.9.6, ``continue``:
    the next message at the cut got a bare final once the turn ended). A ``cancel`` stop's answer ends the turn
    as the gateway promised; a message refused after it is the wedge this plugin exists to catch."""
    call = calls[i]
    done, stop = call.text_done_at, call.stop
    if done is None or stop is None or stop.by != "disconnect" or not stop.done:
        return done
    ran_on = [e.ended_at for e in requests_for(calls, i) if e.ended_at is not None and e.closed_at is None]
    return max([done, *ran_on])


def _replies(calls: Sequence[CallRecord], i: int) -> list[tuple[float | None, int]]:
    """Each completed reply carrying call ``i``'s token: (its text-complete instant, or None for one that came
    later under another run id; the call whose answer carried it)."""
    token, found = calls[i].token, []
    for j, call in enumerate(calls):
        if token in find_tokens(call.reply):
            found.append((call.text_at if call.text_at is not None else call.replied_at, j))
        found.extend((None, j) for text in call.late_replies if token in find_tokens(text))
    return found


def _seen_before(call: CallRecord, answered: float) -> bool:
    """Had the model been sent the stopped message before the stop's answer? Then it is part of the conversation:
    OpenClaw, LangGraph and Qwen Code keep a stopped turn's message in the session, and the fake model echoes every
    token of the latest user turn, so a later turn's reply carrying it is no overrun."""
    return any(call.token in e.tokens and e.arrived_at <= answered + LATE for e in call.journal)


def _cancel_problem(calls: Sequence[CallRecord], i: int, stop: StopRecord, close_within: float) -> str | None:
    """Why a stopped call overran its stop (None: it stopped as asked)."""
    answered = stop.answered_at if stop.answered_at is not None else stop.sent_at
    assert answered is not None
    problems: list[str] = []
    seen = _seen_before(calls[i], answered)
    for at, j in _replies(calls, i):
        if at is None or at > answered + LATE:
            if j != i:
                if not seen:  # a message the model was never sent must never reach it (OpenClaw #145727)
                    problems.append(CARRIED)
            else:
                problems.append(
                    "its reply completed after the stop (later, under another run id)"
                    if at is None
                    else f"its reply completed {_ms(at - answered)} after the stop"
                )
    for entry in requests_for(calls, i):
        if entry.arrived_at > answered + LATE:
            problems.append(f"the model was called for it {_ms(entry.arrived_at - answered)} after the stop")
            continue
        finish = min((t for t in (entry.ended_at, entry.closed_at) if t is not None), default=None)
        if finish is None or finish > answered + close_within:
            open_for = close_within if finish is None else finish - answered
            problems.append(f"the model call for it was still open {_ms(open_for)} after the stop")
    if problems and (stop.aborted is False or stop.error is not None):
        return REFUSED + (f" ({stop.error})" if stop.error else "")
    return problems[0] if problems else None


def _went_on(calls: Sequence[CallRecord], i: int, history: str) -> bool:
    """``continue``: the turn's model call was served to the end and, with ``history="exact"``, the first
    provider request after it holds the turn (when there is one)."""
    served = [e for e in requests_for(calls, i) if e.served and e.kind == "text" and e.closed_at is None]
    if not served:
        return False
    if history != "exact":
        return True
    end = min(e.ended_at for e in served if e.ended_at is not None)
    later = sorted(
        {e.seq: e for c in calls for e in c.journal if e.arrived_at > end}.values(), key=lambda e: e.arrived_at
    )
    return not later or calls[i].token in later[0].history + later[0].tokens


def _stopped_letter(calls: Sequence[CallRecord], i: int, spec: RunSpec, letter: str) -> StopJudgement:
    call, stop = calls[i], calls[i].stop
    assert stop is not None
    if not stop.done:
        return StopJudgement(letter, call.note, stop.skipped)
    own = call.text_at if call.text_at is not None else call.replied_at
    if call.token in find_tokens(call.reply) and own is not None and stop.sent_at is not None and own <= stop.sent_at:
        return StopJudgement(letter, call.note, AFTER_REPLY)
    if stop.by == "cancel" or spec.disconnect_policy == "cancel":
        problem = _cancel_problem(calls, i, stop, spec.close_within)
    elif spec.disconnect_policy == "continue":
        problem = None if _went_on(calls, i, spec.history) else DROPPED
    else:  # any: either promise
        cancelled = _cancel_problem(calls, i, stop, spec.close_within)
        problem = None if cancelled is None or _went_on(calls, i, spec.history) else cancelled
    return StopJudgement("o" if problem else "s", call.note, problem)


def _unpaired(calls: Sequence[CallRecord], i: int) -> bool:
    return any(e.error == UNPAIRED_NOTE for e in requests_for(calls, i))


def judge_stops(
    calls: Sequence[CallRecord], spec: RunSpec, letters: Sequence[str] | None = None
) -> tuple[StopJudgement, ...]:
    """One :class:`StopJudgement` per call, from the given letters (default: the calls' own)."""
    letters = [c.letter for c in calls] if letters is None else list(letters)
    judged: list[StopJudgement] = []
    last_stop: int | None = None
    for i, call in enumerate(calls):
        if call.stop is not None:
            judged.append(_stopped_letter(calls, i, spec, letters[i]))
        else:
            letter, note = letters[i], call.note
            after = f"after the stop of call {calls[last_stop].index}" if last_stop is not None else None
            if _unpaired(calls, i):
                letter = "e"
                note = "the model was sent an unpaired tool call" + (
                    f" (left by the stop of call {calls[last_stop].index})" if last_stop is not None else ""
                )
            elif after and letter not in "ps":
                note = f"{note}; {after}" if note else after
            judged.append(StopJudgement(letter, note))
        if call.stop is not None and call.stop.done:
            last_stop = i
    return tuple(judged)
