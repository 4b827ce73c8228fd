"""The client stopping a call: at its stop instant (its anchor plus its gap), a stop call or a cut connection.

:func:`check_stoppable` refuses, before anything is sent, a stop the transport cannot make (``stop_by=cancel``
with a transport that has no ``stop()``). :func:`stop_call` runs beside a stopped call's send: it waits for the
call's ``stop_at`` anchor (its send, its first event, the provider's receipt of its request or end of its text
step, its text-complete event, or its answer's end), then until the stop instant, and sends the stop, or cuts
the answer's connection, recording what came back on the call's :class:`~pytest_replyrace.records.StopRecord`.
A call whose answer ended before its stop instant is not stopped ("not stopped: it ended first"), except with
``end``, whose stop is always sent.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .clock import SEND_SPIN, sleep_until
from .errors import TransportContractError
from .records import StopRecord
from .sends import InFlight, ProviderWatch, as_evidence, transport_name
from .spec import RunSpec
from .transports.base import StopAnswer, Transport, TransportError

__all__ = ["ENDED_FIRST", "NO_CANCEL", "check_stoppable", "stop_call"]

ENDED_FIRST = "not stopped: it ended first"
NO_CANCEL = {
    "openai-chat": "the OpenAI chat API has no stop call",
    "openai-responses": "the transport sends no cancel for a response",
}
"""Built-in transports that can only go away (``stop_by=disconnect``), and why."""
STOP_ANSWER_LIMIT = 10.0
"""Seconds a stop call may take before the client gives up on its answer."""


def check_stoppable(transport: Transport, spec: RunSpec, where: str = "stop_by") -> None:
    """A usage error, naming the transport (or its API file), when the run stops calls in a way it cannot."""
    if not spec.stops or spec.stop_by != "cancel":
        return
    name = transport_name(transport)
    api_spec = getattr(transport, "spec", None)
    api = getattr(api_spec, "label", None)
    if callable(getattr(transport, "stop", None)) and (name != "declared" or getattr(api_spec, "stop", None)):
        return  # (a declared transport stops only by its API file's [stop] table)
    if name == "declared" or isinstance(api, str):
        what = f"the API file {api or '(declared)'} has no [stop] table"
        fix = "add a [stop] table to the file (docs/10-any-http-gateway.md), or use stop_by='disconnect'"
    elif name in NO_CANCEL:
        what = f"the {name} transport cannot cancel a turn ({NO_CANCEL[name]})"
        fix = "use stop_by='disconnect' with it"
    else:
        what = f"the {name} transport has no stop() method"
        fix = (
            "give it `async def stop(self, session_key, idempotency_key, *, wait_for_run) -> StopAnswer` "
            "(docs/13-when-clients-stop.md), or use stop_by='disconnect'"
        )
    raise TransportContractError(f"{where}=cancel: {what}; {fix}")


def _provider_kind(anchor: str, gap: float) -> str:
    return {"request": "request", "served": "text-end" if gap >= 0 else "text-request"}[anchor]


async def _anchor(flight: InFlight, anchor: str, gap: float, watch: ProviderWatch | None) -> tuple[float, float] | None:
    """(the anchor's instant, the stop instant), or None when the call ended before the anchor came."""
    record = flight.record
    if anchor == "sent":
        return record.sent_at, record.sent_at + gap
    if anchor == "end":
        await asyncio.wait({flight.task})
        assert record.ended_at is not None or flight.task.cancelled() or flight.task.exception() is not None
        end = record.ended_at if record.ended_at is not None else time.monotonic()
        return end, end + gap
    waiter: asyncio.Future[Any]
    if anchor in ("first", "text"):
        waiter = asyncio.ensure_future(flight.events.wait(anchor))
    else:
        assert watch is not None
        waiter = asyncio.ensure_future(watch.wait(_provider_kind(anchor, gap), record.token))
    try:
        await asyncio.wait({waiter, flight.task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not waiter.done():
            waiter.cancel()
    if not waiter.done() or waiter.cancelled():
        return None
    value = waiter.result()
    if isinstance(value, float):
        return value, value + gap
    if anchor == "request":
        return value.arrived_at, value.arrived_at + gap
    if gap >= 0:
        return value.ended_at, value.ended_at + gap
    planned = value.arrived_at + value.rtt  # served, before its end: never before the request came
    return planned, max(value.arrived_at, planned + gap)


async def _cancel(transport: Transport, record_key: str, session_key: str, spec: RunSpec) -> StopAnswer:
    stop: Any = transport.stop  # type: ignore[attr-defined]  # the optional half of the protocol
    try:
        with as_evidence(transport, "stop()"):
            answer = await asyncio.wait_for(
                stop(session_key, record_key, wait_for_run=spec.close_within), STOP_ANSWER_LIMIT + spec.close_within
            )
    except asyncio.TimeoutError:
        return StopAnswer(time.monotonic(), error=f"no answer to the stop within {STOP_ANSWER_LIMIT:g}s")
    except TransportError as exc:
        return StopAnswer(time.monotonic(), error=str(exc))
    if not isinstance(answer, StopAnswer):
        return StopAnswer(
            time.monotonic(), error=f"the {transport_name(transport)} transport's stop() returned {answer!r:.80}"
        )
    return answer


async def _disconnect(transport: Transport, flight: InFlight, key: str) -> float:
    """Close the call's answer connection: the transport's own ``disconnect``, else cancel the send itself."""
    disconnect = getattr(transport, "disconnect", None)
    if callable(disconnect):
        try:
            with as_evidence(transport, "disconnect()"):
                return float(await disconnect(key))
        except TransportError:
            return time.monotonic()
    at = time.monotonic()
    flight.cut_at = at
    if flight.inner is not None and not flight.inner.done():
        flight.inner.cancel()
        await asyncio.wait({flight.inner}, timeout=1.0)
    return at


async def stop_call(
    transport: Transport, flight: InFlight, spec: RunSpec, nth: int, key: str, watch: ProviderWatch | None
) -> None:
    """Stop the call in ``flight`` (the ``nth`` stopped call of the run, from 0) at its stop instant."""
    record = flight.record
    anchor, gap = spec.stop_at_of(nth), spec.stop_gap_of(nth)
    stop = record.stop = StopRecord(at=anchor, gap=gap, by=spec.stop_by)
    found = await _anchor(flight, anchor, gap, watch)
    if found is None:
        stop.skipped = ENDED_FIRST
        return
    stop.anchor_at, stop.due_at = found
    if anchor == "sent":
        await _let_send_start(flight)  # before the instant: the stop never overtakes its own call's send
    if anchor != "end":
        await _sleep_unless_done(flight, stop.due_at)
        if record.ended_at is not None and record.ended_at <= stop.due_at:
            stop.skipped = ENDED_FIRST
            return
    else:
        await sleep_until(stop.due_at, SEND_SPIN)
    stop.sent_at = time.monotonic()
    if spec.stop_by == "disconnect":
        stop.answered_at = await _disconnect(transport, flight, key)
        return
    answer = await _cancel(transport, key, record.session_key, spec)
    stop.answered_at, stop.aborted, stop.error = answer.answered_at, answer.aborted, answer.error
    stop.detail, stop.run_ids = answer.detail, list(answer.run_ids)


SEND_START_TURNS = 20
"""Loop turns a stop at ``sent`` + 0 waits for the call's send to begin (its request written, or on its way)."""


async def _let_send_start(flight: InFlight) -> None:
    """A stop never overtakes its own call's send: until the send has begun (its task made and run to its first
    wait), yield to the loop; a few turns, bounded."""
    for _ in range(SEND_START_TURNS):
        if flight.inner is not None:
            break
        await asyncio.sleep(0)
    await asyncio.sleep(0)  # the send's own first step: its frame or request goes out


async def _sleep_unless_done(flight: InFlight, until: float) -> None:
    """Sleep to ``until`` within a millisecond, or less when the call ends first."""
    coarse = until - SEND_SPIN - time.monotonic()
    if coarse > 0:
        await asyncio.wait({flight.task}, timeout=coarse)
    if not flight.task.done():
        await sleep_until(until, SEND_SPIN)
