"""One run's sending: each call sent at its ``send_at`` moment while earlier answers are read to their end.

:func:`wait_anchor` waits for the previous call's moment (its end, its text, its first event, the provider's
receipt or its end of serving, seen through a :class:`ProviderWatch`); :func:`one_call` sends one message and
records what came back; every transport runs under the one guard, :func:`as_evidence`. The driver
(:mod:`pytest_replyrace.driver`) puts a run together from these.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .gateway.nemesis import ProcessPause
from .provider.server import FakeProvider
from .records import CallRecord, JournalEntry, PreambleRecord
from .spec import RunSpec
from .transports.base import CallEvents, Transport, TransportError, TransportReply, describe_exception, excerpt

__all__ = [
    "ANSWER_START_CHARS",
    "InFlight",
    "ProviderWatch",
    "answer_start",
    "as_evidence",
    "new_idempotency_key",
    "one_call",
    "preamble_call",
    "probe_message",
    "reports_events",
    "transport_name",
    "wait_anchor",
]


def probe_message(token: str, index: int, calls: int) -> str:
    """The text of call ``index``: the token must survive any wrapping the gateway adds."""
    return f"replyrace probe {index}/{calls}. Reply with the literal text {token}"


@contextlib.contextmanager
def as_evidence(transport: Transport, method: str) -> Iterator[None]:
    """The one guard for every transport, built in or not: whatever a transport raises while it talks to the
    gateway or reads its answer (a reply nested too deep, a number too long, a bug) is the call's evidence, an
    `e` quoting it, never a crash of the run. Cancellation is a BaseException and passes through."""
    try:
        yield
    except TransportError:
        raise
    except Exception as exc:
        raise TransportError(
            f"the {transport_name(transport)} transport's {method} raised {describe_exception(exc)}"
        ) from exc


def transport_name(transport: Transport) -> str:
    return str(getattr(transport, "name", type(transport).__name__))  # a transport without one still gets quoted


def reports_events(transport: object) -> bool:
    """Does the transport report its calls' events (first event, text complete) on a :class:`CallEvents`? It
    says so with ``reports_events = True`` and a ``send`` that takes ``events``: a subclass of a built-in
    transport whose own ``send`` does not is driven the old way."""
    if getattr(transport, "reports_events", False) is not True:
        return False
    try:
        parameters = inspect.signature(transport.send).parameters  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        return False
    return "events" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


async def _send(
    transport: Transport, session_key: str, message: str, idempotency_key: str, events: CallEvents | None = None
) -> TransportReply:
    """``transport.send`` under the guard: inside it even a TimeoutError the transport raises is evidence, so
    one from around it is only ever the driver's own call timeout."""
    with as_evidence(transport, "send()"):
        if events is None:
            reply = await transport.send(session_key, message, idempotency_key)
        else:
            send: Any = transport.send  # the events keyword is the optional half of the protocol
            reply = await send(session_key, message, idempotency_key, events=events)
    if not isinstance(reply, TransportReply):
        raise TransportError(
            f"the {transport_name(transport)} transport's send() returned {excerpt(repr(reply))}, not a TransportReply"
        )
    return reply


@dataclass
class InFlight:
    record: CallRecord
    events: CallEvents
    task: asyncio.Task[None] = field(init=False)
    """The call's send and its reading, set as soon as the flight is made."""
    stop_task: asyncio.Task[None] | None = None
    """The client's stop of this call, running beside it (a stopped call)."""
    inner: asyncio.Future[TransportReply] | None = None
    """The send itself, which a disconnect without the transport's own ``disconnect`` cancels."""
    cut_at: float | None = None
    """When that cancel cut the answer."""

    async def ended(self) -> float:
        """Until the call's answer ended and its stop (if any) was answered: the later of the two instants."""
        await asyncio.wait({self.task})
        self.task.result()  # a call cancelled from inside (or a bug of ours) ends the run here
        record = self.record
        assert record.ended_at is not None
        if self.stop_task is not None:
            await asyncio.wait({self.stop_task})
            self.stop_task.result()
            if record.stop is not None and record.stop.answered_at is not None:
                return max(record.ended_at, record.stop.answered_at)
        return record.ended_at


