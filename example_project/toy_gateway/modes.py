"""The modes: one per OpenClaw release family (protocol doc, "Version families").

Knobs, all in milliseconds:

- ``cleanup``: post-final window X, from the ``final`` event to the guard's
  release (usage, session store, delivery bookkeeping in OpenClaw);
- ``debounce``: D, how long the follow-up drain sleeps after the last enqueue;
- ``background``: B, work started with each model turn that keeps the guard
  until it ends (persistence, GC, a slow host). Release happens at
  ``max(final + cleanup, model start + background)``: with B = 500 ms (the
  demo's) a 50 ms provider leaves a ~450 ms window after the final, a 500 ms
  provider none. This
  is what makes a fast provider worse than a slow one, as the reporter saw;
- ``overhead``: pre-model work of every turn (send → provider request);
- ``queue_ack``: how long a queued turn takes to get its bare ``final``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["MODES", "Mode", "mode_named"]


@dataclass(frozen=True)
class Mode:
    name: str
    doc: str
    cleanup: float = 150.0
    debounce: float = 500.0
    background: float = 0.0
    overhead: float = 20.0
    queue_ack: float = 250.0
    release_before_final: bool = False
    """`correct`: the guard is released before the final is sent."""
    drain_before_release: bool = False
    """5.3 and before: the drain is scheduled while the guard is still held."""
    admission_waits: bool = False
    """5.28+: a visible turn waits for the active run (wait-for-idle) instead of queueing."""
    kick_on_enqueue: bool = True
    """False in the dormant-drain bug: a send in the terminal window is enqueued with no drain."""
    busy: str | None = None
    """The busy policy of the turn engine (``turns.py``): queue, reject, steer or interrupt; None: this mode's
    own follow-up machinery above (``--busy`` switches the engine on for any mode)."""
    idle_after_final: float = 0.0
    store_after_final: float = 0.0
    takeover: bool = False
    tool_handoff: bool = False
    stop_ignored: bool = False
    stop_wedge: float = 0.0
    stop_leaks_pending: bool = False
    stop_orphan_tool: bool = False
    disconnect_drops: bool = False
    """The turn engine's planted bugs (see ``turns.TurnFlaws``)."""

    def with_knobs(self, **knobs: float | None) -> Mode:
        return replace(self, **{k: v for k, v in knobs.items() if v is not None})


