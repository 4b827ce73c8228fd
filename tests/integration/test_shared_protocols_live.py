"""Real servers of the shared protocols, spoken by the built-in ``a2a`` and ``agui`` API files: Pydantic AI (PyPI)
through fasta2a (A2A) and through its AG-UI adapter, with its conversation store (the server keeps the thread; one
message per run) and without it (the client sends ``{history}``), and LangGraph's Agent Server at
``/a2a/{assistant_id}``. Each row of the docs' "The pinned servers" table is measured here.

What they did (calls=6, rtt 50 ms), and why:

- A2A on Pydantic AI (fasta2a): clean at end, text and first; the worker runs a context's tasks one after another.
- AG-UI without a store, the client sending ``{history}``: clean at end and text. At first, message 2 goes with
  message 1 and no reply to it; the server runs both, and each reply carries every message not yet answered:
  "answered twice" (the user reads each message answered again), which is right.
- AG-UI with its conversation store, one message per run: clean at end. At text (the first ``TEXT_MESSAGE_END``)
  ``phhhhh``: the store saves the turn when the run finishes, after the text-complete event, so the next run loads
  a thread without it. At first ``pppphh``: concurrent runs on one thread, a later save drops an earlier turn.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_replyrace.transports.api_file import builtin_text

from .anchors import inner, patterns
from .langgraph_install import LANGGRAPH_CLI_VERSION
from .openclaw_install import InstallError
from .pydantic_ai_install import PYDANTIC_AI_VERSION, ensure_pydantic_ai
from .test_langgraph_live import QUIET, langgraph_ini

pytestmark = pytest.mark.gateways

SERVER = Path(__file__).parent / "pydantic_ai" / "server.py"
TESTS = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pydantic_ai(pytestconfig: pytest.Config) -> Path:
    """The python of the pinned Pydantic AI virtualenv (fasta2a, the AG-UI adapter, uvicorn)."""
    from .conftest import terminal_note

    try:
        return ensure_pydantic_ai(terminal_note(pytestconfig))
    except InstallError as exc:
        pytest.fail(f"could not install pydantic-ai-slim=={PYDANTIC_AI_VERSION}: {exc}", pytrace=False)


def one_message_agui() -> str:
    import sys

    sys.path.insert(0, str(TESTS))
    from test_plugin_protocols import one_message_agui as from_the_docs

    return from_the_docs()


def run_protocol(
    pytester: pytest.Pytester, python: Path, mode: str, api: str, ready: str = "http:/readyz"
) -> tuple[pytest.RunResult, dict[str, Any], float]:
    pytester.makeini(
        f"""
        [pytest]
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        timeout = 600
        replyrace_gateway_cmd = {python} {SERVER} {mode} {{port}} {{provider_url}}
        replyrace_ready = {ready}
        replyrace_ready_timeout = 120
        replyrace_call_timeout = 60
        """
    )
    # The conversation check at "exact": every earlier turn of the run, in order, in each model request.
    pytester.makepyfile(
        test_protocol=inner(6, "queue").replace('busy_policy="queue"', 'busy_policy="queue", history="exact"')
    )
    report = pytester.path / "history.json"
    start = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-p", "pytest_replyrace", f"--replyrace-api={api}", f"--replyrace-report={report}", "-s", timeout=900
    )
    took = time.monotonic() - start
    tests = patterns(report) if report.exists() else {}
    shown = {send_at: test["pattern"] for send_at, test in tests.items()}
    print(f"pydantic-ai {PYDANTIC_AI_VERSION} {mode} api={api}: {shown} ({took:.1f} s for the run)")
    return result, tests, took


def test_a2a_through_fasta2a_is_clean_at_end_text_and_first(
    pytester: pytest.Pytester, pydantic_ai: Path, leak_marker: str, assert_no_leak: Callable[[], None]
) -> None:
    result, tests, _ = run_protocol(pytester, pydantic_ai, "a2a", "a2a", ready="http:/.well-known/agent-card.json")
    assert {send_at: test["pattern"] for send_at, test in tests.items()} == dict.fromkeys(
        ("end", "text", "first"), "pppppp"
    )
    result.assert_outcomes(passed=3)
    for test in tests.values():  # the task ids are the run ids
        assert all(call["run_id"] for call in test["calls"])
    assert_no_leak()


def test_agui_without_a_store_takes_the_history_the_client_sends(
    pytester: pytest.Pytester, pydantic_ai: Path, leak_marker: str, assert_no_leak: Callable[[], None]
) -> None:
    result, tests, _ = run_protocol(pytester, pydantic_ai, "agui-client", "agui")
    assert {send_at: test["pattern"] for send_at, test in tests.items()} == dict.fromkeys(
        ("end", "text", "first"), "pppppp"
    )
    result.assert_outcomes(passed=2, failed=1)  # first: each reply answers every message not yet answered
    result.stdout.fnmatch_lines(["*answered twice: call 1: its token is in the replies of calls 1, 2*"])
    assert_no_leak()


def test_agui_with_its_store_is_clean_at_end_and_loses_turns_sent_before_the_save(
    pytester: pytest.Pytester, pydantic_ai: Path, leak_marker: str, assert_no_leak: Callable[[], None]
) -> None:
    pytester.path.joinpath("agui-one.toml").write_text(one_message_agui())
    result, tests, _ = run_protocol(pytester, pydantic_ai, "agui-server", "agui-one.toml")
    shown = {send_at: test["pattern"] for send_at, test in tests.items()}
    assert shown["end"] == "pppppp"
    # The store saves a turn at the run's end, after the text-complete event: a message sent at `text` or `first`
    # either misses the previous turn (h) or makes the store refuse to save it, said by an error event after the
    # reply (e, "the turn failed after its reply"); which one depends on timing, both are the same window.
    for send_at in ("text", "first"):
        assert set(shown[send_at][1:]) <= set("peh") and set(shown[send_at]) & set("eh"), shown
    result.assert_outcomes(passed=1, failed=2)
    assert_no_leak()


def test_agui_without_a_store_and_one_message_per_run_has_no_history(
    pytester: pytest.Pytester, pydantic_ai: Path, leak_marker: str, assert_no_leak: Callable[[], None]
) -> None:
    pytester.path.joinpath("agui-one.toml").write_text(one_message_agui())
    result, tests, _ = run_protocol(pytester, pydantic_ai, "agui-client", "agui-one.toml")
    # Each run sees only its own message: the format cannot send the rest. (At first the runs overlap, and a turn
    # still running when the next request went out is not owed to it: fewer h there.)
    assert tests["end"]["pattern"] == tests["text"]["pattern"] == "phhhhh"
    assert result.parseoutcomes()["failed"] >= 2
    assert_no_leak()


def langgraph_a2a_api() -> str:
    """The built-in a2a file pointed at the default assistant of the graph ``agent`` (as the docs say)."""
    assistant = uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "agent")
    text = builtin_text("a2a")
    changed = text.replace('\nagent_path = ""', f'\nagent_path = "a2a/{assistant}"', 1)
    assert changed != text
    return changed


def test_a2a_on_langgraphs_agent_server_is_clean_at_end_text_and_first(
    pytester: pytest.Pytester,
    langgraph: Path,
    monkeypatch: pytest.MonkeyPatch,
    leak_marker: str,
    assert_no_leak: Callable[[], None],
) -> None:
    for name, value in QUIET.items():
        monkeypatch.setenv(name, value)
    pytester.makeini(langgraph_ini(langgraph))
    pytester.path.joinpath("a2a-langgraph.toml").write_text(langgraph_a2a_api())
    pytester.makepyfile(
        test_protocol=inner(6, "queue").replace('busy_policy="queue"', 'busy_policy="queue", history="exact"')
    )
    report = pytester.path / "history.json"
    start = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-p",
        "pytest_replyrace",
        "--replyrace-api=a2a-langgraph.toml",
        f"--replyrace-report={report}",
        "-s",
        timeout=900,
    )
    tests = patterns(report)
    shown = {send_at: test["pattern"] for send_at, test in tests.items()}
    print(f"langgraph-cli {LANGGRAPH_CLI_VERSION} a2a: {shown} ({time.monotonic() - start:.1f} s for the run)")
    assert shown == dict.fromkeys(("end", "text", "first"), "pppppp")
    result.assert_outcomes(passed=3)
    assert_no_leak()
