"""The turn engine: one turn per message, a busy policy for a message that arrives while a turn runs.

Used when the toy is started with ``--busy`` or in a mode that plants a busy-session bug. A turn is
*running* from its dispatch until its final is sent; what a message arriving then gets is the policy:

- ``queue``: it waits until the running turn is idle, then runs as its own turn;
- ``reject``: it is refused at once (``session busy``; HTTP 409 on the HTTP contract);
- ``steer``: it is folded into the running turn: it gets a bare ``final`` at once, and the running turn asks
  the model again with it after its own answer, and its final is the continuation's answer;
- ``interrupt``: the running turn is aborted, and the new message runs.

Each turn sends the model the session's stored turns before its own message. A correct turn stores itself and
goes idle *before* its final reaches the client. The planted bugs break exactly that:

- ``idle_after_final``: the turn goes idle some ms after its final (a message sent on the final is refused);
- ``store_after_final``: the turn is stored some ms after its final (a message sent on the final is answered
  without it: the stale-history race);
- ``takeover``: a message that arrives during a model call makes the running turn fail, and is itself dropped;
- ``tool_handoff``: a turn gives the session up while its tool runs and keeps the pending tool call in one slot
  per session, so a message that arrives then takes the slot and the first turn answers the newcomer's call.

A client may stop a turn (``stop``: ``POST /chat.abort``, ``chat.abort``) or go away before its answer
(``client_gone``); what a correct gateway does then, and the five planted stop bugs, are in ``stops.py``.

Two commands change a session's state, as users do with ordinary messages: ``/new`` forgets its stored turns,
``/busy POLICY`` sets its busy policy. Each is answered at once, without the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .events import EventBus
from .provider_client import RunTool, ToolCall, Turn
from .stops import LOCK_TEXT, STOPPED_TEXT, StopFlaws, cancel_and_wait, locked_out

__all__ = ["BUSY_POLICIES", "BUSY_TEXT", "TurnEngine", "TurnFlaws"]

BUSY_POLICIES = ("queue", "reject", "steer", "interrupt")
BUSY_TEXT = "session busy: a turn is already running"
TAKEOVER_TEXT = "session file changed while embedded prompt lock was released"
QUEUE_TIMEOUT = 30.0

Ask = Callable[[str, str, str, list[Turn], RunTool], Awaitable[str]]
"""(session key, run id, user text, stored turns, how to run a tool call) -> the model's text."""
Tool = Callable[[ToolCall], Awaitable[str]]


@dataclass(frozen=True)
class TurnFlaws:
    """The planted bugs, all off in a correct gateway (milliseconds)."""

    idle_after_final: float = 0.0
    store_after_final: float = 0.0
    takeover: bool = False
    tool_handoff: bool = False
    stops: StopFlaws = field(default_factory=StopFlaws)


@dataclass
class _Turn:
    run_id: str
    message: str
    steered: list[str] = field(default_factory=list)
    in_model: bool = False
    task: asyncio.Task[None] | None = None
    taken_over: bool = False
    stopped: bool = False
    tool_call: ToolCall | None = None
    """The model's tool call while its tool runs (a stop then interrupts the tool step)."""


