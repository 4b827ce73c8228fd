"""The conversation check knows tools: every tool call the provider issued in a turn answered exactly once."""

from __future__ import annotations

from support.docs import doc_page, marked_block

from pytest_replyrace.records import CallRecord, JournalEntry
from pytest_replyrace.verdict import LANE_WIDTH, check_history, classify, format_timeline, tool_problem

TOKEN = "rr-tool-2"


def step(
    seq: int, kind: str, issued: tuple[str, ...] = (), answered: tuple[str, ...] = (), served: bool = True
) -> JournalEntry:
    at = 10.0 + seq / 10
    return JournalEntry(
        seq=seq,
        path="/v1/chat/completions",
        arrived_at=at,
        ended_at=at + 0.05 if served else None,
        tokens=[TOKEN],
        rtt=0.05,
        model="m",
        stream=False,
        status=200 if served else 499,
        step=seq,
        kind=kind,
        issued=list(issued),
        answered=list(answered),
    )


def turn(*journal: JournalEntry) -> CallRecord:
    return CallRecord(
        index=2,
        token=TOKEN,
        session_key="agent:test:x",
        sent_at=10.0,
        replied_at=11.0,
        reply=f"ECHO {TOKEN}",
        journal=list(journal),
        letter="p",
    )


def test_a_tool_call_answered_once_is_clean() -> None:
    record = turn(step(1, "tool", issued=("c1",)), step(2, "text", answered=("c1",)))
    assert tool_problem(record) is None
    check_history([record])
    assert record.letter == "p"


def test_a_resent_history_answers_each_call_once_per_request() -> None:
    record = turn(
        step(1, "tool", issued=("c1",)),
        step(2, "tool", issued=("c2",), answered=("c1",)),
        step(3, "text", answered=("c1", "c2")),
    )
    assert tool_problem(record) is None


def test_a_chained_follow_up_answers_only_the_new_call() -> None:
    record = turn(
        step(1, "tool", issued=("c1",)),
        step(2, "tool", issued=("c2",), answered=("c1",)),
        step(3, "text", answered=("c2",)),
    )
    assert tool_problem(record) is None


def test_answered_twice_is_h_with_the_reason() -> None:
    record = turn(step(1, "tool", issued=("c1",)), step(2, "text", answered=("c1", "c1")))
    check_history([record])
    assert record.letter == "h" and record.history_problem == "tool call c1 answered twice in request #2"


def test_never_answered_is_h() -> None:
    record = turn(
        step(1, "tool", issued=("c1",)),
        step(2, "tool", issued=("c2",), answered=("c1",)),
        step(3, "text", answered=("c1",)),
    )
    assert tool_problem(record) == "tool call c2 never answered (issued in request #2)"


def test_a_result_for_a_call_never_issued_is_h() -> None:
    record = turn(step(1, "tool", issued=("c1",)), step(2, "text", answered=("c1", "c9")))
    assert tool_problem(record) == "a tool result for c9, never issued in this turn (request #2)"
    nameless = turn(step(1, "tool", issued=("c1",)), step(2, "text", answered=("c1", "?")))
    assert tool_problem(nameless) == "a tool result naming no call id (request #2)"


def test_an_answer_that_never_got_out_issued_nothing() -> None:
    record = turn(
        step(1, "tool", issued=("c1",), served=False),
        step(2, "tool", issued=("c2",)),
        step(3, "text", answered=("c2",)),
    )
    assert tool_problem(record) is None


def test_off_checks_nothing_and_a_turn_without_tools_is_clean() -> None:
    assert tool_problem(turn(step(1, "tool", issued=("c1",)), step(2, "text")), "off") is None
    check_history([bad := turn(step(1, "tool", issued=("c1",)), step(2, "text"))], "off")
    assert bad.letter == "p"
    assert tool_problem(turn(step(1, "text"))) is None


def test_a_turn_served_only_its_tool_step_is_a_fast_fail() -> None:
    record = turn(step(1, "tool", issued=("c1",)))
    assert classify(record) == "f"  # the tool call is not the answer: the text step never came
    assert classify(turn(step(1, "tool", issued=("c1",)), step(2, "text", answered=("c1",)))) == "p"


def test_the_timeline_shows_each_step_and_a_turn_whose_result_never_came_back() -> None:
    from pytest_replyrace.verdict import format_timeline

    whole = turn(step(1, "tool", issued=("c1",)), step(2, "text", answered=("c1",)))
    text = format_timeline([whole], origin=10.0)
    assert "provider requests:         #1 tool 1 +0.100s 50ms, #2 text 2 +0.200s 50ms" in text
    assert "tool turn:" not in text
    cut = turn(step(1, "tool", issued=("c1",)))
    cut.letter = classify(cut)
    assert (
        "tool turn:                 no text step: the tool result never came back to the provider"
        in format_timeline([cut], origin=10.0)
    )
    plain = turn(step(1, "text"))
    assert "provider requests:" not in format_timeline([plain], origin=10.0)


def test_the_html_draws_each_step_as_its_own_provider_bar() -> None:
    from pytest_replyrace.reports.html import render_html
    from pytest_replyrace.verdict import RaceResult

    whole = turn(step(1, "tool", issued=("c1",)), step(2, "text", answered=("c1",)))
    page = render_html(
        [RaceResult([whole], "agent:test:x", rtt=0.05, gap=0.0, seed=1, node_id="t.py::t").to_dict()],
        seed=1,
        settings={},
    )
    assert page.count("<title>provider step 1 tool 200") == 1 and page.count("<title>provider step 2 text 200") == 1
    assert page.count('fill-opacity="0.45"') == 1


def test_the_timeline_draws_each_step_as_its_own_bar_on_the_calls_lane() -> None:
    record = turn(step(1, "tool", issued=("c1",)), step(2, "text", answered=("c1",)))
    lines = format_timeline([record], origin=10.0).splitlines()
    lane = next(line for line in lines if "lane (░ tool, █ text):" in line).split("     ")[-1]
    assert lane.startswith("|") and lane.endswith("|") and len(lane) == LANE_WIDTH + 2
    # The call runs 10.0-11.0 s, the tool step 10.1-10.15 s, the text step 10.2-10.25 s: in that order.
    assert lane.index("░") < lane.index("█") and "·" in lane
    assert lane[-2] == "·" and lane[1] == "·"  # the call's dots run from its send to its end, the run's span
    plain = format_timeline(
        [
            turn(
                JournalEntry(
                    seq=1,
                    path="/v1/chat/completions",
                    arrived_at=10.1,
                    ended_at=10.2,
                    tokens=[TOKEN],
                    rtt=0.1,
                    model="m",
                    stream=False,
                    status=200,
                )
            )
        ]
    )
    assert "lane" not in plain  # no tool step in the run: the timeline is as before


def test_the_scripted_model_page_shows_this_lane() -> None:
    record = turn(step(1, "tool", issued=("c1",)), step(2, "text", answered=("c1",)))
    shown = marked_block(doc_page("11-scripted-model.md"), "tool-lane").split("```\n")[1]
    assert shown == format_timeline([record], origin=10.0) + "\n"
