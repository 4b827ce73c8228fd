"""The stop judge is pure: ``s`` and ``o`` with each reason, the disconnect policies, the notes after a stop,
the unpaired-tool-call ``e``; and the per-call schedule of the run spec."""

from __future__ import annotations

import copy
import dataclasses

import pytest
from support.judge_records import entry as journal_entry

from pytest_replyrace.errors import InvalidArgument
from pytest_replyrace.letters import verdict_of
from pytest_replyrace.provider.turns import UNPAIRED_NOTE as PROVIDER_UNPAIRED
from pytest_replyrace.records import CallRecord, JournalEntry, StopRecord
from pytest_replyrace.spec import RunSpec
from pytest_replyrace.stop_judge import AFTER_REPLY, DROPPED, REFUSED, UNPAIRED_NOTE, busy_until, judge_stops
from pytest_replyrace.verdict import RaceResult

TAG = "rr-stop"
STOP = 1.2
"""The stop's answer in every case: call 1 sent at 1.0, its request at 1.05, the stop sent at 1.19."""


def t(i: int) -> str:
    return f"{TAG}-{i}"


def entry(
    tokens: list[str],
    arrived: float,
    ended: float | None,
    seq: int = 1,
    closed: float | None = None,
    history: list[str] | None = None,
    error: str | None = None,
) -> JournalEntry:
    return journal_entry(
        tokens,
        arrived,
        ended,
        seq,
        rtt=0.5,
        stream=False,
        status=400 if error else 200,
        history=history or [],
        closed_at=closed,
        error=error,
    )


def stopped(
    journal: list[JournalEntry],
    reply: str | None = None,
    done: float = STOP,
    aborted: bool | None = True,
    **stop: object,
) -> CallRecord:
    record = CallRecord(index=1, token=t(1), session_key="k", sent_at=1.0, replied_at=done, ended_at=done)
    record.reply, record.error, record.journal = reply, None if reply else "stopped", journal
    record.letter = "p" if reply else "f"
    record.stop = StopRecord(
        at="request",
        gap=0.14,
        by="cancel",
        anchor_at=1.05,
        due_at=1.19,
        sent_at=1.19,
        answered_at=STOP,
        aborted=aborted,
    )
    record.stop = dataclasses.replace(record.stop, **stop)  # type: ignore[arg-type]
    return record


def after(index: int, sent: float, journal: list[JournalEntry], reply: str | None, letter: str = "p") -> CallRecord:
    record = CallRecord(index=index, token=t(index), session_key="k", sent_at=sent, replied_at=sent + 0.6)
    record.ended_at, record.reply, record.journal, record.letter = sent + 0.6, reply, journal, letter
    record.error = None if reply else "failed"
    return record


SPEC = RunSpec(calls=2, stop_at="request", stop_gap=0.14)


def letters(calls: list[CallRecord], spec: RunSpec = SPEC) -> str:
    return "".join(j.letter for j in judge_stops(calls, spec))


def reason(calls: list[CallRecord], spec: RunSpec = SPEC) -> str | None:
    return judge_stops(calls, spec)[0].reason


def next_call(history: list[str] | None = None) -> CallRecord:
    return after(2, 1.25, [entry([t(2)], 1.3, 1.8, seq=2, history=history)], f"ECHO {t(2)}")


def test_a_stop_that_closed_the_model_call_is_s_and_the_judge_is_pure() -> None:
    calls = [stopped([entry([t(1)], 1.05, None, closed=1.201)]), next_call()]
    before = copy.deepcopy(calls)
    assert letters(calls) == "sp" and reason(calls) is None
    assert judge_stops(calls, SPEC) == judge_stops(calls, SPEC)
    assert calls == before
    assert verdict_of("sp") == "clean" and verdict_of("op") == "overran-stop"


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        ([stopped([entry([t(1)], 1.05, 1.55)], reply=f"ECHO {t(1)}", done=1.56)], "its reply completed 360 ms after"),
        (
            [stopped([entry([t(1)], 1.05, 1.55)], reply=f"ECHO {t(1)}", done=1.56, aborted=False)],
            REFUSED,
        ),
        ([stopped([entry([t(1)], 1.05, 3.5)], done=1.2)], "the model call for it was still open 2300 ms after"),
        ([stopped([entry([t(1)], 1.05, None)], done=1.2)], "the model call for it was still open 2000 ms after"),
        (
            [stopped([entry([t(1)], 1.05, None, closed=1.2), entry([t(1)], 1.5, 2.0, seq=2)]), next_call()],
            "the model was called for it 300 ms after",
        ),
        (
            [stopped([]), after(2, 1.25, [entry([t(1), t(2)], 1.3, 1.8, seq=2)], f"ECHO {t(1)} {t(2)}")],
            "a reply carried it after the stop",
        ),
    ],
    ids=["reply", "refused", "open", "never-closed", "called-again", "carried"],
)
def test_each_overrun_reason(calls: list[CallRecord], expected: str) -> None:
    judged = judge_stops(calls, SPEC)
    assert judged[0].letter == "o"
    assert judged[0].reason is not None and judged[0].reason.startswith(expected), judged[0].reason


