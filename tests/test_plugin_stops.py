"""When clients stop and go away (issue 29), against real gateway processes and the real fake provider.

The suite's stop-capable gateway (``support/stop_race_gateway.py``) is correct by default and has one switch per
way a stop goes wrong; each ``o`` reason is caught on its broken twin while the correct gateway stays ``s``
under the same run. Every stop anchor under both ``stop_by``, each disconnect policy with a gateway that keeps
it (and one that breaks it), a stop after the reply (``p``), a per-call schedule, and the usage errors of a
transport that cannot cancel.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from typing import Any

import pytest
from support.selftest import SUPPORT, run, toy_gateway_option

STOP_GATEWAY = SUPPORT / "stop_race_gateway.py"
GATEWAY_CMD = f"{{python}} {shlex.quote(str(STOP_GATEWAY))} --port {{port}} --provider-url {{provider_url}}"

CONFTEST = f"""
import pytest
from pytest_replyrace import HttpTransport

GATEWAY_CMD = {GATEWAY_CMD!r}


def pytest_configure(config):
    config.addinivalue_line("markers", "gateway_args(*args): arguments for the stop race gateway")


@pytest.fixture
def gateway(request, replyrace_gateway_factory):
    mark = request.node.get_closest_marker("gateway_args")
    return replyrace_gateway_factory.launch(" ".join([GATEWAY_CMD, *(mark.args if mark else ())]))


@pytest.fixture
def replyrace_transport_factory(gateway):
    return lambda: HttpTransport(gateway.url)
"""


def stop_run(pytester: pytest.Pytester, source: str, *options: str) -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_stops=source)
    report = pytester.path / "history.json"
    result = run(pytester, "-v", "-s", f"--replyrace-report={report}", *options)
    tests = json.loads(report.read_text())["tests"] if report.exists() else []
    return result, tests


def by_name(tests: list[dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    def find(part: str) -> dict[str, Any]:
        (test,) = [t for t in tests if part in t["node_id"]]
        return test

    return find


OVERRUNS = """
import pytest

# A message stopped while it waited behind call 1's turn (the model never saw it), then call 3.
PENDING = {"calls": 3, "send_at": "request", "gap": 0.05, "stop_calls": "2", "stop_at": "sent", "stop_gap": 0.05}
CASES = {
    # flaw: (rtt, replyrace keywords, the reason the broken twin gets)
    "ignore": ("600ms", {}, "its reply completed"),
    "refuse": ("600ms", {}, "the stop was refused, or said nothing was running, while its turn ran"),
    "keep-model-open": ("1s", {"close_within": 0.3}, "the model call for it was still open"),
    "call-again": ("400ms", {}, "the model was called for it"),
    "fold-stopped": ("400ms", PENDING, "a reply carried it after the stop"),
}


@pytest.mark.parametrize("flaw", list(CASES))
@pytest.mark.parametrize("broken", [True, False], ids=["broken", "correct"])
def test_stop(request, flaw, broken, replyrace_gateway_factory):
    rtt, keywords, reason = CASES[flaw]
    request.applymarker(pytest.mark.gateway_args(*(["--flaw", flaw] if broken else [])))
    sender = request.getfixturevalue("sequential_sender")
    sender.provider.set_rtt(float(rtt[:-2]) / 1000 if rtt.endswith("ms") else float(rtt[:-1]))
    sender.settings = sender.settings.override("test", **{"calls": 2, "stop_at": "request", "stop_gap": 0.1, **keywords})
    result = sender.run()
    stopped = next(call for call in result.calls if call.stop is not None)
    print("PATTERN", flaw, broken, stopped.letter)
    print(result.timeline())
    if broken:
        assert stopped.letter == "o" and reason in stopped.stop.reason, result.timeline()
        with pytest.raises(AssertionError, match="the stop was overrun"):
            result.assert_no_fast_fail()
    else:
        assert result.pattern == ("psp" if keywords is PENDING else "sp"), result.timeline()
        result.assert_clean()
