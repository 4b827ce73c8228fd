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

Two commands change a session's state, as users do with ordinary messages: ``/new`` forgets its stored turns,
``/busy POLICY`` sets its busy policy. Each is answered at once, without the model.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .events import EventBus
from .provider_client import RunTool, ToolCall, Turn

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


@dataclass
class _Turn:
    run_id: str
    message: str
    steered: list[str] = field(default_factory=list)
    in_model: bool = False
    task: asyncio.Task[None] | None = None
    taken_over: bool = False


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
        if after is not None:
            # queue: wait for the running turn; interrupt: for the aborted one to unwind.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(idle.wait(), QUEUE_TIMEOUT)
        await self._take(key, turn, idle)
        done = self.done[turn.run_id]

        async def run_tool(call: ToolCall) -> tuple[ToolCall, str]:
            turn.in_model = False
            try:
                if not self.flaws.tool_handoff:
                    return call, await self.tool(call)  # the guard stays held: a newcomer waits
                # The planted handoff: the session is given up while the tool runs, and the pending call is
                # kept per session, so a message that arrives now replaces it before this turn reads it back.
                self.pending[key] = call
                self._release(key, turn, idle)
                result = await self.tool(call)
                await self._take(key, turn, idle)
                return self.pending[key], result
            finally:
                turn.in_model = True

        try:
            await asyncio.sleep(self.overhead)
            history = list(self.stored.get(key, []))
            turn.in_model = True
            try:
                text = await self.ask(key, turn.run_id, turn.message, history, run_tool)
                turns = [(turn.message, text)]
                answers = []
                while turn.steered:  # steer: ask again with each message folded in (bounded by the senders)
                    folded = turn.steered.pop(0)
                    answers.append(await self.ask(key, turn.run_id, folded, history + turns, run_tool))
                    turns.append((folded, answers[-1]))
                if answers:
                    text = "\n".join(answers)  # the final answers what was folded in, as a model answers the latest
            finally:
                turn.in_model = False
        except asyncio.CancelledError:
            reason = TAKEOVER_TEXT if turn.taken_over else "run interrupted by a newer message"
            self._release(key, turn, idle)
            self.events.chat(turn.run_id, key, "aborted" if not turn.taken_over else "error", error=reason)
            done.set()
            return
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
