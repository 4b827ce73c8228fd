"""The provider APIs the fake provider speaks, each in its own wire format.

A :class:`Dialect` turns a request body into a :class:`ChatRequest` (the
latest user turn, the earlier user messages, the stream flag and the model) or
refuses it with that API's own error shape, and renders replies, stream
events and faults the way that API does. The shared handler in
:mod:`~pytest_replyrace.provider.server` owns the journal, the RTT and the fault plan.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["DIALECTS", "BadRequest", "ChatRequest", "Dialect", "chat_pairs", "content_text", "turn_split"]

SSE_CONTENT_TYPE = "text/event-stream"
NDJSON_CONTENT_TYPE = "application/x-ndjson"


@dataclass(frozen=True)
class ChatRequest:
    """What every dialect's request comes down to."""

    turn: list[str]
    """The texts of the user messages of the latest turn (every one after the last assistant message), in order."""
    history: list[str]
    """The texts of the user messages before the latest turn, in order."""
    stream: bool
    model: str | None


class BadRequest(Exception):
    """A request the API would refuse (always HTTP 400 here)."""


def content_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of parts/blocks carrying ``text``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def turn_split(messages: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """``(role, text)`` pairs → (the latest turn's user texts, earlier user texts), each in order.

    Real gateways wrap the user text and may add user messages of their own,
    so the whole latest turn (every user message after the last assistant
    message) is searched, not just the last message.
    """
    pairs = list(messages)
    last_assistant = max((i for i, (role, _) in enumerate(pairs) if role == "assistant"), default=-1)
    users = [(i, text) for i, (role, text) in enumerate(pairs) if role == "user"]
    return [text for i, text in users if i > last_assistant], [text for i, text in users if i < last_assistant]


def _json_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def _flag(body: dict[str, Any], default: bool) -> bool:
    stream = body.get("stream", default)
    if not isinstance(stream, bool):
        raise BadRequest(f"'stream' must be a boolean, not {stream!r}")
    return stream


def _model(body: dict[str, Any], required: bool) -> str | None:
    model = body.get("model")
    if model is None and not required:
        return None
    if not isinstance(model, str) or not model:
        raise BadRequest(f"'model' must be a non-empty string, not {model!r}")
    return model


def _message_pairs(messages: Any, roles: frozenset[str], where: str) -> list[tuple[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise BadRequest(f"'{where}' must be a non-empty list")
    pairs = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in roles:
            raise BadRequest(f"'{where}[{i}]' must be an object with a 'role' in {sorted(roles)}")
        pairs.append((str(message["role"]), content_text(message.get("content"))))
    return pairs


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


@dataclass(frozen=True)
class Dialect:
    """One provider API: its path, how it parses, and what it writes."""

    api: str
    """The journal's name for it ("openai-chat", ...)."""
    path: str
    stream_type: str
    parse: Callable[[Any], ChatRequest]
    error: Callable[[int, str, str], dict[str, Any]]
    """(status, error type, message) → the API's error body."""
    reply: Callable[[str, str], dict[str, Any]]
    """(text, model) → the non-streaming body."""
    stream_open: Callable[[str], bytes]
    """Written with the first piece (before it)."""
    stream_piece: Callable[[str, str], bytes]
    stream_close: Callable[[str, str], bytes]
    """(whole text, model) → the last write of a good stream."""
    stream_error: Callable[[str], bytes] | None
    """An in-band error event that ends a stream, or None when the API has none (the stream is cut)."""
    malformed: tuple[bytes, bytes]
    """(a broken JSON body, a broken stream)."""
    fault_types: dict[int, str]
    """HTTP status of an injected fault → the API's error type."""

    def fault_status(self, kind: str) -> int:
        """HTTP status of an injected status fault (``overloaded`` is 529 in Anthropic's API, 503 elsewhere)."""
        if kind == "overloaded":
            return 529 if 529 in self.fault_types else 503
        return int(kind)


# -- OpenAI chat completions ---------------------------------------------------

def _openai_error(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": status}}


def chat_pairs(messages: list[Any]) -> list[tuple[str, str]]:
    """``(role, text)`` of each message of an OpenAI ``messages`` list (leniently: other items are skipped)."""
    return [(str(m.get("role")), content_text(m.get("content"))) for m in messages if isinstance(m, dict)]


def _chat_parse(raw: Any) -> ChatRequest:
    body = _json_object(raw)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    stream = _flag(body, False)
    model = body.get("model")
    turn, history = turn_split(chat_pairs(messages))
    return ChatRequest(turn, history, stream, model if isinstance(model, str) else None)


def chat_completion(text: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-replyrace", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def chat_chunk(content: str | None, model: str, finish: str | None = None) -> bytes:
    delta: dict[str, Any] = {} if content is None else {"role": "assistant", "content": content}
    chunk = {
        "id": "chatcmpl-replyrace", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


OPENAI_CHAT = Dialect(
    api="openai-chat", path="/v1/chat/completions", stream_type=SSE_CONTENT_TYPE, parse=_chat_parse,
    error=_openai_error, reply=chat_completion, stream_open=lambda model: b"", stream_piece=chat_chunk,
    stream_close=lambda text, model: chat_chunk(None, model, finish="stop") + b"data: [DONE]\n\n",
    stream_error=None, malformed=(b'{"choices": [', b"data: {not json\n\ndata: [DONE]\n\n"),
    fault_types={429: "server_error", 500: "server_error", 503: "server_error"},  # as before the dialects
)


# -- Anthropic Messages ----------------------------------------------------------

_ANTHROPIC_USAGE = {"input_tokens": 1, "output_tokens": 1}


def _anthropic_error(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _anthropic_parse(raw: Any) -> ChatRequest:
    body = _json_object(raw)
    model = _model(body, required=True)
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise BadRequest(f"max_tokens: must be an integer >= 1, not {max_tokens!r}")
    pairs = _message_pairs(body.get("messages"), frozenset({"user", "assistant"}), "messages")
    turn, history = turn_split(pairs)  # `system` is a separate field, never a user turn
    return ChatRequest(turn, history, _flag(body, False), model)


def _anthropic_message(text: str, model: str, *, stop: str | None = "end_turn") -> dict[str, Any]:
    return {
        "id": "msg_replyrace", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}] if text else [], "stop_reason": stop, "stop_sequence": None,
        "usage": dict(_ANTHROPIC_USAGE),
    }


def _anthropic_open(model: str) -> bytes:
    return (_sse("message_start", {"type": "message_start", "message": _anthropic_message("", model, stop=None)})
            + _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}})
            + _sse("ping", {"type": "ping"}))


def _anthropic_piece(piece: str, model: str) -> bytes:
    return _sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": piece}})


def _anthropic_close(text: str, model: str) -> bytes:
    return (_sse("content_block_stop", {"type": "content_block_stop", "index": 0})
            + _sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                        "stop_sequence": None},
                                     "usage": {"output_tokens": 1}})
            + _sse("message_stop", {"type": "message_stop"}))