"""


def test_each_overrun_reason_is_caught_and_the_correct_gateway_stays_stopped(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    result, _ = stop_run(race_pytester, OVERRUNS, "-p", "no:randomly")
    result.assert_outcomes(passed=10)
    text = result.stdout.str()
    for flaw in ("ignore", "refuse", "keep-model-open", "call-again", "fold-stopped"):
        assert f"PATTERN {flaw} True o" in text, text
        assert f"PATTERN {flaw} False s" in text, text
    assert "model call closed" in text  # the correct gateway's close, seen by the provider, is in the timeline
    assert_no_leak()


ANCHORS = """
import pytest

@pytest.mark.parametrize("stop_by", ["cancel", "disconnect"])
@pytest.mark.parametrize(("stop_at", "stop_gap"), [
    ("sent", 0.05), ("first", 0.0), ("request", 0.05), ("served", -0.1), ("text", 0.0), ("end", 0.02),
])
@pytest.mark.rtt_range("300ms", "300ms", steps=1)
@pytest.mark.replyrace(calls=2, history="exact")
def test_anchor(stop_at, stop_gap, stop_by, sequential_sender):
    sequential_sender.settings = sequential_sender.settings.override(
        "test", stop_at=stop_at, stop_gap=stop_gap, stop_by=stop_by
    )
    result = sequential_sender.run()
    print("PATTERN", stop_at, stop_by, result.pattern)
    print(result.timeline())
    result.assert_clean()
"""


def test_every_stop_anchor_under_both_stop_by_on_a_correct_gateway(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    result, tests = stop_run(race_pytester, ANCHORS)
    result.assert_outcomes(passed=12)
    assert len(tests) == 12
    for test in tests:
        stop = test["calls"][0]["stop"]
        anchor, by = stop["at"], stop["by"]
        assert test["settings"]["stop_at"] == anchor and test["settings"]["stop_by"] == by
        assert test["calls"][1]["stop"] is None  # odd calls only
        if anchor in ("sent", "request", "served"):  # inside the model call: stopped
            assert test["pattern"] == "sp", test["timeline"]
            assert stop["sent_at"] >= stop["due_at"] - 1e-4  # never before its instant
            due = {
                "sent": test["calls"][0]["sent_at"],
                "request": test["calls"][0]["journal"][0]["arrived_at"],
                "served": test["calls"][0]["journal"][0]["arrived_at"] + test["calls"][0]["journal"][0]["rtt"],
            }[anchor] + stop["gap"]
            assert stop["due_at"] == pytest.approx(due, abs=1e-6)
            # The next call's `end` is the stopped call's end or the stop's answer, whichever came later.
            assert test["calls"][1]["anchor_at"] >= stop["answered_at"] - 1e-6
        elif anchor == "end":  # always sent, after the reply: the call stays p
            assert test["pattern"] == "pp" and stop["sent_at"] is not None, test["timeline"]
            assert stop["reason"] == "the stop came after the reply"
            assert test["calls"][1]["sent_at"] >= stop["answered_at"]  # the next call after the stop's answer
        else:  # first and text: the HTTP contract's answer is one body: the stop comes with or after the reply
            assert test["pattern"] == "pp", test["timeline"]
            assert stop["skipped"] == "not stopped: it ended first" or stop["reason"] == "the stop came after the reply"
    assert_no_leak()


POLICIES = """
import pytest

