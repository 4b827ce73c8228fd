"""Real OpenClaw releases with tool-calling turns (issue #22): ``--replyrace-openclaw-tools minimal`` and the
scripted model's one tool call per turn, gap 0, 6 calls, 50 ms provider RTT, provider API openai-completions.

What the tool requests looked like (measured on these releases):

- 2026.5.7 and 2026.5.28 offer one tool, ``session_status``; the model calls it with ``{}``. 2026.9.6 offers
  three, ``tool_call``, ``tool_describe`` and ``tool_search`` (its Tool Search wrapper: the system prompt lists
  ``session_status`` as a deferred tool, "not directly callable"); a direct ``session_status`` call comes back
  as the result "Tool session_status not found", so the model calls ``tool_call`` with
  ``{"id": "session_status", "args": {}}``, which runs it.
- Every request streams (``stream: true``) and re-sends the whole conversation: system prompt, each earlier
  turn (user message, the assistant's tool call, the tool result, the assistant's text), then this turn's user
  message, the assistant message with ``tool_calls`` (``content: null``) and one ``{"role": "tool",
  "tool_call_id", "content"}`` message with the status card. No user message follows the result.
- OpenClaw replays tool-call ids with their letters and digits only (its strict tool-call-id mode for
  ``openai-completions``): the provider's ``call_rr-ab12-3_1`` comes back as ``callrrab1231``, in the
  assistant's call and in the result alike. The fake provider maps it to the issued id and says so in the
  journal's ``note``; before it did, every call was ``h`` ("a tool result for callrr…, never issued").

Every tool call is answered exactly once, and 2026.5.28 and 2026.9.6 stay clean with ``history="exact"``;
2026.5.7's gap-0 fast-fail race still shows with tool turns on (``pffpfp`` in 2 runs; ``pfffff`` in 4, some beside
another test, its sends queued as followups and answered later, one of them still between its tool step and
its text step when the run ended: that call's result never came back, nothing was answered twice).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_replyrace.provider.server import RENAMED_NOTE, stripped_id

from .test_openclaw_live import run_against

pytestmark = pytest.mark.openclaw

TOOL_TEST = """
import pytest

@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.provider_model(tool_calls=1, tool="{tool}", arguments={arguments!r})
@pytest.mark.replyrace(calls=6, gap=0, history="{history}")
def test_tool_turns(sequential_sender):
    sequential_sender.run().{check}()
"""

SESSION_STATUS = ("session_status", "{}")
"""The tool and its arguments: never ``model``, which writes a session override."""
TOOL_SEARCH_CALL = ("tool_call", json.dumps({"id": "session_status", "args": {}}))
"""2026.9's Tool Search wrapper running session_status."""

OFFERED = {
    "2026.5.7": ["session_status"],
    "2026.5.28": ["session_status"],
    "2026.9.6": ["tool_call", "tool_describe", "tool_search"],
}
CALLS = {"2026.5.7": SESSION_STATUS, "2026.5.28": SESSION_STATUS, "2026.9.6": TOOL_SEARCH_CALL}

Release = Callable[[str], tuple[Path, Path]]


def tool_run(
    pytester: pytest.Pytester, release: Release, version: str, history: str, check: str
) -> tuple[pytest.RunResult, dict[str, Any]]:
    tool, arguments = CALLS[version]
    test = TOOL_TEST.format(tool=tool, arguments=arguments, history=history, check=check)
    result, report = run_against(pytester, release, version, "--replyrace-openclaw-tools=minimal", test=test)
    (one,) = report["tests"]  # type: ignore[misc]
    print(f"openclaw {version} tools minimal, {tool} {arguments}: pattern {one['pattern']}")
    print(one["timeline"])
    return result, one


def entries(test: dict[str, Any]) -> list[dict[str, Any]]:
    """Every provider request of the run once, in arrival order (a call's journal holds its token's)."""
    by_seq = {e["seq"]: e for call in test["calls"] for e in call["journal"]}
    return [by_seq[seq] for seq in sorted(by_seq)]


