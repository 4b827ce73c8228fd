"""How the fake provider's model behaves: tool-calling turns and paced text streams.

A :class:`ModelSpec` is pure data, validated where it is made (a marker's arguments, a setting, a test's
``fake_provider.model(...)``); the provider applies it to each request (see docs/11-scripted-model.md).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, fields, replace
from typing import Any

from ..errors import InvalidArgument
from ..units import parse_duration

__all__ = ["FILLER", "MAX_PIECES", "MAX_TOOL_CALLS", "MAX_WORDS", "ModelSpec", "piece_schedule"]

MAX_TOOL_CALLS = 100
"""The most tool steps one turn may take."""
MAX_PIECES = 10_000
"""The most pieces a text may be streamed in."""
MAX_WORDS = 100_000
"""The most filler words after the echo."""
FILLER = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")
"""The filler words of ``reply_words``, in turn (never a driver token)."""


def _count(value: Any, name: str, lo: int, hi: int, none: bool = False) -> int | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        accepted = f"an integer from {lo} to {hi}" + (" or None" if none else "")
        raise InvalidArgument(f"{name}={value!r}; expected {accepted}")
    return value


def parse_arguments(value: Any, name: str = "arguments") -> str:
    """The text of a JSON object (a dict is dumped); ValueError names the bad value."""
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return value.strip()
    raise InvalidArgument(f"{name}={value!r}; expected the text of a JSON object such as '{{}}' or '{{\"q\": 1}}'")


def parse_tool(value: Any, name: str = "tool") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise InvalidArgument(f"{name}={value!r}; expected a tool name without spaces (such as session_status) or None")
    return value.strip()


@dataclass(frozen=True)
class ModelSpec:
    """The scripted model: ``tool_calls`` tool steps per turn before the text, and how the text streams."""

    tool_calls: int = 0
    """Tool calls per turn before the text step: a turn takes ``tool_calls + 1`` model calls."""
    tool: str | None = None
    """The tool to call; None: the first tool the request offers."""
    arguments: str = "{}"
    """The call's arguments, the text of a JSON object."""
    ttft: float | None = None
    """Seconds from a request's arrival to its first streamed piece; None: half the RTT (the pieces then end
    before the RTT, the close at it)."""
    reply_pieces: int | None = None
    """How many pieces the text streams in (at most one per character); None: the provider's ``chunks``."""
    reply_words: int = 0
    """Filler words after the echoed tokens."""
    strict_tools: bool = True
    """Refuse a conversation holding a tool call without its result (or a result without its call) with that API's
    own HTTP 400, as the real providers do; False: answer it as any other request."""

    @classmethod
    def make(cls, **values: Any) -> ModelSpec:
        """A spec from loosely typed input; ValueError names the bad value and what is accepted."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidArgument(f"{unknown[0]}: not a model setting; expected {', '.join(sorted(known))}")
        return cls().but(**values)

    def but(self, **values: Any) -> ModelSpec:
        """This spec with ``values`` changed, each validated."""
        checked: dict[str, Any] = {}
        for name, value in values.items():
            if name == "tool_calls":
                checked[name] = _count(value, name, 0, MAX_TOOL_CALLS)
            elif name == "tool":
                checked[name] = parse_tool(value)
            elif name == "arguments":
                checked[name] = parse_arguments(value)
            elif name == "ttft":
                checked[name] = None if value is None else parse_duration(value, what="ttft", limit=3600.0)
            elif name == "reply_pieces":
                checked[name] = _count(value, name, 1, MAX_PIECES, none=True)
            elif name == "reply_words":
                checked[name] = _count(value, name, 0, MAX_WORDS)
            elif name == "strict_tools":
                if not isinstance(value, bool):
                    raise InvalidArgument(f"strict_tools={value!r}; expected True or False")
                checked[name] = value
            else:
                raise InvalidArgument(
                    f"{name}: not a model setting; expected one of " + ", ".join(f.name for f in fields(self))
                )
        return replace(self, **checked)

    def text(self, tokens: list[str], empty: str) -> str:
        """The text step's reply: ``ECHO`` and the tokens (each once, in order), then the filler words."""
        head = ("ECHO " + " ".join(dict.fromkeys(tokens))) if tokens else empty
        if not self.reply_words:
            return head
        return head + " " + " ".join(FILLER[i % len(FILLER)] for i in range(self.reply_words))


def piece_schedule(n: int, rtt: float, ttft: float | None, jitter: float, rng: random.Random) -> list[float]:
    """When each of ``n`` stream pieces is written, in seconds after the request arrived.

    With ``ttft``: the first piece at ``ttft`` (at most the RTT), the last at the RTT, the rest spread evenly
    between them. Without: the first at half the RTT and piece ``i`` at ``rtt/2 + rtt/2 * i/n`` (the close at
    the RTT). ``jitter`` (a fraction) stretches or shrinks each gap between pieces by a seeded draw; the ends
    stay put, so the order holds and the RTT keeps its meaning.
    """
    if n < 1:
        return []
    if ttft is None:
        first, span, slots = rtt / 2, rtt / 2, n
    else:
        first = min(ttft, rtt)
        span, slots = rtt - first, n - 1
    if slots == 0:
        return [first]
    weights = [1.0 + jitter * rng.uniform(-1.0, 1.0) for _ in range(slots)]
    total = sum(weights)
    times, at = [first], first
    steps = weights if ttft is not None else weights[: n - 1]
    scale = span / total
    for weight in steps:
        at += weight * scale
        times.append(at)
    return times[:n]
