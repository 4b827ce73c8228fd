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

:class:`FakeProvider` is the public face; the work is done next door: the server's thread and loop
(:mod:`.site`), the journal (:mod:`.journal`), the turn plan (:mod:`.turns`), the handlers (:mod:`.responder`)
and the wire writing (:mod:`.wire`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..errors import InvalidArgument, NotStarted
from ..loopback import is_loopback_host
from ..records import JournalEntry
from .dialects import DIALECTS
from .faults import FaultPlan
from .journal import Journal
from .model import ModelSpec
from .responder import Responder
from .rtt import RttSpec
from .site import ServerThread
from .turns import (
    NO_TOKEN_REPLY,
    NO_TOOLS_NOTE,
    RENAMED_NOTE,
    SIDE_REPLY,
    UNPAIRED_NOTE,
    TurnPlanner,
    stripped_id,
    tokens_by_message,
    user_turn_text,
)
from .wire import Wire, split_text

__all__ = [
    "NO_TOKEN_REPLY",
    "NO_TOOLS_NOTE",
    "RENAMED_NOTE",
    "SIDE_REPLY",
    "UNPAIRED_NOTE",
    "FakeProvider",
    "ModelSpec",
    "RttSpec",
    "stripped_id",
    "tokens_by_message",
    "user_turn_text",
]


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
        self.chunks = chunks
        self.model_name = model
        """The model name of /v1/models and of replies to requests that name none."""
        self._journal = Journal()
        spec = model_spec if model_spec is not None else ModelSpec()
        self._planner = TurnPlanner(self._journal, RttSpec.of(rtt, jitter), seed, spec)
        wire = Wire(self._journal, lambda: self.timer_spin)
        self._responder = Responder(self._journal, self._planner, wire, lambda: (self.chunks, self.model_name))
        self._site = ServerThread(self._make_app, host, port)

    # -- lifecycle ---------------------------------------------------------

    def _make_app(self) -> web.Application:
        responder = self._responder
        app = web.Application(client_max_size=8 * 1024 * 1024, middlewares=[responder.guard])
        app.router.add_get("/v1/models", responder.handle_models)
        app.router.add_get("/api/tags", responder.handle_tags)
        for dialect in DIALECTS.values():
            app.router.add_post(dialect.path, functools.partial(responder.handle_chat, dialect))
        return app

    def start(self, timeout: float = 10.0) -> FakeProvider:
        self._journal.stopping = False
        self._site.start(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._journal.stopping = True  # requests cut short now were not closed by the gateway
        self._site.stop(timeout)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._site.running

    @property
    def port(self) -> int:
        port = self._site.port
        if port is None:
            raise NotStarted("fake provider is not running; call start() first")
        return port

    @property
    def base_url(self) -> str:
        """OpenAI base URL, ending in ``/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    # -- settings ----------------------------------------------------------

    @property
    def rtt(self) -> RttSpec:
        return self._planner.rtt

    @property
    def seed(self) -> int:
        return self._planner.seed

    def set_rtt(self, rtt: float | tuple[float, float] | RttSpec, jitter: float = 0.0) -> None:
        """RTT for requests from now on (tokens registered with their own RTT excepted)."""
        self._planner.set_rtt(RttSpec.of(rtt, jitter))

    def set_token_rtt(
        self, token_or_prefix: str, rtt: float | tuple[float, float] | RttSpec, jitter: float = 0.0
    ) -> None:
        """Serve requests whose first token starts with ``token_or_prefix`` at their own RTT.

        Lets concurrent sessions run at different RTTs on one provider.
        """
        self._planner.set_token_rtt(token_or_prefix, RttSpec.of(rtt, jitter))

    def faults(self, kind: str | FaultPlan | None = None, /, **kwargs: Any) -> FaultPlan:
        """Replace the fault plan: ``faults("500", rate=0.3)``, ``faults("reset", calls=[2])`` or a
        :class:`FaultPlan`; ``faults()`` clears it. Returns the plan."""
        new_plan = kind if isinstance(kind, FaultPlan) else FaultPlan.build(kind, **kwargs)
        self._planner.set_faults(new_plan)
        return new_plan

    @property
    def model_spec(self) -> ModelSpec:
        """The scripted model requests get from now on."""
        return self._planner.spec

    def model(self, spec: ModelSpec | None = None, /, **changes: Any) -> ModelSpec:
        """Change the scripted model for requests from now on: ``model(tool_calls=1, tool="clock",
        arguments='{}', ttft=0.2, reply_pieces=20, reply_words=50, strict_tools=False)`` changes those and keeps
        the rest, or ``model(ModelSpec(...))`` replaces it. ValueError names a bad value. Returns the new spec."""
        base = spec if spec is not None else self.model_spec
        new_spec = base.but(**changes)
        self._planner.set_spec(new_spec)
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
        self._journal.reset()
        self._planner.reset(spec, seed, model_spec)

    def split_text(self, text: str, pieces: int | None = None) -> list[str]:
        """``text`` in ``pieces`` (default ``chunks``) pieces of one size, at most one per character."""
        return split_text(text, pieces or self.chunks)

    # -- journal -----------------------------------------------------------

    def watch(self, callback: Callable[[str, JournalEntry], None]) -> Callable[[], None]:
        """Call ``callback(kind, entry)`` on the provider's thread as requests come and go: ``"request"`` once a
        request's tokens and RTT are known (its planned end is ``arrived_at + rtt``), ``"end"`` when it was
        served or ended by a fault, ``"closed"`` when the gateway closed it first (``closed_at``). The callback
        must be quick and thread-safe (``loop.call_soon_threadsafe``); returns the function that stops the watch."""
        return self._journal.watch(callback)

    @property
    def journal(self) -> list[JournalEntry]:
        """A snapshot of every request since the last reset, in arrival order."""
        return self._journal.snapshot()

    def entries_for(self, token: str) -> list[JournalEntry]:
        return [e for e in self.journal if token in e.tokens]

    def in_flight(self) -> int:
        """How many requests are still being served."""
        return self._journal.in_flight()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is in flight (bounded); True when idle."""
        return self._journal.wait_idle(timeout)

    async def await_idle(self, timeout: float = 5.0) -> bool:
        """:meth:`wait_idle` for async callers: never blocks their loop."""
        return await self._journal.await_idle(timeout)

    def check_handler_errors(self) -> None:
        """Raise :class:`~pytest_replyrace.errors.FakeProviderError` if a handler of ours failed since the last
        reset or check."""
        self._journal.check_handler_errors()
