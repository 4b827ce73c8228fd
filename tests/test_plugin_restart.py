"""A gateway that dies or hangs mid-run: the test that saw it errors, the next one gets a fresh gateway."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from support.selftest import race_gateway_cmd, run

THREE_TESTS = """
def test_a(sequential_sender):
    print("PATTERN a", sequential_sender.run(calls=3).pattern)

def test_b(sequential_sender):
    print("PATTERN b", sequential_sender.run(calls=1).pattern)

def test_c(sequential_sender):
    print("PATTERN c", sequential_sender.run(calls=1).pattern)
"""


def test_crash_errors_that_test_and_the_next_gets_a_fresh_gateway(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_crash=THREE_TESTS)
    report = race_pytester.path / "history.json"
    result = run(
        race_pytester,
        f"--replyrace-gateway-cmd={race_gateway_cmd('--crash-on', '2')}",
        "-s",
        f"--replyrace-report={report}",
    )
    # test_a sees the crash (its teardown errors); test_b starts on a fresh gateway, whose own
    # 2nd call (test_c's) crashes it again; test_c errors in turn.
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*PATTERN a pe*",
            "*PATTERN b p*",
            "*ERROR at teardown of test_a*",
            "*replyrace: the gateway died during this test: it exited with signal SIGKILL; the next test gets a fresh "
            "one (--replyrace-restart on-crash)",
            "*call #2: crashing",
            "*replyrace: the gateway was restarted 1 time:",
            "*before test_crash.py::test_b: it exited with signal SIGKILL",
        ]
    )
    history = json.loads(report.read_text())
    assert [r["node_id"] for r in history["restarts"]] == ["test_crash.py::test_b"]
    assert_no_leak()


def test_restart_never_errors_the_later_tests(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_crash=THREE_TESTS)
    result = run(
        race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd('--crash-on', '2')}", "--replyrace-restart=never"
    )
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*replyrace: the gateway is unusable: it exited with signal SIGKILL; not restarted, since "
            "--replyrace-restart is never (--replyrace-restart)",
        ]
    )
    assert "was restarted" not in result.stdout.str()
    assert_no_leak()


@pytest.mark.slow  # long: CI runs it in the slow step
def test_a_hung_gateway_gives_lost_calls_and_is_restarted(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_hang=THREE_TESTS)
    result = run(
        race_pytester,
        f"--replyrace-gateway-cmd={race_gateway_cmd('--freeze-on', '2')}",
        "--replyrace-call-timeout=1",
        "--replyrace-stop-grace=1",
        "-s",
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*PATTERN a pll*",
            "*PATTERN b p*",
            "*PATTERN c l*",  # the fresh gateway's 2nd call freezes it again
            "*replyrace: the gateway was restarted 1 time:",
            "*before test_hang.py::test_b: it stopped answering its readiness check (http://127.0.0.1:*/readyz) within 2s: "
            "timed out",
        ]
    )
    assert_no_leak()
