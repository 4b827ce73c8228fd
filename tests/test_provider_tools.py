"""The scripted model's tool-calling turns in every provider API, over real aiohttp clients."""

from __future__ import annotations

import json
from collections.abc import Iterator

import aiohttp
import pytest
from support.tool_agent import APIS, Answer, ask, first_body, follow_up

from pytest_replyrace.provider.model import ModelSpec
from pytest_replyrace.provider.server import NO_TOOLS_NOTE, RENAMED_NOTE, FakeProvider, stripped_id


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(rtt=0.03, seed=7, model_spec=ModelSpec(tool_calls=1)) as server:
        yield server


def base(provider: FakeProvider) -> str:
    return f"http://127.0.0.1:{provider.port}"


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("api", APIS)
async def test_a_tool_turn_is_a_tool_call_then_the_echo_of_the_user_token(
    provider: FakeProvider, api: str, stream: bool
) -> None:
    body = first_body(api, "[wrapped] rr-tool-1 what time is it", stream, tools=("clock", "weather"))
    async with aiohttp.ClientSession() as session:
        call = await ask(session, base(provider), api, body)
        assert call.status == 200 and call.kind == "tool", call.raw
        assert call.name == "clock" and json.loads(call.arguments) == {} and call.text == ""
        assert (
            call.stop
            == {
                "openai-chat": "tool_calls",
                "anthropic-messages": "tool_use",
                "openai-responses": "function_call",
                "ollama": "stop",
            }[api]
        )
        done = await ask(session, base(provider), api, follow_up(api, body, call, ["12:00 rr-fake-9"]))
    assert done.status == 200 and done.kind == "text" and done.text == "ECHO rr-tool-1", done
    first, second = provider.journal
    assert (first.step, first.kind, first.issued, first.answered) == (1, "tool", [call.call_id], [])
    assert first.tools == ["clock", "weather"] and first.tokens == ["rr-tool-1"] and first.served
    assert (second.step, second.kind, second.issued, second.answered) == (2, "text", [], [call.call_id])
    assert second.tokens == ["rr-tool-1"] and second.served and second.note is None


@pytest.mark.asyncio
@pytest.mark.parametrize("api", ["openai-chat", "anthropic-messages", "openai-responses"])
async def test_streamed_arguments_come_in_several_pieces(provider: FakeProvider, api: str) -> None:
    provider.model(arguments='{"zone": "UTC", "format": "24h"}', tool="clock")
    async with aiohttp.ClientSession() as session:
        call = await ask(session, base(provider), api, first_body(api, "rr-tool-2", True, tools=("other",)))
    assert call.kind == "tool" and call.name == "clock"
    assert json.loads(call.arguments) == {"zone": "UTC", "format": "24h"} and call.argument_pieces >= 2


@pytest.mark.asyncio
async def test_openai_chat_stream_names_the_call_first_then_the_arguments(provider: FakeProvider) -> None:
    async with aiohttp.ClientSession() as session:
        call = await ask(session, base(provider), "openai-chat", first_body("openai-chat", "rr-tool-3", True))
    chunks = [data for _, (_, data) in call.events[:-1]]
    head = chunks[0]["choices"][0]["delta"]
    assert head["role"] == "assistant" and head["tool_calls"][0]["id"] == call.call_id
    assert head["tool_calls"][0]["function"] == {"name": "clock", "arguments": ""}
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "tool_calls"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("api", APIS)
async def test_a_request_offering_no_tools_gets_text_and_the_journal_says_so(
    provider: FakeProvider, api: str, stream: bool
) -> None:
    async with aiohttp.ClientSession() as session:
        answer = await ask(session, base(provider), api, first_body(api, "rr-tool-4", stream, tools=()))
    assert answer.kind == "text" and answer.text == "ECHO rr-tool-4"
    (entry,) = provider.journal
    assert (entry.step, entry.kind, entry.note, entry.issued) == (1, "text", NO_TOOLS_NOTE, [])


@pytest.mark.asyncio
@pytest.mark.parametrize("api", APIS)
async def test_two_tool_calls_make_three_model_calls(provider: FakeProvider, api: str) -> None:
    provider.model(tool_calls=2)
    body = first_body(api, "rr-tool-5", False)
    async with aiohttp.ClientSession() as session:
        first = await ask(session, base(provider), api, body)
        body = follow_up(api, body, first, ["one"])
        second = await ask(session, base(provider), api, body)
        assert second.kind == "tool" and second.call_id != first.call_id
        third = await ask(session, base(provider), api, follow_up(api, body, second, ["two"]))
    assert third.kind == "text" and third.text == "ECHO rr-tool-5"
    journal = provider.journal
    assert [(e.step, e.kind) for e in journal] == [(1, "tool"), (2, "tool"), (3, "text")]
    assert journal[2].answered == [first.call_id, second.call_id]


