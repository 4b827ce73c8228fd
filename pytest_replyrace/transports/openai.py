"""OpenAI-style session APIs: chat completions and Responses, with the session kept by the gateway.

The client sends only the new user message and names the session in a header,
a body field, or (Responses) by chaining to the previous response or a named
conversation; the gateway loads the history itself. An HTTP error status or an
``error`` object is the call's error text, not a transport failure: a gateway
that answers 409/429/503 before the provider served the turn is a fast-fail
(``f``), one that reports the provider's failure is an honest ``e``. A status that refuses the request
itself (401, 404, …: a wrong token, path or body) is a transport error (``e``): a broken setup, never a
turn that raced.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from .base import HttpClient, TransportError, TransportReply, excerpt

REFUSED = frozenset({400, 401, 403, 404, 405, 413, 415, 422})
"""Statuses that refuse the request itself (auth, path, body), whatever the session is doing."""

__all__ = ["OpenAIChatTransport", "OpenAIResponsesTransport"]


def _parts_text(content: Any) -> str | None:
    """Text of a message content: a string, a list of text parts, or None; anything else is not text."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return None


def _error_text(error: Any) -> str:
    """An ``error`` object (or string) as bounded error text."""
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return f"error: {excerpt(error['message'])}"
    return f"error: {excerpt(error if isinstance(error, str) else json.dumps(error))}"


