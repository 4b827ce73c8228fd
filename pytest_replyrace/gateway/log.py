"""The gateway's log: where it stands, what in it matches the scan patterns, its last lines.

Read as a stream from byte offsets, in bounded memory whatever the log's size:
lines are read in binary, the patterns see the first :data:`SCAN_BYTES` of each
line, at most :data:`MATCH_LIMIT` matches are kept per scan (the rest are
counted), and every line that reaches the user goes through :func:`quote_line`
(at most :data:`LINE_LIMIT` characters, control characters escaped).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..records import LogMatch

__all__ = [
    "DEFAULT_LOG_PATTERNS",
    "LINE_LIMIT",
    "LOG_TAIL_LINES",
    "MATCH_LIMIT",
    "SCAN_BYTES",
    "TRACEBACK_LOOKAHEAD",
    "LogReader",
    "LogScan",
    "escape_controls",
    "exception_line",
    "quote_line",
]

DEFAULT_LOG_PATTERNS: tuple[str, ...] = (
    "ReplyRunAlreadyActiveError",
    "still shutting down",
    "followup queue drain failed",
    "Traceback",
)
LOG_TAIL_LINES = 30
LINE_LIMIT = 300
"""Characters of a log line shown anywhere (message, JSON, HTML); the rest is counted."""
MATCH_LIMIT = 50
"""Matches kept per scan (one race run); the rest are counted."""
SCAN_BYTES = 1 << 20
"""Bytes of a line the patterns are matched against, at least; the rest of a longer line is skipped unread."""
TRACEBACK_LOOKAHEAD = 200
"""Lines after a ``Traceback`` match searched for the exception line that ends it."""
_CHUNK = 1 << 20

# C0/C1 controls (ESC, CSI, CR, BS...) and invisible format characters (bidi overrides, line separators):
# a gateway's log must not be able to move the cursor, clear the screen or reorder what the user reads.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_SEES_PAST_ITS_LINE = re.compile(r"\\[AZz]|\(\?(?:<?[=!]|>)|[*+?}]\+")
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*Traceback\b")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """Control characters and escape codes written as text (``\\x1b``): a gateway's text can never drive the
    terminal (clear the screen, print a fake "1 passed")."""
    return _UNSAFE.sub(_escape, text)


def quote_line(text: str, limit: int = LINE_LIMIT, dropped: int = 0) -> str:
    """``text`` safe to show: control characters and escape codes written as text (``\\x1b``) and at most
    ``limit`` characters, the rest counted (``… (+N chars)``); ``dropped``: characters already cut off.

    Idempotent, so text quoted at scan time can be quoted again where it is shown.
    """
    shown = escape_controls(text)
    total = len(shown) + dropped
    if total <= limit:
        return shown
    kept = shown[: max(0, limit - len(f"… (+{total:,} chars)"))]
    return f"{kept}… (+{total - len(kept):,} chars)"


def exception_line(following: Iterable[str]) -> str | None:
    """The line that ends a Python traceback, given the lines after ``Traceback (most recent call last):``:
    the first non-indented line after the indented frames (``ValueError: boom``); None if there is none
    within TRACEBACK_LOOKAHEAD lines."""
    end = _TracebackEnd()
    for line in following:
        if not end.feed(line):
            break
    return end.exception


class _TracebackEnd:
    """Follows the lines after a ``Traceback`` match (a bounded number) to the exception line that ends it."""

    def __init__(self, match: LogMatch | None = None) -> None:
        self.match = match
        self.frames = self.seen = 0
        self.exception: str | None = None

    def feed(self, text: str) -> bool:
        """Take the next line; False once the traceback's end is known or too far away."""
        self.seen += 1
        if text[:1] in (" ", "\t"):
            self.frames += 1
        elif text.strip():
            if self.frames:  # no frames: not a traceback we can read
                self.exception = text
                if self.match is not None:
                    self.match.line = f"{self.match.line} → {quote_line(text, LINE_LIMIT // 2)}"
            return False
        return self.seen < TRACEBACK_LOOKAHEAD


@dataclass
class LogScan:
    """The matches of one scan: the first :data:`MATCH_LIMIT`, and how many more were counted."""

    matches: list[LogMatch] = field(default_factory=list)
    more: int = 0

    @property
    def total(self) -> int:
        return len(self.matches) + self.more

    def add(self, match: LogMatch, limit: int = MATCH_LIMIT) -> bool:
        """Keep ``match`` if there is room, else count it; True if kept."""
        if len(self.matches) < limit:
            self.matches.append(match)
            return True
        self.more += 1
        return False

    def extend(self, other: LogScan, limit: int = MATCH_LIMIT) -> None:
        for match in other.matches:
            self.add(match, limit)
        self.more += other.more


