"""Wire writing: one answer put on the wire at its planned instants, in its dialect, or a fault in its place.

The :class:`Reply` is what to say (text or a tool call, in pieces); the :class:`Wire` says it: a JSON body at the
RTT, a stream whose pieces go out on the entry's schedule, or an injected fault as that API shows it.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..clock import sleep_until as _sleep_until
from ..records import JournalEntry
from .dialects import Dialect, ToolCall
from .faults import FaultRule
from .journal import Journal
from .model import piece_schedule

__all__ = ["STATUS_FAULTS", "Reply", "Wire", "abort", "split_text"]

STATUS_FAULTS = ("429", "500", "503", "overloaded")


def abort(request: web.Request) -> None:
    """Drop the connection: no more bytes, no clean close."""
    transport = request.transport
    if transport is not None:
        transport.abort()


def split_text(text: str, pieces: int) -> list[str]:
    """``text`` in ``pieces`` pieces of one size, at most one per character."""
    n = min(pieces, max(1, len(text)))
    size = -(-len(text) // n)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@dataclass(frozen=True)
class Reply:
    """The answer to one request, in its dialect: the text step's ``text``, or a tool ``call``."""

    dialect: Dialect
    text: str
    model: str
    call: ToolCall | None = None
    pieces: tuple[str, ...] = ()
    """What the stream carries in pieces: the text, or the tool call's arguments."""

    def stream_response(self) -> web.StreamResponse:
        return web.StreamResponse(
            status=200, headers={"Content-Type": self.dialect.stream_type, "Cache-Control": "no-cache"}
        )

    def body(self) -> dict[str, Any]:
        """The non-streaming body."""
        if self.call is not None:
            return self.dialect.tool_reply(self.call, self.model)
        return self.dialect.reply(self.text, self.model)

    def writes(self) -> tuple[list[bytes], bytes]:
        """The stream's writes, one per piece (the first carries the dialect's opening events), and the close."""
        if self.call is not None:
            return self.dialect.tool_stream(self.call, list(self.pieces), self.model)
        pieces = list(self.pieces) or [self.text]
        writes = [self.piece(i, piece) for i, piece in enumerate(pieces)]
        return writes, self.dialect.stream_close(self.text, self.model)

    def piece(self, index: int, piece: str) -> bytes:
        """Stream piece ``index``; the first carries the dialect's opening events."""
        head = self.dialect.stream_open(self.model) if index == 0 else b""
        return head + self.dialect.stream_piece(piece, self.model)


