"""Start the gateway under test as a real subprocess, wait until it is ready, and never leak it.

The pieces live next door: the command template (:mod:`.command`), readiness
(:mod:`.readiness`), the log (:mod:`.gateway_log`) and the process lifecycle
(:mod:`.processes`). This module joins them into :class:`LaunchedGateway`.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Protocol

from ..errors import GatewayStartError, NotStarted
from ..loopback import free_port
from ..units import MAX_GRACE, parse_duration
from . import reaper
from .command import PLACEHOLDERS, format_command, shell_hint
from .log import DEFAULT_LOG_PATTERNS, LOG_TAIL_LINES, LogReader, LogScan
from .ports import listening_ports
from .processes import EndedProcess, ProcessGroup, describe_exit
from .readiness import ReadyCheck, failure_hint, probe, wait_until_ready

__all__ = ["Gateway", "GatewayStartError", "LaunchedGateway", "fill_template"]


class Gateway(Protocol):
    """What the plugin needs from a gateway, launched or attached."""

    @property
    def url(self) -> str: ...

    @property
    def port(self) -> int: ...

    def start(self) -> Gateway: ...

    def stop(self) -> int | None: ...

    def wait_ready(self, timeout: float | None = None) -> None: ...

    def log_offset(self) -> int: ...

    def log_matches(
        self, since: int = 0, *, late_from: int | None = None, containing: str | None = None
    ) -> LogScan: ...

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]: ...


def check_waits(ready_timeout: float, stop_grace: float) -> tuple[float, float]:
    """The readiness timeout (> 0, at most a day) and the stop grace (at most 10 min: teardown waits that long)."""
    return (
        parse_duration(ready_timeout, what="ready_timeout", allow_zero=False),
        parse_duration(stop_grace, what="stop_grace", limit=MAX_GRACE),
    )


def fill_template(text: str, values: Mapping[str, str]) -> str:
    """Replace only ``{port}``, ``{provider_url}``, ``{state_dir}`` and ``{python}``: a plain string replace, so
    every other brace of a JSON or YAML template stays as it is."""
    for name in PLACEHOLDERS:
        if name in values:
            text = text.replace("{" + name + "}", values[name])
    return text


def process_env(extra: Mapping[str, str | None], values: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with ``extra`` applied (None removes a variable) and the gateway's own."""
    env = dict(os.environ)
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env.update(
        {
            "REPLYRACE_GATEWAY_PORT": values["port"],
            "REPLYRACE_PROVIDER_URL": values["provider_url"],
            "REPLYRACE_STATE_DIR": values["state_dir"],
            "PYTHONUNBUFFERED": "1",  # Python gateways' log lines reach the file at once
        }
    )
    return env


def write_templates(files: Sequence[tuple[str, Path]], state_dir: Path, values: Mapping[str, str]) -> None:
    """Fill each (dest, template) into ``state_dir``; an unreadable template is a start error naming both."""
    for dest, template in files:
        try:
            text = fill_template(template.read_text(encoding="utf-8"), values)
            target = state_dir / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GatewayStartError(
                f"gateway file {dest} from the template {template} could not be written: {exc}"
            ) from exc


class GatewayLogs:
    """The gateway's console log and its extra logs (a JSON log file, say), scanned together."""

    def __init__(self, path: Path | None, patterns: Sequence[str]) -> None:
        self.console = LogReader(path, patterns)
        self._extra: list[LogReader] = []
        self._marks: dict[int, list[int]] = {}

    def moved_to(self, path: Path) -> None:
        """The console log is at ``path`` (known once the state dir is made)."""
        self.console = LogReader(path, [p for p, _ in self.console.patterns])

    @property
    def extra(self) -> list[tuple[Path, Callable[[str], str]]]:
        return [(r.path, r.transform) for r in self._extra if r.path is not None and r.transform is not None]

    @extra.setter
    def extra(self, logs: list[tuple[Path, Callable[[str], str]]]) -> None:
        patterns = [p for p, _ in self.console.patterns]
        self._extra = [LogReader(path, patterns, transform=transform, label=path.name) for path, transform in logs]
        self._marks = {}

    def offset(self) -> int:
        offset = self.console.offset()
        if self._extra:
            # Each extra log has offsets of its own: remember where each stood at this console offset.
            self._marks[offset] = [reader.offset() for reader in self._extra]
        return offset

    def matches(self, since: int, *, late_from: int | None, containing: str | None) -> LogScan:
        found = self.console.matches(since, late_from=late_from, containing=containing)
        marks = self._marks.get(since, [0] * len(self._extra))
        late_marks = self._marks.get(late_from, []) if late_from is not None else []
        for i, (reader, start) in enumerate(zip(self._extra, marks)):
            late = late_marks[i] if i < len(late_marks) else None
            found.extend(reader.matches(start, late_from=late, containing=containing))
        return found


