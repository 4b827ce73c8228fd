"""The plugin against released OpenClaw builds: it must catch the race the
bug report was about (2026.5.7) and stay quiet on the release that fixed it
(2026.5.28). Gap 0, 6 calls, 50 ms provider RTT, as measured in the protocol
notes (§4)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.openclaw

RACE_TEST = """
import pytest

@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.replyrace(calls=6, gap=0)
def test_sequential_chat_send(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()
"""


# OpenClaw's provider `api` → the fake provider's journal name for the dialect it arrives in.
APIS = {
    "openai-completions": "openai-chat",
    "anthropic-messages": "anthropic-messages",
    "openai-responses": "openai-responses",
    "ollama": "ollama",
}


def run_against(
    pytester: pytest.Pytester,
    release: Callable[[str], tuple[Path, Path]],
    version: str,
    *options: str,
    api: str = "openai-completions",
    test: str = RACE_TEST,
) -> tuple[pytest.RunResult, dict[str, object]]:
    """Run ``test`` against OpenClaw ``version`` through the openclaw profile, its provider in ``api``, with
    more ``options``."""
    openclaw, node = release(version)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\ntimeout = 300\n")
    pytester.makepyfile(test_openclaw=test)
    report = pytester.path / "history.json"
    result = pytester.runpytest_subprocess(
        "-p",
        "pytest_replyrace",
        "--replyrace-gateway=openclaw",
        f"--replyrace-openclaw={openclaw}",
        f"--replyrace-node={node}",
        "--replyrace-call-timeout=60",
        "--replyrace-ready-timeout=120",
        f"--replyrace-report={report}",
        f"--replyrace-openclaw-api={api}",
        *options,
        timeout=400,
    )
    history = json.loads(report.read_text())
    (test,) = history["tests"]
    # The model was really called in that API: every journaled request came in its dialect.
    assert {e["api"] for call in test["calls"] for e in call["journal"]} == {APIS[api]}, test["calls"]
    return result, history


def race_once(
    pytester: pytest.Pytester, release: Callable[[str], tuple[Path, Path]], version: str, api: str
) -> tuple[pytest.RunResult, dict[str, Any]]:
    """The race test once against ``version`` with its provider in ``api``: the run and its one JSON test."""
    result, history = run_against(pytester, release, version, api=api)
    (test,) = history["tests"]  # type: ignore[misc]
    print(f"{version} {api} pattern:", test["pattern"])
    return result, test


@pytest.mark.parametrize("api", list(APIS))
def test_openclaw_2026_5_7_is_caught(
    api: str,
    pytester: pytest.Pytester,
    leak_marker: str,
    openclaw_release: Callable[[str], tuple[Path, Path]],
    assert_no_leak: Callable[[], None],
) -> None:
    result, test = race_once(pytester, openclaw_release, "2026.5.7", api)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "replyrace 0.1.0: gateway=openclaw * transport=openclaw *",
            "*replyrace fast-fail at rtt=50ms, gap=0ms: * — pattern *f*",
        ]
    )
    assert "f" in test["pattern"] and test["pattern"][0] == "p"
    # The race shows one of two ways (measured in every API, more often the second when the first turn is
    # slow, on a loaded machine): the followup drain fails with ReplyRunAlreadyActiveError (logged), or the
    # send is queued as a followup and its token answered later under another runId (`pfffff`, no log line).
    drain_failed = "ReplyRunAlreadyActiveError: Reply run already active" in result.stdout.str()
    answered_later = any(
        call["letter"] == "f" and any(call["token"] in late for late in call["late_replies"]) for call in test["calls"]
    )
    assert drain_failed or answered_later, test["calls"]
    assert_no_leak()


@pytest.mark.parametrize("api", list(APIS))
def test_openclaw_2026_5_28_is_clean(
    api: str,
    pytester: pytest.Pytester,
    leak_marker: str,
    openclaw_release: Callable[[str], tuple[Path, Path]],
    assert_no_leak: Callable[[], None],
) -> None:
    result, test = race_once(pytester, openclaw_release, "2026.5.28", api)
    result.assert_outcomes(passed=1)
    assert test["pattern"] == "pppppp"
    result.stdout.fnmatch_lines(["*50ms     0ms  pppppp*clean (passed)"])
    assert_no_leak()