ANTHROPIC_MESSAGES = Dialect(
    api="anthropic-messages", path="/v1/messages", stream_type=SSE_CONTENT_TYPE, parse=_anthropic_parse,
    error=_anthropic_error, reply=_anthropic_message, stream_open=_anthropic_open, stream_piece=_anthropic_piece,
    stream_close=_anthropic_close,
    stream_error=lambda message: _sse("error", _anthropic_error(529, "overloaded_error", message)),
    malformed=(b'{"type": "message", "content": [', b"event: message_start\ndata: {not json\n\n"),
    fault_types={429: "rate_limit_error", 500: "api_error", 503: "api_error", 529: "overloaded_error"},
)


# -- OpenAI Responses ------------------------------------------------------------

def _responses_error(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _responses_parse(raw: Any) -> ChatRequest:
    body = _json_object(raw)
    model = _model(body, required=True)
    items = body.get("input")
    if isinstance(items, str):
        return ChatRequest([items], [], _flag(body, False), model)  # `instructions` is never a user turn
    if not isinstance(items, list) or not items:
        raise BadRequest("'input' must be a string or a non-empty list of items")
    pairs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"'input[{i}]' must be an object")
        if item.get("type", "message") == "message":  # tool calls and their outputs are not turns
            if item.get("role") not in ("user", "assistant", "system", "developer"):
                raise BadRequest(f"'input[{i}].role' must be one of user, assistant, system, developer")
            pairs.append((str(item["role"]), content_text(item.get("content"))))
    turn, history = turn_split(pairs)
    return ChatRequest(turn, history, _flag(body, False), model)