def _port_taken_error(port: int, command_text: str) -> GatewayStartError | None:
    """Nothing may listen on the gateway's port before it starts: a gateway that finds its port taken may move to
    another one and say so only in its log, and the readiness check would then talk to the other process."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return GatewayStartError(
            f"gateway {command_text!r} was not started: its port {port} is taken, something already "
            f"listens on 127.0.0.1:{port}; a gateway that finds its port taken may move to another one "
            "(LangGraph's `langgraph dev` does, with only a log line), and the readiness check would talk to "
            "the other process"
        )
    return None


def _moved_away(group: ProcessGroup | None, ready: ReadyCheck, port: int, last: str) -> str | None:
    """The gateway must answer on its own port: a gateway that moved to another one (LangGraph's ``langgraph
    dev`` does when its port is taken) while something else answers on ``{port}`` is refused, clearly. Only
    when its processes listen somewhere and not on the port (a ``docker run -p`` gateway listens nowhere)."""
    if ready.kind == "log" or group is None:
        return None
    pids = {group.pid, *reaper.marked_processes(group.marker)}
    ports = listening_ports(pids)
    if not ports or port in ports:
        return None
    where = ", ".join(f"127.0.0.1:{p}" for p in sorted(ports))
    return (
        f"does not listen on its port {port}: its processes listen on {where}, and something else "
        f"answers on {port} (readiness: {last}). The port may have been taken when it started, and the "
        "gateway moved to another one (LangGraph's `langgraph dev` does, with only a log line); give it the "
        "port with {port} in the command or a gateway file"
    )


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
        extra_logs: Sequence[tuple[Path, Callable[[str], str]]] = (),
        progress: Callable[[str], None] | None = None,
        files: Sequence[tuple[str, Path]] = (),
    ) -> None:
        """``env`` values of None remove the variable; ``extra_logs`` are (path, line transform) pairs
        scanned with the console log (a JSON log file, say, whose records the transform turns into text);
        ``progress`` gets a line while a slow start is waited for (see
        :func:`~pytest_replyrace.gateway.readiness.wait_until_ready`); ``files`` are (dest, template) pairs written
        into the state dir before every start (see :func:`fill_template`)."""
        self.progress = progress
        self.ready = ReadyCheck.parse(ready)
        self.ready_timeout, self.stop_grace = check_waits(ready_timeout, stop_grace)
        self.provider_url = provider_url
        self.template = command
        format_command(command, {"port": "1", "provider_url": provider_url, "state_dir": ".", "python": "python"})
        self._own_state_dir = state_dir is None
        self._state_dir = Path(state_dir) if state_dir is not None else None
        self._port: int | None = None
        self._command: list[str] | None = None
        self.files = list(files)
        self.extra_env = dict(env or {})
        self.cwd = Path(cwd) if cwd is not None else None
        self._logs = GatewayLogs(None, log_patterns)
        self._logs.extra = list(extra_logs)
        self._group: ProcessGroup | None = None
        self._log_handle: IO[bytes] | None = None
        self.pid: int | None = None
        self.returncode: int | None = None
        self.restarts = 0
        self.ended: list[EndedProcess] = []
        """Processes that left the gateway's group and were ended by its run marker."""
        self.on_ready: Callable[[LaunchedGateway], None] | None = None
        """Called after every start once the gateway is ready (a warm-up turn, say)."""

    def prepare(self) -> LaunchedGateway:
        """Make the state dir (registered with the watchdog when it is our own), take a free port and fill the
        command; idempotent. :meth:`start` does it first; call it earlier to learn ``port``, ``url`` or
        ``state_dir`` before the gateway starts (to write a config that names them, say)."""
        if self._port is not None:
            return self
        if self._state_dir is None:
            self._state_dir = Path(tempfile.mkdtemp(prefix="replyrace-gw-"))
        if self._own_state_dir:
            reaper.register_dir(self._state_dir)
        self._state_dir.mkdir(parents=True, exist_ok=True)
        self._logs.moved_to(self._state_dir / "gateway.log")
        self._port = free_port()
        self._command = format_command(self.template, self.placeholders)
        return self

    def _prepared(self, what: str) -> None:
        if self._port is None:
            raise NotStarted(f"the gateway's {what} is known once it is prepared; call prepare() or start() first")

    @property
    def state_dir(self) -> Path:
        if self._state_dir is None:
            self._prepared("state dir")
        assert self._state_dir is not None
        return self._state_dir

    @property
    def log_path(self) -> Path:
        return self.state_dir / "gateway.log"

    @property
    def port(self) -> int:
        self._prepared("port")
        assert self._port is not None
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        self._prepared("command")
        assert self._command is not None
        return self._command

    @property
    def placeholders(self) -> dict[str, str]:
        """The values the command template and the config templates are filled with."""
        return {
            "port": str(self.port),
            "provider_url": self.provider_url,
            "state_dir": str(self.state_dir),
            "python": sys.executable,
        }

    def __repr__(self) -> str:
        if self._port is None:
            return f"LaunchedGateway({self.template!r}, not prepared)"
        return f"LaunchedGateway({shlex.join(self.command)!r}, url={self.url!r}, pid={self.pid})"

    @property
    def command_text(self) -> str:
        return shlex.join(self.command)

    def env(self) -> dict[str, str]:
        return process_env(self.extra_env, self.placeholders)

    def write_files(self) -> None:
        """Fill each config template into the state dir (before every start: a restart gets fresh ones)."""
        write_templates(self.files, self.state_dir, self.placeholders)

    def start(self) -> LaunchedGateway:
        if self._group is not None:
            return self
        self.prepare()
        self._check_port_free()
        self.write_files()
        self._log_handle = open(self.log_path, "ab")  # noqa: SIM115 - held open for the gateway's life, closed in stop()
        try:
            self._group = ProcessGroup(
                self.command,
                env=self.env(),
                cwd=self.cwd,
                log=self._log_handle,
                grace=self.stop_grace,
                label=self.command_text,
            )
        except OSError as exc:
            self._close_log()
            self._remove_state_dir()
            raise GatewayStartError(
                f"gateway command {self.command_text!r} could not be started: {exc}{shell_hint(self.command)}"
            ) from exc
        self.pid = self._group.pid
        try:
            self.wait_ready()
            if self.on_ready is not None:
                self.on_ready(self)
        except BaseException:
            self.stop()
            raise
        return self

    def is_running(self) -> bool:
        return self._group is not None and self._group.poll() is None

    def health(self, timeout: float = 2.0) -> str | None:
        """None while the gateway runs and passes an HTTP readiness check; else what is wrong.

        ``tcp`` and ``log:`` readiness cannot tell a hung process from a busy one (the kernel
        still accepts connections), so for them only a dead process counts.
        """
        group = self._group
        if group is None:
            return "it is not started"
        code = group.poll()
        if code is not None:
            self.returncode = code
            return f"it exited with {describe_exit(code)}"
        if self.ready.kind == "http":
            problem = probe(self.ready, "127.0.0.1", self.port, self._logs.console.contains, timeout=timeout)
            if problem is not None:
                return (
                    f"it stopped answering its readiness check ({self.ready.target('127.0.0.1', self.port)}) "
                    f"within {timeout:g}s: {problem}"
                )
        return None

    def restart(self) -> LaunchedGateway:
        """Stop the process group and start the same command again: same port, state dir and log."""
        self._stop_group()
        self._close_log()
        self.restarts += 1
        with contextlib.suppress(OSError), open(self.log_path, "ab") as log:
            log.write(f"--- replyrace: gateway restart {self.restarts} ---\n".encode())
        return self.start()

    def describe_log(self) -> str:
        """The command, the log's path and its last lines, indented for an error message."""
        tail = self.log_tail()  # each line cut and escaped: a gateway cannot flood or repaint the terminal
        shown = "\n".join(f"    {line}" for line in tail) if tail else "    (the log is empty)"
        return f"  command: {self.command_text}\n  log: {self.log_path}\n  last {len(tail)} log lines:\n{shown}"

    def _failure(self, what: str) -> GatewayStartError:
        return GatewayStartError(f"gateway {what}\n{self.describe_log()}")

    def _probed(self, last: str | None) -> str:
        hint = failure_hint(self.ready, last, "127.0.0.1", self.port)
        return f"  probed: {self.ready.target('127.0.0.1', self.port)}; last result: {last or 'not probed yet'}{hint}"

    def _check_alive(self, last: str | None) -> None:
        group = self._group
        if group is None:
            raise GatewayStartError(f"gateway {self.command_text!r} is not started")
        code = group.poll()
        if code is not None:
            self.returncode = code
            raise self._failure(
                f"exited with {describe_exit(code)} before it was ready ({self.ready.text})\n{self._probed(last)}"
            )

    def wait_ready(self, timeout: float | None = None) -> None:
        limit = self.ready_timeout if timeout is None else timeout
        next_port_check = 0.0

        def still_alive(last: str | None) -> None:
            nonlocal next_port_check
            self._check_alive(last)
            # Something answers on the port while the gateway is not ready: is it the gateway at all?
            if last not in (None, "connection refused") and time.monotonic() >= next_port_check:
                next_port_check = time.monotonic() + 1.0
                self._check_port(last)

        last = wait_until_ready(
            self.ready,
            "127.0.0.1",
            self.port,
            self._logs.console.contains,
            limit,
            still_alive=still_alive,
            progress=self.progress,
        )
        if last is not None:
            raise self._failure(
                f"still not ready ({self.ready.text}) after {limit:g}s; it was stopped\n{self._probed(last)}"
            )
        self._check_port("ready")

    def _check_port_free(self) -> None:
        error = _port_taken_error(self.port, self.command_text)
        if error is not None:
            self._remove_state_dir()
            raise error

    def _check_port(self, last: str) -> None:
        problem = _moved_away(self._group, self.ready, self.port, last)
        if problem is not None:
            raise self._failure(f"{problem}; it was stopped\n{self._probed(last)}")

    def stop(self) -> int | None:
        """SIGTERM the process group, SIGKILL it after the grace, end what left it; idempotent."""
        self._stop_group()
        self._close_log()
        self._remove_state_dir()
        return self.returncode

    def _stop_group(self) -> None:
        group = self._group
        if group is not None:
            self.returncode = group.stop()
            self.ended.extend(group.ended)
            self._group = None

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def _remove_state_dir(self) -> None:
        if self._own_state_dir and self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            reaper.unregister_dir(self._state_dir)

    @property
    def extra_logs(self) -> list[tuple[Path, Callable[[str], str]]]:
        return self._logs.extra

    @extra_logs.setter
    def extra_logs(self, logs: Sequence[tuple[Path, Callable[[str], str]]]) -> None:
        self._logs.extra = list(logs)

    def log_offset(self) -> int:
        return self._logs.offset()

    def log_matches(self, since: int = 0, *, late_from: int | None = None, containing: str | None = None) -> LogScan:
        """Matches from console byte ``since`` (and the extra logs from where they stood then), bounded
        together: the first MATCH_LIMIT kept, the rest counted."""
        return self._logs.matches(since, late_from=late_from, containing=containing)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        return self._logs.console.tail(lines)

    def __enter__(self) -> LaunchedGateway:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
