"""A real multi-step turn (issue 28): a LangGraph graph with two model nodes on the Agent Server, through the
built-in ``langgraph`` API file. The reply node answers; a summary node then calls the model again with the reply
quoted as a human message, and its tokens stream in the same run after the reply's finish_reason chunk. A correct
gateway: clean at ``end`` and ``text`` with ``history="exact"`` (and at ``first``: the server queues the next run
behind the whole graph), the summary's text late text of the same turn. Measured: ppppp at each anchor, ~17 s."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .anchors import inner, patterns
from .langgraph_install import LANGGRAPH_CLI_VERSION
from .test_langgraph_live import QUIET, TEMPLATES, langgraph_ini

pytestmark = pytest.mark.gateways


def test_a_graph_with_a_summary_step_is_clean_at_every_anchor_with_exact_history(
    pytester: pytest.Pytester,
    langgraph: Path,
    monkeypatch: pytest.MonkeyPatch,
    leak_marker: str,
    assert_no_leak: Callable[[], None],
) -> None:
    for name, value in QUIET.items():
        monkeypatch.setenv(name, value)
    pytester.makeini(langgraph_ini(langgraph).replace(str(TEMPLATES / "agent.py"), str(TEMPLATES / "agent_steps.py")))
    pytester.makepyfile(test_langgraph=inner(5, "queue", history="exact", anchors=("end", "text", "first")))
    report = pytester.path / "history.json"
    start = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-p", "pytest_replyrace", "--replyrace-api=langgraph", f"--replyrace-report={report}", "-s", timeout=900
    )
    tests = patterns(report)
    for send_at, test in tests.items():
        print(f"langgraph-cli {LANGGRAPH_CLI_VERSION} two nodes send_at={send_at}: {test['pattern']}")
    print(f"{time.monotonic() - start:.1f} s for the run")
    assert {send_at: test["pattern"] for send_at, test in tests.items()} == {
        "end": "ppppp",
        "text": "ppppp",
        "first": "ppppp",
    }
    result.assert_outcomes(passed=3)
    for test in tests.values():
        for call in test["calls"]:
            # The reply is the reply node's text; the summary node's came after it, in the same answer.
            assert call["reply"] == f"ECHO {call['token']}", call["reply"]
            assert call["after_text"] == ["ECHO (no token)"], call["after_text"]
            assert call["answered_twice"] is None and call["history_problem"] is None
            assert [e["kind"] for e in call["journal"]] == ["text"]
    assert_no_leak()
