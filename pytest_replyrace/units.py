"""Durations as users write them: ``0.05``, ``"50ms"``, ``"1.5s"``, ``"2m"``."""

from __future__ import annotations

import math
import re

from .errors import InvalidArgument

__all__ = [
    "DURATION_HELP",
    "MAX_DURATION",
    "MAX_GRACE",
    "bound_text",
    "format_duration",
    "parse_duration",
    "parse_signed_duration",
]

DURATION_HELP = "a number of seconds or a string such as '50ms', '1.5s', '2m'"

MAX_DURATION = 86_400.0
"""The upper bound of every duration (gaps, timeouts, RTTs, budgets, pauses): one day. Above it a value is
a typo, and the event loop's timers and sleeps stop meaning anything."""
MAX_GRACE = 600.0
"""The upper bound of the stop grace: teardown waits this long at most for a gateway to exit."""


def bound_text(limit: float) -> str:
    """``1 day (86400s)``, ``10 min (600s)``: a bound as an error message names it."""
    if limit == MAX_DURATION:
        return f"1 day ({limit:g}s)"
    if limit >= 60 and limit % 60 == 0:
        return f"{limit / 60:g} min ({limit:g}s)"
    return f"{limit:g}s"


_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0}
_DURATION_RE = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(ms|s|m)?\s*$")


def parse_duration(
    value: object, *, what: str = "duration", allow_zero: bool = True, limit: float = MAX_DURATION
) -> float:
    """Seconds from a number or a unit string, at most ``limit``; ValueError names the bad value.

    ``what`` is woven into the message so the caller can say where the value
    came from (``"--replyrace-gap"``, ``"rtt_range(lo=...)"``).
    """
    seconds: float
    if isinstance(value, bool):
        raise InvalidArgument(f"{what}: {value!r} is not a duration; expected {DURATION_HELP}")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float: above any bound
            seconds = math.inf if value > 0 else -math.inf
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if not match:
            raise InvalidArgument(f"{what}: {_shown(value)} is not a duration; expected {DURATION_HELP}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    else:
        raise InvalidArgument(
            f"{what}: {_shown(value)} ({type(value).__name__}) is not a duration; expected {DURATION_HELP}"
        )
    if math.isnan(seconds) or (math.isinf(seconds) and isinstance(value, float)):
        raise InvalidArgument(f"{what}: {_shown(value)} is not a finite duration; expected {DURATION_HELP}")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidArgument(f"{what}: {_shown(value)} must be {bound}; expected {DURATION_HELP}")
    if seconds > limit:
        raise InvalidArgument(
            f"{what}: {_shown(value)} is above the upper bound of {bound_text(limit)}; "
            f"expected {DURATION_HELP}, at most {bound_text(limit)}"
        )
    return seconds


def parse_signed_duration(value: object, *, what: str = "duration", limit: float = MAX_DURATION) -> float:
    """Like :func:`parse_duration`, and also negative (``-20ms``, ``-0.02``): an offset before a moment."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return -parse_duration(-value, what=what, limit=limit)
    if isinstance(value, str) and value.strip().startswith("-"):
        return -parse_duration(value.strip()[1:], what=what, limit=limit)
    return parse_duration(value, what=what, limit=limit)


def _shown(value: object) -> str:
    """The bad value as typed, cut: a 5,000-digit number is named, not printed."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}… ({len(text)} characters)"


def format_duration(seconds: float) -> str:
    """A short, stable label: ``50ms``, ``1.5s``, ``0ms``, ``-20ms``; used in test ids."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 1.0:
        ms = seconds * 1000.0
        text = f"{ms:.3f}".rstrip("0").rstrip(".")
        return f"{text}ms"
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"
