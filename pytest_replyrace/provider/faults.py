"""Seeded, journaled fault injection for the fake provider.

A :class:`FaultPlan` holds rules; each request gets the first rule that names
its call in ``calls`` or whose ``rate`` wins a draw from the request's own
seeded generator, so a plan replays exactly under the same seed. A request's
call is the number in its token (``rr-<run>-<n>``: the n-th call of every
run), or its arrival number since the last reset when it carries no token.

Rules are pure data: the provider renders what a fault looks like on the wire.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgument

__all__ = ["FAULT_KINDS", "FaultPlan", "FaultRule"]

FAULT_KINDS: dict[str, str] = {
    "429": "HTTP 429 with Retry-After, at once",
    "500": "HTTP 500, at once",
    "503": "HTTP 503, at once",
    "overloaded": "the API's overloaded answer, at once: HTTP 529 overloaded_error (Anthropic), else HTTP 503",
    "reset": "connection reset before any header",
    "cut": "stream fails after `after_chunks` chunks: the API's error event, or a reset where it has none"
    " (non-streaming: reset after the RTT)",
    "malformed": "a body that is not valid JSON / SSE, after the RTT",
    "ttft": "a slow first token: nothing until `ttft` seconds, then the whole answer (a real, late reply)",
}


MAX_CALL = 10_000
"""The highest call number a rule may name: a run has at most 10,000 calls."""
MAX_CHUNKS = 10_000
"""The most chunks a ``cut`` may wait for (a streamed answer has far fewer)."""


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
            raise InvalidArgument(f"fault kind {self.kind!r} is not known; expected one of {', '.join(FAULT_KINDS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise InvalidArgument(f"fault rate {self.rate!r}: expected a fraction in [0, 1]")
        if any(not isinstance(c, int) or not 1 <= c <= MAX_CALL for c in self.calls):
            raise InvalidArgument(
                f"fault calls {sorted(self.calls)!r}: expected call numbers >= 1 (at most {MAX_CALL})"
            )
        chunks = self.after_chunks
        if isinstance(chunks, bool) or not isinstance(chunks, int) or not 0 <= chunks <= MAX_CHUNKS:
            raise InvalidArgument(f"fault after_chunks {chunks!r}: expected an integer >= 0 (at most {MAX_CHUNKS})")
        for name in ("retry_after", "ttft"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 3600:
                raise InvalidArgument(f"fault {name} {value!r}: expected seconds from 0 to 3600")

    @classmethod
    def make(
        cls,
        kind: Any,
        *,
        rate: Any = 0.0,
        calls: Any = (),
        after_chunks: Any = 1,
        retry_after: Any = 1.0,
        ttft: Any = 2.0,
    ) -> FaultRule:
        """A rule from loosely typed input (a marker's arguments); ValueError names the bad value."""
        if isinstance(kind, bool) or not isinstance(kind, (str, int)):  # 429 means "429"; None or [429] do not
            raise InvalidArgument(f"fault kind {kind!r} is not known; expected one of {', '.join(FAULT_KINDS)}")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise InvalidArgument(f"fault rate {rate!r}: expected a fraction in [0, 1]")
        if isinstance(calls, int) and not isinstance(calls, bool):
            calls = (calls,)
        if not isinstance(calls, Iterable) or isinstance(calls, (str, bytes)):
            raise InvalidArgument(f"fault calls {calls!r}: expected call numbers >= 1, such as [2] or (2, 4)")
        numbers = tuple(calls)
        if any(isinstance(c, bool) or not isinstance(c, int) for c in numbers):
            raise InvalidArgument(f"fault calls {calls!r}: expected call numbers >= 1, such as [2] or (2, 4)")
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
        return cls(
            [
                FaultRule.make(
                    kind, rate=rate, calls=calls, after_chunks=after_chunks, retry_after=retry_after, ttft=ttft
                )
            ]
        )

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __repr__(self) -> str:
        return f"FaultPlan({self.rules!r})"

    def pick(self, call: int, rng: random.Random) -> FaultRule | None:
        """The rule that hits call ``call`` (the first that names it or wins its draw), or None."""
        for rule in self.rules:
            if call in rule.calls:
                return rule
            # Always draw, so adding a rule does not shift later draws.
            if rng.random() < rule.rate:
                return rule
        return None
