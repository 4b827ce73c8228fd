"""The WebSocket transport against a hostile gateway: malformed, oversized, too deeply
nested frames and numbers too long end the call as an error quoting the frame, within
bounds, never a hang and never a crash of the run.

A real websockets server on 127.0.0.1 plays the gateway: it does the OpenClaw
handshake, acks chat.send, then misbehaves in the way each test asks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from pytest_replyrace.driver import DriverSettings, SequentialSender
from pytest_replyrace.transports.openclaw import OpenClawTransport

CHALLENGE = json.dumps({"type": "event", "event": "connect.challenge", "payload": {"nonce": "n", "ts": 0}})


@asynccontextmanager
async def hostile_gateway(
    after_ack: Callable[[ServerConnection, dict[str, Any]], Any], challenge: str | bytes = CHALLENGE
) -> AsyncIterator[str]:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(challenge)
        hello = json.loads(await ws.recv())
        await ws.send(
            json.dumps(
                {
                    "type": "res",
                    "id": hello["id"],
                    "ok": True,
                    "payload": {
                        "type": "hello-ok",
                        "protocol": 3,
                        "auth": {"role": "operator", "scopes": ["operator.write"]},
                    },
                }
            )
        )
        async for raw in ws:
            request = json.loads(raw)
            await ws.send(
                json.dumps(
                    {
                        "type": "res",
                        "id": request["id"],
                        "ok": True,
                        "payload": {"runId": request["params"]["idempotencyKey"], "status": "started"},
                    }
                )
            )
            await after_ack(ws, request)

    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"


async def run_calls(url: str, calls: int = 2) -> str:
    sender = SequentialSender(
        lambda: OpenClawTransport(url, token="t", handshake_timeout=5),
        settings=DriverSettings(calls=calls, timeout=5, settle=0),
    )
    result = await sender.arun()
    return result.pattern, result.calls  # type: ignore[return-value]


@pytest.mark.asyncio
async def test_a_malformed_frame_is_an_error_quoting_it() -> None:
    async def garbage(ws: ServerConnection, request: dict[str, Any]) -> None:
        await ws.send("this is {not json")

    async with hostile_gateway(garbage) as url:
        pattern, calls = await asyncio.wait_for(run_calls(url), 20)
    assert pattern == "ee"
    assert "malformed frame: 'this is {not json'" in calls[0].transport_error


@pytest.mark.asyncio
async def test_an_oversized_frame_is_an_error_not_a_buffer() -> None:
    async def flood(ws: ServerConnection, request: dict[str, Any]) -> None:
        await ws.send("x" * (9 * 1024 * 1024))  # over the 8 MiB frame bound

    async with hostile_gateway(flood) as url:
        pattern, calls = await asyncio.wait_for(run_calls(url, calls=1), 20)
    assert pattern == "e"
    assert "dropped" in calls[0].transport_error and "1009" in calls[0].transport_error


@pytest.mark.asyncio
async def test_a_gateway_that_never_finals_is_lost_within_the_call_timeout() -> None:
    async def silence(ws: ServerConnection, request: dict[str, Any]) -> None:
        return None

    async with hostile_gateway(silence) as url:
        sender = SequentialSender(
            lambda: OpenClawTransport(url, token="t", handshake_timeout=5),
            settings=DriverSettings(calls=2, timeout=0.5, settle=0),
        )
        result = await asyncio.wait_for(sender.arun(), 20)
    assert result.pattern == "ll"


@pytest.mark.asyncio
async def test_deltas_without_a_final_are_an_error_quoting_them() -> None:
    # A WebSocket slow-loris: the answer starts streaming and never ends. Like a half-sent HTTP body it is
    # an answer begun (e, with what arrived), not silence (l), and it ends within the call timeout.
    async def trickle(ws: ServerConnection, request: dict[str, Any]) -> None:
        payload = {
            "runId": request["params"]["idempotencyKey"],
            "sessionKey": request["params"]["sessionKey"],
            "state": "delta",
            "deltaText": "half an answer ",
        }
        for _ in range(3):
            await ws.send(json.dumps({"type": "event", "event": "chat", "payload": payload}))

    async with hostile_gateway(trickle) as url:
        sender = SequentialSender(
            lambda: OpenClawTransport(url, token="t", handshake_timeout=5),
            settings=DriverSettings(calls=2, timeout=0.5, settle=0),
        )
        result = await asyncio.wait_for(sender.arun(), 20)
    assert result.pattern == "ee"
    error = result.calls[0].transport_error
    assert error.startswith("the reply started but did not finish within 0.5s: chat deltas but no final: ")
    assert "'half an answer half an answer half an answer '" in error


@pytest.mark.asyncio
async def test_a_run_streaming_past_the_frame_bound_is_capped() -> None:
    async def flood(ws: ServerConnection, request: dict[str, Any]) -> None:
        payload = {
            "runId": request["params"]["idempotencyKey"],
            "sessionKey": request["params"]["sessionKey"],
            "state": "delta",
            "deltaText": "y" * 4096,
        }
        for _ in range(64):
            await ws.send(json.dumps({"type": "event", "event": "chat", "payload": payload}))
        await ws.send(json.dumps({"type": "event", "event": "chat", "payload": {**payload, "state": "final"}}))

    async with hostile_gateway(flood) as url:
        sender = SequentialSender(
            lambda: OpenClawTransport(url, token="t", handshake_timeout=5, max_frame_bytes=64 * 1024),
            settings=DriverSettings(calls=1, timeout=5, settle=0),
        )
        result = await asyncio.wait_for(sender.arun(), 20)
    # 64 deltas of 4 KiB sum to 256 KiB; what is kept stops at the 64 KiB bound.
    assert len(result.calls[0].reply) == 64 * 1024


@pytest.mark.asyncio
async def test_a_drop_between_calls_reconnects() -> None:
    async def final_then_drop(ws: ServerConnection, request: dict[str, Any]) -> None:
        run_id = request["params"]["idempotencyKey"]
        await ws.send(
            json.dumps(
                {
                    "type": "event",
                    "event": "chat",
                    "payload": {
                        "runId": run_id,
                        "sessionKey": request["params"]["sessionKey"],
                        "state": "final",
                        "message": {"role": "assistant", "content": [{"type": "text", "text": "bye"}]},
                    },
                }
            )
        )
        await ws.close()

    async with hostile_gateway(final_then_drop) as url:
        pattern, calls = await asyncio.wait_for(run_calls(url, calls=3), 20)
    # No provider here, so the replies are fast-fails; what matters is that each call got its final.
    assert pattern == "fff" and [c.reply for c in calls] == ["bye"] * 3


# Valid JSON Python's json cannot read (RecursionError, ValueError): the reader task used to die,
# leaving the call to time out as `l` (the gateway did answer), or, in the handshake, to abort the run.
DEEP = "[" * 100_000 + "]" * 100_000
LONG_NUMBER = '{"type": "event", "event": "chat", "payload": {"seq": ' + "9" * 5000 + "}}"
FRAMES = pytest.mark.parametrize(
    ("frame", "raised"),
    [(DEEP, "RecursionError"), (LONG_NUMBER, "ValueError"), (b'{"type": "\xff"}', "UnicodeDecodeError")],
    ids=["nested-200KB", "5000-digits", "not-utf8"],
)


@pytest.mark.asyncio
@FRAMES
async def test_a_frame_python_cannot_read_is_an_error_naming_what_was_raised(frame: str | bytes, raised: str) -> None:
    async def hostile(ws: ServerConnection, request: dict[str, Any]) -> None:
        await ws.send(frame)

    async with hostile_gateway(hostile) as url:
        pattern, calls = await asyncio.wait_for(run_calls(url), 20)
    assert pattern == "ee"
    error = calls[0].transport_error
    assert "malformed frame: " in error and f"({raised}: " in error and len(error) < 700


@pytest.mark.asyncio
@FRAMES
async def test_a_handshake_frame_python_cannot_read_is_an_error_not_a_crash(frame: str | bytes, raised: str) -> None:
    async def never(ws: ServerConnection, request: dict[str, Any]) -> None:
        return None

    async with hostile_gateway(never, challenge=frame) as url:
        pattern, calls = await asyncio.wait_for(run_calls(url), 20)
    assert pattern == "ee"
    error = calls[0].transport_error
    assert "malformed frame during the handshake: " in error and f"({raised}: " in error and len(error) < 700
