"""Marker arguments: the RTT grid and every rejection message."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_replyrace import markers

WHERE = "test_x.py::test_race"


def test_log_grid_is_rounded_and_keeps_the_ends() -> None:
    assert markers.rtt_grid(0.05, 2.0, 5, "log") == (0.05, 0.13, 0.32, 0.8, 2.0)
    assert [markers.rtt_id(v) for v in markers.rtt_grid(0.05, 2.0, 5, "log")] == [
        "rtt=50ms",
        "rtt=130ms",
        "rtt=320ms",
        "rtt=800ms",
        "rtt=2s",
    ]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1e-12, 2e-12), {}), ((0, 1e-9), {"steps": 50, "scale": "linear"}), ((0.0001, 0.0001005), {"steps": 2})],
)
def test_ids_are_unique_at_any_scale(args: tuple[float, float], kwargs: dict[str, Any]) -> None:
    values = markers.parse_rtt_range(args, kwargs, WHERE).values
    ids = markers.range_ids("rtt", values)
    assert len(set(ids)) == len(ids) == len(values) > 1, ids


def test_ids_below_a_microsecond_name_the_exact_seconds() -> None:
    assert markers.range_ids("rtt", markers.parse_rtt_range((1e-12, 2e-12), {"steps": 3}, WHERE).values) == [
        "rtt=1e-12s",
        "rtt=1.4e-12s",
        "rtt=2e-12s",
    ]


def test_readable_ids_stay_when_they_are_unique() -> None:
    assert markers.range_ids("gap", [0.0, 0.05, 1.5]) == ["gap=0ms", "gap=50ms", "gap=1.5s"]


def test_linear_grid_and_pin() -> None:
    assert markers.rtt_grid(0.0, 1.0, 3, "linear") == (0.0, 0.5, 1.0)
    assert markers.parse_rtt_range(("50ms", "50ms"), {"steps": 1}, WHERE).values == (0.05,)


def test_strings_and_numbers_mix() -> None:
    parsed = markers.parse_rtt_range(("50ms", 3), {"steps": 2, "jitter": 0.3}, WHERE)
    assert parsed.values == (0.05, 3.0) and parsed.jitter == 0.3


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        (("fast", 2), {}, "lo: 'fast' is not a duration; expected a number of seconds or a string such as '50ms'"),
        ((0.05, "slow"), {}, "hi: 'slow' is not a duration"),
        ((2, 0.05), {}, "hi (50ms) is below lo (2s); expected lo <= hi"),
        ((0.05, 2), {"steps": 0}, "steps=0; expected an integer from 1 to 50"),
        ((0.05, 2), {"steps": 2.5}, "steps=2.5; expected an integer from 1 to 50"),
        ((0.05, 2), {"scale": "exp"}, "scale='exp'; expected one of 'log', 'linear'"),
        ((0.05, 2), {"jitter": 1.5}, "jitter=1.5; expected a fraction from 0 to below 1"),
        ((0, 2), {}, "a log scale cannot start at 0"),
        ((0.05, 2), {"steps": 1}, "steps=1 needs lo == hi"),
        ((0.05, 0.05), {}, "lo == hi with steps=5; expected steps=1"),
        ((0.05,), {}, "missing a required argument: 'hi'"),
        ((0.05, 2), {"stpes": 3}, "unexpected keyword argument 'stpes'"),
    ],
)
def test_rtt_range_rejects(args: tuple[Any, ...], kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(markers.MarkerError) as info:
        markers.parse_rtt_range(args, kwargs, WHERE)
    message = str(info.value)
    assert message.startswith(f"{WHERE}: @pytest.mark.rtt_range(")
    assert fragment in message


def test_replyrace_marker_keeps_only_given_arguments() -> None:
    assert markers.parse_replyrace((), {}, WHERE) == {}
    assert markers.parse_replyrace((), {"calls": 4, "gap": "200ms", "timeout": 5}, WHERE) == {
        "calls": 4,
        "gap": 0.2,
        "timeout": 5.0,
    }
    assert markers.parse_replyrace((), {"session_key": "agent:test:main"}, WHERE) == {"session_key": "agent:test:main"}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"calls": 0}, "calls=0; expected an integer from 1 to 10000"),
        ({"calls": "3"}, "calls='3'; expected an integer"),
        ({"gap": -1}, "gap: -1 must be >= 0"),
        ({"timeout": 0}, "timeout: 0 must be > 0"),
        ({"session_key": "rr-abcd-1"}, "looks like a call token"),
        ({"sessions": 2}, "unexpected keyword argument 'sessions'"),
    ],
)
def test_replyrace_marker_rejects(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(markers.MarkerError) as info:
        markers.parse_replyrace((), kwargs, WHERE)
    assert fragment in str(info.value)
    assert str(info.value).startswith(WHERE)


def test_search_marker_and_option_agree() -> None:
    marker = markers.parse_search_marker((("50ms", 2),), {"gap": (0, "1s"), "gaps": 2, "calls": 3}, WHERE)
    option = markers.parse_search_spec("rtt=50ms:2s, gap=0:1s, gaps=2, calls=3", "--replyrace-search")
    assert marker == option
    assert (marker.rtt, marker.gap, marker.gaps, marker.budget, marker.calls) == ((0.05, 2.0), (0.0, 1.0), 2, 120.0, 3)
    assert markers.parse_search_spec(marker.text(), "x") == marker  # the header's text reads back
    assert markers.parse_search_spec("rtt=0.1:1,gap=0.3", "x").gap == (0.3, 0.3)  # one gap


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("gap=0:1s", "'gap=0:1s' has no rtt; expected rtt=LO:HI,gap=LO[:HI]"),
        ("rtt=50ms:2s", "has no gap"),
        ("rtt=50ms:2s,gap=0,speed=3", "'speed=3' is not accepted; expected rtt=LO:HI"),
        ("rtt=50ms:2s,gap=0,gap=1", "'gap=1' is not accepted"),
        ("rtt=2s:50ms,gap=0", "rtt='2s:50ms': expected lo < hi"),
        ("rtt=0:2s,gap=0", "rtt: '0' must be > 0"),
        ("rtt=50ms,gap=0", "rtt='50ms' is not a range; expected (lo, hi) or 'LO:HI'"),
        ("rtt=50ms:2s,gap=1:0", "gap='1:0': expected lo <= hi"),
        ("rtt=50ms:2s,gap=0,gaps=0", "gaps='0'; expected an integer from 1 to 20"),
        ("rtt=50ms:2s,gap=0,calls=1", "calls='1'; expected an integer from 2 to 100"),
        ("rtt=50ms:2s,gap=0,budget=soon", "budget: 'soon' is not a duration"),
    ],
)
def test_search_spec_rejects(raw: str, fragment: str) -> None:
    with pytest.raises(markers.MarkerError) as excinfo:
        markers.parse_search_spec(raw, "--replyrace-search")
    assert str(excinfo.value).startswith("--replyrace-search: ")
    assert fragment in str(excinfo.value)


def test_search_marker_rejects_a_missing_range() -> None:
    with pytest.raises(
        markers.MarkerError, match=r"replyrace_search\(rtt=\(0.05, 1\)\): missing a required argument: 'gap'"
    ):
        markers.parse_search_marker((), {"rtt": (0.05, 1)}, WHERE)


# Bad input everywhere: every argument of every marker, wrong types and ranges, unknown and missing arguments.
SECONDS = "a number of seconds"
STEPS = "an integer from 1 to 50"
FRACTION = "a fraction from 0 to below 1"
KINDS = "429, 500, 503, overloaded, reset, cut, malformed, ttft"
HUGE = 99999999999999999999
DAY = "at most 1 day (86400s)"
RANGE = "(lo, hi) or 'LO:HI'"
PAUSE = "(after, length) or 'AFTER:LENGTH'"
SIGNATURE = "<signature>"
"""The ``arg`` of a row about the call's shape: an unknown keyword, too many or too few arguments."""

