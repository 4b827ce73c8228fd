"""Turn planning: what the scripted model answers a request, and when.

The :class:`TurnPlanner` holds the provider's settings (the RTT plan, per-token RTTs, the fault plan, the
scripted model) and the tool calls it issued; for each request it reads the conversation into the journal entry
(whose turn it is, which step, which tool results it carries) and draws the RTT and the fault, replayable from the
seed and the token.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass
from typing import Any

from ..records import JournalEntry
from ..tokens import call_number, newest_token, own_tokens, quoted_tokens
from .dialects import ChatRequest, ToolCall, chat_pairs, turn_split
from .faults import FaultPlan, FaultRule
from .journal import Journal
from .model import ModelSpec
from .rtt import RttSpec

__all__ = [
    "NO_TOKEN_REPLY",
    "NO_TOOLS_NOTE",
    "RENAMED_NOTE",
    "SIDE_REPLY",
    "UNPAIRED_NOTE",
    "TurnPlanner",
    "stripped_id",
    "tokens_by_message",
    "user_turn_text",
]

NO_TOKEN_REPLY = "ECHO (no token)"
"""The text of a side step: a request whose latest user turn holds no message token of its own."""
SIDE_REPLY = NO_TOKEN_REPLY
NO_TOOLS_NOTE = "a tool step answered with text: the request offered no tools"
RENAMED_NOTE = "tool-call ids came back with their letters and digits only: "
"""The start of the note on a request whose tool results name issued calls by their stripped ids (OpenClaw's
strict tool-call-id mode), followed by ``stripped = issued`` pairs."""
UNPAIRED_NOTE = "refused: unpaired tool call"
"""The journal's error for a request refused because its tool calls and results do not pair (strict tools)."""


def stripped_id(call_id: str) -> str:
    """``call_id`` with its letters and digits only, as gateways that sanitise tool-call ids send it back
    (OpenClaw's strict mode: ``call_rr-ab12-3_1`` → ``callrrab1231``)."""
    return re.sub(r"[^A-Za-z0-9]", "", call_id)


def user_turn_text(messages: list[Any]) -> str:
    """Every user message of an OpenAI ``messages`` list after the last assistant message, joined."""
    return "\n".join(turn_split(chat_pairs(messages))[0])


def tokens_by_message(texts: list[str]) -> list[str]:
    """Message by message, outside the provider's own quoted replies: a turn a gateway sent twice shows twice
    (the conversation check counts it); a reply quoted back to the model never counts as the user's."""
    return [token for text in texts for token in own_tokens(text)]


@dataclass(frozen=True)
class _Issued:
    """A tool call the provider issued: the turn it belongs to."""

    tokens: tuple[str, ...]
    history: tuple[str, ...]
    step: int
    seq: int


