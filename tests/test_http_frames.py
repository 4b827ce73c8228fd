"""The HTTP transport against a hostile gateway: answers that are not JSON, too large,
endlessly slow or not HTTP at all, nested too deep, with numbers too long, not UTF-8 or
compressed bombs end the call as an `e` quoting what arrived, within the call's timeout and
without an unbounded buffer, and the run goes on; no answer at all is `l`.

A raw asyncio server on 127.0.0.1 plays the gateway, so each test controls every byte.
"""

from __future__ import annotations

import asyncio
import tracemalloc
import zlib

import pytest
from support.hostile import answering, hostile_gateway, http_200

from pytest_replyrace.driver import DriverSettings, SequentialSender
from pytest_replyrace.records import CallRecord
from pytest_replyrace.transports.base import MAX_BODY_BYTES
from pytest_replyrace.transports.http import HttpTransport


async def one_call(url: str, timeout: float = 5.0) -> tuple[str, CallRecord]:
    pattern, calls = await run_calls(url, 1, timeout)
    return pattern, calls[0]


async def run_calls(url: str, calls: int, timeout: float = 5.0) -> tuple[str, list[CallRecord]]:
    sender = SequentialSender(
        lambda: HttpTransport(url), settings=DriverSettings(calls=calls, timeout=timeout, settle=0)
    )
    result = await asyncio.wait_for(sender.arun(), 30)
    return result.pattern, result.calls


@pytest.mark.asyncio
async def test_an_answer_that_is_not_json_is_an_error_quoting_it() -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(http_200(b"<html>502 Bad Gateway</html>"))
        await writer.drain()

    async with hostile_gateway(answer) as url:
        pattern, call = await one_call(url)
    assert pattern == "e"
    assert (
        call.transport_error is not None and "reply is not JSON: '<html>502 Bad Gateway</html>'" in call.transport_error
    )


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
    assert '\'{"reply": "rr-' in call.transport_error


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


# Valid JSON under the body bound that Python's json cannot read: RecursionError and ValueError,
# not JSONDecodeError. Each used to abort the whole run (no summary row, no report entry).
DEEP = b"[" * 100_000 + b"]" * 100_000
LONG_NUMBER = b'{"reply": ' + b"9" * 5000 + b"}"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "raised"), [(DEEP, "RecursionError"), (LONG_NUMBER, "ValueError")], ids=["nested-200KB", "5000-digits"]
)
async def test_json_python_cannot_read_is_an_error_naming_what_was_raised(body: bytes, raised: str) -> None:
    async with hostile_gateway(answering(body)) as url:
        pattern, calls = await run_calls(url, 2)
    assert pattern == "ee"  # both calls: the run went on after the first
    error = calls[0].transport_error
    start = repr(body[:20].decode())[:-1]  # the excerpt quotes the body's start
    assert error is not None and f"reply is not JSON: {start}" in error
    assert f"({raised}: " in error
    assert len(error) < 700  # excerpts, not the body


@pytest.mark.asyncio
async def test_a_reply_that_is_not_utf8_is_an_error() -> None:
    async with hostile_gateway(answering(b'{"reply": "\xff\xfe rr-"}')) as url:
        pattern, call = await one_call(url)
    assert pattern == "e"
    assert call.transport_error is not None and "UnicodeDecodeError" in call.transport_error


def gzip_bomb(gib: int) -> bytes:
    """A gzip body of a few MB that inflates to ``gib`` GiB of zeros."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = bytes(16 << 20)
    return b"".join([packer.compress(block) for _ in range(64 * gib)] + [packer.flush()])


@pytest.mark.slow  # long: CI runs it in the slow step
@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_a_gzip_bomb_is_cut_at_the_body_bound_in_bounded_memory() -> None:
    bomb = gzip_bomb(2)
    tracemalloc.start()
    try:
        async with hostile_gateway(answering(bomb, b"Content-Encoding: gzip\r\n")) as url:
            pattern, call = await one_call(url)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert pattern == "e"
    assert call.transport_error is not None and f"reply larger than {MAX_BODY_BYTES} bytes" in call.transport_error
    # 2 GiB inflated; what was held at once stays near the 1 MiB body bound plus the bomb itself.
    assert peak < len(bomb) + 64 * MAX_BODY_BYTES
