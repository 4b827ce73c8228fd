"""When clients send, against the real toy gateway: every send_at anchor, every busy policy, the letters b, m, i.

Each run goes through the toy's WebSocket with agent.wait (so ``end`` means the run has settled) or its HTTP
contract, a real fake provider and real sockets; the JSON report is read back for the instants.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from support.docs import doc_block
from support.selftest import race_gateway_cmd, run, toy_gateway_option

WS = ("--replyrace-transport=openclaw", "--replyrace-agent-wait")


def busy_test(
    rtt: str = "200ms", calls: int = 3, gap: float = 0.05, assertion: str = "assert_no_fast_fail", **replyrace: Any
) -> str:
    options = "".join(f", {key}={value!r}" for key, value in replyrace.items())
    return f"""
import pytest

@pytest.mark.rtt_range({rtt!r}, {rtt!r}, steps=1)
@pytest.mark.replyrace(calls={calls}, gap={gap}{options})
def test_busy(sequential_sender):
    result = sequential_sender.run()
    print("PATTERN", result.pattern)
    print(result.timeline())
    result.{assertion}()
"""


def run_busy(
    pytester: pytest.Pytester, mode: str, *options: str, transport: tuple[str, ...] = WS, **test: Any
) -> tuple[pytest.RunResult, dict[str, Any]]:
    pytester.makepyfile(test_busy=busy_test(**test))
    report = pytester.path / "history.json"
    result = run(
        pytester,
        "-s",
        "-v",
        toy_gateway_option(mode, *options),
        "--replyrace-ready=http:/readyz",
        f"--replyrace-report={report}",
        *transport,
    )
    (only,) = json.loads(report.read_text())["tests"]
    return result, only


@pytest.mark.parametrize(
    ("send_at", "gap"),
    [("end", 0.05), ("text", 0.0), ("first", 0.02), ("request", 0.05), ("served", 0.02), ("served", -0.05)],
)
def test_every_anchor_times_the_send_from_its_moment_and_a_correct_gateway_stays_clean(
    toy_pytester: pytest.Pytester, assert_no_leak: Callable[[], None], send_at: str, gap: float
) -> None:
    result, test = run_busy(
        toy_pytester, "fixed", "--busy", "queue", send_at=send_at, gap=gap, history="exact", assertion="assert_clean"
    )
    result.assert_outcomes(passed=1)
    assert test["send_at"] == send_at and test["pattern"] == "ppp", test["timeline"]
    calls = test["calls"]
    for previous, call in itertools.pairwise(calls):
        first = previous["journal"][0]
        moment = {
            "end": previous["ended_at"],
            "text": previous["text_at"],
            "first": previous["first_at"],
            "request": first["arrived_at"],
            "served": first["ended_at"] if gap >= 0 else first["arrived_at"] + first["rtt"],
        }[send_at]
        assert call["send_at"] == send_at and not call["anchor_fallback"]
        assert call["anchor_at"] == pytest.approx(moment, abs=1e-6), (send_at, previous, call)
        assert call["sent_at"] >= call["anchor_at"] + gap - 1e-4  # never before its moment plus the gap
        # The reported instants are in their order: first event, text complete, end.
        assert previous["sent_at"] < previous["first_at"] <= previous["text_at"] <= previous["ended_at"]
        assert call["sent_while_busy"] == (send_at in ("first", "request") or (send_at == "served" and gap < 0))
    gap_label = {
        "end": "50ms",
        "text": "text+0ms",
        "first": "first+20ms",
        "request": "request+50ms",
        "served": "served+20ms" if gap >= 0 else "served-50ms",
    }[send_at]
    result.stdout.fnmatch_lines([f"*200ms *{gap_label}  ppp *clean (passed)"])
    assert_no_leak()


def test_text_and_first_need_a_transport_that_reports_events(toy_pytester: pytest.Pytester) -> None:
    toy_pytester.makepyfile(
        test_silent="""
        import pytest
        from pytest_replyrace.transports.http import HttpTransport

        class Silent(HttpTransport):  # its own send takes no events: it reports none
            async def send(self, session_key, message, idempotency_key):
                return await super().send(session_key, message, idempotency_key)

        @pytest.fixture
        def replyrace_transport_factory(gateway):
            return lambda: Silent(gateway.url)

        @pytest.mark.replyrace(calls=2, send_at="request")
        def test_request(sequential_sender):
            sequential_sender.run().assert_clean()

        @pytest.mark.replyrace(calls=2, send_at="first")
        def test_first(sequential_sender):
            sequential_sender.run()
        """
    )
    result = run(toy_pytester, toy_gateway_option("fixed", "--busy", "queue"), "--replyrace-ready=http:/readyz")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_first*: send_at='first' waits for an event of the previous answer, and the "
            "transport 'http' (Silent) reports none; use send_at end, request or served*"
        ]
    )


def test_an_honest_refusal_is_b_under_reject_and_breaks_queue(toy_pytester: pytest.Pytester) -> None:
    result, test = run_busy(
        toy_pytester,
        "fixed",
        "--busy",
        "reject",
        send_at="first",
        gap=0.02,
        busy_policy="reject",
        assertion="assert_clean",
    )
    result.assert_outcomes(passed=1)
    # Call 2 goes out while call 1 streams and is refused; call 3 too, unless call 1 ended first (a slow host).
    assert test["pattern"][:2] == "pb" and set(test["pattern"]) <= {"p", "b"}, test["timeline"]
    assert test["busy_policy"] == "reject"
    assert all(call["sent_while_busy"] for call in test["calls"] if call["letter"] == "b")
    result.stdout.fnmatch_lines(["*first+20ms  pb? *clean (busy policy reject, passed)"])
    # The same gateway, judged as a queueing one: the refusals break its promise.
    result, test = run_busy(toy_pytester, "fixed", "--busy", "reject", send_at="first", gap=0.02)
    result.assert_outcomes(failed=1)
    assert test["pattern"][:2] == "pb"
    result.stdout.fnmatch_lines(
        [
            "*replyrace busy policy queue broken at rtt=200ms, gap=20ms, send_at=first: call 2 "
            "is b (refused as busy, not allowed)*",
            "*!*b  error: session busy: a turn is already running*",
        ]
    )


def test_a_refusal_for_a_message_sent_after_the_turn_said_done_is_f(toy_pytester: pytest.Pytester) -> None:
    # busy-after-final: the turn goes idle 200 ms after its final; a message sent on the final is refused.
    result, test = run_busy(toy_pytester, "busy-after-final", send_at="text", gap=0.0, busy_policy="reject")
    result.assert_outcomes(failed=1)
    assert test["pattern"] == "pff" and not any(c["sent_while_busy"] for c in test["calls"]), test["timeline"]
    result.stdout.fnmatch_lines(
        [
            "*replyrace fast-fail at rtt=200ms, gap=0ms, send_at=text, busy_policy=reject: "
            "all after the first — pattern pff*"
        ]
    )
    # At the end of the run (agent.wait), the same gateway is clean.
    result, test = run_busy(toy_pytester, "busy-after-final", send_at="end", gap=0.0, busy_policy="reject")
    result.assert_outcomes(passed=1)
    assert test["pattern"] == "ppp"


@pytest.mark.parametrize(
    ("policy", "send_at", "pattern"), [("steer", "request", "pmm"), ("interrupt", "request", "iip")]
)
def test_steer_and_interrupt_pass_under_their_policy_and_break_queue(
    toy_pytester: pytest.Pytester, policy: str, send_at: str, pattern: str
) -> None:
    for judged, outcome in ((policy, "passed"), ("queue", "failed")):  # `any`: tests/unit/test_verdict_overlap.py
        result, test = run_busy(
            toy_pytester,
            "fixed",
            "--busy",
            policy,
            send_at=send_at,
            busy_policy=judged,
            assertion="assert_clean" if judged != "queue" else "assert_no_fast_fail",
        )
        result.assert_outcomes(**{outcome: 1})
        # Each message lands during the running model call (50 ms after its request, at a 200 ms RTT).
        assert set(test["pattern"]) == set(pattern) and test["pattern"][:2] == pattern[:2], (judged, test["timeline"])
    notes = [call["note"] for call in test["calls"]]
    if policy == "steer":
        # The running call answered what was folded into it, and is still p: its own token was served first.
        assert notes[0].startswith("answered the merged call 2"), notes
        assert notes[1] == "merged into call 1's running turn", notes
    else:
        assert notes[0].startswith("interrupted: call 2, sent while it ran, "), notes


def test_a_busy_refusal_over_http_is_a_409(toy_pytester: pytest.Pytester) -> None:
    result, test = run_busy(
        toy_pytester,
        "fixed",
        "--busy",
        "reject",
        transport=(),
        send_at="request",
        busy_policy="reject",
        assertion="assert_clean",
    )
    result.assert_outcomes(passed=1)
    assert test["pattern"] == "pbb" and all(c["busy_refusal"] for c in test["calls"][1:]), test["timeline"]
    assert test["calls"][1]["error"].startswith("HTTP 409: ")


def test_a_takeover_fails_the_running_turn_and_loses_the_newcomer(toy_pytester: pytest.Pytester) -> None:
    result, test = run_busy(toy_pytester, "takeover", send_at="request", gap=0.05, busy_policy="any")
    result.assert_outcomes(failed=1)
    assert test["pattern"].startswith("fl"), test["timeline"]
    assert test["calls"][1]["note"] == (
        "accepted, then neither answered, merged nor refused: its token never reached the provider"
    )
    result.stdout.fnmatch_lines(
        ["*overlap:*accepted, then neither answered, merged nor refused: its token never reached the provider*"]
    )


def test_a_turn_sent_on_the_final_must_see_the_previous_one(toy_pytester: pytest.Pytester) -> None:
    result, test = run_busy(
        toy_pytester, "stale-history", send_at="text", gap=0.0, history="exact", assertion="assert_clean"
    )
    result.assert_outcomes(failed=1)
    assert test["pattern"][0] == "p" and test["pattern"][1] == "h", test["timeline"]
    previous = test["calls"][0]["token"]
    assert test["calls"][1]["history_problem"].startswith(f"the previous turn was not in the conversation: {previous}")
    result, test = run_busy(
        toy_pytester, "fixed", "--busy", "queue", send_at="text", gap=0.0, history="exact", assertion="assert_clean"
    )
    result.assert_outcomes(passed=1)


def test_a_preamble_changes_the_sessions_state_before_the_first_call(toy_pytester: pytest.Pytester) -> None:
    # The toy queues by default; "/busy reject" makes this session refuse instead: only the preamble says so.
    result, test = run_busy(
        toy_pytester,
        "fixed",
        "--busy",
        "queue",
        send_at="first",
        gap=0.02,
        busy_policy="reject",
        preamble=("hello", "/busy reject"),
        assertion="assert_clean",
    )
    result.assert_outcomes(passed=1)
    assert test["pattern"] == "pbb", test["timeline"]
    assert [(p["message"], p["reply"]) for p in test["preamble"]][1] == ("/busy reject", "Busy policy: reject.")
    assert "ECHO (no token)" in test["preamble"][0]["reply"]  # "hello" reached the model, unjudged
    result.stdout.fnmatch_lines(["*pre2 *  /busy reject *(not judged)  Busy policy: reject.*"])
    result, test = run_busy(
        toy_pytester,
        "fixed",
        "--busy",
        "queue",
        send_at="first",
        gap=0.02,
        busy_policy="reject",
        assertion="assert_clean",
    )
    result.assert_outcomes(passed=1)
    assert test["pattern"] == "ppp" and test["preamble"] == []


def test_preamble_from_the_command_line_is_in_the_header_and_replay(toy_pytester: pytest.Pytester) -> None:
    toy_pytester.makepyfile(test_busy=busy_test(calls=2))
    result = run(
        toy_pytester,
        toy_gateway_option("fixed", "--busy", "queue"),
        "--replyrace-ready=http:/readyz",
        "--replyrace-preamble=/new",
        "--replyrace-preamble=hello",
        "--replyrace-send-at=text",
        *WS,
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["replyrace: send-at=text busy-policy=queue preamble=/new | hello"])


def test_the_docs_events_example_sends_on_the_reply(race_pytester: pytest.Pytester) -> None:
    race_pytester.makepyfile(test_events=doc_block("09-when-clients-send.md", "events-example"))
    report = race_pytester.path / "history.json"
    result = run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd()}", f"--replyrace-report={report}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*50ms text+0ms  ppp *clean (passed)"])
    (test,) = json.loads(report.read_text())["tests"]
    # Its events were used: each send waited for the previous text-complete, which the example reported.
    assert [c["anchor_at"] for c in test["calls"][1:]] == [c["text_at"] for c in test["calls"][:-1]]
    assert all(c["text_at"] is not None and not c["anchor_fallback"] for c in test["calls"])
