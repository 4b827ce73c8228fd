"""Race tests at each send_at anchor, as a project writes them, and their patterns read back from the JSON report
(shared by the real-gateway tests of the declared transport)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INNER_TEST = """
@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.replyrace(calls={calls}, send_at="{send_at}", busy_policy="{policy}"{more})
def test_at_{send_at}(sequential_sender):
    result = sequential_sender.run()
    print("PATTERN {send_at}", result.pattern)
    result.assert_clean()
"""


def inner(
    calls: int, policy: str, history: str | None = None, anchors: tuple[str, ...] = ("end", "text", "first")
) -> str:
    """A test module with one race test per send_at anchor, as a project would write them (``history``: the
    conversation check, default the settings')."""
    more = "" if history is None else f", history={history!r}"
    return "import pytest\n" + "".join(
        INNER_TEST.format(calls=calls, send_at=send_at, policy=policy, more=more) for send_at in anchors
    )


def patterns(report: Path) -> dict[str, dict[str, Any]]:
    """Each inner test's JSON record, by its send_at anchor."""
    return {
        test["node_id"].split("::test_at_")[1].split("[")[0]: test for test in json.loads(report.read_text())["tests"]
    }
