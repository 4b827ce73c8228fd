"""What one test's markers make of the settings: its run spec (the ``replyrace`` marker's partial override, a
``gap_range`` point, ``--replyrace-force-calls``), its fixed session key and its search spec; a configuration
that cannot run fails the test in words, without a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .markers import parse_replyrace, parse_search_marker
from .settings import Settings
from .spec import RunSpec, SearchSpec
from .units import format_duration

__all__ = ["run_spec_of", "search_spec"]


def run_spec_of(
    node: pytest.Item,
    settings: Settings,
    gap_param: float | None,
    rtt: float,
    make_transport: Callable[[], object],
) -> tuple[RunSpec, str | None]:
    """The run spec of ``node`` and its fixed session key (None: a fresh one per run)."""
    overrides: dict[str, Any] = {}
    mark = node.get_closest_marker("replyrace")
    if mark is not None:
        overrides = parse_replyrace(mark.args, mark.kwargs, node.nodeid, settings.send_at, settings.stop_at)
    if gap_param is not None:
        overrides["gap"] = gap_param
    send_at = overrides.get("send_at", settings.send_at)
    shown = send_at if isinstance(send_at, str) else ",".join(send_at)
    problem = _problem(
        f"replyrace: {node.nodeid}: send_at={shown!r}",
        send_at,
        overrides.get("gap", settings.gap),
        rtt,
        make_transport,
    )
    session_key = overrides.pop("session_key", None)
    if settings.force_calls:
        overrides["calls"] = settings.force_calls  # beats the marker: it replays a shrunk failure
    spec = settings.run_spec.override(node.nodeid, **overrides)
    if problem is None and spec.stops:
        problem = _stop_problem(node.nodeid, spec, rtt, make_transport)
    if problem is not None:
        pytest.fail(problem, pytrace=False)  # a configuration error of this test, said without a traceback
    return spec, session_key


def _stop_problem(where: str, spec: RunSpec, rtt: float, make_transport: Callable[[], object]) -> str | None:
    """A stop gap before the call's request, or ``stop_by=cancel`` with a transport that cannot stop: the usage
    error naming it (or its API file)."""
    from .errors import TransportContractError
    from .stopping import check_stoppable

    for gap in spec.stop_gap if isinstance(spec.stop_gap, tuple) else (spec.stop_gap,):
        if gap < 0 and -gap > rtt:
            return (
                f"replyrace: {where}: stop_gap {format_duration(gap)} is more than the provider RTT "
                f"({format_duration(rtt)}) before the call is served; expected a stop_gap from -{format_duration(rtt)}"
            )

    try:
        check_stoppable(make_transport(), spec, "stop_by")  # type: ignore[arg-type]
    except TransportContractError as exc:
        return f"replyrace: {where}: {exc}"
    return None


def _problem(where: str, send_at: Any, gap: Any, rtt: float, make_transport: Callable[[], object]) -> str | None:
    anchors = send_at if isinstance(send_at, tuple) else (send_at,)
    for one in gap if isinstance(gap, tuple) else (gap,):
        if one < 0 and any(a != "served" for a in anchors):
            return f"{where}: a negative gap ({format_duration(one)}) needs send_at 'served'"
        if one < 0 and -one > rtt:
            return (
                f"{where}: gap {format_duration(one)} is more than the provider RTT ({format_duration(rtt)}) before "
                f"the previous call is served; expected a gap from -{format_duration(rtt)}"
            )
    if {"text", "first"} & set(anchors):
        from .sends import reports_events

        probe = make_transport()  # made, not opened: only its kind is looked at
        if not reports_events(probe):
            return (
                f"{where} waits for an event of the previous answer, and the transport "
                f"{getattr(probe, 'name', type(probe).__name__)!r} ({type(probe).__name__}) reports none; use "
                "send_at end, request or served with it, or see docs/09-when-clients-send.md for a transport "
                "that reports events"
            )
    return None


def search_spec(node: pytest.Item, settings: Settings) -> SearchSpec | None:
    """Where a window search looks for this test: its ``replyrace_search`` marker, else ``--replyrace-search``."""
    mark = node.get_closest_marker("replyrace_search")
    if mark is None:
        return settings.search
    return parse_search_marker(mark.args, mark.kwargs, node.nodeid)
