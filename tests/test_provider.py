"""The fake provider as a real server on loopback: echo, RTT, journal, faults."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_replyrace.errors import FakeProviderError
from pytest_replyrace.provider.server import NO_TOKEN_REPLY, FakeProvider, RttSpec


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(rtt=0.05, seed=3) as server:
        yield server


def post(provider: FakeProvider, body: Any, raw: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", provider.port, timeout=10)
    try:
        data = raw if raw is not None else json.dumps(body).encode()
        conn.request("POST", "/v1/chat/completions", body=data, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def chat(*user_texts: str, stream: bool = False, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    messages = [{"role": "system", "content": "You are a test. rr-zzzz-99 in system text is not a turn."}]
    messages += history or []
    messages += [{"role": "user", "content": text} for text in user_texts]
    return {"model": "fake-model", "stream": stream, "messages": messages}


def sse_text(body: bytes) -> str:
    text = ""
    lines = [line for line in body.decode().splitlines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        delta = json.loads(line[len("data: ") :])["choices"][0]["delta"]
        text += delta.get("content", "")
    return text


def test_non_streaming_reply_echoes_the_latest_user_turn(provider: FakeProvider) -> None:
    history = [{"role": "user", "content": "old rr-aaaa-1"}, {"role": "assistant", "content": "ECHO rr-aaaa-1"}]
    status, body = post(provider, chat("[Tue 06:05 UTC] wrapped rr-abcd-2", "Sender metadata", history=history))
    assert status == 200, body.decode()[-1500:]
    assert json.loads(body)["choices"][0]["message"]["content"] == "ECHO rr-abcd-2"
    (entry,) = provider.journal
    assert entry.tokens == ["rr-abcd-2"] and entry.status == 200 and not entry.stream and entry.served


@pytest.mark.parametrize(
    ("turns", "latest", "history", "tokens"),
    [
        # OpenClaw's shape: the user text and a metadata user message make one turn; the history is before it.
        (
            [("old rr-aaaa-1", "ECHO rr-aaaa-1"), ("rr-aaaa-2 again", "ECHO rr-aaaa-2")],
            ["[Sun] rr-aaaa-3", "Sender meta"],
            ["rr-aaaa-1", "rr-aaaa-2"],
            ["rr-aaaa-3"],
        ),
        # A gateway that stores the turn and then appends it again: the latest turn carries it twice.
        ([("rr-aaaa-1", "ECHO rr-aaaa-1")], ["rr-aaaa-2", "rr-aaaa-2"], ["rr-aaaa-1"], ["rr-aaaa-2", "rr-aaaa-2"]),
        # A user turn stored twice in the history shows twice there.
        (
            [("rr-aaaa-1", None), ("rr-aaaa-1", "ECHO rr-aaaa-1")],
            ["rr-aaaa-2"],
            ["rr-aaaa-1", "rr-aaaa-1"],
            ["rr-aaaa-2"],
        ),
    ],
)
def test_the_journal_keeps_the_history_and_the_latest_turn_message_by_message(
    provider: FakeProvider,
    turns: list[tuple[str, str | None]],
    latest: list[str],
    history: list[str],
    tokens: list[str],
) -> None:
    earlier: list[dict[str, Any]] = []
    for user, assistant in turns:
        earlier.append({"role": "user", "content": user})
        if assistant is not None:
            earlier.append({"role": "assistant", "content": assistant})
    status, body = post(provider, chat(*latest, history=earlier))
    assert status == 200
    (entry,) = provider.journal
    assert (entry.history, entry.tokens) == (history, tokens)
    assert json.loads(body)["choices"][0]["message"]["content"] == "ECHO " + tokens[0]  # each token echoed once


def test_streaming_reply_carries_tokens_from_every_user_message_of_the_turn(provider: FakeProvider) -> None:
    status, body = post(provider, chat("first rr-abcd-3", [{"type": "text", "text": "rr-abcd-4"}], stream=True))  # type: ignore[arg-type]
    assert status == 200
    assert sse_text(body) == "ECHO rr-abcd-3 rr-abcd-4"
    assert provider.journal[0].stream is True


def test_no_token_gives_the_fixed_reply(provider: FakeProvider) -> None:
    status, body = post(provider, chat("hello"))
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == NO_TOKEN_REPLY


def test_rtt_is_applied_arrival_to_last_byte(provider: FakeProvider) -> None:
    provider.set_rtt(0.3)
    for stream in (False, True):
        post(provider, chat("rr-abcd-5", stream=stream))
    for entry in provider.journal:
        assert entry.rtt == 0.3
        assert entry.duration is not None and entry.duration >= 0.3


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"messages": []}).encode(),
        json.dumps({"messages": [{}], "stream": "yes"}).encode(),
    ],
)
def test_malformed_requests_get_400_and_a_journal_entry(provider: FakeProvider, raw: bytes) -> None:
    status, body = post(provider, None, raw=raw)
    assert status == 400 and "error" in json.loads(body)
    assert provider.journal[-1].status == 400 and provider.journal[-1].error
    status, _ = post(provider, chat("rr-abcd-6"))  # and the server is still up
    assert status == 200


def test_models_endpoint(provider: FakeProvider) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", provider.port, timeout=10)
    conn.request("GET", "/v1/models")
    data = json.loads(conn.getresponse().read())
    conn.close()
    assert data["data"][0]["id"] == "fake-model"


def test_jitter_replays_from_the_seed_whatever_the_order() -> None:
    tokens = [f"rr-jitt-{i}" for i in range(1, 7)]
    draws = []
    for order in (tokens, list(reversed(tokens))):
        with FakeProvider(rtt=0.02, jitter=0.5, seed=42) as provider:
            for token in order:
                post(provider, chat(token))
            draws.append({e.tokens[0]: e.rtt for e in provider.journal})
    assert draws[0] == draws[1]
    assert len(set(draws[0].values())) == len(tokens)  # really jittered
    assert all(0.01 <= v <= 0.03 for v in draws[0].values())
    with FakeProvider(rtt=0.02, jitter=0.5, seed=43) as provider:
        post(provider, chat(tokens[0]))
        assert provider.journal[0].rtt != draws[0][tokens[0]]


def test_token_rtt_overrides_and_reset_clears(provider: FakeProvider) -> None:
    provider.set_token_rtt("rr-slow-", 0.2)
    post(provider, chat("rr-slow-1"))
    post(provider, chat("rr-fast-1"))
    assert [e.rtt for e in provider.journal] == [0.2, 0.05]
    provider.reset(rtt=0.01)
    assert provider.journal == []
    post(provider, chat("rr-slow-2"))
    assert provider.journal[0].rtt == 0.01 and provider.journal[0].seq == 1


def test_concurrent_requests_are_served_in_parallel(provider: FakeProvider) -> None:
    provider.set_rtt(0.3)
    threads = [threading.Thread(target=post, args=(provider, chat(f"rr-para-{i}"))) for i in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    journal = provider.journal
    assert len(journal) == 8 and all(e.served for e in journal)
    # All eight overlapped: the last one arrived before the first one ended.
    assert max(e.arrived_at for e in journal) < min(e.ended_at or 0 for e in journal)


@pytest.mark.parametrize("kind,status", [("500", 500), ("503", 503), ("429", 429)])
def test_http_faults_are_journaled(provider: FakeProvider, kind: str, status: int) -> None:
    provider.faults(kind, calls=[2])
    assert post(provider, chat("rr-flt-1"))[0] == 200
    assert post(provider, chat("rr-flt-2"))[0] == status
    assert provider.journal[1].fault == kind and not provider.journal[1].served


def test_reset_fault_cuts_the_connection(provider: FakeProvider) -> None:
    provider.faults("reset", rate=1.0)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        post(provider, chat("rr-flt-3"))
    (entry,) = provider.journal
    assert entry.fault == "reset" and entry.ended_at is not None and not entry.served


def test_fault_calls_name_each_runs_nth_call(provider: FakeProvider) -> None:
    """`calls=[2]` faults the 2nd call of every run (the token's number), not the 2nd request."""
    provider.faults("500", calls=[2])
    statuses = [post(provider, chat(token))[0] for token in ("rr-runa-1", "rr-runb-1", "rr-runa-2", "rr-runb-2")]
    assert statuses == [200, 200, 500, 500]
    assert [e.fault for e in provider.journal] == [None, None, "500", "500"]


@pytest.mark.parametrize("stream", [False, True])
def test_slow_first_token_is_a_real_late_answer(provider: FakeProvider, stream: bool) -> None:
    provider.faults("ttft", calls=[1], ttft=0.3)
    status, body = post(provider, chat("rr-late-1", stream=stream))
    assert status == 200 and "rr-late-1" in (sse_text(body) if stream else body.decode())
    (entry,) = provider.journal
    assert entry.served and entry.fault == "ttft" and entry.duration is not None and entry.duration >= 0.3


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_and_cut_are_not_served(provider: FakeProvider, stream: bool) -> None:
    provider.faults("malformed", calls=[1])
    status, body = post(provider, chat("rr-junk-1", stream=stream))
    assert status == 200 and b"rr-junk-1" not in body
    provider.reset()
    provider.faults("cut", calls=[1], after_chunks=1)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        post(provider, chat("rr-junk-1", stream=stream))
    (entry,) = provider.journal
    assert entry.fault == "cut" and entry.ended_at is not None and not entry.served


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 1.5}, "fault rate 1.5: expected a fraction in [0, 1]"),
        ({"rate": "often"}, "fault rate 'often': expected a fraction in [0, 1]"),
        ({"calls": [0]}, "fault calls [0]: expected call numbers >= 1 (at most 10000)"),
        ({"calls": "2"}, "fault calls '2': expected call numbers >= 1, such as [2] or (2, 4)"),
        ({"after_chunks": -1}, "fault after_chunks -1: expected an integer >= 0 (at most 10000)"),
        ({"ttft": -1}, "fault ttft -1: expected seconds from 0 to 3600"),
        ({"retry_after": "soon"}, "fault retry_after 'soon': expected seconds from 0 to 3600"),
    ],
)
def test_bad_fault_arguments_name_the_value(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        FakeProvider().faults("500", **kwargs)
    assert str(excinfo.value) == message


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        FakeProvider(host="0.0.0.0")
    with pytest.raises(ValueError, match="jitter"):
        RttSpec.of(0.1, jitter=1.5)
    with pytest.raises(ValueError, match="rtt"):
        RttSpec.of((0.5, 0.1))
    with pytest.raises(ValueError, match="fault kind 'teapot'"):
        FakeProvider().faults("teapot", rate=0.5)


def test_stop_releases_the_port_and_thread() -> None:
    provider = FakeProvider().start()
    port = provider.port
    provider.stop()
    assert not provider.running
    with pytest.raises(ConnectionRefusedError):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/v1/models")
    time.sleep(0)


def test_a_failure_in_our_handler_is_a_500_saying_so_journaled_and_raised_as_ours(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise KeyError("injected")

    monkeypatch.setattr(provider._planner, "plan", broken)  # a bug of ours, wherever it is
    status, body = post(provider, chat("hello rr-abcd-1"))
    assert status == 500
    error = json.loads(body)["error"]
    assert error["message"] == (
        "replyrace's fake provider failed while serving POST /v1/chat/completions: KeyError: 'injected'"
    )
    assert "in broken" in error["traceback"]
    (entry,) = provider.journal
    assert entry.status == 500 and not entry.served and entry.traceback is not None and "KeyError" in entry.traceback
    with pytest.raises(FakeProviderError, match="KeyError: 'injected'"):
        provider.check_handler_errors()
    provider.check_handler_errors()  # reported once: the next check is clean
