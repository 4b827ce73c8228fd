"""One run's parameters: :class:`RunSpec`, a frozen typed value with one set of defaults and one check per knob.

Every spelling of a run parameter ends here: the ini key, environment variable and command-line flag
(:mod:`pytest_replyrace.settings`, which takes its defaults from :class:`RunSpec`), the ``replyrace`` marker's
keyword (:mod:`pytest_replyrace.markers`, a partial override applied with :meth:`RunSpec.override`), and a
library call (``DriverSettings(...)``, the same class). A bad value is refused by the knob's one check, with
the source it came from in the message::

    @pytest.mark.replyrace(calls=0) ...: calls=0; expected an integer from 1 to 10000

Adding a run parameter: one field here (its default, its check in :data:`CHECKS`), its option spelling in
``settings.OPTIONS`` and its marker keyword in ``markers``, and its docs row.

A schedule per call: ``send_at``, ``gap``, ``stop_at`` and ``stop_gap`` take a comma list (``"request,end"``)
or a tuple, applied in turn and repeated (:meth:`RunSpec.send_at_of` and the other ``_of`` methods); a single
value is kept as the plain value it always was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from .errors import InvalidArgument
from .letters import BUSY_POLICIES, BusyPolicy
from .units import format_duration, parse_duration, parse_signed_duration

__all__ = [
    "BUSY_POLICIES",
    "CALLS_MAX",
    "CALLS_MIN",
    "CHECKS",
    "DEFAULTS",
    "DISCONNECT_POLICIES",
    "HISTORY_MODES",
    "LIBRARY",
    "SEND_ANCHORS",
    "STOP_ANCHORS",
    "STOP_BY",
    "STOP_CALLS",
    "BusyPolicy",
    "DisconnectPolicy",
    "DriverSettings",
    "HistoryMode",
    "RunSpec",
    "SearchSpec",
    "SendAt",
    "StopAt",
    "StopBy",
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
StopAt = Literal["none", "sent", "first", "request", "served", "text", "end"]
STOP_ANCHORS: tuple[StopAt, ...] = get_args(StopAt)
"""The instant, relative to the call being stopped, at which the client stops it (``gap`` after it): never, its
send, its answer's first event, the provider's receipt of its first request, the provider's end of its text
step, its text-complete event, or its answer's end."""
StopBy = Literal["cancel", "disconnect"]
STOP_BY: tuple[StopBy, ...] = get_args(StopBy)
DisconnectPolicy = Literal["continue", "cancel", "any"]
DISCONNECT_POLICIES: tuple[DisconnectPolicy, ...] = get_args(DisconnectPolicy)
STOP_CALLS = ("odd", "even", "all", "last")
"""The named sets of stopped calls; a comma list of call numbers (``1,4``) is the other spelling."""
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


def check_gap(value: Any, source: str, send_at: Any = "end") -> Any:
    """At least 0, or, with ``send_at="served"``, also negative (that long before the provider's planned end of
    the previous call; never before its request arrived). A comma list is a gap per call."""
    one = _signed(send_at, "gap", "send_at", source, "the previous call")
    return _schedule(value, one, "gap", source, "'1,0'")


def _items(value: Any) -> tuple[Any, ...] | None:
    """A comma list (``"request,end"``) or a tuple as its items; None for a single value."""
    if isinstance(value, str) and "," in value:
        return tuple(part.strip() for part in value.split(","))
    if isinstance(value, tuple):
        return value
    return None


def _schedule(value: Any, check: Callable[[Any], Any], name: str, source: str, example: str) -> Any:
    """One value checked as it is, or a list of them as a tuple (each item checked); an empty list refused."""
    items = _items(value)
    if items is None:
        return check(value)
    if not items or len(items) > CALLS_MAX:
        raise InvalidArgument(
            f"{_at(source)}{name}={value!r}; expected a value or a comma list of values, e.g. {example}"
        )
    try:
        checked = tuple(check(item) for item in items)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{exc} (in {name}={value!r})") from None
    return checked[0] if len(checked) == 1 else checked


def _cycle(value: Any, position: int) -> Any:
    """The value a schedule gives its ``position``-th use (from 0), repeated from the start."""
    return value[position % len(value)] if isinstance(value, tuple) else value


