"""Every provider API the fake provider speaks, over real HTTP: replies, streams, bad requests and faults."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_replyrace.provider.server import FakeProvider

APIS = ["openai-chat", "anthropic-messages", "openai-responses", "ollama"]
PATHS = {
    "openai-chat": "/v1/chat/completions",
    "anthropic-messages": "/v1/messages",
    "openai-responses": "/v1/responses",
    "ollama": "/api/chat",
}
HISTORY = [
    ("user", "first rr-dial-1"),
    ("assistant", "ECHO rr-dial-1"),
    ("user", "second rr-dial-2"),
    ("assistant", "ECHO rr-dial-2"),
]


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(rtt=0.05, seed=5) as server:
        yield server


class Answer:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """SSE events as (event name, data)."""
        events = []
        for block in self.body.decode().split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "data" in fields:
                events.append((fields.get("event", ""), json.loads(fields["data"])))
        return events

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.body.decode().splitlines() if line]


def send(
    provider: FakeProvider,
    path: str,
    body: Any = None,
    raw: bytes | None = None,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", provider.port, timeout=10)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


def request_body(api: str, text: str, stream: bool | None, history: list[tuple[str, str]] = HISTORY) -> dict[str, Any]:
    """A request as that API's clients send it, with a system prompt carrying a token that is not a turn."""
    system = "You are a test; rr-syst-9 here is not a user turn."
    turns = [*history, ("user", text)]
    if api == "anthropic-messages":
        messages = [{"role": r, "content": [{"type": "text", "text": t}] if r == "user" else t} for r, t in turns]
        body: dict[str, Any] = {"model": "claude-fake", "max_tokens": 64, "system": system, "messages": messages}
    elif api == "openai-responses":
        items = [
            {
                "type": "message",
                "role": r,
                "content": [{"type": "input_text" if r == "user" else "output_text", "text": t}],
            }
            for r, t in turns
        ]
        body = {"model": "gpt-fake", "instructions": system, "input": items}
    else:
        body = {
            "model": "fake-model",
            "messages": [{"role": "system", "content": system}, *({"role": r, "content": t} for r, t in turns)],
        }
    if stream is not None:
        body["stream"] = stream
    return body


def reply_text(api: str, answer: Answer, stream: bool) -> str:
    """The text the API's client would show, checking each format's framing on the way."""
    assert answer.status == 200, answer.body[-1000:]
    if api == "openai-chat":
        if not stream:
            return str(answer.json()["choices"][0]["message"]["content"])
        lines = [line for line in answer.body.decode().splitlines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"
        return "".join(json.loads(line[6:])["choices"][0]["delta"].get("content", "") for line in lines[:-1])
    if api == "anthropic-messages":
        if not stream:
            body = answer.json()
            assert body["type"] == "message" and body["stop_reason"] == "end_turn" and "usage" in body
            return "".join(block["text"] for block in body["content"])
        events = answer.events()
        names = [name for name, _ in events]
        assert names[:3] == ["message_start", "content_block_start", "ping"]
        assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
        assert set(names[3:-3]) == {"content_block_delta"}
        assert all(data["type"] == name for name, data in events)
        assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
        return "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta")
    if api == "openai-responses":
        if not stream:
            body = answer.json()
            assert body["object"] == "response" and body["status"] == "completed"
            return "".join(
                part["text"] for item in body["output"] for part in item["content"] if part["type"] == "output_text"
            )
        events = answer.events()
        names = [name for name, _ in events]
        assert names[0] == "response.created" and names[-1] == "response.completed"
        deltas = "".join(data["delta"] for name, data in events if name == "response.output_text.delta")
        (done,) = [data["text"] for name, data in events if name == "response.output_text.done"]
        assert done == deltas
        return deltas
    if not stream:
        body = answer.json()
        assert body["done"] is True
        return str(body["message"]["content"])
    assert answer.headers["Content-Type"].startswith("application/x-ndjson")
    lines = answer.lines()
    assert lines[-1]["done"] is True and not any(line["done"] for line in lines[:-1])
    return "".join(line["message"]["content"] for line in lines)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("api", APIS)
