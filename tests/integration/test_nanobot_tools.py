"""nanobot-ai with tool-calling turns (issue #22): the scripted model calls nanobot's built-in ``list_dir`` on
its own workspace (``{"path": "."}``, read-only) once per turn. Gap 0, 6 calls, 50 ms provider RTT, stream off
and on, ``history="exact"``.

The config (``nanobot/tools-config.json``) keeps the tools to the workspace (``restrictToWorkspace``) and turns
off the ones that execute or go out (``exec``, ``web``, ``cliApps``) and ``my`` (its self-inspection tool).

What the tool requests looked like (nanobot-ai 0.3.5, measured): each request offers the tools named in
``OFFERED`` below; the follow-up re-sends the whole conversation (system prompt, every earlier turn with its
tool call and result, this turn's user message), then the assistant message with ``tool_calls`` and a
``{"role": "tool", "tool_call_id", "name", "content"}`` message holding the listing; no user message after the
result. nanobot sends the issued ids back unchanged (no journal note). Every call is answered once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from .nanobot_install import NANOBOT_VERSION
from .test_nanobot_live import nanobot_ini

pytestmark = pytest.mark.gateways

TEMPLATE = Path(__file__).parent / "nanobot" / "tools-config.json"

OFFERED = [
    "apply_patch",
    "create_goal",
    "edit_file",
    "find_files",
    "grep",
    "list_dir",
    "list_sessions",
    "message",
    "read_file",
    "read_session",
    "search_sessions",
    "send_session_message",
    "spawn",
    "update_goal",
    "write_file",
]
"""Measured: the 15 tools every request offered with this config, in the order sent (sorted by name)."""

TOOL_TEST = """
import pytest

@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.provider_model(tool_calls=1, tool="list_dir", arguments='{"path": "."}')
@pytest.mark.replyrace(calls=6, gap=0, history="exact")
def test_tool_turns(sequential_sender):
    sequential_sender.run().assert_clean()
"""


@pytest.mark.parametrize("stream", ["off", "on"])
def test_nanobot_tool_turns_are_clean_with_an_intact_history(
    pytester: pytest.Pytester, nanobot: Path, leak_marker: str, assert_no_leak: Callable[[], None], stream: str
) -> None:
    pytester.makeini(nanobot_ini(nanobot, TEMPLATE))
    pytester.makepyfile(test_nanobot=TOOL_TEST)
    report = pytester.path / "history.json"
    result = pytester.runpytest_subprocess(
        "-p", "pytest_replyrace", f"--replyrace-stream={stream}", f"--replyrace-report={report}", timeout=400
    )
    (test,) = json.loads(report.read_text())["tests"]
    print(f"nanobot-ai {NANOBOT_VERSION} list_dir stream={stream}: {test['pattern']}")
    print(test["timeline"])
    result.assert_outcomes(passed=1)
    assert test["pattern"] == "pppppp"
    tokens = [call["token"] for call in test["calls"]]
    issued: list[str] = []
    answered: Counter[str] = Counter()
    for i, call in enumerate(test["calls"]):
        tool, text = call["journal"]
        assert (tool["step"], tool["kind"], text["step"], text["kind"]) == (1, "tool", 2, "text"), call["journal"]
        assert tool["tools"] == text["tools"] == OFFERED, tool["tools"]
        assert tool["tokens"] == text["tokens"] == [call["token"]]
        assert tool["history"] == text["history"] == tokens[:i]
        assert len(tool["issued"]) == 1 and text["answered"] == tool["issued"] and text["issued"] == []
        assert tool["note"] is None and text["note"] is None, (tool["note"], text["note"])
        assert call["reply"] == f"ECHO {call['token']}"
        issued += tool["issued"]
        answered.update(i for e in call["journal"] for i in e["answered"])
    assert answered == Counter(issued) and len(set(issued)) == 6, (issued, answered)
    assert_no_leak()
