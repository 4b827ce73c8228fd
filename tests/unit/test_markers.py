"""Marker arguments: the RTT grid and every rejection message."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_replyrace.markers import MarkerError, parse_replyrace, parse_rtt_range, rtt_grid, rtt_id

WHERE = "test_x.py::test_race"


def test_log_grid_is_rounded_and_keeps_the_ends() -> None:
    assert rtt_grid(0.05, 2.0, 5, "log") == (0.05, 0.13, 0.32, 0.8, 2.0)
    assert [rtt_id(v) for v in rtt_grid(0.05, 2.0, 5, "log")] == [
        "rtt=50ms", "rtt=130ms", "rtt=320ms", "rtt=800ms", "rtt=2s"]


def test_linear_grid_and_pin() -> None:
    assert rtt_grid(0.0, 1.0, 3, "linear") == (0.0, 0.5, 1.0)
    assert parse_rtt_range(("50ms", "50ms"), {"steps": 1}, WHERE).values == (0.05,)


def test_strings_and_numbers_mix() -> None:
    parsed = parse_rtt_range(("50ms", 3), {"steps": 2, "jitter": 0.3}, WHERE)
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
    with pytest.raises(MarkerError) as info:
        parse_rtt_range(args, kwargs, WHERE)
    message = str(info.value)
    assert message.startswith(f"{WHERE}: @pytest.mark.rtt_range(")
    assert fragment in message


def test_replyrace_marker_keeps_only_given_arguments() -> None:
    assert parse_replyrace((), {}, WHERE) == {}
    assert parse_replyrace((), {"calls": 4, "gap": "200ms", "timeout": 5}, WHERE) == {
        "calls": 4, "gap": 0.2, "call_timeout": 5.0}
    assert parse_replyrace((), {"session_key": "agent:test:main"}, WHERE) == {"session_key": "agent:test:main"}


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
    with pytest.raises(MarkerError) as info:
        parse_replyrace((), kwargs, WHERE)
    assert fragment in str(info.value)
    assert str(info.value).startswith(WHERE)
