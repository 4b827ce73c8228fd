"""The lifecycle of one launched process: start it in its own session, stop it, leave nothing behind.

The process runs in its own process group, so stopping it (SIGTERM, then SIGKILL
after a grace) reaches every child that stayed in the group. A child that left it
(``setsid``, a double-forked daemon) still carries the run marker
(``REPLYRACE_RUN=<id>``) in its environment, so after the group is gone every
process of this user with that marker is ended too, and named. The watchdog
(:mod:`pytest_replyrace.gateway.reaper`) does the same if the test process dies, and the
kernel's parent-death signal kills the leader if it dies outright.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from . import reaper

__all__ = ["EndedProcess", "ProcessGroup", "describe_exit", "ended_processes", "stop_all"]


@dataclass(frozen=True)
class EndedProcess:
    """A process that outlived its gateway's process group and had to be ended by its marker."""

    pid: int
    name: str
    gateway: str
    """The command of the gateway it came from."""

    def describe(self) -> str:
        return f"{self.name} (pid {self.pid})"


_ENDED: list[EndedProcess] = []
_ENDED_LOCK = threading.Lock()


def ended_processes() -> list[EndedProcess]:
    """Take (and forget) what stops had to end by marker since the last call."""
    with _ENDED_LOCK:
        taken = list(_ENDED)
        _ENDED.clear()
    return taken


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _set_pdeathsig() -> None:
    # Ask Linux to SIGKILL the gateway if the test process dies outright.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


_LIVE: set[ProcessGroup] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def stop_all() -> None:
    """Stop every process group still running (interpreter exit, or a session finish that was cut short)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for group in live:
        with contextlib.suppress(Exception):
            group.stop()


class ProcessGroup:
    """One command in its own session, marked, registered with the watchdog until it is stopped."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | None,
        log: IO[bytes],
        grace: float,
        label: str | None = None,
    ) -> None:
        self.marker = uuid.uuid4().hex
        self.grace = grace
        self.label = label or " ".join(argv)
        self.process = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=cwd,
            env={**env, reaper.RUN_MARKER_VAR: self.marker},
            preexec_fn=_set_pdeathsig if sys.platform.startswith("linux") else None,
        )
        self.pid = self.process.pid
        self.ended: list[EndedProcess] = []
        """What the stop had to end by the run marker."""
        reaper.register_group(self.pid, grace)
        reaper.register_marker(self.marker, grace)
        with _LIVE_LOCK:
            _LIVE.add(self)

    def poll(self) -> int | None:
        return self.process.poll()

    def signal(self, sig: int) -> None:
        reaper.signal_group(self.pid, sig)

    def stop(self) -> int:
        """SIGTERM the group, SIGKILL it after the grace, then end what left it (kept in ``ended``); returns the
        exit code."""
        pgid = self.pid  # start_new_session: the group id is the leader's pid
        code: int | None = None
        try:
            self.signal(signal.SIGCONT)  # a paused gateway could not act on SIGTERM
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.process.wait(timeout=self.grace)
        finally:
            # Also when Ctrl-C lands in the grace: children that outlived the leader are still in the group.
            self.signal(signal.SIGKILL)
        if code is None:
            code = self.process.wait(timeout=10)
        reaper.unregister_group(pgid)
        found = reaper.end_marked(self.marker, min(self.grace, 5.0))
        reaper.unregister_marker(self.marker)
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self.ended = [EndedProcess(pid, name, self.label) for pid, name in sorted(found.items())]
        with _ENDED_LOCK:
            _ENDED.extend(self.ended)
        return code
