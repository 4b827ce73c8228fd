"""How to tell a gateway is ready: ``tcp``, ``http:/path`` (2xx) or ``log:REGEX``.

A probe answers None when the gateway is ready, or in words what it saw instead
(``connection refused``, ``HTTP 404``, ``timed out after 1s``), so a readiness
error can say what the last probe found, not only that time ran out.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InvalidArgument

__all__ = ["READY_HELP", "ReadyCheck", "failure_hint", "not_found_hint", "probe", "wait_until_ready"]

READY_HELP = "expected 'tcp', 'http:/path' or 'log:REGEX'"
POLL_SECONDS = 0.05


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
            path = raw[len("http:") :]
            if not path.startswith("/"):
                raise InvalidArgument(f"{source}: {text!r} needs a path starting with '/'; {READY_HELP}")
            return cls("http", path)
        if raw.startswith("log:"):
            pattern = raw[len("log:") :]
            if not pattern:
                raise InvalidArgument(f"{source}: {text!r} has an empty regex; {READY_HELP}")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise InvalidArgument(f"{source}: {text!r} is not a valid regex ({exc}); {READY_HELP}") from None
            return cls("log", pattern)
        raise InvalidArgument(f"{source}: {text!r} is not a readiness check; {READY_HELP}")

    @property
    def text(self) -> str:
        return "tcp" if self.kind == "tcp" else f"{self.kind}:{self.arg}"

    def __str__(self) -> str:
        return self.text

    def target(self, host: str, port: int) -> str:
        """What the check looks at, for messages: a URL, an address or the log."""
        if self.kind == "http":
            return f"http://{host}:{port}{self.arg}"
        if self.kind == "tcp":
            return f"{host}:{port}"
        return f"the gateway log (regex {self.arg!r})"


def _socket_error(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


def _http(host: str, port: int, path: str, timeout: float) -> str | None:
    import http.client  # here: the plugin reads ReadyCheck at every pytest start, a probe only runs with a gateway

    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        status = conn.getresponse().status
        return None if 200 <= status < 300 else f"HTTP {status}"
    except OSError as exc:
        return _socket_error(exc)
    except http.client.HTTPException as exc:
        return f"not an HTTP answer ({type(exc).__name__})"
    finally:
        conn.close()


def _tcp(host: str, port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return _socket_error(exc)


def probe(
    check: ReadyCheck, host: str, port: int, log_has: Callable[[re.Pattern[str]], bool], timeout: float = 1.0
) -> str | None:
    """One readiness probe: None when ready, else what it saw."""
    if check.kind == "tcp":
        return _tcp(host, port, timeout)
    if check.kind == "http":
        return _http(host, port, check.arg, timeout)
    return None if log_has(re.compile(check.arg)) else "no matching log line yet"


OTHER_PATHS = ("/readyz", "/health", "/healthz", "/ok", "/")
"""Where a gateway whose readiness path answers 404 may answer instead: each tried once, for the hint."""


def not_found_hint(check: ReadyCheck, host: str, port: int, timeout: float = 1.0) -> str:
    """For a readiness path that answered HTTP 404: which setting names the path, and the usual paths that
    answered 2xx (each probed once), so the message can say what to write. Empty for other checks."""
    if check.kind != "http":
        return ""
    answered = [path for path in OTHER_PATHS if path != check.arg and _http(host, port, path, timeout) is None]
    setting = "replyrace_ready (ini), REPLYRACE_READY (env) or --replyrace-ready (command line)"
    if answered:
        found = f"it answered 2xx on {', '.join(answered)}: set {setting} to http:{answered[0]}"
    else:
        tried = ", ".join(path for path in OTHER_PATHS if path != check.arg)
        found = f"none of {tried} answered 2xx either: set {setting} to your gateway's readiness path, or tcp"
    return f"{check.arg} answered HTTP 404, so the gateway has no such path; {found}"


def failure_hint(check: ReadyCheck, last: str | None, host: str, port: int) -> str:
    """A line for the readiness failure's message when the last probe says what to change (a 404), else empty."""
    return f"\n  hint: {not_found_hint(check, host, port)}" if last == "HTTP 404" else ""


PROGRESS_AFTER = 5.0
PROGRESS_EVERY = 10.0


def wait_until_ready(
    check: ReadyCheck,
    host: str,
    port: int,
    log_has: Callable[[re.Pattern[str]], bool],
    limit: float,
    *,
    still_alive: Callable[[str | None], None] = lambda last: None,
    progress: Callable[[str], None] | None = None,
) -> str | None:
    """Probe until ready (None) or ``limit`` seconds pass (the last probe's result).

    ``still_alive`` is called before each probe with the previous probe's result and raises if the process it
    watches is gone. ``progress`` gets a line after 5 s of waiting, then every 10 s, so a wait is never silent.
    """
    start = time.monotonic()
    deadline = start + limit
    next_note = start + PROGRESS_AFTER
    last: str | None = None
    while True:
        still_alive(last)
        last = probe(check, host, port, log_has)
        if last is None:
            return None
        now = time.monotonic()
        if now >= deadline:
            return last
        if progress is not None and now >= next_note:
            hint = f"; {not_found_hint(check, host, port)}" if last == "HTTP 404" else ""
            progress(
                f"replyrace: waiting for the gateway at {check.target(host, port)} ({now - start:.0f}s of "
                f"{limit:g}s; last: {last}{hint})"
            )
            next_note += PROGRESS_EVERY
        time.sleep(POLL_SECONDS)
