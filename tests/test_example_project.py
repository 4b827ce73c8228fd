"""Pins what the example project's demo shows, with the real toy gateway.

The demo is run as a user runs it (its own rootdir and pytest.ini), in a
subprocess, with a JSON history to read the per-mode, per-RTT patterns from.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"


def run_demo(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    report = pytester.path / "demo.json"
    result = pytester.run(
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "pytest_replyrace",
        f"--rootdir={EXAMPLE}",
        "-c",
        str(EXAMPLE / "pytest.ini"),
        str(EXAMPLE / "tests"),
        f"--replyrace-report={report}",
        "-n",
        "4",
        *args,
        timeout=300,
    )
    return result, json.loads(report.read_text())


def patterns(
    history: dict[str, Any], test: str = "test_sequential_sends_get_real_replies"
) -> dict[tuple[str, float], str]:
    """The race demo's (or ``test``'s) pattern per (parameters before the rtt, rtt)."""
    out = {}
    for run in history["tests"]:
        if f"::{test}[" not in run["node_id"]:
            continue
        params = run["node_id"].split("[", 1)[1].split("-rtt=")[0]
        out[(params, run["rtt"])] = run["pattern"]
    return out


def test_demo_catches_every_planted_bug_and_no_false_alarm(
    pytester: pytest.Pytester, leak_marker: str, assert_no_leak: Callable[[], None]
) -> None:
    result, history = run_demo(pytester)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*= 34 passed, 17 xfailed in *"])
    seen = patterns(history)
    for mode, letters in (
        ("drain-first", "pfpf"),
        ("alternating", "pfpf"),
        ("cascade", "pfff"),
        ("lost-drain", "pfpf"),
    ):
        assert seen[(mode, 0.05)] == letters, (mode, seen)
        assert seen[(mode, 0.5)] == "pppp", (mode, seen)
    assert all(seen[("fixed", rtt)] == "pppp" for rtt in (0.05, 0.16, 0.5)), seen
    # The busy-session bugs: caught where they bite, clean at `end`; `fixed` clean at every anchor.
    for test, mode, anchor, rtt, bad in (
        ("test_a_refusing_gateway_is_idle_when_it_says_done", "busy-after-final", "text", 0.1, "f"),
        ("test_the_next_turn_sees_the_previous_one", "stale-history", "text", 0.1, "h"),
        ("test_a_message_during_a_model_call_waits_its_turn", "takeover", "request", 0.2, "f"),
        ("test_a_message_during_a_tool_call_waits_for_the_turn", "tool-handoff", "request", 0.05, "h"),
    ):
        busy = patterns(history, test)
        assert bad in busy[(f"{mode}-{anchor}", rtt)] and busy[(f"{mode}-end", rtt)] == "ppp", (test, busy)
        assert busy[(f"fixed-{anchor}", rtt)] == busy[("fixed-end", rtt)] == "ppp", (test, busy)
    policies = patterns(history, "test_each_busy_policy_keeps_its_promise")
    for params, letter in (
        ("fixed-reject-first-b", "b"),
        ("fixed-steer-request-m", "m"),
        ("fixed-interrupt-request-i", "i"),
    ):
        assert set(policies[(params, 0.2)]) == {"p", letter}, policies
    # The stop bugs: each caught with its letter; `fixed` stopped as asked under the same run.
    for test, mode, rtt, bad, good in (
        ("test_a_stopped_turn_ends", "stop-ignored", 0.4, "op", "sp"),
        ("test_the_message_after_a_stop_is_answered", "stop-wedge", 0.4, "sf", "sp"),
        ("test_a_stopped_waiting_message_never_reaches_the_model", "stop-leaks-pending", 0.4, "pop", "psp"),
        ("test_a_stop_during_a_tool_leaves_no_unpaired_tool_call", "stop-orphan-tool", 0.1, "se", "sp"),
        ("test_a_turn_outlives_its_client", "disconnect-drops", 0.4, "op", "sp"),
    ):
        stops = patterns(history, test)
        assert stops[(mode, rtt)] == bad and stops[("fixed", rtt)] == good, (test, stops)
    anchors = patterns(history, "test_fixed_stops_cleanly_at_every_anchor")
    assert len(anchors) == 7 and set("".join(anchors.values())) <= {"p", "s"}, anchors
    result.stdout.fnmatch_lines(
        [
            "*= replyrace summary =*",
            "tests/test_race_demo.py::test_sequential_sends_get_real_replies[alternating]",
            "*50ms   200ms  pfpf      2  2  0  0  0*fast-fail: alternating: every 2nd call (*xfailed)",
        ]
    )
    assert_no_leak()


@pytest.mark.slow  # a long sweep: CI runs it in the slow step
def test_a_regression_in_fixed_turns_the_demo_red(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, leak_marker: str
) -> None:
    # Keep the guard 0.5 s after each reply and stop waiting for it at admission.
    monkeypatch.setenv("TOY_GATEWAY_ARGS", "--admission-wait off --cleanup-ms 500")
    result, history = run_demo(pytester, "-k", "test_sequential_sends and fixed")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=3)
    # Every RTT point fails (pfpf, or pfff when a slow host lets the sends pile up behind the guard).
    assert all(p[0] == "p" and "f" in p for p in patterns(history).values()), patterns(history)
    result.stdout.fnmatch_lines(["*replyrace fast-fail at rtt=50ms, gap=200ms: alternating: every 2nd call*"])


@pytest.mark.slow  # a long sweep: CI runs it in the slow step
@pytest.mark.parametrize("api", ["anthropic-messages"])
def test_the_race_shows_the_same_through_another_provider_api(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, leak_marker: str, api: str
) -> None:
    """The toy calls the model in another provider API: the planted race and the fix look the same."""
    monkeypatch.setenv("TOY_GATEWAY_ARGS", f"--provider-api {api}")
    result, history = run_demo(pytester, "-k", "alternating or fixed")
    seen = patterns(history)
    assert seen[("alternating", 0.05)] == "pfpf" and seen[("alternating", 0.5)] == "pppp", seen
    assert all(seen[("fixed", rtt)] == "pppp" for rtt in (0.05, 0.16, 0.5)), seen
    assert result.ret == 0
    # Every provider request of the run came in that API, and each was served.
    journals = [e for test in history["tests"] for call in test["calls"] for e in call["journal"]]
    assert journals and {e["api"] for e in journals} == {api}


CONFTEST = """
import pytest