def test_each_api_echoes_the_latest_turn_and_journals_the_history(
    provider: FakeProvider, api: str, stream: bool
) -> None:
    answer = send(provider, PATHS[api], request_body(api, "[wrapped] rr-dial-3 please", stream))
    assert reply_text(api, answer, stream) == "ECHO rr-dial-3"
    (entry,) = provider.journal
    assert (entry.api, entry.path, entry.stream) == (api, PATHS[api], stream)
    assert entry.tokens == ["rr-dial-3"] and entry.history == ["rr-dial-1", "rr-dial-2"]
    assert entry.served and entry.duration is not None and entry.duration >= 0.05


def test_ollama_streams_unless_told_not_to(provider: FakeProvider) -> None:
    answer = send(provider, "/api/chat", request_body("ollama", "rr-olla-1", None))
    assert reply_text("ollama", answer, True) == "ECHO rr-olla-1"
    assert provider.journal[0].stream is True


def test_responses_input_may_be_a_plain_string(provider: FakeProvider) -> None:
    answer = send(
        provider, "/v1/responses", {"model": "gpt-fake", "input": "hello rr-resp-1", "instructions": "rr-syst-9"}
    )
    assert reply_text("openai-responses", answer, False) == "ECHO rr-resp-1"
    assert provider.journal[0].history == []


def test_anthropic_headers_are_accepted_unchecked(provider: FakeProvider) -> None:
    answer = send(
        provider,
        "/v1/messages",
        request_body("anthropic-messages", "rr-anth-1", False),
        headers={"x-api-key": "anything", "anthropic-version": "2023-06-01"},
    )
    assert reply_text("anthropic-messages", answer, False) == "ECHO rr-anth-1"


def test_model_lists(provider: FakeProvider) -> None:
    assert send(provider, "/v1/models", method="GET").json()["data"][0]["id"] == "fake-model"
    assert send(provider, "/api/tags", method="GET").json()["models"][0]["name"] == "fake-model"


def anthropic_error(answer: Answer) -> str:
    body = answer.json()
    assert body["type"] == "error"
    return str(body["error"]["type"])


def openai_error(answer: Answer) -> str:
    return str(answer.json()["error"]["type"])


def ollama_error(answer: Answer) -> str:
    message = answer.json()["error"]
    assert isinstance(message, str) and message
    return "error"


