"""A run in which no call got a real reply explains itself: which link of the evidence is missing (the gateway
never called the provider; the provider served every call but no reply carried its token; the declared
transport's text selector matched no event), the start of one answer quoted, and no shrink or window search
after it. The real race gateway and the declared test gateway, the real fake provider, pytest in a subprocess."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from support.selftest import declared_gateway_cmd, race_gateway_cmd, run

TEST = """
import pytest

@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.replyrace(calls=4)
def test_sends(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()
"""

EXPLORING = ("--replyrace-shrink=30", "--replyrace-search=rtt=20ms:200ms,gap=0ms,calls=3")
"""Both ways of exploring on: neither may run after a run without a real reply."""

NDJSON_WRONG_WHEN = """
[send]
path = "/ndjson/{session_key}"
json = { text = "{message}" }

[reply]
format = "ndjson"
text = { when = { "/type" = "text" }, pointer = "/d" }
complete = { when = { "/type" = "text_done" } }
"""
"""The declared gateway's NDJSON answer read with a wrong ``when``: its deltas say ``"type": "delta"``."""


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    pytester.makepyfile(test_no_reply=TEST)
    report = pytester.path / "history.json"
    result = run(pytester, *args, *EXPLORING, f"--replyrace-report={report}")
    (test,) = json.loads(report.read_text())["tests"]
    return result, test


def _not_explored(result: pytest.RunResult) -> None:
    text = result.stdout.str()
    for line in ("shrink probe", "minimal reproduction", "window search", "replyrace window:"):
        assert line not in text, line


def test_a_gateway_pointed_at_no_provider_says_it_never_called_the_provider(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    # Port 9 on loopback (discard) is closed here: the gateway's every provider call is refused.
    gateway = race_gateway_cmd().replace("{provider_url}", "http://127.0.0.1:9/v1")
    result, test = _run(race_pytester, f"--replyrace-gateway-cmd={gateway}")
    result.assert_outcomes(failed=1)
    assert test["pattern"] == "ffff"  # an error before the provider served: fast-fails, not a race
    assert test["verdict"] == "fast-fail" and test["shape"] == "no real reply, every call"
    result.stdout.fnmatch_lines(["*50ms * ffff * fast-fail: no real reply, every call (failed)*"])
    result.stdout.fnmatch_lines(
        [
            "E *RaceFailure: replyrace: no call got a real reply — a race cannot be told from a broken setup: "
            "pattern ffff (4f)*",
            "E *missing evidence: the gateway never called the fake provider (no request reached it during the run): "
            "check that its provider URL is the fake provider's ({provider_url} in the gateway command, env "
            "REPLYRACE_PROVIDER_URL)",
            "E *call 1's answer as it arrived: HTTP 200, * bytes: '{\"runId\": *provider failed: *",
        ]
    )
    _not_explored(result)
    assert_no_leak()


def test_a_gateway_that_answers_without_the_token_says_the_provider_served_every_call(
    race_pytester: pytest.Pytester,
) -> None:
    result, test = _run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd('--reply-text', 'Done!')}")
    result.assert_outcomes(failed=1)
    assert test["pattern"] == "eeee"
    assert all(call["journal"] and call["answer_start"] for call in test["calls"])
    result.stdout.fnmatch_lines(
        [
            "E *replyrace: no call got a real reply — * pattern eeee (4e)*",
            "E *missing evidence: the fake provider served 4 of 4 calls, but no reply carried its call's token: the "
            "gateway's answers lost the model's text (which echoes the token) on the way back",
            'E *call 1\'s answer as it arrived: HTTP 200, * bytes: \'{"runId": *"reply": "Done!"*',
        ]
    )
    _not_explored(result)


def test_a_wrong_when_in_the_api_file_says_the_text_selector_matched_no_event(race_pytester: pytest.Pytester) -> None:
    race_pytester.path.joinpath("gw.toml").write_text(NDJSON_WRONG_WHEN)
    result, test = _run(race_pytester, f"--replyrace-gateway-cmd={declared_gateway_cmd()}", "--replyrace-api=gw.toml")
    result.assert_outcomes(failed=1)
    assert test["pattern"] == "eeee"
    assert all(call["reply"] == "" for call in test["calls"])  # every reply read (empty)
    result.stdout.fnmatch_lines(
        [
            "E *replyrace: no call got a real reply — * pattern eeee (4e)*",
            "E *missing evidence: the fake provider served 4 of 4 calls, but no reply carried its call's token: the "
            "text selector ([[]reply[]] text in gw.toml) matched none of the answer's * events: check its event, when and "
            "pointer against the answer below",
            'E *call 1\'s answer as it arrived: HTTP 200, * bytes: \'{"type": "start"*\\n{"type": "delta"*',
        ]
    )
    _not_explored(result)