def assert_each_tool_call_answered_once(test: dict[str, Any], version: str, *, late: bool = False) -> None:
    """Every request offered the release's tools; every id issued was answered by exactly one later request,
    under its stripped form (noted); no request answered an id never issued. With ``late``, the id issued by the
    run's last request (a queued followup still between its tool step and its text step when the run ended and
    the gateway stopped) may be left unanswered; nothing is ever answered twice."""
    journal = entries(test)
    assert journal, test["timeline"]
    assert all(e["tools"] == OFFERED[version] for e in journal), [e["tools"] for e in journal]
    issued = [i for e in journal for i in e["issued"]]
    answered = Counter(i for e in journal for i in e["answered"])
    assert issued and len(set(issued)) == len(issued), issued
    assert set(answered) <= set(issued) and all(n == 1 for n in answered.values()), (issued, answered)
    unanswered = [(i, e["seq"]) for e in journal for i in e["issued"] if i not in answered]
    # Only the run's very last request may have issued a call never answered: no request came after it, so the
    # gateway never got to send its result (a result dropped while later requests went on would be a real loss).
    assert all(late and seq == journal[-1]["seq"] for _, seq in unanswered), (unanswered, journal[-1]["seq"])
    for e in journal:
        if e["answered"]:
            assert e["note"] == RENAMED_NOTE + ", ".join(f"{stripped_id(i)} = {i}" for i in e["answered"]), e


@pytest.mark.parametrize("version", ["2026.5.28", "2026.9.6"])
def test_openclaw_tool_turns_are_clean_with_an_intact_history(
    pytester: pytest.Pytester,
    openclaw_release: Release,
    leak_marker: str,
    assert_no_leak: Callable[[], None],
    version: str,
) -> None:
    result, test = tool_run(pytester, openclaw_release, version, "exact", "assert_clean")
    result.assert_outcomes(passed=1)
    assert test["pattern"] == "pppppp"
    tokens = [call["token"] for call in test["calls"]]
    for i, call in enumerate(test["calls"]):
        # One tool step, then the text step that carries its result; both hold this turn's user message and
        # every earlier turn (the whole conversation is re-sent).
        tool, text = call["journal"]
        assert (tool["step"], tool["kind"], text["step"], text["kind"]) == (1, "tool", 2, "text"), call["journal"]
        assert tool["tokens"] == text["tokens"] == [call["token"]]
        assert tool["history"] == text["history"] == tokens[:i]
        assert len(tool["issued"]) == 1 and text["answered"] == tool["issued"] and text["issued"] == []
        assert call["reply"] == f"ECHO {call['token']}"
    assert_each_tool_call_answered_once(test, version)
    assert_no_leak()


def test_openclaw_2026_5_7_is_still_caught_with_tool_turns(
    pytester: pytest.Pytester,
    openclaw_release: Release,
    leak_marker: str,
    assert_no_leak: Callable[[], None],
) -> None:
    result, test = tool_run(pytester, openclaw_release, "2026.5.7", "no-duplicates", "assert_no_fast_fail")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*replyrace fast-fail at rtt=50ms, gap=0ms: * — pattern *f*"])
    assert test["pattern"][0] == "p" and "f" in test["pattern"], test["timeline"]
    assert set(test["pattern"]) <= {"p", "f"}, test["timeline"]
    first = test["calls"][0]
    assert [(e["step"], e["kind"]) for e in first["journal"]] == [(1, "tool"), (2, "text")], first["journal"]
    # Measured: when the race queues the sends as followups (`pfffff`, answered later under other runIds), the
    # run can end while one of them is between its tool step and its text step; that call's result never comes
    # back (the gateway is stopped), and nothing is answered twice.
    assert_each_tool_call_answered_once(test, "2026.5.7", late=True)
    assert_no_leak()
