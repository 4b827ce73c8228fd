"""What a run leaves behind: the terminal summary lines and the JSON history."""

from __future__ import annotations

import json
import platform
import re
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..letters import BUSY_LETTERS, FAST_FAIL_LETTERS, LETTERS, failing_letters, verdict_of
from ..spec import DEFAULTS
from ..units import format_duration
from ..verdict import describe_shape
from ..version import __version__

__all__ = ["NOT_A_RACE_ASSERTION", "REPORT_VERSION", "report_document", "summary_lines", "write_json_report"]

REPORT_VERSION = 1


_GRID_ID = re.compile(r"(?:(?<=\[)|-)(?:rtt|gap)=[^\]-]+|(?:rtt|gap)=[^\]-]+-?")


def group_name(node_id: str | None) -> str:
    """The test's node id without its ``rtt=…``/``gap=…`` parameters: one table per test."""
    if not node_id:
        return "(no test)"
    name = _GRID_ID.sub("", node_id)
    return name.replace("[]", "").replace("[-", "[").replace("-]", "]")


NOT_A_RACE_ASSERTION = "not a race assertion"


def _gap_column(send_at: str, gap: float, schedule: Any) -> str:
    """``50ms``, ``text+20ms``, or a per-call schedule as each call's own anchor: ``request+100ms,end+0ms``."""
    anchors = send_at.split(",")
    gaps = schedule if isinstance(schedule, list) and schedule else [gap]
    if anchors == [DEFAULTS.send_at] and len(gaps) == 1:
        return format_duration(gap)
    steps = max(len(anchors), len(gaps))
    return ",".join(
        f"{anchors[i % len(anchors)]}{'' if gaps[i % len(gaps)] < 0 else '+'}{format_duration(gaps[i % len(gaps)])}"
        for i in range(steps)
    )


def _outcome_note(verdict: str, outcome: str) -> str:
    """The test's outcome as the row shows it: a clean run never reads plainly ``failed``."""
    if verdict == "clean" and outcome == "failed":
        return "failed: a race assertion on another run of this test"
    return outcome


def _p50_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f}ms" if values else "-"