@pytest.mark.parametrize(("gateway_keeps", "policy", "letter"), [
    ("continue", "continue", "s"),
    ("continue", "any", "s"),
    ("cancel", "cancel", "s"),
    ("cancel", "any", "s"),
    ("continue", "cancel", "o"),
    ("cancel", "continue", "o"),
])
def test_policy(request, gateway_keeps, policy, letter):
    request.applymarker(pytest.mark.gateway_args("--on-disconnect", gateway_keeps))
    sender = request.getfixturevalue("sequential_sender")
    sender.provider.set_rtt(1.0)
    sender.settings = sender.settings.override(
        "test", calls=2, stop_at="request", stop_gap=0.1, stop_by="disconnect", disconnect_policy=policy,
        history="exact", close_within=0.3,
    )
    result = sender.run()
    print("PATTERN", gateway_keeps, policy, result.pattern, result.calls[0].stop.reason)
    print(result.timeline())
    assert result.pattern == letter + "p", result.timeline()
    if letter == "s":
        result.assert_clean()
"""


def test_each_disconnect_policy_kept_is_clean_and_broken_is_caught(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    result, _ = stop_run(race_pytester, POLICIES)
    result.assert_outcomes(passed=6)
    text = result.stdout.str()
    assert "PATTERN cancel continue op the turn was dropped when the client went away" in text, text
    assert "PATTERN continue cancel op the model call for it was still open" in text, text
    assert_no_leak()


GONE_BUSY = """
import pytest
from pytest_replyrace import RaceFailure

# The client goes away from call 1 at request + 100 ms of a 600 ms model call; the gateway runs the turn on
# (continue); call 2 is sent at the cut, while it runs, and call 3 800 ms after call 2's answer, when it is done.
@pytest.mark.parametrize(("gateway_busy", "policy", "pattern", "clean"), [
    ("reject", "reject", "sbp", True),
    ("queue", "queue", "spp", True),
    ("reject", "queue", "sbp", False),
])
def test_gone(request, gateway_busy, policy, pattern, clean):
    request.applymarker(pytest.mark.gateway_args("--busy", gateway_busy))
    sender = request.getfixturevalue("sequential_sender")
    sender.provider.set_rtt(0.6)
    sender.settings = sender.settings.override(
        "test", calls=3, gap=(0.0, 0.8), stop_at="request", stop_gap=0.1, stop_calls="1", stop_by="disconnect",
        disconnect_policy="continue", busy_policy=policy,
    )
    result = sender.run()
    print("GONE", gateway_busy, policy, result.pattern, result.calls[1].sent_while_busy)
    assert result.pattern == pattern, result.timeline()
    if clean:
        result.assert_clean()
    else:
        with pytest.raises(RaceFailure, match="busy"):
            result.assert_clean()
"""


def test_a_message_sent_while_a_turn_the_client_left_runs_on_is_judged_by_the_busy_policy(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    # Before, the cut ended call 1's turn for the judge: the refusal read f, a fast-fail under every policy.
    result, _ = stop_run(race_pytester, GONE_BUSY)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*GONE reject reject sbp True*", "*GONE queue queue spp True*"])
    assert_no_leak()


AFTER_REPLY = """
import pytest

@pytest.mark.parametrize("stop_by", ["cancel", "disconnect"])
@pytest.mark.rtt_range("100ms", "100ms", steps=1)
@pytest.mark.replyrace(calls=3, stop_at="request", stop_gap=0.6, stop_calls="1,3")
def test_late_stop(stop_by, sequential_sender):
    sequential_sender.settings = sequential_sender.settings.override("test", stop_by=stop_by)
    result = sequential_sender.run()
    print(result.timeline())
    assert result.pattern == "ppp"
    result.assert_clean()


@pytest.mark.rtt_range("100ms", "100ms", steps=1)
@pytest.mark.replyrace(calls=2, stop_at="end", stop_calls="all")
def test_stop_at_end(sequential_sender):
    result = sequential_sender.run()
    print(result.timeline())
    assert result.pattern == "pp"
    assert all(c.stop.reason == "the stop came after the reply" for c in result.calls)
