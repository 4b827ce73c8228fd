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
from dataclasses import dataclass, replace
from typing import Any

from ..errors import BadRequest

__all__ = [
    "DIALECTS",
    "TOOL_ROLE",
    "BadRequest",
    "ChatRequest",
    "Dialect",
    "Pairing",
    "ToolCall",
    "chat_pairs",
    "content_text",
    "tool_pairing",
    "tool_split",
    "turn_split",
]

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
    tools: tuple[str, ...] = ()
    """Names of the tools the request offers, in order."""
    results: tuple[str, ...] = ()
    """Tool-call ids answered by the tool results of the latest turn, in order (an id answered twice shows twice;
    a result that names no id the request holds is ``?``)."""
    rounds: int = 0
    """Assistant tool-call messages in the latest turn: the tool steps the conversation says were taken."""
    pairing: Pairing | None = None
    """The conversation's tool calls without their results, or results without their calls; None when paired."""
    mentioned: tuple[str, ...] = ()
    """Every driver token anywhere in the request body, any role (a user message, a reply, a quote, a system
    prompt), in order of first mention."""


@dataclass(frozen=True)
class Pairing:
    """Where a conversation breaks the tool-call pairing every real provider enforces."""

    calls: tuple[str, ...]
    """Tool-call ids with no result right after the message that made them."""
    results: tuple[str, ...]
    """Tool-result ids that answer no call of the message before them."""
    call_at: int = 0
    """The position of the first message whose calls went unanswered (in the request's message list)."""
    result_at: int = 0
    """The position of the first message holding a result without its call."""


@dataclass(frozen=True)
class ToolCall:
    """One tool call the provider makes: its id, the tool's name and the arguments (a JSON object's text)."""

    id: str
    name: str
    arguments: str = "{}"

    @property
    def input(self) -> Any:
        return json.loads(self.arguments)


TOOL_ROLE = "assistant+tool"
"""The role of an assistant message that calls tools in ``(role, text)`` pairs: it does not end a turn."""
RESULT_ROLE = "tool"
"""The role of a message that only carries tool results: not a user turn."""


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
    turn, history, _ = tool_split([(role, text, ()) for role, text in messages])
    return turn, history


def tool_split(messages: Iterable[tuple[str, str, Iterable[str]]]) -> tuple[list[str], list[str], list[int]]:
    """``(role, text, ids)`` triples → (the latest turn's user texts, earlier user texts, the positions of the
    latest turn's messages).

    A turn ends at an ``assistant`` message: an assistant message that calls tools (:data:`TOOL_ROLE`) and the
    tool results after it (:data:`RESULT_ROLE`) belong to the turn they serve.
    """
    triples = list(messages)
    last_assistant = max((i for i, (role, _, _) in enumerate(triples) if role == "assistant"), default=-1)
    users = [(i, text) for i, (role, text, _) in enumerate(triples) if role == "user"]
    return (
        [text for i, text in users if i > last_assistant],
        [text for i, text in users if i < last_assistant],
        list(range(last_assistant + 1, len(triples))),
    )


def tool_pairing(triples: Iterable[tuple[str, str, Iterable[str]]], chained: bool = False) -> Pairing | None:
    """The calls of each assistant tool-call message (:data:`TOOL_ROLE`) that the messages right after it leave
    unanswered, and the results that answer no call of the tool-call message before them (``?``, a result that
    names no id, is left alone). ``chained``: the conversation goes on from a stored one (a Responses
    ``previous_response_id``), whose calls the request does not hold, so a result alone is no error."""
    open_calls: list[str] = []
    current: set[str] = set()
    calls: list[str] = []
    results: list[str] = []
    call_at = result_at = -1
    made_at = 0
    for at, (role, _, ids) in enumerate(triples):
        named = tuple(ids)
        if role == TOOL_ROLE:
            if open_calls and call_at < 0:
                call_at = made_at
            calls.extend(open_calls)
            open_calls, current, made_at = list(dict.fromkeys(named)), set(named), at
            continue
        for result in named:
            if result in open_calls:
                open_calls.remove(result)
            elif result not in current and result != "?" and not chained:
                results.append(result)
                result_at = at if result_at < 0 else result_at
        if role != RESULT_ROLE:  # a message of its own ends the answers to the calls before it
            if open_calls and call_at < 0:
                call_at = made_at
            calls.extend(open_calls)
            open_calls, current = [], set()
    if open_calls and call_at < 0:
        call_at = made_at
    calls.extend(open_calls)
    if not calls and not results:
        return None
    return Pairing(tuple(calls), tuple(results), max(call_at, 0), max(result_at, 0))


