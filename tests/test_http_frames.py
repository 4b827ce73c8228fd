"""The HTTP transport against a hostile gateway: answers that are not JSON, too large,
endlessly slow or not HTTP at all end the call as an `e` quoting what arrived, within the
call's timeout and without an unbounded buffer; no answer at all is `l`.

A raw asyncio server on 127.0.0.1 plays the gateway, so each test controls every byte.
"""

from __future__ import annotations

import asyncio

import pytest

from pytest_replyrace.driver import DriverSettings, SequentialSender
from pytest_replyrace.records import CallRecord
from pytest_replyrace.transport import MAX_BODY_BYTES, HttpTransport
from support.hostile import hostile_gateway, http_200

async def one_call(url: str, timeout: float = 5.0) -> tuple[str, CallRecord]:
    sender = SequentialSender(lambda: HttpTransport(url), settings=DriverSettings(calls=1, timeout=timeout, settle=0))
    result = await asyncio.wait_for(sender.arun(), 30)
    return result.pattern, result.calls[0]


@pytest.mark.asyncio
async def test_an_answer_that_is_not_json_is_an_error_quoting_it() -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(http_200(b"<html>502 Bad Gateway</html>"))
        await writer.drain()

    async with hostile_gateway(answer) as url:
        pattern, call = await one_call(url)
    assert pattern == "e"
    assert call.transport_error is not None and "reply is not JSON: '<html>502 Bad Gateway</html>'" in call.transport_error


@pytest.mark.asyncio
async def test_an_oversized_answer_is_cut_and_an_error() -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(http_200(b"", length=8 * MAX_BODY_BYTES))
        for _ in range(8 * MAX_BODY_BYTES // 65536):
            writer.write(b"x" * 65536)
            await writer.drain()

    async with hostile_gateway(answer) as url:
        pattern, call = await one_call(url)
    assert pattern == "e"
    assert call.transport_error is not None
    assert f"reply larger than {MAX_BODY_BYTES} bytes: 'xxxx" in call.transport_error
    assert len(call.transport_error) < 400  # an excerpt, not the body


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_a_slow_loris_answer_is_an_error_quoting_what_arrived() -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(http_200(b'{"reply": "rr-', length=1000))
        for _ in range(120):  # one byte a quarter second: never done within the call timeout
            await writer.drain()
            await asyncio.sleep(0.25)
            writer.write(b"a")

    async with hostile_gateway(answer) as url:
        pattern, call = await one_call(url, timeout=1.0)
    assert pattern == "e"
    assert call.transport_error is not None
    assert "did not finish within 1s: HTTP 200 and" in call.transport_error
    assert "\'{\"reply\": \"rr-" in call.transport_error


@pytest.mark.asyncio
@pytest.mark.timeout(30)
async def test_no_answer_at_all_is_lost_within_the_call_timeout() -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(20)

    async with hostile_gateway(answer) as url:
        pattern, call = await one_call(url, timeout=0.5)
    assert pattern == "l" and call.timed_out and call.transport_error is None


@pytest.mark.asyncio
async def test_an_answer_that_is_not_http_is_an_error() -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()

    async with hostile_gateway(answer) as url:
        pattern, call = await one_call(url)
    assert pattern == "e"
    assert call.transport_error is not None and call.transport_error.startswith(f"POST {url}/chat.send failed")
