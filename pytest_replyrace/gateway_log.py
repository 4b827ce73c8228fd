"""The gateway's log: where it stands, what in it matches the scan patterns, its last lines.

Read from byte offsets and tolerant of partial lines, so a test can scan just
what the gateway wrote while it ran.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .records import LogMatch

__all__ = ["DEFAULT_LOG_PATTERNS", "LOG_TAIL_LINES", "LogReader"]

DEFAULT_LOG_PATTERNS: tuple[str, ...] = (
    "ReplyRunAlreadyActiveError",
    "still shutting down",
    "followup queue drain failed",
    "Traceback",
)
LOG_TAIL_LINES = 30


class LogReader:
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

    def match_line(self, line: str) -> str | None:
        """The first scan pattern that matches ``line``."""
        return next((pattern for pattern, regex in self.patterns if regex.search(line)), None)

    def matches(self, since: int = 0) -> list[LogMatch]:
        lines_before, text = self._read(since)
        found = []
        for i, line in enumerate(text.splitlines(), start=lines_before + 1):
            pattern = self.match_line(line)
            if pattern is not None:
                found.append(LogMatch(pattern=pattern, line=line, lineno=i))
        return found

    def tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        return self._read(0)[1].splitlines()[-lines:]

    def contains(self, regex: re.Pattern[str]) -> bool:
        return any(regex.search(line) for line in self._read(0)[1].splitlines())
