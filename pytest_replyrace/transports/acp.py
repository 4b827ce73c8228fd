"""``--replyrace-transport acp``: an agent that speaks the Agent Client Protocol (JSON-RPC 2.0 over its stdin and
stdout), through the bridge process that holds its pipes (:mod:`.acp_bridge`, launched as the gateway).

Per run ``session/new`` (its cwd: the gateway's state dir); per call ``session/prompt`` with the message. The
``agent_message_chunk`` updates of the session are the text of its earliest prompt still unanswered (a message
the agent queued is answered later, as another prompt's text, or as late text when no prompt is open); the
prompt's answer is the call's end, and
``stopReason: "end_turn"`` completes its text. The agent's own requests are answered: a permission by the
``permissions`` setting (``allow`` or ``deny``), file and terminal requests "not supported". A stop is
``session/cancel``, answered by the prompt's ``stopReason: "cancelled"``. Bad JSON-RPC from the agent (a line that
is not JSON, an answer to no request, a second answer to one request) fails the calls in flight, quoting it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ..errors import InvalidArgument
from ..tokens import find_tokens
from .base import CallEvents, StopAnswer, TransportError, TransportReply, describe_exception, excerpt

__all__ = ["PERMISSIONS", "AcpTransport"]

PERMISSIONS = ("deny", "allow")


@dataclass
class _Prompt:
    key: str
    session_id: str
    events: CallEvents
    text: str = ""
    stop_reason: str | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    answered_at: float | None = None


@dataclass
class AcpTransport:
    """Speaks ACP to the agent behind the bridge at ``base_url``."""

    base_url: str
    permissions: str = "deny"
    stop_wait: float = 10.0
    """How long a stop waits for the prompt's answer to ``session/cancel``."""
    name: str = "acp"

    reports_events = True
    supports_stop = True

    def __post_init__(self) -> None:
        if self.permissions not in PERMISSIONS:
            raise InvalidArgument(f"acp permissions {self.permissions!r}: expected allow or deny")
        self._http: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._answered: set[int] = set()
        self._sessions: dict[str, str] = {}
        self._session_lock = asyncio.Lock()
        self._open: list[_Prompt] = []
        self._prompts: dict[str, _Prompt] = {}
        self._late: dict[str, list[str]] = {}
        self._stray: dict[str, str] = {}
        self._broken: str | None = None
        self._cwd = "."
        self.agent_requests: list[str] = []
        """Each request the agent made and how it was answered, in order."""

    # -- the connection ----------------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._socket is not None:
            return
        self._http = aiohttp.ClientSession(trust_env=False, timeout=aiohttp.ClientTimeout(total=None))
        base = self.base_url.rstrip("/")
        try:
            async with self._http.get(base + "/readyz") as response:
                self._cwd = str((await response.json()).get("cwd") or ".")
            self._socket = await self._http.ws_connect(base + "/acp", max_msg_size=0)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise TransportError(f"acp: the bridge at {base} could not be reached: {exc}") from exc
        self._reader = asyncio.ensure_future(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._socket is not None:
            await self._socket.close()
        if self._http is not None:
            await self._http.close()
        self._socket = self._http = self._reader = None

    def late_replies(self) -> dict[str, list[str]]:
        return {token: list(texts) for token, texts in self._late.items()}

    async def _write(self, message: dict[str, Any]) -> None:
        if self._socket is None:
            raise TransportError("acp: not connected to the agent")
        await self._socket.send_str(json.dumps({"jsonrpc": "2.0", **message}))

    async def _request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = next(self._ids)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        await self._write({"id": request_id, "method": method, "params": params})
        return await answer

    # -- what the agent sends --------------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            await self._read_frames()
        except Exception as exc:  # a broken connection fails the calls in flight, saying what broke
            self._fail(f"reading the agent's messages failed: {describe_exception(exc)}")

    async def _read_frames(self) -> None:
        assert self._socket is not None
        async for frame in self._socket:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            try:
                message = json.loads(frame.data)
            except ValueError:
                self._fail(f"the agent wrote a line that is not JSON: {excerpt(frame.data)}")
                continue
            if not isinstance(message, dict):
                self._fail(f"the agent wrote JSON that is not a JSON-RPC message: {excerpt(frame.data)}")
            elif "method" in message and "id" in message:
                await self._answer_agent(message)
            elif "method" in message:
                self._notified(message)
            else:
                self._answer(message, frame.data)
        self._fail("the agent's connection closed (the agent exited, or the bridge stopped)")

    def _fail(self, problem: str) -> None:
        """Bad JSON-RPC: every call in flight fails quoting it (or the next call, when none is)."""
        self._broken = problem
        error = TransportError(f"acp: {problem}")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)

    def _answer(self, message: dict[str, Any], raw: str) -> None:
        request_id = message.get("id")
        future = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        if future is None:
            again = isinstance(request_id, int) and request_id in self._answered
            what = "a second answer to one request" if again else "an answer to no request"
            self._fail(f"the agent wrote {what}: {excerpt(raw)}")
            return
        self._answered.add(request_id)  # type: ignore[arg-type]
        if not future.done():
            future.set_result(message)

    def _notified(self, message: dict[str, Any]) -> None:
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        if message.get("method") != "session/update" or not isinstance(params, dict):
            return
        update = params.get("update") if isinstance(params.get("update"), dict) else {}
        prompt = next((p for p in self._open if p.session_id == params.get("sessionId")), None)
        if prompt is not None:
            prompt.events.first()
        if not isinstance(update, dict) or update.get("sessionUpdate") != "agent_message_chunk":
            return
        content = update.get("content")
        text = content.get("text") if isinstance(content, dict) else None
        if not isinstance(text, str):
            return
        if prompt is not None:
            prompt.text += text
            return
        # Text while no prompt of the session is open (a queued message's turn, text after its prompt's answer):
        # gathered per session, since a token may be split across chunks, and kept as late text by its tokens.
        session_id = str(params.get("sessionId"))
        stray = self._stray[session_id] = self._stray.get(session_id, "") + text
        for token in find_tokens(stray) or ["(no token)"]:
            self._late[token] = [f"[while no prompt was open] {stray}"]

    def _asked(self, params: Any, text: str) -> None:
        """Keep what the agent asked, and show it on the call whose prompt is open on that session."""
        self.agent_requests.append(text)
        session_id = params.get("sessionId") if isinstance(params, dict) else None
        prompt = next((p for p in self._open if p.session_id == session_id), None)
        if prompt is not None:
            prompt.events.gateway_request(text)

    async def _answer_agent(self, message: dict[str, Any]) -> None:
        method, request_id = str(message.get("method")), message.get("id")
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        if method == "session/request_permission" and isinstance(params, dict):
            outcome = self._permission(params.get("options"))
            self._asked(params, f"{method}: {json.dumps(outcome)}")
            await self._write({"id": request_id, "result": {"outcome": outcome}})
            return
        self._asked(params, f"{method}: not supported")
        error = {"code": -32601, "message": f"{method} is not supported by this client (pytest-replyrace)"}
        await self._write({"id": request_id, "error": error})

    def _permission(self, options: Any) -> dict[str, Any]:
        wanted = ("allow_once", "allow_always") if self.permissions == "allow" else ("reject_once", "reject_always")
        for kind in wanted:
            for option in options if isinstance(options, list) else []:
                if isinstance(option, dict) and option.get("kind") == kind:
                    return {"outcome": "selected", "optionId": option.get("optionId")}
        return {"outcome": "cancelled"}

    # -- sessions and prompts ------------------------------------------------------------------------------------

    async def _session(self, session_key: str) -> str:
        async with self._session_lock:
            if session_key not in self._sessions:
                answer = await self._request("session/new", {"cwd": self._cwd, "mcpServers": []})
                session_id = (answer.get("result") or {}).get("sessionId")
                if not isinstance(session_id, str):
                    raise TransportError(f"acp: session/new answered no sessionId: {excerpt(json.dumps(answer))}")
                self._sessions[session_key] = session_id
            return self._sessions[session_key]

    async def send(
        self, session_key: str, message: str, idempotency_key: str, events: CallEvents | None = None
    ) -> TransportReply:
        events = CallEvents() if events is None else events
        await self.open()
        if self._broken is not None:
            raise TransportError(f"acp: {self._broken}")
        session_id = await self._session(session_key)
        prompt = self._prompts[idempotency_key] = _Prompt(idempotency_key, session_id, events)
        self._open.append(prompt)
        self._stray.pop(session_id, None)
        try:
            answer = await self._request(
                "session/prompt", {"sessionId": session_id, "prompt": [{"type": "text", "text": message}]}
            )
        finally:
            with contextlib.suppress(ValueError):
                self._open.remove(prompt)
            prompt.answered_at = time.monotonic()
            prompt.answered.set()
        return self._reply(prompt, answer)

    def _reply(self, prompt: _Prompt, answer: dict[str, Any]) -> TransportReply:
        at = prompt.answered_at
        if "error" in answer:
            prompt.events.text_complete(at)
            error = f"session/prompt failed: {excerpt(json.dumps(answer['error']))}"
            return TransportReply(None, None, error=error, replied_at=at)
        result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
        prompt.stop_reason = str(result.get("stopReason")) if isinstance(result, dict) else "None"
        if prompt.stop_reason == "end_turn":
            prompt.events.text_complete(at)
            return TransportReply(None, prompt.text, replied_at=at)
        prompt.events.first(at)
        refused = None if prompt.stop_reason == "cancelled" else f"stopReason {prompt.stop_reason!r}"
        return TransportReply(None, prompt.text, error=refused, replied_at=at)

    async def stop(self, session_key: str, idempotency_key: str, *, wait_for_run: float) -> StopAnswer:
        """``session/cancel`` for the call's session; its answer is the prompt's ``stopReason: "cancelled"``."""
        prompt = self._prompts.get(idempotency_key)
        if prompt is None:
            return StopAnswer(time.monotonic(), error=f"no prompt was sent with the key {idempotency_key!r}")
        was_open = not prompt.answered.is_set()
        await self._write({"method": "session/cancel", "params": {"sessionId": prompt.session_id}})
        if not was_open:
            detail = f"the prompt had answered (stopReason {prompt.stop_reason!r})"
            return StopAnswer(time.monotonic(), aborted=False, detail=detail)
        try:
            await asyncio.wait_for(prompt.answered.wait(), self.stop_wait)
        except asyncio.TimeoutError:
            return StopAnswer(
                time.monotonic(), error=f"the prompt did not answer within {self.stop_wait:g} s of session/cancel"
            )
        assert prompt.answered_at is not None
        detail = f"stopReason {prompt.stop_reason!r}"
        if prompt.stop_reason != "cancelled":  # ACP: a cancelled prompt answers "cancelled"
            detail += ' (ACP requires "cancelled" after session/cancel)'
        return StopAnswer(prompt.answered_at, aborted=prompt.stop_reason == "cancelled", detail=detail)
