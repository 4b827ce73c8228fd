"""Durations and tokens: the small parsers everything else leans on."""

from __future__ import annotations

import pytest

from pytest_replyrace.tokens import find_tokens, looks_like_token, make_token
from pytest_replyrace.units import format_duration, parse_duration


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [(0, 0.0), (0.05, 0.05), ("50ms", 0.05), ("1.5s", 1.5), ("2", 2.0), ("2m", 120.0), (" 300 ms ", 0.3), (".5s", 0.5)],
)
def test_parse_duration_accepts(raw: object, seconds: float) -> None:
    assert parse_duration(raw) == pytest.approx(seconds)


@pytest.mark.parametrize("raw", ["fast", "-1", -0.5, "1h", "", None, True, float("nan"), float("inf"), [1]])
def test_parse_duration_rejects_and_names_the_value(raw: object) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(raw, what="--replyrace-gap")
    message = str(info.value)
    assert message.startswith("--replyrace-gap: ")
    assert repr(raw) in message
    assert "expected" in message


@pytest.mark.parametrize(
    "raw",
    ["99999999999999999999", 99999999999999999999, 1e20, "86400.001", "1441m", 10**400, "9" * 5000],
    ids=["str-1e20", "int-1e20", "float-1e20", "86400.001", "1441m", "int-1e400", "str-5000-digits"],
)
def test_parse_duration_has_an_upper_bound_of_one_day(raw: object) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(raw, what="--replyrace-gap")
    message = str(info.value)
    assert message.startswith("--replyrace-gap: ") and "above the upper bound of 1 day (86400s)" in message
    assert "at most 1 day" in message and len(message) < 300  # a 5,000-digit value is named, not printed


def test_parse_duration_bounds_are_inclusive_and_callers_may_lower_them() -> None:
    assert parse_duration("1440m") == parse_duration(86400) == 86400.0
    assert parse_duration("10m", limit=600) == 600.0
    with pytest.raises(ValueError, match=r"'601s' is above the upper bound of 10 min \(600s\)"):
        parse_duration("601s", limit=600)
    with pytest.raises(ValueError, match="must be >= 0"):
        parse_duration(-(10**400))


def test_parse_duration_zero_can_be_refused() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        parse_duration("0ms", what="timeout", allow_zero=False)


@pytest.mark.parametrize(
    ("seconds", "label"),
    [(0.05, "50ms"), (0.0, "0ms"), (1.5, "1.5s"), (2.0, "2s"), (0.126, "126ms"), (0.0005, "0.5ms")],
)
def test_format_duration(seconds: float, label: str) -> None:
    assert format_duration(seconds) == label


def test_tokens_round_trip_and_dedupe() -> None:
    a, b = make_token("abc123", 1), make_token("abc123", 12)
    assert (a, b) == ("rr-abc123-1", "rr-abc123-12")
    text = f"[Tue 06:05 UTC] Sender {{...}} {a} then {b} and {a} again"
    assert find_tokens(text) == [a, b]
    assert find_tokens(None) == [] and find_tokens("") == []


def test_session_keys_do_not_look_like_tokens() -> None:
    assert not looks_like_token("agent:test:race-abcd1234")
    assert looks_like_token("agent:test:rr-abcd-1")


def test_make_token_rejects_bad_tags() -> None:
    with pytest.raises(ValueError, match="invalid token"):
        make_token("UPPER", 1)


def test_newest_token_is_the_latest_call_not_the_first_seen() -> None:
    from pytest_replyrace.tokens import newest_token

    assert newest_token(["rr-abcd-2", "rr-abcd-3"]) == "rr-abcd-3"
    assert newest_token(["rr-abcd-3", "rr-abcd-2"]) == "rr-abcd-3"
    assert newest_token(["rr-abcd-1"]) == "rr-abcd-1" and newest_token([]) is None


def test_tokens_glued_to_the_next_word_are_still_found() -> None:
    # OpenClaw 2026.8.1 joins a steered run's answers with no separator.
    assert find_tokens("ECHO rr-abcd-1ECHO rr-abcd-2ECHO rr-abcd-3") == ["rr-abcd-1", "rr-abcd-2", "rr-abcd-3"]
    assert find_tokens("xrr-abcd-1 rr-abcd-12 rr-abcd-1234567") == ["rr-abcd-12"]
