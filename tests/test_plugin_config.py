"""Settings, markers, headers and errors: what a user types, and what they get back."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from support.selftest import race_gateway_cmd, run, run_inprocess

ONE_TEST = """
def test_run(sequential_sender):
    result = sequential_sender.run()
    print("CALLS", len(result.calls), "GAP", result.gap)
"""


@pytest.mark.parametrize(
    ("args", "env", "ini", "message"),
    [
        (
            ["--replyrace-ready=tpc"],
            {},
            "",
            "*--replyrace-ready: 'tpc' is not a readiness check*tcp*http:/path*log:REGEX*",
        ),
        (["--replyrace-gap=-1"], {}, "", "*--replyrace-gap: '-1' must be >= 0; expected*"),
        ([], {"REPLYRACE_GAP": "-1"}, "", "*env REPLYRACE_GAP: '-1' must be >= 0*"),
        ([], {}, "replyrace_gap = soon", "*ini replyrace_gap: 'soon' is not a duration*"),
        (
            ["--replyrace-calls=0"],
            {},
            "",
            "*--replyrace-calls: '0' is out of range; expected an integer from 1 to 10000*",
        ),
        (
            ["--replyrace-seed=abc"],
            {},
            "",
            "*--replyrace-seed: 'abc' is not a seed; expected an integer >= 0 or 'last'*",
        ),
        (
            ["--replyrace-transport=smtp"],
            {},
            "",
            "*--replyrace-transport: 'smtp' is not accepted; expected one of http*",
        ),
        (["--replyrace-ready-timeout=0"], {}, "", "*--replyrace-ready-timeout: '0' must be > 0*"),
        (
            ["--replyrace-gateway-url=http://192.0.2.1:8080"],
            {},
            "",
            "*--replyrace-gateway-url: 'http://192.0.2.1:8080' is not a loopback address*--replyrace-allow-remote*",
        ),
        (
            ["--replyrace-stop-grace=999999999"],
            {},
            "",
            "*--replyrace-stop-grace: '999999999' is above the upper bound of 10 min (600s)*",
        ),
        (
            [],
            {"REPLYRACE_GATEWAY_CMD": "gw --port {port:>20}"},
            "",
            "*env REPLYRACE_GATEWAY_CMD: *placeholder '{port:>20}' is not a plain name*expected plain placeholders*",
        ),
        (["--replyrace-log-pattern=("], {}, "", "*replyrace log pattern '(' is not a valid regex*"),
    ],
)
def test_bad_settings_are_usage_errors_naming_their_source(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    ini: str,
    message: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_x="def test_x(): pass")
    result = run_inprocess(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_precedence_ini_env_cli_marker(race_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    race_pytester.makeini(
        f"""
        [pytest]
        replyrace_calls = 2
        replyrace_gap = 0.01
        replyrace_gateway_cmd = {race_gateway_cmd()}
        """
    )
    race_pytester.makepyfile(
        test_prec=ONE_TEST
        + """
import pytest

@pytest.mark.replyrace(calls=1)
def test_marker(sequential_sender):
    result = sequential_sender.run()
    print("CALLS", len(result.calls), "GAP", result.gap)
"""
    )
    result = run(race_pytester, "-s")
    result.stdout.fnmatch_lines(["*CALLS 2 GAP 0.01*", "*CALLS 1 GAP 0.01*"])
    monkeypatch.setenv("REPLYRACE_CALLS", "3")
    result = run(race_pytester, "-s")
    result.stdout.fnmatch_lines(["*replyrace: calls=3 gap=10ms*", "*CALLS 3 GAP 0.01*", "*CALLS 1 GAP 0.01*"])
    result = run(race_pytester, "-s", "--replyrace-calls=4", "--replyrace-gap=0")
    result.stdout.fnmatch_lines(["*CALLS 4 GAP 0.0*", "*CALLS 1 GAP 0.0*"])


def test_bad_rtt_range_is_a_collection_error_naming_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.rtt_range("fast", 2)
        def test_race(sequential_sender):
            pass

        def test_other():
            pass
        """
    )
    result = run_inprocess(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_bad.py::test_race: @pytest.mark.rtt_range('fast', 2): lo: 'fast' is not a duration; expected a number of seconds*"
        ]
    )


