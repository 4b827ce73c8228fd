"""What is missing when no call of a run got a real reply: the part of the evidence that never came, and the
start of one answer, quoted.

A real reply needs three things in a row: the gateway called the fake provider with the call's token, the
provider served it, and the gateway's reply carried the token back. When no call of a run has all three, the
run says nothing about a race; :func:`missing_evidence` names the first link missing for the run as a whole,
so a broken setup reads as one, not as a race (and is not shrunk or searched). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from .gateway.log import escape_controls
from .records import CallRecord

__all__ = ["MISSING_PREFIX", "NOTHING_TO_QUOTE", "missing_evidence"]

MISSING_PREFIX = "missing evidence:"
"""The first word of the line that names the missing link."""

NOTHING_TO_QUOTE = "no answer to quote: no call's answer carried text, an error or bytes the transport kept"

_QUOTE_CHARS = 200


def missing_evidence(calls: Sequence[CallRecord], stray_requests: int = 0) -> list[str]:
    """The lines a run without a real reply adds to its failure: which link is missing, then the start of one
    answer as it arrived (or that there was none to quote). ``stray_requests``: provider requests during the
    run that carried none of its calls' tokens."""
    quote = _quoted_answer(calls)
    return [f"{MISSING_PREFIX} {_missing(calls, stray_requests)}", quote or NOTHING_TO_QUOTE]


def _served(call: CallRecord) -> bool:
    return any(e.served and e.kind == "text" for e in call.journal)


def _missing(calls: Sequence[CallRecord], stray_requests: int) -> str:
    total = len(calls)
    asked = [c for c in calls if c.journal]
    if not asked:
        return _never_asked(calls, stray_requests)
    served = [c for c in calls if _served(c)]
    if not served:
        return (
            f"the fake provider received the requests of {len(asked)} of {total} calls but served none of them "
            "(see the provider's status or fault in the timeline below)"
        )
    early = [c for c in served if c.token in (c.reply or "")]
    if early:
        return (
            f"the fake provider served {len(served)} of {total} calls, and {len(early)} replies carried their call's "
            "token, but each came before the provider had served it"
        )
    no_text = next((c.no_text for c in calls if c.no_text), None)
    why = no_text or "the gateway's answers lost the model's text (which echoes the token) on the way back"
    return f"the fake provider served {len(served)} of {total} calls, but no reply carried its call's token: {why}"


def _never_asked(calls: Sequence[CallRecord], stray_requests: int) -> str:
    if stray_requests:
        return (
            f"no request to the fake provider carried a call's token ({stray_requests} reached it during the run, "
            "carrying none): the gateway does not pass the message on as the latest user turn"
        )
    answered = any(not c.timed_out and c.transport_error is None for c in calls)
    return (
        "the gateway never called the fake provider (no request reached it during the run): check that its "
        "provider URL is the fake provider's ({provider_url} in the gateway command, env REPLYRACE_PROVIDER_URL)"
        + ("" if answered else "; no call got an answer from the gateway either (see the transport errors below)")
    )


def _quoted_answer(calls: Sequence[CallRecord]) -> str | None:
    """The start of one answer: the first call's whose bytes were kept, else the first reply or error text."""
    for call in calls:
        if call.answer_start:
            return f"call {call.index}'s answer as it arrived: {call.answer_start}"
    for call in calls:
        text = call.reply or call.error
        if text:
            flat = escape_controls(text[:_QUOTE_CHARS] + ("…" if len(text) > _QUOTE_CHARS else ""))
            return f"call {call.index}'s answer: {'reply' if call.reply else 'error'} {flat!r}"
    return None