def test_a_request_holding_the_stopped_and_the_next_message_is_the_next_calls() -> None:
    folded = entry([t(1), t(2)], 1.3, 1.8, seq=2)
    calls = [stopped([entry([t(1)], 1.05, None, closed=1.2), folded]), after(2, 1.25, [folded], f"ECHO {t(2)}")]
    assert letters(calls) == "sp"


def test_a_reply_before_the_stop_keeps_its_letter_and_a_call_that_ended_first_was_not_stopped() -> None:
    early = stopped([entry([t(1)], 1.05, 1.15)], reply=f"ECHO {t(1)}", done=1.16)
    assert letters([early]) == "p" and reason([early]) == AFTER_REPLY
    skipped = stopped([entry([t(1)], 1.05, 1.15)], reply=f"ECHO {t(1)}", done=1.16, sent_at=None, answered_at=None)
    skipped.stop = dataclasses.replace(skipped.stop, skipped="not stopped: it ended first")  # type: ignore[arg-type]
    assert letters([skipped]) == "p" and reason([skipped]) == "not stopped: it ended first"


def test_the_calls_after_a_stop_say_so_and_an_unpaired_tool_call_is_e() -> None:
    first = stopped([entry([t(1)], 1.05, None, closed=1.2)])
    wedged = after(2, 1.25, [], None, letter="f")
    judged = judge_stops([first, wedged], SPEC)
    assert [j.letter for j in judged] == ["s", "f"] and judged[1].note == "after the stop of call 1"
    refused = after(2, 1.25, [entry([t(2)], 1.3, 1.31, seq=2, error=UNPAIRED_NOTE)], None, letter="f")
    judged = judge_stops([first, refused], SPEC)
    assert judged[1].letter == "e"
    assert judged[1].note == "the model was sent an unpaired tool call (left by the stop of call 1)"
    assert UNPAIRED_NOTE == PROVIDER_UNPAIRED


@pytest.mark.parametrize(
    ("policy", "closed", "history", "letter"),
    [
        ("continue", False, [t(1)], "s"),
        ("continue", True, [], "o"),
        ("continue", False, [], "o"),  # served, but not in the next request's history (exact)
        ("cancel", True, [], "s"),
        ("cancel", False, [t(1)], "o"),
        ("any", True, [], "s"),
        ("any", False, [t(1)], "s"),
    ],
)
def test_the_disconnect_policies(policy: str, closed: bool, history: list[str], letter: str) -> None:
    model = entry([t(1)], 1.05, None if closed else 3.5, closed=1.2 if closed else None)
    first = stopped([model], by="disconnect", aborted=None)
    nxt = after(2, 1.25, [entry([t(2)], 3.6, 4.1, seq=2, history=history)], f"ECHO {t(2)}")
    spec = SPEC.override("t", stop_by="disconnect", disconnect_policy=policy, history="exact")
    judged = judge_stops([first, nxt], spec)
    assert judged[0].letter == letter, judged[0]
    if policy == "continue" and letter == "o":
        assert judged[0].reason == DROPPED


def test_a_run_of_s_alone_passes_and_o_fails_every_policy() -> None:
    calls = [stopped([entry([t(1)], 1.05, None, closed=1.2)])]
    calls[0].letter = "s"
    result = RaceResult(calls=calls, session_key="k", spec=RunSpec(calls=1, stop_at="request", stop_calls="all"))
    result.assert_no_fast_fail()
    result.assert_clean()
    calls[0].letter = "o"
    with pytest.raises(AssertionError, match="the stop was overrun"):
        result.assert_no_fast_fail()


