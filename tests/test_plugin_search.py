"""Window search and parallel grids against the real toy gateway.

The toy in `alternating` mode with 650 ms of background work per turn keeps
the session guard until 650 ms after the model starts: a send that follows a
reply by `gap` finds it held when RTT < 650 ms - gap. That is the window the
search must find.
"""

from __future__ import annotations

import json

import pytest
from support.selftest import race_test, toy_gateway_option

pytestmark = pytest.mark.slow

TOY = toy_gateway_option("alternating", "--background-ms", "650")


def test_search_finds_the_configured_window_within_ten_percent(toy_pytester: pytest.Pytester) -> None:
    toy_pytester.makepyfile(
        test_window="""
        import pytest

        @pytest.mark.replyrace_search(rtt=("50ms", "1s"), gap=(0.2, 0.4), gaps=3, calls=3)
        def test_window(sequential_sender):
            window = sequential_sender.search()
            for gap, edge in sorted(window.boundaries.items()):
                expected = 0.65 - gap
                print(f"EDGE gap={gap} edge={edge:.3f} expected={expected:.3f}")
                assert edge is not None and abs(edge - expected) / expected <= 0.10
                assert window.confirmed[gap]
            window.assert_no_window()
        """
    )
    report = toy_pytester.path / "w.json"
    result = toy_pytester.runpytest_subprocess(
        "-p", "pytest_replyrace", TOY, "-s", f"--replyrace-report={report}", "--replyrace-parallel=3", timeout=240
    )
    result.assert_outcomes(failed=1)
    (window,) = json.loads(report.read_text())["windows"]
    assert window["node_id"] == "test_window.py::test_window"
    assert window["statement"].startswith("fails when RTT ≤ 2") and window["statement"].endswith("with gap ≤ 400ms")
    result.stdout.fnmatch_lines(["test_window.py::test_window: window fails when RTT ≤ *ms with gap ≤ 400ms"])
    result.stdout.fnmatch_lines(
        [
            "*EDGE gap=0.2 *",
            "EDGE gap=0.3 *",
            "EDGE gap=0.4 *",
            "*replyrace window: fails when RTT ≤ *ms with gap ≤ 400ms (* probes, *s)",
            "*gap  200ms: fast-fails at RTT ≤ 4*ms",
        ]
    )


def test_search_option_appends_the_window_to_a_failing_assertion(toy_pytester: pytest.Pytester) -> None:
    toy_pytester.makepyfile(test_point=race_test(("50ms", "50ms", 1), calls=3, gap=0.2, name="test_point"))
    report = toy_pytester.path / "w.json"
    result = toy_pytester.runpytest_subprocess(
        "-p",
        "pytest_replyrace",
        TOY,
        "--replyrace-search",
        "rtt=50ms:1s,gap=200ms,calls=3",
        "--replyrace-shrink=0",
        f"--replyrace-report={report}",
        timeout=240,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "replyrace: search=rtt=50ms:1s,gap=200ms,gaps=3,budget=120s,calls=3 (on every failing race assertion)",
            "E *RaceFailure: replyrace fast-fail at rtt=50ms, gap=200ms: *",
            "E *replyrace window: fails when RTT ≤ 4*ms with gap ≤ 200ms (* probes, *s)",
            "E *gap  200ms: fast-fails at RTT ≤ 4*ms",
        ]
    )
    history = json.loads(report.read_text())
    assert len(history["tests"]) == 1  # the search's probes are not the test's runs
    (window,) = history["windows"]
    edge = window["boundaries"]["0.2"]
    assert abs(edge - 0.45) / 0.45 <= 0.10 and window["confirmed"]["0.2"] is True


def test_parallel_and_serial_grids_give_the_same_verdicts(toy_pytester: pytest.Pytester) -> None:
    toy_pytester.makepyfile(
        test_grid="""
        def test_grid(sequential_sender):
            rtts, gaps = [0.05, 0.4, 1.0], [0.0, 0.2, 0.45]
            serial = sequential_sender.grid(rtts, gaps, calls=3, parallel=1)
            parallel = sequential_sender.grid(rtts, gaps, calls=3)  # --replyrace-parallel
            print("VERDICTS", sorted(serial.verdicts().items()))
            assert serial.verdicts() == parallel.verdicts()
            assert any(serial.verdicts().values()) and not all(serial.verdicts().values())
        """
    )
    result = toy_pytester.runpytest_subprocess(
        "-p", "pytest_replyrace", TOY, "--replyrace-parallel=9", "-s", timeout=240
    )
    result.assert_outcomes(passed=1)
    # Every probe is a race run of its own: the summary has a row per (rtt, gap) and run.
    result.stdout.fnmatch_lines(["*= replyrace summary =*", "test_grid.py::test_grid", "*50ms     0ms  pf*"])