def check_send_at(value: Any, source: str) -> Any:
    one = check_choice("send_at", SEND_ANCHORS)
    return _schedule(value, lambda v: one(v, source), "send_at", source, "'request,end'")


def check_stop_at(value: Any, source: str) -> Any:
    one = check_choice("stop_at", STOP_ANCHORS)
    return _schedule(value, lambda v: one(v, source), "stop_at", source, "'request,end'")


def _signed(anchors: Any, name: str, anchor_name: str, source: str, served: str = "the call") -> Callable[[Any], float]:
    """A gap item: negative only when every anchor it can pair with is ``served``."""
    served_only = all(a == "served" for a in (anchors if isinstance(anchors, tuple) else (anchors,)))
    what = f"{_at(source)}{name}"

    def one(item: Any) -> float:
        if served_only:
            return parse_signed_duration(item, what=what)
        try:
            return parse_duration(item, what=what)
        except ValueError as exc:
            if "must be >= 0" in str(exc):
                raise InvalidArgument(
                    f"{exc} (a negative {name} needs {anchor_name}='served': that long before the provider "
                    f"finishes serving {served})"
                ) from None
            raise

    return one


def check_stop_gap(value: Any, source: str, stop_at: Any = "none") -> Any:
    """At least 0, or, when the stop anchor is ``served``, also negative (never before the request came)."""
    return _schedule(value, _signed(stop_at, "stop_gap", "stop_at", source), "stop_gap", source, "'0.5,0'")


def check_stop_calls(value: Any, source: str) -> str | tuple[int, ...]:
    """``odd``, ``even``, ``all``, ``last``, or call numbers: ``"1,4"``, ``(1, 4)``, ``3``."""
    if isinstance(value, str) and value.strip() in STOP_CALLS:
        return value.strip()
    items = _items(value)
    raw = items if items is not None else (value,)
    numbers: list[int] = []
    for item in raw:
        try:
            number = int(item.strip()) if isinstance(item, str) else item
        except ValueError:
            number = None
        if isinstance(number, bool) or not isinstance(number, int) or not CALLS_MIN <= number <= CALLS_MAX:
            raise InvalidArgument(
                f"{_at(source)}stop_calls={value!r}; expected one of {', '.join(STOP_CALLS)} or call numbers "
                "such as '1,4'"
            )
        numbers.append(number)
    return tuple(sorted(set(numbers)))


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
    "send_at": check_send_at,
    "busy_policy": check_choice("busy_policy", BUSY_POLICIES),
    "history": check_choice("history", HISTORY_MODES),
    "timeout": _duration("timeout", allow_zero=False),
    "settle": _duration("settle", allow_zero=True),
    "pause": check_pause,
    "preamble": check_preamble,
    "stop_at": check_stop_at,
    "stop_calls": check_stop_calls,
    "stop_by": check_choice("stop_by", STOP_BY),
    "disconnect_policy": check_choice("disconnect_policy", DISCONNECT_POLICIES),
    "close_within": _duration("close_within", allow_zero=False),
}
"""The one check of each knob but ``gap`` and ``stop_gap`` (which read ``send_at`` and ``stop_at``):
``check(value, source) -> value``."""
PAIRED = {"gap": ("send_at", check_gap), "stop_gap": ("stop_at", check_stop_gap)}
"""The knobs whose check reads another's value: knob -> (the knob it reads, its check)."""