# (marker, argument the row is about, args, kwargs, the bad value as the explanation shows it, what is accepted)
MARKER_BAD: list[tuple[str, str, tuple[Any, ...], dict[str, Any], str, str]] = [
    ("rtt_range", "lo", ("fast", 2), {}, "'fast'", SECONDS),
    ("rtt_range", "lo", (None, 2), {}, "None (NoneType)", SECONDS),
    ("rtt_range", "lo", (True, 2), {}, "True", SECONDS),
    ("rtt_range", "lo", (-1, 2), {}, "-1", ">= 0"),
    ("rtt_range", "lo", (0, 2), {}, "start at 0", "lo > 0 or scale='linear'"),
    ("rtt_range", "lo", (HUGE, HUGE), {"steps": 1}, "lo: 99999999999999999999", DAY),
    ("rtt_range", "hi", (0.05, "slow"), {}, "'slow'", SECONDS),
    ("rtt_range", "hi", (0.05, float("nan")), {}, "nan", SECONDS),
    ("rtt_range", "hi", (0.05, HUGE), {}, "hi: 99999999999999999999", DAY),
    ("rtt_range", "hi", (0.05, "1441m"), {}, "hi: '1441m'", DAY),
    ("rtt_range", "hi", (2, 0.05), {}, "hi (50ms) is below lo (2s)", "lo <= hi"),
    ("rtt_range", "steps", (0.05, 2), {"steps": 0}, "steps=0", STEPS),
    ("rtt_range", "steps", (0.05, 2), {"steps": 51}, "steps=51", STEPS),
    ("rtt_range", "steps", (0.05, 2), {"steps": 2.5}, "steps=2.5", STEPS),
    ("rtt_range", "steps", (0.05, 2), {"steps": "5"}, "steps='5'", STEPS),
    ("rtt_range", "steps", (0.05, 2), {"steps": True}, "steps=True", STEPS),
    ("rtt_range", "steps", (0.05, 2), {"steps": HUGE}, "steps=99999999999999999999", STEPS),
    ("rtt_range", "steps", (0.05, 2), {"steps": 1}, "steps=1", "steps >= 2"),
    ("rtt_range", "steps", (0.05, 0.05), {}, "lo == hi with steps=5", "steps=1"),
    ("rtt_range", "scale", (0.05, 2), {"scale": "exp"}, "scale='exp'", "'log', 'linear'"),
    ("rtt_range", "scale", (0.05, 2), {"scale": 3}, "scale=3", "'log', 'linear'"),
    ("rtt_range", "jitter", (0.05, 2), {"jitter": 1.5}, "jitter=1.5", FRACTION),
    ("rtt_range", "jitter", (0.05, 2), {"jitter": -0.1}, "jitter=-0.1", FRACTION),
    ("rtt_range", "jitter", (0.05, 2), {"jitter": "0.1"}, "jitter='0.1'", FRACTION),
    ("rtt_range", "jitter", (0.05, 2), {"jitter": True}, "jitter=True", FRACTION),
    ("rtt_range", "jitter", (0.05, 2), {"jitter": float("nan")}, "jitter=nan", FRACTION),
    ("rtt_range", "jitter", (0.05, 2), {"jitter": HUGE}, "jitter=99999999999999999999", FRACTION),
    ("rtt_range", SIGNATURE, (0.05, 2), {"stpes": 3}, "'stpes'", "rtt_range(lo, hi, steps=5"),
    ("rtt_range", SIGNATURE, (0.05, 2, 5, "log", 0.1, 9), {}, "too many positional arguments", "rtt_range(lo, hi"),
    ("rtt_range", SIGNATURE, (0.05,), {}, "missing a required argument: 'hi'", "rtt_range(lo, hi"),
    ("rtt_range", SIGNATURE, (0.05, 2), {"lo": 1}, "multiple values for argument 'lo'", "rtt_range(lo, hi"),
    ("gap_range", "lo", (-1, 2), {}, "-1", ">= 0"),
    ("gap_range", "lo", ("x", 2), {}, "'x'", SECONDS),
    ("gap_range", "lo", ([0], 2), {}, "[0] (list)", SECONDS),
    ("gap_range", "hi", (1, 0.5), {}, "hi (500ms) is below lo (1s)", "lo <= hi"),
    ("gap_range", "hi", (0, str(HUGE)), {}, "hi: '99999999999999999999'", DAY),
    ("gap_range", "lo", (float(HUGE), 2), {}, "lo: 1e+20", DAY),
    ("gap_range", "hi", (0, "1 sec"), {}, "hi: '1 sec'", SECONDS),
    ("gap_range", "steps", (0, 1), {"steps": 0}, "steps=0", STEPS),
    ("gap_range", "steps", (0, 1), {"steps": "4"}, "steps='4'", STEPS),
    ("gap_range", "steps", (0, 1), {"steps": HUGE}, "steps=99999999999999999999", STEPS),
    ("gap_range", "steps", (0, 1), {"steps": 1}, "steps=1", "steps >= 2"),
    ("gap_range", "steps", (0, 0), {}, "lo == hi with steps=4", "steps=1"),
    ("gap_range", "scale", (0, 1), {"scale": "exp"}, "scale='exp'", "'log', 'linear'"),
    ("gap_range", "scale", (0, 1), {"scale": "log"}, "start at 0", "lo > 0 or scale='linear'"),
    ("gap_range", SIGNATURE, (0, 1), {"jitter": 0.1}, "'jitter'", "gap_range(lo, hi, steps=4"),
    ("gap_range", SIGNATURE, (0, 1, 4, "linear", 1), {}, "too many positional arguments", "gap_range(lo, hi"),
    ("gap_range", SIGNATURE, (), {}, "missing a required argument: 'lo'", "gap_range(lo, hi"),
    ("replyrace", "calls", (), {"calls": 0}, "calls=0", "an integer from 1 to 10000"),
    ("replyrace", "calls", (), {"calls": 10_001}, "calls=10001", "an integer from 1 to 10000"),
    ("replyrace", "calls", (), {"calls": "3"}, "calls='3'", "an integer from 1 to 10000"),
    ("replyrace", "calls", (), {"calls": 2.0}, "calls=2.0", "an integer from 1 to 10000"),
    ("replyrace", "calls", (), {"calls": True}, "calls=True", "an integer from 1 to 10000"),
    ("replyrace", "calls", (), {"calls": None}, "calls=None", "an integer from 1 to 10000"),
    ("replyrace", "calls", (-2,), {}, "calls=-2", "an integer from 1 to 10000"),
    ("replyrace", "calls", (HUGE,), {}, "calls=99999999999999999999", "an integer from 1 to 10000"),
    ("replyrace", "gap", (), {"gap": -1}, "-1", ">= 0"),
    ("replyrace", "gap", (), {"gap": "soon"}, "'soon'", SECONDS),
    ("replyrace", "gap", (), {"gap": True}, "True", SECONDS),
    ("replyrace", "gap", (), {"gap": [1]}, "[1] (list)", SECONDS),
    ("replyrace", "gap", (), {"gap": HUGE}, "gap: 99999999999999999999", DAY),
    ("replyrace", "timeout", (), {"timeout": 0}, "0", "> 0"),
    ("replyrace", "timeout", (), {"timeout": -1}, "-1", "> 0"),
    ("replyrace", "timeout", (), {"timeout": "x"}, "'x'", SECONDS),
    ("replyrace", "timeout", (), {"timeout": None}, "None (NoneType)", SECONDS),
    ("replyrace", "timeout", (), {"timeout": HUGE}, "timeout: 99999999999999999999", DAY),
    ("replyrace", "timeout", (), {"timeout": 10**400}, "timeout: 1000", DAY),
    ("replyrace", "session_key", (), {"session_key": ""}, "''", "a non-empty string"),
    ("replyrace", "session_key", (), {"session_key": 5}, "5", "a non-empty string"),
    ("replyrace", "session_key", (), {"session_key": "rr-abcd-1"}, "'rr-abcd-1'", "a key without that shape"),
    ("replyrace", "pause", (), {"pause": 1.5}, "1.5", PAUSE),
    ("replyrace", "pause", (), {"pause": (1,)}, "(1,)", PAUSE),
    ("replyrace", "pause", (), {"pause": "20ms"}, "'20ms'", PAUSE),
    ("replyrace", "pause", (), {"pause": (0.02, 0)}, "pause (0.02, 0) length: 0", "> 0"),
    ("replyrace", "pause", (), {"pause": "20ms:0"}, "pause '20ms:0' length: '0'", "> 0"),
    ("replyrace", "pause", (), {"pause": ("x", 1)}, "pause ('x', 1) after: 'x'", SECONDS),
    ("replyrace", "pause", (), {"pause": (-1, 1)}, "pause (-1, 1) after: -1", ">= 0"),
    ("replyrace", "pause", (), {"pause": (0.02, HUGE)}, "length: 99999999999999999999", DAY),
    ("replyrace", "pause", (), {"pause": f"{HUGE}:1s"}, "after: '99999999999999999999'", DAY),
    ("replyrace", SIGNATURE, (), {"sessions": 2}, "'sessions'", "replyrace(calls=10, gap=0.0"),
    ("replyrace", "history", (), {"history": "strict"}, "history='strict'", "off, no-duplicates, exact"),
    ("replyrace", "history", (), {"history": True}, "history=True", "off, no-duplicates, exact"),
    ("replyrace", "send_at", (), {"send_at": "reply"}, "send_at='reply'", "end, text, first, request, served"),
    ("replyrace", "send_at", (), {"send_at": 1}, "send_at=1", "end, text, first, request, served"),
    (
        "replyrace",
        "busy_policy",
        (),
        {"busy_policy": "drop"},
        "busy_policy='drop'",
        "queue, reject, steer, interrupt, any",
    ),
    ("replyrace", "preamble", (), {"preamble": ("hello", "")}, "preamble=('hello', '')", "non-empty messages"),
    ("replyrace", "preamble", (), {"preamble": 5}, "preamble=5", "('hello', '/new')"),
    ("replyrace", "stop_at", (), {"stop_at": "later"}, "stop_at='later'", "none, sent, first, request, served"),
    ("replyrace", "stop_at", (), {"stop_at": ("request", "x")}, "stop_at='x'", "none, sent, first, request"),
    ("replyrace", "stop_gap", (), {"stop_gap": "-20ms"}, "stop_gap: '-20ms' must be >= 0", "stop_at='served'"),
    ("replyrace", "stop_gap", (), {"stop_gap": "soon"}, "stop_gap: 'soon'", SECONDS),
    ("replyrace", "stop_calls", (), {"stop_calls": "first"}, "stop_calls='first'", "odd, even, all, last"),
    ("replyrace", "stop_calls", (), {"stop_calls": (0, 2)}, "stop_calls=(0, 2)", "call numbers such as '1,4'"),
    ("replyrace", "stop_by", (), {"stop_by": "kill"}, "stop_by='kill'", "cancel, disconnect"),
    (
        "replyrace",
        "disconnect_policy",
        (),
        {"disconnect_policy": "drop"},
        "disconnect_policy='drop'",
        "continue, cancel, any",
    ),
    ("replyrace", "close_within", (), {"close_within": 0}, "close_within: 0", "> 0"),
    ("replyrace", SIGNATURE, (1, 2, 3, 4, 5, 6), {}, "too many positional arguments", "replyrace(calls=10"),
    ("replyrace_search", "rtt", (0.05,), {"gap": 0}, "rtt=0.05", RANGE),
    ("replyrace_search", "rtt", ("50ms",), {"gap": 0}, "rtt='50ms'", RANGE),
    ("replyrace_search", "rtt", (None,), {"gap": 0}, "rtt=None", RANGE),
    ("replyrace_search", "rtt", ((2, 0.05),), {"gap": 0}, "rtt=(2, 0.05)", "lo < hi"),
    ("replyrace_search", "rtt", ((0.05, 0.05),), {"gap": 0}, "rtt=(0.05, 0.05)", "lo < hi"),
    ("replyrace_search", "rtt", ((0, 2),), {"gap": 0}, "rtt: 0", "> 0"),
    ("replyrace_search", "rtt", (("fast", 2),), {"gap": 0}, "rtt: 'fast'", SECONDS),
    ("replyrace_search", "rtt", ((0.05, HUGE),), {"gap": 0}, "rtt: 99999999999999999999", DAY),
    ("replyrace_search", "gap", ((0.05, 2),), {"gap": None}, "gap=None", RANGE),
    ("replyrace_search", "gap", ((0.05, 2),), {"gap": (0, 1, 2)}, "gap=(0, 1, 2)", RANGE),
    ("replyrace_search", "gap", ((0.05, 2),), {"gap": (1, 0)}, "gap=(1, 0)", "lo <= hi"),
    ("replyrace_search", "gap", ((0.05, 2),), {"gap": -1}, "gap: -1", ">= 0"),
    ("replyrace_search", "gap", ((0.05, 2),), {"gap": HUGE}, "gap: 99999999999999999999", DAY),
    ("replyrace_search", "gaps", ((0.05, 2),), {"gap": 0, "gaps": 0}, "gaps=0", "an integer from 1 to 20"),
    ("replyrace_search", "gaps", ((0.05, 2),), {"gap": 0, "gaps": 21}, "gaps=21", "an integer from 1 to 20"),
    ("replyrace_search", "gaps", ((0.05, 2),), {"gap": 0, "gaps": 2.5}, "gaps=2.5", "an integer from 1 to 20"),
    ("replyrace_search", "gaps", ((0.05, 2),), {"gap": 0, "gaps": "3"}, "gaps='3'", "an integer from 1 to 20"),
    (
        "replyrace_search",
        "gaps",
        ((0.05, 2),),
        {"gap": 0, "gaps": HUGE},
        "gaps=99999999999999999999",
        "an integer from 1 to 20",
    ),
    ("replyrace_search", "budget", ((0.05, 2),), {"gap": 0, "budget": 0}, "budget: 0", "> 0"),
    ("replyrace_search", "budget", ((0.05, 2),), {"gap": 0, "budget": "soon"}, "budget: 'soon'", SECONDS),
    ("replyrace_search", "budget", ((0.05, 2),), {"gap": 0, "budget": HUGE}, "budget: 99999999999999999999", DAY),
    ("replyrace_search", "calls", ((0.05, 2),), {"gap": 0, "calls": 1}, "calls=1", "an integer from 2 to 100"),
    ("replyrace_search", "calls", ((0.05, 2),), {"gap": 0, "calls": 101}, "calls=101", "an integer from 2 to 100"),
    ("replyrace_search", "calls", ((0.05, 2),), {"gap": 0, "calls": True}, "calls=True", "an integer from 2 to 100"),
    ("replyrace_search", "calls", ((0.05, 2),), {"gap": 0, "calls": "4"}, "calls='4'", "an integer from 2 to 100"),
    (
        "replyrace_search",
        "calls",
        ((0.05, 2),),
        {"gap": 0, "calls": HUGE},
        "calls=99999999999999999999",
        "an integer from 2 to 100",
    ),
    ("replyrace_search", SIGNATURE, ((0.05, 2),), {"gap": 0, "bogus": 1}, "'bogus'", "replyrace_search(rtt, gap"),
    (
        "replyrace_search",
        SIGNATURE,
        ((0.05, 2), 0, 3, 120, 4, 9),
        {},
        "too many positional arguments",
        "replyrace_search(rtt, gap",
    ),
    ("replyrace_search", SIGNATURE, ((0.05, 2),), {}, "missing a required argument: 'gap'", "replyrace_search(rtt"),
    ("provider_faults", "kind", ("timeout",), {}, "'timeout'", KINDS),
    ("provider_faults", "kind", (None,), {}, "fault kind None is", KINDS),
    ("provider_faults", "kind", ([429],), {}, "fault kind [429] is", KINDS),
    ("provider_faults", "rate", ("500",), {"rate": 1.5}, "fault rate 1.5", "a fraction in [0, 1]"),
    ("provider_faults", "rate", ("500",), {"rate": -0.1}, "fault rate -0.1", "a fraction in [0, 1]"),
    ("provider_faults", "rate", ("500",), {"rate": "0.5"}, "fault rate '0.5'", "a fraction in [0, 1]"),
    ("provider_faults", "rate", ("500",), {"rate": True}, "fault rate True", "a fraction in [0, 1]"),
    ("provider_faults", "rate", ("500",), {"rate": float("nan")}, "fault rate nan", "a fraction in [0, 1]"),
    ("provider_faults", "rate", ("500",), {"rate": HUGE}, "fault rate 1e+20", "a fraction in [0, 1]"),
    ("provider_faults", "calls", ("500",), {"calls": 0}, "fault calls [0]", "call numbers >= 1"),
    ("provider_faults", "calls", ("500",), {"calls": [0, 2]}, "fault calls [0, 2]", "call numbers >= 1"),
    ("provider_faults", "calls", ("500",), {"calls": "2"}, "fault calls '2'", "call numbers >= 1"),
    ("provider_faults", "calls", ("500",), {"calls": [2.0]}, "fault calls [2.0]", "call numbers >= 1"),
    ("provider_faults", "calls", ("500",), {"calls": [True]}, "fault calls [True]", "call numbers >= 1"),
    ("provider_faults", "calls", ("500",), {"calls": None}, "fault calls None", "call numbers >= 1"),
    (
        "provider_faults",
        "calls",
        ("500",),
        {"calls": [2, HUGE]},
        "fault calls [2, 99999999999999999999]",
        "at most 10000",
    ),
    ("provider_faults", "after_chunks", ("cut",), {"after_chunks": -1}, "after_chunks -1", "an integer >= 0"),
    ("provider_faults", "after_chunks", ("cut",), {"after_chunks": 1.5}, "after_chunks 1.5", "an integer >= 0"),
    ("provider_faults", "after_chunks", ("cut",), {"after_chunks": True}, "after_chunks True", "an integer >= 0"),
    (
        "provider_faults",
        "after_chunks",
        ("cut",),
        {"after_chunks": HUGE},
        "after_chunks 99999999999999999999",
        "at most 10000",
    ),
    ("provider_faults", "retry_after", ("429",), {"retry_after": -1}, "retry_after -1", "seconds from 0 to 3600"),
    ("provider_faults", "retry_after", ("429",), {"retry_after": 4000}, "retry_after 4000", "seconds from 0 to 3600"),
    ("provider_faults", "retry_after", ("429",), {"retry_after": "1s"}, "retry_after '1s'", "seconds from 0 to 3600"),
    (
        "provider_faults",
        "retry_after",
        ("429",),
        {"retry_after": HUGE},
        "retry_after 99999999999999999999",
        "seconds from 0 to 3600",
    ),
    ("provider_faults", "ttft", ("ttft",), {"ttft": -1}, "ttft -1", "seconds from 0 to 3600"),
    ("provider_faults", "ttft", ("ttft",), {"ttft": "2s"}, "ttft '2s'", "seconds from 0 to 3600"),
    ("provider_faults", "ttft", ("ttft",), {"ttft": float("nan")}, "ttft nan", "seconds from 0 to 3600"),
    ("provider_faults", "ttft", ("ttft",), {"ttft": HUGE}, "ttft 99999999999999999999", "seconds from 0 to 3600"),
    ("provider_model", "tool_calls", (), {"tool_calls": -1}, "tool_calls=-1", "an integer from 0 to 100"),
    ("provider_model", "tool_calls", (), {"tool_calls": "1"}, "tool_calls='1'", "an integer from 0 to 100"),
    ("provider_model", "tool_calls", (), {"tool_calls": True}, "tool_calls=True", "an integer from 0 to 100"),
    ("provider_model", "tool_calls", (1.5,), {}, "tool_calls=1.5", "an integer from 0 to 100"),
    ("provider_model", "tool_calls", (HUGE,), {}, "tool_calls=99999999999999999999", "an integer from 0 to 100"),
    ("provider_model", "tool", (), {"tool": ""}, "tool=''", "a tool name without spaces"),
    ("provider_model", "tool", (), {"tool": "two words"}, "tool='two words'", "a tool name without spaces"),
    ("provider_model", "tool", (), {"tool": 5}, "tool=5", "a tool name without spaces"),
    ("provider_model", "arguments", (), {"arguments": "[1]"}, "arguments='[1]'", "the text of a JSON object"),
    ("provider_model", "arguments", (), {"arguments": "{zone"}, "arguments='{zone'", "the text of a JSON object"),
    ("provider_model", "arguments", (), {"arguments": None}, "arguments=None", "the text of a JSON object"),
    ("provider_model", "ttft", (), {"ttft": -1}, "ttft: -1", ">= 0"),
    ("provider_model", "ttft", (), {"ttft": "soon"}, "ttft: 'soon'", SECONDS),
    ("provider_model", "ttft", (), {"ttft": True}, "ttft: True", SECONDS),
    ("provider_model", "ttft", (), {"ttft": HUGE}, "ttft: 99999999999999999999", "at most 60 min (3600s)"),
    ("provider_model", "reply_pieces", (), {"reply_pieces": 0}, "reply_pieces=0", "an integer from 1 to 10000"),
    ("provider_model", "reply_pieces", (), {"reply_pieces": "5"}, "reply_pieces='5'", "an integer from 1 to 10000"),
    (
        "provider_model",
        "reply_pieces",
        (),
        {"reply_pieces": HUGE},
        "reply_pieces=99999999999999999999",
        "an integer from 1 to 10000",
    ),
    ("provider_model", "reply_words", (), {"reply_words": -1}, "reply_words=-1", "an integer from 0 to 100000"),
    ("provider_model", "reply_words", (), {"reply_words": None}, "reply_words=None", "an integer from 0 to 100000"),
    (
        "provider_model",
        "reply_words",
        (),
        {"reply_words": HUGE},
        "reply_words=99999999999999999999",
        "an integer from 0 to 100000",
    ),
    ("provider_model", "strict_tools", (), {"strict_tools": "no"}, "strict_tools='no'", "True or False"),
    ("provider_model", "strict_tools", (), {"strict_tools": 1}, "strict_tools=1", "True or False"),
    ("provider_model", SIGNATURE, (), {"tools": 1}, "'tools'", "provider_model(tool_calls=1, tool=None"),
    (
        "provider_model",
        SIGNATURE,
        (1, None, "{}", None, None, 0, True, 9),
        {},
        "too many positional arguments",
        "provider_model(tool_calls=1",
    ),
    ("provider_faults", SIGNATURE, ("500",), {"rates": 0.1}, "'rates'", "provider_faults(kind, rate=0.0"),
    (
        "provider_faults",
        SIGNATURE,
        ("500", 0.1, (), 1, 1.0, 2.0, 9),
        {},
        "too many positional arguments",
        "provider_faults(kind",
    ),
    ("provider_faults", SIGNATURE, (), {"rate": 0.1}, "missing a required argument: 'kind'", "provider_faults(kind"),
]


