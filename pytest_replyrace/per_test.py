"""What one test's markers make of the settings: its run spec (the ``replyrace`` marker's partial override, a
``gap_range`` point, ``--replyrace-force-calls``), its fixed session key and its search spec; a configuration
that cannot run fails the test in words, without a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .markers import parse_replyrace, parse_search_marker
from .settings import Settings
from .spec import RunSpec
from .units import format_duration
from .window import SearchSpec

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
        overrides = parse_replyrace(mark.args, mark.kwargs, node.nodeid, settings.send_at)
    if gap_param is not None:
        overrides["gap"] = gap_param
    send_at = overrides.get("send_at", settings.send_at)
    problem = _problem(
        f"replyrace: {node.nodeid}: send_at={send_at!r}",
        send_at,
        overrides.get("gap", settings.gap),
        rtt,
        make_transport,
    )
    if problem is not None:
        pytest.fail(problem, pytrace=False)  # a configuration error of this test, said without a traceback
    session_key = overrides.pop("session_key", None)
    if settings.force_calls:
        overrides["calls"] = settings.force_calls  # beats the marker: it replays a shrunk failure
    return settings.run_spec.override(node.nodeid, **overrides), session_key


def _problem(where: str, send_at: str, gap: float, rtt: float, make_transport: Callable[[], object]) -> str | None:
    if gap < 0 and send_at != "served":
        return f"{where}: a negative gap ({format_duration(gap)}) needs send_at 'served'"
    if gap < 0 and -gap > rtt:
        return (
            f"{where}: gap {format_duration(gap)} is more than the provider RTT ({format_duration(rtt)}) before the "
            f"previous call is served; expected a gap from -{format_duration(rtt)}"
        )
    if send_at in ("text", "first"):
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
