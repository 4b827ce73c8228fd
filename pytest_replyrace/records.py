"""Plain records shared by the provider, the driver and the verdict.

All times are ``time.monotonic()`` seconds: the fake provider runs in the same
process as the driver, so its journal and the driver's calls share one clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from .spec import SEND_ANCHORS

__all__ = ["SEND_ANCHORS", "CallRecord", "JournalEntry", "LogMatch", "PreambleRecord", "StopRecord"]


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
    step: int = 1
    """The model call of its turn this request is: 1 for the turn's first, then one more per tool step."""
    kind: str = "text"
    """What the provider answered: ``"text"`` (the echo), ``"tool"`` (a tool call) or ``"side"`` (a side step: the
    latest user turn held no message token of its own, only quotes of the provider's replies or none; answered
    with short text that carries no token)."""
    issued: list[str] = field(default_factory=list)
    """Tool-call ids this request's answer issued (a ``tool`` step)."""
    answered: list[str] = field(default_factory=list)
    """Tool-call ids the tool results of its latest turn answer, in order (an id answered twice shows twice;
    ``?`` for a result that names no id)."""
    tools: list[str] = field(default_factory=list)
    """Names of the tools the request offered."""
    note: str | None = None
    """What the scripted model did out of the ordinary (a tool step answered with text: no tools offered)."""
    schedule: list[float] = field(default_factory=list)
    """When each streamed piece was planned, in seconds after arrival (empty for a JSON answer)."""
    written: list[float] = field(default_factory=list)
    """When each streamed piece went out, in seconds after arrival (next to ``schedule``)."""
    mentioned: list[str] = field(default_factory=list)
    """Every driver token the request mentions anywhere, in any role (a user message, a reply, a quote, a system
    prompt holding a summary), in order of first mention: whether a turn was in the conversation at all."""
    quoted: list[str] = field(default_factory=list)
    """Tokens inside the provider's own replies quoted in the latest user turn, in order (never in ``tokens``): for
    a side step, the call whose reply it quotes."""
    closed_at: float | None = None
    """When the gateway closed the connection before the provider finished its answer (seen as it happened,
    during a held first token or a paced stream alike); None when it did not."""

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
class StopRecord(_Record):
    """The client's stop of one call (``stop_at``): when it was due, whether it was sent, and the answer."""

    at: str
    """The stop anchor: sent, first, request, served, text or end."""
    gap: float
    by: str
    """``cancel`` (the transport's stop call) or ``disconnect`` (the answer's connection closed)."""
    anchor_at: float | None = None
    """When the anchor came (None: it never came before the call ended)."""
    due_at: float | None = None
    """The stop instant: the anchor plus the gap (never before the provider got the request, for ``served``)."""
    sent_at: float | None = None
    """When the stop call went out or the connection was cut; None: not stopped (see ``skipped``)."""
    answered_at: float | None = None
    """The stop's answer: when the client had the gateway's answer to the stop (for ``disconnect``, the cut)."""
    aborted: bool | None = None
    """What the answer said: the run was stopped (True), nothing was running (False), neither (None)."""
    error: str | None = None
    """The stop call itself failed: what happened, quoted."""
    detail: str = ""
    run_ids: list[str] = field(default_factory=list)
    skipped: str | None = None
    """Why no stop was sent: ``not stopped: it ended first``."""
    reason: str | None = None
    """What the stop judgement saw (the ``o`` reason, or why the call stayed ``p``)."""

    @property
    def done(self) -> bool:
        """A stop was sent (or the connection cut)."""
        return self.sent_at is not None


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
    first_at: float | None = None
    """When the answer's first event or byte arrived, if the transport reports events."""
    text_at: float | None = None
    """When the reply text was complete (the transport's text-complete event), if it reports events."""
    ended_at: float | None = None
    """When the answer ended: the transport's send returned (after the stream closed, an agent.wait, ...)."""
    stream_errors: list[tuple[float, str]] = field(default_factory=list)
    """Errors that arrived inside the answer (an error event in a 200 stream), with their instants."""
    gateway_requests: list[tuple[float, str]] = field(default_factory=list)
    """What the gateway asked of the client during this answer and how it was answered (an ACP agent's
    permission prompt or file read), with its instants: shown, not judged."""
    after_text: list[str] = field(default_factory=list)
    """Text of this same answer after its text-complete event (a later model step's output, a note taker's,
    a summary's): late text of this turn, shown in the timeline, never judged as an answer to any call."""
    silent: str | None = None
    """The answer was accepted (a 2xx status and its first event) and then delivered no reply text by the call
    timeout: what had arrived (the call is ``l``, "accepted, then silent")."""
    busy_refusal: bool = False
    """The transport read the answer as a busy refusal (HTTP 409/429/503 or its protocol's busy answer)."""
    send_at: str = "end"
    """What this call's send waited for: the previous call's ``end``, ``text``, ``first``, ``request`` or
    ``served`` (the first call waits for nothing)."""
    anchor_at: float | None = None
    """When that moment came (None for the first call); the send was scheduled ``gap`` after it."""
    anchor_fallback: bool = False
    """The moment never came (no event reported, the provider never saw the previous call): the previous
    call's end stood in for it."""
    sent_while_busy: bool = False
    """An earlier call of the run had not completed its reply text (from the client's view) when this one
    was sent."""
    answered_twice: str | None = None
    """Why this call's message was answered more than once (a failure under every busy policy)."""
    note: str | None = None
    """What the overlap judgement saw, for the timeline: merged into which turn, interrupted by which call,
    refused as busy, or lost with the provider's evidence."""
    gap: float = 0.0
    """The gap this call's send waited after its anchor (its own, in a per-call schedule)."""
    stop: StopRecord | None = None
    """The client's stop of this call, when it is one of the ``stop_calls``."""
    state: str | None = None
    """The terminal state the gateway's protocol named for the turn (OpenClaw's ``aborted`` after a stop)."""
    answer_start: str | None = None
    """The start of the answer as it arrived (its first bytes or events, quoted and cut), kept only when the reply
    did not carry this call's token: what a run with no real reply quotes."""
    no_text: str | None = None
    """Why an answer that arrived gave no reply text, when the transport can say (the declared transport: its
    text selector matched none of the answer's events)."""

    @property
    def text_done_at(self) -> float | None:
        """When the client was done with this call's reply text: its text-complete event, else its end (a call
        the driver timed out ends at its timeout: the client gave up on it there). A stopped call's end is its
        answer's end, or the stop's answer when that came later."""
        if self.stop is not None and self.stop.done:
            ends = [t for t in (self.ended_at, self.replied_at, self.stop.answered_at) if t is not None]
            return max(ends) if ends else None
        if self.text_at is not None:
            return self.text_at
        return self.ended_at if self.ended_at is not None else self.replied_at

    @property
    def latency(self) -> float | None:
        return None if self.replied_at is None else self.replied_at - self.sent_at

    def served_before_reply(self) -> bool:
        """Did the provider finish serving this call's token before its reply arrived? Only a text step counts:
        a turn's tool steps are not its answer."""
        if self.replied_at is None:
            return False
        return any(
            e.served and e.kind == "text" and e.ended_at is not None and e.ended_at <= self.replied_at
            for e in self.journal
        )

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["latency"] = self.latency
        data["served_before_reply"] = self.served_before_reply()
        return data


@dataclass
class PreambleRecord(_Record):
    """A message sent on the run's session before its first call (``/new``, ``hello``): shown, not judged."""

    message: str
    sent_at: float
    replied_at: float | None = None
    reply: str | None = None
    error: str | None = None
    """The gateway's error text, or what went wrong with the exchange."""

    @property
    def latency(self) -> float | None:
        return None if self.replied_at is None else self.replied_at - self.sent_at

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["latency"] = self.latency
        return data