@pytest.mark.parametrize(
    ("decorator", "arguments", "message"),
    [
        (
            "@pytest.mark.replyrace(gap=-0.5)",
            "sequential_sender",
            "*test_bad.py::test_race: @pytest.mark.replyrace(gap=-0.5): gap: -0.5 must be >= 0*",
        ),
        (
            '@pytest.mark.rtt_range("50ms", "1s")',
            "",
            "*needs the test to use one of the fixtures sequential_sender, fake_provider or replyrace_rtt*",
        ),
    ],
    ids=["bad-replyrace-marker", "rtt-range-without-fixture"],
)
def test_marker_misuse_is_a_collection_error(
    pytester: pytest.Pytester, decorator: str, arguments: str, message: str
) -> None:
    pytester.makepyfile(test_bad=f"import pytest\n\n{decorator}\ndef test_race({arguments}):\n    pass\n")
    result = run_inprocess(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_ids_and_rtt_reach_the_provider(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ids="""
        import pytest

        @pytest.mark.rtt_range("50ms", "1.5s", steps=3, scale="linear")
        def test_rtt(fake_provider, replyrace_rtt):
            assert fake_provider.rtt.lo == replyrace_rtt

        @pytest.mark.rtt_range(0.2, 0.2, steps=1)
        def test_pinned(replyrace_rtt):
            assert replyrace_rtt == 0.2
        """
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_rtt?rtt=50ms? PASSED*",
            "*test_rtt?rtt=780ms? PASSED*",
            "*test_rtt?rtt=1.5s? PASSED*",
            "*test_pinned?rtt=200ms? PASSED*",
        ]
    )


def test_ids_stay_unique_below_a_microsecond(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ids="""
        import pytest

        @pytest.mark.rtt_range(1e-12, 2e-12, steps=3)
        @pytest.mark.gap_range(0, 1e-9, steps=2)
        def test_tiny(replyrace_rtt, replyrace_gap):
            pass
        """
    )
    result = run(pytester, "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    ids = [line for line in result.stdout.lines if line.startswith("test_ids.py::")]
    assert ids == [
        f"test_ids.py::test_tiny[rtt={rtt}-gap={gap}]"
        for rtt in ("1e-12s", "1.4e-12s", "2e-12s")
        for gap in ("0.0s", "1e-09s")
    ]


def test_no_gateway_configured_skips_with_a_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x=ONE_TEST)
    result = run(pytester, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*replyrace: no gateway configured; set replyrace_gateway_cmd*--replyrace-gateway-url*"]
    )


def test_gateway_that_exits_at_once_errors_with_code_and_log(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_x=ONE_TEST)
    result = run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd('--exit-at-start', '3')}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*race_gateway.py*", "*exit*3*", "*exiting at start*"])
    assert_no_leak()


def test_gateway_that_never_becomes_ready_errors_and_is_stopped(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_x=ONE_TEST)
    result = run(
        race_pytester,
        f"--replyrace-gateway-cmd={race_gateway_cmd('--never-ready', '--ignore-sigterm')}",
        "--replyrace-ready-timeout=1.5",
        "--replyrace-stop-grace=0.5",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*race_gateway.py*--never-ready*", "*1.5*"])
    assert_no_leak()


def test_report_header_shows_gateway_settings_and_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    result = run(
        pytester, "--replyrace-gateway-url=http://127.0.0.1:9", "--replyrace-seed=1234", "--replyrace-gap=50ms"
    )
    result.stdout.fnmatch_lines(
        [
            "replyrace 0.1.0: gateway=attach http://127.0.0.1:9 transport=http ready=http:/readyz ready-timeout=60s",
            "replyrace: calls=10 gap=50ms call-timeout=30s rtt=50ms jitter=0 seed=1234 (given; replay with --replyrace-seed 1234)",
        ]
    )
    assert sum("replyrace 0.1.0:" in line for line in result.outlines) == 1  # registered once


def test_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest_subprocess("-p", "no:pytest_replyrace", timeout=60)
    result.assert_outcomes(passed=1)
    assert not any("replyrace" in line for line in result.outlines)


def test_nothing_starts_unless_a_fixture_asks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_x="""
        import threading, os

        def test_quiet():
            names = [t.name for t in threading.enumerate()]
            assert "replyrace-fake-provider" not in names
            assert os.listdir(f"/proc/{os.getpid()}/task") and len(names) == 1
        """
    )
    run(pytester, "--replyrace-gateway-cmd=false").assert_outcomes(passed=1)


def test_report_json_schema(race_pytester: pytest.Pytester) -> None:
    race_pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.mark.replyrace(calls=2)
        def test_run(sequential_sender):
            sequential_sender.run().assert_clean()
        """
    )
    report = race_pytester.path / "out" / "history.json"
    run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd()}", f"--replyrace-report={report}").assert_outcomes(
        passed=1
    )
    doc = json.loads(report.read_text())
    assert doc["version"] == 1 and isinstance(doc["seed"], int)
    (test,) = doc["tests"]
    assert test["node_id"] == "test_x.py::test_run" and test["pattern"] == "pp" and test["rtt"] == 0.05
    call = test["calls"][0]
    assert set(call) >= {"index", "token", "sent_at", "replied_at", "latency", "reply", "run_id", "letter", "journal"}
    assert call["journal"][0]["tokens"] == [call["token"]] and call["journal"][0]["status"] == 200
