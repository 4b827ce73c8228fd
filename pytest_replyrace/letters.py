"""The letter algebra: the letters a call can get, which fail under which busy policy, and the verdict words.

The one place :class:`~pytest_replyrace.verdict.RaceResult`, the terminal summary and the HTML report read
them from. Adding a letter or a policy is one edit here (and the judge that hands it out).
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "BUSY_LETTERS",
    "BUSY_POLICIES",
    "FAST_FAIL_LETTERS",
    "LETTERS",
    "OVERRAN",
    "POLICY_ALLOWS",
    "REAL_LETTERS",
    "STOP_LETTERS",
    "BusyPolicy",
    "Verdict",
    "allowed_letters",
    "failing_letters",
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
    "s": "stopped",
    "o": "overran the stop",
}
"""Every letter and its words, in the order the reports show them."""
FAST_FAIL_LETTERS = frozenset("fw")
"""A call that ended before its answer existed, or carried another call's answer: a race under every policy."""
BUSY_LETTERS = frozenset("bmi")
"""What a gateway may do with a message sent while a turn runs, if its busy policy says so."""
REAL_LETTERS = frozenset("ph")
"""A reply the model really wrote for this call (``h``: over a corrupted conversation)."""
STOP_LETTERS = frozenset("so")
"""A call the client stopped: its turn ended as asked (``s``, clean), or it overran the stop (``o``, a failure
under every policy)."""
OVERRAN = frozenset("o")

BusyPolicy = Literal["queue", "reject", "steer", "interrupt", "any"]
BUSY_POLICIES: tuple[BusyPolicy, ...] = get_args(BusyPolicy)
POLICY_ALLOWS: dict[str, frozenset[str]] = {
    "queue": frozenset(),
    "reject": frozenset("b"),
    "steer": frozenset("m"),
    "interrupt": frozenset("i"),
    "any": BUSY_LETTERS,
}
"""Which of ``b``, ``m``, ``i`` each busy policy allows; ``f``, ``w``, ``l`` and a message answered twice fail
under every policy."""

Verdict = Literal["empty", "clean", "fast-fail", "busy-policy", "overran-stop", "unreliable"]


def allowed_letters(policy: str) -> frozenset[str]:
    """The busy letters ``policy`` allows (none for a policy we do not know)."""
    return POLICY_ALLOWS.get(policy, frozenset())


def failing_letters(verdict: str, policy: str) -> frozenset[str]:
    """The letters a run with this verdict word failed on, for naming its shape: ``f``/``w`` for a fast-fail,
    the busy letters the policy does not allow (and ``l``) for a broken busy policy, else all but ``p`` and
    the allowed ones."""
    allowed = allowed_letters(policy)
    if verdict == "fast-fail":
        return FAST_FAIL_LETTERS
    if verdict == "busy-policy":
        return (BUSY_LETTERS - allowed) | {"l"}
    if verdict == "overran-stop":
        return OVERRAN
    return frozenset(LETTERS) - {"p", "s"} - allowed


def verdict_of(pattern: str, policy: str = "queue") -> Verdict:
    """One word for a pattern: ``clean`` (p, s and the busy letters ``policy`` allows), ``fast-fail`` (f or w),
    ``busy-policy`` (a b, m or i the policy does not allow), ``overran-stop`` (o), or ``unreliable`` (l, e or
    h)."""
    if not pattern:
        return "empty"
    if any(letter in FAST_FAIL_LETTERS for letter in pattern):
        return "fast-fail"
    allowed = allowed_letters(policy)
    if any(letter in BUSY_LETTERS - allowed for letter in pattern):
        return "busy-policy"
    if any(letter in OVERRAN for letter in pattern):
        return "overran-stop"
    if set(pattern) <= {"p", "s"} | allowed and set(pattern) & {"p", "s"}:
        return "clean"
    return "unreliable"
