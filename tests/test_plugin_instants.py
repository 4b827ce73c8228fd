"""Every instant in what people read, from a real run: the declared test gateway streams each answer for 300 ms
after its text is complete, the next message goes out at the text-complete event, and both the failure-style
timeline (in the JSON) and the HTML show each answer's end after the later sends."""

from __future__ import annotations

import json
import re

import pytest
from support.selftest import declared_gateway_cmd, run

TEST = """
import pytest

@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.replyrace(calls=3, send_at="text")
def test_text(sequential_sender):
    sequential_sender.run().assert_clean()
"""

SSE_TAIL = """
[send]
path = "/sse/{session}?tail_ms=300"
json = { text = "{message}" }

[reply]
format = "sse"
text = { event = "delta", pointer = "/d" }
complete = { event = "done", pointer = "/finish" }
end = { data = "[DONE]" }
"""


def test_an_answer_that_ends_after_the_next_sends_shows_its_end_in_both_reports(
    race_pytester: pytest.Pytester,
) -> None:
    race_pytester.path.joinpath("gw.toml").write_text(SSE_TAIL)
    race_pytester.makepyfile(test_instants=TEST)
    report, page = race_pytester.path / "history.json", race_pytester.path / "report.html"
    result = run(
        race_pytester,
        f"--replyrace-gateway-cmd={declared_gateway_cmd()}",
        "--replyrace-api=gw.toml",
        f"--replyrace-report={report}",
        f"--replyrace-html={page}",
    )
    result.assert_outcomes(passed=1)
    (test,) = json.loads(report.read_text())["tests"]
    calls = test["calls"]
    t0 = calls[0]["sent_at"]
    assert calls[1]["sent_at"] < calls[0]["ended_at"]  # the next message went out while the stream was open
    timeline = test["timeline"]
    assert "lanes: · call open, █ provider serving, › first event, ◆ text complete, ┃ answer end" in timeline
    ends = [float(m) for m in re.findall(r"answer end \+(\d+\.\d+)s", timeline)]
    assert ends == pytest.approx([call["ended_at"] - t0 for call in calls], abs=0.0011)
    lanes = [line.split("lane:")[-1].strip() for line in timeline.splitlines() if "lane:" in line]
    assert len(lanes) == 3 and all(lane.count("┃") == 1 for lane in lanes)
    assert lanes[0].index("┃") > lanes[1].index("›")  # call 1 ends after call 2's first event
    html = page.read_text()
    last_tick = re.findall(r'text-anchor="middle" fill="#777">([^<]+)<', html)[-1]
    span_ms = (max(call["ended_at"] for call in calls) - t0) * 1000
    assert last_tick == (f"{span_ms:.0f}ms" if span_ms < 1000 else f"{span_ms / 1000:.2f}s")
    assert html.count("answer end at") == 3 and html.count("answer open until") >= 1
