"""The openai-chat and openai-responses transports against a hostile gateway: every byte controlled by a raw
socket. Error statuses and ``error`` objects are the call's error text (an `f` when nothing was served); answers
that are not JSON, too large, endlessly slow or cut mid-stream are `e` quoting what arrived; silence is `l`."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from support.hostile import hostile_gateway, http_200

from pytest_replyrace.driver import DriverSettings, SequentialSender
from pytest_replyrace.records import CallRecord
from pytest_replyrace.transports.base import MAX_BODY_BYTES, Transport
from pytest_replyrace.transports.openai import OpenAIChatTransport, OpenAIResponsesTransport

pytestmark = pytest.mark.asyncio


def transport(kind: str, url: str, **options: Any) -> Transport:
    if kind == "chat":
        return OpenAIChatTransport(url, session_header="x-session", **options)
    return OpenAIResponsesTransport(url, **options)


async def calls(kind: str, url: str, n: int = 1, timeout: float = 5.0, **options: Any) -> tuple[str, list[CallRecord]]:
    sender = SequentialSender(
        lambda: transport(kind, url, **options), settings=DriverSettings(calls=n, timeout=timeout, settle=0)
    )
    result = await asyncio.wait_for(sender.arun(), 30)
    return result.pattern, result.calls


def answering(raw: bytes) -> Any:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()

    return answer


def status(code: int, body: bytes) -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (code, len(body)) + body


def sse_head() -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize("kind", ["chat", "responses"])
@pytest.mark.parametrize("code", [401, 404])
async def test_a_refused_request_is_a_transport_error_that_says_what_to_check(kind: str, code: int) -> None:
    # A wrong token or path fails every call at once: that is a broken setup (e), not a race (f).
    async with hostile_gateway(answering(status(code, b'{"error": {"message": "unauthorized"}}'))) as url:
        pattern, (call,) = await calls(kind, url)
    assert pattern == "e"
    assert call.transport_error is not None and f"answered HTTP {code}: " in call.transport_error
    assert "the gateway refused the request itself, not a turn: check --replyrace-token" in call.transport_error


@pytest.mark.parametrize("kind", ["chat", "responses"])
@pytest.mark.parametrize("code", [409, 429, 503])
async def test_a_fast_busy_status_is_the_calls_error_and_a_fast_fail(kind: str, code: int) -> None:
    async with hostile_gateway(answering(status(code, b'{"error": {"message": "session busy"}}'))) as url:
        pattern, (call,) = await calls(kind, url)
    assert pattern == "f"
    assert call.transport_error is None and call.error == f'HTTP {code}: \'{{"error": {{"message": "session busy"}}}}\''


@pytest.mark.parametrize("kind", ["chat", "responses"])
async def test_an_error_object_in_a_200_is_the_calls_error_text(kind: str) -> None:
    async with hostile_gateway(answering(http_200(b'{"error": {"message": "Previous run is still active"}}'))) as url:
        pattern, (call,) = await calls(kind, url)
    assert pattern == "f" and call.error == "error: 'Previous run is still active'"


async def test_a_200_with_no_text_is_an_empty_reply() -> None:
    body = b'{"id": "c1", "choices": [{"message": {"role": "assistant", "content": null}}]}'
    async with hostile_gateway(answering(http_200(body))) as url:
        pattern, (call,) = await calls("chat", url)
    assert pattern == "f" and call.reply == "" and call.run_id == "c1"


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("chat", b"<html>502 Bad Gateway</html>", "reply is not JSON: '<html>502 Bad Gateway</html>'"),
        ("chat", b'{"object": "chat.completion"}', "reply is not a chat completion (no 'choices' list)"),
        ("chat", b'{"choices": [{"message": {"content": 7}}]}', "message content is not text"),
        ("responses", b'{"id": "r1"}', "reply is not a response (no 'output' list)"),
        ("responses", b"[1, 2]", "reply is not a JSON object: '[1, 2]'"),
    ],
)
async def test_an_answer_that_is_not_the_api_is_an_error_quoting_it(kind: str, body: bytes, message: str) -> None:
    async with hostile_gateway(answering(http_200(body))) as url:
        pattern, (call,) = await calls(kind, url)
    assert pattern == "e"
    assert call.transport_error is not None and message in call.transport_error


@pytest.mark.parametrize("stream", [False, True])
async def test_an_oversized_answer_is_cut_and_an_error(stream: bool) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head() + b"data: " if stream else http_200(b"", length=8 * MAX_BODY_BYTES))
        for _ in range(8 * MAX_BODY_BYTES // 65536):  # one endless line, or one endless body
            writer.write(b"x" * 65536)
            await writer.drain()

    async with hostile_gateway(answer) as url:
        pattern, (call,) = await calls("chat", url, stream=stream)
    assert pattern == "e"
    assert call.transport_error is not None and f"reply larger than {MAX_BODY_BYTES} bytes" in call.transport_error
    assert len(call.transport_error) < 400  # an excerpt, not the body


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["chat", "responses"])
async def test_a_slow_loris_stream_is_an_error_quoting_what_arrived(kind: str) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head() + b'data: {"partial": "rr-')
        for _ in range(120):  # a byte a quarter second: never done within the call timeout
            await writer.drain()
            await asyncio.sleep(0.25)
            writer.write(b"a")

    async with hostile_gateway(answer) as url:
        pattern, (call,) = await calls(kind, url, timeout=1.0, stream=True)
    assert pattern == "e"
    assert call.transport_error is not None and "did not finish within 1s: HTTP 200 and" in call.transport_error
    assert '\'data: {"partial": "rr-' in call.transport_error


@pytest.mark.timeout(30)
async def test_silence_is_lost_within_the_call_timeout() -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(20)

    async with hostile_gateway(answer) as url:
        pattern, (call,) = await calls("responses", url, timeout=0.5)
    assert pattern == "l" and call.timed_out and call.transport_error is None


@pytest.mark.parametrize(
    ("kind", "events", "message"),
    [
        ("chat", b'data: {"choices": [{"delta": {"content": "half"}}]}\n\n', "the stream ended before its last event"),
        ("chat", b"data: {not json\n\n", "a stream event is not JSON: '{not json'"),
        (
            "responses",
            b'data: {"type": "response.output_text.delta", "delta": "half"}\n\n',
            "the stream ended before its last event",
        ),
    ],
)
async def test_a_stream_cut_short_or_garbled_is_an_error(kind: str, events: bytes, message: str) -> None:
    async with hostile_gateway(answering(sse_head() + events)) as url:
        pattern, (call,) = await calls(kind, url, stream=True)
    assert pattern == "e"
    assert call.transport_error is not None and message in call.transport_error


async def test_responses_chain_previous_response_ids_and_read_output_text() -> None:
    bodies: list[dict[str, Any]] = []

    async def answer_with_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        bodies.append(json.loads(await reader.readexactly(length)))
        reply = {
            "id": f"resp_{len(bodies)}",
            "output": [
                {
                    "type": "message",
                    "content": [
                        {"type": "output_text", "text": "a"},
                        {"type": "refusal", "refusal": "x"},
                        {"type": "output_text", "text": "b"},
                    ],
                }
            ],
        }
        writer.write(http_200(json.dumps(reply).encode()))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_with_body, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        pattern, records = await calls("responses", url, n=3, model="m1")
    finally:
        server.close()
        await server.wait_closed()
    assert [c.reply for c in records] == ["ab"] * 3 and pattern == "fff"  # no provider: nothing was served
    assert [b.get("previous_response_id") for b in bodies] == [None, "resp_1", "resp_2"]
    assert all(b["model"] == "m1" and b["stream"] is False and "rr-" in b["input"] for b in bodies)
