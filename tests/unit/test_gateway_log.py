"""The log scan's pure pieces: quoting, the Traceback's exception line, the match bound, tail and contains."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_replyrace.gateway.log import (
    DEFAULT_LOG_PATTERNS,
    LINE_LIMIT,
    MATCH_LIMIT,
    LogReader,
    LogScan,
    exception_line,
    quote_line,
)
from pytest_replyrace.records import CallRecord, LogMatch
from pytest_replyrace.verdict import RaceResult


def test_quote_line_escapes_control_characters_and_escape_codes() -> None:
    assert quote_line("a\x1b[2Jb\r\tc\x9b\u202e\x00") == r"a\x1b[2Jb\r\tc\x9b\u202e\x00"
    assert quote_line("plain ünïcode → text") == "plain ünïcode → text"


def test_quote_line_cuts_long_lines_and_counts_the_rest() -> None:
    quoted = quote_line("y" * 1000)
    assert len(quoted) <= LINE_LIMIT and quoted.startswith("y" * 200)
    kept = quoted.index("…")
    assert quoted.endswith(f"… (+{1000 - kept:,} chars)")
    assert quote_line("z" * 10, dropped=5_000_000) == "z" * 10 + "… (+5,000,000 chars)"


def test_quote_line_is_idempotent() -> None:
    for text in ("short", "w" * 5000, "\x1b" * 400, "x" * 299 + "\x07"):
        once = quote_line(text)
        assert quote_line(once) == once and len(once) <= LINE_LIMIT


def test_exception_line_is_the_first_unindented_line_after_the_frames() -> None:
    frames = ['  File "gw.py", line 7, in turn', "    raise ValueError('boom')"]
    assert exception_line([*frames, "ValueError: boom", "next"]) == "ValueError: boom"
    assert exception_line(frames) is None  # not written yet
    assert exception_line(["Traceback", *frames]) is None  # no frames before the next line


def test_scan_keeps_the_first_matches_and_counts_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text("start\n" + "Traceback\n" * 1000 + "still shutting down\n")
    scan = LogReader(log, DEFAULT_LOG_PATTERNS).matches(0)
    assert len(scan.matches) == MATCH_LIMIT and scan.more == 1001 - MATCH_LIMIT and scan.total == 1001
    assert [m.lineno for m in scan.matches[:2]] == [2, 3]


def test_a_traceback_match_quotes_its_exception_line(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text(
        'ok\nTraceback (most recent call last):\n  File "gw.py", line 7, in turn\n    boom()\n'
        "ValueError: boom \x1b[2J\nlater\n"
    )
    (match,) = LogReader(log, DEFAULT_LOG_PATTERNS).matches(0).matches
    assert match.line == r"Traceback (most recent call last): → ValueError: boom \x1b[2J"
    assert match.lineno == 2


def test_scan_from_an_offset_numbers_lines_and_marks_late_ones(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text("a\nTraceback one\nb\n")
    reader = LogReader(log, DEFAULT_LOG_PATTERNS)
    since = reader.offset()
    with log.open("a") as handle:
        handle.write("Traceback two\n")
        late_from = handle.tell()
        handle.write("Traceback three\n")
    scan = reader.matches(since, late_from=late_from)
    assert [(m.line, m.lineno, m.late) for m in scan.matches] == [
        ("Traceback two", 4, False),
        ("Traceback three", 5, True),
    ]
    assert [m.line for m in reader.matches(0, containing="three").matches] == ["Traceback three"]


def test_tail_of_a_file_with_a_huge_last_line(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_bytes(b"one\ntwo\n" + b"\x1b" + b"x" * (5 << 20))
    tail = LogReader(log, ()).tail(2)
    assert tail[0] == "two"
    assert tail[1].startswith(r"\x1bxxx") and tail[1].endswith(" chars)") and len(tail[1]) <= LINE_LIMIT
    assert LogReader(log, ()).tail(30)[0] == "one"


def test_contains_goes_on_from_where_it_stopped(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text("booting\n" * 100 + "almost re")
    reader, ready = LogReader(log, ()), re.compile("ready on")
    assert not reader.contains(ready)
    # Lines already searched are not searched again (a poll every 50 ms must not rescan the file).
    log.write_text("ready on\n" + "booting\n" * 99 + "almost re")
    assert not reader.contains(ready)
    with log.open("a") as handle:
        handle.write("ady on 127.0.0.1\n")  # the partial line is read again, whole
    assert reader.contains(ready) and reader.contains(ready)


def test_race_result_bounds_what_it_reports() -> None:
    matches = [LogMatch("Traceback", f"Traceback {i} \x1b[2J" + "q" * 1000, i) for i in range(120)]
    result = RaceResult(
        calls=[CallRecord(1, "t", "k", 0.0)], session_key="k", log_matches=matches, log_matches_more=1000
    )
    data = result.to_dict()
    assert len(data["log_matches"]) == MATCH_LIMIT and data["log_matches_more"] == 1070
    assert all("\x1b" not in m["line"] and len(m["line"]) <= LINE_LIMIT for m in data["log_matches"])
    text = result.describe()
    assert "matched during this test (1,120):" in text and "… and 1,100 more (see the JSON report)" in text
    assert "\x1b" not in text


def test_log_scan_extend_keeps_one_bound() -> None:
    first, second = LogScan(), LogScan()
    for i in range(40):
        first.add(LogMatch("p", "a", i))
        second.add(LogMatch("p", "b", i))
    second.more = 7
    first.extend(second)
    assert len(first.matches) == MATCH_LIMIT and first.more == 30 + 7


def test_a_huge_line_is_matched_by_its_head_and_skipped_unread(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_bytes(b"a\nTraceback " + b"x" * (5 << 20) + b"\nTraceback after\nTraceback " + b"y" * (3 << 20))
    scan = LogReader(log, DEFAULT_LOG_PATTERNS).matches(0)
    assert [m.lineno for m in scan.matches] == [2, 3, 4]
    assert scan.matches[0].line.startswith("Traceback xxx") and scan.matches[0].line.endswith(" chars)")
    assert len(scan.matches[0].line) <= LINE_LIMIT and scan.matches[1].line == "Traceback after"
    assert scan.matches[2].line.startswith("Traceback yyy") and len(scan.matches[2].line) <= LINE_LIMIT


@pytest.mark.parametrize("patterns", [["^start$", "end$"], [r"end\Z", r"x(?!\s)", "(?<=the )end"]])
def test_block_shortcut_finds_what_a_line_by_line_scan_finds(tmp_path: Path, patterns: list[str]) -> None:
    group = ["start", "a start", "the end", "end of it", "in the mid", "x", "x y", "plain"]
    log = tmp_path / "gateway.log"
    log.write_text("\n".join(group + ["z"] * 1_500_000 + group) + "\n")  # the filler's blocks have no match
    hits = [(i, line) for i, line in enumerate(group, start=1) if any(re.search(p, line) for p in patterns)]
    expected = hits + [(i + len(group) + 1_500_000, line) for i, line in hits]
    reader = LogReader(log, patterns)
    assert (reader._block_filter is None) == ("\\Z" in repr(patterns))  # which path this case takes
    assert [(m.lineno, m.line) for m in reader.matches(0).matches] == expected
