"""A tool loop over real aiohttp clients, in each provider API's own wire format.

``first_body`` builds a turn's first request (with tools offered), ``ask`` sends it and reads the answer
(a tool call or text, streamed or not, every event stamped with the instant it arrived), ``follow_up``
builds the next request carrying the tool result, as that API's clients do. The provider tests, the
tool-loop gateway (``tool_gateway.py``) and ``benchmarks/model_pace.py`` share it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

APIS = ("openai-chat", "anthropic-messages", "openai-responses", "ollama")
PATHS = {
    "openai-chat": "/v1/chat/completions",
    "anthropic-messages": "/v1/messages",
    "openai-responses": "/v1/responses",
    "ollama": "/api/chat",
}


@dataclass
class Answer:
    """What the API's client makes of one answer."""

    api: str
    status: int
    kind: str = "text"
    text: str = ""
    call_id: str | None = None
    name: str | None = None
    arguments: str = ""
    stop: str | None = None
    """finish_reason / stop_reason / the Responses item type / Ollama's done_reason."""
    argument_pieces: int = 0
    """How many stream events carried a piece of the tool call's arguments."""
    events: list[tuple[float, Any]] = field(default_factory=list)
    """Each stream event (or the JSON body) with the monotonic instant it was complete."""
    text_times: list[float] = field(default_factory=list)
    """When each text piece arrived."""
    raw: Any = None


def tools_offered(api: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
    schema = {"type": "object", "properties": {}}
    if api == "anthropic-messages":
        return [{"name": n, "description": f"the {n} tool", "input_schema": schema} for n in names]
    if api == "openai-responses":
        return [{"type": "function", "name": n, "description": f"the {n} tool", "parameters": schema} for n in names]
    return [
        {"type": "function", "function": {"name": n, "description": f"the {n} tool", "parameters": schema}}
        for n in names
    ]


def first_body(api: str, text: str, stream: bool, tools: tuple[str, ...] = ("clock",)) -> dict[str, Any]:
    """A turn's first request: a system prompt, the user message and the tools."""
    system = "You are a test."
    body: dict[str, Any]
    if api == "anthropic-messages":
        body = {
            "model": "claude-fake",
            "max_tokens": 64,
            "system": system,
            "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        }
    elif api == "openai-responses":
        body = {
            "model": "gpt-fake",
            "instructions": system,
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}],
        }
    else:
        body = {
            "model": "fake-model",
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}],
        }
    if tools:
        body["tools"] = tools_offered(api, tools)
    body["stream"] = stream
    return body


def follow_up(
    api: str, body: dict[str, Any], answer: Answer, results: list[str], chained: bool = False
) -> dict[str, Any]:
    """The request after a tool call: the assistant's call and one tool result per item of ``results`` (two
    answer the call twice), as that API's clients send them. ``chained`` (Responses only): only the results,
    as a client chaining with ``previous_response_id`` sends them."""
    assert answer.kind == "tool" and answer.call_id and answer.name, answer
    new = dict(body)
    call_id, name, arguments = answer.call_id, answer.name, answer.arguments
    if api == "anthropic-messages":
        new["messages"] = [
            *body["messages"],
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": call_id, "name": name, "input": json.loads(arguments)}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call_id, "content": r} for r in results],
            },
        ]
    elif api == "openai-responses":
        outputs = [{"type": "function_call_output", "call_id": call_id, "output": r} for r in results]
        if chained:
            new["input"] = outputs
            new["previous_response_id"] = "resp_replyrace"
        else:
            new["input"] = [
                *body["input"],
                {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments},
                *outputs,
            ]
    elif api == "ollama":  # Ollama's tool messages name the tool, not the call: the provider matches them by place
        new["messages"] = [
            *body["messages"],
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": call_id, "function": {"name": name, "arguments": json.loads(arguments)}}],
            },
            *({"role": "tool", "tool_name": name, "content": r} for r in results),
        ]
    else:
        new["messages"] = [
            *body["messages"],
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}],
            },
            *({"role": "tool", "tool_call_id": call_id, "content": r} for r in results),
        ]
    return new


async def _events(response: aiohttp.ClientResponse, ndjson: bool) -> list[tuple[float, Any]]:
    """Each SSE event as (instant, (event name, data)), or each NDJSON line as (instant, data)."""
    events: list[tuple[float, Any]] = []
    buffer = b""
    separator = b"\n" if ndjson else b"\n\n"
    async for chunk in response.content.iter_any():
        now = time.monotonic()
        buffer += chunk
        while separator in buffer:
            block, buffer = buffer.split(separator, 1)
            if not block.strip():
                continue
            if ndjson:
                events.append((now, json.loads(block)))
                continue
            fields = dict(line.split(": ", 1) for line in block.decode().splitlines() if ": " in line)
            data = fields.get("data")
            events.append((now, (fields.get("event", ""), data if data == "[DONE]" else json.loads(data or "null"))))
    assert not buffer.strip(), buffer
    return events