class ProviderWatch:
    """The fake provider's requests as they come and go, by token, on the driver's loop."""

    def __init__(self, provider: FakeProvider, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._seen: dict[tuple[str, str], JournalEntry] = {}
        self._waiters: dict[tuple[str, str], asyncio.Future[JournalEntry]] = {}
        for entry in provider.journal:  # requests that came before the watch
            self._arrived("request", entry)
            if entry.ended_at is not None:
                self._arrived("end", entry)
        self._unwatch = provider.watch(self._on_event)

    def _on_event(self, kind: str, entry: JournalEntry) -> None:  # on the provider's thread
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._arrived, kind, entry)

    def _arrived(self, kind: str, entry: JournalEntry) -> None:
        keys = [kind]
        if entry.kind == "text":  # a turn is served by its text step, not by a tool call before it
            keys.append("text-" + kind)
        for token in entry.tokens:
            for k in keys:
                self._record((k, token), entry)

    def _record(self, key: tuple[str, str], entry: JournalEntry) -> None:
        self._seen.setdefault(key, entry)
        waiter = self._waiters.get(key)
        if waiter is not None and not waiter.done():
            waiter.set_result(self._seen[key])

    def seen(self, kind: str, token: str) -> JournalEntry | None:
        return self._seen.get((kind, token))

    async def wait(self, kind: str, token: str) -> JournalEntry:
        """The first request carrying ``token`` once it arrived (``request``) or ended (``end``); ``text-request``
        and ``text-end`` count only the turn's text step."""
        entry = self._seen.get((kind, token))
        if entry is not None:
            return entry
        waiter = self._waiters.setdefault((kind, token), self._loop.create_future())
        return await asyncio.shield(waiter)

    def close(self) -> None:
        self._unwatch()


