"""Plain records shared by the provider, the driver and the verdict.

All times are ``time.monotonic()`` seconds: the fake provider runs in the same
process as the driver, so its journal and the driver's calls share one clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

__all__ = ["CallRecord", "JournalEntry", "LogMatch"]


class _Record:
    """Plain data: ``to_dict()`` gives the JSON-ready fields (every subclass is a dataclass)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JournalEntry(_Record):
    """One request the fake provider received."""

    seq: int
    """Arrival order since the last reset, from 1."""
    path: str
    arrived_at: float
    ended_at: float | None
    """When the last byte was written (the request counts as served then), or when an injected fault ended it;
    None while in flight or if the client went away."""
    tokens: list[str]
    """Driver tokens found in the latest user turn, message by message (a turn sent twice shows twice)."""
    rtt: float
    """The RTT applied to this request, in seconds (0 for requests not delayed)."""
    model: str | None
    stream: bool
    status: int
    fault: str | None = None
    """Name of the injected fault, if any."""
    error: str | None = None
    """Why the request was rejected (400) or cut short."""
    traceback: str | None = None
    """The fake provider's own failure while serving this request (a bug of ours), if any."""
    api: str = "openai-chat"
    """The provider API (dialect) the request came in: "openai-chat", "anthropic-messages", "openai-responses"
    or "ollama"."""
    history: list[str] = field(default_factory=list)
    """Tokens of the user messages before the latest user turn, in order (the conversation the gateway sent)."""

    @property
    def token(self) -> str | None:
        """The first token, for the common one-token request."""
        return self.tokens[0] if self.tokens else None

    @property
    def served(self) -> bool:
        """A whole, well-formed answer went out (an injected fault never counts, even with status 200)."""
        return self.ended_at is not None and 200 <= self.status < 300 and self.error is None

    @property
    def duration(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.arrived_at


@dataclass
class LogMatch(_Record):
    """A gateway log line that matched one of the scan patterns."""

    pattern: str
    line: str
    lineno: int
    late: bool = False
    """Written after the run's last reply, in the settle time that still belongs to the run."""


@dataclass
class CallRecord(_Record):
    """One sequential send and what came back."""

    index: int
    """1-based position in the run."""
    token: str
    session_key: str
    sent_at: float
    replied_at: float | None = None
    """None when no reply came within the call timeout."""
    run_id: str | None = None
    reply: str | None = None
    error: str | None = None
    """Gateway-reported error text (the contract's ``error`` field)."""
    transport_error: str | None = None
    """The send itself failed: connection refused, bad JSON, bad status, ..."""
    timed_out: bool = False
    journal: list[JournalEntry] = field(default_factory=list)
    """Provider requests that carried this call's token."""
    late_replies: list[str] = field(default_factory=list)
    """Text that arrived for this token after the call ended (other runIds)."""
    letter: str = "?"
    history_problem: str | None = None
    """Why the conversation the provider was given for this call is corrupted (the letter is then ``h``)."""

    @property
    def latency(self) -> float | None:
        return None if self.replied_at is None else self.replied_at - self.sent_at

    def served_before_reply(self) -> bool:
        """Did the provider finish serving this call's token before its reply arrived?"""
        if self.replied_at is None:
            return False
        return any(
            e.served and e.ended_at is not None and e.ended_at <= self.replied_at
            for e in self.journal
        )

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["latency"] = self.latency
        data["served_before_reply"] = self.served_before_reply()
        return data
