"""How the driver talks to a gateway.

A transport sends one message on a session and returns what the gateway
answered for it. The driver owns timing and timeouts; a transport only maps
one call to one :class:`TransportReply`, or raises :class:`TransportError`
when the exchange itself failed. Plug in your own API by implementing the
:class:`Transport` protocol and overriding the ``replyrace_transport_factory``
fixture.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import aiohttp

from ..errors import ReplyraceError

__all__ = [
    "MAX_BODY_BYTES",
    "HttpClient",
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


@dataclass
class TransportReply:
    run_id: str | None
    reply: str | None
    error: str | None = None
    replied_at: float | None = None
    """When the reply was complete (monotonic), if the transport knows better than its return
    time: a WebSocket final that is followed by an ``agent.wait``, say."""


class TransportError(ReplyraceError):
    """The exchange failed: refused, reset, bad status, not JSON, too large."""


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


class TransportContractError(ReplyraceError, TypeError):
    """A transport factory made something that does not follow the :class:`Transport` protocol."""


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
        problems.append("no plain `late_replies` method (expected `def late_replies(self) -> dict[str, list[str]]`, "
                        "text that arrived after its call ended, by token; `return {}` when there is none)")
    return problems


def check_transport(transport: object, where: str = "the transport factory") -> Transport:
    """``transport`` if it follows the :class:`Transport` protocol, else a :class:`TransportContractError`
    naming everything that is missing (before the driver awaits anything of it)."""
    problems = _contract_problems(transport)
    if problems:
        raise TransportContractError(
            f"{where} made {type(transport).__name__} {transport!r:.80}, which is not a replyrace Transport: "
            + "; ".join(problems) + " (see docs/03-transports.md, 'Your own transport')")
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


SseReader = Callable[[aiohttp.ClientResponse, bytearray], Awaitable[TransportReply]]
"""Reads a 200 event stream to its end; the bytearray keeps what arrived (for a timed-out call)."""


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
            raise ValueError(f"http path {self.path!r}: expected a path starting with '/'")
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

    def partial_reply(self) -> str | None:
        """The status and the start of a body that was still arriving, if the last call got that far."""
        if self._partial is None:
            return None
        status, body = self._partial
        return f"HTTP {status} and {len(body)} bytes of its body: {excerpt(bytes(body))}"

    def failed(self, exc: BaseException) -> TransportError:
        return TransportError(f"POST {self.url} failed: {type(exc).__name__}: {exc}")

    def too_large(self, raw: bytes) -> TransportError:
        return TransportError(f"POST {self.url}: reply larger than {self.max_body_bytes} bytes: {excerpt(raw)}")

    def json_object(self, raw: bytes) -> dict[str, Any]:
        """The body as a JSON object, or a TransportError quoting it."""
        return parse_json_object(raw, f"POST {self.url}: reply is not JSON",
                                 f"POST {self.url}: reply is not a JSON object")

    async def post(self, body: dict[str, Any], headers: dict[str, str], sse: SseReader | None = None,
                   ) -> tuple[int, bytes, TransportReply | None]:
        """POST ``body``: the status and the whole (bounded) body, or, for a 200 event stream when ``sse``
        is given, what ``sse`` made of it."""
        await self.open()
        assert self._session is not None
        self._partial = None
        try:
            async with self._session.post(self.url, json=body, headers=headers) as response:
                status = response.status
                self._partial = (status, bytearray())
                if sse is not None and status == 200 and response.content_type == "text/event-stream":
                    return status, b"", await sse(response, self._partial[1])
                raw = await read_capped(response, self.max_body_bytes + 1, self._partial[1])
        except (aiohttp.ClientError, ConnectionError, OSError) as exc:
            raise self.failed(exc) from exc
        if len(raw) > self.max_body_bytes:
            raise self.too_large(raw)
        return status, raw, None
