"""The window's second axis and the pause nemesis, against the real toy gateway."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable

import pytest
from support.selftest import run_inprocess
from support.selftest import toy_gateway_option as toy


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "pytest_replyrace", *args, timeout=240)


@pytest.mark.slow  # a long sweep: CI runs it in the slow step
def test_rtt_and_gap_ranges_make_a_grid(toy_pytester: pytest.Pytester) -> None:
    toy_pytester.makepyfile(
        test_grid="""
        import pytest

        @pytest.mark.rtt_range("50ms", "50ms", steps=1)
        @pytest.mark.gap_range(0, "300ms", steps=4)
        @pytest.mark.replyrace(calls=6)
        def test_grid(sequential_sender, replyrace_gap):
            result = sequential_sender.run()
            assert result.gap == replyrace_gap
            result.assert_no_fast_fail()
        """
    )
    out = toy_pytester.path
    result = run(
        toy_pytester,
        toy("alternating"),
        "-v",
        f"--replyrace-report={out / 'g.json'}",
        f"--replyrace-html={out / 'g.html'}",
    )
    result.stdout.fnmatch_lines(
        [
            "*test_grid?rtt=50ms-gap=0ms? FAILED*",
            "*test_grid?rtt=50ms-gap=100ms? *",
            "*test_grid?rtt=50ms-gap=200ms? PASSED*",
            "*test_grid?rtt=50ms-gap=300ms? PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["test_grid.py::test_grid", "*50ms     0ms  pfpfpf*", "*50ms   300ms  pppppp*clean (passed)"]
    )
    gaps = {t["gap"]: t["pattern"] for t in json.loads((out / "g.json").read_text())["tests"]}
    assert set(gaps) == {0.0, 0.1, 0.2, 0.3} and gaps[0.0] == "pfpfpf" and gaps[0.3] == "pppppp"
    heat = (out / "g.html").read_text()
    assert all(f"<th>{g}</th>" in heat for g in ("0ms", "100ms", "200ms", "300ms"))


@pytest.mark.parametrize(
    ("marks", "message"),
    [
        (
            "@pytest.mark.gap_range(0, 1)\n@pytest.mark.replyrace(gap=0.5)",
            "*both @pytest.mark.gap_range and @pytest.mark.replyrace(gap=...)*",
        ),
        ("@pytest.mark.gap_range(-1, 1)", "*gap_range(-1, 1): lo: -1 must be >= 0*"),
        ('@pytest.mark.gap_range(0, 1, scale="log")', "*a log scale cannot start at 0*"),
        (
            "@pytest.mark.replyrace(pause=(0.1,))",
            "*pause (0.1,) is not a pause; expected (after, length) or 'AFTER:LENGTH'*",
        ),
    ],
    ids=["gap-twice", "negative-gap", "log-from-zero", "bad-pause"],
)
def test_window_marker_misuse_is_a_collection_error(pytester: pytest.Pytester, marks: str, message: str) -> None:
    pytester.makepyfile(test_bad=f"import pytest\n\n{marks}\ndef test_x(sequential_sender):\n    pass\n")
    result = run_inprocess(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_bad_pause_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    result = run_inprocess(pytester, "--replyrace-pause=soon")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--replyrace-pause: pause 'soon' is not a pause; expected (after, length) or 'AFTER:LENGTH'*"]
    )


PAUSE_TEST = """
import pytest

