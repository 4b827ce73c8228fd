"""The reply machinery: chat.send, dispatch, one turn, the follow-up queue.

Order of work in one turn, as in OpenClaw (protocol doc §1.2): ``chat.send``
acks ``{runId, status: "started"}`` and dispatches without awaiting. A busy
session queues the turn (bare ``final``); otherwise the turn takes the guard
(or gets the canned text if that throws), runs the model, sends ``final`` when
the provider stream closes, does its post-final cleanup and only then releases
the guard, and drains the follow-up queue the way its mode says.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .events import EventBus
from .modes import Mode
from .provider_client import RunTool, ToolCall, ask
from .registry import ReplyOperation, ReplyRunAlreadyActiveError, RunRegistry
from .stops import STOPPED_TEXT, StopFlaws, cancel_and_wait
from .turns import TurnEngine, TurnFlaws

__all__ = ["CANNED", "ToyGateway"]

CANNED = "⚠️ Previous run is still shutting down. Please try again in a moment."
MAX_DRAIN_ATTEMPTS = 200  # the drain is a retry loop: bound it
ADMISSION_TIMEOUT = 15.0


@dataclass
class FollowupItem:
    message: str
    origin_run_id: str


@dataclass
class FollowupQueue:
    items: list[FollowupItem] = field(default_factory=list)
    draining: bool = False
    last_enqueued_at: float = 0.0


def _wrap(message: str) -> str:
    # OpenClaw wraps the user's text; the provider must still find the token in it.
    stamp = time.strftime("%a %Y-%m-%d %H:%M UTC", time.gmtime())
    return f"[{stamp}] {message}"


CANNED_PROVIDER_ERROR = "Sorry, the assistant is busy right now. Please try again in a moment."


async def _work(ms: float, step_ms: float = 10.0) -> None:
    """Post-final work as many small awaited steps, not one timer: a stall of the
    process (GC, a slow host, SIGSTOP) stretches it, as it does in a real gateway."""
    remaining = ms
    while remaining > 0:
        step = min(step_ms, remaining)
        await asyncio.sleep(step / 1000)
        remaining -= step


class ToyGateway:
    def __init__(
        self,
        mode: Mode,
        provider_url: str,
        model: str = "fake-model",
        log: Callable[[str], None] = print,
        on_provider_error: str = "report",
        provider_api: str = "openai-completions",
        tool_ms: float = 0.0,
    ) -> None:
        self.mode = mode
        self.tool_ms = tool_ms
        self.provider_api = provider_api
        self.on_provider_error = on_provider_error
        self.provider_url = provider_url.rstrip("/")
        self.model = model
        self.log = log
        self.events = EventBus()
        self.registry = RunRegistry()
        self.queues: dict[str, FollowupQueue] = {}
        self.live_models: set[str] = set()
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.dispatch_done: dict[str, asyncio.Event] = {}
        self.dispatch_ended_at: dict[str, float] = {}
        self.idempotency: dict[str, str] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.dispatch_tasks: dict[str, asyncio.Task[Any]] = {}
        self.stopping: set[str] = set()
        self.http: aiohttp.ClientSession | None = None
        self.engine: TurnEngine | None = None
        if mode.busy is not None:
            flaws = TurnFlaws(
                mode.idle_after_final,
                mode.store_after_final,
                mode.takeover,
                mode.tool_handoff,
                StopFlaws(
                    mode.stop_ignored,
                    mode.stop_wedge,
                    mode.stop_leaks_pending,
                    mode.stop_orphan_tool,
                    mode.disconnect_drops,
                ),
            )
            self.engine = TurnEngine(
                self.events, self._ask_turn, mode.busy, flaws, mode.overhead, log, self._spawn, self.clock
            )

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(trust_env=False, timeout=aiohttp.ClientTimeout(total=600))

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=2)
        if self.http is not None:
            await self.http.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def busy(self, key: str) -> bool:
        """A model run is live, or an operation is registered (also during teardown)."""
        return key in self.live_models or self.registry.is_active(key)

    # -- chat.send ---------------------------------------------------------

    def chat_send(self, key: str, message: str, idempotency_key: str) -> dict[str, Any]:
        """Validate, dedupe, ack, dispatch without awaiting."""
        known = self.idempotency.get(idempotency_key)
        if known is not None:
            done = self.dispatch_done.get(known)
            return {"runId": known, "status": "ok" if done is not None and done.is_set() else "in_flight"}
        run_id = idempotency_key
        self.idempotency[idempotency_key] = run_id
        self.dispatch_done[run_id] = asyncio.Event()
        self.events.terminal_of(run_id)  # the HTTP contract may wait on it
        self.history.setdefault(key, []).append({"role": "user", "content": message, "runId": run_id})
        if self.engine is not None:
            self.engine.send(key, message, run_id)
            self.dispatch_done[run_id] = self.engine.done[run_id]
        else:
            task = self.dispatch_tasks[run_id] = self._spawn(self._dispatch(key, message, run_id))
            task.add_done_callback(lambda _: self.dispatch_tasks.pop(run_id, None))
        return {"runId": run_id, "status": "started"}

    # -- chat.abort and clients that go away ----------------------------------

    async def chat_abort(self, key: str, run_id: str) -> bool:
        """Stop ``run_id``'s turn: True if one was running or waiting. The turn's task is cancelled, which
        closes its model call; the answer comes once it has unwound."""
        if self.engine is not None:
            return await self.engine.stop(key, run_id)
        task = self.dispatch_tasks.get(run_id)
        if task is None or self.events.terminal_of(run_id).done():
            return False  # over, or its final is out (post-final work is not the turn's any more)
        self.stopping.add(run_id)
        self.log(f"[agent] {key}: stopping {run_id}")
        return await cancel_and_wait(task)

    async def client_gone(self, key: str, run_id: str) -> None:
        """The client waiting for ``run_id``'s answer went away: the turn runs on and is stored (a disconnect
        is not a stop), unless the mode plants the bug that drops it."""
        if self.engine is None or self.events.terminal_of(run_id).done():
            return
        await self.engine.client_gone(key, run_id)
        if run_id in self.engine.stored_drops:
            self.history[key] = [m for m in self.history.get(key, []) if m.get("runId") != run_id]

    async def _dispatch(self, key: str, message: str, run_id: str) -> None:
        try:
            await self._dispatch_inner(key, message, run_id)
        except asyncio.CancelledError:
            if run_id not in self.stopping:
                raise  # the gateway is shutting down
            self.events.lifecycle(run_id, key, "end")
            self.events.chat(run_id, key, "aborted", error=STOPPED_TEXT)
        finally:
            self.dispatch_ended_at[run_id] = time.time()
            self.dispatch_done[run_id].set()

    async def _dispatch_inner(self, key: str, message: str, run_id: str) -> None:
        if self.mode.admission_waits:
            # 5.28+: wait for the active run instead of queueing or throwing.
            await self.registry.wait_for_idle(key, ADMISSION_TIMEOUT)
        elif self.busy(key):
            await self._enqueue(key, FollowupItem(message, run_id))
            await asyncio.sleep(self.mode.queue_ack / 1000)
            self.events.chat(run_id, key, "final")  # bare final: the turn was queued
            return
        try:
            op = self.registry.create(key, run_id)
        except ReplyRunAlreadyActiveError as exc:
            self.log(f"[agent-runner] reply run for {key} failed: ReplyRunAlreadyActiveError: {exc}")
            self.events.chat(run_id, key, "final", text=CANNED)
            return
        await self._run_turn(key, message, run_id, op)

    async def _enqueue(self, key: str, item: FollowupItem) -> None:
        queue = self.queues.setdefault(key, FollowupQueue())
        queue.last_enqueued_at = time.monotonic()
        queue.items.append(item)
        self.log(f"[queue] queued a follow-up for {key} ({len(queue.items)} waiting)")
        # chat.send passes restartIfIdle=false: drain now only if no longer busy.
        if self.mode.kick_on_enqueue and not self.busy(key):
            self._spawn(self._drain(key))

    # -- one turn ----------------------------------------------------------

    async def _run_turn(self, key: str, message: str, run_id: str, op: ReplyOperation) -> None:
        # Pre-model work (context, workspace) runs with the guard already taken.
        await asyncio.sleep(self.mode.overhead / 1000)
        self.events.lifecycle(run_id, key, "start")
        background_until = time.monotonic()
        self.live_models.add(key)
        text: str | None = None
        error: str | None = None
        try:
            background_until = time.monotonic() + self.mode.background / 1000
            text = await self._ask_provider(key, message, run_id)
        except asyncio.CancelledError:
            op.complete()  # stopped (or shutting down): the model call is closed, the guard released
            raise
        except Exception as exc:
            error = f"model run failed: {type(exc).__name__}: {exc}"
            self.log(f"model run failed for {key}: {type(exc).__name__}: {exc}")
            if self.on_provider_error == "canned":
                # The dishonest gateway: hide the failure behind friendly text.
                text, error = CANNED_PROVIDER_ERROR, None
        finally:
            self.live_models.discard(key)
        if self.mode.release_before_final:
            op.complete()
        self.events.lifecycle(run_id, key, "end" if error is None else "error")
        if error is not None:
            self.events.chat(run_id, key, "error", error=error)
        else:
            assert text is not None
            self.history[key].append({"role": "assistant", "content": text, "runId": run_id})
            self.events.chat(run_id, key, "final", text=text)
        if not self.mode.kick_on_enqueue:
            # Dormant drain: the run's own drain looks now, before the terminal window,
            # so a send that lands in that window is enqueued with nobody to drain it.
            self._schedule_drain(key)
        # Post-final work: the client already has the final; the guard is still held.
        await _work(self.mode.cleanup)
        remaining = background_until - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)
        if self.mode.drain_before_release:
            self._schedule_drain(key)  # <= 5.3: scheduled while the guard is held
            op.complete()
        else:
            op.complete()  # 5.4+: completeThen(drain)
            if self.mode.kick_on_enqueue:
                self._schedule_drain(key)

    def _schedule_drain(self, key: str) -> None:
        queue = self.queues.get(key)
        if queue is not None and queue.items and not queue.draining:
            self._spawn(self._drain(key))

    async def clock(self, call: ToolCall) -> str:
        """The one tool: the time, after ``--tool-ms``."""
        self.log(f"[tool] {call.name} {call.id}")
        await asyncio.sleep(self.tool_ms / 1000)
        return f"the time is {time.strftime('%H:%M:%S', time.gmtime())} UTC"

    async def _run_clock(self, call: ToolCall) -> tuple[ToolCall, str]:
        return call, await self.clock(call)

    async def _ask_turn(
        self, key: str, run_id: str, message: str, history: list[tuple[str, str]], run_tool: RunTool
    ) -> str:
        """The turn engine's model call: the stored turns, then this message, streamed as deltas."""
        assert self.http is not None
        return await ask(
            self.http,
            self.provider_api,
            self.provider_url,
            self.model,
            "You are a toy gateway's agent.",
            _wrap(message),
            lambda text: self.events.chat(run_id, key, "delta", text=text),
            [(_wrap(user), answer) for user, answer in history],
            run_tool,
        )

    async def _ask_provider(self, key: str, message: str, run_id: str) -> str:
        """One model call with no stored turns, the clock tool on hand."""
        return await self._ask_turn(key, run_id, message, [], self._run_clock)

    # -- the follow-up drain -------------------------------------------------

    async def _drain(self, key: str) -> None:
        queue = self.queues.setdefault(key, FollowupQueue())
        if queue.draining:
            return
        queue.draining = True
        try:
            for _ in range(MAX_DRAIN_ATTEMPTS):
                if not queue.items:
                    return
                wait = queue.last_enqueued_at + self.mode.debounce / 1000 - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue  # an enqueue during the sleep moves the deadline
                item = queue.items[0]
                run_id = str(uuid.uuid4())  # a follow-up runs under a NEW run id
                try:
                    op = self.registry.create(key, run_id)
                except ReplyRunAlreadyActiveError as exc:
                    self.log(f"followup queue drain failed for {key}: ReplyRunAlreadyActiveError: {exc}")
                    queue.last_enqueued_at = time.monotonic()
                    continue
                queue.items.pop(0)
                self.dispatch_done[run_id] = asyncio.Event()
                try:
                    # `draining` stays set, so this turn's own release starts no second drain.
                    await self._run_turn(key, item.message, run_id, op)
                finally:
                    self.dispatch_done[run_id].set()
        finally:
            queue.draining = False

    # -- reads ---------------------------------------------------------------

    async def agent_wait(self, run_id: str, timeout: float) -> dict[str, Any]:
        done = self.dispatch_done.get(run_id)
        if done is None:
            return {"runId": run_id, "status": "timeout"}
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except asyncio.TimeoutError:
            return {"runId": run_id, "status": "timeout"}
        return {"runId": run_id, "status": "ok", "endedAt": int(self.dispatch_ended_at.get(run_id, time.time()) * 1000)}

    def chat_history(self, key: str, limit: int = 200) -> dict[str, Any]:
        messages = [
            {"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in self.history.get(key, [])
        ][-limit:]
        return {"sessionKey": key, "sessionId": key, "messages": messages}
