"""Classification, shapes and the failure text: pure functions over records."""

from __future__ import annotations

import pytest

from pytest_replyrace.records import CallRecord, JournalEntry, LogMatch
from pytest_replyrace.verdict import RaceFailure, RaceResult, check_history, classify, describe_shape, verdict_of


def entry(token: str, arrived: float, ended: float | None, status: int = 200) -> JournalEntry:
    return JournalEntry(
        seq=1,
        path="/v1/chat/completions",
        arrived_at=arrived,
        ended_at=ended,
        tokens=[token],
        rtt=0.05,
        model="fake-model",
        stream=True,
        status=status,
    )


def call(reply: str | None, replied: float | None, journal: list[JournalEntry], **kw: object) -> CallRecord:
    record = CallRecord(
        index=2,
        token="rr-abcd-2",
        session_key="agent:test:race-x",
        sent_at=10.0,
        replied_at=replied,
        reply=reply,
        journal=journal,
    )
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


@pytest.mark.parametrize(
    ("pattern", "verdict"),
    [("ppp", "clean"), ("pfp", "fast-fail"), ("pwp", "fast-fail"), ("pelp", "unreliable"), ("", "empty")],
)
def test_verdict_of(pattern: str, verdict: str) -> None:
    assert verdict_of(pattern) == verdict


def _result(letters: str) -> RaceResult:
    calls = []
    for i, letter in enumerate(letters, start=1):
        token = f"rr-abcd-{i}"
        sent = 10.0 + i
        if letter == "p":
            record = CallRecord(
                i,
                token,
                "agent:test:race-x",
                sent,
                sent + 0.1,
                "r",
                f"ECHO {token}",
                journal=[entry(token, sent + 0.01, sent + 0.06)],
            )
        else:
            record = CallRecord(
                i,
                token,
                "agent:test:race-x",
                sent,
                sent + 0.003,
                "r",
                "⚠️ Previous run is still shutting down. Please try again in a moment.",
            )
        record.letter = classify(record)
        calls.append(record)
    return RaceResult(
        calls=calls,
        session_key="agent:test:race-x",
        rtt=0.05,
        gap=0.2,
        seed=7,
        log_matches=[
            LogMatch(
                "ReplyRunAlreadyActiveError",
                "followup queue drain failed for "
                "agent:test:race-x: ReplyRunAlreadyActiveError: Reply run already "
                "active for agent:test:race-x",
                41,
            )
        ],
        replay="pytest 'test_x.py::test_race[rtt=50ms]' --replyrace-seed 7",
    )


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
    assert headline.startswith(
        f"replyrace: no call got a real reply — a race cannot be told from a broken setup: pattern {letters} ("
    )


@pytest.mark.parametrize("letters", ["epe", "hhh", "ehl"])
def test_assert_no_fast_fail_passes_when_some_call_got_a_real_reply(letters: str) -> None:
    # h is a real reply over a corrupted conversation: the conversation check's business, not this one's.
    result = _result("p" * len(letters))
    for record, letter in zip(result.calls, letters):
        record.letter = letter
    result.assert_no_fast_fail()
    if "h" in letters:
        with pytest.raises(RaceFailure):
            result.assert_clean()


def test_to_dict_carries_calls_and_journal() -> None:
    data = _result("pf").to_dict()
    assert data["pattern"] == "pf" and data["verdict"] == "fast-fail"
    assert data["calls"][0]["journal"][0]["tokens"] == ["rr-abcd-1"]
    assert data["calls"][1]["served_before_reply"] is False


def served(token: str, history: list[str], seq: int = 1, arrived: float = 10.1) -> JournalEntry:
    record = entry(token, arrived, arrived + 0.1)
    record.seq, record.history = seq, history
    return record


