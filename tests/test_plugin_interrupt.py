"""An interrupted run leaves no gateway behind."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable

import pytest

from support.selftest import race_gateway_cmd

SLOW_TEST = """
import time

def test_slow(gateway, tmp_path_factory):
    with open({flag!r}, "w") as handle:
        handle.write("up")
    time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_test_leaves_no_gateway(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None], sig: signal.Signals
) -> None:
    flag = race_pytester.path / "gateway-up.flag"
    race_pytester.makepyfile(test_slow=SLOW_TEST.format(flag=str(flag)))
    process = race_pytester.popen(
        [sys.executable, "-m", "pytest", "-p", "pytest_replyrace", f"--replyrace-gateway-cmd={race_gateway_cmd()}",
         "--replyrace-stop-grace=2"],
        stdout=sys.stdout, stderr=sys.stderr,
    )
    try:
        deadline = time.monotonic() + 30
        while not flag.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert flag.exists(), "the inner test never started"
        process.send_signal(sig)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    # The kernel's parent-death signal reaps a gateway whose pytest died without teardown.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            assert_no_leak()
            break
        except AssertionError:
            time.sleep(0.1)
    assert_no_leak()