class TurnPlanner:
    """The provider's settings and the tool calls it issued; one request's plan at a time."""

    def __init__(self, journal: Journal, rtt: RttSpec, seed: int, model_spec: ModelSpec) -> None:
        self._journal = journal
        self._lock = threading.Lock()
        self.rtt = rtt
        self.seed = seed
        self._token_rtts: dict[str, RttSpec] = {}
        self._faults = FaultPlan()
        self._base_spec = model_spec
        self._spec = model_spec
        self._issued: dict[str, _Issued] = {}
        """Every tool call issued since the last reset, by id."""
        self._stripped: dict[str, str | None] = {}
        """Issued ids by their stripped form (:func:`stripped_id`); None where two issued ids strip alike."""

    # -- settings -------------------------------------------------------------

    def set_rtt(self, spec: RttSpec) -> None:
        with self._lock:
            self.rtt = spec

    def set_token_rtt(self, prefix: str, spec: RttSpec) -> None:
        with self._lock:
            self._token_rtts[prefix] = spec

    def set_faults(self, plan: FaultPlan) -> None:
        with self._lock:
            self._faults = plan

    @property
    def spec(self) -> ModelSpec:
        with self._lock:
            return self._spec

    def set_spec(self, spec: ModelSpec) -> None:
        with self._lock:
            self._spec = spec

    def reset(self, rtt: RttSpec | None, seed: int | None, model_spec: ModelSpec | None) -> None:
        with self._lock:
            self._issued = {}
            self._stripped = {}
            self._spec = model_spec if model_spec is not None else self._base_spec
            self._token_rtts = {}
            self._faults = FaultPlan()
            if rtt is not None:
                self.rtt = rtt
            if seed is not None:
                self.seed = seed

    # -- one request ----------------------------------------------------------

    def read(self, entry: JournalEntry, parsed: ChatRequest) -> list[str]:
        """Fill ``entry`` from the conversation: its turn's tokens (returned), history, step and tool results."""
        tokens = tokens_by_message(parsed.turn)
        with self._lock:
            answered = [self._issued_id(i) for i in parsed.results]
            known = [self._issued[i] for i in answered if i in self._issued]
        with self._journal.editing():
            entry.history = tokens_by_message(parsed.history)
            entry.model = parsed.model
            entry.stream = parsed.stream
            entry.tools = list(parsed.tools)
            entry.answered = answered
            renamed = [
                f"{given} = {known_id}" for given, known_id in zip(parsed.results, answered) if given != known_id
            ]
            if renamed:
                entry.note = RENAMED_NOTE + ", ".join(dict.fromkeys(renamed))
            entry.step = 1 + max([parsed.rounds, *(k.step for k in known)])
            if not tokens and known:
                # A post-tool request may hold no user message (previous_response_id, or a gateway that sends the
                # tool result alone): the turn is the one the tool call was issued in.
                tokens = list(known[-1].tokens)
                if not entry.history:
                    entry.history = list(known[-1].history)
            elif not tokens:
                entry.kind = "side"  # only quotes of earlier replies, or no token at all: a step beside the turns
            entry.tokens = tokens
            entry.quoted = [token for text in parsed.turn for token in quoted_tokens(text)]
            entry.mentioned = list(parsed.mentioned)
        return tokens

    def _rtt_spec(self, newest: str | None) -> RttSpec:
        """Under the lock: the RTT of requests whose newest token is ``newest``."""
        if newest is not None:
            for prefix, token_spec in self._token_rtts.items():
                if newest.startswith(prefix):
                    return token_spec
        return self.rtt

    def rtt_for(self, entry: JournalEntry) -> RttSpec:
        with self._lock:
            return self._rtt_spec(newest_token(entry.tokens))

    def _rng(self, entry: JournalEntry, suffix: str) -> random.Random:
        newest = newest_token(entry.tokens)  # not a failed turn the gateway re-sent from its history
        # Keyed on the token, not arrival order, so concurrent sessions replay alike.
        key = newest if newest is not None else f"#{entry.seq}"
        attempt = self._journal.attempt(newest, entry.seq)
        return random.Random(f"{self.seed}:{key}:{attempt}{suffix}")

    def plan(self, entry: JournalEntry) -> tuple[float, FaultRule | None]:
        """The RTT and fault for this request, replayable from the seed and the token."""
        rng = self._rng(entry, "")
        newest = newest_token(entry.tokens)
        with self._lock:
            rtt = self._rtt_spec(newest).draw(rng)
            fault = self._faults.pick(call_number(newest) if newest is not None else entry.seq, rng)
        return rtt, fault

    def piece_rng(self, entry: JournalEntry) -> random.Random:
        """The piece jitter's own generator, keyed like the RTT's, so it never shifts the RTT or fault draws."""
        return self._rng(entry, ":pieces")

    def tool_call(
        self, spec: ModelSpec, parsed: ChatRequest, entry: JournalEntry, fault: FaultRule | None
    ) -> ToolCall | None:
        """The tool call this request gets, or None for the text step; the id is issued unless a fault hides it.
        A side step is always answered with text."""
        if entry.kind == "side" or entry.step > spec.tool_calls:
            return None
        if not parsed.tools:
            with self._journal.editing():
                entry.note = NO_TOOLS_NOTE
            return None
        newest = newest_token(entry.tokens)
        base = f"call_{newest if newest is not None else entry.seq}_{entry.step}"
        with self._lock:
            call_id, n = base, 1
            while call_id in self._issued:
                n += 1
                call_id = f"{base}_{n}"
            if fault is None:
                self._issued[call_id] = _Issued(tuple(entry.tokens), tuple(entry.history), entry.step, entry.seq)
                key = stripped_id(call_id)
                if key != call_id:
                    self._stripped[key] = call_id if self._stripped.get(key, call_id) == call_id else None
        with self._journal.editing():
            entry.kind = "tool"
            if fault is None:
                entry.issued = [call_id]
        return ToolCall(call_id, spec.tool or parsed.tools[0], spec.arguments)

    def _issued_id(self, call_id: str) -> str:
        """The issued id a tool result names: ``call_id`` itself, or the one issued id it is the stripped form of
        (a gateway that keeps only the letters and digits of the ids it replays); under the lock."""
        if call_id in self._issued:
            return call_id
        return self._stripped.get(call_id) or call_id
