"""The OpenClaw WebSocket transport against the toy gateway's protocol subset.

Runs on every CI run without Node: the toy speaks connect.challenge/connect,
chat.send, chat events, agent.wait and chat.history on its HTTP port.
"""

from __future__ import annotations

import json

import pytest
from support.selftest import toy_gateway_option as toy_cmd

RACE_TEST = """
import pytest

@pytest.mark.replyrace(calls=6, gap=0)
def test_race(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()
"""


@pytest.fixture
def ws_pytester(toy_pytester: pytest.Pytester) -> pytest.Pytester:
    toy_pytester.makepyfile(test_ws=RACE_TEST)
    return toy_pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "pytest_replyrace", "--replyrace-transport=openclaw", *args, timeout=180)


def test_websocket_transport_catches_the_alternating_race(ws_pytester: pytest.Pytester) -> None:
    result = run(ws_pytester, toy_cmd("alternating"))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "replyrace * transport=openclaw *",
            "*replyrace fast-fail at rtt=50ms, gap=0ms: alternating: every 2nd call — pattern pfpfpf*",
            "*no request*(none)*",  # a bare final: no message at all
        ]
    )


def test_agent_wait_between_sends_hides_the_race(ws_pytester: pytest.Pytester) -> None:
    # Waiting for the whole dispatch (agent.wait) lets the guard go before the next
    # send: the same gateway looks clean. This is why it is off by default.
    result = run(ws_pytester, toy_cmd("alternating"), "--replyrace-agent-wait=on")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*50ms     0ms  pppppp*clean (passed)"])


def test_late_answers_under_other_run_ids_are_shown_on_their_call(ws_pytester: pytest.Pytester) -> None:
    report = ws_pytester.path / "ws.json"
    result = run(ws_pytester, toy_cmd("cascade"), f"--replyrace-report={report}")
    result.assert_outcomes(failed=1)
    # cascade: pfffff, or ppffff when the second send beats the guard on a given run
    result.stdout.fnmatch_lines(["*pattern p*ffff *", "*later, other runId:*runId *] ECHO rr-*"])
    calls = json.loads(report.read_text())["tests"][0]["calls"]
    late = [c for c in calls if c["late_replies"]]
    assert late and all(c["token"] in text for c in late for text in c["late_replies"])


@pytest.mark.slow  # long: CI runs it in the slow step
def test_a_wrong_token_is_an_error_per_call_not_a_hang(ws_pytester: pytest.Pytester) -> None:
    result = run(ws_pytester, toy_cmd("fixed"), "--replyrace-token=wrong-token", "-p", "no:randomly")
    result.assert_outcomes(failed=1)  # no real reply at all: a broken setup, not a green run
    result.stdout.fnmatch_lines(
        [
            "*replyrace: no call got a real reply — a race cannot be told from a broken setup: pattern eeeeee (6e)*",
            "*50ms     0ms  eeeeee *unreliable: every call (failed)*",
        ]
    )
    ws_pytester.makepyfile(test_ws=RACE_TEST.replace("assert_no_fast_fail", "assert_clean"))
    result = run(ws_pytester, toy_cmd("fixed"), "--replyrace-token=wrong-token")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ['*connect refused: {"code": "UNAUTHORIZED", "message": "gateway token missing or wrong"}*']
    )


def test_fixed_is_clean_over_websocket(ws_pytester: pytest.Pytester) -> None:
    ws_pytester.makepyfile(test_ws=RACE_TEST.replace("assert_no_fast_fail", "assert_clean"))
    run(ws_pytester, toy_cmd("fixed")).assert_outcomes(passed=1)