class TurnEngine:
    def __init__(
        self,
        events: EventBus,
        ask: Ask,
        policy: str,
        flaws: TurnFlaws,
        overhead_ms: float,
        log: Callable[[str], None],
        spawn: Callable[..., asyncio.Task[None]],
        tool: Tool,
    ) -> None:
        if policy not in BUSY_POLICIES:
            raise ValueError(f"busy policy {policy!r}: expected one of {', '.join(BUSY_POLICIES)}")
        self.events, self.ask, self.policy, self.flaws = events, ask, policy, flaws
        self.overhead = overhead_ms / 1000
        self.log, self.spawn, self.tool = log, spawn, tool
        self.pending: dict[str, ToolCall] = {}
        """Per session: the tool call waiting for its result (the tool_handoff flaw reads it back from here)."""
        self.running: dict[str, _Turn] = {}
        self.idle: dict[str, asyncio.Event] = {}
        self.stored: dict[str, list[Turn]] = {}
        self.done: dict[str, asyncio.Event] = {}
        """Per run id: set when the turn is wholly over (stored, idle): what agent.wait waits for."""
        self.policies: dict[str, str] = {}
        """Per session: a policy set by ``/busy``."""
        self.turns: dict[str, tuple[str, _Turn]] = {}
        """Per run id: the session and the turn, from its dispatch until it is over (what a stop looks up)."""
        self.wedged: dict[str, float] = {}
        """Per session: until when a stopped turn's write lock is left behind (the stop_wedge flaw)."""
        self.stored_drops: set[str] = set()
        """Run ids dropped when their client went away (the disconnect_drops flaw)."""

    def _command(self, key: str, message: str, run_id: str) -> bool:
        """``/new`` and ``/busy POLICY``: answered at once; True if ``message`` was one."""
        words = message.split()
        if words == ["/new"]:
            self.stored.pop(key, None)
            self.events.chat(run_id, key, "final", text="New session started.")
        elif len(words) == 2 and words[0] == "/busy" and words[1] in BUSY_POLICIES:
            self.policies[key] = words[1]
            self.events.chat(run_id, key, "final", text=f"Busy policy: {words[1]}.")
        else:
            return False
        self.done[run_id].set()
        return True

    def _idle_event(self, key: str) -> asyncio.Event:
        event = self.idle.get(key)
        if event is None:
            event = self.idle[key] = asyncio.Event()
            event.set()
        return event

    def send(self, key: str, message: str, run_id: str) -> None:
        """A message arrived: apply the policy (the caller has acked it already)."""
        self.done[run_id] = asyncio.Event()
        if self._command(key, message, run_id):
            return
        running = self.running.get(key)
        policy = self.policies.get(key, self.policy)
        if running is None:
            self._start(key, _Turn(run_id, message))
        elif self.flaws.takeover and running.in_model:
            # The planted takeover: the newcomer grabs the session file, the running turn fails, and the
            # newcomer is dropped (a bare final; nothing runs it).
            running.taken_over = True
            if running.task is not None:
                running.task.cancel()
            self.log(f"[agent] {key}: {TAKEOVER_TEXT}")
            self.events.chat(run_id, key, "final")
            self.done[run_id].set()
        elif policy == "reject":
            self.log(f"[agent] {key}: refused a message while a turn runs")
            self.events.chat(run_id, key, "error", error=BUSY_TEXT)
            self.done[run_id].set()
        elif policy == "steer":
            running.steered.append(message)
            self.events.chat(run_id, key, "final")  # folded into the running turn: no reply of its own
            self.done[run_id].set()
        elif policy == "interrupt":
            if running.task is not None:
                running.task.cancel()
            self._start(key, _Turn(run_id, message), after=running)
        else:
            self._start(key, _Turn(run_id, message), after=running)

    def _start(self, key: str, turn: _Turn, after: _Turn | None = None) -> None:
        turn.task = self.spawn(self._run(key, turn, after))

    async def _run(self, key: str, turn: _Turn, after: _Turn | None) -> None:
        idle = self._idle_event(key)
        done = self.done[turn.run_id]
        self.turns[turn.run_id] = (key, turn)
        try:
            if after is not None:
                # queue: wait for the running turn; interrupt: for the aborted one to unwind.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(idle.wait(), QUEUE_TIMEOUT)
            if await locked_out(self.wedged, key):
                self.log(f"[agent] {key}: {LOCK_TEXT}")
                self.events.chat(turn.run_id, key, "error", error=LOCK_TEXT)
                done.set()
                return
            await self._take(key, turn, idle)
            await self._turn(key, turn, idle, done)
        except asyncio.CancelledError:
            self._unwound(key, turn, idle)
            done.set()
        finally:
            self.turns.pop(turn.run_id, None)

    def _run_tool(self, key: str, turn: _Turn, idle: asyncio.Event) -> RunTool:
        async def run_tool(call: ToolCall) -> tuple[ToolCall, str]:
            turn.in_model = False
            turn.tool_call = call  # kept if the step is cancelled: what a stop interrupted
            try:
                if not self.flaws.tool_handoff:
                    result = await self.tool(call)  # the guard stays held: a newcomer waits
                    turn.tool_call = None
                    return call, result
                # The planted handoff: the session is given up while the tool runs, and the pending call is
                # kept per session, so a message that arrives now replaces it before this turn reads it back.
                self.pending[key] = call
                self._release(key, turn, idle)
                result = await self.tool(call)
                await self._take(key, turn, idle)
                turn.tool_call = None
                return self.pending[key], result
            finally:
                turn.in_model = True

        return run_tool

    async def _turn(self, key: str, turn: _Turn, idle: asyncio.Event, done: asyncio.Event) -> None:
        run_tool = self._run_tool(key, turn, idle)
        try:
            await asyncio.sleep(self.overhead)
            history = list(self.stored.get(key, []))
            turn.in_model = True
            try:
                text = await self.ask(key, turn.run_id, turn.message, history, run_tool)
                turns: list[Turn] = [(turn.message, text)]
                answers = []
                while turn.steered:  # steer: ask again with each message folded in (bounded by the senders)
                    folded = turn.steered.pop(0)
                    answers.append(await self.ask(key, turn.run_id, folded, history + turns, run_tool))
                    turns.append((folded, answers[-1]))
                if answers:
                    text = "\n".join(answers)  # the final answers what was folded in, as a model answers the latest
            finally:
                turn.in_model = False
        except Exception as exc:
            self._release(key, turn, idle)
            self.events.chat(turn.run_id, key, "error", error=f"model run failed: {type(exc).__name__}: {exc}")
            done.set()
            return
        if self.flaws.store_after_final == 0:
            self.stored.setdefault(key, []).extend(turns)  # stored before the final: the correct order
        if self.flaws.idle_after_final == 0:
            self._release(key, turn, idle)
        self.events.chat(turn.run_id, key, "final", text=text)
        if self.flaws.store_after_final:
            # The planted stale history: the turn is stored only after the client has its final (and goes
            # idle there, so the next message runs without it).
            self._release(key, turn, idle)
            await asyncio.sleep(self.flaws.store_after_final / 1000)
            self.stored.setdefault(key, []).extend(turns)
        if self.flaws.idle_after_final:
            # The planted late idle: still "busy" for a while after the final.
            await asyncio.sleep(self.flaws.idle_after_final / 1000)
            self._release(key, turn, idle)
        done.set()

    def _unwound(self, key: str, turn: _Turn, idle: asyncio.Event) -> None:
        """A turn's task was cancelled: by a stop, a client going away, a takeover or an interrupt."""
        stops = self.flaws.stops
        if turn.stopped and stops.orphan_tool and turn.tool_call is not None:
            # The planted orphan: the model's tool call is stored, its result never is.
            self.stored.setdefault(key, []).append((turn.message, turn.tool_call))
            self.log(f"[agent] {key}: stopped during tool call {turn.tool_call.id}; stored the call")
        if turn.stopped and stops.wedge and self.running.get(key) is turn:
            # The planted wedge: the session's write lock stays behind the stopped turn.
            self.wedged[key] = time.monotonic() + stops.wedge / 1000
            self.log(f"[agent] {key}: stopped run {turn.run_id} left the session write lock held")
        self._release(key, turn, idle)
        if turn.stopped:
            self.events.chat(turn.run_id, key, "aborted", error=STOPPED_TEXT)
        elif turn.taken_over:
            self.events.chat(turn.run_id, key, "error", error=TAKEOVER_TEXT)
        else:
            self.events.chat(turn.run_id, key, "aborted", error="run interrupted by a newer message")

    async def stop(self, key: str, run_id: str) -> bool:
        """A client's stop for ``run_id`` on ``key``: True if a turn was stopped (or said to be)."""
        found = self.turns.get(run_id)
        if found is None or found[0] != key:
            return False  # nothing of that run is running or waiting
        turn, stops = found[1], self.flaws.stops
        if stops.ignored:
            self.log(f"[agent] {key}: stop of {run_id} acknowledged")  # the planted bug: nothing is cancelled
            return True
        if stops.leaks_pending and self.running.get(key) is not turn:
            # The planted leak: the waiting message is answered aborted, and stays queued.
            self.events.chat(run_id, key, "aborted", error=STOPPED_TEXT)
            return True
        turn.stopped = True
        self.log(f"[agent] {key}: stopping {run_id}")
        return await cancel_and_wait(turn.task)

    async def client_gone(self, key: str, run_id: str) -> None:
        """The client that sent ``run_id`` went away before its answer: the turn runs on, unless planted."""
        found = self.turns.get(run_id)
        if not self.flaws.stops.disconnect_drops or found is None:
            return
        found[1].stopped = True
        self.stored_drops.add(run_id)
        self.log(f"[agent] {key}: client of {run_id} went away; cancelled and dropped it")
        await cancel_and_wait(found[1].task)

    async def _take(self, key: str, turn: _Turn, idle: asyncio.Event) -> None:
        """Hold the session for ``turn`` (after waiting, bounded, for whoever holds it)."""
        while self.running.get(key) is not None:  # another waiter got in first: wait again (bounded)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(idle.wait(), QUEUE_TIMEOUT)
            if not idle.is_set():
                break
        self.running[key] = turn
        idle.clear()

    def _release(self, key: str, turn: _Turn, idle: asyncio.Event) -> None:
        if self.running.get(key) is turn:
            del self.running[key]
            idle.set()
