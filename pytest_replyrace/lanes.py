"""Instants on a call's lane, for both reports: what each mark is, where the marks come from, and how the
terminal draws them.

A :class:`MarkKind` names one kind of instant (its legend word, its terminal glyph, its HTML colour); a mark
source reads one call (a ``CallRecord``'s fields or its JSON, as a mapping) and returns its :class:`LaneMark`
instants. :data:`MARK_SOURCES` lists the sources in drawing order: a new kind of instant (a stop, the model
call's close) is one more kind and one more source, and both the terminal timeline and the HTML report show
it. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ANSWER_END",
    "FIRST_EVENT",
    "MARK_KINDS",
    "MARK_SOURCES",
    "TEXT_COMPLETE",
    "LaneMark",
    "MarkKind",
    "answer_marks",
    "instants_text",
    "lane_marks",
    "marks_legend",
    "overlay_marks",
    "run_instants",
]


@dataclass(frozen=True)
class MarkKind:
    """One kind of instant on a lane."""

    name: str
    """The legend's words, and the HTML tick's title."""
    glyph: str
    """One character on the terminal lane."""
    colour: str
    """The HTML tick's colour."""


@dataclass(frozen=True)
class LaneMark:
    """One instant (monotonic seconds) of one call."""

    at: float
    kind: MarkKind


FIRST_EVENT = MarkKind("first event", "›", "#1f6feb")
TEXT_COMPLETE = MarkKind("text complete", "◆", "#ffffff")
ANSWER_END = MarkKind("answer end", "┃", "#1d1d1f")

MARK_KINDS: list[MarkKind] = [FIRST_EVENT, TEXT_COMPLETE, ANSWER_END]
"""Every kind a source may return, in the legend's order."""


def answer_marks(call: Mapping[str, Any]) -> list[LaneMark]:
    """The answer's instants as the client saw them: its first event, its text complete and its end."""
    pairs = (
        (call.get("first_at"), FIRST_EVENT),
        (call.get("text_at"), TEXT_COMPLETE),
        (call.get("ended_at"), ANSWER_END),
    )
    return [LaneMark(float(at), kind) for at, kind in pairs if at is not None]


MarkSource = Callable[[Mapping[str, Any]], list[LaneMark]]

MARK_SOURCES: list[MarkSource] = [answer_marks]
"""Where a call's marks come from, in drawing order (a later mark wins a shared terminal cell)."""


def lane_marks(call: Mapping[str, Any]) -> list[LaneMark]:
    """Every mark of one call (a ``CallRecord``'s ``vars()`` or its JSON), from every source."""
    return [mark for source in MARK_SOURCES for mark in source(call)]


def run_instants(calls: Iterable[Mapping[str, Any]]) -> list[float]:
    """Every instant of a run's calls: sends, replies, each mark and each provider request's arrival, end and
    close. A report's axis spans them all."""
    found: list[float] = []
    for call in calls:
        found.extend(t for t in (call.get("sent_at"), call.get("replied_at")) if t is not None)
        found.extend(mark.at for mark in lane_marks(call))
        for entry in call.get("journal") or []:
            get = entry.get if isinstance(entry, Mapping) else lambda key, e=entry: getattr(e, key, None)
            found.extend(t for t in (get("arrived_at"), get("ended_at"), get("closed_at")) if t is not None)
    return [float(t) for t in found]


def overlay_marks(lane: str, marks: Sequence[LaneMark], t0: float, span: float) -> str:
    """``lane`` (``|`` + cells + ``|``, on the scale t0..t0+span) with each mark's glyph in its cell."""
    cells = list(lane[1:-1])
    width = len(cells)
    for mark in marks:
        cells[min(width - 1, max(0, int((mark.at - t0) / span * width)))] = mark.kind.glyph
    return lane[0] + "".join(cells) + lane[-1]


def marks_legend(marks: Iterable[LaneMark]) -> str:
    """``› first event, ◆ text complete, ┃ answer end``: the kinds among ``marks``, in the legend's order."""
    used = {mark.kind for mark in marks}
    return ", ".join(f"{kind.glyph} {kind.name}" for kind in MARK_KINDS if kind in used)


def instants_text(marks: Sequence[LaneMark], t0: float) -> str:
    """``first event +0.012s; text complete +0.200s; answer end +0.205s``: each mark after the run's origin, marks
    at the same millisecond said once (``text complete and answer end +0.053s``)."""
    groups: dict[str, list[str]] = {}
    for mark in marks:
        groups.setdefault(f"{mark.at - t0:+.3f}s", []).append(mark.kind.name)
    said = [
        (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]) + " " + at
        for at, names in groups.items()
    ]
    return "; ".join(said) or "none reported"
