"""How long a request takes, arrival to last byte: a fixed RTT, a range, or a fixed value with seeded jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from ..errors import InvalidArgument
from ..units import parse_duration

__all__ = ["RttSpec"]


@dataclass(frozen=True)
class RttSpec:
    """How long a request takes, arrival to last byte.

    ``lo == hi`` is a fixed RTT. ``jitter`` is a fraction: each request draws
    uniformly from ``[lo * (1 - jitter), hi * (1 + jitter)]``.
    """

    lo: float
    hi: float
    jitter: float = 0.0

    @classmethod
    def of(cls, rtt: float | tuple[float, float] | RttSpec, jitter: float = 0.0) -> RttSpec:
        if isinstance(rtt, RttSpec):
            return rtt if jitter == 0.0 else replace(rtt, jitter=jitter)
        # Bounded like every duration: an RTT of 1e20 s would hold a request (and the test) forever.
        if isinstance(rtt, tuple):
            lo, hi = (parse_duration(rtt[0], what=f"rtt {rtt!r} lo"), parse_duration(rtt[1], what=f"rtt {rtt!r} hi"))
        else:
            lo = hi = parse_duration(rtt, what="rtt")
        if hi < lo:
            raise InvalidArgument(f"rtt {rtt!r}: expected seconds >= 0, or a (lo, hi) range with 0 <= lo <= hi")
        if not 0.0 <= jitter < 1.0:
            raise InvalidArgument(f"jitter {jitter!r}: expected a fraction in [0, 1)")
        return cls(lo, hi, jitter)

    def draw(self, rng: random.Random) -> float:
        lo, hi = self.lo * (1.0 - self.jitter), self.hi * (1.0 + self.jitter)
        return lo if hi == lo else rng.uniform(lo, hi)
