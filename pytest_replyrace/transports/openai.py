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

from ..errors import InvalidArgument
from .base import BUSY_STATUSES, CallEvents, HttpClient, TransportError, TransportReply, excerpt
from .cuts import SendCutter

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

    def __post_init__(self) -> None:
        super().__post_init__()
        self._cutter = SendCutter()

    async def disconnect(self, idempotency_key: str) -> float:
        """Close the connection carrying that call's answer, as a client that goes away (no stop call: these
        APIs have none): the cut's instant."""
        return await self._cutter.cut(idempotency_key)

    @property
    def reports_text(self) -> bool:
        """A stream reports its reply text as it arrives (``events.text()``); a JSON body only at its end."""
        return self.stream

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

    async def exchange(
        self, session_key: str, extra: dict[str, Any], events: CallEvents | None = None
    ) -> TransportReply:
        """POST one turn; an error status is the call's error text, a 200 is read by the subclass."""
        sse = self.read_stream if self.stream else None
        status, raw, streamed = await self.post(
            self.request_body(session_key, extra), self.request_headers(session_key), sse, events
        )
        if streamed is not None:
            return streamed
        if status in REFUSED:
            raise TransportError(
                f"POST {self.url} answered HTTP {status}: {excerpt(raw)}; the gateway refused the "
                "request itself, not a turn: check --replyrace-token, --replyrace-header, "
                "--replyrace-http-path, --replyrace-model and the session options"
            )
        if status != 200:
            return TransportReply(
                run_id=None, reply=None, error=f"HTTP {status}: {excerpt(raw)}", busy=status in BUSY_STATUSES
            )
        data = self.json_object(raw)
        if data.get("error") is not None:
            return TransportReply(run_id=_str(data.get("id")), reply=None, error=_error_text(data["error"]))
        return self.from_json(data, raw)

    def from_json(self, data: dict[str, Any], raw: bytes) -> TransportReply:
        raise NotImplementedError

    async def read_stream(
        self, response: aiohttp.ClientResponse, into: bytearray, events: CallEvents
    ) -> TransportReply:
        raise NotImplementedError

    async def stream_events(
        self, response: aiohttp.ClientResponse, into: bytearray, events: CallEvents
    ) -> AsyncIterator[Any]:
        """The ``data:`` payloads of an event stream, JSON-decoded (``[DONE]`` as the string), bounded; the
        first one is the answer's first event."""
        pending = b""
        async for chunk in response.content.iter_any():
            into += chunk[: self.max_body_bytes + 1 - len(into)]
            if len(into) > self.max_body_bytes:
                raise self.too_large(bytes(into))
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if line.startswith(b"data:"):
                    events.first()
                    yield self._event(line[5:].strip())
        if pending.startswith(b"data:"):
            events.first()
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

    async def send(
        self, session_key: str, message: str, idempotency_key: str, events: CallEvents | None = None
    ) -> TransportReply:
        turn = {"messages": [{"role": "user", "content": message}]}
        return await self._cutter.run(idempotency_key, self.exchange(session_key, turn, events))

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

    async def read_stream(
        self, response: aiohttp.ClientResponse, into: bytearray, events: CallEvents
    ) -> TransportReply:
        text: list[str] = []
        run_id: str | None = None
        finished = False
        async for event in self.stream_events(response, into, events):
            if event == "[DONE]":
                events.text_complete()  # a stream without a finish_reason chunk is complete here
                return TransportReply(run_id=run_id, reply="".join(text))
            if not isinstance(event, dict):
                raise self.not_a("a chat completion chunk", json.dumps(event).encode())
            if event.get("error") is not None:
                events.error(_error_text(event["error"]))
                # After the text was complete the reply stands; the error is the turn's, after its reply.
                return TransportReply(
                    run_id=run_id, reply="".join(text) if finished else None, error=_error_text(event["error"])
                )
            run_id = run_id or _str(event.get("id"))
            for choice in event.get("choices") or []:
                delta = choice.get("delta") if isinstance(choice, dict) else None
                if isinstance(delta, dict) and isinstance(delta.get("content"), str) and delta["content"]:
                    if finished:  # a later step of the same turn: late text, not the reply
                        events.late_text(delta["content"])
                    else:
                        events.text()
                        text.append(delta["content"])
                if isinstance(choice, dict) and choice.get("finish_reason"):
                    finished = True
                    events.text_complete()  # the chunk with a finish_reason completes the text
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
            raise InvalidArgument(f"chain {self.chain!r}: expected previous, conversation or header")
        self._previous: str | None = None

    async def send(
        self, session_key: str, message: str, idempotency_key: str, events: CallEvents | None = None
    ) -> TransportReply:
        extra: dict[str, Any] = {"input": message}
        if self.chain == "previous" and self._previous is not None:
            extra["previous_response_id"] = self._previous
        elif self.chain == "conversation":
            extra["conversation"] = session_key
        before = self._previous
        reply = await self._cutter.run(idempotency_key, self.exchange(session_key, extra, events))
        if reply.run_id is not None and reply.error is None:
            self._previous = reply.run_id
        elif reply.error is not None and self._previous == reply.run_id:
            self._previous = before  # a failed response is no link in the chain
        return reply

    def from_json(self, data: dict[str, Any], raw: bytes) -> TransportReply:
        if data.get("status") == "failed":
            return TransportReply(
                run_id=_str(data.get("id")), reply=None, error=_error_text(data.get("error") or "status failed")
            )
        output = data.get("output")
        if not isinstance(output, list):
            raise self.not_a("a response (no 'output' list)", raw)
        return TransportReply(run_id=_str(data.get("id")), reply=_output_text(output))

    async def read_stream(
        self, response: aiohttp.ClientResponse, into: bytearray, events: CallEvents
    ) -> TransportReply:
        text: list[str] = []
        run_id: str | None = None
        async for event in self.stream_events(response, into, events):
            if not isinstance(event, dict):
                if event == "[DONE]" and text:
                    events.text_complete()
                    return TransportReply(run_id=run_id, reply="".join(text))
                continue
            kind, body = event.get("type"), event.get("response")
            if isinstance(body, dict):
                run_id = _str(body.get("id")) or run_id
                if self.chain == "previous" and run_id is not None and kind != "response.failed":
                    # The next message may go out before this stream ends: chain it to this response now.
                    self._previous = run_id
            if kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
                if events.text_at is not None:  # after the text was complete: late text of the same answer
                    events.late_text(event["delta"])
                    continue
                events.text()
                text.append(event["delta"])
            elif kind == "response.output_text.done":
                events.text_complete()
            elif kind == "response.completed":
                events.text_complete()
                output = body.get("output") if isinstance(body, dict) else None
                whole = _output_text(output) if isinstance(output, list) else ""
                return TransportReply(run_id=run_id, reply="".join(text) or whole)
            elif kind in ("response.failed", "error"):
                error = (body.get("error") if isinstance(body, dict) else None) or event.get("error") or event
                events.error(_error_text(error))
                return TransportReply(run_id=run_id, reply=None, error=_error_text(error))
        raise self.unfinished(into)


def _output_text(output: list[Any]) -> str:
    """The ``output_text`` parts of a response's ``output[].content[]``, joined."""
    return "".join(
        part["text"]
        for item in output
        if isinstance(item, dict) and isinstance(item.get("content"), list)
        for part in item["content"]
        if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str)
    )
