"""A setup that fails is said once and to the point: a gateway that cannot start or become ready, a command
written for a shell, a misspelt ini key, a bad marker. Real gateway processes, pytest in a subprocess."""

from __future__ import annotations

import shlex
from collections.abc import Callable

import pytest
from support.selftest import RACE_GATEWAY, race_gateway_cmd, run, run_inprocess

THREE_RACES = """
import pytest

@pytest.mark.replyrace(calls=2)
def test_a(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()

@pytest.mark.replyrace(calls=2)
def test_b(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()

@pytest.mark.replyrace(calls=2)
def test_c(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()
"""
POINTER = "replyrace: the gateway could not start for test_three.py::test_a (its error above); it is not started again"


def error_sections(result: pytest.RunResult) -> dict[str, list[str]]:
    """The lines under each ``ERROR at setup of <test>`` header, up to the next header or the summary."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in result.outlines:
        if " ERROR at setup of " in line:
            current = sections.setdefault(line.split(" ERROR at setup of ", 1)[1].split(" ", 1)[0], [])
        elif line.startswith("=") and current is not None:
            current = None
        elif current is not None:
            current.append(line)
    return sections


def test_a_gateway_that_cannot_start_fails_the_first_test_alone_and_points_there_from_the_rest(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_three=THREE_RACES)
    typo = race_gateway_cmd().replace(shlex.quote(str(RACE_GATEWAY)), shlex.quote(f"{RACE_GATEWAY}.typo"))
    result = run(race_pytester, f"--replyrace-gateway-cmd={typo}")
    result.assert_outcomes(errors=3)
    sections = error_sections(result)
    first = sections["test_a"]
    assert first[0] == "replyrace: gateway exited with exit code 2 before it was ready (http:/readyz)", first
    assert any("race_gateway.py.typo': [Errno 2] No such file or directory" in line for line in first), first
    assert not any("Traceback" in line or "pytest_asyncio" in line or ".py:" in line for line in first[:3]), first
    assert sections["test_b"] == [POINTER] and sections["test_c"] == [POINTER], sections
    # --full-trace shows where it was raised.
    full = run(race_pytester, f"--replyrace-gateway-cmd={typo}", "--full-trace", "-k", "test_a")
    full.assert_outcomes(errors=1)
    full.stdout.fnmatch_lines(["*pytest_replyrace/gateway/launcher.py:*", "E *GatewayStartError: gateway exited*"])
    assert_no_leak()


def test_a_factory_launch_is_not_repeated_for_a_command_that_failed_and_a_shell_assignment_gets_its_hint(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    # A function-scoped override: every test asks the pool again; the pool does not run the failed command again.
    race_pytester.makeconftest(
        f"""
        import pytest

        @pytest.fixture
        def gateway(replyrace_gateway_factory):
            return replyrace_gateway_factory.launch({("VAR=1 " + race_gateway_cmd())!r})
        """
    )
    race_pytester.makepyfile(test_three=THREE_RACES)
    result = run(race_pytester)
    result.assert_outcomes(errors=3)
    sections = error_sections(result)
    (first,) = sections["test_a"]
    assert (
        "could not be started: [Errno 2] No such file or directory: 'VAR=1'; the command is not run by a shell" in first
    )
    assert "start the command with env: env VAR=1 " in first
    assert sections["test_b"] == [POINTER] and sections["test_c"] == [POINTER], sections
    # The way the hint shows works.
    race_pytester.makeconftest(
        f"""
        import pytest

        @pytest.fixture
        def gateway(replyrace_gateway_factory):
            return replyrace_gateway_factory.launch({("env VAR=1 " + race_gateway_cmd())!r})
        """
    )
    run(race_pytester, "-k", "test_a").assert_outcomes(passed=1, deselected=2)
    assert_no_leak()


def test_a_steady_404_on_the_readiness_path_names_the_setting_and_the_path_that_answered(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_three=THREE_RACES)
    result = run(
        race_pytester,
        f"--replyrace-gateway-cmd={race_gateway_cmd()}",
        "--replyrace-ready=http:/health",
        "--replyrace-ready-timeout=2",
    )
    result.assert_outcomes(errors=3)
    sections = error_sections(result)
    assert sections["test_a"][:3] == [
        "replyrace: gateway still not ready (http:/health) after 2s; it was stopped",
        sections["test_a"][1],
        "  hint: /health answered HTTP 404, so the gateway has no such path; it answered 2xx on /readyz: set "
        "replyrace_ready (ini), REPLYRACE_READY (env) or --replyrace-ready (command line) to http:/readyz",
    ], sections["test_a"]
    assert sections["test_a"][1].endswith("/health; last result: HTTP 404")
    assert sections["test_b"] == [POINTER] and sections["test_c"] == [POINTER], sections
    assert_no_leak()


@pytest.mark.parametrize("warnings", ["error", "default"])
def test_a_misspelt_ini_key_is_one_usage_error_naming_the_nearest_keys(
    pytester: pytest.Pytester, warnings: str
) -> None:
    pytester.makeini(
        f"""
        [pytest]
        filterwarnings = {warnings}
        replyrace_gatway_cmd = {{python}} gw.py --port {{port}}
        """
    )
    pytester.makepyfile(test_three=THREE_RACES)
    result = run_inprocess(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines[0] == (
        f"ERROR: replyrace: unknown ini key in {pytester.path / 'tox.ini'}: 'replyrace_gatway_cmd': nearest known "
        "keys: replyrace_gateway_cmd, replyrace_gateway, replyrace_gateway_url (a misspelt key is not read; "
        "`pytest --help` lists every replyrace_ key)"
    ), result.errlines
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_a_misspelt_key_in_pyproject_is_found_and_other_plugins_keys_are_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        replayrace_rtt = "50ms"
        timeout = 30
        """
    )
    pytester.makepyfile(test_three=THREE_RACES)
    result = run_inprocess(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: replyrace: unknown ini key in *pyproject.toml: 'replayrace_rtt': nearest*"])
    assert "timeout" not in result.stderr.str()


def test_a_bad_marker_is_reported_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marker="""
        import pytest

        @pytest.mark.replyrace(calls=3, bogus=1)
        def test_bad(sequential_sender):
            pass
        """
    )
    result = run_inprocess(pytester)
    result.assert_outcomes(errors=1)
    text = result.stdout.str()
    # The short summary repeats it, whole when pytest sees a CI environment: count the report above it.
    report = text.split("short test summary info")[0]
    assert report.count("got an unexpected keyword argument 'bogus'") == 1, text
    assert "During handling of the above exception" not in text