@pytest.mark.asyncio
async def test_a_chained_responses_follow_up_with_no_user_message_still_echoes_the_turn(provider: FakeProvider) -> None:
    body = first_body("openai-responses", "rr-tool-6", True)
    async with aiohttp.ClientSession() as session:
        call = await ask(session, base(provider), "openai-responses", body)
        done = await ask(
            session,
            base(provider),
            "openai-responses",
            follow_up("openai-responses", body, call, ["12:00"], chained=True),
        )
    assert done.kind == "text" and done.text == "ECHO rr-tool-6"
    assert [(e.step, e.kind, e.tokens) for e in provider.journal] == [
        (1, "tool", ["rr-tool-6"]),
        (2, "text", ["rr-tool-6"]),
    ]


@pytest.mark.asyncio
async def test_a_result_answered_twice_is_journaled_twice(provider: FakeProvider) -> None:
    body = first_body("openai-chat", "rr-tool-7", False)
    async with aiohttp.ClientSession() as session:
        call = await ask(session, base(provider), "openai-chat", body)
        done = await ask(session, base(provider), "openai-chat", follow_up("openai-chat", body, call, ["a", "b"]))
    assert done.kind == "text"
    assert provider.journal[1].answered == [call.call_id, call.call_id]


@pytest.mark.asyncio
@pytest.mark.parametrize("api", ["openai-chat", "anthropic-messages", "openai-responses"])
async def test_a_result_naming_the_call_by_its_letters_and_digits_answers_that_call(
    provider: FakeProvider, api: str
) -> None:
    # OpenClaw's strict tool-call-id mode replays call_rr-tool-10_1 as callrrtool101, in the assistant's call
    # and in its result alike.
    body = first_body(api, "rr-tool-10", False)
    async with aiohttp.ClientSession() as session:
        call = await ask(session, base(provider), api, body)
        assert call.call_id == "call_rr-tool-10_1" and stripped_id(call.call_id) == "callrrtool101"
        renamed = Answer(**{**call.__dict__, "call_id": "callrrtool101"})
        done = await ask(session, base(provider), api, follow_up(api, body, renamed, ["12:00"]))
    assert done.kind == "text" and done.text == "ECHO rr-tool-10"
    second = provider.journal[1]
    assert (second.step, second.answered) == (2, [call.call_id])
    assert second.note == RENAMED_NOTE + "callrrtool101 = call_rr-tool-10_1"


@pytest.mark.asyncio
async def test_a_stripped_id_of_no_issued_call_stays_foreign(provider: FakeProvider) -> None:
    body = first_body("openai-chat", "rr-tool-11", False)
    async with aiohttp.ClientSession() as session:
        call = await ask(session, base(provider), "openai-chat", body)
        other = Answer(**{**call.__dict__, "call_id": "callrrtool112"})
        await ask(session, base(provider), "openai-chat", follow_up("openai-chat", body, other, ["12:00"]))
    assert provider.journal[1].answered == ["callrrtool112"] and provider.journal[1].note is None


@pytest.mark.asyncio
async def test_no_tool_calls_keeps_todays_echo_and_the_next_turn_starts_again(provider: FakeProvider) -> None:
    provider.model(tool_calls=0)
    async with aiohttp.ClientSession() as session:
        answer = await ask(session, base(provider), "openai-chat", first_body("openai-chat", "rr-tool-8", False))
        assert answer.kind == "text" and answer.text == "ECHO rr-tool-8"
        provider.model(tool_calls=1)
        body = first_body("openai-chat", "rr-tool-9", False)
        body["messages"][1:1] = [
            {"role": "user", "content": "rr-tool-8"},
            {"role": "assistant", "content": "ECHO rr-tool-8"},
        ]
        call = await ask(session, base(provider), "openai-chat", body)
    assert call.kind == "tool"  # a finished turn before it: this is step 1 of a new turn
    assert [(e.step, e.kind) for e in provider.journal] == [(1, "text"), (1, "tool")]
    assert provider.journal[1].history == ["rr-tool-8"]


def test_reset_restores_the_model_the_provider_was_made_with(provider: FakeProvider) -> None:
    provider.model(tool_calls=3, tool="x")
    assert provider.model_spec == ModelSpec(tool_calls=3, tool="x")
    provider.reset()
    assert provider.model_spec == ModelSpec(tool_calls=1)
    provider.reset(model_spec=ModelSpec())
    assert provider.model_spec.tool_calls == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tool_calls": -1}, "tool_calls=-1; expected an integer from 0 to 100"),
        ({"tool_calls": True}, "tool_calls=True"),
        ({"tool_calls": 101}, "tool_calls=101"),
        ({"tool": ""}, "tool=''; expected a tool name"),
        ({"tool": "two words"}, "tool='two words'"),
        ({"tool": 3}, "tool=3"),
        ({"arguments": "[1]"}, "arguments='[1]'; expected the text of a JSON object"),
        ({"arguments": "{"}, "arguments='{'"),
        ({"arguments": 5}, "arguments=5"),
        ({"ttft": -1}, "ttft"),
        ({"reply_pieces": 0}, "reply_pieces=0; expected an integer from 1 to 10000 or None"),
        ({"reply_words": -2}, "reply_words=-2"),
        ({"speed": 3}, "speed: not a model setting"),
    ],
)
def test_bad_model_settings_are_refused_naming_the_value(
    provider: FakeProvider, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("[", r"\[").replace("{", r"\{")):
        provider.model(**changes)
    assert provider.model_spec == ModelSpec(tool_calls=1)
