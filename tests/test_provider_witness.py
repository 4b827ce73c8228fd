"""The fake provider as the witness, over real HTTP: a gateway that goes away is journaled when it does, a tool
call without its result is refused as the real APIs refuse it, and a request that only quotes earlier replies is
a side step."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from support.tool_agent import APIS, Answer, ask, first_body, follow_up

from pytest_replyrace.provider.model import ModelSpec
from pytest_replyrace.provider.server import NO_TOKEN_REPLY, UNPAIRED_NOTE, FakeProvider
from pytest_replyrace.records import JournalEntry


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(rtt=0.05, seed=3) as server:
        yield server


def base(provider: FakeProvider) -> str:
    return f"http://127.0.0.1:{provider.port}"


def post(provider: FakeProvider, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", provider.port, timeout=10)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def chat(*messages: tuple[str, str], stream: bool = False) -> dict[str, Any]:
    return {"model": "m", "stream": stream, "messages": [{"role": r, "content": t} for r, t in messages]}


# -- closed_at ------------------------------------------------------------------------------------------------


def _open_stream(provider: FakeProvider, token: str) -> socket.socket:
    """A raw client that sends a streamed chat request and reads nothing yet."""
    body = json.dumps(chat(("user", f"hello {token}"), stream=True)).encode()
    sock = socket.create_connection(("127.0.0.1", provider.port), timeout=10)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body)
    return sock


def _closed_entry(provider: FakeProvider) -> JournalEntry:
    assert provider.wait_idle(5.0), provider.journal
    (entry,) = provider.journal
    return entry


def test_a_gateway_that_closes_mid_stream_is_journaled_when_it_closes(provider: FakeProvider) -> None:
    provider.model(ttft=0.05, reply_pieces=4)
    provider.set_rtt(3.0)  # pieces at 0.05 s, then about 1 s apart: the close falls between two writes
    seen: list[str] = []
    provider.watch(lambda kind, entry: seen.append(kind))
    sock = _open_stream(provider, "rr-wit1-1")
    first = sock.recv(4096)  # the headers and the first piece
    assert b"200 OK" in first
    closed = time.monotonic()
    sock.close()
    entry = _closed_entry(provider)
    assert entry.closed_at is not None and entry.ended_at is None
    assert entry.arrived_at < closed <= entry.closed_at
    assert entry.closed_at < entry.arrived_at + entry.schedule[1]  # before the next write, not at it
    assert (entry.status, entry.error) == (499, "client went away before the reply was complete")
    assert len(entry.written) == 1
    assert seen == ["request", "closed"]  # never "end": it was not served


def test_a_gateway_that_closes_while_the_first_token_is_held_is_journaled_when_it_closes(
    provider: FakeProvider,
) -> None:
    provider.faults("ttft", calls=[1], ttft=30.0)
    sock = _open_stream(provider, "rr-wit2-1")
    deadline = time.monotonic() + 5.0
    while not provider.journal or provider.journal[0].fault is None:  # the request is planned: held now
        assert time.monotonic() < deadline
        time.sleep(0.005)
    closed = time.monotonic()
    sock.close()
    entry = _closed_entry(provider)
    assert entry.fault == "ttft" and entry.closed_at is not None
    assert entry.arrived_at < closed <= entry.closed_at < entry.arrived_at + 30.0
    assert entry.written == [] and entry.ended_at is None


def test_a_request_the_provider_cut_short_by_stopping_was_not_closed_by_the_gateway(provider: FakeProvider) -> None:
    provider.faults("ttft", calls=[1], ttft=30.0)
    sock = _open_stream(provider, "rr-wit4-1")
    deadline = time.monotonic() + 5.0
    while not provider.journal or provider.journal[0].fault is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    provider.stop()
    sock.close()
    (entry,) = provider.journal
    assert entry.closed_at is None


def test_an_answer_the_provider_finished_has_no_close(provider: FakeProvider) -> None:
    status, _ = post(provider, "/v1/chat/completions", chat(("user", "hi rr-wit3-1")))
    assert status == 200
    (entry,) = provider.journal
    assert entry.served and entry.closed_at is None


# -- unpaired tool calls --------------------------------------------------------------------------------------

UNPAIRED_TEXT = {
    "openai-chat": "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
    "'tool_call_id'. The following tool_call_ids did not have response messages: call_x_1",
    "openai-responses": "No tool output found for function call call_x_1.",
    "anthropic-messages": "`tool_use` ids were found without `tool_result` blocks immediately after: call_x_1",
    "ollama": "tool calls without a tool result after them: call_x_1",
}


def _error_text(api: str, body: Any) -> str:
    return str(body["error"] if api == "ollama" else body["error"]["message"])


def _unpaired(api: str) -> dict[str, Any]:
    """A turn's conversation holding a tool call whose result never came, then the next user message."""
    body = first_body(api, "first rr-tool-1", False)
    call = Answer(api, 200, kind="tool", call_id="call_x_1", name="clock", arguments="{}")
    orphaned = follow_up(api, body, call, [])
    key = "input" if api == "openai-responses" else "messages"
    user: dict[str, Any] = {"role": "user", "content": "next rr-tool-2"}
    if api == "openai-responses":
        user = {"type": "message", "role": "user", "content": "next rr-tool-2"}
    orphaned[key] = [*orphaned[key], user]
    return orphaned