@dataclass
class _Batch:
    """Whole lines read in one block (or the head of one long line)."""

    start: int
    """Byte offset of the first line's start."""
    end: int
    """Byte offset after the last line (and its newline)."""
    text: str
    """The lines, joined by newlines."""
    dropped: int = 0
    """Bytes skipped unread from the batch's only line, a line longer than SCAN_BYTES."""
    complete: bool = True
    """The last line ends with a newline (the file's last line may still be being written)."""

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").replace("\r\n", "\n")


def _batches(handle: IO[bytes], start: int) -> Iterator[_Batch]:
    """The lines from byte ``start`` on, a block at a time; memory stays bounded by a few blocks
    whatever a line's length (a longer line's rest is skipped, counted)."""
    handle.seek(start)
    offset, carry = start, b""
    while True:
        block = handle.read(_CHUNK)
        buffer = carry + block if carry else block
        cut = buffer.rfind(b"\n")
        if cut >= 0:
            carry = buffer[cut + 1 :]
            yield _Batch(offset, offset + cut + 1, _decode(buffer[:cut]))
            offset += cut + 1
        elif not block:
            if buffer:
                yield _Batch(offset, offset + len(buffer), _decode(buffer), complete=False)
            return
        elif len(buffer) < SCAN_BYTES:
            carry = buffer
        else:
            batch = _long_line(handle, offset, buffer)
            carry = b""
            yield batch
            offset = batch.end
            handle.seek(offset)


def _long_line(handle: IO[bytes], offset: int, buffer: bytes) -> _Batch:
    """A line longer than SCAN_BYTES: its head, and its rest skipped block by block and counted."""
    dropped = len(buffer) - SCAN_BYTES
    while True:
        block = handle.read(_CHUNK)
        newline = block.find(b"\n")
        if newline >= 0:
            dropped += newline
            end = offset + SCAN_BYTES + dropped + 1
            return _Batch(offset, end, _decode(buffer[:SCAN_BYTES]), dropped=dropped)
        if not block:
            return _Batch(
                offset, offset + SCAN_BYTES + dropped, _decode(buffer[:SCAN_BYTES]), dropped=dropped, complete=False
            )
        dropped += len(block)


