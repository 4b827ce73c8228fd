"""One run spec: one set of defaults, one check per knob, the source of a bad value in its message."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_replyrace import DriverSettings, RunSpec, Settings
from pytest_replyrace.errors import InvalidArgument, MarkerError
from pytest_replyrace.markers import parse_replyrace
from pytest_replyrace.settings import OPTIONS, OPTIONS_BY_NAME
from pytest_replyrace.spec import CHECKS, DEFAULTS, PAIRED, SEND_ANCHORS

WHERE = "t.py::test_x"


def test_driver_settings_is_the_run_spec_and_frozen() -> None:
    assert DriverSettings is RunSpec
    spec = RunSpec(calls=3, gap="20ms", preamble="/new")
    assert (spec.calls, spec.gap, spec.preamble) == (3, 0.02, ("/new",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.calls = 4  # type: ignore[misc]


def test_every_knob_has_its_one_check_and_its_option() -> None:
    knobs = {f.name for f in dataclasses.fields(RunSpec)}
    assert knobs == set(CHECKS) | set(PAIRED)
    assert knobs == {option.knob for option in OPTIONS if option.knob is not None}


def test_the_settings_take_the_spec_defaults() -> None:
    names = {"calls": "calls", "gap": "gap", "call_timeout": "timeout", "settle": "settle", "pause": "pause"}
    names |= {"history": "history", "send_at": "send_at", "busy_policy": "busy_policy", "preamble": "preamble"}
    for option, knob in names.items():
        assert OPTIONS_BY_NAME[option].default == getattr(DEFAULTS, knob), option
        assert getattr(Settings(), option) == getattr(DEFAULTS, knob), option
    assert Settings().run_spec == DEFAULTS


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RunSpec(calls=0), "calls=0; expected an integer from 1 to 10000"),
        (lambda: RunSpec(send_at="soon"), "send_at='soon'; expected one of " + ", ".join(SEND_ANCHORS)),
        (lambda: DEFAULTS.override("--replyrace-x", busy_policy="never"), "--replyrace-x: busy_policy='never'"),
        (lambda: DEFAULTS.override("arun", gap=-0.1), "arun: gap: -0.1 must be >= 0"),
        (lambda: DEFAULTS.override("arun", stop_at="x"), "arun: stop_at='x'; expected one of none, sent"),
        (lambda: DEFAULTS.override("arun", stop_after="x"), "arun: no run parameter stop_after"),
        (lambda: DEFAULTS.override("arun", stop_gap=-0.1), "arun: stop_gap: -0.1 must be >= 0"),
    ],
)
def test_a_bad_value_names_its_source(make: object, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        make()  # type: ignore[operator]
    assert str(info.value).startswith(message), str(info.value)


def test_the_marker_is_a_partial_override_checked_once() -> None:
    overrides = parse_replyrace((), {"calls": 4, "send_at": "served", "gap": "-20ms", "timeout": 5}, WHERE)
    spec = DEFAULTS.override(WHERE, **overrides)
    assert (spec.calls, spec.send_at, spec.gap, spec.timeout) == (4, "served", -0.02, 5.0)
    assert spec.busy_policy == DEFAULTS.busy_policy  # not given: the settings' value stays
    with pytest.raises(
        MarkerError, match=r"^t\.py::test_x: @pytest\.mark\.replyrace\(busy_policy='x'\): busy_policy='x'"
    ):
        parse_replyrace((), {"busy_policy": "x"}, WHERE)


def test_override_leaves_the_spec_it_came_from_alone() -> None:
    spec = RunSpec(calls=5)
    other = spec.override("arun", calls=7, send_at="text")
    assert (spec.calls, spec.send_at) == (5, "end") and (other.calls, other.send_at) == (7, "text")
