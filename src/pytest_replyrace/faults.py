"""Seeded, journaled fault injection for the fake provider.

A :class:`FaultPlan` holds rules; each request (numbered from 1 since the last
reset) gets the first rule that names its number in ``calls`` or whose
``rate`` wins a draw from the request's own seeded generator, so a plan
replays exactly under the same seed.
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
}


@dataclass(frozen=True)
class FaultRule:
    kind: str
    rate: float = 0.0
    calls: frozenset[int] = field(default_factory=frozenset)
    after_chunks: int = 1
    retry_after: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not known; expected one of {', '.join(FAULT_KINDS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate {self.rate!r}: expected a fraction in [0, 1]")
        if any(not isinstance(c, int) or c < 1 for c in self.calls):
            raise ValueError(f"fault calls {sorted(self.calls)!r}: expected request numbers >= 1")
        if self.after_chunks < 0:
            raise ValueError(f"fault after_chunks {self.after_chunks!r}: expected an integer >= 0")


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
    ) -> FaultPlan:
        if kind is None:
            return cls()
        return cls([FaultRule(str(kind), float(rate), frozenset(calls), after_chunks, retry_after)])

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __repr__(self) -> str:
        return f"FaultPlan({self.rules!r})"

    def pick(self, seq: int, rng: random.Random) -> str | None:
        for rule in self.rules:
            if seq in rule.calls:
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
            _finish(provider, entry, 0, "injected connection reset before headers", served=False)
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
        # cut
        if not entry.stream:
            await _sleep_until(deadline)
            _finish(provider, entry, 0, "injected cut: connection reset after the RTT", served=False)
            _abort(request)
            raise ConnectionResetError("injected cut")
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = provider.split_text(text)
        start = time.monotonic()
        for i, piece in enumerate(pieces[: rule.after_chunks]):
            await _sleep_until(start + (deadline - start) * (i + 1) / (len(pieces) + 1))
            await response.write(provider.sse_chunk(piece, entry.model))
        _finish(provider, entry, 0, f"injected cut after {rule.after_chunks} chunk(s)", served=False)
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


def _finish(provider: FakeProvider, entry: JournalEntry, status: int, error: str, served: bool = True) -> None:
    with provider._lock:  # noqa: SLF001 - the plan is the provider's own helper
        entry.status = status
        entry.error = error
        entry.ended_at = time.monotonic() if served else None

