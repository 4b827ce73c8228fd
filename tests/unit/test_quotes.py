"""The provider's own replies quoted in a message, and the pairing of tool calls with their results."""

from __future__ import annotations

import pytest

from pytest_replyrace.provider.dialects import DIALECTS, RESULT_ROLE, TOOL_ROLE, Pairing, tool_pairing
from pytest_replyrace.tokens import own_tokens, quoted_tokens, strip_quoted_replies


@pytest.mark.parametrize(
    ("text", "stripped"),
    [
        ("For context: [responder] said: ECHO rr-k3q8-1", "For context: [responder] said: "),
        ("ECHO rr-abcd-1 rr-abcd-2 lorem ipsum", " lorem ipsum"),
        ("ECHO rr-abcd-1ECHO rr-abcd-2", ""),  # OpenClaw glues steered answers together
        ('{"note": "ECHO rr-abcd-3"}', '{"note": ""}'),
        ("ECHO\nrr-abcd-4 then probe 5 rr-abcd-5", " then probe 5 rr-abcd-5"),
        ("replyrace probe 1/3. Reply with the literal text rr-abcd-1", None),
        ("ECHO (no token)", None),
        ("", None),
    ],
)
def test_strip_quoted_replies(text: str, stripped: str | None) -> None:
    assert strip_quoted_replies(text) == (text if stripped is None else stripped)


def test_own_tokens_skip_the_tokens_inside_a_quote() -> None:
    assert own_tokens("[responder] said: ECHO rr-k3q8-1") == []
    assert own_tokens("before ECHO rr-k3q8-1 after, probe rr-k3q8-2") == ["rr-k3q8-2"]
    assert own_tokens("probe rr-k3q8-1 and ECHO rr-k3q8-1") == ["rr-k3q8-1"]
    assert own_tokens(None) == []


def test_quoted_tokens_are_the_ones_inside_quotes() -> None:
    assert quoted_tokens("[responder] said: ECHO rr-k3q8-1 rr-k3q8-2, then probe rr-k3q8-3") == [
        "rr-k3q8-1",
        "rr-k3q8-2",
    ]
    assert quoted_tokens("probe rr-k3q8-3") == [] and quoted_tokens(None) == []


def test_strip_quoted_replies_is_pure_and_idempotent() -> None:
    text = "a ECHO rr-k3q8-1 b"
    once = strip_quoted_replies(text)
    assert strip_quoted_replies(once) == once and text == "a ECHO rr-k3q8-1 b"


def test_a_paired_conversation_has_no_pairing_error() -> None:
    triples = [("user", "q", ()), (TOOL_ROLE, "", ("a", "b")), (RESULT_ROLE, "", ("b",)), (RESULT_ROLE, "", ("a",))]
    assert tool_pairing([*triples, ("assistant", "done", ())]) is None
    assert tool_pairing([*triples[:3], (RESULT_ROLE, "", ("b",)), (RESULT_ROLE, "", ("a",))]) is None  # b twice


def test_a_call_left_without_its_result_is_unpaired() -> None:
    triples = [("user", "q", ()), (TOOL_ROLE, "", ("a", "b")), (RESULT_ROLE, "", ("a",)), ("user", "next", ())]
    assert tool_pairing(triples) == Pairing(("b",), (), call_at=1, result_at=0)
    assert tool_pairing(triples[:2]) == Pairing(("a", "b"), (), call_at=1)


def test_a_result_without_its_call_is_unpaired_unless_chained() -> None:
    triples = [("user", "q", ()), (RESULT_ROLE, "", ("z",))]
    assert tool_pairing(triples) == Pairing((), ("z",), result_at=1)
    assert tool_pairing(triples, chained=True) is None
    assert tool_pairing([("user", "q", ()), (RESULT_ROLE, "", ("?",))]) is None  # a result that names no id


def _responses(*items: dict[str, str], chained: bool = False) -> dict[str, object]:
    body: dict[str, object] = {"model": "m", "input": [{"role": "user", "content": "q rr-pair-1"}, *items]}
    if chained:
        body["previous_response_id"] = "resp_1"
    return body


def test_responses_function_calls_in_a_row_are_one_step() -> None:
    parse = DIALECTS["openai-responses"].parse
    calls = [{"type": "function_call", "call_id": c, "name": "clock", "arguments": "{}"} for c in ("a", "b")]
    outputs = [{"type": "function_call_output", "call_id": c, "output": "1"} for c in ("b", "a")]
    assert parse(_responses(*calls, *outputs)).pairing is None
    pairing = parse(_responses(*calls, outputs[0])).pairing
    assert pairing is not None and pairing.calls == ("a",)
    assert DIALECTS["openai-responses"].unpaired(pairing) == "No tool output found for function call a."
    assert parse(_responses(outputs[0], chained=True)).pairing is None


def test_anthropic_names_the_message_that_holds_the_unanswered_call() -> None:
    body = {
        "model": "m",
        "max_tokens": 8,
        "messages": [
            {"role": "user", "content": "q rr-pair-2"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "clock", "input": {}}]},
            {"role": "user", "content": "next rr-pair-3"},
        ],
    }
    pairing = DIALECTS["anthropic-messages"].parse(body).pairing
    assert pairing is not None
    assert (
        DIALECTS["anthropic-messages"]
        .unpaired(pairing)
        .startswith("messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1.")
    )
