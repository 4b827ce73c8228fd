"""Start the gateway under test as a real subprocess, wait until it is ready,
capture and scan its log, and never leak it.

The gateway runs in its own process group, so stopping it (SIGTERM, then
SIGKILL after a grace) reaches every child it started; nothing is ever ended
by name. A registry of live gateways is stopped at interpreter exit; on
Linux the kernel kills the child if the test process dies outright, and the
reaper process (``reaper.py``) ends the whole group and removes the state dir.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import urlsplit

from . import reaper
from .records import LogMatch

__all__ = [
    "DEFAULT_LOG_PATTERNS",
    "READY_HELP",
    "ReadyCheck",
    "GatewayStartError",
    "Gateway",
    "LaunchedGateway",
    "AttachedGateway",
    "free_port",
    "format_command",
]

DEFAULT_LOG_PATTERNS: tuple[str, ...] = (
    "ReplyRunAlreadyActiveError",
    "still shutting down",
    "followup queue drain failed",
    "Traceback",
)
READY_HELP = "expected 'tcp', 'http:/path' or 'log:REGEX'"
PLACEHOLDERS = ("port", "provider_url", "state_dir", "python")
LOG_TAIL_LINES = 30
_POLL = 0.05


@dataclass(frozen=True)
class ReadyCheck:
    """How to tell the gateway is ready: ``tcp``, ``http:/path`` (2xx) or ``log:REGEX``."""

    kind: str
    arg: str = ""

    @classmethod
    def parse(cls, text: str | ReadyCheck, *, source: str = "ready") -> ReadyCheck:
        if isinstance(text, ReadyCheck):
            return text
        raw = str(text).strip()
        if raw == "tcp":
            return cls("tcp")
        if raw.startswith("http:"):
            path = raw[len("http:"):]
            if not path.startswith("/"):
                raise ValueError(f"{source}: {text!r} needs a path starting with '/'; {READY_HELP}")
            return cls("http", path)
        if raw.startswith("log:"):
            pattern = raw[len("log:"):]
            if not pattern:
                raise ValueError(f"{source}: {text!r} has an empty regex; {READY_HELP}")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{source}: {text!r} is not a valid regex ({exc}); {READY_HELP}") from None
            return cls("log", pattern)
        raise ValueError(f"{source}: {text!r} is not a readiness check; {READY_HELP}")

    @property
    def text(self) -> str:
        return "tcp" if self.kind == "tcp" else f"{self.kind}:{self.arg}"

    def __str__(self) -> str:
        return self.text


class GatewayStartError(RuntimeError):
    """The gateway exited or did not become ready; the message quotes the command and log tail."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bound to port 0, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def format_command(command: str | Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Split a template (a string is split like a shell would) and fill its placeholders."""
    try:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
    except ValueError as exc:
        raise ValueError(f"gateway command {command!r} cannot be split like a shell would ({exc}); "
                         "expected a command such as 'my-gateway --port {port}'") from None
    if not argv:
        raise ValueError("gateway command is empty; expected a command such as 'my-gateway --port {port}'")
    accepted = (f"expected placeholders {', '.join('{' + p + '}' for p in PLACEHOLDERS)} "
                "(write {{ and }} for literal braces)")
    out = []
    for arg in argv:
        try:
            out.append(arg.format_map(dict(values)))
        except KeyError as exc:
            raise ValueError(f"gateway command {command!r}: unknown placeholder {{{exc.args[0]}}}; {accepted}") from None
        except (ValueError, IndexError) as exc:
            raise ValueError(f"gateway command {command!r}: bad placeholder in {arg!r} ({exc}); {accepted}") from None
    return out


class Gateway(Protocol):
    """What the plugin needs from a gateway, launched or attached."""

    url: str
    port: int

    def start(self) -> Gateway: ...

    def stop(self) -> int | None: ...

    def wait_ready(self, timeout: float | None = None) -> None: ...

    def log_offset(self) -> int: ...

    def log_matches(self, since: int = 0) -> list[LogMatch]: ...

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]: ...


class _LogReader:
    """Reads a log file from byte offsets and scans it; tolerant of partial lines."""

    def __init__(self, path: Path | None, patterns: Sequence[str]) -> None:
        self.path = path
        self.patterns = [(p, re.compile(p)) for p in patterns]

    def offset(self) -> int:
        try:
            return self.path.stat().st_size if self.path is not None else 0
        except OSError:
            return 0

    def _read(self, since: int = 0) -> tuple[int, str]:
        if self.path is None:
            return 0, ""
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(since) if since else b""
                body = handle.read()
        except OSError:
            return 0, ""
        return head.count(b"\n"), body.decode("utf-8", "replace")

    def matches(self, since: int = 0) -> list[LogMatch]:
        lines_before, text = self._read(since)
        found = []
        for i, line in enumerate(text.splitlines(), start=lines_before + 1):
            for pattern, regex in self.patterns:
                if regex.search(line):
                    found.append(LogMatch(pattern=pattern, line=line, lineno=i))
                    break
        return found

    def tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        return self._read(0)[1].splitlines()[-lines:]

    def contains(self, regex: re.Pattern[str]) -> bool:
        return any(regex.search(line) for line in self._read(0)[1].splitlines())


