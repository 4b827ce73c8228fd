"""How the ``declared`` transport reads a streamed answer: SSE or NDJSON lines into events, and the events into
one call's answer by the ``[reply]`` selectors of its API file (text, text-complete, error, run id, end)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .api_file import MISSING, Event, ReplySpec, Selector, filled, first_pick, value_text
from .base import CallEvents

__all__ = ["Answer", "body_lines", "error_text", "json_event", "ndjson_events", "read_answer", "sse_events"]


@dataclass
class Answer:
    """What one call's stream has said so far."""

    text: str = ""
    reply: str | None = None
    """The reply text, fixed at the text-complete event (None until then)."""
    late: list[str] = field(default_factory=list)
    error: str | None = None
    run_id: str | None = None
    events: int = 0
    text_events: int = 0
    """Events a ``text`` selector matched (none: the selector never matched; the declared transport says so)."""
    ended: bool = False


async def body_lines(
    response: aiohttp.ClientResponse, into: bytearray, limit: int, too_large: Callable[[bytes], Exception]
) -> AsyncIterator[bytes]:
    """The body's lines as they arrive, kept in ``into`` (what arrived of a call cut or timed out); a body over
    ``limit`` bytes raises ``too_large(what arrived)``."""
    pending = b""
    async for chunk in response.content.iter_any():
        into += chunk[: limit + 1 - len(into)]
        if len(into) > limit:
            raise too_large(bytes(into))
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield line.removesuffix(b"\r")
    if pending:
        yield pending.removesuffix(b"\r")


def json_event(name: str | None, raw: bytes) -> Event:
    data = raw.decode("utf-8", "replace")
    try:
        document: Any = json.loads(data)
    except ValueError:
        document = MISSING
    return Event(name, data, document)


def error_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


async def ndjson_events(lines: AsyncIterator[bytes]) -> AsyncIterator[Event]:
    async for line in lines:
        if line.strip():
            yield json_event(None, line.strip())


async def sse_events(lines: AsyncIterator[bytes]) -> AsyncIterator[Event]:
    name: str | None = None
    data: list[bytes] = []  # SSE: a blank line dispatches the event gathered so far
    async for line in lines:
        if not line:
            if data:
                yield json_event(name or "message", b"\n".join(data))
            name, data = None, []
            continue
        if line.startswith(b":"):
            continue
        key, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if key == b"event":
            name = value.decode("utf-8", "replace")
        elif key == b"data":
            data.append(value)
    if data:  # a last event without its blank line
        yield json_event(name or "message", b"\n".join(data))


async def read_answer(
    reply: ReplySpec,
    stream: AsyncIterator[Event],
    events: CallEvents,
    on_run_id: Callable[[str], None],
    on_reply: Callable[[str], None],
) -> Answer:
    """Read ``stream`` to its end event (or its close), reporting the first event, the text-complete event and
    errors on ``events``, the run id to ``on_run_id`` once, the reply to ``on_reply`` when it is fixed."""
    answer = Answer()
    async for event in stream:
        answer.events += 1
        at = time.monotonic()
        events.first(at)
        _, error = first_pick(reply.error, event)
        if error is not MISSING:
            text = error_text(error)
            events.error(text, at)
            answer.error = answer.error if answer.error is not None else text
        selector, value = first_pick(reply.text, event)
        if selector is not None:
            answer.text_events += 1
            _add_text(answer, selector, value_text(value))
            if answer.reply is None and value_text(value):
                events.text(at)  # reply text arrived: the answer is not silent
        if answer.reply is None and _complete(reply, answer, event):
            events.text_complete(at)
            on_reply(answer.reply or "")
            if reply.end_at_complete:
                answer.ended = True
        if answer.run_id is None:
            _, run_id = first_pick(reply.run_id, event)
            if run_id is not MISSING:
                answer.run_id = value_text(run_id)
                on_run_id(answer.run_id)
        if not answer.ended and first_pick(reply.end, event)[0] is not None:
            answer.ended = True
        if answer.ended:
            break
    return answer


def _add_text(answer: Answer, selector: Selector, value: str) -> None:
    if answer.reply is not None:  # the text was complete: later text is late text
        if selector.mode == "append":
            answer.late.append(value)
        elif value != answer.reply:
            answer.late[:] = [value]
        return
    answer.text = answer.text + value if selector.mode == "append" else value


def _complete(reply: ReplySpec, answer: Answer, event: Event) -> bool:
    """Is ``event`` the text-complete event? Then the reply is fixed (its ``text`` pointer's value, if any)."""
    for selector in reply.complete:
        value = selector.pick(event)
        if value is MISSING or (selector.pointer is not None and not filled(value)):
            continue
        whole = selector.text.resolve(event.document) if selector.text is not None else MISSING
        answer.reply = value_text(whole) if whole is not MISSING and whole is not None else answer.text
        return True
    return False