def _response_object(text: str, model: str, status: str = "completed") -> dict[str, Any]:
    output = [{"type": "message", "id": "msg_replyrace", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": text, "annotations": []}]}] if text else []
    return {"id": "resp_replyrace", "object": "response", "created_at": int(time.time()), "status": status,
            "model": model, "output": output, "error": None,
            "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}


def _responses_event(kind: str, **fields: Any) -> bytes:
    return _sse(kind, {"type": kind, **fields})


def _responses_open(model: str) -> bytes:
    item = {"type": "message", "id": "msg_replyrace", "status": "in_progress", "role": "assistant", "content": []}
    return (_responses_event("response.created", response=_response_object("", model, "in_progress"))
            + _responses_event("response.output_item.added", output_index=0, item=item)
            + _responses_event("response.content_part.added", item_id="msg_replyrace", output_index=0,
                               content_index=0, part={"type": "output_text", "text": "", "annotations": []}))


def _responses_piece(piece: str, model: str) -> bytes:
    return _responses_event("response.output_text.delta", item_id="msg_replyrace", output_index=0, content_index=0,
                            delta=piece)


def _responses_close(text: str, model: str) -> bytes:
    done = _response_object(text, model)
    return (_responses_event("response.output_text.done", item_id="msg_replyrace", output_index=0, content_index=0,
                             text=text)
            + _responses_event("response.content_part.done", item_id="msg_replyrace", output_index=0,
                               content_index=0, part=done["output"][0]["content"][0])
            + _responses_event("response.output_item.done", output_index=0, item=done["output"][0])
            + _responses_event("response.completed", response=done))


def _responses_failed(message: str) -> bytes:
    failed = _response_object("", "fake-model", "failed")
    failed["error"] = {"code": "server_error", "message": message}
    return _responses_event("response.failed", response=failed)


OPENAI_RESPONSES = Dialect(
    api="openai-responses", path="/v1/responses", stream_type=SSE_CONTENT_TYPE, parse=_responses_parse,
    error=_responses_error, reply=_response_object, stream_open=_responses_open, stream_piece=_responses_piece,
    stream_close=_responses_close, stream_error=_responses_failed,
    malformed=(b'{"object": "response", "output": [', b"event: response.created\ndata: {not json\n\n"),
    fault_types={429: "rate_limit_exceeded", 500: "server_error", 503: "server_error"},
)


# -- Ollama ----------------------------------------------------------------------

def _ollama_error(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"error": message}


def _ollama_parse(raw: Any) -> ChatRequest:
    body = _json_object(raw)
    model = _model(body, required=True)
    pairs = _message_pairs(body.get("messages"), frozenset({"user", "assistant", "system", "tool"}), "messages")
    turn, history = turn_split(pairs)
    return ChatRequest(turn, history, _flag(body, True), model)  # Ollama streams unless told not to


def _ollama_line(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode() + b"\n"


def _ollama_message(text: str, model: str, done: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            "message": {"role": "assistant", "content": text}, "done": done}
    if done:
        body.update(done_reason="stop", total_duration=1, prompt_eval_count=1, eval_count=1)
    return body


OLLAMA = Dialect(
    api="ollama", path="/api/chat", stream_type=NDJSON_CONTENT_TYPE, parse=_ollama_parse, error=_ollama_error,
    reply=_ollama_message, stream_open=lambda model: b"",
    stream_piece=lambda piece, model: _ollama_line(_ollama_message(piece, model, done=False)),
    stream_close=lambda text, model: _ollama_line(_ollama_message("", model)),
    stream_error=lambda message: _ollama_line({"error": message}),
    malformed=(b'{"message": {"content": ', b'{"message": {not json\n'),
    fault_types={429: "", 500: "", 503: ""},
)

DIALECTS: dict[str, Dialect] = {d.api: d for d in (OPENAI_CHAT, ANTHROPIC_MESSAGES, OPENAI_RESPONSES, OLLAMA)}
