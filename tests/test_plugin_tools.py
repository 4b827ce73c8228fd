"""Tool turns end to end: a gateway process that runs the tool loop against the fake provider, in a pytest run.

A correct loop is clean, each turn two model calls (the tool call, then the text); a gateway that answers a
tool call twice, leaves the result out or answers a call it was never given gets ``h`` with the reason (with the
provider's strict tools off: on, as by default, the provider refuses an unpaired call as a real one does)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.selftest import run, tool_gateway_cmd

INNER = """
import pytest

@pytest.mark.provider_model(tool_calls=1, strict_tools=STRICT)
@pytest.mark.replyrace(calls=3)
def test_tools(sequential_sender, fake_provider):
    result = sequential_sender.run()
    steps = [(e.step, e.kind) for e in fake_provider.journal]
    print("PATTERN", result.pattern, "STEPS", steps)
    print("ERRORS", [e.error for e in fake_provider.journal if e.error])
    for call in result.calls:
        print("PROBLEM", call.index, call.history_problem)
    # send_at=served counts a turn served when its text step was, not its tool step
    text_end = {e.token: e.ended_at for e in fake_provider.journal if e.kind == "text"}
    calls = result.calls
    print(result.timeline())
    print("ANCHORED", all(b.sent_at >= text_end[a.token] for a, b in zip(calls, calls[1:])))
"""


@pytest.mark.parametrize(
    ("options", "pattern", "problem"),
    [
        ((), "ppp", None),
        (("--provider-api", "anthropic-messages", "--stream", "|", "--replyrace-send-at=served"), "ppp", None),
        (("--answer-twice-on", "2"), "php", "tool call call_rr-*-2_1 answered twice in request #4"),
        (
            ("--drop-result-on", "2", "--provider-api", "openai-responses"),
            "php",
            "tool call call_rr-*-2_1 never answered (issued in request #3)",
        ),
        (("--drop-result-on", "2", "--provider-api", "openai-responses"), "pep", "refused"),
        (
            ("--wrong-id-on", "3", "--provider-api", "ollama"),
            "pph",
            "a tool result for call_never_issued, never issued in this turn (request #6)",
        ),
    ],
    ids=[
        "clean",
        "anthropic-stream-served",
        "answered-twice",
        "never-answered",
        "never-answered-strict",
        "never-issued",
    ],
)
def test_a_tool_turn_is_two_model_calls_and_a_broken_loop_is_h(
    race_pytester: pytest.Pytester,
    assert_no_leak: Callable[[], None],
    options: tuple[str, ...],
    pattern: str,
    problem: str | None,
) -> None:
    race_pytester.makepyfile(test_tools=INNER.replace("STRICT", str(problem in (None, "refused"))))
    gateway, _, pytest_args = " ".join(options).partition(" | ")  # the gateway's switches | pytest's own
    result = run(
        race_pytester,
        f"--replyrace-gateway-cmd={tool_gateway_cmd(*gateway.split())}",
        "-s",
        *pytest_args.split(),
        timeout=180,
    )
    steps = "[(1, 'tool'), (2, 'text'), (1, 'tool'), (2, 'text'), (1, 'tool'), (2, 'text')]"
    out = result.stdout.str()
    assert f"PATTERN {pattern} STEPS {steps}" in out, out
    lanes = [line for line in result.outlines if "lane (░ tool, █ text):" in line]
    assert len(lanes) == 3 and all(lane.index("░") < lane.index("█") for lane in lanes), lanes  # a bar per step
    if problem == "refused":  # the API's own 400 for the call left without its result: the call errs
        assert "ERRORS ['refused: unpaired tool call']" in out, out
    elif problem is None:
        result.assert_outcomes(passed=1)
        assert "PROBLEM 1 None" in out
        assert "ANCHORED True" in out, out
    else:
        bad = pattern.index("h") + 1
        result.stdout.fnmatch_lines([f"PROBLEM {bad} {problem}"])
    assert_no_leak()