@pytest.mark.replyrace(calls=5, gap=1.0)
def test_pause(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()
"""


@pytest.mark.slow  # a long sweep: CI runs it in the slow step
def test_pause_nemesis_opens_the_window_only_on_the_racy_build(
    toy_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    # The reporter's 1 s pause misses the race; a 1.2 s freeze 20 ms after each
    # reply stretches the post-final work past it (protocol notes §4).
    toy_pytester.makepyfile(test_pause=PAUSE_TEST)
    run(toy_pytester, toy("alternating")).assert_outcomes(passed=1)
    frozen = run(toy_pytester, toy("alternating"), "--replyrace-pause=20ms:1.2s")
    frozen.assert_outcomes(failed=1)
    frozen.stdout.fnmatch_lines(["*replyrace fast-fail at rtt=50ms, gap=1s: all after the first — pattern pffff*"])
    run(toy_pytester, toy("fixed"), "--replyrace-pause=20ms:1.2s").assert_outcomes(passed=1)
    assert_no_leak()


@pytest.mark.slow  # a 30 s freeze held for the run: CI runs it in the slow step
def test_the_gateway_is_never_left_stopped(toy_pytester: pytest.Pytester) -> None:
    # A 30 s freeze right after the first reply: the second call is lost, the run
    # ends mid-freeze, and the gateway must be running again when it does.
    toy_pytester.makepyfile(
        test_stuck="""
        import pytest

        def state(pid):
            with open(f"/proc/{pid}/stat") as handle:
                return handle.read().rsplit(")", 1)[1].split()[0]

        @pytest.mark.replyrace(calls=2, timeout=1.0, pause=(0, 30))
        def test_stuck(sequential_sender, gateway):
            result = sequential_sender.run()
            assert result.pattern == "pl"
            assert state(gateway.pid) != "T"
        """
    )
    run(toy_pytester, toy("fixed")).assert_outcomes(passed=1)


@pytest.mark.slow  # three runs of a shrink and its replay: CI runs it in the slow step
def test_a_failure_prints_a_two_call_reproduction_that_fails_again(toy_pytester: pytest.Pytester) -> None:
    toy_pytester.makepyfile(
        test_shrink="""
        import pytest

        @pytest.mark.replyrace(calls=6, gap=0)
        def test_race(sequential_sender):
            sequential_sender.run().assert_no_fast_fail()
        """
    )
    result = run(toy_pytester, toy("alternating"))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*pattern pfpfpf*",
            "*minimal reproduction: 2 calls at rtt=50ms, gap=0ms, seed *: pattern pf (session agent:test:race-*)",
            "*replay it: pytest *test_shrink.py::test_race* --replyrace-seed * --replyrace-force-calls 2",
        ]
    )
    line = next(text for text in result.outlines if "replay it: " in text)
    words = shlex.split(line.split("replay it: ", 1)[1])
    again = run(toy_pytester, toy("alternating"), *words[1:])
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*replyrace fast-fail at rtt=50ms, gap=0ms: * — pattern pf (1p, 1f)*"])
    off = run(toy_pytester, toy("alternating"), "--replyrace-shrink=0")
    off.assert_outcomes(failed=1)
    assert not any("minimal reproduction" in text for text in off.outlines)


def test_an_async_test_gets_the_same_shrink_as_a_sync_one(toy_pytester: pytest.Pytester) -> None:
    # Exploring is the plugin's step after the test: a failing assertion inside a coroutine is shrunk too.
    toy_pytester.makepyfile(
        test_async_shrink="""
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.replyrace(calls=4, gap=0)
        async def test_race(sequential_sender):
            (await sequential_sender.arun()).assert_no_fast_fail()
        """
    )
    result = run(toy_pytester, toy("alternating"), "--replyrace-shrink=20")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*pattern pfpf*",
            "*minimal reproduction: 2 calls at rtt=50ms, gap=0ms, seed *: pattern pf (session agent:test:race-*)",
            "*replay it: pytest *test_async_shrink.py::test_race* --replyrace-force-calls 2",
        ]
    )


@pytest.mark.slow  # long: CI runs it in the slow step
def test_grid_and_shrink_probes_each_say_a_line_and_nothing_with_q(toy_pytester: pytest.Pytester) -> None:
    toy_pytester.makepyfile(
        test_probes="""
        import pytest

        @pytest.mark.replyrace(calls=4)
        def test_grid(sequential_sender):
            sequential_sender.grid(rtts=[0.05], gaps=[0.0, 0.3], calls=3)

        @pytest.mark.replyrace(calls=5)
        def test_shrunk(sequential_sender):
            sequential_sender.run().assert_no_fast_fail()
        """
    )
    result = run(toy_pytester, toy("alternating"), "--replyrace-shrink=20")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "replyrace: grid probe rtt=50ms gap=0ms calls=3 -> p?p (*s) [[]test_probes.py::test_grid]",
            "replyrace: grid probe rtt=50ms gap=300ms calls=3 -> ppp (*s) [[]test_probes.py::test_grid]",
        ],
        consecutive=False,
    )
    result.stdout.fnmatch_lines(
        ["replyrace: shrink probe rtt=50ms gap=0ms calls=2 -> pf (*s of 20s) [[]test_probes.py::test_shrunk]"]
    )
    quiet = run(toy_pytester, toy("alternating"), "--replyrace-shrink=20", "-q")
    quiet.assert_outcomes(passed=1, failed=1)
    assert not [line for line in quiet.outlines + quiet.errlines if " probe rtt=" in line]
