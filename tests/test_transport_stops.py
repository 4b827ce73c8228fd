"""The transports' stop and disconnect (issue 29, item 5), against a real gateway on 127.0.0.1 that holds
every turn and watches its connections (tests/support/stop_gateway.py)."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from support.stop_gateway import StopGateway, stop_gateway

from pytest_replyrace.transports.base import CallEvents, TransportReply
from pytest_replyrace.transports.cuts import DISCONNECTED
from pytest_replyrace.transports.http import HttpTransport
from pytest_replyrace.transports.openai import OpenAIChatTransport, OpenAIResponsesTransport
from pytest_replyrace.transports.openclaw import OpenClawTransport

KEY = "agent:test:main"
pytestmark = pytest.mark.asyncio


async def until(gateway: StopGateway, run_id: str, timeout: float = 5.0) -> None:
    """Until the gateway has the run (bounded)."""
    deadline = time.monotonic() + timeout
    while run_id not in gateway.runs and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    assert run_id in gateway.runs, f"the gateway never got {run_id}"


async def test_http_stop_aborts_the_turn_and_reads_the_answer() -> None:
    async with stop_gateway(hold=5.0) as gateway:
        transport = HttpTransport(gateway.url)
        try:
            run_id = secrets.token_hex(8)
            call = asyncio.create_task(transport.send(KEY, f"hello {run_id}", run_id))
            await until(gateway, run_id)
            answer = await transport.stop(KEY, run_id, wait_for_run=1.0)
            reply = await asyncio.wait_for(call, 5)
            again = await transport.stop(KEY, run_id, wait_for_run=1.0)  # nothing runs any more
            refused = await transport.stop(KEY, "refuse", wait_for_run=1.0)
        finally:
            await transport.close()
    assert answer.aborted is True and answer.error is None, answer
    assert reply.reply is None and reply.error == "run aborted", reply
    assert gateway.runs[run_id].aborted.is_set() and gateway.runs[run_id].gone_at is None
    assert again.aborted is False and again.error is None
    assert refused.aborted is None and refused.error is not None and "HTTP 404" in refused.error, refused


async def test_a_stop_answer_that_is_not_the_contract_is_an_error_quoting_it() -> None:
    async with stop_gateway() as gateway:
        transport = HttpTransport(gateway.url, abort_path="/chat.send")  # answers 500: no JSON body there
        try:
            answer = await transport.stop(KEY, "x", wait_for_run=1.0)
        finally:
            await transport.close()
    assert answer.aborted is None and answer.error is not None and "/chat.send" in answer.error, answer


@pytest.mark.parametrize("kind", ["http", "openai-chat", "openai-responses"])
async def test_disconnect_closes_that_answers_connection_and_later_calls_work(kind: str) -> None:
    async with stop_gateway(hold=3.0) as gateway:
        transport = {
            "http": lambda: HttpTransport(gateway.url),
            "openai-chat": lambda: OpenAIChatTransport(gateway.url, session_header="X-Session", stream=True),
            "openai-responses": lambda: OpenAIResponsesTransport(gateway.url, session_header="X-Session", stream=True),
        }[kind]()
        try:
            cut_id, later_id = secrets.token_hex(8), secrets.token_hex(8)
            call = asyncio.create_task(transport.send(KEY, f"hello {cut_id}", cut_id, events=CallEvents()))
            await until(gateway, cut_id)
            cut_at = await transport.disconnect(cut_id)
            reply = await asyncio.wait_for(call, 5)
            gateway.hold = 0.05
            later = await asyncio.wait_for(transport.send(KEY, f"again {later_id}", later_id), 5)
        finally:
            await transport.close()
    assert reply.cut_at == cut_at and reply.error == DISCONNECTED and reply.reply is None, reply
    gone = gateway.runs[cut_id].gone_at
    assert gone is not None and 0 <= gone - cut_at < 1.0, (gone, cut_at)  # the gateway saw it go, then
    assert gateway.runs[cut_id].ended_at is None
    assert later.error is None and later.reply and later_id in later.reply, later


async def test_disconnect_of_a_call_that_ended_cuts_nothing() -> None:
    async with stop_gateway(hold=0.05) as gateway:
        transport = OpenAIChatTransport(gateway.url, session_header="X-Session", stream=True)
        try:
            run_id = secrets.token_hex(8)
            reply = await transport.send(KEY, f"hello {run_id}", run_id)
            await transport.disconnect(run_id)
        finally:
            await transport.close()
    assert reply.cut_at is None and reply.reply and run_id in reply.reply


async def test_openai_transports_have_no_stop_call() -> None:
    for transport in (OpenAIChatTransport("http://127.0.0.1:9"), OpenAIResponsesTransport("http://127.0.0.1:9")):
        assert not hasattr(transport, "stop") and callable(transport.disconnect)


async def test_openclaw_stop_goes_out_right_after_chat_send_without_waiting_for_its_ack() -> None:
    async with stop_gateway(hold=5.0, ack_delay=0.5) as gateway:
        transport = OpenClawTransport(gateway.url, token="t")
        try:
            await transport.open()
            run_id = secrets.token_hex(8)
            call = asyncio.create_task(transport.send(KEY, "hello", run_id, events=CallEvents()))
            answer = await transport.stop(KEY, run_id, wait_for_run=2.0)
            reply: TransportReply = await asyncio.wait_for(call, 5)
        finally:
            await transport.close()
    assert gateway.frames == [("chat.send", run_id, False), ("chat.abort", run_id, False)], gateway.frames
    assert answer.aborted is True and answer.run_ids == (run_id,) and answer.error is None, answer
    assert reply.state == "aborted" and reply.reply is None and reply.cut_at is None, reply


async def test_openclaw_stop_answers_false_and_refusals_are_recorded() -> None:
    async with stop_gateway(hold=0.05) as gateway:
        transport = OpenClawTransport(gateway.url, token="t", queue_mode="steer")
        try:
            run_id = secrets.token_hex(8)
            reply = await transport.send(KEY, "hello", run_id)
            late = await transport.stop(KEY, run_id, wait_for_run=1.0)
            refused = await transport.stop("refuse", run_id, wait_for_run=1.0)
        finally:
            await transport.close()
    assert reply.state == "final" and reply.reply == "ECHO"
    assert gateway.runs[run_id].queue_mode == "steer"  # type: ignore[attr-defined]
    assert late.aborted is False and late.run_ids == () and late.error is None, late
    assert refused.aborted is None and refused.error is not None and "unknown session" in refused.error


async def test_openclaw_queue_mode_is_unset_by_default_and_checked() -> None:
    async with stop_gateway(hold=0.05) as gateway:
        transport = OpenClawTransport(gateway.url, token="t")
        try:
            run_id = secrets.token_hex(8)
            await transport.send(KEY, "hello", run_id)
        finally:
            await transport.close()
    assert gateway.runs[run_id].queue_mode is None  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="queue mode ''"):
        OpenClawTransport(gateway.url, queue_mode="")


async def test_openclaw_disconnect_closes_the_websocket_and_the_next_call_reconnects() -> None:
    async with stop_gateway(hold=3.0) as gateway:
        transport = OpenClawTransport(gateway.url, token="t")
        try:
            cut_id, later_id = secrets.token_hex(8), secrets.token_hex(8)
            call = asyncio.create_task(transport.send(KEY, "hello", cut_id, events=CallEvents()))
            await until(gateway, cut_id)
            await asyncio.sleep(0.1)  # acked
            cut_at = await transport.disconnect(cut_id)
            reply = await asyncio.wait_for(call, 5)
            gateway.hold = 0.05
            later = await asyncio.wait_for(transport.send(KEY, "again", later_id), 5)
            for _ in range(400):  # until the cut turn's hold is over (bounded: 4 s)
                if gateway.runs[cut_id].gone_at is not None:
                    break
                await asyncio.sleep(0.01)
        finally:
            await transport.close()
    assert reply.cut_at == cut_at and reply.error == DISCONNECTED and reply.state is None, reply
    assert later.state == "final" and later.reply == "ECHO", later
    # The gateway's turn went on without its client, and found its WebSocket closed when it ended.
    cut = gateway.runs[cut_id]
    assert cut.ended_at is not None and cut.gone_at is not None and cut.gone_at >= cut_at, cut


async def test_a_send_the_driver_cancels_is_cancelled_not_cut() -> None:
    async with stop_gateway(hold=3.0) as gateway:
        transport = HttpTransport(gateway.url)
        try:
            run_id = secrets.token_hex(8)
            call = asyncio.create_task(transport.send(KEY, f"hello {run_id}", run_id))
            await until(gateway, run_id)
            call.cancel()  # the driver's timeout: the call's connection closes, and the cancel passes through
            with pytest.raises(asyncio.CancelledError):
                await call
            for _ in range(200):  # the gateway sees the connection go (bounded: 2 s)
                if gateway.runs[run_id].gone_at is not None:
                    break
                await asyncio.sleep(0.01)
        finally:
            await transport.close()
    assert gateway.runs[run_id].gone_at is not None
