"""Real OpenClaw releases and a message sent while a turn runs (issue #20, item 6).

The provider holds every model call 4 s; message B goes out 1 s after the provider received message A
(``send_at="request"``, ``gap=1``), so B arrives while A's turn is running. OpenClaw's default queue mode is
``steer`` (docs/concepts/queue.md of the package): fold a message that arrives mid-run into the running turn.

- 2026.7.1-2 does not keep that promise: B gets a bare ``final`` at once and never reaches the model, and A
  fails after its model call was served ("session file changed while embedded prompt lock was released",
  OpenClaw #113194, #121831): ``el``.
- 2026.8.1 does: B gets a bare ``final`` when it is injected, A's continuation request carries B's text, and
  A's final answers both: ``pm``, clean under ``busy_policy="steer"``, a broken promise under ``queue``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_replyrace.tokens import find_tokens

from .test_openclaw_live import run_against

pytestmark = pytest.mark.openclaw

BUSY_TEST = """
import pytest

@pytest.mark.rtt_range("4s", "4s", steps=1)
@pytest.mark.replyrace(calls={calls}, gap=1, send_at="request", busy_policy="{policy}")
def test_message_while_busy(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()
"""

SESSION_FILE_CHANGED = "session file changed while embedded prompt lock was released"

Release = Callable[[str], tuple[Path, Path]]


def busy_run(
    pytester: pytest.Pytester, release: Release, version: str, policy: str, calls: int = 2
) -> tuple[pytest.RunResult, dict[str, Any]]:
    """The busy test once against ``version``, judged under ``policy``: the run and its one JSON test."""
    result, history = run_against(pytester, release, version, test=BUSY_TEST.format(calls=calls, policy=policy))
    tests: list[dict[str, Any]] = history["tests"]  # type: ignore[assignment]
    (test,) = tests
    print(f"{version} busy_policy={policy} pattern:", test["pattern"])
    print(test["timeline"])
    assert test["send_at"] == "request" and test["busy_policy"] == policy and test["gap"] == 1
    assert [call["sent_while_busy"] for call in test["calls"]] == [False] + [True] * (calls - 1), test["timeline"]
    return result, test


def test_openclaw_2026_7_1_2_breaks_steer(
    pytester: pytest.Pytester, leak_marker: str, openclaw_release: Release, assert_no_leak: Callable[[], None]
) -> None:
    result, test = busy_run(pytester, openclaw_release, "2026.7.1-2", "steer")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*replyrace busy policy steer broken at rtt=4s, gap=1s, send_at=request, busy_policy=steer: "
            "call 2 sent while busy and lost — pattern el (1l, 1e)",
            "*4s request+1s  el  *(busy policy steer, failed)",
        ]
    )
    assert test["pattern"] == "el"
    a, b = test["calls"]
    # A: the provider served it, and then the turn failed on the session file B's arrival had changed.
    assert a["served_before_reply"] and SESSION_FILE_CHANGED in (a["error"] or ""), a
    assert any(SESSION_FILE_CHANGED in text for _, text in a["stream_errors"]), a
    assert [entry["tokens"] for entry in a["journal"]] == [[a["token"]]]
    # B: a bare final while A still ran, and its text never reached the model.
    assert b["reply"] is None and b["error"] is None and b["replied_at"] < a["replied_at"], b
    assert b["journal"] == [] and b["late_replies"] == [], b
    assert b["note"] == "accepted, then neither answered, merged nor refused: its token never reached the provider"
    assert_no_leak()


def test_openclaw_2026_8_1_steers(
    pytester: pytest.Pytester, leak_marker: str, openclaw_release: Release, assert_no_leak: Callable[[], None]
) -> None:
    result, test = busy_run(pytester, openclaw_release, "2026.8.1", "steer")
    result.assert_outcomes(passed=1)
    assert test["pattern"] == "pm"
    result.stdout.fnmatch_lines(["*4s request+1s  pm  *clean*(busy policy steer, passed)"])
    a, b = test["calls"]
    # B: a bare final of its own; its text went to the model in A's continuation, after A's own model call.
    assert b["letter"] == "m" and b["note"] == "merged into call 1's running turn", b
    assert b["reply"] is None and b["error"] is None, b
    (own,) = a["journal"]
    (continuation,) = b["journal"]
    assert own["tokens"] == [a["token"]] and own["history"] == []
    assert continuation["tokens"] == [b["token"]] and continuation["history"] == [a["token"]]
    assert own["ended_at"] <= continuation["arrived_at"] and continuation["ended_at"] <= a["replied_at"]
    # A's final answers both (OpenClaw joins the two texts with no separator: "ECHO rr-…-1ECHO rr-…-2").
    assert a["reply"] == f"ECHO {a['token']}ECHO {b['token']}", a
    assert a["letter"] == "p" and a["note"] == "also answered the merged call 2", a
    assert_no_leak()


def test_openclaw_2026_8_1_steering_breaks_queue(
    pytester: pytest.Pytester, leak_marker: str, openclaw_release: Release, assert_no_leak: Callable[[], None]
) -> None:
    result, test = busy_run(pytester, openclaw_release, "2026.8.1", "queue")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*replyrace busy policy queue broken at rtt=4s, gap=1s, send_at=request: "
            "call 2 is m (merged into a running turn, not allowed) — pattern pm (1p, 1m)",
        ]
    )
    assert test["pattern"] == "pm"
    assert_no_leak()


def test_openclaw_2026_8_1_steers_two_messages(
    pytester: pytest.Pytester, leak_marker: str, openclaw_release: Release, assert_no_leak: Callable[[], None]
) -> None:
    result, test = busy_run(pytester, openclaw_release, "2026.8.1", "steer", calls=3)
    a, b, c = test["calls"]
    # B and C both folded into A's run: one continuation request each, A's final answering all three.
    assert [entry["tokens"] for entry in a["journal"] + b["journal"] + c["journal"]] == [
        [a["token"]],
        [b["token"]],
        [c["token"]],
    ], test["timeline"]
    assert c["letter"] == "m" and b["reply"] is None and c["reply"] is None, test["timeline"]
    assert a["reply"] == f"ECHO {a['token']}ECHO {b['token']}ECHO {c['token']}", a
    # Its final glues the answers together with no separator; every token is still found in it.
    assert find_tokens(a["reply"]) == [a["token"], b["token"], c["token"]]
    assert test["pattern"] == "pmm", test["timeline"]
    result.assert_outcomes(passed=1)
    assert_no_leak()