@pytest.mark.asyncio
@pytest.mark.parametrize("api", APIS)
async def test_a_tool_call_without_its_result_is_refused_as_the_real_api_refuses_it(
    provider: FakeProvider, api: str
) -> None:
    async with aiohttp.ClientSession() as session:
        path = {"openai-chat": "/v1/chat/completions", "openai-responses": "/v1/responses"}
        url = base(provider) + path.get(api, "/v1/messages" if api == "anthropic-messages" else "/api/chat")
        async with session.post(url, json=_unpaired(api)) as response:
            status, body = response.status, await response.json()
    assert status == 400
    assert UNPAIRED_TEXT[api] in _error_text(api, body)
    (entry,) = provider.journal
    assert (entry.status, entry.error, entry.served) == (400, UNPAIRED_NOTE, False)
    assert entry.tokens == ["rr-tool-1", "rr-tool-2"]


@pytest.mark.asyncio
@pytest.mark.parametrize("api", APIS)
async def test_strict_tools_off_answers_an_unpaired_call_as_any_request(provider: FakeProvider, api: str) -> None:
    provider.model(strict_tools=False)
    async with aiohttp.ClientSession() as session:
        answer = await ask(session, base(provider), api, _unpaired(api))
    assert answer.status == 200 and answer.text == "ECHO rr-tool-1 rr-tool-2"  # a tool call does not end a turn
    assert provider.journal[0].served


def test_a_result_without_its_call_is_refused(provider: FakeProvider) -> None:
    body = chat(("user", "hi rr-tool-3"))
    body["messages"].append({"role": "tool", "tool_call_id": "call_nobody", "content": "12:00"})
    status, answer = post(provider, "/v1/chat/completions", body)
    assert status == 400
    assert (
        "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'"
        in (answer["error"]["message"])
    )
    assert provider.journal[0].error == UNPAIRED_NOTE


@pytest.mark.asyncio
@pytest.mark.parametrize("api", APIS)
async def test_a_paired_tool_turn_is_still_answered_under_strict_tools(provider: FakeProvider, api: str) -> None:
    provider.model(tool_calls=1)
    body = first_body(api, "hello rr-tool-4", False)
    async with aiohttp.ClientSession() as session:
        call = await ask(session, base(provider), api, body)
        done = await ask(session, base(provider), api, follow_up(api, body, call, ["12:00"]))
    assert done.status == 200 and done.text == "ECHO rr-tool-4"
    assert [e.error for e in provider.journal] == [None, None]


def test_strict_tools_is_validated_naming_the_value() -> None:
    from pytest_replyrace.errors import ReplyraceError

    with pytest.raises(ReplyraceError, match=r"strict_tools='no'; expected True or False"):
        ModelSpec().but(strict_tools="no")


# -- side steps ------------------------------------------------------------------------------------------------


def test_a_step_that_quotes_the_reply_as_a_user_message_is_a_side_step(provider: FakeProvider) -> None:
    # A note taker after the reply: the reply quoted back as a *user* message, in the same turn.
    body = chat(
        ("user", "probe 1 rr-side-1"),
        ("assistant", "ECHO rr-side-1"),
        ("user", "For context: [responder] said: ECHO rr-side-1"),
    )
    status, answer = post(provider, "/v1/chat/completions", body)
    assert status == 200
    text = answer["choices"][0]["message"]["content"]
    assert text == NO_TOKEN_REPLY and "rr-" not in text
    (entry,) = provider.journal
    assert (entry.kind, entry.tokens, entry.history, entry.served) == ("side", [], ["rr-side-1"], True)
    assert entry.quoted == ["rr-side-1"]  # whose reply it quotes


def test_a_message_beside_a_quote_keeps_its_own_token(provider: FakeProvider) -> None:
    body = chat(("user", "Earlier you said ECHO rr-side-1 lorem ipsum. Now: probe 2 rr-side-2"))
    status, answer = post(provider, "/v1/chat/completions", body)
    assert status == 200 and answer["choices"][0]["message"]["content"] == "ECHO rr-side-2"
    (entry,) = provider.journal
    assert (entry.kind, entry.tokens, entry.quoted) == ("text", ["rr-side-2"], ["rr-side-1"])


def test_a_side_step_gets_text_even_when_the_model_calls_tools(provider: FakeProvider) -> None:
    provider.model(tool_calls=1)
    body = first_body("openai-chat", "[summary] ECHO rr-side-3", False)
    status, answer = post(provider, "/v1/chat/completions", body)
    assert status == 200 and answer["choices"][0]["message"]["content"] == NO_TOKEN_REPLY
    assert [(e.kind, e.issued) for e in provider.journal] == [("side", [])]


def test_every_token_the_request_mentions_in_any_role_is_journaled(provider: FakeProvider) -> None:
    # A gateway that keeps the previous turn only as a summary in its system prompt, and as the reply.
    body = chat(
        ("system", "Summary so far: the user asked rr-anyr-1."),
        ("assistant", "ECHO rr-anyr-1"),
        ("user", "probe 2 rr-anyr-2"),
    )
    status, _ = post(provider, "/v1/chat/completions", body)
    assert status == 200
    (entry,) = provider.journal
    assert (entry.tokens, entry.history, entry.mentioned) == (["rr-anyr-2"], [], ["rr-anyr-1", "rr-anyr-2"])
