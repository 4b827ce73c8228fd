"""Never cry wolf (issue 28): a later step's text, a merged message's empty answer, a model call we held, an
answer accepted then silent, an error after the reply; each beside the broken case it must still catch."""

from __future__ import annotations

from support.judge_records import entry, t
from support.judge_records import record as make_record

from pytest_replyrace.judge import judge
from pytest_replyrace.records import CallRecord, JournalEntry


def call(index: int, sent: float, done: float | None, reply: str | None, journal: list[JournalEntry], **more: object):
    record = make_record(index, sent, done, reply, journal, "text", **more)
    if record.text_at is None:
        record.text_at = done
    record.ended_at = done if record.ended_at is None else record.ended_at
    return record


def busy(calls: list[CallRecord]) -> list[CallRecord]:
    for record in calls:
        record.sent_while_busy = any(
            e.text_done_at is None or e.text_done_at > record.sent_at for e in calls[: record.index - 1]
        )
    return calls


def letters(calls: list[CallRecord], history: str = "no-duplicates") -> str:
    return "".join(j.letter for j in judge(busy(calls), history))


def test_a_later_steps_text_after_text_complete_is_never_an_answer() -> None:
    calls = [
        call(
            i,
            i * 1.0,
            i * 1.0 + 0.3,
            f"ECHO {t(i)}",
            [entry([t(i)], i + 0.01, i + 0.25, seq=i, history=[t(n) for n in range(1, i)])],
        )
        for i in range(1, 4)
    ]
    for record in calls:  # the note step quoted the reply; its text came after the text-complete event
        record.after_text = [f"noted: ECHO {record.token}"]
    judged = judge(busy(calls), "exact")
    assert [j.letter for j in judged] == ["p", "p", "p"]
    assert all(j.answered_twice is None for j in judged)


def test_the_previous_turn_counts_in_any_role_and_only_when_present() -> None:
    first = call(1, 0.0, 0.3, f"ECHO {t(1)}", [entry([t(1)], 0.01, 0.25)])
    # The gateway kept the previous turn only as the assistant's reply (no user message): it was in the conversation.
    kept = entry([t(2)], 0.41, 0.65, seq=2, mentioned=[t(1), t(2)])
    assert letters([first, call(2, 0.4, 0.7, f"ECHO {t(2)}", [kept])], "exact") == "pp"
    dropped = entry([t(2)], 0.41, 0.65, seq=2, mentioned=[t(2)])
    judged = judge(busy([first, call(2, 0.4, 0.7, f"ECHO {t(2)}", [dropped])]), "exact")
    assert [j.letter for j in judged] == ["p", "h"]
    assert judged[1].history_problem == f"the previous turn was not in the conversation: {t(1)} (request #2)"


def merged_run(answer: dict[str, object], b_done: float) -> list[CallRecord]:
    host_turn = entry([t(1), t(2)], 0.2, 0.5, seq=2)
    host = call(1, 0.0, 0.6, f"ECHO {t(1)} {t(2)}", [entry([t(1)], 0.01, 0.15), host_turn])
    folded = call(2, 0.1, b_done, answer.pop("reply", None), [host_turn], **answer)  # type: ignore[arg-type]
    return [host, folded]


def test_a_merged_messages_empty_answer_is_m_wherever_it_came() -> None:
    for answer, done in [
        ({"reply": ""}, 0.65),  # an empty 200 completion after the host's reply
        ({"reply": ""}, 0.12),  # a bare final before the host's turn served it
        ({"reply": None}, 0.7),  # nothing
        ({"reply": None, "error": "session busy", "busy_refusal": True}, 0.11),  # refused, and merged all the same
    ]:
        judged = judge(busy(merged_run(dict(answer), done)))
        assert [j.letter for j in judged] == ["p", "m"], answer
        assert judged[1].note == "merged into call 1's running turn"


def test_an_empty_answer_never_merged_is_not_m() -> None:
    host = call(1, 0.0, 0.6, f"ECHO {t(1)}", [entry([t(1)], 0.01, 0.5)])
    lost = call(2, 0.1, 0.65, "", [entry([t(2)], 0.7, 0.9, seq=2)])  # served after its empty answer, by nobody
    assert letters([host, lost]) == "pl"  # accepted, then neither answered, merged nor refused


def test_accepted_then_silent_is_l_with_the_provider_evidence_and_a_stall_stays_e() -> None:
    silent = call(1, 0.0, None, None, [entry([t(1)], 0.01, 0.25)], timed_out=True, silent="HTTP 200 and 40 bytes")
    silent.ended_at, silent.first_at = 5.0, 0.02
    (judged,) = judge([silent])
    assert judged.letter == "l"
    assert judged.note == (
        "accepted, then silent: its token was served by the provider; what arrived: HTTP 200 and 40 bytes"
    )
    stalled = call(
        1, 0.0, 5.0, None, [entry([t(1)], 0.01, 0.25)], transport_error="the reply started but did not finish"
    )
    assert letters([stalled]) == "e"


def held_run(fault: str | None, closed: float | None) -> list[CallRecord]:
    held = entry([t(1)], 0.01, None, fault=fault, closed_at=closed)
    first = call(1, 0.0, 5.1, "", [held])
    second = call(2, 0.02, 6.0, f"ECHO {t(2)}", [entry([t(2)], 5.2, 5.9, seq=2)])
    return [first, second]


def test_a_model_call_we_held_explains_its_calls_end_never_i() -> None:
    for closed in (5.05, None):  # the gateway gave up and closed it, or left it open
        judged = judge(busy(held_run("ttft", closed)))
        assert [j.letter for j in judged] == ["e", "p"]
        assert judged[0].note == "the gateway gave up on a model call we held"
    # Without our fault the same end is an interruption by the later message.
    assert letters(held_run(None, 5.05)) == "ip"


def test_an_error_after_the_reply_fails_the_call_and_before_it_changes_nothing() -> None:
    record = call(1, 0.0, 0.3, f"ECHO {t(1)}", [entry([t(1)], 0.01, 0.25)])
    record.ended_at = 0.9
    record.stream_errors = [(0.8, "stale session: the note could not be saved")]
    (judged,) = judge([record])
    assert judged.letter == "e"
    assert judged.note == "the turn failed after its reply: stale session: the note could not be saved"
    record.stream_errors = [(0.2, "a retried chunk")]  # before text-complete: the reply itself decides
    assert letters([record]) == "p"
