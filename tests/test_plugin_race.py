"""The plugin end to end: a real test gateway process, the real fake provider,
pytest in a subprocess. These pin the contract a gateway maintainer relies on."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable

import pytest
from support.selftest import race_gateway_cmd, run

SWEEP_TEST = """
import pytest

@pytest.mark.rtt_range("50ms", "2s", steps={steps}{jitter})
@pytest.mark.replyrace(calls=6, gap=0.2)
def test_sequential_sends(sequential_sender):
    result = sequential_sender.run()
    result.assert_no_fast_fail()
"""


@pytest.mark.slow  # a long sweep: CI runs it in the slow step
def test_buggy_gateway_fails_at_fast_rtts_and_passes_at_slow_ones(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    # Background work of 390 ms from each turn's start holds the session guard: a reply faster than 190 ms
    # leaves a window the next send (0.2 s later) falls into, and the send after a fast-fail (0.4 s after
    # the real reply) lands past it, so the pattern alternates; every edge is at least 60 ms away.
    race_pytester.makepyfile(test_chat=SWEEP_TEST.format(steps=5, jitter=""))
    report = race_pytester.path / "history.json"
    result = run(
        race_pytester,
        f"--replyrace-gateway-cmd={race_gateway_cmd('--background-ms', '390')}",
        f"--replyrace-report={report}",
    )
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*replyrace fast-fail at rtt=50ms, gap=200ms: alternating: every 2nd call — pattern pfpfpf (3p, 3f)*",
            "*#*sent at*latency*provider RTT*served<reply*reply*",
            "*no request*Previous run is still shutting down*",
            "*gateway log lines that matched during this test*",
            "*ReplyRunAlreadyActiveError: Reply run already active for agent:test:race-*",
            "*replay: pytest 'test_chat.py::test_sequential_sends?rtt=50ms?' --replyrace-seed *",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*= replyrace summary =*",
            "test_chat.py::test_sequential_sends",
            "      rtt     gap  pattern   p  f  w  l  e  h  s  o   ff p50 rtt p50  verdict",
            "     50ms   200ms  pfpfpf    3  3  0  0  0  0  0  0 *ms *ms  fast-fail: alternating: every 2nd call (3 log lines, failed)",
            "    130ms   200ms  pfpfpf    3  3  0  0  0  0  0  0 *ms *ms  fast-fail: alternating: every 2nd call (3 log lines, failed)",
            "    320ms   200ms  pppppp    6  0  0  0  0  0  0  0        - *ms  clean (passed)",
            "    800ms   200ms  pppppp    6  0  0  0  0  0  0  0        - *ms  clean (passed)",
            "       2s   200ms  pppppp    6  0  0  0  0  0  0  0        - *ms  clean (passed)",
        ]
    )
    history = json.loads(report.read_text())
    assert [t["pattern"] for t in history["tests"]] == ["pfpfpf", "pfpfpf", "pppppp", "pppppp", "pppppp"]
    fast = history["tests"][0]
    assert fast["rtt"] == 0.05 and fast["settings"]["gap"] == 0.2 and fast["seed"] == history["seed"]
    # The fast-failed calls never reached the provider; the real ones did, before their reply.
    assert [bool(c["journal"]) for c in fast["calls"]] == [True, False] * 3
    assert all(c["served_before_reply"] for c in fast["calls"][::2])
    assert any("ReplyRunAlreadyActiveError" in m["line"] for m in fast["log_matches"])
    assert_no_leak()


@pytest.mark.slow  # a long sweep: CI runs it in the slow step
def test_fixed_gateway_is_clean_at_every_rtt_with_jitter(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_chat=SWEEP_TEST.format(steps=3, jitter=", jitter=0.3"))
    result = run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd()}")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["*50ms   200ms  pppppp    6  0  0  0  0*clean (passed)", "*2s   200ms  pppppp*clean (passed)"]
    )
    assert_no_leak()


def test_every_letter_comes_from_a_real_gateway(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    # Call 2 gets call 1's reply (w), call 3 hangs (l), call 4 errors after the
    # provider answered (e), call 5's connection drops (e), call 6 starts 800 ms
    # of background work that still holds the guard when call 7 arrives (f).
    race_pytester.makepyfile(
        test_letters="""
        import pytest

        @pytest.mark.replyrace(calls=7, timeout=1.5)
        def test_letters(sequential_sender):
            result = sequential_sender.run()
            print("PATTERN", result.pattern)
            assert result.pattern == "pwleepf"
        """
    )
    cmd = race_gateway_cmd(
        "--wrong-reply-on", "2", "--hang-on", "3", "--error-on", "4", "--drop-on", "5", "--background-on", "6:800"
    )
    result = run(race_pytester, f"--replyrace-gateway-cmd={cmd}", "-s")
    result.stdout.fnmatch_lines(
        ["*PATTERN pwleepf*", "*50ms     0ms  pwleepf   2  1  1  1  2*fast-fail: intermittent 2/7 (1 log line, passed)"]
    )
    # -v puts the timeline under every row that is not clean.
    result = run(race_pytester, f"--replyrace-gateway-cmd={cmd}", "-v")
    result.stdout.fnmatch_lines(
        ["*pwleepf*passed)", "*#*sent at*latency*", "*3 * l  (no reply within the call timeout)"]
    )
    result.assert_outcomes(passed=1)
    assert_no_leak()


def test_async_tests_use_arun(race_pytester: pytest.Pytester) -> None:
    race_pytester.makepyfile(
        test_async="""
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.replyrace(calls=3)
        async def test_arun(sequential_sender):
            result = await sequential_sender.arun()
            result.assert_clean()
            assert result.pattern == "ppp"

        @pytest.mark.asyncio
        async def test_sync_run_in_a_loop_is_refused(sequential_sender):
            with pytest.raises(RuntimeError, match="use `await sequential_sender.arun"):
                sequential_sender.run(calls=1)
        """
    )
    result = run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd()}")
    result.assert_outcomes(passed=2)


@pytest.mark.slow  # a long sweep: CI runs it in the slow step
def test_same_seed_replays_tokens_keys_and_jitter(race_pytester: pytest.Pytester) -> None:
    race_pytester.makepyfile(
        test_seed="""
        import pytest

        @pytest.mark.rtt_range("20ms", "40ms", steps=2, jitter=0.5)
        @pytest.mark.replyrace(calls=3)
        def test_run(sequential_sender):
            sequential_sender.run().assert_clean()
        """
    )
    cmd = f"--replyrace-gateway-cmd={race_gateway_cmd()}"
    first, second, third = (race_pytester.path / f"r{i}.json" for i in range(3))
    run(race_pytester, cmd, f"--replyrace-report={first}").assert_outcomes(passed=2)
    seed = json.loads(first.read_text())["seed"]
    replay = run(race_pytester, cmd, "--replyrace-seed=last", f"--replyrace-report={second}")
    replay.assert_outcomes(passed=2)
    replay.stdout.fnmatch_lines([f"replyrace: *seed={seed} (the previous run's (--replyrace-seed last)*"])
    run(race_pytester, cmd, f"--replyrace-seed={seed + 1}", f"--replyrace-report={third}").assert_outcomes(passed=2)

    def fingerprint(path: object) -> list[object]:
        tests = json.loads(path.read_text())["tests"]  # type: ignore[attr-defined]
        return [(t["session_key"], [(c["token"], [e["rtt"] for e in c["journal"]]) for c in t["calls"]]) for t in tests]

    assert fingerprint(first) == fingerprint(second)
    assert fingerprint(first) != fingerprint(third)

    # The replay command a failure prints reruns one test with the same tokens and jitter.
    replay = json.loads(first.read_text())["tests"][1]["replay"]
    words = shlex.split(replay)
    assert words[0] == "pytest" and words[1].endswith("[rtt=40ms]")
    fourth = race_pytester.path / "r3.json"
    run(race_pytester, cmd, *words[1:], f"--replyrace-report={fourth}").assert_outcomes(passed=1)
    assert fingerprint(fourth) == fingerprint(first)[1:]
