"""What a run leaves behind: the terminal summary lines and the JSON history."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .units import format_duration
from .verdict import RaceResult

__all__ = ["REPORT_VERSION", "summary_lines", "report_document", "write_json_report"]

REPORT_VERSION = 1


def summary_lines(results: Sequence[RaceResult]) -> list[tuple[str, dict[str, bool]]]:
    """One line per race run: test, RTT, gap, pattern, verdict; with terminal markup."""
    lines: list[tuple[str, dict[str, bool]]] = []
    for result in results:
        rtt = "-" if result.rtt is None else format_duration(result.rtt)
        verdict = result.verdict
        detail = "" if verdict == "clean" else f" ({result.shape() if verdict == 'fast-fail' else result.shape(set('le'))})"
        logs = f", {len(result.log_matches)} log matches" if result.log_matches else ""
        line = f"{result.node_id}  rtt={rtt} gap={format_duration(result.gap)}  {result.pattern}  {verdict}{detail}{logs}"
        markup = {"green": True} if verdict == "clean" else ({"red": True} if verdict == "fast-fail" else {"yellow": True})
        lines.append((line, markup))
    return lines


def report_document(results: Sequence[RaceResult], *, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": REPORT_VERSION,
        "plugin": {"name": "pytest-replyrace", "version": __version__},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "seed": seed,
        "settings": settings,
        "tests": [result.to_dict() for result in results],
    }


def write_json_report(path: str | Path, results: Sequence[RaceResult], *, seed: int, settings: dict[str, Any]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    document = report_document(results, seed=seed, settings=settings)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target
