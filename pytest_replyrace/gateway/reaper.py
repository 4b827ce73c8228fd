"""Ending processes we started, and a watchdog that does it after a test process died.

Two halves, both stdlib only, since the watchdog runs as a script (``python -I -S
reaper.py``) that cannot import the package:

- the primitives every stop uses: signal a process group, end it (SIGCONT,
  SIGTERM, SIGKILL after the grace), and find and end the processes that carry
  a gateway's run marker in their environment but left its group (a ``setsid``
  child, a double-forked daemon);
- the watchdog. SIGTERM, SIGKILL and ``os._exit`` (pytest-timeout's ``thread``
  method) skip every Python cleanup path: fixtures, ``atexit``, ``finally``. The
  kernel's parent-death signal reaches only the gateway's first process. So the
  first launched gateway also starts this small process: the test process tells
  it, over a pipe, each process group, run marker and directory it owns and each
  one it has cleaned up itself. When the pipe closes — the test process is gone,
  however it went — the watchdog ends every group and marked process still
  registered and removes every directory still registered, then exits.

Nothing is ever ended by name: by process group, or by PID after reading the
marker in that PID's own environment.
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

__all__ = [
    "RUN_MARKER_VAR",
    "end_group",
    "end_marked",
    "marked_processes",
    "register_dir",
    "register_group",
    "register_marker",
    "signal_group",
    "unregister_dir",
    "unregister_group",
    "unregister_marker",
]

RUN_MARKER_VAR = "REPLYRACE_RUN"
"""Set to a fresh id in the environment of every launched gateway; its children inherit it."""
_POLL = 0.05
_MAX_GRACE = 30.0


# --- the primitives -------------------------------------------------------------------------------


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_group(pgid: int, grace: float) -> None:
    """SIGCONT and SIGTERM the group, SIGKILL it after ``grace`` seconds (at once if it is gone)."""
    if pgid <= 1:
        return
    for sig in (signal.SIGCONT, signal.SIGTERM):  # a paused group could not act on SIGTERM
        signal_group(pgid, sig)
    deadline = time.monotonic() + grace
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(_POLL)
    signal_group(pgid, signal.SIGKILL)


def _process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() or "?"
    except OSError:
        return "?"


def marked_processes(marker: str, var: str = RUN_MARKER_VAR) -> dict[int, str]:
    """PID → name of every live process of this user whose environment has ``var=marker``.

    Linux only (``/proc``); elsewhere nothing is found. Zombies have no environment
    left and are not counted: they are already dead.
    """
    needle = f"{var}={marker}".encode()
    uid, me = os.getuid(), os.getpid()
    found: dict[int, str] = {}
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return found
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found[int(entry.name)] = _process_name(int(entry.name))
    return found


def _signal_pid(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def end_marked(marker: str, grace: float, var: str = RUN_MARKER_VAR) -> dict[int, str]:
    """End every process that still carries the marker (SIGCONT, SIGTERM, SIGKILL after the grace).

    Returns PID → name of what it found. A PID is signalled only after its own environment
    named the marker, and re-read before the SIGKILL so a recycled PID is left alone.
    """
    found = marked_processes(marker, var)
    if not found:
        return found
    for pid in found:
        _signal_pid(pid, signal.SIGCONT)
        _signal_pid(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not set(found) & set(marked_processes(marker, var)):
            return found
        time.sleep(_POLL)
    for pid in set(found) & set(marked_processes(marker, var)):
        _signal_pid(pid, signal.SIGKILL)
    return found


# --- the watchdog process -------------------------------------------------------------------------


def serve(stream: IO[str]) -> tuple[dict[int, float], dict[str, float], set[str]]:
    """Read registrations until EOF; return the groups, markers and dirs still registered."""
    groups: dict[int, float] = {}
    markers: dict[str, float] = {}
    dirs: set[str] = set()
    for line in stream:
        verb, _, rest = line.rstrip("\n").partition(" ")
        if verb in ("group+", "mark+"):
            name, _, grace = rest.partition(" ")
            try:
                seconds = min(float(grace or 5.0), _MAX_GRACE)
            except ValueError:
                seconds = 5.0
            if verb == "group+" and name.isdigit():
                groups[int(name)] = seconds
            elif verb == "mark+" and name:
                markers[name] = seconds
        elif verb == "group-" and rest.isdigit():
            groups.pop(int(rest), None)
        elif verb == "mark-":
            markers.pop(rest, None)
        elif verb == "dir+":
            dirs.add(rest)
        elif verb == "dir-":
            dirs.discard(rest)
    return groups, markers, dirs


def main() -> int:
    # Its own session already keeps a terminal's Ctrl-C away; ignore stray ones all the same.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    groups, markers, dirs = serve(sys.stdin)
    for pgid, grace in groups.items():
        end_group(pgid, grace)
    for marker, grace in markers.items():
        end_marked(marker, grace)  # what left the groups: setsid children, daemons
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
        if _PROCESS is None or os.getpid() != _OWNER_PID or _PROCESS.poll() is not None:
            try:
                _PROCESS = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(Path(__file__).resolve())],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                    text=True,
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


def register_marker(marker: str, grace: float) -> None:
    _send(f"mark+ {marker} {grace:g}")


def unregister_marker(marker: str) -> None:
    if _PROCESS is not None:
        _send(f"mark- {marker}")


def register_dir(path: str | Path) -> None:
    _send(f"dir+ {path}")


def unregister_dir(path: str | Path) -> None:
    if _PROCESS is not None:
        _send(f"dir- {path}")


@atexit.register
def _close() -> None:
    # A clean exit: nothing is registered any more, so the reaper exits at once; wait for it.
    process = _PROCESS
    if process is None or os.getpid() != _OWNER_PID:
        return
    with contextlib.suppress(OSError, ValueError):
        assert process.stdin is not None
        process.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=40)


if __name__ == "__main__":
    sys.exit(main())