def run_of(*histories: list[str], tag: str = "rr-abcd") -> list[CallRecord]:
    """One real call per history, call i at t = 10 i, its request served inside its window."""
    calls = []
    for i, history in enumerate(histories, start=1):
        token = f"{tag}-{i}"
        record = CallRecord(
            index=i,
            token=token,
            session_key="k",
            sent_at=10.0 * i,
            replied_at=10.0 * i + 0.5,
            reply=f"ECHO {token}",
            journal=[served(token, history, seq=i, arrived=10.0 * i + 0.1)],
        )
        record.letter = classify(record)
        calls.append(record)
    return calls


@pytest.mark.parametrize(
    ("histories", "mode", "pattern", "reason"),
    [
        (([], ["rr-abcd-1"], ["rr-abcd-1", "rr-abcd-2"]), "exact", "ppp", None),
        (([], [], []), "no-duplicates", "ppp", None),  # a gateway that sends no history: never h by default
        (([], [], []), "exact", "phh", "missing earlier real turns: rr-abcd-1, rr-abcd-2 (request #3)"),
        ((["rr-abcd-1"], ["rr-abcd-1", "rr-abcd-2"]), "no-duplicates", "hh", "sent twice: rr-abcd-2 (request #2)"),
        (([], ["rr-abcd-1", "rr-abcd-1"]), "no-duplicates", "ph", "sent twice: rr-abcd-1 (request #2)"),
        (
            ([], ["rr-abcd-1"], ["rr-abcd-2", "rr-abcd-1"]),
            "no-duplicates",
            "pph",
            "out of call order: the request's turns were 2, 1, 3 (request #3)",
        ),
        (([], ["rr-abcd-3"]), "no-duplicates", "ph", "out of call order: the request's turns were 3, 2 (request #2)"),
        (([], ["rr-abcd-1", "rr-abcd-1"]), "off", "pp", None),
        (([], ["rr-zzzz-1", "rr-zzzz-1", "rr-abcd-1"]), "exact", "pp", None),  # another run's tokens are not ours
    ],
)
def test_check_history_turns_real_replies_with_a_corrupted_conversation_into_h(
    histories: tuple[list[str], ...], mode: str, pattern: str, reason: str | None
) -> None:
    calls = run_of(*histories)
    check_history(calls, mode)
    assert "".join(c.letter for c in calls) == pattern
    assert calls[-1].history_problem == reason


def test_check_history_reads_only_the_request_made_for_the_call() -> None:
    calls = run_of([], ["rr-abcd-1"])
    # A later request that carried call 1's token again (a retry after the reply) is not call 1's history.
    calls[0].journal.append(served("rr-abcd-1", ["rr-abcd-1"], seq=3, arrived=20.2))
    check_history(calls, "exact")
    assert [c.letter for c in calls] == ["p", "p"]


def test_only_real_replies_become_h_and_h_fails_assert_clean_only() -> None:
    calls = run_of([], ["rr-abcd-1", "rr-abcd-1"])
    calls[0].reply, calls[0].letter = "busy", "f"
    check_history(calls, "no-duplicates")
    assert [c.letter for c in calls] == ["f", "h"]
    result = RaceResult(calls=run_of([], ["rr-abcd-1", "rr-abcd-1"]), session_key="k")
    check_history(result.calls)
    result.assert_no_fast_fail()
    with pytest.raises(RaceFailure) as info:
        result.assert_clean()
    text = str(info.value)
    assert "unclean run at gap=0ms: the last call — pattern ph (1p, 1h)" in text
    assert "h=corrupted history" in text and "history:                   sent twice: rr-abcd-1 (request #2)" in text
    assert verdict_of("ph") == "unreliable"


def test_the_timeline_never_passes_a_gateways_escape_codes_through() -> None:
    # A hostile gateway answers with "clear the screen" and a fake pytest verdict.
    hostile = call("\x1b[2J\x1b[H== 1 passed ==\x07", 10.3, [], letter="f")
    text = RaceResult([hostile], "agent:test:race-x").timeline()
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[2J\\x1b[H== 1 passed ==\\x07" in text
