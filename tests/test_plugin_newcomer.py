"""A newcomer's first mistakes get answers: real gateway processes, pytest in a subprocess."""

from __future__ import annotations

import shlex
from collections.abc import Callable

import pytest
from support.docs import doc_block
from support.selftest import RACE_GATEWAY, race_gateway_cmd, run

from pytest_replyrace.loopback import free_port

QUIET_PORT_WARNING = ("-W", "ignore:the gateway command has no")
ONE_RACE = """
import pytest

@pytest.mark.replyrace(calls=3)
def test_race(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()
"""


def no_port_cmd(*options: str) -> str:
    """The test gateway started without ``{port}``: it reads REPLYRACE_GATEWAY_PORT unless given --port."""
    return " ".join(["{python}", shlex.quote(str(RACE_GATEWAY)), "--provider-url", "{provider_url}", *options])


@pytest.mark.slow  # long: CI runs it in the slow step
def test_a_command_without_port_warns_and_says_how_to_silence_it(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_one=ONE_RACE)
    result = run(race_pytester, f"--replyrace-gateway-cmd={no_port_cmd()}")
    result.assert_outcomes(errors=1)  # filterwarnings = error
    result.stdout.fnmatch_lines(
        [
            "*GatewayPortWarning: the gateway command has no {port} (replyrace: *, --replyrace-gateway-cmd); the "
            "gateway must then listen on the port in the environment variable REPLYRACE_GATEWAY_PORT*"
            "filterwarnings = ignore:the gateway command has no",
        ]
    )
    # This gateway does read REPLYRACE_GATEWAY_PORT: silenced as the message says, the race runs.
    run(race_pytester, f"--replyrace-gateway-cmd={no_port_cmd()}", *QUIET_PORT_WARNING).assert_outcomes(passed=1)
    # With {port} there is nothing to warn about.
    run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd()}").assert_outcomes(passed=1)
    assert_no_leak()


@pytest.mark.slow  # long: CI runs it in the slow step
def test_a_gateway_on_the_wrong_port_gets_a_progress_line_and_the_probed_url(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_one=ONE_RACE)
    wrong = free_port()
    result = run(
        race_pytester,
        f"--replyrace-gateway-cmd={no_port_cmd('--port', str(wrong))}",
        "--replyrace-ready-timeout=7",
        *QUIET_PORT_WARNING,
    )  # default capture: no -s
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "replyrace: waiting for the gateway at http://127.0.0.1:*/readyz (5s of 7s; last: connection refused)",
            "*still not ready (http:/readyz) after 7s; it was stopped",
            "*probed: http://127.0.0.1:*/readyz; last result: connection refused",
        ]
    )
    assert f"127.0.0.1:{wrong}/readyz" not in result.stdout.str()  # it probed the port it gave, not the gateway's
    assert_no_leak()


def test_a_gateway_that_exits_before_ready_names_the_probed_url(race_pytester: pytest.Pytester) -> None:
    race_pytester.makepyfile(test_one=ONE_RACE)
    result = run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd('--exit-at-start', '3')}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*exited with exit code 3 before it was ready (http:/readyz)",
            "*probed: http://127.0.0.1:*/readyz; last result: *",
        ]
    )


@pytest.mark.parametrize(
    "how",
    [
        ("--replyrace-require-gateway",),
        pytest.param(("--replyrace-require-gateway=on",), marks=pytest.mark.slow),
        pytest.param(("env",), marks=pytest.mark.slow),
    ],
)
def test_require_gateway_turns_the_no_gateway_skip_into_an_error(
    race_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: tuple[str, ...]
) -> None:
    race_pytester.makepyfile(test_one=ONE_RACE)
    run(race_pytester).assert_outcomes(skipped=1)
    if how == ("env",):
        monkeypatch.setenv("REPLYRACE_REQUIRE_GATEWAY", "on")
        how = ()
    result = run(race_pytester, *how)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*replyrace: no gateway configured, and a gateway is required (*); set replyrace_gateway_cmd (ini)*"]
    )


def test_a_transport_that_is_not_one_is_named_before_anything_is_sent(race_pytester: pytest.Pytester) -> None:
    race_pytester.makeconftest(
        """
        import pytest

        class ReadmeOnlyTransport:  # methods not async, no name, no late_replies
            def __init__(self, url):
                self.url = url
            def open(self):
                pass
            def send(self, session_key, message, idempotency_key):
                pass
            def close(self):
                pass

        @pytest.fixture
        def replyrace_transport_factory(gateway):
            return lambda: ReadmeOnlyTransport(gateway.url)
        """
    )
    race_pytester.makepyfile(test_one=ONE_RACE)
    result = run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd()}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*TransportContractError: replyrace_transport_factory made ReadmeOnlyTransport *, which is not a replyrace "
            "Transport: no `name` attribute *; `open` is not async *; `send` is not async *; `close` is not async *; "
            "no plain `late_replies` method *",
        ]
    )
    assert "can't be used in 'await' expression" not in result.stdout.str()


def test_the_docs_transport_example_runs_against_a_real_gateway(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makeconftest(doc_block("03-transports.md", "transport-example"))
    race_pytester.makepyfile(
        test_one=ONE_RACE.replace("assert_no_fast_fail()", "assert_clean()")
        + """
def test_the_readme_transport_is_used(replyrace_transport_factory):
    assert type(replyrace_transport_factory()).__name__ == "MyTransport"
"""
    )
    result = run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd()}")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*50ms     0ms  ppp *clean (passed)"])
    # Its TransportError path: a gateway that drops call 2's connection gives an `e`, and the run goes on.
    result = run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd('--drop-on', '2')}", "-k", "test_race")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*  2 * e  transport: *", "*50ms     0ms  pep *unreliable: only call 2 (failed)"])
    assert_no_leak()


def test_the_docs_async_example_runs(race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]) -> None:
    race_pytester.makepyfile(test_async=doc_block("01-writing-race-tests.md", "async-example"))
    result = run(race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd()}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["test_async.py::test_sequential_sends_async", "*50ms     0ms  pppppp *clean (passed)"])
    assert_no_leak()


def test_report_paths_are_printed_and_the_replay_line_carries_every_option(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_one=ONE_RACE)
    report, html = race_pytester.path / "out" / "run.json", race_pytester.path / "out" / "run.html"
    # 450 ms of background work per turn at a 50 ms RTT: every call after the first fast-fails.
    cmd = race_gateway_cmd("--background-ms", "450")
    options = (
        f"--replyrace-gateway-cmd={cmd}",
        "--replyrace-gap=0",
        "--replyrace-shrink=0",
        "--replyrace-force-calls=4",
        f"--replyrace-report={report}",
        f"--replyrace-html={html}",
    )
    result = run(race_pytester, *options)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"replyrace: JSON report written to {report}",
            f"replyrace: HTML report written to {html}",
        ]
    )
    line = next(text for text in result.outlines if "replay: pytest" in text)
    words = shlex.split(line.split("replay: ", 1)[1])
    assert words[:3] == ["pytest", "test_one.py::test_race", "--replyrace-seed"]
    for option in options[:3]:
        assert option in words
    assert words[-2:] == ["--replyrace-force-calls", "4"]
    assert not any(word.startswith(("--replyrace-report", "--replyrace-html")) for word in words)
    # The replay alone reruns the same failure: gateway, options and call count.
    again = run(race_pytester, *words[1:])
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*replyrace fast-fail at rtt=50ms, gap=0ms: all after the first — pattern pfff *"])
    assert_no_leak()