def _tool_request(
    turn_of: list[tuple[str, str, tuple[str, ...]]],
    stream: bool,
    model: str | None,
    tools: tuple[str, ...],
    pairing: Pairing | None = None,
) -> ChatRequest:
    turn, history, positions = tool_split(turn_of)
    latest = [turn_of[i] for i in positions]
    results = tuple(i for role, _, ids in latest if role != TOOL_ROLE for i in ids)  # a user message may carry some
    rounds = sum(1 for role, _, _ in latest if role == TOOL_ROLE)
    pairing = tool_pairing(turn_of) if pairing is None else pairing
    return ChatRequest(turn, history, stream, model, tools, results, rounds, pairing)


def _function_names(tools: Any, nested: bool) -> tuple[str, ...]:
    """Tool names of a ``tools`` list: ``{"function": {"name": ...}}`` items when ``nested``, else ``{"name"}``."""
    if not isinstance(tools, list):
        return ()
    names = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        spec = tool.get("function") if nested and isinstance(tool.get("function"), dict) else tool
        if isinstance(spec, dict) and isinstance(spec.get("name"), str) and spec["name"]:
            names.append(spec["name"])
    return tuple(names)


def _chat_triples(messages: list[Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """OpenAI chat / Ollama messages as ``(role, text, ids)``: tool-call ids of an assistant's ``tool_calls``,
    the ``tool_call_id`` of a ``tool`` message (Ollama's may have none: then the id of the call it answers by
    position in the assistant message before it, or ``?``)."""
    triples: list[tuple[str, str, tuple[str, ...]]] = []
    calls: list[str] = []
    answered = 0
    for m in messages:
        if not isinstance(m, dict):
            continue
        role, text = str(m.get("role")), content_text(m.get("content"))
        tool_calls = m.get("tool_calls")
        if role == "assistant" and isinstance(tool_calls, list) and tool_calls:
            calls = [str(c.get("id", "?")) if isinstance(c, dict) else "?" for c in tool_calls]
            answered = 0
            triples.append((TOOL_ROLE, text, tuple(calls)))
        elif role == "tool":
            call_id = m.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                call_id = calls[answered] if answered < len(calls) else "?"
            answered += 1
            triples.append((RESULT_ROLE, text, (call_id,)))
        else:
            triples.append((role, text, ()))
    return triples


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
    tool_reply: Callable[[ToolCall, str], dict[str, Any]]
    """(call, model) → the non-streaming body of a tool call."""
    tool_stream: Callable[[ToolCall, list[str], str], tuple[list[bytes], bytes]]
    """(call, the arguments in pieces, model) → the writes of a streamed tool call, in order, and the last write."""
    unpaired: Callable[[Pairing], str]
    """The API's own 400 message for a conversation whose tool calls and results do not pair."""

    def fault_status(self, kind: str) -> int:
        """HTTP status of an injected status fault (``overloaded`` is 529 in Anthropic's API, 503 elsewhere)."""
        if kind == "overloaded":
            return 529 if 529 in self.fault_types else 503
        return int(kind)


# -- OpenAI chat completions ---------------------------------------------------


def _openai_error(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": status}}


def _chat_unpaired(pairing: Pairing) -> str:
    if pairing.calls:
        return (
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            "'tool_call_id'. The following tool_call_ids did not have response messages: " + ", ".join(pairing.calls)
        )
    return (
        f"Invalid parameter: messages with role 'tool' must be a response to a preceeding message with "
        f"'tool_calls'. (messages.[{pairing.result_at}].tool_call_id: {', '.join(pairing.results)})"
    )


def chat_pairs(messages: list[Any]) -> list[tuple[str, str]]:
    """``(role, text)`` of each message of an OpenAI ``messages`` list (leniently: other items are skipped); an
    assistant message that calls tools is :data:`TOOL_ROLE`, a tool result :data:`RESULT_ROLE`."""
    return [(role, text) for role, text, _ in _chat_triples(messages)]


def _chat_parse(raw: Any) -> ChatRequest:
    body = _json_object(raw)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    stream = _flag(body, False)
    model = body.get("model")
    return _tool_request(
        _chat_triples(messages),
        stream,
        model if isinstance(model, str) else None,
        _function_names(body.get("tools"), nested=True),
    )


def chat_completion(text: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-replyrace",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def chat_chunk(content: str | None, model: str, finish: str | None = None) -> bytes:
    delta: dict[str, Any] = {} if content is None else {"role": "assistant", "content": content}
    chunk = {
        "id": "chatcmpl-replyrace",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _chat_tool_reply(call: ToolCall, model: str) -> dict[str, Any]:
    body = chat_completion("", model)
    function = {"name": call.name, "arguments": call.arguments}
    body["choices"][0].update(
        message={
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call.id, "type": "function", "function": function}],
        },
        finish_reason="tool_calls",
    )
    return body


def _chat_delta(delta: dict[str, Any], model: str, finish: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-replyrace",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _chat_tool_stream(call: ToolCall, pieces: list[str], model: str) -> tuple[list[bytes], bytes]:
    """The first chunk names the call (id, function name, no arguments yet); each next chunk carries a piece of
    the arguments; the last has ``finish_reason: "tool_calls"``."""
    head = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"index": 0, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        ],
    }
    writes = [_chat_delta(head, model)] + [
        _chat_delta({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, model) for piece in pieces
    ]
    return writes, _chat_delta({}, model, finish="tool_calls") + b"data: [DONE]\n\n"


OPENAI_CHAT = Dialect(
    api="openai-chat",
    path="/v1/chat/completions",
    stream_type=SSE_CONTENT_TYPE,
    parse=_chat_parse,
    error=_openai_error,
    reply=chat_completion,
    stream_open=lambda model: b"",
    stream_piece=chat_chunk,
    stream_close=lambda text, model: chat_chunk(None, model, finish="stop") + b"data: [DONE]\n\n",
    stream_error=None,
    malformed=(b'{"choices": [', b"data: {not json\n\ndata: [DONE]\n\n"),
    fault_types={429: "server_error", 500: "server_error", 503: "server_error"},  # as before the dialects
    tool_reply=_chat_tool_reply,
    tool_stream=_chat_tool_stream,
    unpaired=_chat_unpaired,
)


# -- Anthropic Messages ----------------------------------------------------------

_ANTHROPIC_USAGE = {"input_tokens": 1, "output_tokens": 1}


def _anthropic_error(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _anthropic_unpaired(pairing: Pairing) -> str:
    if pairing.calls:
        return (
            f"messages.{pairing.call_at}: `tool_use` ids were found without `tool_result` blocks immediately after: "
            f"{', '.join(pairing.calls)}. Each `tool_use` block must have a corresponding `tool_result` block in the "
            "next message."
        )
    return (
        f"messages.{pairing.result_at}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
        f"{', '.join(pairing.results)}. Each `tool_result` block must have a corresponding `tool_use` block in the "
        "previous message."
    )


def _anthropic_parse(raw: Any) -> ChatRequest:
    body = _json_object(raw)
    model = _model(body, required=True)
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise BadRequest(f"max_tokens: must be an integer >= 1, not {max_tokens!r}")
    pairs = _message_pairs(body.get("messages"), frozenset({"user", "assistant"}), "messages")
    triples = []  # `system` is a separate field, never a user turn
    for (role, text), message in zip(pairs, body["messages"]):
        blocks = message.get("content")
        blocks = [b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else []
        uses = tuple(str(b.get("id", "?")) for b in blocks if b.get("type") == "tool_use")
        results = tuple(str(b.get("tool_use_id", "?")) for b in blocks if b.get("type") == "tool_result")
        if role == "assistant" and uses:
            triples.append((TOOL_ROLE, text, uses))
        elif role == "user" and results and not any(b.get("type") == "text" for b in blocks):
            triples.append((RESULT_ROLE, text, results))
        else:
            triples.append((role, text, results))
    return _tool_request(triples, _flag(body, False), model, _function_names(body.get("tools"), nested=False))


def _anthropic_message(text: str, model: str, *, stop: str | None = "end_turn") -> dict[str, Any]:
    return {
        "id": "msg_replyrace",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": dict(_ANTHROPIC_USAGE),
    }


def _anthropic_tool_reply(call: ToolCall, model: str) -> dict[str, Any]:
    body = _anthropic_message("", model, stop="tool_use")
    body["content"] = [{"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}]
    return body


def _anthropic_start(model: str, block: dict[str, Any]) -> bytes:
    """``message_start``, then block 0 opened as ``block``, then a ``ping``."""
    return (
        _sse("message_start", {"type": "message_start", "message": _anthropic_message("", model, stop=None)})
        + _sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
        + _sse("ping", {"type": "ping"})
    )


def _anthropic_end(stop_reason: str) -> bytes:
    """Block 0 closed, then ``message_delta`` with ``stop_reason`` and ``message_stop``."""
    return (
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
        + _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 1},
            },
        )
        + _sse("message_stop", {"type": "message_stop"})
    )


def _anthropic_tool_stream(call: ToolCall, pieces: list[str], model: str) -> tuple[list[bytes], bytes]:
    """A ``tool_use`` block whose input comes in ``input_json_delta`` pieces, ending ``stop_reason: "tool_use"``."""
    head = _anthropic_start(model, {"type": "tool_use", "id": call.id, "name": call.name, "input": {}})
    deltas = [
        _sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": piece}},
        )
        for piece in pieces
    ]
    return [head + deltas[0], *deltas[1:]], _anthropic_end("tool_use")


def _anthropic_open(model: str) -> bytes:
    return _anthropic_start(model, {"type": "text", "text": ""})


def _anthropic_piece(piece: str, model: str) -> bytes:
    return _sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
    )


def _anthropic_close(text: str, model: str) -> bytes:
    return _anthropic_end("end_turn")


ANTHROPIC_MESSAGES = Dialect(
    api="anthropic-messages",
    path="/v1/messages",
    stream_type=SSE_CONTENT_TYPE,
    parse=_anthropic_parse,
    error=_anthropic_error,
    reply=_anthropic_message,
    stream_open=_anthropic_open,
    stream_piece=_anthropic_piece,
    stream_close=_anthropic_close,
    stream_error=lambda message: _sse("error", _anthropic_error(529, "overloaded_error", message)),
    malformed=(b'{"type": "message", "content": [', b"event: message_start\ndata: {not json\n\n"),
    fault_types={429: "rate_limit_error", 500: "api_error", 503: "api_error", 529: "overloaded_error"},
    tool_reply=_anthropic_tool_reply,
    tool_stream=_anthropic_tool_stream,
    unpaired=_anthropic_unpaired,
)


# -- OpenAI Responses ------------------------------------------------------------


def _responses_error(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _responses_unpaired(pairing: Pairing) -> str:
    if pairing.calls:
        return f"No tool output found for function call {pairing.calls[0]}."
    return f"No tool call found for function call output with call_id {pairing.results[0]}."


def _responses_pairing(triples: list[tuple[str, str, tuple[str, ...]]], chained: bool) -> Pairing | None:
    """Consecutive ``function_call`` items are one assistant step: their outputs may come in any order after them."""
    steps: list[tuple[str, str, tuple[str, ...]]] = []
    for role, text, ids in triples:
        if role == TOOL_ROLE and steps and steps[-1][0] == TOOL_ROLE:
            steps[-1] = (TOOL_ROLE, text, steps[-1][2] + ids)
        else:
            steps.append((role, text, ids))
    return tool_pairing(steps, chained=chained)


def _responses_parse(raw: Any) -> ChatRequest:
    body = _json_object(raw)
    model = _model(body, required=True)
    items = body.get("input")
    tools = _function_names(body.get("tools"), nested=False)
    if isinstance(items, str):  # `instructions` is never a user turn
        return ChatRequest([items], [], _flag(body, False), model, tools)
    if not isinstance(items, list) or not items:
        raise BadRequest("'input' must be a string or a non-empty list of items")
    triples: list[tuple[str, str, tuple[str, ...]]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"'input[{i}]' must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            if item.get("role") not in ("user", "assistant", "system", "developer"):
                raise BadRequest(f"'input[{i}].role' must be one of user, assistant, system, developer")
            triples.append((str(item["role"]), content_text(item.get("content")), ()))
        elif kind == "function_call":  # tool calls and their outputs are not turns
            triples.append((TOOL_ROLE, "", (str(item.get("call_id", "?")),)))
        elif kind == "function_call_output":
            triples.append((RESULT_ROLE, "", (str(item.get("call_id", "?")),)))
    # Consecutive function_call items are one assistant step.
    merged = [t for j, t in enumerate(triples) if not (t[0] == TOOL_ROLE and j and triples[j - 1][0] == TOOL_ROLE)]
    pairing = _responses_pairing(triples, chained=body.get("previous_response_id") is not None)
    request = _tool_request(merged, _flag(body, False), model, tools, pairing)
    return replace(request, results=_tool_request(triples, False, None, (), pairing).results, pairing=pairing)


def _response_object(text: str, model: str, status: str = "completed") -> dict[str, Any]:
    output = (
        [
            {
                "type": "message",
                "id": "msg_replyrace",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ]
        if text
        else []
    )
    return {
        "id": "resp_replyrace",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "error": None,
        "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
    }


def _responses_event(kind: str, **fields: Any) -> bytes:
    return _sse(kind, {"type": kind, **fields})


def _responses_open(model: str) -> bytes:
    item = {"type": "message", "id": "msg_replyrace", "status": "in_progress", "role": "assistant", "content": []}
    return (
        _responses_event("response.created", response=_response_object("", model, "in_progress"))
        + _responses_event("response.output_item.added", output_index=0, item=item)
        + _responses_event(
            "response.content_part.added",
            item_id="msg_replyrace",
            output_index=0,
            content_index=0,
            part={"type": "output_text", "text": "", "annotations": []},
        )
    )


def _responses_piece(piece: str, model: str) -> bytes:
    return _responses_event(
        "response.output_text.delta", item_id="msg_replyrace", output_index=0, content_index=0, delta=piece
    )


def _responses_close(text: str, model: str) -> bytes:
    done = _response_object(text, model)
    return (
        _responses_event(
            "response.output_text.done", item_id="msg_replyrace", output_index=0, content_index=0, text=text
        )
        + _responses_event(
            "response.content_part.done",
            item_id="msg_replyrace",
            output_index=0,
            content_index=0,
            part=done["output"][0]["content"][0],
        )
        + _responses_event("response.output_item.done", output_index=0, item=done["output"][0])
        + _responses_event("response.completed", response=done)
    )


def _function_call_item(call: ToolCall, status: str, arguments: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{call.id}",
        "call_id": call.id,
        "name": call.name,
        "arguments": arguments,
        "status": status,
    }


def _responses_tool_reply(call: ToolCall, model: str) -> dict[str, Any]:
    body = _response_object("", model)
    body["output"] = [_function_call_item(call, "completed", call.arguments)]
    return body


def _responses_tool_stream(call: ToolCall, pieces: list[str], model: str) -> tuple[list[bytes], bytes]:
    """A ``function_call`` output item whose arguments come in ``response.function_call_arguments.delta`` events."""
    item_id = f"fc_{call.id}"
    head = _responses_event("response.created", response=_response_object("", model, "in_progress")) + _responses_event(
        "response.output_item.added", output_index=0, item=_function_call_item(call, "in_progress", "")
    )
    deltas = [
        _responses_event("response.function_call_arguments.delta", item_id=item_id, output_index=0, delta=piece)
        for piece in pieces
    ]
    done = _responses_tool_reply(call, model)
    close = (
        _responses_event(
            "response.function_call_arguments.done", item_id=item_id, output_index=0, arguments=call.arguments
        )
        + _responses_event("response.output_item.done", output_index=0, item=done["output"][0])
        + _responses_event("response.completed", response=done)
    )
    return [head + deltas[0], *deltas[1:]], close


def _responses_failed(message: str) -> bytes:
    failed = _response_object("", "fake-model", "failed")
    failed["error"] = {"code": "server_error", "message": message}
    return _responses_event("response.failed", response=failed)


OPENAI_RESPONSES = Dialect(
    api="openai-responses",
    path="/v1/responses",
    stream_type=SSE_CONTENT_TYPE,
    parse=_responses_parse,
    error=_responses_error,
    reply=_response_object,
    stream_open=_responses_open,
    stream_piece=_responses_piece,
    stream_close=_responses_close,
    stream_error=_responses_failed,
    malformed=(b'{"object": "response", "output": [', b"event: response.created\ndata: {not json\n\n"),
    fault_types={429: "rate_limit_exceeded", 500: "server_error", 503: "server_error"},
    tool_reply=_responses_tool_reply,
    tool_stream=_responses_tool_stream,
    unpaired=_responses_unpaired,
)


# -- Ollama ----------------------------------------------------------------------


def _ollama_error(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"error": message}


def _ollama_unpaired(pairing: Pairing) -> str:
    if pairing.calls:
        return f"invalid message: tool calls without a tool result after them: {', '.join(pairing.calls)}"
    return f"invalid message: tool results without a tool call before them: {', '.join(pairing.results)}"


def _ollama_parse(raw: Any) -> ChatRequest:
    body = _json_object(raw)
    model = _model(body, required=True)
    _message_pairs(body.get("messages"), frozenset({"user", "assistant", "system", "tool"}), "messages")
    return _tool_request(
        _chat_triples(body["messages"]),
        _flag(body, True),
        model,  # streams unless told not to
        _function_names(body.get("tools"), nested=True),
    )


def _ollama_line(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode() + b"\n"


def _ollama_message(text: str, model: str, done: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "message": {"role": "assistant", "content": text},
        "done": done,
    }
    if done:
        body.update(done_reason="stop", total_duration=1, prompt_eval_count=1, eval_count=1)
    return body


def _ollama_tool_reply(call: ToolCall, model: str, done: bool = True) -> dict[str, Any]:
    body = _ollama_message("", model, done)
    body["message"]["tool_calls"] = [
        {"id": call.id, "function": {"index": 0, "name": call.name, "arguments": call.input}}
    ]
    return body


def _ollama_tool_stream(call: ToolCall, pieces: list[str], model: str) -> tuple[list[bytes], bytes]:
    """Ollama streams a tool call whole, in one line (its arguments are an object), then the done line."""
    return [_ollama_line(_ollama_tool_reply(call, model, done=False))], _ollama_line(_ollama_message("", model))


OLLAMA = Dialect(
    api="ollama",
    path="/api/chat",
    stream_type=NDJSON_CONTENT_TYPE,
    parse=_ollama_parse,
    error=_ollama_error,
    reply=_ollama_message,
    stream_open=lambda model: b"",
    stream_piece=lambda piece, model: _ollama_line(_ollama_message(piece, model, done=False)),
    stream_close=lambda text, model: _ollama_line(_ollama_message("", model)),
    stream_error=lambda message: _ollama_line({"error": message}),
    malformed=(b'{"message": {"content": ', b'{"message": {not json\n'),
    fault_types={429: "", 500: "", 503: ""},
    tool_reply=_ollama_tool_reply,
    tool_stream=_ollama_tool_stream,
    unpaired=_ollama_unpaired,
)

DIALECTS: dict[str, Dialect] = {d.api: d for d in (OPENAI_CHAT, ANTHROPIC_MESSAGES, OPENAI_RESPONSES, OLLAMA)}
