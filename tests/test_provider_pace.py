"""Paced streams: ttft, piece count, filler words and a seeded per-piece schedule that replays, in every API.

Asserted on counts, order and the schedule the journal holds; never on how fast the machine is (a piece may
arrive late under load, never before its planned instant)."""

from __future__ import annotations

import http.client
import itertools
import json
import random
from collections.abc import Iterator

import aiohttp
import pytest
from support.tool_agent import APIS, ask, first_body, follow_up

from pytest_replyrace.provider.model import FILLER, ModelSpec, piece_schedule
from pytest_replyrace.provider.server import FakeProvider


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    spec = ModelSpec(ttft=0.04, reply_pieces=6, reply_words=10)
    with FakeProvider(rtt=0.2, jitter=0.3, seed=11, model_spec=spec) as server:
        yield server


def base(provider: FakeProvider) -> str:
    return f"http://127.0.0.1:{provider.port}"


@pytest.mark.asyncio
@pytest.mark.parametrize("api", APIS)
async def test_the_text_streams_in_its_pieces_from_ttft_to_the_rtt(provider: FakeProvider, api: str) -> None:
    async with aiohttp.ClientSession() as session:
        answer = await ask(session, base(provider), api, first_body(api, "rr-pace-1", True, tools=()))
    words = " ".join(FILLER[i % len(FILLER)] for i in range(10))
    assert answer.text == f"ECHO rr-pace-1 {words}"
    (entry,) = provider.journal
    schedule = entry.schedule
    assert len(schedule) == 6 and len(answer.text_times) == 6  # one event per piece, as planned
    assert schedule[0] == pytest.approx(0.04) and schedule[-1] == pytest.approx(entry.rtt)
    assert schedule == sorted(schedule) and len(set(schedule)) == 6
    assert answer.text_times == sorted(answer.text_times)
    # No piece before its planned instant, and the request is served when its last byte goes out.
    assert all(at >= entry.arrived_at + planned - 1e-4 for at, planned in zip(answer.text_times, schedule))
    assert len(entry.written) == 6 and all(w >= p - 1e-4 for w, p in zip(entry.written, schedule))
    assert entry.served and entry.ended_at is not None and entry.ended_at >= entry.arrived_at + entry.rtt - 1e-4


def test_the_schedule_replays_from_the_seed_and_the_token() -> None:
    def schedule(seed: int, token: str) -> list[float]:
        with FakeProvider(
            rtt=0.05, jitter=0.5, seed=seed, model_spec=ModelSpec(ttft=0.01, reply_pieces=8, reply_words=20)
        ) as server:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request(
                "POST",
                "/v1/chat/completions",
                body=json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": token}]}),
            )
            conn.getresponse().read()
            conn.close()
            (entry,) = server.journal
            return entry.schedule

    first = schedule(3, "rr-pace-2")
    assert first == schedule(3, "rr-pace-2")
    assert first != schedule(4, "rr-pace-2") and first != schedule(3, "rr-pace-3")
    gaps = [b - a for a, b in itertools.pairwise(first)]
    assert len(set(round(g, 9) for g in gaps)) > 1  # jittered, not even


@pytest.mark.asyncio
async def test_a_tool_steps_arguments_are_paced_too(provider: FakeProvider) -> None:
    provider.model(tool_calls=1, arguments='{"zone": "Europe/Amsterdam"}')
    body = first_body("anthropic-messages", "rr-pace-4", True)
    async with aiohttp.ClientSession() as session:
        call = await ask(session, base(provider), "anthropic-messages", body)
        done = await ask(
            session, base(provider), "anthropic-messages", follow_up("anthropic-messages", body, call, ["noon"])
        )
    assert call.kind == "tool" and call.argument_pieces == 6 and call.arguments == '{"zone": "Europe/Amsterdam"}'
    assert done.text.startswith("ECHO rr-pace-4 lorem")
    tool, text = provider.journal
    assert len(tool.schedule) == 6 and len(text.schedule) == 6 and tool.schedule[0] == pytest.approx(0.04)


def test_without_ttft_the_pieces_keep_todays_spacing() -> None:
    rng = random.Random(0)
    assert piece_schedule(3, 0.3, None, 0.0, rng) == pytest.approx([0.15, 0.2, 0.25])
    assert piece_schedule(3, 0.3, 0.1, 0.0, rng) == pytest.approx([0.1, 0.2, 0.3])
    assert piece_schedule(1, 0.3, 0.1, 0.0, rng) == [0.1]
    assert piece_schedule(2, 0.3, 5.0, 0.0, rng) == pytest.approx([0.3, 0.3])  # ttft beyond the RTT: at the RTT
    jittered = piece_schedule(50, 2.0, 0.0, 0.5, random.Random(9))
    assert jittered[0] == 0.0 and jittered[-1] == pytest.approx(2.0) and jittered == sorted(jittered)
    assert jittered == piece_schedule(50, 2.0, 0.0, 0.5, random.Random(9))