def test_a_schedule_per_call() -> None:
    spec = RunSpec(calls=5, send_at="request,end", gap="1,0", stop_at=("request", "end"), stop_gap="0.5")
    assert [spec.send_at_of(i) for i in range(2, 6)] == ["request", "end", "request", "end"]
    assert [spec.gap_of(i) for i in range(2, 6)] == [1.0, 0.0, 1.0, 0.0]
    assert [spec.stop_at_of(n) for n in range(3)] == ["request", "end", "request"]
    assert spec.stop_gap_of(2) == 0.5 and [i for i in range(1, 6) if spec.stopped(i)] == [1, 3, 5]
    assert spec.text("send_at") == "request,end" and spec.text("gap") == "1,0"
    assert spec.to_dict()["send_at"] == ["request", "end"]
    assert RunSpec(calls=4, stop_at="sent", stop_calls="2,4").stop_calls == (2, 4)
    assert not RunSpec().stopped(1) and RunSpec(stop_at="end", stop_calls="last", calls=3).stopped(3)
    assert RunSpec(send_at="served", gap="-0.02,0.01").gap == (-0.02, 0.01)
    with pytest.raises(InvalidArgument, match=r"gap: '-0.02' must be >= 0.*in gap='0,-0.02'"):
        RunSpec(send_at="request,served", gap="0,-0.02")


def test_the_timeline_and_the_html_show_the_stop_and_the_model_calls_close() -> None:
    from pytest_replyrace.reports.html import render_html

    first = stopped([entry([t(1)], 1.05, None, closed=1.201)])
    first.letter, first.stop.reason = "s", None  # type: ignore[union-attr]
    skipped = after(2, 1.25, [entry([t(2)], 1.3, 1.8, seq=2)], f"ECHO {t(2)}")
    skipped.stop = StopRecord(at="request", gap=0.6, by="cancel", skipped="not stopped: it ended first", due_at=1.9)
    spec = RunSpec(calls=2, stop_at="request", stop_gap=0.14, stop_calls="all")
    result = RaceResult(
        calls=[first, skipped], session_key="k", rtt=0.5, spec=spec, node_id="t.py::t", settings=spec.to_dict()
    )
    timeline = result.timeline()
    assert (
        "stop:                      cancel at request+140ms: sent +190ms after the call; +0.0ms off its instant; answered +10ms (aborted); model call closed +1ms after the answer"
        in timeline
    )
    assert "cancel at request+600ms: not stopped: it ended first" in timeline
    page = render_html([result.to_dict()], seed=1, settings={})
    assert page.count('<g class="stop"') == 2 and page.count('class="closed"') == 1
    assert "stop_at=request stop_gap=0.14 stop_calls=all stop_by=cancel close_within=2.0" in page
    assert "cancel at request+140ms; answered +10ms (aborted)" in page


def test_a_stopped_message_the_model_had_seen_may_be_carried_by_a_later_turn() -> None:
    # OpenClaw 2026.9.6, LangGraph, Qwen Code: the stopped message stays in the session; the next request holds
    # it beside the next message and the fake model echoes both. Only a message never sent before the stop overran.
    folded = entry([t(1), t(2)], 1.3, 1.8, seq=2)
    seen = [stopped([entry([t(1)], 1.05, None, closed=1.2), folded]), after(2, 1.25, [folded], f"ECHO {t(1)} {t(2)}")]
    assert letters(seen) == "sp"
    never = [stopped([folded]), after(2, 1.25, [folded], f"ECHO {t(1)} {t(2)}")]
    assert letters(never)[0] == "o" and reason(never) == "a reply carried it after the stop"


@pytest.mark.parametrize(
    ("by", "closed", "expected"),
    [
        ("disconnect", None, 1.55),  # the turn ran on after the cut: busy until the model call's end
        ("disconnect", 1.21, STOP),  # the gateway closed the model call: done at the cut
        ("cancel", None, STOP),  # a stop's answer ends the turn, as the gateway promised (the wedge is a bug)
    ],
)
def test_a_turn_the_client_left_keeps_the_session_busy_while_its_model_call_runs_on(
    by: str, closed: float | None, expected: float
) -> None:
    first = stopped([entry([t(1)], 1.05, 1.55, closed=closed)], by=by)
    # A request that also holds call 2's message is call 2's, not the stopped turn running on.
    calls = [first, after(2, 1.25, [entry([t(1), t(2)], 1.6, 2.0, seq=2)], f"ECHO {t(2)}")]
    assert busy_until(calls, 0) == pytest.approx(expected)
    assert busy_until(calls, 1) == pytest.approx(1.85)
