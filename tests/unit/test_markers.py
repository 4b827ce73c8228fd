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


def test_search_marker_and_option_agree() -> None:
    from pytest_replyrace.markers import parse_search_marker, parse_search_spec

    marker = parse_search_marker((("50ms", 2),), {"gap": (0, "1s"), "gaps": 2, "calls": 3}, WHERE)
    option = parse_search_spec("rtt=50ms:2s, gap=0:1s, gaps=2, calls=3", "--replyrace-search")
    assert marker == option
    assert (marker.rtt, marker.gap, marker.gaps, marker.budget, marker.calls) == ((0.05, 2.0), (0.0, 1.0), 2, 120.0, 3)
    assert parse_search_spec(marker.text(), "x") == marker  # the header's text reads back
    assert parse_search_spec("rtt=0.1:1,gap=0.3", "x").gap == (0.3, 0.3)  # one gap


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
    from pytest_replyrace.markers import parse_search_spec

    with pytest.raises(MarkerError) as excinfo:
        parse_search_spec(raw, "--replyrace-search")
    assert str(excinfo.value).startswith("--replyrace-search: ")
    assert fragment in str(excinfo.value)


def test_search_marker_rejects_a_missing_range() -> None:
    from pytest_replyrace.markers import parse_search_marker

    with pytest.raises(MarkerError, match=r"replyrace_search\(rtt=\(0.05, 1\)\): missing a required argument: 'gap'"):
        parse_search_marker((), {"rtt": (0.05, 1)}, WHERE)
