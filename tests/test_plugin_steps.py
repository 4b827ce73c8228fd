"""Never cry wolf on a correct agent (issue 28): correct gateways with more than one model step per turn, or that
answer a folded message with nothing, stay clean at every send anchor; their broken twins are caught with the
letter that names the bug. Real gateway processes (tests/support/step_gateway.py), pytest in a subprocess."""

from __future__ import annotations

import json

import pytest
from support.selftest import run, step_gateway_cmd

ANCHORS = """
import pytest

@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.parametrize("send_at", ["end", "text", "first"])
@pytest.mark.replyrace(calls=5, history="exact", busy_policy="{policy}")
def test_steps(sequential_sender, send_at):
    result = sequential_sender.run(send_at=send_at)
    print("PATTERN", send_at, result.pattern)
    result.assert_{check}()
"""

CHAT = ["--replyrace-transport=openai-chat", "--replyrace-session-field=user", "--replyrace-stream=on"]


def steps_run(pytester: pytest.Pytester, mode: str, policy: str, check: str, *extra: str) -> tuple[object, dict]:
    pytester.makepyfile(test_steps=ANCHORS.replace("{policy}", policy).replace("{check}", check))
    report = pytester.path / "history.json"
    result = run(
        pytester,
        f"--replyrace-gateway-cmd={step_gateway_cmd('--mode', mode)}",
        f"--replyrace-report={report}",
        "--replyrace-shrink=0",  # the pattern is the point here, not the fewest calls
        "-s",
        *CHAT,
        *extra,
    )
    tests = {t["node_id"].split("[")[-1].split("-")[0]: t for t in json.loads(report.read_text())["tests"]}
    return result, tests


def test_a_two_step_turn_is_clean_at_every_anchor(race_pytester: pytest.Pytester) -> None:
    result, tests = steps_run(race_pytester, "two-step", "queue", "clean")
    result.assert_outcomes(passed=3)
    assert {anchor: t["pattern"] for anchor, t in tests.items()} == {a: "ppppp" for a in ("end", "text", "first")}
    call = tests["text"]["calls"][1]
    # The note step's text came after the reply's finish chunk: late text of the same turn, never the reply.
    assert call["reply"] == f"ECHO {call['token']}"
    assert call["after_text"] == [" [note: ECHO (no token)]"]
    assert call["answered_twice"] is None
    result.stdout.fnmatch_lines(["*PATTERN end ppppp*", "*PATTERN text ppppp*", "*PATTERN first ppppp*"])


def test_a_two_step_turn_whose_note_fails_when_the_next_message_came_is_caught_at_text(
    race_pytester: pytest.Pytester,
) -> None:
    result, tests = steps_run(race_pytester, "two-step-stale", "queue", "clean", "--replyrace-call-timeout=5")
    assert tests["end"]["pattern"] == "ppppp"
    # Every turn but the last had the next message arrive while its note step ran.
    assert tests["text"]["pattern"] == tests["first"]["pattern"] == "eeeep"
    result.assert_outcomes(passed=1, failed=2)
    note = tests["text"]["calls"][0]["note"]
    assert note.startswith("the turn failed after its reply: ") and "stale session" in note, note
    result.stdout.fnmatch_lines(["*stream error:*(after its text was complete) error: *stale session*"])


def test_a_steer_gateway_that_answers_a_folded_message_with_nothing_is_clean_under_steer(
    race_pytester: pytest.Pytester,
) -> None:
    result, tests = steps_run(race_pytester, "steer-empty", "steer", "clean")
    result.assert_outcomes(passed=3)
    patterns = {anchor: t["pattern"] for anchor, t in tests.items()}
    assert patterns["end"] == patterns["text"] == "ppppp"
    assert set(patterns["first"]) <= {"p", "m"} and "m" in patterns["first"], patterns
    merged = [c for c in tests["first"]["calls"] if c["letter"] == "m"]
    assert all(c["reply"] == "" and c["note"].startswith("merged into call ") for c in merged)


def test_a_gateway_that_accepts_then_drops_a_message_is_l_accepted_then_silent(
    race_pytester: pytest.Pytester,
) -> None:
    result, tests = steps_run(race_pytester, "drop", "queue", "clean", "--replyrace-call-timeout=1")
    result.assert_outcomes(failed=3)
    for anchor in ("end", "text", "first"):
        lost = tests[anchor]["calls"][1]
        assert lost["letter"] == "l", (anchor, tests[anchor]["pattern"])
        assert lost["note"].startswith("accepted, then silent: its token never reached the provider; what arrived:")