class Wire:
    """Writes answers for the journal's entries; ``spin()`` is the provider's ``timer_spin`` at the time."""

    def __init__(self, journal: Journal, spin: Callable[[], float]) -> None:
        self._journal = journal
        self._spin = spin
        self._prepared: dict[int, list[bool]] = {}
        """Per request in flight (by id): whether its headers went out."""

    def track(self, request: web.Request) -> None:
        self._prepared[id(request)] = [False]

    def forget(self, request: web.Request) -> bool:
        """Stop tracking ``request``; True when its headers had gone out."""
        return self._prepared.pop(id(request), [False])[0]

    async def prepare(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        await response.prepare(request)
        flag = self._prepared.get(id(request))
        if flag is not None:
            flag[0] = True
        return response

    async def json(
        self, request: web.Request, entry: JournalEntry, deadline: float, reply: Reply
    ) -> web.StreamResponse:
        payload = json.dumps(reply.body()).encode()
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = len(payload)
        spin = self._spin()
        await _sleep_until(deadline - spin)
        await self.prepare(request, response)  # aiohttp holds the headers back until the body goes out
        await _sleep_until(deadline, spin)
        self._journal.served(entry)
        await response.write_eof(payload)
        return response

    def _times(self, entry: JournalEntry, deadline: float, count: int, first_at: float | None) -> list[float]:
        if first_at is not None:
            return [first_at] * count
        with self._journal.editing():
            schedule = list(entry.schedule)
        if len(schedule) == count:
            return [entry.arrived_at + t for t in schedule]
        plan = piece_schedule(count, deadline - entry.arrived_at, None, 0.0, random.Random(0))
        return [entry.arrived_at + t for t in plan]

    async def stream(
        self,
        request: web.Request,
        entry: JournalEntry,
        deadline: float,
        reply: Reply,
        *,
        first_at: float | None = None,
    ) -> web.StreamResponse:
        """Each write at its planned instant (the entry's ``schedule``; all at ``first_at`` when given), the last
        byte at the deadline: the request counts as served then."""
        response = reply.stream_response()
        writes, close = reply.writes()
        times = self._times(entry, deadline, len(writes), first_at)
        spin = self._spin()
        await _sleep_until(times[0], spin)
        await self.prepare(request, response)
        last = len(writes) - 1
        for i, write in enumerate(writes):
            if i:
                await _sleep_until(times[i], spin)  # the timer alone overshoots by a millisecond
            if i == last and times[i] >= deadline:
                break  # the last piece goes out with the close, at the deadline
            self._journal.stamp(entry)
            await response.write(write)
        else:
            write = b""
        await _sleep_until(deadline, spin)
        self._journal.served(entry)
        if write:
            self._journal.stamp(entry)
        await response.write_eof(write + close)
        return response

    async def late(
        self, request: web.Request, entry: JournalEntry, first_at: float, reply: Reply
    ) -> web.StreamResponse:
        """A slow first token: nothing until ``first_at``, then the whole answer at once."""
        if not entry.stream:
            return await self.json(request, entry, first_at, reply)
        return await self.stream(request, entry, first_at, reply, first_at=first_at)

    async def fault(
        self, rule: FaultRule, request: web.Request, entry: JournalEntry, deadline: float, reply: Reply
    ) -> web.StreamResponse:
        """What each fault kind looks like on the wire of this dialect (see
        :data:`~pytest_replyrace.provider.faults.FAULT_KINDS` and "Provider APIs" in docs/04-provider.md)."""
        kind, dialect = rule.kind, reply.dialect
        if kind in STATUS_FAULTS:
            status = dialect.fault_status(kind)
            headers = {"Retry-After": f"{rule.retry_after:g}"} if status == 429 else {}
            self._journal.end(entry, status, f"injected HTTP {status}")
            what = status if kind != "overloaded" else "overloaded"
            return web.json_response(
                dialect.error(status, dialect.fault_types[status], f"injected fault {what}"),
                status=status,
                headers=headers,
            )
        if kind == "reset":
            self._journal.end(entry, 0, "injected connection reset before headers")
            abort(request)
            raise ConnectionResetError("injected reset")
        if kind == "malformed":
            await _sleep_until(deadline)
            self._journal.end(entry, 200, "injected malformed body")
            broken_json, broken_stream = dialect.malformed
            if entry.stream:
                response = await self.prepare(request, reply.stream_response())
                await response.write_eof(broken_stream)
                return response
            return web.Response(status=200, body=broken_json, content_type="application/json")
        if kind == "ttft":
            return await self.late(request, entry, max(deadline, entry.arrived_at + rule.ttft), reply)
        return await self.cut(rule, request, entry, deadline, reply)

    async def cut(
        self, rule: FaultRule, request: web.Request, entry: JournalEntry, deadline: float, reply: Reply
    ) -> web.StreamResponse:
        """A stream that fails after ``after_chunks`` pieces: the API's own error event where it has one, else
        a reset. Non-streaming: a reset after the RTT."""
        if not entry.stream:
            await _sleep_until(deadline)
            self._journal.end(entry, 0, "injected cut: connection reset after the RTT")
            abort(request)
            raise ConnectionResetError("injected cut")
        response = await self.prepare(request, reply.stream_response())
        writes = reply.writes()[0]
        start = time.monotonic()
        for i, write in enumerate(writes[: rule.after_chunks]):
            await _sleep_until(start + (deadline - start) * (i + 1) / (len(writes) + 1))
            await response.write(write)
        stream_error = reply.dialect.stream_error
        if stream_error is not None:
            await _sleep_until(deadline)
            self._journal.end(entry, 200, f"injected error event after {rule.after_chunks} chunk(s)")
            head = reply.dialect.stream_open(reply.model) if rule.after_chunks == 0 else b""
            await response.write_eof(head + stream_error("injected fault: the stream failed"))
            return response
        self._journal.end(entry, 0, f"injected cut after {rule.after_chunks} chunk(s)")
        abort(request)
        raise ConnectionResetError("injected cut")
