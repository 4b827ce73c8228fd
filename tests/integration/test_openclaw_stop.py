"""Real OpenClaw 2026.9.6 when a client stops a turn or goes away (issue 29, item 7), driven with the transport's
own ``stop`` and ``disconnect`` against the fake provider, whose journal is the witness. The provider holds the
first message's model call 4 s; the client acts 1 s after the provider got it, then sends the next message.

Measured (benchmarks/stop_probe_openclaw.py has the same probe with a provider of its own, for other releases):

- ``chat.abort`` at request + 1 s answers ``{ok, aborted: true, runIds: [that run]}``, the turn ends with a
  ``chat`` event in state ``aborted``, and the model call is closed by the gateway at once (5–125 ms after the
  stop went out). The stopped user message stays in the session without an answer, and the next message's
  model request carries both in its latest user turn, so the next reply echoes the stopped message's token too.
- A client that goes away (its WebSocket closed) does not cancel the turn (OpenClaw #82484): the model call is
  served to its end and the turn is stored; the next message's conversation holds it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_replyrace import FakeProvider, LaunchedGateway
from pytest_replyrace.gateway.openclaw import OpenClawProfile, json_log_line, warm_up
from pytest_replyrace.gateway.readiness import ReadyCheck
from pytest_replyrace.records import JournalEntry
from pytest_replyrace.transports.base import CallEvents
from pytest_replyrace.transports.openclaw import OpenClawTransport

pytestmark = pytest.mark.openclaw

VERSION = "2026.9.6"
Release = Callable[[str], tuple[Path, Path]]


@pytest.fixture
def openclaw(openclaw_release: Release) -> Iterator[tuple[FakeProvider, str, str]]:
    """(the provider, the gateway's URL, its token): OpenClaw 2026.9.6 on the fake provider, warmed up."""
    entry, node = openclaw_release(VERSION)
    with FakeProvider(rtt=0.05) as provider:
        profile = OpenClawProfile(entry, node=str(node))
        gateway = LaunchedGateway(
            profile.command(), provider_url=provider.base_url, ready=ReadyCheck("http", "/readyz"), ready_timeout=180
        )
        state_dir = gateway.prepare().state_dir  # the config names the port and the state dir
        gateway.extra_env.update(profile.env(state_dir))
        gateway.extra_logs = [(path, json_log_line) for path in profile.log_files(state_dir)]
        profile.write_config(state_dir, gateway.port, provider.base_url)
        gateway.start()
        try:
            asyncio.run(warm_up(gateway.url, profile.token, 180))
            provider.set_token_rtt("rr-ocstop", 4.0)
            yield provider, gateway.url, profile.token
        finally:
            gateway.stop()


async def request_for(provider: FakeProvider, token: str, timeout: float = 60.0) -> JournalEntry:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in provider.journal if token in e.tokens]
        if found:
            return found[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"the provider never got {token}: {provider.journal}")


async def act_then_next(
    provider: FakeProvider, url: str, token: str, how: str
) -> tuple[object, object, object, JournalEntry, float]:
    """Message 1 (held 4 s), ``how`` (stop or disconnect) 1 s after the provider got it, then message 2:
    (the stop's answer or the cut instant, reply 1, reply 2, the journal entry of message 1, the act's instant)."""
    key = f"agent:test:stop-{secrets.token_hex(3)}"
    transport = OpenClawTransport(url, token=token, handshake_timeout=60)
    try:
        first = asyncio.create_task(transport.send(key, "first rr-ocstop-1", "run-1", events=CallEvents()))
        entry = await request_for(provider, "rr-ocstop-1")
        await asyncio.sleep(max(0.0, entry.arrived_at + 1.0 - time.monotonic()))
        acted = time.monotonic()
        answer = (
            await transport.stop(key, "run-1", wait_for_run=5) if how == "stop" else await transport.disconnect("run-1")
        )
        reply_1 = await asyncio.wait_for(first, 60)
        reply_2 = await asyncio.wait_for(transport.send(key, "next rr-ocnext-2", secrets.token_hex(16)), 60)
        await asyncio.sleep(5.0)  # a turn that went on ends, and a queued message is run
    finally:
        await transport.close()
    entry = next(e for e in provider.journal if "rr-ocstop-1" in e.tokens)  # its own model call, the first
    return answer, reply_1, reply_2, entry, acted


def test_openclaw_2026_9_6_stop_closes_the_model_call(openclaw: tuple[FakeProvider, str, str]) -> None:
    provider, url, token = openclaw
    answer, stopped, after, entry, acted = asyncio.run(act_then_next(provider, url, token, "stop"))
    print(answer, stopped, after, entry, sep="\n")
    assert answer.aborted is True and answer.run_ids == ("run-1",) and answer.error is None  # type: ignore[attr-defined]
    assert stopped.state == "aborted" and stopped.reply is None  # type: ignore[attr-defined]
    assert entry.ended_at is None and entry.closed_at is not None and entry.closed_at - acted < 2.0, entry
    # The next message is answered; its request folds the stopped message into its latest user turn.
    assert after.state == "final" and "rr-ocnext-2" in (after.reply or ""), after  # type: ignore[attr-defined]
    (nxt,) = [e for e in provider.journal if "rr-ocnext-2" in e.tokens]
    assert "rr-ocstop-1" in nxt.tokens, nxt


def test_openclaw_2026_9_6_turn_outlives_its_client(openclaw: tuple[FakeProvider, str, str]) -> None:
    provider, url, token = openclaw
    cut_at, cut, after, entry, _ = asyncio.run(act_then_next(provider, url, token, "disconnect"))
    print(cut_at, cut, after, entry, sep="\n")
    assert cut.cut_at == cut_at and cut.state is None  # type: ignore[attr-defined]
    # The turn went on: its model call was served to its end, and the next conversation holds it.
    assert entry.ended_at is not None and entry.closed_at is None, entry
    later = [e for e in provider.journal if "rr-ocnext-2" in e.tokens]
    assert later and "rr-ocstop-1" in later[-1].history, provider.journal
