"""One run's parameters: :class:`RunSpec`, a frozen typed value with one set of defaults and one check per knob.

Every spelling of a run parameter ends here: the ini key, environment variable and command-line flag
(:mod:`pytest_replyrace.settings`, which takes its defaults from :class:`RunSpec`), the ``replyrace`` marker's
keyword (:mod:`pytest_replyrace.markers`, a partial override applied with :meth:`RunSpec.override`), and a
library call (``DriverSettings(...)``, the same class). A bad value is refused by the knob's one check, with
the source it came from in the message::

    @pytest.mark.replyrace(calls=0) ...: calls=0; expected an integer from 1 to 10000

Adding a run parameter: one field here (its default, its check in :data:`CHECKS`), its option spelling in
``settings.OPTIONS`` and its marker keyword in ``markers``, and its docs row. The stop parameters of the
"when clients stop" issue (``stop_at``, ``stop_gap``, ``stop_calls``, ``stop_by``, ``disconnect_policy``,
``close_within``, and per-call comma lists for ``send_at``/``gap``/``stop_at``/``stop_gap``) go here too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from .errors import InvalidArgument
from .letters import BUSY_POLICIES, BusyPolicy
from .units import parse_duration, parse_signed_duration

__all__ = [
    "BUSY_POLICIES",
    "CALLS_MAX",
    "CALLS_MIN",
    "CHECKS",
    "DEFAULTS",
    "HISTORY_MODES",
    "LIBRARY",
    "SEND_ANCHORS",
    "BusyPolicy",
    "DriverSettings",
    "HistoryMode",
    "RunSpec",
    "SendAt",
    "check_calls",
    "check_choice",
    "check_gap",
    "check_pause",
    "check_preamble",
]

SendAt = Literal["end", "text", "first", "request", "served"]
SEND_ANCHORS: tuple[SendAt, ...] = get_args(SendAt)
"""When the next message goes out (``gap`` after it): the previous answer's end, its text complete, its first
event, the fake provider's receipt of its first request, or the provider's end of serving it."""
HistoryMode = Literal["off", "no-duplicates", "exact"]
HISTORY_MODES: tuple[HistoryMode, ...] = get_args(HistoryMode)
CALLS_MIN, CALLS_MAX = 1, 10_000
PREAMBLE_MAX = 100
LIBRARY = ""
"""A library call (``DriverSettings(...)``) names no source: the message starts with the parameter's name, as
the caller wrote it."""


def _at(source: str) -> str:
    return f"{source}: " if source else ""


def check_calls(value: Any, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not CALLS_MIN <= value <= CALLS_MAX:
        raise InvalidArgument(f"{_at(source)}calls={value!r}; expected an integer from {CALLS_MIN} to {CALLS_MAX}")
    return value


def check_choice(name: str, choices: tuple[str, ...]) -> Callable[[Any, str], Any]:
    def check(value: Any, source: str) -> Any:
        if value not in choices:
            raise InvalidArgument(f"{_at(source)}{name}={value!r}; expected one of {', '.join(choices)}")
        return value

    return check


def check_gap(value: Any, source: str, send_at: str = "end") -> float:
    """At least 0, or, with ``send_at="served"``, also negative (that long before the provider's planned end of
    the previous call; never before its request arrived)."""
    what = f"{_at(source)}gap"
    if send_at == "served":
        return parse_signed_duration(value, what=what)
    try:
        return parse_duration(value, what=what)
    except ValueError as exc:
        if "must be >= 0" in str(exc):
            raise InvalidArgument(
                f"{exc} (a negative gap needs send_at='served': that long before the provider "
                "finishes serving the previous call)"
            ) from None
        raise


def _duration(name: str, allow_zero: bool) -> Callable[[Any, str], float]:
    def check(value: Any, source: str) -> float:
        return parse_duration(value, what=f"{_at(source)}{name}", allow_zero=allow_zero)

    return check


def check_pause(value: Any, source: str) -> tuple[float, float] | None:
    """``(after, length)`` or ``"AFTER:LENGTH"``: freeze the gateway LENGTH s, AFTER s after each reply."""
    if value is None:
        return None
    parts: Any = value.split(":") if isinstance(value, str) else value
    if not isinstance(parts, (tuple, list)) or len(parts) != 2:
        raise InvalidArgument(
            f"{_at(source)}pause {value!r} is not a pause; expected (after, length) or 'AFTER:LENGTH' "
            "in seconds, e.g. (0.02, 1.5) or '20ms:1.5s'"
        )
    what = f"{_at(source)}pause" + ("" if source == LIBRARY else f" {value!r}")
    after = parse_duration(parts[0], what=f"{what} after")
    length = parse_duration(parts[1], what=f"{what} length", allow_zero=False)
    return after, length


def check_preamble(value: Any, source: str) -> tuple[str, ...]:
    messages = (value,) if isinstance(value, str) else value
    if (
        not isinstance(messages, (tuple, list))
        or len(messages) > PREAMBLE_MAX
        or not all(isinstance(m, str) and m.strip() for m in messages)
    ):
        raise InvalidArgument(
            f"{_at(source)}preamble={value!r}; expected a message or a tuple of up to {PREAMBLE_MAX} non-empty "
            "messages, e.g. ('hello', '/new')"
        )
    return tuple(m.strip() for m in messages)


CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "calls": check_calls,
    "send_at": check_choice("send_at", SEND_ANCHORS),
    "busy_policy": check_choice("busy_policy", BUSY_POLICIES),
    "history": check_choice("history", HISTORY_MODES),
    "timeout": _duration("timeout", allow_zero=False),
    "settle": _duration("settle", allow_zero=True),
    "pause": check_pause,
    "preamble": check_preamble,
}
"""The one check of each knob but ``gap`` (which reads ``send_at``): ``check(value, source) -> value``."""


@dataclass(frozen=True)
class RunSpec:
    """Every parameter of one sequential run, checked once; ``DriverSettings`` is this class.

    Build it with keywords (a library call: a bad value's message starts with its name), or with
    :meth:`checked`/:meth:`override` to name another source (an option, a marker)."""

    calls: int = 10
    gap: float = 0.0
    """Seconds after the previous call's ``send_at`` moment before the next send (negative: only ``served``)."""
    timeout: float = 30.0
    """Seconds to wait for one reply before it counts as lost (the option ``call_timeout``)."""
    settle: float = 0.5
    """Seconds to wait after the last call for late log lines and late replies, which still belong to this
    run (OpenClaw 2026.5.x logs a failed follow-up drain ~500 ms after the reply it belongs to); 0: off."""
    pause: tuple[float, float] | None = None
    """Process-pause nemesis (after, length) in seconds; needs ``pause_pgid`` on the sender."""
    history: HistoryMode = "no-duplicates"
    """The conversation check: off, no-duplicates or exact (see :func:`~pytest_replyrace.judge.judge_history`)."""
    send_at: SendAt = "end"
    """When the next message goes out, ``gap`` after it: one of :data:`SEND_ANCHORS`."""
    busy_policy: BusyPolicy = "queue"
    """What the gateway promises for a message sent while a turn runs: queue, reject, steer, interrupt or any."""
    preamble: tuple[str, ...] = ()
    """Messages sent on the run's session before its first call, each after the previous answer ended."""

    def __post_init__(self) -> None:
        self._check(LIBRARY)

    def _check(self, source: str) -> None:
        for name, check in CHECKS.items():
            object.__setattr__(self, name, check(getattr(self, name), source))
        object.__setattr__(self, "gap", check_gap(self.gap, source, self.send_at))

    @classmethod
    def checked(cls, source: str, **values: Any) -> RunSpec:
        """A spec from ``values`` (the rest default), a bad one named by ``source``."""
        return cls().override(source, **values)

    def override(self, source: str, **values: Any) -> RunSpec:
        """This spec with ``values`` replaced, each checked once and a bad one named by ``source``."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise InvalidArgument(f"{_at(source)}no run parameter {', '.join(unknown)}")
        for name, value in values.items():
            if name in CHECKS:
                values[name] = CHECKS[name](value, source)
        send_at = values.get("send_at", self.send_at)
        if "gap" in values or "send_at" in values:
            values["gap"] = check_gap(values.get("gap", self.gap), source, send_at)
        spec = object.__new__(type(self))
        for field in dataclasses.fields(self):
            object.__setattr__(spec, field.name, values.get(field.name, getattr(self, field.name)))
        return spec

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the reports (the pause as a list, as JSON has it)."""
        data = dataclasses.asdict(self)
        data["pause"] = list(self.pause) if self.pause else None
        data["preamble"] = list(self.preamble)
        return data


DriverSettings = RunSpec
"""The library's name for a run's parameters."""
DEFAULTS = RunSpec()
"""The one set of defaults (the options' defaults too)."""
