"""A fake LLM provider whose speed the test controls.

It speaks OpenAI chat completions, Anthropic Messages, OpenAI Responses and
Ollama's chat API on one port (see :mod:`~pytest_replyrace.provider.dialects`).

The server runs on its own thread with its own event loop, so a busy test loop
(or a blocking sync test) never stretches the RTT it serves. It echoes the
driver tokens of the latest user turn, journals every request on the shared
monotonic clock, and can apply a per-request RTT: fixed, a range, or a fixed
value with seeded jitter. Usable without pytest::

    with FakeProvider(rtt=0.05) as provider:
        call_gateway(provider.base_url)      # http://127.0.0.1:PORT/v1
        print(provider.journal)
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from ..clock import sleep_until as _sleep_until
from ..errors import FakeProviderError, InvalidArgument, NotStarted
from ..loopback import is_loopback_host
from ..records import JournalEntry
from ..tokens import call_number, find_tokens, newest_token
from ..units import parse_duration
from .dialects import DIALECTS, BadRequest, ChatRequest, Dialect, ToolCall, chat_pairs, turn_split
from .faults import FaultPlan, FaultRule
from .model import ModelSpec, piece_schedule

__all__ = [
    "NO_TOKEN_REPLY",
    "NO_TOOLS_NOTE",
    "FakeProvider",
    "ModelSpec",
    "RttSpec",
    "tokens_by_message",
    "user_turn_text",
]

NO_TOKEN_REPLY = "ECHO (no token)"
STATUS_FAULTS = ("429", "500", "503", "overloaded")
NO_TOOLS_NOTE = "a tool step answered with text: the request offered no tools"
RENAMED_NOTE = "tool-call ids came back with their letters and digits only: "
"""The start of the note on a request whose tool results name issued calls by their stripped ids (OpenClaw's
strict tool-call-id mode), followed by ``stripped = issued`` pairs."""


def stripped_id(call_id: str) -> str:
    """``call_id`` with its letters and digits only, as gateways that sanitise tool-call ids send it back
    (OpenClaw's strict mode: ``call_rr-ab12-3_1`` → ``callrrab1231``)."""
    return re.sub(r"[^A-Za-z0-9]", "", call_id)


@dataclass(frozen=True)
class _Issued:
    """A tool call the provider issued: the turn it belongs to."""

    tokens: tuple[str, ...]
    history: tuple[str, ...]
    step: int
    seq: int


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


@dataclass(frozen=True)
class RttSpec:
    """How long a request takes, arrival to last byte.

    ``lo == hi`` is a fixed RTT. ``jitter`` is a fraction: each request draws
    uniformly from ``[lo * (1 - jitter), hi * (1 + jitter)]``.
    """

    lo: float
    hi: float
    jitter: float = 0.0

    @classmethod
    def of(cls, rtt: float | tuple[float, float] | RttSpec, jitter: float = 0.0) -> RttSpec:
        if isinstance(rtt, RttSpec):
            return rtt if jitter == 0.0 else replace(rtt, jitter=jitter)
        # Bounded like every duration: an RTT of 1e20 s would hold a request (and the test) forever.
        if isinstance(rtt, tuple):
            lo, hi = (parse_duration(rtt[0], what=f"rtt {rtt!r} lo"), parse_duration(rtt[1], what=f"rtt {rtt!r} hi"))
        else:
            lo = hi = parse_duration(rtt, what="rtt")
        if hi < lo:
            raise InvalidArgument(f"rtt {rtt!r}: expected seconds >= 0, or a (lo, hi) range with 0 <= lo <= hi")
        if not 0.0 <= jitter < 1.0:
            raise InvalidArgument(f"jitter {jitter!r}: expected a fraction in [0, 1)")
        return cls(lo, hi, jitter)

    def draw(self, rng: random.Random) -> float:
        lo, hi = self.lo * (1.0 - self.jitter), self.hi * (1.0 + self.jitter)
        return lo if hi == lo else rng.uniform(lo, hi)


def user_turn_text(messages: list[Any]) -> str:
    """Every user message of an OpenAI ``messages`` list after the last assistant message, joined."""
    return "\n".join(turn_split(chat_pairs(messages))[0])


def tokens_by_message(texts: list[str]) -> list[str]:
    """Message by message: a turn a gateway sent twice shows twice (the conversation check counts it)."""
    return [token for text in texts for token in find_tokens(text)]


def _check_loopback(host: str) -> None:
    if is_loopback_host(host):
        return
    raise InvalidArgument(f"host {host!r}: the fake provider binds loopback only (127.0.0.1, ::1 or localhost)")


class FakeProvider:
    """A provider server on loopback, on its own thread, speaking every dialect of
    :data:`~pytest_replyrace.provider.dialects.DIALECTS` on one port."""

    timer_spin: float = 0.002
    """The last stretch before a reply's deadline, waited by yielding to the loop rather than on its timer."""

    def __init__(
        self,
        rtt: float | tuple[float, float] | RttSpec = 0.05,
        *,
        jitter: float = 0.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        chunks: int = 3,
        model: str = "fake-model",
        model_spec: ModelSpec | None = None,
    ) -> None:
        _check_loopback(host)
        if chunks < 1:
            raise InvalidArgument(f"chunks {chunks!r}: expected an integer >= 1")
        self.host = host
        self._requested_port = port
        self.chunks = chunks
        self.model_name = model
        """The model name of /v1/models and of replies to requests that name none."""
        self._rtt = RttSpec.of(rtt, jitter)
        self._seed = seed
        self._token_rtts: dict[str, RttSpec] = {}
        self._faults = FaultPlan()
        self._base_spec = model_spec if model_spec is not None else ModelSpec()
        self._spec = self._base_spec
        self._issued: dict[str, _Issued] = {}
        """Every tool call issued since the last reset, by id."""
        self._stripped: dict[str, str | None] = {}
        """Issued ids by their stripped form (:func:`stripped_id`); None where two issued ids strip alike."""
        self._lock = threading.Lock()
        self._journal: list[JournalEntry] = []
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._startup_error: BaseException | None = None
        self._handler_errors: list[str] = []
        self._serving: dict[int, tuple[JournalEntry, list[bool]]] = {}
        """Per request in flight (by id): its journal entry and whether its headers went out."""
        self._watchers: list[Callable[[str, JournalEntry], None]] = []

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = 10.0) -> FakeProvider:
        if self._thread is not None:
            return self
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="replyrace-fake-provider", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise NotStarted(f"fake provider did not start within {timeout}s")
        if self._startup_error is not None:
            self._thread.join(timeout)
            self._thread = None
            raise NotStarted(f"fake provider failed to start: {self._startup_error}") from self._startup_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop, runner = self._thread, self._loop, self._runner
        if thread is None or loop is None:
            return
        if runner is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(runner.cleanup(), loop)
            try:
                future.result(timeout)
            except Exception:  # a stuck handler must not keep the thread alive
                pass
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = self._loop = self._runner = None
        self._port = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        if self._port is None:
            raise NotStarted("fake provider is not running; call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        """OpenAI base URL, ending in ``/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    # -- settings ----------------------------------------------------------

    @property
    def rtt(self) -> RttSpec:
        return self._rtt

    @property
    def seed(self) -> int:
        return self._seed

    def set_rtt(self, rtt: float | tuple[float, float] | RttSpec, jitter: float = 0.0) -> None:
        """RTT for requests from now on (tokens registered with their own RTT excepted)."""
        spec = RttSpec.of(rtt, jitter)
        with self._lock:
            self._rtt = spec

    def set_token_rtt(
        self, token_or_prefix: str, rtt: float | tuple[float, float] | RttSpec, jitter: float = 0.0
    ) -> None:
        """Serve requests whose first token starts with ``token_or_prefix`` at their own RTT.

        Lets concurrent sessions run at different RTTs on one provider.
        """
        spec = RttSpec.of(rtt, jitter)
        with self._lock:
            self._token_rtts[token_or_prefix] = spec

    def faults(self, kind: str | FaultPlan | None = None, /, **kwargs: Any) -> FaultPlan:
        """Replace the fault plan: ``faults("500", rate=0.3)``, ``faults("reset", calls=[2])`` or a
        :class:`FaultPlan`; ``faults()`` clears it. Returns the plan."""
        new_plan = kind if isinstance(kind, FaultPlan) else FaultPlan.build(kind, **kwargs)
        with self._lock:
            self._faults = new_plan
        return new_plan

    @property
    def model_spec(self) -> ModelSpec:
        """The scripted model requests get from now on."""
        with self._lock:
            return self._spec

    def model(self, spec: ModelSpec | None = None, /, **changes: Any) -> ModelSpec:
        """Change the scripted model for requests from now on: ``model(tool_calls=1, tool="clock",
        arguments='{}', ttft=0.2, reply_pieces=20, reply_words=50)`` changes those and keeps the rest, or
        ``model(ModelSpec(...))`` replaces it. ValueError names a bad value. Returns the new spec."""
        base = spec if spec is not None else self.model_spec
        new_spec = base.but(**changes)
        with self._lock:
            self._spec = new_spec
        return new_spec

    def reset(
        self,
        *,
        rtt: float | tuple[float, float] | RttSpec | None = None,
        jitter: float = 0.0,
        seed: int | None = None,
        model_spec: ModelSpec | None = None,
    ) -> None:
        """Cheap per-test reset: empty journal, no faults, no token RTTs, new RTT/seed if given, the scripted
        model ``model_spec`` (else the one the provider was made with)."""
        spec = RttSpec.of(rtt, jitter) if rtt is not None else None
        with self._lock:
            self._journal = []
            self._seq = 0
            self._issued = {}
            self._stripped = {}
            self._spec = model_spec if model_spec is not None else self._base_spec
            self._handler_errors = []
            self._token_rtts = {}
            self._faults = FaultPlan()
            if spec is not None:
                self._rtt = spec
            if seed is not None:
                self._seed = seed

    # -- journal -----------------------------------------------------------

    def watch(self, callback: Callable[[str, JournalEntry], None]) -> Callable[[], None]:
        """Call ``callback(kind, entry)`` on the provider's thread as requests come and go: ``"request"`` once a
        request's tokens and RTT are known (its planned end is ``arrived_at + rtt``), ``"end"`` when it was
        served or ended by a fault. The callback must be quick and thread-safe (``loop.call_soon_threadsafe``);
        returns the function that stops the watch."""
        with self._lock:
            self._watchers.append(callback)

        def unwatch() -> None:
            with self._lock:
                if callback in self._watchers:
                    self._watchers.remove(callback)

        return unwatch

    def _notify(self, kind: str, entry: JournalEntry) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for callback in watchers:
            callback(kind, entry)

    @property
    def journal(self) -> list[JournalEntry]:
        """A snapshot of every request since the last reset, in arrival order."""
        with self._lock:
            return [
                replace(
                    e,
                    tokens=list(e.tokens),
                    history=list(e.history),
                    issued=list(e.issued),
                    answered=list(e.answered),
                    tools=list(e.tools),
                    schedule=list(e.schedule),
                    written=list(e.written),
                )
                for e in self._journal
            ]

    def entries_for(self, token: str) -> list[JournalEntry]:
        return [e for e in self.journal if token in e.tokens]

    def in_flight(self) -> int:
        """How many requests are still being served."""
        with self._lock:
            return sum(1 for e in self._journal if e.ended_at is None and e.error is None)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is in flight (bounded); True when idle."""
        deadline = time.monotonic() + timeout
        while self.in_flight():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    async def await_idle(self, timeout: float = 5.0) -> bool:
        """:meth:`wait_idle` for async callers: never blocks their loop."""
        deadline = time.monotonic() + timeout
        while self.in_flight():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- server ------------------------------------------------------------

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start_site())
        except BaseException as exc:
            self._startup_error = exc
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _start_site(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024, middlewares=[self._guard])
        app.router.add_get("/v1/models", self._handle_models)
        app.router.add_get("/api/tags", self._handle_tags)
        for dialect in DIALECTS.values():
            app.router.add_post(dialect.path, functools.partial(self._handle_chat, dialect))
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port, reuse_address=True)
        await site.start()
        self._runner = runner
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = int(sockets[0].getsockname()[1])

    async def _handle_models(self, request: web.Request) -> web.Response:
        model = {"id": self.model_name, "object": "model", "owned_by": "replyrace"}
        return web.json_response({"object": "list", "data": [model]})

    async def _handle_tags(self, request: web.Request) -> web.Response:
        model = {
            "name": self.model_name,
            "model": self.model_name,
            "modified_at": "2026-01-01T00:00:00Z",
            "size": 1,
            "digest": "replyrace",
            "details": {"format": "gguf", "family": "replyrace"},
        }
        return web.json_response({"models": [model]})

    def _new_entry(self, dialect: Dialect, path: str, arrived_at: float) -> JournalEntry:
        with self._lock:
            self._seq += 1
            entry = JournalEntry(
                seq=self._seq,
                path=path,
                arrived_at=arrived_at,
                ended_at=None,
                tokens=[],
                rtt=0.0,
                model=None,
                stream=False,
                status=0,
                api=dialect.api,
            )
            self._journal.append(entry)
            return entry

    def _plan_for(self, entry: JournalEntry) -> tuple[float, FaultRule | None]:
        """The RTT and fault for this request, replayable from the seed and the token."""
        with self._lock:
            spec = self._rtt
            newest = newest_token(entry.tokens)  # not a failed turn the gateway re-sent from its history
            if newest is not None:
                for prefix, token_spec in self._token_rtts.items():
                    if newest.startswith(prefix):
                        spec = token_spec
                        break
            # Keyed on the token, not arrival order, so concurrent sessions replay alike.
            key = newest if newest is not None else f"#{entry.seq}"
            attempt = sum(1 for e in self._journal if newest is not None and newest in e.tokens and e.seq < entry.seq)
            rng = random.Random(f"{self._seed}:{key}:{attempt}")
            rtt = spec.draw(rng)
            fault = self._faults.pick(call_number(newest) if newest is not None else entry.seq, rng)
        return rtt, fault

    def _end(self, entry: JournalEntry, status: int, error: str) -> None:
        # ended_at is when the provider gave up on the request; `error` keeps it from counting as served.
        with self._lock:
            entry.status = status
            entry.error = error
            entry.ended_at = time.monotonic()
        self._notify("end", entry)

    def _error(self, dialect: Dialect, entry: JournalEntry, status: int, message: str) -> web.Response:
        self._end(entry, status, message)
        return web.json_response(dialect.error(status, "invalid_request_error", message), status=status)

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """An exception in our own handler is our bug: answer 500 saying so, journal the traceback, and keep
        it for :meth:`check_handler_errors`, so it can never pass for the gateway's behaviour."""
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
            with self._lock:
                self._handler_errors.append(f"{message}\n{text}")
            entry, prepared = self._serving.get(id(request), (None, [False]))
            if entry is not None:
                self._end(entry, 500, message)
                with self._lock:
                    entry.traceback = text
            if prepared[0]:
                _abort(request)  # headers are out: the only honest signal left is a broken stream
                raise ConnectionResetError(message) from exc
            return web.json_response(
                {"error": {"message": message, "type": "replyrace_provider_error", "traceback": text}}, status=500
            )
        finally:
            self._serving.pop(id(request), None)

    def check_handler_errors(self) -> None:
        """Raise :class:`FakeProviderError` if a handler of ours failed since the last reset or check."""
        with self._lock:
            errors, self._handler_errors = self._handler_errors, []
        if errors:
            raise FakeProviderError("\n".join(errors))

    async def _handle_chat(self, dialect: Dialect, request: web.Request) -> web.StreamResponse:
        arrived_at = time.monotonic()
        entry = self._new_entry(dialect, request.path, arrived_at)
        self._serving[id(request)] = (entry, [False])  # the guard forgets it when the request is done
        return await self._chat(dialect, request, entry, arrived_at)

    async def _chat(
        self, dialect: Dialect, request: web.Request, entry: JournalEntry, arrived_at: float
    ) -> web.StreamResponse:
        try:
            body = await request.json(loads=json.loads)
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            return self._error(dialect, entry, 400, f"request body is not JSON: {exc}")
        try:
            parsed = dialect.parse(body)
        except BadRequest as exc:
            return self._error(dialect, entry, 400, str(exc))
        tokens = tokens_by_message(parsed.turn)
        with self._lock:
            spec = self._spec
            entry.history = tokens_by_message(parsed.history)
            entry.model = parsed.model
            entry.stream = parsed.stream
            entry.tools = list(parsed.tools)
            entry.answered = [self._issued_id(i) for i in parsed.results]
            renamed = [
                f"{given} = {known_id}" for given, known_id in zip(parsed.results, entry.answered) if given != known_id
            ]
            if renamed:
                entry.note = RENAMED_NOTE + ", ".join(dict.fromkeys(renamed))
            known = [self._issued[i] for i in entry.answered if i in self._issued]
            entry.step = 1 + max([parsed.rounds, *(k.step for k in known)])
            if not tokens and known:
                # A post-tool request may hold no user message (previous_response_id, or a gateway that sends the
                # tool result alone): the turn is the one the tool call was issued in.
                tokens = list(known[-1].tokens)
                if not entry.history:
                    entry.history = list(known[-1].history)
            entry.tokens = tokens
        rtt, fault = self._plan_for(entry)
        call = self._tool_call(spec, parsed, entry, fault)
        with self._lock:
            entry.rtt = rtt
            entry.fault = fault.kind if fault is not None else None
        text = spec.text(tokens, NO_TOKEN_REPLY)
        reply = _Reply(dialect, text, parsed.model or self.model_name, call, tuple(self._pieces(spec, text, call)))
        if parsed.stream and fault is None:
            count = len(reply.writes()[0])
            schedule = piece_schedule(count, rtt, spec.ttft, self._rtt_for(entry).jitter, self._piece_rng(entry))
            with self._lock:
                entry.schedule = schedule
        self._notify("request", entry)
        deadline = arrived_at + rtt
        try:
            if fault is not None:
                return await self._serve_fault(fault, request, entry, deadline, reply)
            if parsed.stream:
                return await self._stream(request, entry, deadline, reply)
            return await self._json(request, entry, deadline, reply)
        except (ConnectionResetError, asyncio.CancelledError):
            if fault is None:
                with self._lock:
                    if entry.error is None:
                        entry.status = 499
                        entry.error = "client went away before the reply was complete"
            raise

    def _tool_call(
        self, spec: ModelSpec, parsed: ChatRequest, entry: JournalEntry, fault: FaultRule | None
    ) -> ToolCall | None:
        """The tool call this request gets, or None for the text step; the id is issued unless a fault hides it."""
        with self._lock:
            if entry.step > spec.tool_calls:
                return None
            if not parsed.tools:
                entry.note = NO_TOOLS_NOTE
                return None
            newest = newest_token(entry.tokens)
            base = f"call_{newest if newest is not None else entry.seq}_{entry.step}"
            call_id, n = base, 1
            while call_id in self._issued:
                n += 1
                call_id = f"{base}_{n}"
            call = ToolCall(call_id, spec.tool or parsed.tools[0], spec.arguments)
            entry.kind = "tool"
            if fault is None:
                entry.issued = [call_id]
                self._issued[call_id] = _Issued(tuple(entry.tokens), tuple(entry.history), entry.step, entry.seq)
                key = stripped_id(call_id)
                if key != call_id:
                    self._stripped[key] = call_id if self._stripped.get(key, call_id) == call_id else None
            return call

    def _issued_id(self, call_id: str) -> str:
        """The issued id a tool result names: ``call_id`` itself, or the one issued id it is the stripped form of
        (a gateway that keeps only the letters and digits of the ids it replays); under the lock."""
        if call_id in self._issued:
            return call_id
        return self._stripped.get(call_id) or call_id

    def _rtt_for(self, entry: JournalEntry) -> RttSpec:
        with self._lock:
            newest = newest_token(entry.tokens)
            if newest is not None:
                for prefix, token_spec in self._token_rtts.items():
                    if newest.startswith(prefix):
                        return token_spec
            return self._rtt

    def _piece_rng(self, entry: JournalEntry) -> random.Random:
        """The piece jitter's own generator, keyed like the RTT's, so it never shifts the RTT or fault draws."""
        with self._lock:
            newest = newest_token(entry.tokens)
            key = newest if newest is not None else f"#{entry.seq}"
            attempt = sum(1 for e in self._journal if newest is not None and newest in e.tokens and e.seq < entry.seq)
            return random.Random(f"{self._seed}:{key}:{attempt}:pieces")

    def _pieces(self, spec: ModelSpec, text: str, call: ToolCall | None) -> list[str]:
        """The pieces a stream carries: the text's, or a tool call's arguments (in at least two where they can
        be split, so a client must join them)."""
        if call is not None:
            return self.split_text(call.arguments, max(2, spec.reply_pieces or self.chunks))
        return self.split_text(text, spec.reply_pieces or self.chunks)

    async def _serve_fault(
        self, rule: FaultRule, request: web.Request, entry: JournalEntry, deadline: float, reply: _Reply
    ) -> web.StreamResponse:
        """What each fault kind looks like on the wire of this dialect (see
        :data:`~pytest_replyrace.provider.faults.FAULT_KINDS` and "Provider APIs" in docs/04-provider.md)."""
        kind, dialect = rule.kind, reply.dialect
        if kind in STATUS_FAULTS:
            status = dialect.fault_status(kind)
            headers = {"Retry-After": f"{rule.retry_after:g}"} if status == 429 else {}
            self._end(entry, status, f"injected HTTP {status}")
            what = status if kind != "overloaded" else "overloaded"
            return web.json_response(
                dialect.error(status, dialect.fault_types[status], f"injected fault {what}"),
                status=status,
                headers=headers,
            )
        if kind == "reset":
            self._end(entry, 0, "injected connection reset before headers")
            _abort(request)
            raise ConnectionResetError("injected reset")
        if kind == "malformed":
            await _sleep_until(deadline)
            self._end(entry, 200, "injected malformed body")
            broken_json, broken_stream = dialect.malformed
            if entry.stream:
                response = await self._prepare(request, reply.stream_response())
                await response.write_eof(broken_stream)
                return response
            return web.Response(status=200, body=broken_json, content_type="application/json")
        if kind == "ttft":
            return await self._serve_late(request, entry, max(deadline, entry.arrived_at + rule.ttft), reply)
        return await self._serve_cut(rule, request, entry, deadline, reply)

    async def _serve_cut(
        self, rule: FaultRule, request: web.Request, entry: JournalEntry, deadline: float, reply: _Reply
    ) -> web.StreamResponse:
        """A stream that fails after ``after_chunks`` pieces: the API's own error event where it has one, else
        a reset. Non-streaming: a reset after the RTT."""
        if not entry.stream:
            await _sleep_until(deadline)
            self._end(entry, 0, "injected cut: connection reset after the RTT")
            _abort(request)
            raise ConnectionResetError("injected cut")
        response = await self._prepare(request, reply.stream_response())
        writes = reply.writes()[0]
        start = time.monotonic()
        for i, write in enumerate(writes[: rule.after_chunks]):
            await _sleep_until(start + (deadline - start) * (i + 1) / (len(writes) + 1))
            await response.write(write)
        stream_error = reply.dialect.stream_error
        if stream_error is not None:
            await _sleep_until(deadline)
            self._end(entry, 200, f"injected error event after {rule.after_chunks} chunk(s)")
            head = reply.dialect.stream_open(reply.model) if rule.after_chunks == 0 else b""
            await response.write_eof(head + stream_error("injected fault: the stream failed"))
            return response
        self._end(entry, 0, f"injected cut after {rule.after_chunks} chunk(s)")
        _abort(request)
        raise ConnectionResetError("injected cut")

    async def _prepare(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        await response.prepare(request)
        serving = self._serving.get(id(request))
        if serving is not None:
            serving[1][0] = True
        return response

    def _mark_served(self, entry: JournalEntry, status: int = 200) -> None:
        # Stamped just before the last write: the gateway cannot have the
        # whole reply earlier, so a correct gateway is never misread as fast.
        with self._lock:
            entry.status = status
            entry.ended_at = time.monotonic()
        self._notify("end", entry)

    async def _json(
        self, request: web.Request, entry: JournalEntry, deadline: float, reply: _Reply
    ) -> web.StreamResponse:
        payload = json.dumps(reply.body()).encode()
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = len(payload)
        await _sleep_until(deadline - self.timer_spin)
        await self._prepare(request, response)  # aiohttp holds the headers back until the body goes out
        await _sleep_until(deadline, self.timer_spin)
        self._mark_served(entry)
        await response.write_eof(payload)
        return response

    def split_text(self, text: str, pieces: int | None = None) -> list[str]:
        """``text`` in ``pieces`` (default ``chunks``) pieces of one size, at most one per character."""
        n = min(pieces or self.chunks, max(1, len(text)))
        size = -(-len(text) // n)
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]

    async def _serve_late(
        self, request: web.Request, entry: JournalEntry, first_at: float, reply: _Reply
    ) -> web.StreamResponse:
        """A slow first token: nothing until ``first_at``, then the whole answer at once."""
        if not entry.stream:
            return await self._json(request, entry, first_at, reply)
        return await self._stream(request, entry, first_at, reply, first_at=first_at)

    async def _stream(
        self,
        request: web.Request,
        entry: JournalEntry,
        deadline: float,
        reply: _Reply,
        *,
        first_at: float | None = None,
    ) -> web.StreamResponse:
        """Each write at its planned instant (the entry's ``schedule``; all at ``first_at`` when given), the last
        byte at the deadline: the request counts as served then."""
        response = reply.stream_response()
        writes, close = reply.writes()
        if first_at is not None:
            times = [first_at] * len(writes)
        else:
            with self._lock:
                schedule = list(entry.schedule)
            times = (
                [entry.arrived_at + t for t in schedule]
                if len(schedule) == len(writes)
                else [
                    entry.arrived_at + t
                    for t in piece_schedule(len(writes), deadline - entry.arrived_at, None, 0.0, random.Random(0))
                ]
            )
        await _sleep_until(times[0], self.timer_spin)
        await self._prepare(request, response)
        last = len(writes) - 1
        for i, write in enumerate(writes):
            if i:
                await _sleep_until(times[i], self.timer_spin)  # the timer alone overshoots by a millisecond
            if i == last and times[i] >= deadline:
                break  # the last piece goes out with the close, at the deadline
            self._stamp(entry)
            await response.write(write)
        else:
            write = b""
        await _sleep_until(deadline, self.timer_spin)
        self._mark_served(entry)
        if write:
            self._stamp(entry)
        await response.write_eof(write + close)
        return response

    def _stamp(self, entry: JournalEntry) -> None:
        """Journal the instant a piece goes out, next to its plan."""
        with self._lock:
            entry.written.append(time.monotonic() - entry.arrived_at)


@dataclass(frozen=True)
class _Reply:
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
