"""The run's output in a stable order: summary tables by test id whatever order xdist finished the tests in,
and a worker's progress lines (shrink probes) on lines of their own, never inside the progress dots."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from support.selftest import race_gateway_cmd

TWO_TESTS = """
import pytest

@pytest.mark.parametrize("n", range(6))
def test_0_quick(n):  # their dots are on the line when the shrink begins
    pass

@pytest.mark.rtt_range("300ms", "300ms", steps=1)
@pytest.mark.replyrace(calls=3, gap=0.6)
def test_a_slow_and_clean(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()

@pytest.mark.replyrace(calls=3, gap=0)
def test_b_fast_and_shrunk(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()
"""


@pytest.mark.slow  # two workers, a shrink and a slow clean test: CI runs it in the slow step
def test_tables_come_by_test_id_and_worker_progress_lines_stand_alone(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_order=TWO_TESTS)
    # 450 ms of background work per turn: a send at gap 0 fast-fails (and is shrunk, with progress lines from its
    # worker); at gap 0.6 s it is clean. The clean test takes the longer, so it ends last.
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "pytest_replyrace",
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        f"--replyrace-gateway-cmd={race_gateway_cmd('--background-ms', '450')}",
    ]
    # stdout and stderr in one stream, as a terminal shows them.
    done = subprocess.run(
        command, cwd=race_pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240
    )
    lines = done.stdout.splitlines()
    assert "1 failed, 7 passed" in lines[-1], done.stdout
    progress = [line for line in lines if "replyrace: shrink probe" in line]
    assert progress, done.stdout
    assert all(line.startswith("replyrace: shrink probe") for line in progress), progress
    summary = lines[next(i for i, line in enumerate(lines) if "replyrace summary" in line) :]
    tables = [line for line in summary if line.startswith("test_order.py::")]
    assert tables == ["test_order.py::test_a_slow_and_clean", "test_order.py::test_b_fast_and_shrunk"], summary
    assert_no_leak()
