"""The judge is pure: the same observations give equal judgements, and the observations are left as they were."""

from __future__ import annotations

import copy

from support.judge_records import entry, t
from support.judge_records import record as make_record

from pytest_replyrace.judge import Judgement, judge
from pytest_replyrace.letters import FAST_FAIL_LETTERS, LETTERS, failing_letters, verdict_of
from pytest_replyrace.records import CallRecord, JournalEntry


def call(
    index: int, sent: float, done: float, reply: str | None, journal: list[JournalEntry], **more: object
) -> CallRecord:
    record = make_record(index, sent, done, reply, journal, "first", **more)
    record.text_at = record.ended_at = done
    return record


def observations() -> list[CallRecord]:
    """A run with every step of the judge at work: a merge (m, and its host p), an interrupt (i), a busy
    refusal (b), a duplicated turn in the history (h), and a fast-fail (f)."""
    calls = [
        call(1, 0.0, 0.6, f"ECHO {t(2)}", [entry([t(1)], 0.01, 0.25)]),
        call(2, 0.1, 0.11, None, [entry([t(2)], 0.3, 0.55, seq=2)]),
        call(3, 0.7, 0.82, None, [entry([t(3)], 0.71, None, seq=3)], error="run interrupted"),
        call(4, 0.8, 1.1, f"ECHO {t(4)}", [entry([t(4)], 0.83, 1.0, seq=4)]),
        call(5, 0.9, 0.91, None, [], error="session busy", busy_refusal=True),
        call(6, 1.2, 1.5, f"ECHO {t(6)}", [entry([t(6)], 1.21, 1.4, seq=5, history=[t(1), t(1)])]),
        call(7, 1.6, 1.61, "Sorry, try later", []),
    ]
    for record in calls:
        record.sent_while_busy = any(
            e.text_done_at is None or e.text_done_at > record.sent_at for e in calls[: record.index - 1]
        )
    return calls


def test_the_judge_gives_equal_results_twice_and_leaves_its_input_unchanged() -> None:
    calls = observations()
    before = copy.deepcopy(calls)
    first = judge(calls)
    second = judge(calls)
    assert first == second
    assert calls == before  # not a letter, note or reason written back
    assert all(c.letter == "?" and c.note is None and c.answered_twice is None for c in calls)
    assert "".join(j.letter for j in first) == "pmipbhf"
    assert first[1] == Judgement("m", "merged into call 1's running turn")
    assert first[5].history_problem is not None and "sent twice" in first[5].history_problem


def test_the_letter_algebra_is_one_table() -> None:
    assert set(LETTERS) == set("pfwlehbmiso")
    assert failing_letters("fast-fail", "queue") == FAST_FAIL_LETTERS
    assert failing_letters("busy-policy", "reject") == frozenset("mil")
    assert verdict_of("pb", "reject") == "clean" and verdict_of("pb", "queue") == "busy-policy"
