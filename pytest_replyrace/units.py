"""Durations as users write them: ``0.05``, ``"50ms"``, ``"1.5s"``, ``"2m"``."""

from __future__ import annotations

import math
import re

__all__ = ["parse_duration", "format_duration", "DURATION_HELP"]

DURATION_HELP = "a number of seconds or a string such as '50ms', '1.5s', '2m'"

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0}
_DURATION_RE = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(ms|s|m)?\s*$")


def parse_duration(value: object, *, what: str = "duration", allow_zero: bool = True) -> float:
    """Seconds from a number or a unit string; ValueError names the bad value.

    ``what`` is woven into the message so the caller can say where the value
    came from (``"--replyrace-gap"``, ``"rtt_range(lo=...)"``).
    """
    seconds: float
    if isinstance(value, bool):
        raise ValueError(f"{what}: {value!r} is not a duration; expected {DURATION_HELP}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if not match:
            raise ValueError(f"{what}: {value!r} is not a duration; expected {DURATION_HELP}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    else:
        raise ValueError(
            f"{what}: {value!r} ({type(value).__name__}) is not a duration; expected {DURATION_HELP}"
        )
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"{what}: {value!r} is not a finite duration; expected {DURATION_HELP}")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{what}: {value!r} must be {bound}; expected {DURATION_HELP}")
    return seconds


def format_duration(seconds: float) -> str:
    """A short, stable label: ``50ms``, ``1.5s``, ``0ms``; used in test ids."""
    if seconds < 1.0:
        ms = seconds * 1000.0
        text = f"{ms:.3f}".rstrip("0").rstrip(".")
        return f"{text}ms"
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"
