"""One streaming call to the model, in the provider API the gateway is configured for.

Each API has its own path, request body and stream framing; all of them hand
back the growing text through ``on_delta`` and the whole text at the end, and
raise when the provider reports an error or the stream ends early.

With ``run_tool``, an OpenAI chat request offers the ``clock`` tool: while the
model answers with a tool call, ``run_tool`` runs it and the model is asked
again with the call and its result, as an agent loop does.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

PROVIDER_APIS = ("openai-completions", "anthropic-messages", "openai-responses", "ollama")


class ProviderFailed(RuntimeError):
    pass


def _root(provider_url: str) -> str:
    """The server root: the provider URL is an OpenAI base URL ending in /v1."""
    url = provider_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


Turn = tuple[str, "str | ToolCall"]
"""One stored turn of a conversation: (user text, assistant text), or (user text, the model's tool call) for a
turn stopped in its tool step by a gateway that stores the call without its result (the stop-orphan-tool bug)."""

CLOCK_TOOL = {
    "type": "function",
    "function": {
        "name": "clock",
        "description": "The current time.",
        "parameters": {"type": "object", "properties": {}},
    },
}
MAX_TOOL_STEPS = 5


RunTool = Callable[[ToolCall], Awaitable[tuple[ToolCall, str]]]
"""Runs the model's tool call: (the call the result answers, the result)."""


def _request(
    api: str, root: str, model: str, system: str, user: str, history: Sequence[Turn] = ()
) -> tuple[str, dict[str, Any]]:
    said = [
        (role, text if isinstance(text, str) else "")
        for turn in history
        for role, text in zip(("user", "assistant"), turn)
    ] + [("user", user)]
    if api == "anthropic-messages":
        return f"{root}/v1/messages", {
            "model": model,
            "max_tokens": 1024,
            "stream": True,
            "system": system,
            "messages": [{"role": role, "content": [{"type": "text", "text": text}]} for role, text in said],
        }
    if api == "openai-responses":
        return f"{root}/v1/responses", {
            "model": model,
            "stream": True,
            "instructions": system,
            "input": [
                {
                    "type": "message",
                    "role": role,
                    "content": [{"type": "input_text" if role == "user" else "output_text", "text": text}],
                }
                for role, text in said
            ],
        }
    messages = [{"role": "system", "content": system}] + [{"role": role, "content": text} for role, text in said]
    if api == "openai-completions":
        for index, (_, answer) in enumerate(history):
            if isinstance(answer, ToolCall):  # a stored tool call without its result: sent as it was stored
                function = {"name": answer.name, "arguments": answer.arguments}
                call = {"id": answer.id, "type": "function", "function": function}
                messages[2 + 2 * index] = {"role": "assistant", "content": None, "tool_calls": [call]}
    if api == "ollama":
        return f"{root}/api/chat", {"model": model, "messages": messages}  # Ollama streams by default
    return f"{root}/v1/chat/completions", {"model": model, "stream": True, "messages": messages}


def _step(api: str, line: str) -> tuple[str | None, bool]:
    """One stream line → (text delta or None, whether the reply is complete); raises on the API's error."""
    if api == "ollama":
        data = json.loads(line)
        if "error" in data:
            raise ProviderFailed(f"provider error line: {data['error']}")
        return data.get("message", {}).get("content") or None, bool(data.get("done"))
    if not line.startswith("data:"):
        return None, False
    payload = line[len("data:") :].strip()
    if api == "openai-completions":
        if payload == "[DONE]":
            return None, True
        return json.loads(payload)["choices"][0].get("delta", {}).get("content"), False
    data = json.loads(payload)
    kind = data.get("type")
    if api == "anthropic-messages":
        if kind == "error":
            raise ProviderFailed(f"provider error event: {data.get('error')}")
        delta = data.get("delta", {}) if kind == "content_block_delta" else {}
        return delta.get("text"), kind == "message_stop"
    if kind in ("response.failed", "error"):
        raise ProviderFailed(f"provider {kind}: {data}")
    return (data.get("delta") if kind == "response.output_text.delta" else None), kind == "response.completed"


async def ask(
    http: aiohttp.ClientSession,
    api: str,
    provider_url: str,
    model: str,
    system: str,
    user: str,
    on_delta: Callable[[str], None],
    history: Sequence[Turn] = (),
    run_tool: RunTool | None = None,
) -> str:
    url, body = _request(api, _root(provider_url), model, system, user, history)
    tools = run_tool is not None and api == "openai-completions"
    if tools:
        body["tools"] = [CLOCK_TOOL]
    for _ in range(MAX_TOOL_STEPS + 1):  # bounded: a model that never stops calling tools
        text, call = await _stream(http, api, url, body, on_delta, tools)
        if call is None:
            return text
        assert run_tool is not None
        answered, result = await run_tool(call)
        body["messages"] += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
                ],
            },
            {"role": "tool", "tool_call_id": answered.id, "content": result},
        ]
    raise ProviderFailed(f"the model still called tools after {MAX_TOOL_STEPS} steps")


async def _stream(
    http: aiohttp.ClientSession, api: str, url: str, body: dict[str, Any], on_delta: Callable[[str], None], tools: bool
) -> tuple[str, ToolCall | None]:
    """One model call: (its text, or the tool call it answered with)."""
    text = ""
    parts: dict[int, dict[str, str]] = {}  # a streamed tool call, by index: id, name, arguments so far
    async with http.post(url, json=body) as response:
        if response.status != 200:
            raise ProviderFailed(f"provider answered HTTP {response.status}: {(await response.text())[:200]}")
        async for raw in response.content:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            if tools and line.startswith("data:") and line != "data: [DONE]":
                for piece in json.loads(line[len("data:") :])["choices"][0].get("delta", {}).get("tool_calls") or ():
                    part = parts.setdefault(int(piece.get("index", 0)), {"id": "", "name": "", "arguments": ""})
                    function = piece.get("function") or {}
                    part["id"] = piece.get("id") or part["id"]
                    part["name"] = function.get("name") or part["name"]
                    part["arguments"] += function.get("arguments") or ""
            delta, done = _step(api, line)
            if delta:
                text += delta
                on_delta(text)
            if done:
                first = parts.get(min(parts)) if parts else None
                return text, None if first is None else ToolCall(first["id"], first["name"], first["arguments"])
    raise ProviderFailed(f"provider stream ended before its end marker ({api})")
