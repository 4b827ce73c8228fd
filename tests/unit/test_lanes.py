"""Every instant in what people read: the marks on a call's lane in the terminal timeline and the HTML report,
the HTML axis over every instant, and the docs' sample of an overlapping run's timeline."""

from __future__ import annotations

import re

import pytest
from support.docs import doc_page, marked_block

from pytest_replyrace import lanes
from pytest_replyrace.lanes import LaneMark, MarkKind, instants_text, lane_marks, overlay_marks
from pytest_replyrace.records import CallRecord, JournalEntry
from pytest_replyrace.reports.html import render_html
from pytest_replyrace.verdict import LANE_WIDTH, RaceResult, format_timeline


def served(token: str, arrived: float, ended: float) -> JournalEntry:
    return JournalEntry(
        seq=1,
        path="/v1/chat/completions",
        arrived_at=arrived,
        ended_at=ended,
        tokens=[token],
        rtt=ended - arrived,
        model="m",
        stream=True,
        status=200,
    )


def refused_while_streaming() -> list[CallRecord]:
    """The issue's run at ``send_at="text"``: call 1's text complete at 60 ms and its stream open until 205 ms,
    calls 2-6 refused as busy at 53-58 ms."""
    first = CallRecord(
        index=1,
        token="rr-x-1",
        session_key="s",
        sent_at=10.0,
        replied_at=10.050,
        reply="ECHO rr-x-1",
        send_at="text",
        first_at=10.004,
        text_at=10.050,
        ended_at=10.205,
        journal=[served("rr-x-1", 10.002, 10.045)],
        letter="p",
    )
    calls = [first]
    for index, at in enumerate((0.053, 0.054, 0.055, 0.057, 0.058), start=2):
        calls.append(
            CallRecord(
                index=index,
                token=f"rr-x-{index}",
                session_key="s",
                sent_at=10 + at - 0.001,
                replied_at=10 + at,
                error="HTTP 409: busy",
                send_at="text",
                anchor_at=10.050,
                first_at=10 + at,
                text_at=10 + at,
                ended_at=10 + at,
                sent_while_busy=True,
                busy_refusal=True,
                letter="b",
            )
        )
    return calls


def lane_of(text: str, index: int) -> str:
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if re.match(rf"\s+{index}\s+\d", line))
    return lines[row + 1].split("lane:")[-1].strip()


def test_an_overlapping_runs_timeline_marks_each_answers_first_event_text_and_end() -> None:
    text = format_timeline(refused_while_streaming())
    assert "  lanes: · call open, █ provider serving, › first event, ◆ text complete, ┃ answer end" in text
    lane1, lane2, lane6 = lane_of(text, 1), lane_of(text, 2), lane_of(text, 6)
    assert len(lane1) == LANE_WIDTH + 2
    # Call 1's stream ends at the run's far edge, long after calls 2-6 were refused: the end is the evidence.
    assert lane1[-2] == "┃" and lane1.index("›") < lane1.index("◆") < lane1.index("┃")
    assert lane2.index("┃") < lane1.index("┃") // 3 and lane6.index("┃") < lane1.index("┃") // 3
    assert "first event +0.004s; text complete +0.050s; answer end +0.205s" in text
    assert "first event, text complete and answer end +0.053s" in text


def test_a_run_that_waited_for_each_end_keeps_its_timeline() -> None:
    calls = refused_while_streaming()[:1]
    calls[0].send_at = "end"
    text = format_timeline(calls)
    assert "lane" not in text and "instants:" not in text


def test_the_html_axis_spans_every_instant_and_marks_each_one() -> None:
    page = render_html([RaceResult(refused_while_streaming(), "s", send_at="text").to_dict()], seed=1, settings={})
    axis = re.findall(r'text-anchor="middle" fill="#777">([^<]+)<', page)
    assert axis[-1] == "205ms"  # not 58 ms, the last send: the stream that ended last is on the page
    assert "call 1 answer end at 205ms after its send" in page
    assert "call 1 text complete at 50ms after its send" in page and "call 1 first event at 4ms" in page
    assert "answer open until 205ms after its send" in page
    for kind in lanes.MARK_KINDS:
        assert f"</i>{kind.name}</span>" in page  # in the legend


def test_a_new_mark_source_shows_on_both_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    stop = MarkKind("stop", "■", "#d7263d")

    def stops(call: object) -> list[LaneMark]:
        return [LaneMark(10.150, stop)] if call["index"] == 1 else []  # type: ignore[index]

    monkeypatch.setattr(lanes, "MARK_KINDS", [*lanes.MARK_KINDS, stop])
    monkeypatch.setattr(lanes, "MARK_SOURCES", [*lanes.MARK_SOURCES, stops])
    text = format_timeline(refused_while_streaming())
    assert "■ stop" in text.splitlines()[1] and "■" in lane_of(text, 1) and "stop +0.150s" in text
    page = render_html([RaceResult(refused_while_streaming(), "s", send_at="text").to_dict()], seed=1, settings={})
    assert "call 1 stop at 150ms after its send" in page and "</i>stop</span>" in page


def test_marks_land_in_their_cells_and_a_later_one_wins() -> None:
    first, end = MarkKind("a", "A", "#000"), MarkKind("b", "B", "#000")
    lane = overlay_marks(
        "|" + " " * 10 + "|", [LaneMark(0.0, first), LaneMark(0.95, first), LaneMark(0.95, end)], 0.0, 1.0
    )
    assert lane == "|A        B|"
    assert instants_text([], 0.0) == "none reported"
    assert lane_marks({"ended_at": 2.0})[0].kind is lanes.ANSWER_END


def test_the_docs_sample_of_an_overlapping_run_is_real_output() -> None:
    calls = [
        CallRecord(
            index=1,
            token="rr-bq7u4f-1",
            session_key="s",
            sent_at=10.0,
            replied_at=10.235,
            reply="ECHO rr-bq7u4f-1",
            send_at="text",
            first_at=10.005,
            text_at=10.235,
            ended_at=10.236,
            journal=[served("rr-bq7u4f-1", 10.003, 10.203)],
            letter="p",
        ),
        CallRecord(
            index=2,
            token="rr-bq7u4f-2",
            session_key="s",
            sent_at=10.236,
            replied_at=10.242,
            error="session busy: a turn is already running",
            send_at="text",
            anchor_at=10.235,
            first_at=10.242,
            text_at=10.242,
            ended_at=10.242,
            letter="f",
        ),
    ]
    shown = marked_block(doc_page("09-when-clients-send.md"), "busy-after-final").split("```\n")[1]
    assert shown.splitlines()[1:] == format_timeline(calls).splitlines()