@dataclass
class _OpenAIBase(HttpClient):
    model: str = "replyrace"
    session_header: str | None = None
    session_field: str | None = None
    stream: bool = False
    token: str | None = None
    name: str = "openai"

    def request_headers(self, session_key: str) -> dict[str, str]:
        headers = dict(self.headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.session_header:
            headers[self.session_header] = session_key
        return headers

    def request_body(self, session_key: str, extra: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, **extra, "stream": self.stream}
        if self.session_field:
            body[self.session_field] = session_key
        return body

    async def exchange(self, session_key: str, extra: dict[str, Any]) -> TransportReply:
        """POST one turn; an error status is the call's error text, a 200 is read by the subclass."""
        sse = self.read_stream if self.stream else None
        status, raw, streamed = await self.post(self.request_body(session_key, extra),
                                                self.request_headers(session_key), sse)
        if streamed is not None:
            return streamed
        if status in REFUSED:
            raise TransportError(f"POST {self.url} answered HTTP {status}: {excerpt(raw)}; the gateway refused the "
                                 "request itself, not a turn: check --replyrace-token, --replyrace-header, "
                                 "--replyrace-http-path, --replyrace-model and the session options")
        if status != 200:
            return TransportReply(run_id=None, reply=None, error=f"HTTP {status}: {excerpt(raw)}")
        data = self.json_object(raw)
        if data.get("error") is not None:
            return TransportReply(run_id=_str(data.get("id")), reply=None, error=_error_text(data["error"]))
        return self.from_json(data, raw)

    def from_json(self, data: dict[str, Any], raw: bytes) -> TransportReply:
        raise NotImplementedError

    async def read_stream(self, response: aiohttp.ClientResponse, into: bytearray) -> TransportReply:
        raise NotImplementedError

    async def events(self, response: aiohttp.ClientResponse, into: bytearray) -> AsyncIterator[Any]:
        """The ``data:`` payloads of an event stream, JSON-decoded (``[DONE]`` as the string), bounded."""
        pending = b""
        async for chunk in response.content.iter_any():
            into += chunk[: self.max_body_bytes + 1 - len(into)]
            if len(into) > self.max_body_bytes:
                raise self.too_large(bytes(into))
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if line.startswith(b"data:"):
                    yield self._event(line[5:].strip())
        if pending.startswith(b"data:"):
            yield self._event(pending[5:].strip())

    def _event(self, data: bytes) -> Any:
        if data == b"[DONE]":
            return "[DONE]"
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise TransportError(f"POST {self.url}: a stream event is not JSON: {excerpt(data)}") from None

    def unfinished(self, into: bytearray) -> TransportError:
        return TransportError(f"POST {self.url}: the stream ended before its last event: {excerpt(bytes(into))}")

    def not_a(self, what: str, raw: bytes) -> TransportError:
        return TransportError(f"POST {self.url}: reply is not {what}: {excerpt(raw)}")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass
class OpenAIChatTransport(_OpenAIBase):
    """``POST /v1/chat/completions`` with only the new user message; the session in a header and/or a field."""

    path: str = "/v1/chat/completions"
    name: str = "openai-chat"

    async def send(self, session_key: str, message: str, idempotency_key: str) -> TransportReply:
        return await self.exchange(session_key, {"messages": [{"role": "user", "content": message}]})

    def from_json(self, data: dict[str, Any], raw: bytes) -> TransportReply:
        choices = data.get("choices")
        if not isinstance(choices, list):
            raise self.not_a("a chat completion (no 'choices' list)", raw)
        first = choices[0] if choices else {}
        message = first.get("message") if isinstance(first, dict) else None
        text = _parts_text(message.get("content")) if isinstance(message, dict) else ""
        if isinstance(message, dict) and text is None and message.get("content") is not None:
            raise self.not_a("a chat completion (message content is not text)", raw)
        return TransportReply(run_id=_str(data.get("id")), reply=text or "")

    async def read_stream(self, response: aiohttp.ClientResponse, into: bytearray) -> TransportReply:
        text: list[str] = []
        run_id: str | None = None
        finished = False
        async for event in self.events(response, into):
            if event == "[DONE]":
                return TransportReply(run_id=run_id, reply="".join(text))
            if not isinstance(event, dict):
                raise self.not_a("a chat completion chunk", json.dumps(event).encode())
            if event.get("error") is not None:
                return TransportReply(run_id=run_id, reply=None, error=_error_text(event["error"]))
            run_id = run_id or _str(event.get("id"))
            for choice in event.get("choices") or []:
                delta = choice.get("delta") if isinstance(choice, dict) else None
                if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                    text.append(delta["content"])
                finished = finished or bool(isinstance(choice, dict) and choice.get("finish_reason"))
        if finished:  # some gateways close after finish_reason without a [DONE]
            return TransportReply(run_id=run_id, reply="".join(text))
        raise self.unfinished(into)


@dataclass
class OpenAIResponsesTransport(_OpenAIBase):
    """``POST /v1/responses`` with the new message as ``input``, chained per ``chain``: ``previous``
    (``previous_response_id``: this run's last response), ``conversation`` (the session key) or ``header``
    (only the session header/field)."""

    path: str = "/v1/responses"
    chain: str = "previous"
    name: str = "openai-responses"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.chain not in ("previous", "conversation", "header"):
            raise ValueError(f"chain {self.chain!r}: expected previous, conversation or header")
        self._previous: str | None = None

    async def send(self, session_key: str, message: str, idempotency_key: str) -> TransportReply:
        extra: dict[str, Any] = {"input": message}
        if self.chain == "previous" and self._previous is not None:
            extra["previous_response_id"] = self._previous
        elif self.chain == "conversation":
            extra["conversation"] = session_key
        reply = await self.exchange(session_key, extra)
        if reply.run_id is not None and reply.error is None:
            self._previous = reply.run_id
        return reply

    def from_json(self, data: dict[str, Any], raw: bytes) -> TransportReply:
        if data.get("status") == "failed":
            return TransportReply(run_id=_str(data.get("id")), reply=None,
                                  error=_error_text(data.get("error") or "status failed"))
        output = data.get("output")
        if not isinstance(output, list):
            raise self.not_a("a response (no 'output' list)", raw)
        return TransportReply(run_id=_str(data.get("id")), reply=_output_text(output))

    async def read_stream(self, response: aiohttp.ClientResponse, into: bytearray) -> TransportReply:
        text: list[str] = []
        run_id: str | None = None
        async for event in self.events(response, into):
            if not isinstance(event, dict):
                if event == "[DONE]" and text:
                    return TransportReply(run_id=run_id, reply="".join(text))
                continue
            kind, body = event.get("type"), event.get("response")
            if isinstance(body, dict):
                run_id = _str(body.get("id")) or run_id
            if kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
                text.append(event["delta"])
            elif kind == "response.completed":
                output = body.get("output") if isinstance(body, dict) else None
                whole = _output_text(output) if isinstance(output, list) else ""
                return TransportReply(run_id=run_id, reply="".join(text) or whole)
            elif kind in ("response.failed", "error"):
                error = (body.get("error") if isinstance(body, dict) else None) or event.get("error") or event
                return TransportReply(run_id=run_id, reply=None, error=_error_text(error))
        raise self.unfinished(into)


def _output_text(output: list[Any]) -> str:
    """The ``output_text`` parts of a response's ``output[].content[]``, joined."""
    return "".join(
        part["text"]
        for item in output if isinstance(item, dict) and isinstance(item.get("content"), list)
        for part in item["content"]
        if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str)
    )
