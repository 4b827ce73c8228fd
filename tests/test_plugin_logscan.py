"""A hostile gateway log stays evidence of a bounded size: many matches, escape codes, a huge line."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable

import pytest
from support.selftest import race_gateway_cmd, run

# As the gateway's option takes it: backslash escapes, decoded by the gateway.
TRACEBACK = r'Traceback (most recent call last):\n  File "gw.py", line 7, in turn\nValueError: boom'
PER_CALL = 60_000  # tracebacks per call: 180k log lines, one write

CLEAN_RUN = """
def test_run(sequential_sender):
    sequential_sender.run(calls=2).assert_clean()
"""


def test_a_flood_of_tracebacks_gives_a_short_message_and_report(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_flood=CLEAN_RUN)
    report = race_pytester.path / "report.json"
    cmd = race_gateway_cmd(
        "--error-on", "2", "--log-each-call", shlex.quote(TRACEBACK), "--log-each-call-times", str(PER_CALL)
    )
    result = run(race_pytester, f"--replyrace-gateway-cmd={cmd}", f"--replyrace-report={report}")
    result.assert_outcomes(failed=1)
    total = 2 * PER_CALL
    result.stdout.fnmatch_lines(
        [
            f"*gateway log lines that matched during this test ({total:,}):",
            "*L*: Traceback (most recent call last): → ValueError: boom",
            f"*… and {total - 20:,} more (see the JSON report)",
            f"*pe  *({total:,} log lines, failed)",
        ]
    )
    assert len(result.stdout.str()) < 60_000
    assert report.stat().st_size < 100_000
    (test,) = json.loads(report.read_text())["tests"]
    assert len(test["log_matches"]) == 50 and test["log_matches_more"] == total - 50
    assert test["log_matches"][0]["line"] == "Traceback (most recent call last): → ValueError: boom"
    assert_no_leak()


def test_escape_codes_in_the_log_are_shown_as_text(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_escape=CLEAN_RUN)
    fake = r"Traceback \x1b[2J\x1b[H\r===== 1 passed in 0.01s ====="
    cmd = race_gateway_cmd("--error-on", "2", "--log-each-call", shlex.quote(fake))
    result = run(race_pytester, f"--replyrace-gateway-cmd={cmd}")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "\x1b" not in out and "\r" not in out
    result.stdout.fnmatch_lines([r"*: Traceback \x1b[2J\x1b[H\r===== 1 passed in 0.01s =====*"])
    assert "1 passed" not in "\n".join(line for line in out.splitlines() if "\\x1b" not in line)
    assert_no_leak()


def test_a_start_failure_with_a_20_mb_log_line_gives_a_short_message(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_start=CLEAN_RUN)
    cmd = race_gateway_cmd("--start-line-bytes", str(20_000_000), "--exit-at-start", "3")
    result = run(race_pytester, f"--replyrace-gateway-cmd={cmd}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*gateway exited with exit code 3 before it was ready*",
            "*last 2 log lines:",
            "*xxxxxxxx… (+19,999,* chars)",
            "*race gateway: exiting at start with code 3",
        ]
    )
    assert len(result.stdout.str()) < 30_000
    assert_no_leak()
