"""What a run without a real reply says is missing: pure functions over records."""

from __future__ import annotations

import pytest

from pytest_replyrace.evidence import MISSING_PREFIX, NOTHING_TO_QUOTE, missing_evidence
from pytest_replyrace.records import CallRecord, JournalEntry, StopRecord
from pytest_replyrace.verdict import RaceFailure, RaceResult


def entry(token: str, ended: float | None = 10.2, status: int = 200) -> JournalEntry:
    return JournalEntry(
        seq=1,
        path="/v1/chat/completions",
        arrived_at=10.1,
        ended_at=ended,
        tokens=[token],
        rtt=0.05,
        model="m",
        stream=False,
        status=status,
    )


def calls(n: int, served: bool | None, reply: str | None = "Done!", **kw: object) -> list[CallRecord]:
    """``n`` calls; ``served``: the provider served each (True), received each but failed it (False), or never
    saw one (None)."""
    records = []
    for i in range(1, n + 1):
        token = f"rr-abcd-{i}"
        journal = [] if served is None else [entry(token, status=200 if served else 500)]
        record = CallRecord(index=i, token=token, session_key="s", sent_at=10.0, replied_at=10.3, reply=reply)
        record.journal, record.letter = journal, "e" if served else "f"
        for key, value in kw.items():
            setattr(record, key, value)
        records.append(record)
    return records


def test_a_gateway_that_never_called_the_provider() -> None:
    first, quote = missing_evidence(calls(3, None, answer_start="HTTP 200, 9 bytes: 'canned'"))
    assert first.startswith(f"{MISSING_PREFIX} the gateway never called the fake provider (no request reached it")
    assert "{provider_url}" in first and "no call got an answer" not in first
    assert quote == "call 1's answer as it arrived: HTTP 200, 9 bytes: 'canned'"


def test_a_gateway_that_never_answered_either() -> None:
    first, quote = missing_evidence(calls(2, None, reply=None, transport_error="refused"))
    assert quote == NOTHING_TO_QUOTE  # the transport errors are quoted in the timeline
    assert first.endswith("no call got an answer from the gateway either (see the transport errors below)")


def test_requests_without_any_token_are_counted() -> None:
    first, _ = missing_evidence(calls(2, None), stray_requests=5)
    assert "no request to the fake provider carried a call's token (5 reached it during the run" in first


def test_served_but_no_token_back_with_and_without_the_transports_reason() -> None:
    first, quote = missing_evidence(calls(4, True))
    assert "the fake provider served 4 of 4 calls, but no reply carried its call's token: the gateway's" in first
    assert quote == "call 1's answer: reply 'Done!'"  # no bytes kept: the reply text itself
    first, _ = missing_evidence(calls(2, True, reply="", no_text="the text selector matched none"))
    assert first.endswith("no reply carried its call's token: the text selector matched none")


def test_received_but_never_served() -> None:
    first, _ = missing_evidence(calls(2, False, reply=None, error="upstream 500"))
    assert "received the requests of 2 of 2 calls but served none of them" in first


def test_a_run_without_a_real_reply_says_it_in_both_assertions() -> None:
    result = RaceResult(calls=calls(3, None), session_key="s")
    assert result.no_real_reply
    for check in (result.assert_no_fast_fail, result.assert_clean):
        with pytest.raises(RaceFailure) as info:
            check()
        lines = str(info.value).splitlines()
        assert lines[0].startswith("replyrace: no call got a real reply") and "pattern fff (3f)" in lines[0]
        assert lines[1].startswith(f"{MISSING_PREFIX} the gateway never called the fake provider")
        assert lines[2] == "call 1's answer: reply 'Done!'"


def test_a_broken_busy_promise_is_not_a_broken_setup() -> None:
    # Call 1 failed after the provider served it, call 2 was sent while it ran and lost: the busy policy's
    # failure, though no call got a real reply.
    records = calls(2, True)
    records[1].letter, records[1].sent_while_busy, records[1].timed_out = "l", True, True
    result = RaceResult(calls=records, session_key="s", busy_policy="steer")
    assert not result.no_real_reply
    with pytest.raises(RaceFailure, match="busy policy steer broken"):
        result.assert_no_fast_fail()


def test_a_real_reply_is_not_missing_evidence() -> None:
    records = calls(2, True)
    records[0].letter = "p"
    assert not RaceResult(calls=records, session_key="s").no_real_reply


def test_nothing_explores_a_run_without_a_real_reply() -> None:
    from types import SimpleNamespace

    from pytest_replyrace.explore import Explorer

    runner = SimpleNamespace(shrink_budget=30.0, search_spec=None)
    explorer = Explorer(runner)  # type: ignore[arg-type]
    broken = RaceResult(calls=calls(4, None), session_key="s")
    racing = RaceResult(calls=calls(4, None), session_key="s")
    racing.calls[0].letter = "p"
    assert not explorer.wanted(broken) and explorer.wanted(racing)
    with pytest.raises(RaceFailure) as info:
        broken.assert_no_fast_fail()
    assert explorer.explain(info.value) is None and not info.value.explored


def test_a_call_judged_by_something_else_than_its_reply_is_left_to_its_own_check() -> None:
    records = calls(2, None)
    records[0].letter = "?"  # not judged (or judged by another check, such as a stop's)
    assert not RaceResult(calls=records, session_key="s").no_real_reply


@pytest.mark.parametrize(("reached", "wedge"), [(False, True), (True, False)])
def test_a_message_that_failed_after_a_stop_is_the_stop_family_not_a_broken_setup(reached: bool, wedge: bool) -> None:
    # Call 1 was stopped after its request reached the provider; call 2 failed. Without reaching the model, it
    # is the wedge (a fast-fail after the stop); served without its token coming back, still a setup question.
    records = calls(2, True)
    records[0].letter = "s"
    records[0].stop = StopRecord(at="request", gap=0.1, by="cancel", sent_at=10.15, answered_at=10.2, aborted=True)
    records[1].letter, records[1].journal = "f", records[1].journal if reached else []
    result = RaceResult(calls=records, session_key="s")
    assert result.no_real_reply is not wedge
    with pytest.raises(RaceFailure) as info:
        result.assert_no_fast_fail()
    assert str(info.value).startswith("replyrace fast-fail at" if wedge else "replyrace: no call got a real reply")
    assert result.shape() == ("the last call" if wedge else "no real reply, the last call")