ERROR_SHAPE: dict[str, Callable[[Answer], str]] = {
    "openai-chat": openai_error,
    "anthropic-messages": anthropic_error,
    "openai-responses": openai_error,
    "ollama": ollama_error,
}
MALFORMED = {
    "anthropic-messages": [
        {"model": "m", "messages": [{"role": "user", "content": "x"}]},  # no max_tokens
        {"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},  # no model
        {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
        {"model": "m", "max_tokens": 5, "messages": [], "stream": True},
    ],
    "openai-responses": [
        {"input": "x"},
        {"model": "m"},
        {"model": "m", "input": [3]},
        {"model": "m", "input": "x", "stream": "yes"},
    ],
    "ollama": [
        {"messages": [{"role": "user", "content": "x"}]},
        {"model": "m", "messages": "x"},
        {"model": "m", "messages": [{"content": "x"}]},
    ],
}


@pytest.mark.parametrize(
    ("api", "body"),
    [(api, body) for api, bodies in MALFORMED.items() for body in bodies] + [(api, None) for api in APIS],
)
def test_malformed_requests_get_the_apis_own_400(provider: FakeProvider, api: str, body: Any) -> None:
    answer = send(provider, PATHS[api], body, raw=b"not json" if body is None else None)
    assert answer.status == 400, answer.body
    assert ERROR_SHAPE[api](answer) in ("invalid_request_error", "error")
    entry = provider.journal[-1]
    assert entry.api == api and entry.status == 400 and entry.error and not entry.served
    assert reply_text(api, send(provider, PATHS[api], request_body(api, "rr-okay-1", False)), False)  # still up
    provider.check_handler_errors()


STATUS_FAULTS = {  # (api, kind) -> (status, error type)
    **{(api, kind): (int(kind), None) for api in APIS for kind in ("429", "500", "503")},
    **{(api, "overloaded"): (503, None) for api in APIS},
    ("anthropic-messages", "429"): (429, "rate_limit_error"),
    ("anthropic-messages", "500"): (500, "api_error"),
    ("anthropic-messages", "overloaded"): (529, "overloaded_error"),
}


@pytest.mark.parametrize(("api", "kind"), sorted(STATUS_FAULTS))
def test_status_faults_in_each_apis_shape(provider: FakeProvider, api: str, kind: str) -> None:
    status, error_type = STATUS_FAULTS[(api, kind)]
    provider.faults(kind, calls=[1], retry_after=7)
    answer = send(provider, PATHS[api], request_body(api, "rr-faul-1", True))
    assert answer.status == status
    shape = ERROR_SHAPE[api](answer)
    assert error_type is None or shape == error_type
    assert (answer.headers.get("retry-after") == "7") == (status == 429)
    (entry,) = provider.journal
    assert entry.fault == kind and entry.status == status and not entry.served


IN_STREAM_ERROR: dict[str, Callable[[Answer], bool]] = {
    "anthropic-messages": lambda a: (
        a.events()[-1][0] == "error" and a.events()[-1][1]["error"]["type"] == "overloaded_error"
    ),
    "openai-responses": lambda a: (
        a.events()[-1][0] == "response.failed" and a.events()[-1][1]["response"]["status"] == "failed"
    ),
    "ollama": lambda a: "error" in a.lines()[-1] and not any(line.get("done") for line in a.lines()),
}


@pytest.mark.parametrize("after_chunks", [0, 1])
@pytest.mark.parametrize("api", sorted(IN_STREAM_ERROR))
def test_a_cut_stream_ends_on_the_apis_error_event(provider: FakeProvider, api: str, after_chunks: int) -> None:
    provider.faults("cut", calls=[1], after_chunks=after_chunks)
    answer = send(provider, PATHS[api], request_body(api, "rr-cuts-1", True))
    assert answer.status == 200 and IN_STREAM_ERROR[api](answer), answer.body
    assert (b"ECHO" in answer.body) == (after_chunks > 0)
    (entry,) = provider.journal
    assert entry.fault == "cut" and entry.error and not entry.served


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("api", APIS)
def test_reset_and_cut_break_the_connection(provider: FakeProvider, api: str, stream: bool) -> None:
    kinds = ["reset"] + (["cut"] if api == "openai-chat" or not stream else [])
    for kind in kinds:
        provider.reset()
        provider.faults(kind, calls=[1])
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            send(provider, PATHS[api], request_body(api, "rr-rset-1", stream))
        (entry,) = provider.journal
        assert entry.fault == kind and entry.ended_at is not None and not entry.served


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("api", APIS)
def test_malformed_fault_breaks_the_apis_framing(provider: FakeProvider, api: str, stream: bool) -> None:
    provider.faults("malformed", calls=[1])
    answer = send(provider, PATHS[api], request_body(api, "rr-junk-1", stream))
    assert answer.status == 200 and b"rr-junk-1" not in answer.body
    with pytest.raises((ValueError, KeyError, AssertionError, IndexError)):
        reply_text(api, answer, stream)
    assert provider.journal[0].fault == "malformed" and not provider.journal[0].served


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("api", APIS)
def test_slow_first_token_is_a_late_real_answer_in_each_api(provider: FakeProvider, api: str, stream: bool) -> None:
    provider.faults("ttft", calls=[1], ttft=0.3)
    answer = send(provider, PATHS[api], request_body(api, "rr-late-1", stream))
    assert reply_text(api, answer, stream) == "ECHO rr-late-1"
    (entry,) = provider.journal
    assert entry.served and entry.fault == "ttft" and entry.duration is not None and entry.duration >= 0.3


def _our_bug(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("a bug in the fake provider")


@pytest.mark.parametrize("api", APIS)
def test_a_failure_of_ours_is_a_500_before_the_headers_and_a_reset_after(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    from pytest_replyrace.errors import FakeProviderError

    monkeypatch.setattr(provider._planner, "plan", _our_bug)
    answer = send(provider, PATHS[api], request_body(api, "rr-bugs-1", False))
    assert answer.status == 500 and answer.json()["error"]["type"] == "replyrace_provider_error"
    monkeypatch.undo()
    monkeypatch.setattr(provider._journal, "served", _our_bug)  # fails once the stream's headers are out
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        send(provider, PATHS[api], request_body(api, "rr-bugs-2", True))
    assert [(e.status, e.api, bool(e.traceback)) for e in provider.journal] == [(500, api, True)] * 2
    with pytest.raises(FakeProviderError, match="a bug in the fake provider"):
        provider.check_handler_errors()