class LogReader:
    """Reads a log file as a stream from byte offsets and scans it; tolerant of partial lines.

    ``transform`` turns each raw line into the text scanned and shown (a JSON log record into its
    message, say); ``label`` prefixes the quoted lines (the file's name, for a log beside the console's).
    """

    def __init__(
        self,
        path: Path | None,
        patterns: Sequence[str],
        *,
        transform: Callable[[str], str] | None = None,
        label: str = "",
    ) -> None:
        self.path = path
        self.patterns = [(p, re.compile(p)) for p in patterns]
        # A block with no match of these over its whole text has no matching line: the loop per line is
        # skipped. Only for patterns that see no further than their own line (no \A, \Z, lookarounds,
        # atomic or possessive parts) and lines shown as they are.
        self._block_filter: list[re.Pattern[str]] | None = (
            [re.compile(p, re.MULTILINE) for p in patterns]
            if transform is None and not any(_SEES_PAST_ITS_LINE.search(p) for p in patterns)
            else None
        )
        self.transform = transform
        self.label = label
        self._linenos: dict[int, int] = {0: 0}
        """Byte offsets of line starts seen by earlier scans → lines before them (to number lines cheaply)."""
        self._contains_from: dict[str, int] = {}
        """Per readiness regex: where its next poll starts (every complete line before was searched)."""

    def offset(self) -> int:
        try:
            return self.path.stat().st_size if self.path is not None else 0
        except OSError:
            return 0

    def _open(self) -> IO[bytes] | None:
        if self.path is None:
            return None
        try:
            return open(self.path, "rb")
        except OSError:
            return None

    def _lines_before(self, handle: IO[bytes], since: int) -> int:
        """How many newlines come before byte ``since``, counted from the nearest offset seen before."""
        if self.offset() < max(self._linenos):
            self._linenos = {0: 0}  # the file was truncated or replaced
        known = max(o for o in self._linenos if o <= since)
        count = self._linenos[known]
        handle.seek(known)
        left = since - known
        while left > 0:
            block = handle.read(min(_CHUNK, left))
            if not block:
                break
            count += block.count(b"\n")
            left -= len(block)
        return count

    def _first_line_from(self, handle: IO[bytes], offset: int) -> int:
        """The number of the first line that starts at byte ``offset`` or after it."""
        before = self._lines_before(handle, offset)
        if offset == 0:
            return 1
        handle.seek(offset - 1)
        return before + (1 if handle.read(1) == b"\n" else 2)

    def _remember(self, offset: int, lineno: int) -> None:
        if len(self._linenos) >= 64:
            del self._linenos[min(o for o in self._linenos if o)]
        self._linenos[offset] = lineno

    def match_line(self, line: str) -> str | None:
        """The first scan pattern that matches ``line``."""
        for pattern, regex in self.patterns:
            if regex.search(line):
                return pattern
        return None

    def _no_match_in(self, batch: _Batch, containing: str | None) -> bool:
        if self._block_filter is None:
            return False
        if containing is not None and containing not in batch.text:
            return True
        return not any(regex.search(batch.text) for regex in self._block_filter)

    def _texts(self, batch: _Batch) -> Iterable[str]:
        return map(self.transform, batch.lines) if self.transform is not None else batch.lines

    def matches(
        self, since: int = 0, *, late_from: int | None = None, containing: str | None = None, limit: int = MATCH_LIMIT
    ) -> LogScan:
        """Matches in the lines from byte ``since``: the first ``limit`` kept (quoted), the rest counted.

        Lines from byte ``late_from`` on are marked late; ``containing``: only lines with this text count.
        A kept ``Traceback`` match also quotes the exception line that ends it (``Traceback … → ValueError``).
        """
        scan = LogScan()
        handle = self._open()
        if handle is None:
            return scan
        with handle:
            lineno = self._lines_before(handle, since)
            self._remember(since, lineno)
            late_lineno = self._first_line_from(handle, late_from) if late_from is not None else None
            pending: list[_TracebackEnd] = []
            checkpoint = (since, lineno)
            for batch in _batches(handle, since):
                if not pending and self._no_match_in(batch, containing):
                    lineno += batch.text.count("\n") + 1
                    checkpoint = (batch.end, lineno) if batch.complete else checkpoint
                    continue
                for text in self._texts(batch):
                    lineno += 1
                    if pending:
                        pending = [item for item in pending if item.feed(text)]
                    if containing is not None and containing not in text:
                        continue
                    pattern = self.match_line(text)
                    if pattern is None:
                        continue
                    if len(scan.matches) >= limit:
                        scan.more += 1  # counted only: no need to quote it
                        continue
                    match = LogMatch(
                        pattern=pattern,
                        line=self._quote(text, batch.dropped),
                        lineno=lineno,
                        late=late_lineno is not None and lineno >= late_lineno,
                    )
                    scan.matches.append(match)
                    if _TRACEBACK.search(text):
                        pending.append(_TracebackEnd(match))
                if batch.complete:
                    checkpoint = (batch.end, lineno)
        self._remember(*checkpoint)
        return scan

    def _quote(self, text: str, dropped: int = 0) -> str:
        label = f"{self.label}: " if self.label else ""
        return label + quote_line(text, LINE_LIMIT - len(label), dropped)

    def tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        """The last ``lines`` lines, quoted; read backwards from the end in blocks, whatever their length."""
        handle = self._open()
        if handle is None:
            return []
        with handle:
            out = []
            for start, end in _last_lines(handle, lines):
                handle.seek(start)
                raw = handle.read(min(end - start, LINE_LIMIT * 4))
                text = raw.rstrip(b"\r").decode("utf-8", "replace")
                out.append(self._quote(self.transform(text) if self.transform else text, end - start - len(raw)))
            return out

    def contains(self, regex: re.Pattern[str]) -> bool:
        """Does any line match ``regex``? Each call goes on from where the last one stopped."""
        handle = self._open()
        if handle is None:
            return False
        with handle:
            start = self._contains_from.get(regex.pattern, 0)
            if start > self.offset():
                start = 0  # the file was truncated or replaced
            for batch in _batches(handle, start):
                if any(regex.search(text) for text in self._texts(batch)):
                    self._contains_from[regex.pattern] = batch.start
                    return True
                if batch.complete:
                    self._contains_from[regex.pattern] = batch.end
        return False


def _last_lines(handle: IO[bytes], lines: int) -> list[tuple[int, int]]:
    """(start, end) byte offsets of the last ``lines`` lines, newlines excluded, found reading backwards
    in blocks: memory stays bounded whatever the lines' length."""
    size = handle.seek(0, 2)
    if size == 0 or lines <= 0:
        return []
    handle.seek(size - 1)
    # A newline that ends the file ends the last line; it does not start an empty one.
    ends = [size - 1 if handle.read(1) == b"\n" else size]
    position = ends[0]
    while position > 0 and len(ends) <= lines:
        block_start = max(0, position - _CHUNK)
        handle.seek(block_start)
        block = handle.read(position - block_start)
        end = len(block)
        while len(ends) <= lines and (newline := block.rfind(b"\n", 0, end)) >= 0:
            ends.append(block_start + newline)
            end = newline
        position = block_start
    starts = [e + 1 for e in ends[1:]]
    if len(starts) < lines:
        starts.append(0)
    return list(zip(reversed(starts), reversed(ends[: len(starts)])))