MODES: dict[str, Mode] = {
    "correct": Mode(
        "correct",
        "A control: the guard is released before the final reaches the client, so no send can find it held. "
        "Pattern: pppppp at any gap and RTT.",
        cleanup=0.0,
        release_before_final=True,
    ),
    "drain-first": Mode(
        "drain-first",
        "OpenClaw 2026.4.26 and 2026.5.3 (#77485): finalizeWithFollowup schedules the follow-up drain while "
        "the guard is still held, then releases it. Very short window (X ~ 15 ms): at gap 0 the next send "
        "is queued (p0p0p0 measured, pfpfpf here) and the drain logs ReplyRunAlreadyActiveError; clean at "
        "gap 0.1 s.",
        cleanup=15.0,
        drain_before_release=True,
    ),
    "alternating": Mode(
        "alternating",
        "OpenClaw 2026.5.4-2026.5.7 (#77960, #80711, the seed report): the drain starts after the release "
        "but sleeps a 500 ms debounce, so a direct send leapfrogs it and the drain throws and retries. "
        "Longest window (X ~ 150 ms): pfpfpf at gap 0 (p0p0p0 measured), intermittent at 0.1 s, clean at "
        ">= 0.2 s without background work.",
        cleanup=150.0,
    ),
    "cascade": Mode(
        "cascade",
        "OpenClaw 2026.5.12 (protocol v4): short window (X ~ 10 ms), but the drain runs queued turns at once "
        "and each follow-up run is slow, so later sends land during follow-up runs and queue too: "
        "pffffp-like at gap 0 (p0000p measured); clean at gap 0.1 s.",
        cleanup=10.0,
        debounce=50.0,
        overhead=400.0,
    ),
    "lost-drain": Mode(
        "lost-drain",
        "The dormant follow-up drain of 2026.6 (#91909, fixed by #95039): the run's own drain already found "
        "an empty queue, then a send in the terminal window is enqueued with restartIfIdle=false and a stale "
        "busy re-check, so nothing drains it. Its caller gets a bare final (f); the item is stranded until "
        "the next send's run drains it, and its answer arrives later under another runId.",
        cleanup=100.0,
        kick_on_enqueue=False,
    ),
    "busy-after-final": Mode(
        "busy-after-final",
        "A gateway that refuses a message while a turn runs (busy policy reject), and marks the turn idle only "
        "200 ms after its final is sent: a client that sends on the final (send_at text) is refused although "
        "the gateway said the turn was done (f); one that waits for agent.wait (end) never sees it.",
        busy="reject",
        idle_after_final=200.0,
    ),
    "stale-history": Mode(
        "stale-history",
        "A gateway that stores a turn only 200 ms after its final: a message sent on the final is answered "
        "from a conversation without the previous turn (h with history='exact'); clean when the client "
        "waits for the run to settle.",
        busy="queue",
        store_after_final=200.0,
    ),
    "takeover": Mode(
        "takeover",
        "A message that arrives during a model call takes the session over: the running turn fails ('session "
        "file changed while embedded prompt lock was released', as in OpenClaw 2026.7.1-2) and the newcomer "
        "is dropped with a bare final. Caught at send_at request; clean at end.",
        busy="queue",
        takeover=True,
    ),
    "tool-handoff": Mode(
        "tool-handoff",
        "A turn gives the session up while its tool runs and keeps the pending tool call in one slot per "
        "session: a message that arrives between a turn's tool call and its follow-up request runs at once, "
        "its own tool call takes the slot, and the first turn's follow-up answers the newcomer's call (h: a "
        "tool result for a call never issued in that turn). Caught at send_at request with tool_calls=1; "
        "clean at end.",
        busy="queue",
        tool_handoff=True,
    ),
    "stop-ignored": Mode(
        "stop-ignored",
        "A stop is acknowledged (aborted: true) but nothing is cancelled: the turn runs on, its model call is "
        "served to the end and its reply is delivered (Mastra #20447: 'canceled', then a late 'completed').",
        busy="queue",
        stop_ignored=True,
    ),
    "stop-wedge": Mode(
        "stop-wedge",
        "A stop cancels the turn but leaves the session's run lock held for 5 s: the next message waits 1 s "
        "for it and fails with SessionWriteLockTimeoutError (OpenClaw #90309, #113019).",
        busy="queue",
        stop_wedge=5000.0,
    ),
    "stop-leaks-pending": Mode(
        "stop-leaks-pending",
        "A message stopped while it waited behind a running turn is answered 'aborted', but stays in the queue "
        "and is run later: the model still gets its text (OpenClaw #145727, hermes-agent #55183).",
        busy="queue",
        stop_leaks_pending=True,
    ),
    "stop-orphan-tool": Mode(
        "stop-orphan-tool",
        "A stop during the clock tool's step stores the model's tool call without its result: the next model "
        "request carries an unpaired tool call, which real providers refuse (OpenClaw #116379, aegra #191).",
        busy="queue",
        stop_orphan_tool=True,
    ),
    "disconnect-drops": Mode(
        "disconnect-drops",
        "A client that goes away mid-answer cancels its turn (the model call is closed) and the turn is dropped "
        "from the session: a broken promise for a gateway that says a turn outlives its client (OpenClaw "
        "#82484, the Vercel AI SDK); `fixed` runs it to its end and stores it.",
        busy="queue",
        disconnect_drops=True,
    ),
    "fixed": Mode(
        "fixed",
        "OpenClaw 2026.5.28+ and 2026.9.x (reply-turn admission): a visible turn waits for the active run "
        "to finish (waitForIdle, up to 15 s) and then runs under its own runId; nothing throws. Pattern: "
        "pppppp in every probe, also with background work.",
        cleanup=150.0,
        admission_waits=True,
    ),
}


def mode_named(name: str) -> Mode:
    try:
        return MODES[name]
    except KeyError:
        raise ValueError(f"mode {name!r} is not known; expected one of {', '.join(MODES)}") from None
