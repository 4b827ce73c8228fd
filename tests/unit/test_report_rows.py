"""Summary rows: a clean run in a failed test always says why the test failed."""

from __future__ import annotations

import pytest

from pytest_replyrace.reports.summary import summary_lines


def _row(pattern: str, outcome: str) -> str:
    result = {"node_id": "t.py::test_x", "pattern": pattern, "rtt": 0.05, "gap": 0.0, "calls": []}
    lines = [text for text, _ in summary_lines([result], {"t.py::test_x": outcome})]
    return lines[-1]


@pytest.mark.parametrize(
    ("pattern", "outcome", "tail"),
    [
        ("ppp", "failed", "clean (failed: a race assertion on another run of this test)"),
        ("ppp", "failed: not a race assertion", "clean (failed: not a race assertion)"),
        ("ppp", "passed", "clean (passed)"),
        ("pfp", "failed", "fast-fail: only call 2 (failed)"),
    ],
)
def test_outcome_notes(pattern: str, outcome: str, tail: str) -> None:
    assert _row(pattern, outcome).endswith(tail)
