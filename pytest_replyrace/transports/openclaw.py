"""The OpenClaw gateway WebSocket protocol as a transport.

One connection per run: answer ``connect.challenge`` with ``connect`` (client
``gateway-client``, mode ``backend``, token auth, protocol 3-4), then per call
``chat.send {sessionKey, message, idempotencyKey}`` and wait for this run's
``chat`` event in a terminal state (``final``, ``error``, ``aborted``). Text
comes from the final's message, or from the deltas when the final carries none;
a bare final (a queued turn) is a reply of ``None``.

A stop is ``chat.abort {sessionKey, runId}`` (answered ``{ok, aborted, runIds}``),
sent right after the call's ``chat.send`` frame if need be, without waiting for
its acknowledgement: the run id is the idempotency key the client chose. A
disconnect closes the WebSocket (every answer it carried is cut); the next call
connects again.

Events for other run ids on the same session are kept: a real answer that
arrives later under a new run id is recorded, by the token it carries, on the
call it belongs to. Malformed frames end the call in progress as a transport
error quoting the frame, never a hang; frames are bounded in size.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect

from ..errors import InvalidArgument
from ..tokens import find_tokens
from .base import (
    CallEvents,
    StopAnswer,
    TransportError,
    TransportReply,
    describe_exception,
    excerpt,
    parse_json_object,
)
from .cuts import cut_reply

__all__ = ["MAX_FRAME_BYTES", "OpenClawTransport", "message_text", "ws_url"]

MAX_FRAME_BYTES = 8 * 1024 * 1024
TERMINAL_STATES = frozenset({"final", "error", "aborted"})
CLIENT_VERSION = "0.1.0"


def ws_url(url: str) -> str:
    """``http://127.0.0.1:P`` → ``ws://127.0.0.1:P``; ws URLs pass through."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise InvalidArgument(f"gateway url {url!r}: expected http://, https://, ws:// or wss://")
    return urlunsplit((scheme, parts.netloc, parts.path or "", parts.query, ""))


def message_text(message: Any) -> str | None:
    """Text of a chat message: ``content`` as a string or a list of text parts."""
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    text = message.get("text")
    return text if isinstance(text, str) else None


@dataclass
class _Run:
    """What the client has seen of one run id."""

    text: str = ""
    final_text: str | None = None
    state: str | None = None
    error: str | None = None
    ended_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    events: CallEvents | None = None
    """The call's events, for a run this client started: the first delta and the terminal event."""
    sent: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the call's ``chat.send`` frame is written (a stop goes out after it, never before)."""
    acked_run_id: str | None = None
    """The run id the gateway acknowledged, when it is not the idempotency key."""
    cut_at: float | None = None
    """When the client closed the connection carrying this run's answer (``disconnect``)."""


@dataclass(frozen=True)
class ConnectHello:
    """The handshake of one connection: who the client says it is, and how often a refusal is retried."""

    token: str | None
    client_id: str
    client_mode: str
    min_protocol: int
    max_protocol: int
    retries: int

    async def recv_json(self, ws: ClientConnection, url: str) -> dict[str, Any]:
        try:
            frame = await ws.recv()
        except websockets.exceptions.ConnectionClosed as exc:
            raise TransportError(f"WebSocket {url} closed during the handshake: {exc}") from exc
        return parse_json_object(
            frame,
            f"WebSocket {url}: malformed frame during the handshake",
            f"WebSocket {url}: frame is not a JSON object",
        )

    async def run(self, ws: ClientConnection, url: str) -> dict[str, Any]:
        """Answer ``connect.challenge`` with ``connect`` (retrying a retryable refusal): the hello payload."""
        for _ in range(16):  # a few tick/noise frames may precede the challenge
            frame = await self.recv_json(ws, url)
            if frame.get("type") == "event" and frame.get("event") == "connect.challenge":
                break
        else:
            raise TransportError(f"WebSocket {url}: no connect.challenge from the gateway")
        auth: dict[str, str] = {"token": self.token} if self.token else {}
        for attempt in range(self.retries):
            request_id = f"connect-{uuid.uuid4()}"
            await ws.send(
                json.dumps(
                    {
                        "type": "req",
                        "id": request_id,
                        "method": "connect",
                        "params": {
                            "minProtocol": self.min_protocol,
                            "maxProtocol": self.max_protocol,
                            "client": {
                                "id": self.client_id,
                                "version": CLIENT_VERSION,
                                "platform": "linux",
                                "mode": self.client_mode,
                            },
                            "role": "operator",
                            "scopes": ["operator.read", "operator.write", "operator.admin"],
                            "caps": [],
                            "auth": auth,
                            "locale": "en-US",
                            "userAgent": f"pytest-replyrace/{CLIENT_VERSION}",
                        },
                    }
                )
            )
            for _ in range(64):
                frame = await self.recv_json(ws, url)
                if frame.get("type") == "res" and frame.get("id") == request_id:
                    break
            else:
                raise TransportError(f"WebSocket {url}: no answer to connect")
            if frame.get("ok"):
                payload = frame.get("payload") or {}
                hello: dict[str, Any] = payload if isinstance(payload, dict) else {}
                scopes = (hello.get("auth") or {}).get("scopes")
                if isinstance(scopes, list) and "operator.write" not in scopes:
                    raise TransportError(f"WebSocket {url}: connected without operator.write (scopes {scopes})")
                return hello
            error = frame.get("error") or {}
            retry_ms = error.get("retryAfterMs") if isinstance(error, dict) else None
            if isinstance(error, dict) and error.get("retryable") and attempt + 1 < self.retries:
                await asyncio.sleep(min(5.0, (retry_ms or 500) / 1000))
                continue
            raise TransportError(f"WebSocket {url}: connect refused: {json.dumps(error)[:300]}")
        raise TransportError(f"WebSocket {url}: connect refused {self.retries} times")  # retries == 0