def test_a_restart_that_fails_is_said_once_and_not_tried_again(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_three=THREE_RACES.replace("calls=2", "calls=3"))
    # The gateway dies at its second call; started again, it exits at once (as a build broken by the first run
    # might): test_a errors at teardown on the crash, test_b's restart fails with its message, test_c gets one line.
    gateway = race_gateway_cmd("--crash-on", "2")
    once = f"test -e {{state_dir}}/started && exit 3; touch {{state_dir}}/started; exec {gateway}"
    result = run(race_pytester, f"--replyrace-gateway-cmd=sh -c {shlex.quote(once)}")
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_a*", "replyrace: the gateway died during this test: *"])
    sections = error_sections(result)
    assert sections["test_b"][0] == "replyrace: gateway exited with exit code 3 before it was ready (http:/readyz)"
    assert sections["test_c"] == [POINTER.replace("test_a (", "test_b (")], sections
    assert_no_leak()


def test_an_attached_gateway_whose_readiness_path_is_404_gets_the_hint() -> None:
    from pytest_replyrace import AttachedGateway, GatewayStartError, LaunchedGateway

    # A real gateway answering /readyz, attached with the wrong path; readiness never calls the provider.
    with (
        LaunchedGateway(race_gateway_cmd(), provider_url="http://127.0.0.1:9/v1") as running,
        pytest.raises(GatewayStartError) as caught,
    ):
        AttachedGateway(running.url, ready="http:/health", ready_timeout=1).start()
    assert str(caught.value).endswith(
        "last result: HTTP 404\n  hint: /health answered HTTP 404, so the gateway has no such path; it answered 2xx "
        "on /readyz: set replyrace_ready (ini), REPLYRACE_READY (env) or --replyrace-ready (command line) to "
        "http:/readyz"
    ), caught.value
    assert not running.is_running()
