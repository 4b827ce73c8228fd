"""Library users get the same bounds as the plugin's options: every duration at most a day, the stop
grace at most 10 minutes, and an error naming the value before anything starts or waits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_replyrace.driver import DriverSettings
from pytest_replyrace.gateway.attached import AttachedGateway
from pytest_replyrace.gateway.launcher import LaunchedGateway
from pytest_replyrace.gateway.pool import GatewayPool
from pytest_replyrace.provider.server import FakeProvider, RttSpec

HUGE = 99999999999999999999
DAY = "above the upper bound of 1 day (86400s)"
GRACE = "above the upper bound of 10 min (600s)"
URL = "http://127.0.0.1:9/v1"


def launched(**kwargs: Any) -> LaunchedGateway:
    """Refused before it makes a state dir or starts anything."""
    return LaunchedGateway("gw --port {port}", provider_url=URL, **kwargs)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DriverSettings(gap=HUGE), f"gap: {HUGE} is {DAY}"),
        (lambda: DriverSettings(timeout=1e20), f"timeout: 1e+20 is {DAY}"),
        (lambda: DriverSettings(settle=str(HUGE)), f"settle: '{HUGE}' is {DAY}"),
        (lambda: DriverSettings(pause=(0.02, HUGE)), f"pause length: {HUGE} is {DAY}"),
        (lambda: DriverSettings(pause=(HUGE, 1)), f"pause after: {HUGE} is {DAY}"),
        (lambda: FakeProvider(rtt=HUGE), f"rtt: {HUGE} is {DAY}"),
        (lambda: RttSpec.of((0.05, HUGE)), f"rtt (0.05, {HUGE}) hi: {HUGE} is {DAY}"),
        (lambda: FakeProvider().set_rtt(float("nan")), "rtt: nan is not a finite duration"),
        (lambda: launched(stop_grace=999999999), f"stop_grace: 999999999 is {GRACE}"),
        (lambda: launched(stop_grace=HUGE), f"stop_grace: {HUGE} is {GRACE}"),
        (lambda: launched(ready_timeout=HUGE), f"ready_timeout: {HUGE} is {DAY}"),
        (lambda: launched(ready_timeout=0), "ready_timeout: 0 must be > 0"),
        (lambda: AttachedGateway("http://127.0.0.1:9", ready_timeout=HUGE), f"ready_timeout: {HUGE} is {DAY}"),
        (lambda: GatewayPool(URL, stop_grace=601), f"stop_grace: 601 is {GRACE}"),
    ],
    ids=[
        "driver-gap",
        "driver-timeout",
        "driver-settle",
        "driver-pause-length",
        "driver-pause-after",
        "provider-rtt",
        "rttspec-range",
        "provider-set-rtt-nan",
        "launched-grace",
        "launched-grace-huge",
        "launched-ready-timeout",
        "launched-ready-timeout-0",
        "attached-ready-timeout",
        "pool-grace",
    ],
)
def test_library_durations_are_bounded(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value).startswith(message), str(info.value)
    assert "expected" in str(info.value)


def test_the_bounds_themselves_are_accepted(tmp_path: Path) -> None:
    assert DriverSettings(gap=86400, timeout="1440m").timeout == 86400.0
    assert launched(stop_grace=600, ready_timeout=86400, state_dir=tmp_path).stop_grace == 600.0
    assert RttSpec.of((0, 86400)).hi == 86400.0
