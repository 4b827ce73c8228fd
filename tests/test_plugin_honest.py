"""Honest verdicts end to end: a real test gateway process, the real fake provider, pytest in a subprocess."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from support.selftest import race_gateway_cmd, run


def test_a_clean_row_never_reads_plainly_failed_and_markers_show_their_own_settings(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(
        test_rows="""
        import pytest

        @pytest.mark.replyrace(calls=6, gap=0.1)
        def test_marker_settings(sequential_sender):
            sequential_sender.run().assert_no_fast_fail()

        @pytest.mark.replyrace(calls=3)
        def test_fails_on_something_else(sequential_sender):
            sequential_sender.run().assert_no_fast_fail()
            assert 1 + 1 == 3
        """
    )
    result = run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd()}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "replyrace: calls=10 gap=0ms *",
            "replyrace: markers may override per test *",
            "test_rows.py::test_fails_on_something_else",  # the tables come by test id
            "*50ms     0ms  ppp *clean (failed: not a race assertion)",
            "test_rows.py::test_marker_settings",
            "*50ms   100ms  pppppp *clean (passed)",
        ]
    )
    assert "clean (failed)" not in result.stdout.str()
    assert_no_leak()


def test_a_fault_on_call_2_stays_on_call_2_when_the_gateway_resends_the_failed_turn(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(
        test_history="""
        import pytest

        @pytest.mark.provider_faults("500", calls=[2])
        def test_history(sequential_sender, fake_provider):
            result = sequential_sender.run(calls=4)
            resent = [e.tokens for e in fake_provider.journal if len(e.tokens) > 1]
            faulted = [e.tokens for e in fake_provider.journal if e.fault]
            print("PATTERN", result.pattern, "RESENT", resent, "FAULTED", faulted)
            assert resent, "the gateway did not re-send the failed turn"
            assert result.pattern == "pepp"
        """
    )
    report = race_pytester.path / "history.json"
    cmd = race_gateway_cmd("--keep-failed-turns")
    result = run(race_pytester, f"--replyrace-gateway-cmd={cmd}", f"--replyrace-report={report}", "-s")
    assert re.search(
        r"PATTERN pepp RESENT \[\['rr-(\w+)-2', 'rr-\1-3'\]\] FAULTED \[\['rr-\1-2'\]\]", result.stdout.str()
    ), result.stdout.str()
    result.assert_outcomes(passed=1)
    calls = json.loads(report.read_text())["tests"][0]["calls"]
    assert [c["letter"] for c in calls] == list("pepp")
    assert_no_leak()