def summary_rows(results: Sequence[Mapping[str, Any]], outcomes: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per race run (from :meth:`RaceResult.to_dict`), with the figures the table shows."""
    rows = []
    for result in results:
        calls = result.get("calls", [])
        fast = [c["latency"] for c in calls if c["letter"] in FAST_FAIL_LETTERS and c.get("latency") is not None]
        served = [
            c["journal"][0]["ended_at"] - c["journal"][0]["arrived_at"]
            for c in calls
            if c.get("journal") and c["journal"][0].get("ended_at") is not None
        ]
        pattern = result["pattern"]
        policy = result.get("busy_policy") or DEFAULTS.busy_policy
        send_at = str(result.get("send_at") or DEFAULTS.send_at)
        verdict = result.get("verdict") or verdict_of(pattern, policy)
        bad = failing_letters(verdict, policy)
        node_id = result.get("node_id") or ""
        gap = result.get("gap") or 0.0
        rows.append(
            {
                "group": group_name(node_id),
                "node_id": node_id,
                "rtt_s": result.get("rtt"),
                "rtt": "-" if result.get("rtt") is None else format_duration(result["rtt"]),
                "gap": _gap_column(send_at, gap, (result.get("settings") or {}).get("gap")),
                "gap_s": gap,
                "send_at": send_at,
                "busy_policy": policy,
                "pattern": pattern,
                "counts": {letter: pattern.count(letter) for letter in LETTERS},
                "ff_p50": _p50_ms(fast),
                "rtt_p50": _p50_ms(served),
                "verdict": verdict,
                "detail": _detail(result, verdict, bad),
                "logs": len(result.get("log_matches", [])) + int(result.get("log_matches_more") or 0),
                "outcome": _outcome_note(verdict, (outcomes or {}).get(node_id, "")),
                "timeline": result.get("timeline", ""),
            }
        )
    return rows


def _detail(result: Mapping[str, Any], verdict: str, bad: frozenset[str]) -> str:
    """The shape of a failing run's bad letters; for a fast-fail the result's own (which says when no call got a
    real reply)."""
    if verdict == "clean":
        return ""
    if verdict == "fast-fail" and isinstance(result.get("shape"), str):
        return str(result["shape"])
    return describe_shape(result["pattern"], bad)


def summary_lines(
    results: Sequence[Mapping[str, Any]], outcomes: dict[str, str] | None = None, verbose: bool = False
) -> list[tuple[str, dict[str, bool]]]:
    """A compact table per race test: one row per RTT, coloured like pytest's own output.

    ``verbose`` adds the per-call timeline under every row that is not clean.
    """
    lines: list[tuple[str, dict[str, bool]]] = []
    rows = summary_rows(results, outcomes)
    width = max([len(r["pattern"]) for r in rows] + [7])
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    for members in groups.values():  # xdist delivers in any order
        members.sort(key=lambda r: (r["rtt_s"] is None, r["rtt_s"] or 0.0, r["gap_s"]))
    for group, members in sorted(groups.items()):  # by test id, whatever order xdist finished them in
        # Runs that sent before the previous turn was done also count b, m and i; others keep the classic columns.
        overlap = any(r["send_at"] != DEFAULTS.send_at or r["busy_policy"] != DEFAULTS.busy_policy for r in members)
        letters = "".join(k for k in LETTERS if overlap or k not in BUSY_LETTERS)
        gap_width = max([len(r["gap"]) for r in members] + [7])
        lines.append((group, {"bold": True}))
        lines.append(
            (
                f"  {'rtt':>7} {'gap':>{gap_width}}  {'pattern':<{width}}  "
                + " ".join(f"{x:>2}" for x in letters)
                + f"  {'ff p50':>7} {'rtt p50':>7}  verdict",
                {},
            )
        )
        for row in members:
            c = row["counts"]
            verdict = row["verdict"] + (f": {row['detail']}" if row["detail"] else "")
            extras = [f"{row['logs']:,} log line{'s' if row['logs'] != 1 else ''}"] if row["logs"] else []
            if row["busy_policy"] != DEFAULTS.busy_policy:
                extras.append(f"busy policy {row['busy_policy']}")
            if row["outcome"]:
                extras.append(row["outcome"])
            tail = f" ({', '.join(extras)})" if extras else ""
            line = (
                f"  {row['rtt']:>7} {row['gap']:>{gap_width}}  {row['pattern']:<{width}}  "
                + " ".join(f"{c[x]:>2}" for x in letters)
                + f"  {row['ff_p50']:>7} {row['rtt_p50']:>7}  {verdict}{tail}"
            )
            if row["verdict"] == "clean":
                markup = {"green": True}
            elif row["outcome"] == "xfailed":
                markup = {"yellow": True}
            else:
                markup = {"red": True} if row["verdict"] == "fast-fail" else {"yellow": True}
            lines.append((line, markup))
            if verbose and row["verdict"] != "clean" and row["timeline"]:
                lines.extend((f"    {text}", {}) for text in row["timeline"].splitlines())
    return lines


def report_document(
    results: Sequence[Mapping[str, Any]],
    *,
    seed: int,
    settings: dict[str, Any],
    windows: Sequence[Mapping[str, Any]] = (),
    restarts: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    return {
        "version": REPORT_VERSION,
        "plugin": {"name": "pytest-replyrace", "version": __version__},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "seed": seed,
        "settings": settings,
        "tests": list(results),
        "windows": list(windows),
        "restarts": list(restarts),
    }


def write_json_report(
    path: str | Path,
    results: Sequence[Mapping[str, Any]],
    *,
    seed: int,
    settings: dict[str, Any],
    windows: Sequence[Mapping[str, Any]] = (),
    restarts: Sequence[Mapping[str, Any]] = (),
) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    document = report_document(results, seed=seed, settings=settings, windows=windows, restarts=restarts)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target
