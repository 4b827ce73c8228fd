"""An interrupted run leaves nothing behind: no gateway process (nor its children),
no provider thread, no temp dir.

Each case starts pytest in a subprocess with a private TMPDIR and the test's
environment marker, waits for the race gateway to report that the run reached
a given point (its ``--events`` file), sends the signal, and then looks for
anything that survived. The gateway also starts a child (``--child``), which
the kernel's parent-death signal does not reach: only ending the whole process
group does.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.selftest import processes_with_marker, race_gateway_cmd

CONFTEST = """
import threading

def pytest_unconfigure(config):
    # Runs only on a graceful exit: by then the provider's thread must be gone.
    with open({threads!r}, "w") as handle:
        handle.write("\\n".join(t.name for t in threading.enumerate()))
"""

# point -> (gateway options, inner test module, the event that marks the point)
POINTS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "gateway-start": (
        ("--ready-after-ms", "60000"),
        """
def test_it(sequential_sender):
    sequential_sender.run(calls=2)
""",
        "started",
    ),
    "mid-probe": (
        ("--hang-on", "2"),
        """
def test_it(sequential_sender):
    sequential_sender.run(calls=3)
""",
        "call 2",
    ),
    "provider-call": (
        (),
        """
import pytest

@pytest.mark.rtt_range("20s", "20s", steps=1)
def test_it(sequential_sender):
    sequential_sender.run(calls=2)
""",
        "call 1",
    ),
    "window-search": (
        ("--background-ms", "500"),
        """
def test_it(sequential_sender):
    sequential_sender.search(rtt=(0.05, 1.0), gap=(0.0, 0.0), budget_s=60, max_calls=4)
""",
        "call 10",
    ),
    "gateway-stop": (
        ("--ignore-sigterm",),
        """
def test_it(sequential_sender):
    sequential_sender.run(calls=1)
""",
        "sigterm",
    ),
}
# Not in the signal matrix: the gateway also starts processes that leave its group (setsid, a double fork).
ESCAPED = (("--escape", "setsid", "--escape", "double-fork", "--hang-on", "2"), POINTS["mid-probe"][1], "call 2")


# pytest, with Ctrl-C as a terminal gives it even when this suite was started in the background (a shell starts
# background jobs with SIGINT ignored, and Python keeps an ignored SIGINT ignored).
SIGINT_AS_USUAL = (
    "import signal, sys, pytest; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.exit(pytest.console_main())"
)


def _events(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


def _wait_gone(marker: str, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    survivors = processes_with_marker(marker)
    while survivors and time.monotonic() < deadline:
        time.sleep(0.1)
        survivors = processes_with_marker(marker)
    return survivors


def _describe(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            out.append(f"{pid}: {command[:200]}")
        except OSError:
            out.append(f"{pid}: (gone)")
    return out


@pytest.fixture
def interrupted(
    race_pytester: pytest.Pytester, leak_marker: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str]]:
    """Run a case, signal it at its point, and assert nothing survived; returns (exit code, output)."""
    tmpdir = race_pytester.path / "private-tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    threads = race_pytester.path / "threads.txt"
    race_pytester.makeconftest(CONFTEST.format(threads=str(threads)))
    events = race_pytester.path / "events.txt"

    def run(point: str, sig: signal.Signals | None, *, extra_args: tuple[str, ...] = ()) -> tuple[int, str]:
        options, module, event = ESCAPED if point == "escaped" else POINTS[point]
        race_pytester.makepyfile(test_interrupted=module)
        command = race_gateway_cmd("--events", str(events), "--child", *options)
        output = race_pytester.path / "output.txt"
        with open(output, "wb") as sink:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    SIGINT_AS_USUAL,
                    "-p",
                    "pytest_replyrace",
                    "-p",
                    "no:cacheprovider",
                    f"--replyrace-gateway-cmd={command}",
                    "--replyrace-stop-grace=20",
                    "--replyrace-shrink=0",
                    "--replyrace-call-timeout=60",
                    *extra_args,
                ],
                cwd=race_pytester.path,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
            try:
                if sig is not None:
                    deadline = time.monotonic() + 60
                    while event not in _events(events) and process.poll() is None and time.monotonic() < deadline:
                        time.sleep(0.02)
                    assert event in _events(events), (
                        f"the run never reached {event!r}; events {_events(events)}\n{output.read_text()}"
                    )
                    time.sleep(0.2)  # well inside the point: the gateway acts on what it just logged
                    process.send_signal(sig)
                code = process.wait(timeout=90)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=10)
        text = output.read_text(errors="replace")
        # The reaper ends the group after a hard exit: allow it the gateway's stop grace.
        survivors = _wait_gone(leak_marker, 25)
        assert survivors == [], f"processes left running: {_describe(survivors)}\n{text}"
        left = sorted(p.name for p in tmpdir.iterdir() if not p.name.startswith("pytest-of-"))
        assert left == [], f"temp dirs left in TMPDIR: {left}"
        if threads.exists():
            assert "replyrace-fake-provider" not in threads.read_text().split(), "the provider thread outlived the run"
        return code, text

    return run


def _cases() -> list[object]:
    # SIGTERM ends pytest at once wherever it lands (the reaper cleans up), so two of its points run by
    # default and the other three with the slow sweeps; SIGINT unwinds differently at each point.
    quick_sigterm = {"gateway-start", "mid-probe"}
    # SIGINT: three points by default, the longer two with the slow sweeps.
    quick_sigint = {"gateway-start", "provider-call", "gateway-stop"}
    cases: list[object] = [
        pytest.param(
            signal.SIGINT, point, id=f"SIGINT-{point}", marks=() if point in quick_sigint else pytest.mark.slow
        )
        for point in POINTS
    ]
    cases += [
        pytest.param(
            signal.SIGTERM, point, id=f"SIGTERM-{point}", marks=() if point in quick_sigterm else pytest.mark.slow
        )
        for point in POINTS
    ]
    return cases


@pytest.mark.parametrize(("sig", "point"), _cases())
def test_a_signal_leaves_nothing_behind(
    interrupted: Callable[..., tuple[int, str]], point: str, sig: signal.Signals
) -> None:
    code, text = interrupted(point, sig)
    if sig is signal.SIGINT:
        assert code == pytest.ExitCode.INTERRUPTED, text
        assert "KeyboardInterrupt" in text
    else:
        assert code == -signal.SIGTERM, text


def test_a_killed_pytest_leaves_no_process_that_left_the_gateways_group(
    interrupted: Callable[..., tuple[int, str]],
) -> None:
    # SIGTERM skips every cleanup in pytest: the reaper ends the group, then what carries the run marker.
    code, text = interrupted("escaped", signal.SIGTERM)
    assert code == -signal.SIGTERM, text


@pytest.mark.parametrize("method", ["signal", pytest.param("thread", marks=pytest.mark.slow)])
def test_pytest_timeout_leaves_nothing_behind(interrupted: Callable[..., tuple[int, str]], method: str) -> None:
    # The gateway hangs call 2; pytest-timeout fires first (the thread method ends pytest with os._exit). 8 s, not
    # less: on a loaded machine the gateway's start alone took over 3 s, and the timeout then fired in setup.
    code, text = interrupted("mid-probe", None, extra_args=("--timeout=8", f"--timeout-method={method}"))
    assert "Timeout" in text, text
    if method == "signal":
        assert code == pytest.ExitCode.TESTS_FAILED, text
        assert "1 failed" in text
    else:
        assert code == 1, text
