"""Classification, shapes and the failure text: pure functions over records."""

from __future__ import annotations

import pytest

from pytest_replyrace.records import CallRecord, JournalEntry, LogMatch
from pytest_replyrace.verdict import RaceFailure, RaceResult, classify, describe_shape, verdict_of


def entry(token: str, arrived: float, ended: float | None, status: int = 200) -> JournalEntry:
    return JournalEntry(seq=1, path="/v1/chat/completions", arrived_at=arrived, ended_at=ended, tokens=[token],
                        rtt=0.05, model="fake-model", stream=True, status=status)


def call(reply: str | None, replied: float | None, journal: list[JournalEntry], **kw: object) -> CallRecord:
    record = CallRecord(index=2, token="rr-abcd-2", session_key="agent:test:race-x", sent_at=10.0, replied_at=replied,
                        reply=reply, journal=journal)
    for key, value in kw.items():
        setattr(record, key, value)
    return record


def test_real_reply_needs_the_token_and_a_serve_before_the_reply() -> None:
    assert classify(call("ECHO rr-abcd-2", 10.3, [entry("rr-abcd-2", 10.1, 10.2)])) == "p"


@pytest.mark.parametrize(
    ("reply", "journal"),
    [
        ("", []),  # empty, no request at all
        (None, []),  # bare final
        ("⚠️ Previous run is still shutting down. Please try again in a moment.", []),
        ("ECHO rr-abcd-2", [entry("rr-abcd-2", 10.1, 10.5)]),  # own token, but served after the reply came back
        ("", [entry("rr-abcd-2", 10.1, None)]),  # request still in flight
    ],
)
def test_fast_fail_when_the_provider_had_not_answered(reply: str | None, journal: list[JournalEntry]) -> None:
    assert classify(call(reply, 10.3, journal)) == "f"


def test_error_text_before_the_provider_is_a_fast_fail() -> None:
    assert classify(call(None, 10.01, [], error="session busy")) == "f"


def test_wrong_reply_carries_another_calls_token() -> None:
    assert classify(call("ECHO rr-abcd-1", 10.3, [entry("rr-abcd-2", 10.1, 10.2)])) == "w"
    assert classify(call("ECHO rr-abcd-1", 10.01, [])) == "w"


def test_own_and_other_token_served_is_real() -> None:
    # A batched follow-up answer may carry both; the caller did get its answer.
    assert classify(call("ECHO rr-abcd-1 rr-abcd-2", 10.3, [entry("rr-abcd-2", 10.1, 10.2)])) == "p"


def test_lost_and_transport_errors() -> None:
    assert classify(call(None, None, [], timed_out=True)) == "l"
    assert classify(call(None, 10.3, [], transport_error="connection reset")) == "e"


def test_error_after_the_provider_answered() -> None:
    served = [entry("rr-abcd-2", 10.1, 10.2)]
    assert classify(call(None, 10.3, served, error="model run failed")) == "e"
    assert classify(call("", 10.3, served)) == "e"
    # A provider 500 that the gateway reports honestly is an error, not a fast-fail.
    assert classify(call(None, 10.3, [entry("rr-abcd-2", 10.1, 10.11, status=500)], error="upstream 500")) == "e"
    # Canned 200 text that papers over a provider fault is a fast-fail, and so is an own-token
    # reply the provider never served (a gateway echoing the prompt is not a model answer).
    failed = [entry("rr-abcd-2", 10.1, 10.11, status=500)]
    assert classify(call("Sorry, try again later", 10.3, failed)) == "f"
    assert classify(call("ECHO rr-abcd-2", 10.3, failed)) == "f"
    # An injected fault with status 200 (a malformed body) is not a serve either.
    malformed = entry("rr-abcd-2", 10.1, 10.2)
    malformed.error = "injected malformed body"
    assert classify(call(None, 10.3, [malformed], error="provider sent garbage")) == "e"
    assert classify(call("Sorry", 10.3, [malformed])) == "f"
    # An error that came before the provider failed was not caused by it.
    assert classify(call(None, 10.05, failed, error="busy")) == "f"


