"""A watchdog that cleans up after a test process that died without its teardown.

SIGTERM, SIGKILL and ``os._exit`` (pytest-timeout's ``thread`` method) skip every
Python cleanup path: fixtures, ``atexit``, ``finally``. The kernel's parent-death
signal reaches only the gateway's first process, not the children it started,
and removes no directory. So the first launched gateway also starts this small
process: the test process tells it, over a pipe, each process group and
directory it owns and each one it has cleaned up itself. When the pipe closes —
the test process is gone, however it went — the reaper ends every group still
registered (SIGCONT, SIGTERM, SIGKILL after the grace) and removes every
directory still registered, then exits. Nothing is ever ended by name.

Run as a script (``python -I reaper.py``) so it needs nothing but the stdlib.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

__all__ = ["register_group", "unregister_group", "register_dir", "unregister_dir"]

_POLL = 0.05


# --- the reaper process -------------------------------------------------------------------------

def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end_group(pgid: int, grace: float) -> None:
    for sig in (signal.SIGCONT, signal.SIGTERM):  # a paused group could not act on SIGTERM
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    deadline = time.monotonic() + grace
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(_POLL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def serve(stream: IO[str]) -> tuple[dict[int, float], set[str]]:
    """Read registrations until EOF; return what is still registered."""
    groups: dict[int, float] = {}
    dirs: set[str] = set()
    for line in stream:
        verb, _, rest = line.rstrip("\n").partition(" ")
        if verb == "group+":
            pgid, _, grace = rest.partition(" ")
            groups[int(pgid)] = float(grace or 5.0)
        elif verb == "group-":
            groups.pop(int(rest), None)
        elif verb == "dir+":
            dirs.add(rest)
        elif verb == "dir-":
            dirs.discard(rest)
    return groups, dirs


def main() -> int:
    # Its own session already keeps a terminal's Ctrl-C away; ignore stray ones all the same.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    groups, dirs = serve(sys.stdin)
    for pgid, grace in groups.items():
        if pgid > 1:
            _end_group(pgid, min(grace, 30.0))
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)
    return 0


# --- the test process's side ----------------------------------------------------------------------

_LOCK = threading.Lock()
_PROCESS: subprocess.Popen[str] | None = None
_OWNER_PID: int | None = None


def _send(line: str) -> None:
    """Best effort: a missing reaper only means the older safety nets (pdeathsig, atexit) remain."""
    global _PROCESS, _OWNER_PID
    with _LOCK:
        if _PROCESS is None or _OWNER_PID != os.getpid() or _PROCESS.poll() is not None:
            try:
                _PROCESS = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(Path(__file__).resolve())],
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True, text=True,
                )
                _OWNER_PID = os.getpid()
            except OSError:
                _PROCESS = None
                return
        assert _PROCESS.stdin is not None
        with contextlib.suppress(OSError, ValueError):
            _PROCESS.stdin.write(line + "\n")
            _PROCESS.stdin.flush()


def register_group(pgid: int, grace: float) -> None:
    _send(f"group+ {pgid} {grace:g}")


def unregister_group(pgid: int) -> None:
    if _PROCESS is not None:
        _send(f"group- {pgid}")


def register_dir(path: str | Path) -> None:
    _send(f"dir+ {path}")


def unregister_dir(path: str | Path) -> None:
    if _PROCESS is not None:
        _send(f"dir- {path}")


@atexit.register
def _close() -> None:
    # A clean exit: nothing is registered any more, so the reaper exits at once; wait for it.
    process = _PROCESS
    if process is None or _OWNER_PID != os.getpid():
        return
    with contextlib.suppress(OSError, ValueError):
        assert process.stdin is not None
        process.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=40)


if __name__ == "__main__":
    sys.exit(main())