@pytest.fixture
def gateway(toy_mode, replyrace_gateway_factory):
    return replyrace_gateway_factory.launch(
        "{python} -m toy_gateway --port {port} --provider-url {provider_url} --mode " + toy_mode + " {extra}")

def pytest_generate_tests(metafunc):
    if "toy_mode" in metafunc.fixturenames:
        metafunc.parametrize("toy_mode", {modes!r})
"""


def toy_pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, modes: list[str], extra: str = "") -> None:
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLE), prepend=os.pathsep)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\ntimeout = 120\n")
    pytester.makeconftest(CONFTEST.replace("{extra}", extra).replace("{modes!r}", repr(modes)))


@pytest.mark.slow  # a long sweep: CI runs it in the slow step
def test_correct_and_fixed_are_clean_at_every_rtt_with_jitter(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    leak_marker: str,
    assert_no_leak: Callable[[], None],
) -> None:
    toy_pytester(pytester, monkeypatch, ["correct", "fixed"], "--background-ms 650")
    pytester.makepyfile(
        test_clean="""
        import pytest

        @pytest.mark.rtt_range("50ms", "3s", steps=3, jitter=0.3)
        @pytest.mark.replyrace(calls=4, gap=0)
        def test_clean(toy_mode, sequential_sender):
            sequential_sender.run().assert_clean()
        """
    )
    result = pytester.runpytest_subprocess("-p", "pytest_replyrace", "-n", "3", timeout=240)
    result.assert_outcomes(passed=6)
    assert_no_leak()


def test_log_lines_reach_the_failure_message(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, leak_marker: str
) -> None:
    toy_pytester(pytester, monkeypatch, ["alternating"], "--background-ms 650")
    pytester.makepyfile(
        test_logs="""
        import pytest

        @pytest.mark.replyrace(calls=6, gap=0.2)
        def test_race(toy_mode, sequential_sender):
            sequential_sender.run().assert_no_fast_fail()
        """
    )
    result = pytester.runpytest_subprocess("-p", "pytest_replyrace", timeout=120)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*replyrace fast-fail at rtt=50ms, gap=200ms: alternating: every 2nd call — pattern pfpfpf*",
            "*gateway log lines that matched during this test (*",
            "*followup queue drain failed for agent:test:race-*: ReplyRunAlreadyActiveError: Reply run already active*",
        ]
    )
