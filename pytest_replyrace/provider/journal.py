"""The fake provider's journal: every request it received, on the shared monotonic clock, and who watches it.

The server's thread writes it; tests, the driver and the verdict read snapshots of it from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

from ..errors import FakeProviderError
from ..records import JournalEntry

__all__ = ["Journal", "Watcher"]

Watcher = Callable[[str, JournalEntry], None]
"""``callback(kind, entry)``: ``"request"`` once a request's plan is known, ``"end"`` when it was served or ended
by a fault, ``"closed"`` when the gateway closed it before the provider finished (``ended_at`` stays None)."""


def _copy(entry: JournalEntry) -> JournalEntry:
    return replace(
        entry,
        tokens=list(entry.tokens),
        history=list(entry.history),
        issued=list(entry.issued),
        answered=list(entry.answered),
        tools=list(entry.tools),
        schedule=list(entry.schedule),
        written=list(entry.written),
        quoted=list(entry.quoted),
    )


class Journal:
    """Every request since the last reset, in arrival order, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[JournalEntry] = []
        self._seq = 0
        self._watchers: list[Watcher] = []
        self._handler_errors: list[str] = []
        self.stopping = False
        """Set while the server stops: a request it cuts short was not closed by the gateway."""

    @contextlib.contextmanager
    def editing(self) -> Iterator[None]:
        """Hold the journal's lock while an entry is filled in."""
        with self._lock:
            yield

    def reset(self) -> None:
        with self._lock:
            self._entries = []
            self._seq = 0
            self._handler_errors = []

    def open(self, api: str, path: str, arrived_at: float) -> JournalEntry:
        """A new entry for a request that just arrived."""
        with self._lock:
            self._seq += 1
            entry = JournalEntry(
                seq=self._seq,
                path=path,
                arrived_at=arrived_at,
                ended_at=None,
                tokens=[],
                rtt=0.0,
                model=None,
                stream=False,
                status=0,
                api=api,
            )
            self._entries.append(entry)
            return entry

    def attempt(self, token: str | None, seq: int) -> int:
        """How many earlier requests carried ``token`` (0 without one): the retry number of a replayed draw."""
        if token is None:
            return 0
        with self._lock:
            return sum(1 for e in self._entries if token in e.tokens and e.seq < seq)

    # -- what happened to a request ------------------------------------------

    def end(self, entry: JournalEntry, status: int, error: str) -> None:
        """The provider gave up on the request (``error`` keeps it from counting as served)."""
        with self._lock:
            entry.status = status
            entry.error = error
            entry.ended_at = time.monotonic()
        self.notify("end", entry)

    def served(self, entry: JournalEntry, status: int = 200) -> None:
        """Stamped just before the last write: the gateway cannot have the whole reply earlier, so a correct
        gateway is never misread as fast."""
        with self._lock:
            entry.status = status
            entry.ended_at = time.monotonic()
        self.notify("end", entry)

    def closed(self, entry: JournalEntry, why: str) -> None:
        """The gateway closed the connection before the provider finished: ``closed_at`` is now."""
        with self._lock:
            if entry.closed_at is None and entry.ended_at is None and not self.stopping:
                entry.closed_at = time.monotonic()
            closed = entry.closed_at is not None and entry.error is None and entry.ended_at is None
            if closed:
                entry.status = 499
                entry.error = why
        if closed:
            self.notify("closed", entry)

    def stamp(self, entry: JournalEntry) -> None:
        """The instant a piece goes out, next to its plan."""
        with self._lock:
            entry.written.append(time.monotonic() - entry.arrived_at)

    def failed(self, entry: JournalEntry | None, message: str, text: str) -> None:
        """Our own handler failed (a bug of ours): kept for :meth:`check_handler_errors`."""
        with self._lock:
            self._handler_errors.append(f"{message}\n{text}")
        if entry is not None:
            self.end(entry, 500, message)
            with self._lock:
                entry.traceback = text

    def check_handler_errors(self) -> None:
        """Raise :class:`FakeProviderError` if a handler of ours failed since the last reset or check."""
        with self._lock:
            errors, self._handler_errors = self._handler_errors, []
        if errors:
            raise FakeProviderError("\n".join(errors))

    # -- watchers -------------------------------------------------------------

    def watch(self, callback: Watcher) -> Callable[[], None]:
        with self._lock:
            self._watchers.append(callback)

        def unwatch() -> None:
            with self._lock:
                if callback in self._watchers:
                    self._watchers.remove(callback)

        return unwatch

    def notify(self, kind: str, entry: JournalEntry) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for callback in watchers:
            callback(kind, entry)

    # -- reading --------------------------------------------------------------

    def snapshot(self) -> list[JournalEntry]:
        with self._lock:
            return [_copy(e) for e in self._entries]

    def in_flight(self) -> int:
        with self._lock:
            return sum(1 for e in self._entries if e.ended_at is None and e.error is None)

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.in_flight():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    async def await_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.in_flight():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True