@pytest.mark.parametrize(
    ("pattern", "shape"),
    [
        ("pppp", "clean"),
        ("pfpfpfpfpf", "alternating: every 2nd call"),
        ("fpfpfp", "alternating: every 2nd call"),
        ("pffffffff", "all after the first"),
        ("ffff", "every call"),
        ("ppfppfppf", "periodic: every 3rd call"),
        ("fffppppppp", "the first 3 calls"),
        ("pffffp", "a run of 4 from call 2"),
        ("ppfpppfppf", "intermittent 3/10"),
        ("pfpppp", "only call 2"),
        ("pfpfpp", "intermittent 2/6"),  # alternation that stopped is not a period
        ("pwpwpw", "alternating: every 2nd call"),
        ("pwleepf", "intermittent 2/7"),  # two hits five apart are not a period yet
        ("pppfppppf", "intermittent 2/9"),
        # Regular patterns are named by their rule, not "intermittent".
        ("pffpff", "periodic: 2 of every 3 calls"),
        ("pffpffp", "periodic: 2 of every 3 calls"),
        ("ppfppf", "periodic: every 3rd call"),
        ("pf", "the last call"),
        ("pppff", "the last 2 calls"),
        ("fppp", "the first call"),
        ("f", "every call"),
        ("fpf", "intermittent 2/3"),  # too short to call a period
    ],
)
def test_describe_shape(pattern: str, shape: str) -> None:
    assert describe_shape(pattern) == shape


@pytest.mark.parametrize(("pattern", "verdict"), [("ppp", "clean"), ("pfp", "fast-fail"), ("pwp", "fast-fail"),
                                                  ("pelp", "unreliable"), ("", "empty")])
def test_verdict_of(pattern: str, verdict: str) -> None:
    assert verdict_of(pattern) == verdict


def _result(letters: str) -> RaceResult:
    calls = []
    for i, letter in enumerate(letters, start=1):
        token = f"rr-abcd-{i}"
        sent = 10.0 + i
        if letter == "p":
            record = CallRecord(i, token, "agent:test:race-x", sent, sent + 0.1, "r", f"ECHO {token}",
                                journal=[entry(token, sent + 0.01, sent + 0.06)])
        else:
            record = CallRecord(i, token, "agent:test:race-x", sent, sent + 0.003, "r",
                                "⚠️ Previous run is still shutting down. Please try again in a moment.")
        record.letter = classify(record)
        calls.append(record)
    return RaceResult(calls=calls, session_key="agent:test:race-x", rtt=0.05, gap=0.2, seed=7,
                      log_matches=[LogMatch("ReplyRunAlreadyActiveError", "followup queue drain failed for "
                                            "agent:test:race-x: ReplyRunAlreadyActiveError: Reply run already "
                                            "active for agent:test:race-x", 41)],
                      replay="pytest 'test_x.py::test_race[rtt=50ms]' --replyrace-seed 7")


def test_assert_no_fast_fail_prints_a_timeline() -> None:
    result = _result("pfpfpf")
    assert result.pattern == "pfpfpf"
    with pytest.raises(RaceFailure) as info:
        result.assert_no_fast_fail()
    text = str(info.value)
    assert "replyrace fast-fail at rtt=50ms, gap=200ms: alternating: every 2nd call — pattern pfpfpf (3p, 3f)" in text
    assert "provider RTT" in text and "served<reply" in text
    assert "no request" in text and "Previous run is still shutting down" in text
    assert "L41: followup queue drain failed" in text
    assert "replay: pytest 'test_x.py::test_race[rtt=50ms]' --replyrace-seed 7" in text
    # Six calls, six timeline rows.
    assert sum(1 for line in text.splitlines() if line.strip().endswith(("rr-abcd-1", "rr-abcd-3", "rr-abcd-5"))) == 3


def test_clean_result_passes_both_assertions() -> None:
    result = _result("pppp")
    result.assert_no_fast_fail()
    result.assert_clean()
    assert result.verdict == "clean" and result.counts["p"] == 4


def test_assert_clean_fails_on_errors_but_no_fast_fail_does_not() -> None:
    result = _result("pp")
    result.calls[1].letter = "e"
    result.assert_no_fast_fail()
    with pytest.raises(RaceFailure, match="unclean run"):
        result.assert_clean()


@pytest.mark.parametrize("letters", ["eeeeee", "llee", "e"])
def test_assert_no_fast_fail_fails_when_no_call_got_a_real_reply(letters: str) -> None:
    result = _result("p" * len(letters))
    for record, letter in zip(result.calls, letters):
        record.letter = letter
    with pytest.raises(RaceFailure) as info:
        result.assert_no_fast_fail()
    headline = str(info.value).splitlines()[0]
    assert headline.startswith("replyrace: no call got a real reply — a race cannot be told from a broken setup: "
                               f"pattern {letters} (")


def test_assert_no_fast_fail_passes_one_real_reply_among_errors() -> None:
    result = _result("ppp")
    result.calls[0].letter = result.calls[2].letter = "e"
    result.assert_no_fast_fail()


def test_to_dict_carries_calls_and_journal() -> None:
    data = _result("pf").to_dict()
    assert data["pattern"] == "pf" and data["verdict"] == "fast-fail"
    assert data["calls"][0]["journal"][0]["tokens"] == ["rr-abcd-1"]
    assert data["calls"][1]["served_before_reply"] is False