"""


def test_a_stop_after_the_reply_stays_p(race_pytester: pytest.Pytester) -> None:
    result, _ = stop_run(race_pytester, AFTER_REPLY)
    result.assert_outcomes(passed=3)
    text = result.stdout.str()
    assert "cancel at request+600ms: not stopped: it ended first" in text
    assert "disconnect at request+600ms: not stopped: it ended first" in text
    assert "the stop came after the reply" in text


SCHEDULE = """
import pytest

@pytest.mark.rtt_range("200ms", "200ms", steps=1)
def test_schedule(sequential_sender):
    result = sequential_sender.run()
    print(result.timeline())
    result.assert_clean()
"""


def test_a_schedule_per_call(race_pytester: pytest.Pytester) -> None:
    result, tests = stop_run(
        race_pytester, SCHEDULE, "--replyrace-calls=5", "--replyrace-send-at=request,end", "--replyrace-gap=0.1,0"
    )
    result.assert_outcomes(passed=1)
    text = result.stdout.str()
    assert "replyrace: send-at=request,end busy-policy=queue" in text
    (test,) = tests
    assert "--replyrace-send-at=request,end" in test["replay"] and "--replyrace-gap=0.1,0" in test["replay"]
    assert test["settings"]["send_at"] == ["request", "end"] and test["settings"]["gap"] == [0.1, 0.0]
    calls = test["calls"]
    for call, (anchor, gap) in zip(calls[1:], [("request", 0.1), ("end", 0.0), ("request", 0.1), ("end", 0.0)]):
        previous = calls[call["index"] - 2]
        moment = previous["journal"][0]["arrived_at"] if anchor == "request" else previous["ended_at"]
        assert call["send_at"] == anchor and call["gap"] == gap
        assert call["anchor_at"] == pytest.approx(moment, abs=1e-6)
        assert call["sent_at"] >= moment + gap - 1e-4
    assert re.search(r"request\+1\d\dms", test["timeline"]) and "end+0ms" in test["timeline"]  # each call's own
    assert "request+100ms,end+0ms" in text  # the summary's gap column


CANNOT_CANCEL = """
import pytest
from pytest_replyrace import TransportReply

class NoStop:
    name = "no-stop"
    async def open(self): pass
    async def close(self): pass
    def late_replies(self): return {}
    async def send(self, session_key, message, idempotency_key):
        return TransportReply(None, "x")


@pytest.fixture
def replyrace_transport_factory():
    return NoStop

@pytest.mark.replyrace(calls=2, stop_at="request")
def test_custom(sequential_sender):
    sequential_sender.run()
"""


@pytest.mark.parametrize(
    ("options", "source", "named"),
    [
        ((), CANNOT_CANCEL, "stop_by=cancel: the no-stop transport has no stop() method"),
        (
            ("--replyrace-transport=openai-chat", "--replyrace-session-header=x-session", "--replyrace-stop-at=sent"),
            "def test_chat(sequential_sender):\n    sequential_sender.run()\n",
            "stop_by=cancel: the openai-chat transport cannot cancel a turn",
        ),
        (
            ("--replyrace-transport=declared", "--replyrace-api=api.toml", "--replyrace-stop-at=sent"),
            "def test_declared(sequential_sender):\n    sequential_sender.run()\n",
            "stop_by=cancel: the API file api.toml has no [stop] table",
        ),
        (
            ("--replyrace-stop-at=served", "--replyrace-stop-gap=-1s"),
            "def test_early(sequential_sender):\n    sequential_sender.run()\n",
            "stop_gap -1s is more than the provider RTT (50ms) before the call is served",
        ),
    ],
    ids=["custom", "openai-chat", "declared", "stop-gap-before-the-request"],
)
def test_a_stop_the_run_cannot_make_is_a_usage_error(
    race_pytester: pytest.Pytester, options: tuple[str, ...], source: str, named: str
) -> None:
    race_pytester.makefile(
        ".toml",
        api='[send]\npath = "/chat.send"\njson = { message = "{message}" }\n\n[reply]\nformat = "json"\n'
        'text = { pointer = "/reply" }\n',
    )
    race_pytester.makepyfile(test_usage=source)
    result = run(race_pytester, f"--replyrace-gateway-cmd={GATEWAY_CMD}", *options)
    result.assert_outcomes(errors=1)  # a configuration error of the test, before anything is sent
    assert named in result.stdout.str(), result.stdout.str()
    assert "Traceback" not in result.stdout.str()


NO_CUT = """
import pytest
from pytest_replyrace import HttpTransport