@dataclass(frozen=True)
class RunSpec:
    """Every parameter of one sequential run, checked once; ``DriverSettings`` is this class.

    Build it with keywords (a library call: a bad value's message starts with its name), or with
    :meth:`checked`/:meth:`override` to name another source (an option, a marker)."""

    calls: int = 10
    gap: float | tuple[float, ...] = 0.0
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
    send_at: SendAt | tuple[SendAt, ...] = "end"
    """When the next message goes out, ``gap`` after it: one of :data:`SEND_ANCHORS`, or a tuple of them, one per
    call in turn (see :meth:`send_at_of`)."""
    busy_policy: BusyPolicy = "queue"
    """What the gateway promises for a message sent while a turn runs: queue, reject, steer, interrupt or any."""
    preamble: tuple[str, ...] = ()
    """Messages sent on the run's session before its first call, each after the previous answer ended."""
    stop_at: StopAt | tuple[StopAt, ...] = "none"
    """When the client stops a stopped call (``stop_gap`` after it): one of :data:`STOP_ANCHORS` or a tuple of
    them, applied to the stopped calls in turn; ``none``: no stops."""
    stop_gap: float | tuple[float, ...] = 0.0
    """Seconds after the stop anchor (negative only with ``served``); a tuple: one per stopped call in turn."""
    stop_calls: str | tuple[int, ...] = "odd"
    """Which calls are stopped: odd, even, all, last, or their numbers."""
    stop_by: StopBy = "cancel"
    """How: the transport's stop call (``cancel``) or closing the answer's connection (``disconnect``)."""
    disconnect_policy: DisconnectPolicy = "any"
    """What the gateway promises when a client goes away mid-answer: continue, cancel or any."""
    close_within: float = 2.0
    """How long after the stop's answer the model call of a stopped turn may stay open."""

    def __post_init__(self) -> None:
        self._check(LIBRARY)

    def _check(self, source: str) -> None:
        for name, check in CHECKS.items():
            object.__setattr__(self, name, check(getattr(self, name), source))
        for name, (reads, paired) in PAIRED.items():
            object.__setattr__(self, name, paired(getattr(self, name), source, getattr(self, reads)))

    # -- a schedule per call --------------------------------------------------

    def send_at_of(self, index: int) -> SendAt:
        """The anchor call ``index``'s send waits for (of call ``index - 1``); calls from 2."""
        return _cycle(self.send_at, max(0, index - 2))  # type: ignore[no-any-return]

    def gap_of(self, index: int) -> float:
        return float(_cycle(self.gap, max(0, index - 2)))

    def stop_at_of(self, nth: int) -> StopAt:
        """The anchor of the ``nth`` stopped call (from 0)."""
        return _cycle(self.stop_at, nth)  # type: ignore[no-any-return]

    def stop_gap_of(self, nth: int) -> float:
        return float(_cycle(self.stop_gap, nth))

    def anchors(self) -> tuple[SendAt, ...]:
        """Every send anchor of the schedule."""
        return self.send_at if isinstance(self.send_at, tuple) else (self.send_at,)

    @property
    def stops(self) -> bool:
        return self.stop_at != "none"

    def stopped(self, index: int) -> bool:
        """Is call ``index`` (from 1) one the client stops?"""
        if not self.stops:
            return False
        which = self.stop_calls
        if isinstance(which, tuple):
            return index in which
        return {"odd": index % 2 == 1, "even": index % 2 == 0, "all": True, "last": index == self.calls}[which]

    def text(self, name: str) -> str:
        """A knob as its spelling: a schedule as its comma list, a duration as seconds."""
        value = getattr(self, name)
        items = value if isinstance(value, tuple) else (value,)
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in items)

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
        for name, (reads, paired) in PAIRED.items():
            if name in values or reads in values:
                values[name] = paired(
                    values.get(name, getattr(self, name)), source, values.get(reads, getattr(self, reads))
                )
        spec = object.__new__(type(self))
        for field in dataclasses.fields(self):
            object.__setattr__(spec, field.name, values.get(field.name, getattr(self, field.name)))
        return spec

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the reports (the pause as a list, as JSON has it)."""
        data = dataclasses.asdict(self)
        data["pause"] = list(self.pause) if self.pause else None
        data["preamble"] = list(self.preamble)
        for name in ("send_at", "gap", "stop_at", "stop_gap", "stop_calls"):
            if isinstance(data[name], tuple):
                data[name] = list(data[name])
        return data


@dataclass(frozen=True)
class SearchSpec:
    """Where a window search looks: RTT and gap ranges, gaps searched, time budget, calls per probe."""

    rtt: tuple[float, float]
    gap: tuple[float, float]
    gaps: int = 3
    budget: float = 120.0
    calls: int = 4

    def text(self) -> str:
        rtt, gap = (":".join(format_duration(v) for v in sorted(set(pair))) for pair in (self.rtt, self.gap))
        return f"rtt={rtt},gap={gap},gaps={self.gaps},budget={format_duration(self.budget)},calls={self.calls}"


DriverSettings = RunSpec
"""The library's name for a run's parameters."""
DEFAULTS = RunSpec()
"""The one set of defaults (the options' defaults too)."""
