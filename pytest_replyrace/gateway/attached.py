"""A gateway someone else runs, reached by URL: readiness and (optionally) its log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import InvalidArgument
from ..units import parse_duration
from .launcher import GatewayStartError
from .log import DEFAULT_LOG_PATTERNS, LOG_TAIL_LINES, LogReader, LogScan
from .readiness import ReadyCheck, failure_hint, wait_until_ready

__all__ = ["AttachedGateway"]


class AttachedGateway:
    """A running gateway at ``url``; nothing is started or stopped."""

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
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.progress = progress
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise InvalidArgument(f"gateway url {url!r}: expected http://HOST:PORT")
        self.url = url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port
        self.ready = ReadyCheck.parse(ready)
        self.ready_timeout = parse_duration(ready_timeout, what="ready_timeout", allow_zero=False)
        self.log_path = Path(log_path) if log_path is not None else None
        self._log = LogReader(self.log_path, log_patterns)

    def start(self) -> AttachedGateway:
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        limit = self.ready_timeout if timeout is None else timeout
        last = wait_until_ready(self.ready, self.host, self.port, self._log.contains, limit, progress=self.progress)
        if last is not None:
            raise GatewayStartError(
                f"gateway at {self.url} was not ready ({self.ready.text}) after {limit:g}s; "
                f"probed {self.ready.target(self.host, self.port)}, last result: {last}"
                f"{failure_hint(self.ready, last, self.host, self.port)}"
            )

    def stop(self) -> int | None:
        return None

    def log_offset(self) -> int:
        return self._log.offset()

    def log_matches(self, since: int = 0, *, late_from: int | None = None, containing: str | None = None) -> LogScan:
        return self._log.matches(since, late_from=late_from, containing=containing)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        return self._log.tail(lines)