class NoCut:
    # A transport of one's own: it sends through the HTTP contract and has neither stop() nor disconnect().
    name = "no-cut"

    def __init__(self, url):
        self.inner = HttpTransport(url)

    async def open(self):
        await self.inner.open()

    async def close(self):
        await self.inner.close()

    def late_replies(self):
        return {}

    async def send(self, session_key, message, idempotency_key):
        return await self.inner.send(session_key, message, idempotency_key)


@pytest.fixture
def replyrace_transport_factory(gateway):
    return lambda: NoCut(gateway.url)


@pytest.mark.rtt_range("600ms", "600ms", steps=1)
@pytest.mark.replyrace(calls=2, stop_at="request", stop_gap=0.1, stop_by="disconnect", disconnect_policy="continue")
def test_no_cut(sequential_sender):
    result = sequential_sender.run()
    print(result.timeline())
    result.assert_clean()
"""


def test_disconnect_works_with_a_transport_that_has_no_disconnect_of_its_own(race_pytester: pytest.Pytester) -> None:
    # The driver cancels the send itself, which closes its connection; the correct gateway's turn runs on.
    result, (test,) = stop_run(race_pytester, NO_CUT)
    result.assert_outcomes(passed=1)
    first = test["calls"][0]
    assert first["stop"]["sent_at"] is not None and first["stop"]["answered_at"] is not None, test["timeline"]
    assert first["error"] == "the client disconnected before the answer ended", test["timeline"]
    assert first["replied_at"] < first["journal"][0]["arrived_at"] + 0.3  # cut inside the model call
    assert test["pattern"] == "sp", test["timeline"]


OPENCLAW_STOPS = """
import pytest

@pytest.mark.parametrize("stop_by", ["cancel", "disconnect"])
@pytest.mark.parametrize(("stop_at", "stop_gap"), [("sent", 0.0), ("request", 0.1)])
@pytest.mark.rtt_range("400ms", "400ms", steps=1)
@pytest.mark.replyrace(calls=3)
def test_ws(stop_at, stop_gap, stop_by, sequential_sender):
    sequential_sender.settings = sequential_sender.settings.override(
        "test", stop_at=stop_at, stop_gap=stop_gap, stop_by=stop_by
    )
    result = sequential_sender.run()
    print("PATTERN", stop_at, stop_by, result.pattern)
    print(result.timeline())
    result.assert_clean()
"""


def test_openclaw_chat_abort_and_going_away_right_after_the_send(
    toy_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    # chat.abort at sent + 0 goes out right after the chat.send frame; a WebSocket closed at sent + 0 closes after
    # it, and the next call connects again. The toy's `fixed` turn engine stops each as asked.
    toy_pytester.makepyfile(test_ws=OPENCLAW_STOPS)
    report = toy_pytester.path / "history.json"
    result = run(
        toy_pytester,
        "-s",
        toy_gateway_option("fixed", "--busy", "queue"),
        "--replyrace-ready=http:/readyz",
        "--replyrace-transport=openclaw",
        f"--replyrace-report={report}",
    )
    result.assert_outcomes(passed=4)
    tests = json.loads(report.read_text())["tests"]
    assert {t["pattern"] for t in tests} == {"sps"}, [t["timeline"] for t in tests]
    for test in tests:
        stop = test["calls"][0]["stop"]
        if stop["by"] == "cancel":
            assert stop["aborted"] is True and test["calls"][0]["state"] == "aborted", test["timeline"]
    assert_no_leak()