async def ask(session: aiohttp.ClientSession, base: str, api: str, body: dict[str, Any]) -> Answer:
    """Send one request and read its answer as that API's client does, checking its framing."""
    async with session.post(base + PATHS[api], json=body) as response:
        answer = Answer(api, response.status)
        if response.status != 200:
            answer.raw = await response.read()
            return answer
        if not body.get("stream", api == "ollama"):
            answer.raw = await response.json()
            answer.events = [(time.monotonic(), answer.raw)]
            _read_json(answer, answer.raw)
            return answer
        answer.events = await _events(response, ndjson=api == "ollama")
    _read_stream(answer)
    return answer


def _read_json(answer: Answer, body: dict[str, Any]) -> None:
    api = answer.api
    if api == "openai-chat":
        choice = body["choices"][0]
        answer.stop = choice["finish_reason"]
        message = choice["message"]
        if message.get("tool_calls"):
            (call,) = message["tool_calls"]
            assert call["type"] == "function" and message["content"] is None
            answer.kind, answer.call_id = "tool", call["id"]
            answer.name, answer.arguments = call["function"]["name"], call["function"]["arguments"]
        else:
            answer.text = message["content"]
    elif api == "anthropic-messages":
        assert body["type"] == "message"
        answer.stop = body["stop_reason"]
        for block in body["content"]:
            if block["type"] == "tool_use":
                answer.kind, answer.call_id, answer.name = "tool", block["id"], block["name"]
                answer.arguments = json.dumps(block["input"])
            else:
                answer.text += block["text"]
    elif api == "openai-responses":
        assert body["object"] == "response" and body["status"] == "completed"
        for item in body["output"]:
            answer.stop = item["type"]
            if item["type"] == "function_call":
                answer.kind, answer.call_id, answer.name = "tool", item["call_id"], item["name"]
                answer.arguments = item["arguments"]
            else:
                answer.text += "".join(p["text"] for p in item["content"] if p["type"] == "output_text")
    else:
        assert body["done"] is True
        answer.stop = body["done_reason"]
        _ollama_message(answer, body["message"])


def _ollama_message(answer: Answer, message: dict[str, Any]) -> None:
    if message.get("tool_calls"):
        (call,) = message["tool_calls"]
        answer.kind, answer.call_id = "tool", call["id"]
        answer.name, answer.arguments = call["function"]["name"], json.dumps(call["function"]["arguments"])
    answer.text += message.get("content", "")


def _read_stream(answer: Answer) -> None:
    api, events = answer.api, answer.events
    if api == "ollama":
        assert events[-1][1]["done"] is True and not any(data["done"] for _, data in events[:-1])
        for at, data in events:
            before = answer.text
            _ollama_message(answer, data["message"])
            if answer.text != before:
                answer.text_times.append(at)
        answer.stop = events[-1][1]["done_reason"]
        answer.argument_pieces = 1 if answer.kind == "tool" else 0
        return
    if api == "openai-chat":
        assert events[-1][1] == ("", "[DONE]")
        for at, (_, data) in events[:-1]:
            choice = data["choices"][0]
            delta = choice["delta"]
            if choice["finish_reason"] is not None:
                answer.stop = choice["finish_reason"]
            for call in delta.get("tool_calls") or []:
                assert call["index"] == 0
                answer.kind = "tool"
                if "id" in call:
                    answer.call_id, answer.name = call["id"], call["function"]["name"]
                if call["function"].get("arguments"):
                    answer.arguments += call["function"]["arguments"]
                    answer.argument_pieces += 1
            if delta.get("content"):
                answer.text += delta["content"]
                answer.text_times.append(at)
        return
    names = [name for _, (name, _) in events]
    assert all(data["type"] == name for _, (name, data) in events), names
    if api == "anthropic-messages":
        assert names[:3] == ["message_start", "content_block_start", "ping"], names
        assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"], names
        block = events[1][1][1]["content_block"]
        if block["type"] == "tool_use":
            answer.kind, answer.call_id, answer.name = "tool", block["id"], block["name"]
        for at, (name, data) in events:
            if name == "content_block_delta":
                delta = data["delta"]
                if delta["type"] == "input_json_delta":
                    answer.arguments += delta["partial_json"]
                    answer.argument_pieces += 1
                else:
                    assert delta["type"] == "text_delta"
                    answer.text += delta["text"]
                    answer.text_times.append(at)
        answer.stop = events[-2][1][1]["delta"]["stop_reason"]
        return
    assert names[0] == "response.created" and names[-1] == "response.completed", names
    for at, (name, data) in events:
        if name == "response.output_item.added" and data["item"]["type"] == "function_call":
            answer.kind, answer.call_id, answer.name = "tool", data["item"]["call_id"], data["item"]["name"]
        elif name == "response.function_call_arguments.delta":
            answer.arguments += data["delta"]
            answer.argument_pieces += 1
        elif name == "response.function_call_arguments.done":
            assert data["arguments"] == answer.arguments
        elif name == "response.output_text.delta":
            answer.text += data["delta"]
            answer.text_times.append(at)
    answer.stop = events[-1][1][1]["response"]["output"][0]["type"]
