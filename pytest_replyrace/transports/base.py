"""How the driver talks to a gateway.

A transport sends one message on a session and returns what the gateway
answered for it. The driver owns timing and timeouts; a transport only maps
one call to one :class:`TransportReply`, or raises :class:`TransportError`
when the exchange itself failed. Plug in your own API by implementing the
:class:`Transport` protocol and overriding the ``replyrace_transport_factory``
fixture.

A transport that sets ``reports_events = True`` is also handed a :class:`CallEvents` for each call and
reports on it, while the answer is still arriving, when its first event came and when its text was
complete: the driver can then send the next message at either moment (``send_at`` ``first`` or ``text``)
while this answer is read to its end.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import aiohttp

from ..errors import InvalidArgument, TransportContractError, TransportError

__all__ = [
    "BUSY_STATUSES",
    "MAX_BODY_BYTES",
    "CallEvents",
    "HttpClient",
    "StopAnswer",
    "Transport",
    "TransportContractError",
    "TransportError",
    "TransportReply",
    "check_transport",
    "describe_exception",
    "excerpt",
    "parse_json_object",
    "read_capped",
]

MAX_BODY_BYTES = 1024 * 1024
"""Replies larger than this are cut and reported as a transport error."""

BUSY_STATUSES = frozenset({409, 429, 503})
"""HTTP statuses that refuse a message because the session (or the service) is busy, not because the request
is wrong: a refusal the busy policy judges (``b`` when sent while busy, ``f`` when not)."""


@dataclass
class TransportReply:
    run_id: str | None
    reply: str | None
    error: str | None = None
    replied_at: float | None = None
    """When the reply was complete (monotonic), if the transport knows better than its return
    time: a WebSocket final that is followed by an ``agent.wait``, say."""
    busy: bool = False
    """The gateway refused the message as busy (HTTP 409/429/503, or its protocol's busy answer)."""
    state: str | None = None
    """The terminal state the gateway's protocol named for the turn, when it names one (OpenClaw's ``chat``
    event: ``final``, ``error`` or ``aborted``, the last after a stop)."""
    cut_at: float | None = None
    """Monotonic: when the client cut this call's answer (``disconnect``) before it ended; None otherwise."""
    no_text: str | None = None
    """Why the answer, though it arrived, gave no reply text (the declared transport: its text selector matched
    none of the answer's events); shown when no call of a run got a real reply."""


@dataclass(frozen=True)
class StopAnswer:
    """What the client had back from a stop (``stop_by="cancel"``): the instant it had the gateway's answer,
    and what the answer said. A transport's optional ``stop`` returns one; see the Transport protocol."""

    answered_at: float
    """Monotonic: when the client had the gateway's answer to the stop (or gave up on one)."""
    aborted: bool | None = None
    """The gateway said the run was stopped (True), that nothing was running (False), or said neither (None)."""
    error: str | None = None
    """The stop call itself failed (refused, reset, bad status, not JSON): what happened, quoted."""
    detail: str = ""
    """A short excerpt of the answer, for the timeline."""
    run_ids: tuple[str, ...] = ()
    """The run ids the gateway said it stopped, when its answer lists them (OpenClaw's ``runIds``)."""


class CallEvents:
    """What a transport reports of one call while its answer is still arriving (monotonic instants).

    ``first()`` when the answer's first event or byte arrived, ``text_complete()`` when its reply text was
    complete (for a plain JSON body: when the body was read), ``error(text)`` for an error inside a stream.
    Each instant is kept once, the first time it is reported; a text-complete also counts as the first event
    when none came before it. The driver awaits :meth:`wait` to time the next send.
    """

    def __init__(self) -> None:
        self.first_at: float | None = None
        self.text_at: float | None = None
        self.errors: list[tuple[float, str]] = []
        self.after: list[tuple[float, str]] = []
        """Text of this answer after its text-complete event (a later step's output), with its instants."""
        self.gateway_requests: list[tuple[float, str]] = []
        """What the gateway asked of the client during this answer and how it was answered (an ACP agent's
        permission prompt, a file read), with its instants: shown in the timeline, not judged."""
        self.text_began_at: float | None = None
        """When the first piece of reply text arrived (reported by a transport with ``reports_text = True``)."""
        self.partial: tuple[int, bytearray] | None = None
        """The status and the bytes of a body still arriving (what a call the driver timed out had begun)."""
        self._first = asyncio.Event()
        self._text = asyncio.Event()

    def first(self, at: float | None = None) -> None:
        if self.first_at is None:
            self.first_at = time.monotonic() if at is None else at
            self._first.set()

    def text_complete(self, at: float | None = None) -> None:
        if self.text_at is None:
            self.text_at = time.monotonic() if at is None else at
            self.first(self.text_at)
            self._text.set()

    def error(self, text: str, at: float | None = None) -> None:
        self.errors.append((time.monotonic() if at is None else at, text))

    def gateway_request(self, text: str, at: float | None = None) -> None:
        """The gateway asked the client something during this answer; ``text`` says what and how it was answered."""
        self.gateway_requests.append((time.monotonic() if at is None else at, text))

    def text(self, at: float | None = None) -> None:
        """A piece of reply text arrived (the first one is kept): the answer is not silent."""
        if self.text_began_at is None:
            self.text_began_at = time.monotonic() if at is None else at

    def late_text(self, text: str, at: float | None = None) -> None:
        """Text of this answer after its text-complete event: late text of the same turn, never its reply."""
        if text:
            self.after.append((time.monotonic() if at is None else at, text))

    async def wait(self, what: str) -> float:
        """Until the ``first`` or ``text`` instant is reported; returns it."""
        if what == "first":
            await self._first.wait()
            assert self.first_at is not None
            return self.first_at
        if what == "text":
            await self._text.wait()
            assert self.text_at is not None
            return self.text_at
        raise InvalidArgument(f"event {what!r}: expected first or text")


@runtime_checkable
class Transport(Protocol):
    name: str

    async def open(self) -> None:
        """Called once per sequential run, inside the driver's event loop."""

    async def send(self, session_key: str, message: str, idempotency_key: str) -> TransportReply:
        """Send one message and wait for its reply (the driver applies the timeout)."""
        ...

    async def close(self) -> None:
        """Called once per run, also after failures."""

    def late_replies(self) -> dict[str, list[str]]:
        """Text seen after its call ended, keyed by token (may be empty)."""
        ...

    # Optional: ``partial_reply() -> str | None``, what arrived of a call the driver timed out
    # (headers and the first bytes of a body that never finished). Something there makes the
    # call an `e` quoting it (a slow-loris answer); nothing makes it `l` (no answer at all).
    #
    # Optional: ``reports_text = True`` (with ``reports_events``): the transport calls ``events.text()`` when a
    # piece of reply text arrives, so an answer that was accepted and then said nothing until the timeout is
    # told from one that stalled halfway (`l` "accepted, then silent", not `e`).
    #
    # Optional: ``reports_events = True``. Then the driver calls ``send(..., events=CallEvents())``, the
    # transport reports its first-event and text-complete instants on it, and one transport may be sending
    # several calls at once (the next message can go out while an answer is still arriving).
    #
    # Optional: ``async def stop(self, session_key: str, idempotency_key: str, *, wait_for_run: float) ->
    # StopAnswer``, the transport's own stop call for the call it sent with that idempotency key (OpenClaw's
    # ``chat.abort``, the HTTP contract's ``POST /chat.abort``, an API file's ``[stop]``). A transport whose
    # stop needs a run id it has not seen yet waits for it up to ``wait_for_run`` seconds. Without ``stop``,
    # ``stop_by="cancel"`` is a usage error naming the transport.
    #
    # Optional: ``async def disconnect(self, idempotency_key: str) -> float``, close the connection that
    # carries that call's answer without a stop call, and return the cut's monotonic instant. Without it the
    # driver cancels the call's send (which closes an HTTP answer's connection).


_ASYNC_METHODS = {
    "open": "async def open(self) -> None",
    "send": "async def send(self, session_key: str, message: str, idempotency_key: str) -> TransportReply",
    "close": "async def close(self) -> None",
}


def _contract_problems(transport: object) -> list[str]:
    problems = []
    if not isinstance(getattr(transport, "name", None), str):
        problems.append("no `name` attribute (a str naming the transport, such as 'my-api')")
    for method, signature in _ASYNC_METHODS.items():
        member = getattr(transport, method, None)
        if not callable(member):
            problems.append(f"no `{method}` method (expected `{signature}`)")
        elif not inspect.iscoroutinefunction(member):
            problems.append(f"`{method}` is not async (expected `{signature}`)")
    late = getattr(transport, "late_replies", None)
    if not callable(late) or inspect.iscoroutinefunction(late):
        problems.append(
            "no plain `late_replies` method (expected `def late_replies(self) -> dict[str, list[str]]`, "
            "text that arrived after its call ended, by token; `return {}` when there is none)"
        )
    return problems


def check_transport(transport: object, where: str = "the transport factory") -> Transport:
    """``transport`` if it follows the :class:`Transport` protocol, else a :class:`TransportContractError`
    naming everything that is missing (before the driver awaits anything of it)."""
    problems = _contract_problems(transport)
    if problems:
        raise TransportContractError(
            f"{where} made {type(transport).__name__} {transport!r:.80}, which is not a replyrace Transport: "
            + "; ".join(problems)
            + " (see docs/03-transports.md, 'Your own transport')"
        )
    return transport  # type: ignore[return-value]


def excerpt(data: bytes | str, width: int = 200) -> str:
    """The start of what a gateway sent, quoted for an error message (both transports use it)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return repr(text if len(text) <= width else text[:width] + "…")


def describe_exception(exc: BaseException, width: int = 300) -> str:
    """``Type: 'message'``, the message cut to ``width``: what a transport raised, quoted as evidence."""
    try:
        text = str(exc)
    except Exception:
        text = "<message not printable>"
    return f"{type(exc).__name__}: {excerpt(text, width)}"


def parse_json_object(raw: bytes | str, not_json: str, not_object: str) -> dict[str, Any]:
    """``raw`` as a JSON object, or a TransportError that says ``not_json`` / ``not_object`` and quotes it."""
    try:
        data: Any = json.loads(raw)
    except Exception as exc:
        raise TransportError(f"{not_json}: {excerpt(raw)} ({describe_exception(exc)})") from None
    if not isinstance(data, dict):
        raise TransportError(f"{not_object}: {excerpt(raw)}")
    return data


async def read_capped(response: aiohttp.ClientResponse, limit: int, into: bytearray) -> bytes:
    """Read the body into ``into`` up to ``limit`` bytes: a huge reply must not fill memory, and
    what arrived stays visible if the read is cancelled (a body that never ends)."""
    async for chunk in response.content.iter_chunked(64 * 1024):
        into += chunk[: limit - len(into)]
        if len(into) >= limit:
            break
    return bytes(into)


SseReader = Callable[[aiohttp.ClientResponse, bytearray, CallEvents], Awaitable[TransportReply]]
"""Reads a 200 event stream to its end, reporting its events; the bytearray keeps what arrived (for a
timed-out call)."""


@dataclass
class HttpClient:
    """What every HTTP transport shares: one keep-alive client per run, a bounded body, and what arrived
    of a call the driver timed out."""

    base_url: str
    path: str = "/chat.send"
    headers: dict[str, str] = field(default_factory=dict)
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise InvalidArgument(f"http path {self.path!r}: expected a path starting with '/'")
        self._session: aiohttp.ClientSession | None = None
        self._partial: tuple[int, bytearray] | None = None

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + self.path

    async def open(self) -> None:
        if self._session is None:
            # No pooling across calls would hide nothing, but keep-alive is what
            # real clients do; trust_env=False keeps proxies out of loopback traffic.
            self._session = aiohttp.ClientSession(trust_env=False, timeout=aiohttp.ClientTimeout(total=None))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def late_replies(self) -> dict[str, list[str]]:
        return {}

    reports_events = True

    def partial_reply(self, events: CallEvents | None = None) -> str | None:
        """The status and the start of a body that was still arriving, if the call (the last one, when
        ``events`` is not given) got that far."""
        partial = self._partial if events is None else events.partial
        if partial is None:
            return None
        status, body = partial
        return f"HTTP {status} and {len(body)} bytes of its body: {excerpt(bytes(body))}"

    def failed(self, exc: BaseException) -> TransportError:
        return TransportError(f"POST {self.url} failed: {type(exc).__name__}: {exc}")

    def too_large(self, raw: bytes) -> TransportError:
        return TransportError(f"POST {self.url}: reply larger than {self.max_body_bytes} bytes: {excerpt(raw)}")

    def json_object(self, raw: bytes) -> dict[str, Any]:
        """The body as a JSON object, or a TransportError quoting it."""
        return parse_json_object(
            raw, f"POST {self.url}: reply is not JSON", f"POST {self.url}: reply is not a JSON object"
        )

    async def post(
        self,
        body: dict[str, Any],
        headers: dict[str, str],
        sse: SseReader | None = None,
        events: CallEvents | None = None,
    ) -> tuple[int, bytes, TransportReply | None]:
        """POST ``body``: the status and the whole (bounded) body, or, for a 200 event stream when ``sse``
        is given, what ``sse`` made of it. A plain body's first byte is its first event and its end the
        text-complete instant; a stream's reader reports its own."""
        await self.open()
        assert self._session is not None
        events = CallEvents() if events is None else events
        try:
            async with self._session.post(self.url, json=body, headers=headers) as response:
                status = response.status
                events.partial = self._partial = (status, bytearray())
                if sse is not None and status == 200 and response.content_type == "text/event-stream":
                    return status, b"", await sse(response, events.partial[1], events)
                events.first()
                raw = await read_capped(response, self.max_body_bytes + 1, events.partial[1])
                events.text_complete()
        except (aiohttp.ClientError, ConnectionError, OSError) as exc:
            raise self.failed(exc) from exc
        if len(raw) > self.max_body_bytes:
            raise self.too_large(raw)
        return status, raw, None
