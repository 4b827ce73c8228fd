"""The markers' signatures, argument parsing and the RTT grid.

Parsing is pure: a bad argument raises :class:`MarkerError` naming the test,
the marker, the bad value and what is accepted; the plugin turns it into a
collection error.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import MarkerError
from .provider.faults import FAULT_KINDS, FaultRule
from .provider.model import ModelSpec
from .spec import CHECKS, DEFAULTS, SearchSpec, check_gap, check_pause, check_stop_gap
from .tokens import validate_session_key
from .units import format_duration, parse_duration, parse_signed_duration

__all__ = [
    "MARKERS",
    "MarkerError",
    "RttRange",
    "SearchSpec",
    "gap_id",
    "parse_gap_range",
    "parse_pause",
    "parse_provider_faults",
    "parse_provider_model",
    "parse_replyrace",
    "parse_rtt_range",
    "parse_search_marker",
    "parse_search_spec",
    "range_ids",
    "rtt_grid",
    "rtt_id",
]


def _rtt_range_signature(lo: Any, hi: Any, steps: int = 5, scale: str = "log", jitter: float = 0.0) -> None: ...


def _replyrace_signature(
    calls: int = 10,
    gap: Any = 0.0,
    timeout: Any = 30.0,
    session_key: str | None = None,
    pause: Any = None,
    *,
    history: str | None = None,
    send_at: str | None = None,
    busy_policy: str | None = None,
    preamble: Any = None,
    stop_at: Any = None,
    stop_gap: Any = None,
    stop_calls: Any = None,
    stop_by: str | None = None,
    disconnect_policy: str | None = None,
    close_within: Any = None,
) -> None: ...


def _gap_range_signature(lo: Any, hi: Any, steps: int = 4, scale: str = "linear") -> None: ...


def _provider_faults_signature(
    kind: str, rate: float = 0.0, calls: Any = (), after_chunks: int = 1, retry_after: float = 1.0, ttft: float = 2.0
) -> None: ...


def _provider_model_signature(
    tool_calls: int = 1,
    tool: str | None = None,
    arguments: str = "{}",
    ttft: Any = None,
    reply_pieces: int | None = None,
    reply_words: int = 0,
    strict_tools: bool = True,
) -> None: ...


def _replyrace_search_signature(rtt: Any, gap: Any, gaps: int = 3, budget: Any = 120.0, calls: int = 4) -> None: ...


MARKERS: dict[str, str] = {
    "rtt_range": (
        "rtt_range(lo, hi, steps=5, scale='log', jitter=0.0): run the test once per provider RTT from lo to hi "
        "(seconds or strings like '50ms', '1.5s'; scale 'log' or 'linear'; steps=1 with lo == hi pins one RTT; "
        "jitter is a fraction of each RTT), with ids like rtt=50ms"
    ),
    "replyrace": (
        "replyrace(calls=10, gap=0.0, timeout=30.0, session_key=None, pause=None, *, history=None, send_at=None, "
        "busy_policy=None, preamble=None, stop_at=None, stop_gap=None, stop_calls=None, stop_by=None, "
        "disconnect_policy=None, close_within=None): sequential-send settings for this test (calls per run, "
        "pause after each send_at moment, per-call timeout, fixed session key, a process pause nemesis "
        "(after, length): SIGSTOP the launched gateway for length s, after s after each reply, the "
        "conversation check: 'off', 'no-duplicates' or 'exact', when the next message goes out: 'end', "
        "'text', 'first', 'request' or 'served', the gateway's busy policy: 'queue', 'reject', 'steer', "
        "'interrupt' or 'any', and messages sent before the first call, e.g. ('hello', '/new'); send_at, gap, "
        "stop_at and stop_gap take a tuple, one per call in turn; the client's stops: stop_at 'none', 'sent', "
        "'first', 'request', 'served', 'text' or 'end', stop_calls 'odd', 'even', 'all', 'last' or call "
        "numbers, stop_by 'cancel' or 'disconnect', disconnect_policy 'continue', 'cancel' or 'any' "
        "(docs/13-when-clients-stop.md))"
    ),
    "gap_range": (
        "gap_range(lo, hi, steps=4, scale='linear'): run the test once per client gap (the pause after each reply "
        "before the next send; 0 allowed), ids like gap=0ms; combines with rtt_range into a grid rtt=50ms-gap=0ms"
    ),
    "provider_faults": (
        "provider_faults(kind, rate=0.0, calls=(), after_chunks=1, retry_after=1.0, ttft=2.0): inject provider "
        "faults in this test: kind one of " + ", ".join(FAULT_KINDS) + "; on a seeded fraction `rate` of requests "
        "or on the calls numbered in `calls` (each run's n-th call); repeat the marker to add rules"
    ),
    "provider_model": (
        "provider_model(tool_calls=1, tool=None, arguments='{}', ttft=None, reply_pieces=None, reply_words=0, "
        "strict_tools=True): "
        "the scripted model of this test: each turn's first tool_calls requests get a tool call (to `tool`, or the "
        "first tool the request offers; `arguments` a JSON object's text) and the next the text echo; a stream's "
        "first piece at ttft seconds and the rest spread evenly to the RTT, in reply_pieces pieces, with "
        "reply_words filler words after the echo; strict_tools=False answers a tool call without its result "
        "instead of the API's own 400; arguments not given keep the settings'"
    ),
    "replyrace_search": (
        "replyrace_search(rtt, gap, gaps=3, budget=120.0, calls=4): the window search for this test: "
        "sequential_sender.search() with no arguments searches rtt=(lo, hi) and gap=(lo, hi) (or one gap), "
        "and a failing race assertion appends the window it finds (calls per probe, budget in seconds)"
    ),
}

SCALES = ("log", "linear")
MAX_STEPS = 50


@dataclass(frozen=True)
class RttRange:
    values: tuple[float, ...]
    jitter: float = 0.0


def _bind(name: str, signature_of: Any, args: Sequence[Any], kwargs: Mapping[str, Any], where: str) -> dict[str, Any]:
    signature = inspect.signature(signature_of)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        expected, call = MARKERS[name].split(":")[0], _call_text(args, kwargs)
        raise MarkerError(f"{where}: @pytest.mark.{name}{call}: {exc}; expected {expected}") from None
    return dict(bound.arguments)


def _call_text(args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"({', '.join(parts)})"


def _two_figures(seconds: float) -> float:
    """Round to two significant figures (126 ms → 130 ms, 1.078 s → 1.1 s) for readable ids."""
    if seconds <= 0:
        return seconds
    return float(f"{seconds:.2g}")


def rtt_grid(lo: float, hi: float, steps: int, scale: str) -> tuple[float, ...]:
    """``steps`` RTTs from lo to hi; the ends exact, the points between at two significant figures."""
    if steps == 1:
        return (lo,)
    if scale == "log":
        raw = [lo * (hi / lo) ** (i / (steps - 1)) for i in range(steps)]
    else:
        raw = [lo + (hi - lo) * i / (steps - 1) for i in range(steps)]
    rounded = [_two_figures(v) for v in raw]
    rounded[0], rounded[-1] = lo, hi
    unique: dict[float, None] = {}
    for value in rounded:
        unique.setdefault(value, None)
    return tuple(unique)


def rtt_id(rtt: float) -> str:
    return f"rtt={format_duration(rtt)}"


def range_ids(name: str, values: Sequence[float]) -> list[str]:
    """The parametrize ids of a range marker's points (``rtt=50ms``), unique at any scale: when the readable
    labels collide (points under a microsecond apart, such as ``rtt_range(1e-12, 2e-12)``) every point
    is labelled by its exact seconds instead (``rtt=1.2e-12s``), which differ whenever the floats do."""
    labels = [format_duration(v) for v in values]
    if len(set(labels)) < len(labels):
        labels = [f"{v!r}s" for v in values]
    return [f"{name}={label}" for label in labels]


def _parse_range(
    name: str,
    signature_of: Any,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    where: str,
    what: str,
    signed: bool = False,
) -> tuple[tuple[float, ...], dict[str, Any]]:
    """The grid of a range marker (``rtt_range``, ``gap_range``) and its bound arguments."""
    bound = _bind(name, signature_of, args, kwargs, where)
    defaults = {k: p.default for k, p in inspect.signature(signature_of).parameters.items()}
    label = f"{where}: @pytest.mark.{name}{_call_text(args, kwargs)}"
    parse = parse_signed_duration if signed else parse_duration
    try:
        lo = parse(bound["lo"], what=f"{label}: lo")
        hi = parse(bound["hi"], what=f"{label}: hi")
    except ValueError as exc:
        hint = " (a negative gap needs send_at='served')" if name == "gap_range" and "must be >= 0" in str(exc) else ""
        raise MarkerError(f"{exc}{hint}") from None
    steps = bound.get("steps", defaults["steps"])
    scale = bound.get("scale", defaults["scale"])
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise MarkerError(f"{label}: steps={steps!r}; expected an integer from 1 to {MAX_STEPS}")
    if scale not in SCALES:
        raise MarkerError(f"{label}: scale={scale!r}; expected one of {', '.join(repr(s) for s in SCALES)}")
    if hi < lo:
        raise MarkerError(f"{label}: hi ({format_duration(hi)}) is below lo ({format_duration(lo)}); expected lo <= hi")
    if steps == 1 and lo != hi:
        raise MarkerError(f"{label}: steps=1 needs lo == hi (one pinned {what}); expected steps >= 2 for a range")
    if steps > 1 and lo == hi:
        raise MarkerError(f"{label}: lo == hi with steps={steps}; expected steps=1 to pin one {what}")
    if scale == "log" and lo <= 0:
        raise MarkerError(f"{label}: a log scale cannot start at 0; expected lo > 0 or scale='linear'")
    return rtt_grid(lo, hi, steps, scale), bound


def parse_rtt_range(args: Sequence[Any], kwargs: Mapping[str, Any], where: str) -> RttRange:
    values, bound = _parse_range("rtt_range", _rtt_range_signature, args, kwargs, where, "RTT")
    jitter = bound.get("jitter", 0.0)
    if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or math.isnan(jitter) or not 0 <= jitter < 1:
        label = f"{where}: @pytest.mark.rtt_range{_call_text(args, kwargs)}"
        raise MarkerError(f"{label}: jitter={jitter!r}; expected a fraction from 0 to below 1")
    return RttRange(values, float(jitter))


def parse_gap_range(
    args: Sequence[Any], kwargs: Mapping[str, Any], where: str, signed: bool = False
) -> tuple[float, ...]:
    """The client pauses of a ``gap_range`` marker (0 allowed: send at the send_at moment itself; negative
    too when ``signed``, for ``send_at="served"``)."""
    return _parse_range("gap_range", _gap_range_signature, args, kwargs, where, "gap", signed)[0]


def gap_id(gap: float) -> str:
    return f"gap={format_duration(gap)}"


def parse_pause(value: Any, where: str) -> tuple[float, float] | None:
    """``(after, length)`` or ``"AFTER:LENGTH"``: freeze the gateway LENGTH s, AFTER s after each reply (the
    one check is :func:`~pytest_replyrace.spec.check_pause`)."""
    try:
        return check_pause(value, where)
    except ValueError as exc:
        raise MarkerError(str(exc)) from None


def parse_replyrace(
    args: Sequence[Any], kwargs: Mapping[str, Any], where: str, send_at: Any = DEFAULTS.send_at, stop_at: Any = "none"
) -> dict[str, Any]:
    """Only the arguments given: they override the settings for this test (``send_at``: the setting's value,
    which a negative gap needs to be ``served`` unless the marker sets it)."""
    bound = _bind("replyrace", _replyrace_signature, args, kwargs, where)
    label = f"{where}: @pytest.mark.replyrace{_call_text(args, kwargs)}"
    given = {name: value for name, value in bound.items() if value is not None or name in ("calls", "gap", "timeout")}
    if given.get("preamble") in ((), []):  # a marker's preamble names at least one message
        raise MarkerError(
            f"{label}: preamble={given['preamble']!r}; expected a message or a tuple of up to 100 "
            "non-empty messages, e.g. ('hello', '/new')"
        )
    overrides: dict[str, Any] = {}
    try:
        for name, value in given.items():
            if name == "session_key":
                overrides[name] = validate_session_key(value, f"{label}: session_key")
            elif name in CHECKS:
                overrides[name] = CHECKS[name](value, label)
        if "gap" in given:
            overrides["gap"] = check_gap(given["gap"], label, overrides.get("send_at", send_at))
        if "stop_gap" in given:
            overrides["stop_gap"] = check_stop_gap(given["stop_gap"], label, overrides.get("stop_at", stop_at))
    except ValueError as exc:
        raise MarkerError(str(exc)) from None
    return overrides


SEARCH_SPEC_HELP = "rtt=LO:HI,gap=LO[:HI][,gaps=N][,budget=SECONDS][,calls=N], e.g. rtt=50ms:2s,gap=0:1s"


def _search_spec(rtt: Any, gap: Any, gaps: Any, budget: Any, calls: Any, label: str, *, text: bool) -> SearchSpec:
    """``text``: the values come from the option's text, so integers may be strings (a marker's may not)."""

    def pair(value: Any, name: str, allow_zero: bool) -> tuple[float, float]:
        parts = value.split(":") if isinstance(value, str) else value
        if isinstance(parts, (int, float, str)) and not isinstance(parts, bool) and name == "gap":
            parts = (parts, parts)  # one gap: search that gap alone
        if not isinstance(parts, (tuple, list)) or len(parts) not in ((1, 2) if name == "gap" else (2,)):
            raise MarkerError(f"{label}: {name}={value!r} is not a range; expected (lo, hi) or 'LO:HI'")
        if len(parts) == 1:
            parts = (parts[0], parts[0])
        try:
            lo, hi = (parse_duration(v, what=f"{label}: {name}", allow_zero=allow_zero) for v in parts)
        except ValueError as exc:
            raise MarkerError(str(exc)) from None
        if hi < lo or (name == "rtt" and hi == lo):
            raise MarkerError(f"{label}: {name}={value!r}: expected lo {'<' if name == 'rtt' else '<='} hi")
        return lo, hi

    def integer(value: Any, name: str, lo: int, hi: int) -> int:
        try:
            number = int(value) if text and isinstance(value, str) else value
        except ValueError:
            number = None
        if isinstance(number, bool) or not isinstance(number, int) or not lo <= number <= hi:
            raise MarkerError(f"{label}: {name}={value!r}; expected an integer from {lo} to {hi}")
        return number

    try:
        seconds = parse_duration(budget, what=f"{label}: budget", allow_zero=False)
    except ValueError as exc:
        raise MarkerError(str(exc)) from None
    return SearchSpec(
        pair(rtt, "rtt", False),
        pair(gap, "gap", True),
        integer(gaps, "gaps", 1, 20),
        seconds,
        integer(calls, "calls", 2, 100),
    )


def parse_search_marker(args: Sequence[Any], kwargs: Mapping[str, Any], where: str) -> SearchSpec:
    bound = _bind("replyrace_search", _replyrace_search_signature, args, kwargs, where)
    defaults = {k: p.default for k, p in inspect.signature(_replyrace_search_signature).parameters.items()}
    values = {**defaults, **bound}
    label = f"{where}: @pytest.mark.replyrace_search{_call_text(args, kwargs)}"
    return _search_spec(
        values["rtt"], values["gap"], values["gaps"], values["budget"], values["calls"], label, text=False
    )


def parse_search_spec(raw: str, where: str) -> SearchSpec:
    """``rtt=50ms:2s,gap=0:1s,gaps=3,budget=120s,calls=4`` (the option form)."""
    fields: dict[str, str] = {}
    for part in (p.strip() for p in raw.split(",")):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in ("rtt", "gap", "gaps", "budget", "calls") or key in fields:
            raise MarkerError(f"{where}: {raw!r}: {part!r} is not accepted; expected {SEARCH_SPEC_HELP}")
        fields[key] = value.strip()
    missing = [k for k in ("rtt", "gap") if k not in fields]
    if missing:
        raise MarkerError(f"{where}: {raw!r} has no {' and no '.join(missing)}; expected {SEARCH_SPEC_HELP}")
    label = f"{where}: {raw!r}"
    return _search_spec(
        fields["rtt"],
        fields["gap"],
        fields.get("gaps", SearchSpec.gaps),
        fields.get("budget", SearchSpec.budget),
        fields.get("calls", SearchSpec.calls),
        label,
        text=True,
    )


def parse_provider_faults(marks: Sequence[Any], where: str) -> list[FaultRule]:
    """One fault rule per ``provider_faults`` marker (closest first)."""
    rules = []
    for mark in marks:
        bound = _bind("provider_faults", _provider_faults_signature, mark.args, mark.kwargs, where)
        try:
            rules.append(FaultRule.make(**bound))
        except ValueError as exc:
            call = _call_text(mark.args, mark.kwargs)
            raise MarkerError(f"{where}: @pytest.mark.provider_faults{call}: {exc}") from None
    return rules


def parse_provider_model(mark: Any, where: str, base: ModelSpec | None = None) -> ModelSpec:
    """The scripted model of a ``provider_model`` marker: ``base`` (the settings') with the arguments given, and
    ``tool_calls=1`` unless it says otherwise."""
    bound = _bind("provider_model", _provider_model_signature, mark.args, mark.kwargs, where)
    bound.setdefault("tool_calls", 1)
    try:
        return (base if base is not None else ModelSpec()).but(**bound)
    except ValueError as exc:
        raise MarkerError(f"{where}: @pytest.mark.provider_model{_call_text(mark.args, mark.kwargs)}: {exc}") from None