def _http_ok(host: str, port: int, path: str, timeout: float = 1.0) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return 200 <= conn.getresponse().status < 300
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _tcp_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _set_pdeathsig() -> None:
    # Ask Linux to SIGKILL the gateway if the test process dies outright.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort, other platforms
        pass


_LIVE: set[LaunchedGateway] = set()
_LIVE_LOCK = threading.Lock()


def _stop_all_live() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for gateway in live:
        with contextlib.suppress(Exception):
            gateway.stop()


atexit.register(_stop_all_live)


class LaunchedGateway:
    """A gateway started from a command template, in its own process group."""

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        provider_url: str,
        ready: ReadyCheck | str = "http:/readyz",
        ready_timeout: float = 60.0,
        state_dir: str | Path | None = None,
        env: Mapping[str, str | None] | None = None,
        log_patterns: Sequence[str] = DEFAULT_LOG_PATTERNS,
        stop_grace: float = 5.0,
        cwd: str | Path | None = None,
        extra_logs: Sequence[tuple[Path, Callable[[Path], list[str]]]] = (),
    ) -> None:
        """``env`` values of None remove the variable; ``extra_logs`` are (path, reader) pairs
        scanned with the console log (a JSON log file, say)."""
        self.ready = ReadyCheck.parse(ready)
        if ready_timeout <= 0:
            raise ValueError(f"ready_timeout {ready_timeout!r}: expected seconds > 0")
        self.ready_timeout = ready_timeout
        self.stop_grace = stop_grace
        self.provider_url = provider_url
        self.template = command
        self._own_state_dir = state_dir is None
        self.state_dir = Path(state_dir) if state_dir is not None else Path(tempfile.mkdtemp(prefix="replyrace-gw-"))
        if self._own_state_dir:
            reaper.register_dir(self.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.state_dir / "gateway.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        values = {"port": str(self.port), "provider_url": provider_url, "state_dir": str(self.state_dir),
                  "python": sys.executable}
        try:
            self.command = format_command(command, values)
        except ValueError:
            self._remove_state_dir()
            raise
        self.extra_env = dict(env or {})
        self.cwd = Path(cwd) if cwd is not None else None
        self._log = _LogReader(self.log_path, log_patterns)
        self.extra_logs = list(extra_logs)
        self._extra_marks: dict[int, list[int]] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self.pid: int | None = None
        self.returncode: int | None = None
        self.restarts = 0
        self.on_ready: Callable[[LaunchedGateway], None] | None = None
        """Called after every start once the gateway is ready (a warm-up turn, say)."""

    def __repr__(self) -> str:
        return f"LaunchedGateway({shlex.join(self.command)!r}, url={self.url!r}, pid={self.pid})"

    @property
    def command_text(self) -> str:
        return shlex.join(self.command)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key, value in self.extra_env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        env.update({
            "REPLYRACE_GATEWAY_PORT": str(self.port),
            "REPLYRACE_PROVIDER_URL": self.provider_url,
            "REPLYRACE_STATE_DIR": str(self.state_dir),
            "PYTHONUNBUFFERED": "1",  # Python gateways' log lines reach the file at once
        })
        return env

    def start(self) -> LaunchedGateway:
        if self._process is not None:
            return self
        self._log_handle = open(self.log_path, "ab")
        try:
            self._process = subprocess.Popen(
                self.command,
                stdout=self._log_handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.cwd,
                env=self.env(),
                preexec_fn=_set_pdeathsig if sys.platform.startswith("linux") else None,  # noqa: PLW1509
            )
        except OSError as exc:
            self._close_log()
            self._remove_state_dir()
            raise GatewayStartError(f"gateway command {self.command_text!r} could not be started: {exc}") from exc
        self.pid = self._process.pid
        reaper.register_group(self.pid, self.stop_grace)
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            self.wait_ready()
            if self.on_ready is not None:
                self.on_ready(self)
        except BaseException:
            self.stop()
            raise
        return self

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def health(self, timeout: float = 2.0) -> str | None:
        """None while the gateway runs and passes an HTTP readiness check; else what is wrong.

        ``tcp`` and ``log:`` readiness cannot tell a hung process from a busy one (the kernel
        still accepts connections), so for them only a dead process counts.
        """
        process = self._process
        if process is None:
            return "it is not started"
        code = process.poll()
        if code is not None:
            self.returncode = code
            return f"it exited with {_describe_exit(code)}"
        if self.ready.kind == "http" and not _http_ok("127.0.0.1", self.port, self.ready.arg, timeout=timeout):
            return f"it stopped answering its readiness check ({self.ready.text}) within {timeout:g}s"
        return None

    def restart(self) -> LaunchedGateway:
        """Stop the process group and start the same command again: same port, state dir and log."""
        self._stop_group()
        self._close_log()
        self.restarts += 1
        with contextlib.suppress(OSError):
            with open(self.log_path, "ab") as log:
                log.write(f"--- replyrace: gateway restart {self.restarts} ---\n".encode())
        return self.start()

    def describe_log(self) -> str:
        """The command, the log's path and its last lines, indented for an error message."""
        tail = self.log_tail()
        shown = "\n".join(f"    {line}" for line in tail) if tail else "    (the log is empty)"
        return f"  command: {self.command_text}\n  log: {self.log_path}\n  last {len(tail)} log lines:\n{shown}"

    def _failure(self, what: str) -> GatewayStartError:
        return GatewayStartError(f"gateway {what}\n{self.describe_log()}")

    def _ready_now(self) -> bool:
        if self.ready.kind == "tcp":
            return _tcp_ok("127.0.0.1", self.port)
        if self.ready.kind == "http":
            return _http_ok("127.0.0.1", self.port, self.ready.arg)
        return self._log.contains(re.compile(self.ready.arg))

    def wait_ready(self, timeout: float | None = None) -> None:
        limit = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            process = self._process
            if process is None:
                raise GatewayStartError(f"gateway {self.command_text!r} is not started")
            code = process.poll()
            if code is not None:
                self.returncode = code
                raise self._failure(f"exited with {_describe_exit(code)} before it was ready ({self.ready.text})")
            if self._ready_now():
                return
            if time.monotonic() >= deadline:
                raise self._failure(f"still not ready ({self.ready.text}) after {limit:g}s; it was stopped")
            time.sleep(_POLL)

    def stop(self) -> int | None:
        """SIGTERM the process group, SIGKILL it after the grace; idempotent."""
        self._stop_group()
        self._close_log()
        self._remove_state_dir()
        return self.returncode

    def _stop_group(self) -> None:
        process = self._process
        if process is not None:
            pgid = process.pid  # start_new_session: the group id is the leader's pid
            _signal_group(pgid, signal.SIGCONT)  # a paused gateway could not act on SIGTERM
            _signal_group(pgid, signal.SIGTERM)
            code: int | None = None
            try:
                code = process.wait(timeout=self.stop_grace)
            except subprocess.TimeoutExpired:
                pass
            finally:
                # Also when Ctrl-C lands in the grace: children that outlived the leader are still in the group.
                _signal_group(pgid, signal.SIGKILL)
            self.returncode = code if code is not None else process.wait(timeout=10)
            reaper.unregister_group(pgid)
            self._process = None
            with _LIVE_LOCK:
                _LIVE.discard(self)

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def _remove_state_dir(self) -> None:
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            reaper.unregister_dir(self.state_dir)

    def log_offset(self) -> int:
        offset = self._log.offset()
        if self.extra_logs:
            # Extra logs are read by line; remember where each stood at this offset.
            self._extra_marks[offset] = [len(reader(path)) for path, reader in self.extra_logs]
        return offset

    def log_matches(self, since: int = 0) -> list[LogMatch]:
        found = self._log.matches(since)
        marks = self._extra_marks.get(since, [0] * len(self.extra_logs))
        for (path, reader), start in zip(self.extra_logs, marks):
            for i, line in enumerate(reader(path)[start:], start=start + 1):
                for pattern, regex in self._log.patterns:
                    if regex.search(line):
                        found.append(LogMatch(pattern=pattern, line=f"{path.name}: {line}", lineno=i))
                        break
        return found

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        return self._log.tail(lines)

    def __enter__(self) -> LaunchedGateway:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class AttachedGateway:
    """A gateway someone else runs, reached by URL: readiness and (optionally) its log."""

    pid = None
    state_dir = None
    provider_url = None

    def __init__(
        self,
        url: str,
        *,
        ready: ReadyCheck | str = "http:/readyz",
        ready_timeout: float = 60.0,
        log_path: str | Path | None = None,
        log_patterns: Sequence[str] = DEFAULT_LOG_PATTERNS,
    ) -> None:
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"gateway url {url!r}: expected http://HOST:PORT")
        self.url = url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port
        self.ready = ReadyCheck.parse(ready)
        self.ready_timeout = ready_timeout
        self.log_path = Path(log_path) if log_path is not None else None
        self._log = _LogReader(self.log_path, log_patterns)

    def start(self) -> AttachedGateway:
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        limit = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            if self.ready.kind == "tcp":
                ok = _tcp_ok(self.host, self.port)
            elif self.ready.kind == "http":
                ok = _http_ok(self.host, self.port, self.ready.arg)
            else:
                ok = self._log.contains(re.compile(self.ready.arg))
            if ok:
                return
            if time.monotonic() >= deadline:
                raise GatewayStartError(f"gateway at {self.url} was not ready ({self.ready.text}) after {limit:g}s")
            time.sleep(_POLL)

    def stop(self) -> int | None:
        return None

    def log_offset(self) -> int:
        return self._log.offset()

    def log_matches(self, since: int = 0) -> list[LogMatch]:
        return self._log.matches(since)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        return self._log.tail(lines)