@dataclass
class OpenClawTransport:
    url: str
    token: str | None = None
    client_id: str = "gateway-client"
    client_mode: str = "backend"
    min_protocol: int = 3
    max_protocol: int = 4
    handshake_timeout: float = 60.0
    request_timeout: float = 30.0
    agent_wait: bool = False
    """Call ``agent.wait`` after each final before returning. It hides the race: off by default."""
    agent_wait_timeout: float = 30.0
    max_frame_bytes: int = MAX_FRAME_BYTES
    connect_retries: int = 10
    queue_mode: str | None = None
    """``chat.send``'s own ``queueMode`` (``steer``, ``followup``, ``collect``, …): unset by default, so the
    gateway's configured ``messages.queue.mode`` applies."""
    name: str = "openclaw"
    reports_events = True

    def __post_init__(self) -> None:
        if self.queue_mode is not None and (not isinstance(self.queue_mode, str) or not self.queue_mode.strip()):
            raise InvalidArgument(
                f"OpenClaw queue mode {self.queue_mode!r}: expected a non-empty name such as steer or followup"
            )
        self._ws_url = ws_url(self.url)
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._runs: dict[str, _Run] = {}
        self._mine: set[str] = set()
        self._late: dict[str, list[str]] = {}
        self._fatal: TransportError | None = None
        self._current: _Run | None = None
        self.hello: dict[str, Any] | None = None
        self.protocol: int | None = None

    # -- connection ----------------------------------------------------------

    async def open(self) -> None:
        if self._ws is not None and self._reader is not None and not self._reader.done():
            return
        await self._teardown()
        self._fatal = None
        try:
            self._ws = await asyncio.wait_for(
                connect(
                    self._ws_url,
                    max_size=self.max_frame_bytes,
                    proxy=None,
                    open_timeout=self.handshake_timeout,
                    ping_interval=None,
                    compression=None,
                ),
                self.handshake_timeout,
            )
        except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as exc:
            raise TransportError(f"WebSocket {self._ws_url}: could not connect: {type(exc).__name__}: {exc}") from exc
        try:
            await asyncio.wait_for(self._handshake(), self.handshake_timeout)
        except asyncio.TimeoutError:
            await self._teardown()
            raise TransportError(f"WebSocket {self._ws_url}: handshake took over {self.handshake_timeout:g}s") from None
        except TransportError:
            await self._teardown()
            raise

    async def _handshake(self) -> None:
        assert self._ws is not None
        hello = ConnectHello(
            self.token, self.client_id, self.client_mode, self.min_protocol, self.max_protocol, self.connect_retries
        )
        self.hello = await hello.run(self._ws, self._ws_url)
        self.protocol = self.hello.get("protocol") if isinstance(self.hello.get("protocol"), int) else None
        self._reader = asyncio.create_task(self._read_loop(), name="replyrace-openclaw-reader")

    async def close(self) -> None:
        await self._teardown()

    async def _teardown(self) -> None:
        reader, ws = self._reader, self._ws
        self._reader = self._ws = None
        if reader is not None:
            reader.cancel()
            try:
                await reader
            except (asyncio.CancelledError, Exception):
                pass
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), 2.0)
            except (asyncio.TimeoutError, Exception):
                pass

    # -- frames ----------------------------------------------------------------

    def _fail_all(self, error: TransportError) -> None:
        self._fatal = error
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        for run in self._runs.values():
            run.done.set()

    async def _read_loop(self) -> None:
        assert self._ws is not None
        try:
            async for frame in self._ws:
                try:
                    data = json.loads(frame)
                    if isinstance(data, dict):
                        self._dispatch(data)
                except Exception as exc:
                    self._fail_all(
                        TransportError(
                            f"WebSocket {self._ws_url}: malformed frame: {excerpt(frame)} ({describe_exception(exc)})"
                        )
                    )
                    return
                if not isinstance(data, dict):
                    self._fail_all(TransportError(f"WebSocket {self._ws_url}: malformed frame: {excerpt(frame)}"))
                    return
        except websockets.exceptions.ConnectionClosed as exc:
            self._fail_all(TransportError(f"WebSocket {self._ws_url} dropped: {exc}"))
            return
        self._fail_all(TransportError(f"WebSocket {self._ws_url} closed by the gateway"))

    def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "res":
            future = self._pending.pop(str(frame.get("id")), None)
            if future is not None and not future.done():
                future.set_result(frame)
        elif kind == "event" and frame.get("event") == "chat":
            payload = frame.get("payload")
            if isinstance(payload, dict) and isinstance(payload.get("runId"), str):
                self._on_chat(payload)

    def _on_chat(self, payload: dict[str, Any]) -> None:
        run_id = payload["runId"]
        run = self._runs.setdefault(run_id, _Run())
        state = payload.get("state")
        message = message_text(payload.get("message"))
        if state == "delta":
            if run.events is not None:
                run.events.first()
            delta = payload.get("deltaText")
            if isinstance(delta, str):  # protocol 4: explicit deltas
                run.text = delta if payload.get("replace") else run.text + delta
            elif message is not None:  # protocol 3: cumulative message
                run.text = message
            # Each frame is bounded; so is their sum (a gateway streaming deltas forever must not grow this).
            run.text = run.text[: self.max_frame_bytes]
        elif state in TERMINAL_STATES:
            run.state = state
            run.final_text = message
            error = payload.get("errorMessage")
            run.error = error if isinstance(error, str) else (f"run {state}" if state != "final" else None)
            run.ended_at = time.monotonic()
            run.done.set()
            if run.events is not None:
                if run.error is not None:
                    run.events.error(run.error, run.ended_at)
                run.events.text_complete(run.ended_at)  # the final: the reply text is complete
            if run_id not in self._mine:
                _file_late(self._late, run_id, message if message is not None else run.text)

    async def _request(self, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        request_id, future = await self._send_request(method, params)
        return await self._answer(method, request_id, future, timeout)

    async def _send_request(self, method: str, params: dict[str, Any]) -> tuple[str, asyncio.Future[dict[str, Any]]]:
        """Write one request frame; its answer arrives on the returned future."""
        if self._fatal is not None:
            raise self._fatal
        assert self._ws is not None
        request_id = f"rr-req-{uuid.uuid4()}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._ws.send(json.dumps({"type": "req", "id": request_id, "method": method, "params": params}))
        except websockets.exceptions.ConnectionClosed as exc:
            self._pending.pop(request_id, None)
            raise TransportError(f"WebSocket {self._ws_url}: {method} not sent, connection closed: {exc}") from exc
        return request_id, future

    async def _answer(
        self, method: str, request_id: str, future: asyncio.Future[dict[str, Any]], timeout: float
    ) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise TransportError(f"WebSocket {self._ws_url}: no answer to {method} within {timeout:g}s") from None
        finally:
            self._pending.pop(request_id, None)

    # -- the transport interface ----------------------------------------------

    def late_replies(self) -> dict[str, list[str]]:
        return {token: list(texts) for token, texts in self._late.items()}

    def partial_reply(self, events: CallEvents | None = None) -> str | None:
        """What the call the driver timed out (the last one, when ``events`` is not given) had streamed:
        deltas but no final are an answer begun, not silence."""
        run = self._current if events is None else next((r for r in self._runs.values() if r.events is events), None)
        if run is None or run.state is not None or not run.text:
            return None
        return f"chat deltas but no final: {excerpt(run.text)}"

    async def send(
        self, session_key: str, message: str, idempotency_key: str, events: CallEvents | None = None
    ) -> TransportReply:
        if self._ws is None or self._reader is None or self._reader.done():
            await self.open()  # reconnect after a drop (or a disconnect) between calls
        # Register before sending: the run id is the idempotency key, and its final may come fast.
        self._mine.add(idempotency_key)
        run = self._current = self._runs.setdefault(idempotency_key, _Run())
        run.events = events
        params = {"sessionKey": session_key, "message": message, "idempotencyKey": idempotency_key}
        if self.queue_mode is not None:
            params["queueMode"] = self.queue_mode
        try:
            request_id, future = await self._send_request("chat.send", params)
            run.sent.set()
            response = await self._answer("chat.send", request_id, future, self.request_timeout)
        except TransportError:
            if run.cut_at is not None:
                return cut_reply(run.cut_at, idempotency_key)
            raise
        finally:
            run.sent.set()  # a stop waiting for the frame goes on (and finds the call failed)
        if not response.get("ok"):
            error = response.get("error")
            detail = error.get("message") if isinstance(error, dict) else None
            refused = f"chat.send refused: {detail or json.dumps(error)[:300]}"
            return TransportReply(run_id=None, reply=None, error=refused, replied_at=time.monotonic())
        payload = response.get("payload")
        acked = payload.get("runId") if isinstance(payload, dict) else None
        run_id: str = acked if isinstance(acked, str) else idempotency_key
        if run_id != idempotency_key:
            run = self._adopt(run, run_id, events)
        await run.done.wait()
        if run.cut_at is not None and run.state is None:
            return cut_reply(run.cut_at, run_id)
        if self._fatal is not None and run.state is None:
            raise self._fatal
        text = run.final_text if run.final_text is not None else (run.text or None)
        reply = TransportReply(run_id=run_id, reply=text, error=run.error, replied_at=run.ended_at, state=run.state)
        if self.agent_wait:
            timeout_ms = int(self.agent_wait_timeout * 1000)
            await self._request("agent.wait", {"runId": run_id, "timeoutMs": timeout_ms}, self.agent_wait_timeout + 5)
        return reply

    def _adopt(self, sent: _Run, run_id: str, events: CallEvents | None) -> _Run:
        """The gateway acknowledged the call under another run id: follow that run from now on."""
        sent.acked_run_id = run_id
        self._mine.add(run_id)
        run = self._current = self._runs.setdefault(run_id, sent)
        run.events = events
        run.cut_at = run.cut_at or sent.cut_at
        if events is not None and run.text:
            events.first()  # deltas under the acked run id came before the ack
        if events is not None and run.ended_at is not None:
            events.text_complete(run.ended_at)
        return run

    async def stop(self, session_key: str, idempotency_key: str, *, wait_for_run: float) -> StopAnswer:
        """``chat.abort {sessionKey, runId}`` for the call sent with that key, right after its ``chat.send``
        frame (waiting up to ``wait_for_run`` for that frame, never for its acknowledgement). The run id is the
        acknowledged one when the ack came first and named another, else the idempotency key. A failed
        exchange is the answer's ``error``, never raised."""
        # The send may not have begun yet (its task not yet run): its run is made here, and send adopts it.
        run = self._runs.setdefault(idempotency_key, _Run())
        if not run.sent.is_set():
            try:
                await asyncio.wait_for(run.sent.wait(), wait_for_run)
            except asyncio.TimeoutError:
                return StopAnswer(time.monotonic(), error=f"chat.send was not sent within {wait_for_run:g}s")
        run_id = run.acked_run_id or idempotency_key
        try:
            if self._ws is None or self._reader is None or self._reader.done():
                await self.open()
            response = await self._request(
                "chat.abort", {"sessionKey": session_key, "runId": run_id}, self.request_timeout
            )
        except TransportError as exc:
            return StopAnswer(time.monotonic(), error=str(exc))
        return _abort_answer(response, time.monotonic())

    async def disconnect(self, idempotency_key: str) -> float:
        """Close the WebSocket carrying that call's answer (and any other answer on it) without a stop call,
        as a client that goes away: the cut's instant. The next call connects again."""
        at = time.monotonic()
        for run_id, run in self._runs.items():
            if run.state is None and run_id in self._mine:  # every answer still arriving on this connection
                run.cut_at = run.cut_at or at
        await self._teardown()
        self._fail_all(TransportError(f"WebSocket {self._ws_url} closed by the client (disconnect)"))
        return at


def _file_late(late: dict[str, list[str]], run_id: str, text: str) -> None:
    """A real answer under a run id nobody asked for: filed by the tokens it carries."""
    line = f"[runId {run_id}] {text}"
    for token in find_tokens(text):
        texts = late.setdefault(token, [])
        if line not in texts:  # OpenClaw 2026.8.1 sends a followup's final twice
            texts.append(line)


def _abort_answer(response: dict[str, Any], at: float) -> StopAnswer:
    """``chat.abort``'s answer ``{ok, payload: {ok, aborted, runIds}}`` as a StopAnswer."""
    detail = excerpt(json.dumps(response.get("payload") if response.get("ok") else response.get("error")), 160)
    if not response.get("ok"):
        error = response.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        return StopAnswer(at, error=f"chat.abort refused: {message or json.dumps(error)[:300]}", detail=detail)
    payload = response.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    aborted = payload.get("aborted")
    run_ids = payload.get("runIds")
    return StopAnswer(
        at,
        aborted=aborted if isinstance(aborted, bool) else None,
        detail=detail,
        run_ids=tuple(r for r in run_ids if isinstance(r, str)) if isinstance(run_ids, list) else (),
    )
