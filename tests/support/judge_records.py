"""Records the judge tests build by hand: a call's token and the provider's journal entry of one request."""

from __future__ import annotations

from typing import Any

from pytest_replyrace.records import CallRecord, JournalEntry

TAG = "rr-abcd"


def t(i: int, tag: str = TAG) -> str:
    """The token of call ``i``."""
    return f"{tag}-{i}"


def entry(tokens: list[str], arrived: float, ended: float | None, seq: int = 1, **more: Any) -> JournalEntry:
    """One streamed chat-completions request at 200 ms RTT; ``more`` sets any other field (or overrides these)."""
    fields: dict[str, Any] = {
        "path": "/v1/chat/completions",
        "rtt": 0.2,
        "model": "m",
        "stream": True,
        "status": 200,
        **more,
    }
    return JournalEntry(seq=seq, arrived_at=arrived, ended_at=ended, tokens=tokens, **fields)


def record(
    index: int,
    sent: float,
    done: float | None,
    reply: str | None,
    journal: list[JournalEntry],
    send_at: str,
    **more: Any,
) -> CallRecord:
    """Call ``index`` of a run on one session: sent at ``sent``, replied at ``done``; ``more`` sets other fields."""
    return CallRecord(
        index=index,
        token=t(index),
        session_key="agent:test:race-x",
        sent_at=sent,
        replied_at=done,
        reply=reply,
        journal=journal,
        run_id=f"run-{index}",
        send_at=send_at,
        **more,
    )