async def wait_anchor(previous: InFlight, settings: RunSpec, watch: ProviderWatch | None) -> tuple[float, bool, float]:
    """Wait for the previous call's ``send_at`` moment: (its instant, whether the previous call's end stood
    in for it, the instant to send at). A moment that cannot come any more (the call ended without the
    event; the provider never saw it) falls back to that end, so no run waits for nothing."""
    record = previous.record
    kind, gap = settings.send_at_of(record.index + 1), settings.gap_of(record.index + 1)
    if kind == "end":
        end = await previous.ended()
        return end, False, end + gap
    provider_kind = {"request": "request", "served": "text-end" if gap >= 0 else "text-request"}.get(kind, "")
    waiter: asyncio.Future[Any]
    if kind in ("text", "first"):
        waiter = asyncio.ensure_future(previous.events.wait(kind))
    else:
        assert watch is not None
        waiter = asyncio.ensure_future(watch.wait(provider_kind, record.token))
    try:
        await asyncio.wait({waiter, previous.task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not waiter.done():
            waiter.cancel()
    if previous.task.done():
        previous.task.result()
    value: float | JournalEntry | None = None
    if waiter.done() and not waiter.cancelled():
        value = waiter.result()
    elif kind in ("text", "first"):  # reported in the same instant as the end
        value = previous.events.first_at if kind == "first" else previous.events.text_at
    elif watch is not None:
        value = watch.seen(provider_kind, record.token)
    if value is None:  # its end stands in: for a stopped call, the later of its end and the stop's answer
        end = await previous.ended()
        return end, True, end + gap
    if isinstance(value, float):
        return value, False, value + gap
    if kind == "request":
        return value.arrived_at, False, value.arrived_at + gap
    if provider_kind == "text-end":
        assert value.ended_at is not None
        return value.ended_at, False, value.ended_at + gap
    # served, before its end: the provider planned it at arrival + RTT; never before the request came
    planned = value.arrived_at + value.rtt
    return planned, False, max(value.arrived_at, planned + gap)


ANSWER_START_CHARS = 300
"""How much of an answer's start a call without its token keeps (quoted)."""


def answer_start(record: CallRecord, events: CallEvents) -> str | None:
    """The start of a call's answer as it arrived (its status and first bytes or events, quoted), when its reply
    did not carry the call's token: the evidence a run with no real reply shows. None when the reply carried it
    or the transport keeps no bytes (one that reports no events, a WebSocket)."""
    if record.token in (record.reply or "") or events.partial is None:
        return None
    status, body = events.partial
    return f"HTTP {status}, {len(body):,} bytes: {excerpt(bytes(body), ANSWER_START_CHARS)}"


async def preamble_call(transport: Transport, key: str, message: str, settings: RunSpec) -> PreambleRecord:
    record = PreambleRecord(message=message, sent_at=time.monotonic())
    try:
        reply = await asyncio.wait_for(_send(transport, key, message, str(uuid.uuid4())), settings.timeout)
    except asyncio.TimeoutError:
        record.error = f"no answer within the call timeout ({settings.timeout:g}s)"
    except TransportError as exc:
        record.error = f"transport: {exc}"
    else:
        record.reply, record.error = reply.reply, reply.error
        record.replied_at = reply.replied_at if reply.replied_at is not None else time.monotonic()
    return record


def new_idempotency_key() -> str:
    """Not from the seed: a replay against a long-running gateway must not hit its dedupe cache."""
    return str(uuid.uuid4())


async def _cuttable(flight: InFlight, send: Any, timeout: float) -> TransportReply:
    """The send as a future a disconnect can cancel (a transport without ``disconnect``): a cut send returns
    a reply saying the client went away."""
    flight.inner = asyncio.ensure_future(send)
    try:
        return await asyncio.wait_for(asyncio.shield(flight.inner), timeout)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if flight.cut_at is None or (current is not None and current.cancelling()):
            raise
        return TransportReply(None, None, error="the client disconnected before the answer ended", cut_at=flight.cut_at)
    finally:
        if not flight.inner.done():
            flight.inner.cancel()


def _silent(transport: Transport, events: CallEvents) -> bool:
    """Was the answer accepted and then silent: no reply text (the transport reports text as it arrives), and
    nothing half-sent after its last whole event (a body still trickling in is a slow answer, an `e`)?"""
    if getattr(transport, "reports_text", False) is not True or events.text_began_at is not None:
        return False
    body = events.partial[1] if events.partial is not None else None
    return body is not None and (not body or body.endswith(b"\n"))


async def one_call(
    transport: Transport,
    flight: InFlight,
    settings: RunSpec,
    pauser: ProcessPause | None,
    idempotency_key: str,
) -> None:
    record, events = flight.record, flight.events
    message = probe_message(record.token, record.index, settings.calls)
    with_events = reports_events(transport)
    try:
        reply = await _cuttable(
            flight,
            _send(transport, record.session_key, message, idempotency_key, events if with_events else None),
            settings.timeout,
        )
    except asyncio.TimeoutError:
        partial = getattr(transport, "partial_reply", None)
        started = (partial(events) if with_events else partial()) if callable(partial) else None
        if started and _silent(transport, events):
            record.timed_out = True  # accepted, then not a word: the message was lost, not garbled
            record.silent = started
        elif started:
            # A slow-loris answer: the gateway did answer, badly, so `e` rather than `l`.
            record.replied_at = time.monotonic()
            record.transport_error = f"the reply started but did not finish within {settings.timeout:g}s: {started}"
        else:
            record.timed_out = True
    except TransportError as exc:
        record.replied_at = time.monotonic()
        record.transport_error = str(exc)
    else:
        record.replied_at = reply.replied_at if reply.replied_at is not None else time.monotonic()
        record.run_id, record.reply, record.error = reply.run_id, reply.reply, reply.error
        record.busy_refusal, record.state = reply.busy, reply.state
        record.no_text = reply.no_text
        record.answer_start = answer_start(record, events)
    record.ended_at = time.monotonic()
    record.first_at, record.text_at = events.first_at, events.text_at
    record.stream_errors = list(events.errors)
    record.after_text = [text for _, text in events.after]
    record.gateway_requests = list(events.gateway_requests)
    if pauser is not None and record.replied_at is not None:
        pauser.after_reply()
