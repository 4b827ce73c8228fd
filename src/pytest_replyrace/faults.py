"""Seeded, journaled fault injection for the fake provider.

A :class:`FaultPlan` holds rules; each request gets the first rule that names
its call in ``calls`` or whose ``rate`` wins a draw from the request's own
seeded generator, so a plan replays exactly under the same seed. A request's
call is the number in its token (``rr-<run>-<n>``: the n-th call of every
run), or its arrival number since the last reset when it carries no token.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .records import JournalEntry

if TYPE_CHECKING:
    from .provider import FakeProvider

__all__ = ["FAULT_KINDS", "FaultRule", "FaultPlan"]

FAULT_KINDS: dict[str, str] = {
    "429": "HTTP 429 with Retry-After, at once",
    "500": "HTTP 500, at once",
    "503": "HTTP 503, at once",
    "reset": "connection reset before any header",
    "cut": "stream cut after `after_chunks` chunks (non-streaming: reset after the RTT)",
    "malformed": "a body that is not valid JSON / SSE, after the RTT",
    "ttft": "a slow first token: nothing until `ttft` seconds, then the whole answer (a real, late reply)",
}


@dataclass(frozen=True)
class FaultRule:
    kind: str
    rate: float = 0.0
    calls: frozenset[int] = field(default_factory=frozenset)
    after_chunks: int = 1
    retry_after: float = 1.0
    ttft: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not known; expected one of {', '.join(FAULT_KINDS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate {self.rate!r}: expected a fraction in [0, 1]")
        if any(not isinstance(c, int) or c < 1 for c in self.calls):
            raise ValueError(f"fault calls {sorted(self.calls)!r}: expected call numbers >= 1")
        if isinstance(self.after_chunks, bool) or not isinstance(self.after_chunks, int) or self.after_chunks < 0:
            raise ValueError(f"fault after_chunks {self.after_chunks!r}: expected an integer >= 0")
        for name in ("retry_after", "ttft"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 3600:
                raise ValueError(f"fault {name} {value!r}: expected seconds from 0 to 3600")

    @classmethod
    def make(cls, kind: Any, *, rate: Any = 0.0, calls: Any = (), after_chunks: Any = 1, retry_after: Any = 1.0,
             ttft: Any = 2.0) -> FaultRule:
        """A rule from loosely typed input (a marker's arguments); ValueError names the bad value."""
        if isinstance(kind, bool) or not isinstance(kind, (str, int)):  # 429 means "429"; None or [429] do not
            raise ValueError(f"fault kind {kind!r} is not known; expected one of {', '.join(FAULT_KINDS)}")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise ValueError(f"fault rate {rate!r}: expected a fraction in [0, 1]")
        if isinstance(calls, int) and not isinstance(calls, bool):
            calls = (calls,)
        if not isinstance(calls, Iterable) or isinstance(calls, (str, bytes)):
            raise ValueError(f"fault calls {calls!r}: expected call numbers >= 1, such as [2] or (2, 4)")
        numbers = tuple(calls)
        if any(isinstance(c, bool) or not isinstance(c, int) for c in numbers):
            raise ValueError(f"fault calls {calls!r}: expected call numbers >= 1, such as [2] or (2, 4)")
        return cls(str(kind), float(rate), frozenset(numbers), after_chunks, retry_after, ttft)


class FaultPlan:
    def __init__(self, rules: Iterable[FaultRule] = ()) -> None:
        self.rules = list(rules)

    @classmethod
    def build(
        cls,
        kind: str | None = None,
        *,
        rate: float = 0.0,
        calls: Iterable[int] = (),
        after_chunks: int = 1,
        retry_after: float = 1.0,
        ttft: float = 2.0,
    ) -> FaultPlan:
        if kind is None:
            return cls()
        return cls([FaultRule.make(kind, rate=rate, calls=calls, after_chunks=after_chunks, retry_after=retry_after,
                                   ttft=ttft)])

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __repr__(self) -> str:
        return f"FaultPlan({self.rules!r})"

    def pick(self, call: int, rng: random.Random) -> str | None:
        for rule in self.rules:
            if call in rule.calls:
                return rule.kind
            # Always draw, so adding a rule does not shift later draws.
            if rng.random() < rule.rate:
                return rule.kind
        return None

    def rule_for(self, kind: str) -> FaultRule:
        return next(r for r in self.rules if r.kind == kind)

    async def apply(
        self,
        kind: str,
        provider: FakeProvider,
        request: web.Request,
        entry: JournalEntry,
        deadline: float,
        text: str,
    ) -> web.StreamResponse:
        rule = self.rule_for(kind)
        if kind in ("429", "500", "503"):
            status = int(kind)
            headers = {"Retry-After": f"{rule.retry_after:g}"} if status == 429 else {}
            _finish(provider, entry, status, f"injected HTTP {status}")
            return web.json_response(
                {"error": {"message": f"injected fault {status}", "type": "server_error", "code": status}},
                status=status,
                headers=headers,
            )
        if kind == "reset":
            _finish(provider, entry, 0, "injected connection reset before headers")
            _abort(request)
            raise ConnectionResetError("injected reset")
        if kind == "malformed":
            await _sleep_until(deadline)
            _finish(provider, entry, 200, "injected malformed body")
            if entry.stream:
                response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
                await response.prepare(request)
                await response.write(b"data: {not json\n\ndata: [DONE]\n\n")
                await response.write_eof()
                return response
            return web.Response(status=200, body=b'{"choices": [', content_type="application/json")
        if kind == "ttft":
            return await provider.serve_late(request, entry, max(deadline, entry.arrived_at + rule.ttft), text)
        # cut
        if not entry.stream:
            await _sleep_until(deadline)
            _finish(provider, entry, 0, "injected cut: connection reset after the RTT")
            _abort(request)
            raise ConnectionResetError("injected cut")
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = provider.split_text(text)
        start = time.monotonic()
        for i, piece in enumerate(pieces[: rule.after_chunks]):
            await _sleep_until(start + (deadline - start) * (i + 1) / (len(pieces) + 1))
            await response.write(provider.sse_chunk(piece, entry.model))
        _finish(provider, entry, 0, f"injected cut after {rule.after_chunks} chunk(s)")
        _abort(request)
        raise ConnectionResetError("injected cut")


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def _finish(provider: FakeProvider, entry: JournalEntry, status: int, error: str) -> None:
    # ended_at is when the provider gave up on the request; `error` keeps it from counting as served.
    with provider._lock:  # noqa: SLF001 - the plan is the provider's own helper
        entry.status = status
        entry.error = error
        entry.ended_at = time.monotonic()

