"""The plugin as a careful maintainer adopts it: a quiet first run, nothing left running after a gateway that
daemonizes, our own provider's bugs reported as ours, and log lines that come just after a run kept with it."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from support.selftest import race_gateway_cmd, run

SIMPLE = """
def test_nothing_async():
    assert True
"""


def test_a_project_with_filterwarnings_error_and_no_asyncio_setting_runs_green(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_simple=SIMPLE)
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert "INTERNALERROR" not in result.stdout.str()


def test_the_plugin_brings_no_warning_into_a_quiet_project(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_simple=SIMPLE)
    quiet = run(pytester)
    quiet.assert_outcomes(passed=1)
    output = quiet.stdout.str() + quiet.stderr.str()
    assert "warnings summary" not in output and "Warning" not in output, output
    # The control: without our plugin, pytest-asyncio (which we install) does warn in this project.
    loud = pytester.runpytest_subprocess("-p", "no:pytest_replyrace", timeout=120)
    assert "asyncio_default_fixture_loop_scope" in loud.stdout.str()


def test_a_project_that_set_the_scope_keeps_its_own_warnings(pytester: pytest.Pytester) -> None:
    # Only pytest-asyncio's unset-scope message is ours to silence; a bad scope is still the user's error.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = weekly\n")
    pytester.makepyfile(test_simple=SIMPLE)
    result = run(pytester)
    assert "weekly" in result.stderr.str() + result.stdout.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR


ONE_RUN = """
def test_it(sequential_sender):
    sequential_sender.run(calls=2).assert_no_fast_fail()
"""


@pytest.mark.parametrize("how", ["setsid", "double-fork"])
def test_processes_that_leave_the_gateways_group_are_ended_and_named(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None], how: str
) -> None:
    race_pytester.makepyfile(test_escape=ONE_RUN)
    result = run(
        race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd('--escape', how)}", "--replyrace-stop-grace=2"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["replyrace: ended 1 process that left the gateway's group: sleep (pid *)"])
    assert_no_leak()


PROVIDER_BUG = """
def test_it(sequential_sender, fake_provider, monkeypatch):
    def broken(*args):
        raise RuntimeError("injected provider bug")

    monkeypatch.setattr(fake_provider._planner, "plan", broken)  # a bug of ours, wherever it is
    result = sequential_sender.run(calls=3)
    print("PATTERN", result.pattern)
"""


def test_a_failure_inside_the_fake_provider_fails_the_test_as_ours(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_provider_bug=PROVIDER_BUG)
    report = race_pytester.path / "report.json"
    result = run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd()}", f"--replyrace-report={report}", "-s")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*FakeProviderError: replyrace's fake provider failed while serving POST /v1/chat/completions: "
            "RuntimeError: injected provider bug",
            "*Traceback (most recent call last):*",
            "*RuntimeError: injected provider bug",
        ]
    )
    assert "PATTERN" not in text  # no letters were handed out for our own failure
    assert json.loads(report.read_text())["tests"] == []
    assert_no_leak()


LATE_LOG = """
def test_it(sequential_sender):
    result = sequential_sender.run(calls=2, gap=0.5)  # call 1's line lands in the gap, call 2's after the run
    print("LATE", ",".join("late" if m.late else "during" for m in result.log_matches))
"""


@pytest.mark.parametrize(
    ("settle", "expected"),
    [
        ("0.5", "LATE during,late"),  # call 1's drain line during the run, call 2's in the settle time
        ("0", "LATE during"),
    ],
)
def test_log_lines_just_after_the_last_call_belong_to_the_run(
    race_pytester: pytest.Pytester, settle: str, expected: str
) -> None:
    race_pytester.makepyfile(test_late=LATE_LOG)
    result = run(
        race_pytester,
        f"--replyrace-gateway-cmd={race_gateway_cmd('--late-log-ms', '200')}",
        f"--replyrace-settle={settle}",
        "-s",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*{expected}"])