@dataclass(frozen=True)
class _Mark:
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def _parse(marker: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if marker == "provider_faults":
        return markers.parse_provider_faults([_Mark(args, kwargs)], WHERE)
    if marker == "provider_model":
        return markers.parse_provider_model(_Mark(args, kwargs), WHERE)
    parse = {
        "rtt_range": markers.parse_rtt_range,
        "gap_range": markers.parse_gap_range,
        "replyrace": markers.parse_replyrace,
        "replyrace_search": markers.parse_search_marker,
    }[marker]
    return parse(args, kwargs, WHERE)


def _marker_id(marker: str, arg: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``replyrace-calls-0``: the argument and its bad value, or the whole call when the row is about its shape."""
    position = _parameters(marker).index(arg) if arg != SIGNATURE else len(args)
    if arg in kwargs:
        value = kwargs[arg]
    elif position < len(args):
        value = args[position]
    else:
        value = "(" + ",".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]) + ")"
    plain = isinstance(value, str) and value and not value.lstrip("-").replace(".", "", 1).isdigit()
    text = value if plain else repr(value)  # a string that reads as a number keeps its quotes: steps='5'
    return f"{marker}-{arg.strip('<>')}-{text.replace(' ', '')}"


def _parameters(marker: str) -> tuple[str, ...]:
    signature_of = getattr(markers, f"_{marker}_signature")
    return tuple(inspect.signature(signature_of).parameters)


def test_every_marker_argument_has_bad_input_rows() -> None:
    covered = {(marker, arg) for marker, arg, *_ in MARKER_BAD}
    expected = {(marker, arg) for marker in markers.MARKERS for arg in (*_parameters(marker), SIGNATURE)}
    assert covered == expected, (
        f"missing rows: {sorted(expected - covered)}; rows for nothing: {sorted(covered - expected)}"
    )


NUMBERS = {
    ("rtt_range", "lo"),
    ("rtt_range", "hi"),
    ("rtt_range", "steps"),
    ("rtt_range", "jitter"),
    ("gap_range", "lo"),
    ("gap_range", "hi"),
    ("gap_range", "steps"),
    ("replyrace", "calls"),
    ("replyrace", "gap"),
    ("replyrace", "timeout"),
    ("replyrace", "pause"),
    ("replyrace_search", "rtt"),
    ("replyrace_search", "gap"),
    ("replyrace_search", "gaps"),
    ("replyrace_search", "budget"),
    ("replyrace_search", "calls"),
    ("provider_faults", "rate"),
    ("provider_faults", "calls"),
    ("provider_faults", "after_chunks"),
    ("provider_faults", "retry_after"),
    ("provider_faults", "ttft"),
    ("provider_model", "tool_calls"),
    ("provider_model", "ttft"),
    ("provider_model", "reply_pieces"),
    ("provider_model", "reply_words"),
}
"""Every marker argument that is (or holds) a duration or a count."""


def _holds_huge(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return any(_holds_huge(v) for v in value)
    return value == float(HUGE) or str(HUGE) in str(value)


def test_every_number_in_a_marker_has_an_upper_bound_row() -> None:
    bounded = {(marker, arg) for marker, arg, args, kwargs, *_ in MARKER_BAD if _holds_huge([*args, *kwargs.values()])}
    assert bounded >= NUMBERS, f"numbers without a row refusing {HUGE}: {sorted(NUMBERS - bounded)}"


@pytest.mark.parametrize(
    ("marker", "args", "kwargs", "shown", "accepted"),
    [
        pytest.param(marker, args, kwargs, shown, accepted, id=_marker_id(marker, arg, args, kwargs))
        for marker, arg, args, kwargs, shown, accepted in MARKER_BAD
    ],
)
def test_bad_marker_argument_names_marker_value_and_what_is_accepted(
    marker: str, args: tuple[Any, ...], kwargs: dict[str, Any], shown: str, accepted: str
) -> None:
    with pytest.raises(markers.MarkerError) as info:
        _parse(marker, args, kwargs)
    message = str(info.value)
    call = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    label = f"{WHERE}: @pytest.mark.{marker}({call}): "
    assert message.startswith(label), message
    explanation = message[len(label) :]
    assert shown in explanation and accepted in explanation, message


def test_provider_model_keeps_the_settings_for_arguments_not_given_and_calls_one_tool_by_default() -> None:
    from pytest_replyrace.provider.model import ModelSpec

    base = ModelSpec(tool="clock", reply_words=5)
    assert markers.parse_provider_model(_Mark((), {}), WHERE, base) == ModelSpec(
        tool_calls=1, tool="clock", reply_words=5
    )
    spec = markers.parse_provider_model(_Mark((2,), {"ttft": "50ms", "reply_pieces": 10}), WHERE, base)
    assert spec == ModelSpec(tool_calls=2, tool="clock", ttft=0.05, reply_pieces=10, reply_words=5)
    assert markers.parse_provider_model(_Mark((0,), {"tool": None}), WHERE, base).tool is None
