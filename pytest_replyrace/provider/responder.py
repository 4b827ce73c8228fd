"""The responder: the provider's request handlers, from a request's arrival to its answer on the wire.

It journals the request, reads its conversation (:class:`~.turns.TurnPlanner`), refuses what a real provider
refuses (a body that is not the API's, a tool call without its result), and has the :class:`~.wire.Wire` write
the answer at its planned instants. It watches the connection: a gateway that closes it before the answer is
done is journaled then (``closed_at``), not at the next write. Its own failures are ours, never the gateway's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import traceback
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..records import JournalEntry
from ..tokens import find_tokens
from .dialects import BadRequest, ChatRequest, Dialect
from .faults import FaultRule
from .journal import Journal
from .model import ModelSpec, piece_schedule
from .turns import NO_TOKEN_REPLY, UNPAIRED_NOTE, TurnPlanner
from .wire import Reply, Wire, abort, split_text

__all__ = ["CLOSED_NOTE", "Responder"]

CLOSED_NOTE = "client went away before the reply was complete"


class Responder:
    """Answers chat requests for the journal and planner it is given; ``settings()`` gives (chunks, model name)."""

    def __init__(
        self, journal: Journal, planner: TurnPlanner, wire: Wire, settings: Callable[[], tuple[int, str]]
    ) -> None:
        self._journal = journal
        self._planner = planner
        self._wire = wire
        self._settings = settings
        self._entries: dict[int, JournalEntry] = {}
        """Per request in flight (by id): its journal entry, for the guard."""

    def model_card(self) -> dict[str, Any]:
        return {"id": self._settings()[1], "object": "model", "owned_by": "replyrace"}

    async def handle_models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [self.model_card()]})

    async def handle_tags(self, request: web.Request) -> web.Response:
        name = self._settings()[1]
        model = {
            "name": name,
            "model": name,
            "modified_at": "2026-01-01T00:00:00Z",
            "size": 1,
            "digest": "replyrace",
            "details": {"format": "gguf", "family": "replyrace"},
        }
        return web.json_response({"models": [model]})

    @web.middleware
    async def guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """An exception in our own handler is our bug: answer 500 saying so, journal the traceback, and keep
        it for ``check_handler_errors``, so it can never pass for the gateway's behaviour."""
        self._wire.track(request)
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except (ConnectionResetError, asyncio.CancelledError, web.HTTPException):
            raise
        except Exception as exc:
            text = "".join(traceback.format_exception(exc))
            message = (
                f"replyrace's fake provider failed while serving {request.method} {request.path}: "
                f"{type(exc).__name__}: {exc}"
            )
            entry = self._entries.get(id(request))
            self._journal.failed(entry, message, text)
            if self._wire.forget(request):
                abort(request)  # headers are out: the only honest signal left is a broken stream
                raise ConnectionResetError(message) from exc
            return web.json_response(
                {"error": {"message": message, "type": "replyrace_provider_error", "traceback": text}}, status=500
            )
        finally:
            self._wire.forget(request)
            self._entries.pop(id(request), None)

    async def handle_chat(self, dialect: Dialect, request: web.Request) -> web.StreamResponse:
        arrived_at = time.monotonic()
        entry = self._journal.open(dialect.api, request.path, arrived_at)
        self._entries[id(request)] = entry  # the guard forgets it when the request is done
        try:
            return await self._chat(dialect, request, entry)
        except (ConnectionResetError, asyncio.CancelledError):
            # The gateway went away (the handler is cancelled when it does), or an injected fault dropped the
            # connection after journaling its end: closed_at is stamped only while the answer was unfinished.
            self._journal.closed(entry, CLOSED_NOTE)
            raise

    async def _read(self, dialect: Dialect, request: web.Request, entry: JournalEntry) -> ChatRequest | web.Response:
        """The request's conversation, or the API's own 400 for a body it would refuse."""
        try:
            body = await request.json(loads=json.loads)
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            return self._refuse(dialect, entry, f"request body is not JSON: {exc}")
        try:
            parsed = dialect.parse(body)
        except BadRequest as exc:
            return self._refuse(dialect, entry, str(exc))
        # Whether a turn was in the conversation at all: its token anywhere, in any role.
        return dataclasses.replace(parsed, mentioned=tuple(find_tokens(json.dumps(body, ensure_ascii=False))))

    def _refuse(self, dialect: Dialect, entry: JournalEntry, message: str, note: str | None = None) -> web.Response:
        self._journal.end(entry, 400, note or message)
        return web.json_response(dialect.error(400, "invalid_request_error", message), status=400)

    async def _chat(self, dialect: Dialect, request: web.Request, entry: JournalEntry) -> web.StreamResponse:
        parsed = await self._read(dialect, request, entry)
        if isinstance(parsed, web.Response):
            return parsed
        tokens = self._planner.read(entry, parsed)
        spec = self._planner.spec
        if spec.strict_tools and parsed.pairing is not None:
            return self._refuse(dialect, entry, dialect.unpaired(parsed.pairing), UNPAIRED_NOTE)
        rtt, fault = self._planner.plan(entry)
        reply = self._reply(dialect, spec, parsed, entry, tokens, fault)
        with self._journal.editing():
            entry.rtt = rtt
            entry.fault = fault.kind if fault is not None else None
        if parsed.stream and fault is None:
            count = len(reply.writes()[0])
            jitter = self._planner.rtt_for(entry).jitter
            schedule = piece_schedule(count, rtt, spec.ttft, jitter, self._planner.piece_rng(entry))
            with self._journal.editing():
                entry.schedule = schedule
        self._journal.notify("request", entry)
        deadline = entry.arrived_at + rtt
        if fault is not None:
            return await self._wire.fault(fault, request, entry, deadline, reply)
        if parsed.stream:
            return await self._wire.stream(request, entry, deadline, reply)
        return await self._wire.json(request, entry, deadline, reply)

    def _reply(
        self,
        dialect: Dialect,
        spec: ModelSpec,
        parsed: ChatRequest,
        entry: JournalEntry,
        tokens: list[str],
        fault: FaultRule | None,
    ) -> Reply:
        """The answer: a tool call, the echo of the turn's tokens, or a side step's short text without one."""
        chunks, model_name = self._settings()
        call = self._planner.tool_call(spec, parsed, entry, fault)
        text = spec.text(tokens, NO_TOKEN_REPLY) if tokens else NO_TOKEN_REPLY
        pieces_of = spec.reply_pieces or chunks
        # A tool call's arguments come in at least two pieces where they can be split, so a client must join them.
        pieces = split_text(call.arguments, max(2, pieces_of)) if call is not None else split_text(text, pieces_of)
        return Reply(dialect, text, parsed.model or model_name, call, tuple(pieces))
