"""The HTML report: its content from results, and a real browser rendering it."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from support.selftest import race_gateway_cmd, race_test, run

from pytest_replyrace.records import CallRecord, JournalEntry, LogMatch
from pytest_replyrace.reports.html import render_html
from pytest_replyrace.verdict import RaceResult, classify


def sample(pattern: str, rtt: float = 0.05, node: str = "t.py::test_x[rtt=50ms]") -> dict[str, object]:
    calls = []
    for i, letter in enumerate(pattern, start=1):
        token, sent = f"rr-abcd-{i}", 100.0 + i
        if letter == "p":
            call = CallRecord(
                i,
                token,
                "agent:test:race-x",
                sent,
                sent + rtt + 0.01,
                "r",
                f"ECHO {token}",
                journal=[
                    JournalEntry(
                        i,
                        "/v1/chat/completions",
                        sent + 0.005,
                        sent + 0.005 + rtt,
                        [token],
                        rtt,
                        "fake-model",
                        True,
                        200,
                    )
                ],
            )
        else:
            call = CallRecord(i, token, "agent:test:race-x", sent, sent + 0.25, "r", "<canned & fast>")
        call.letter = classify(call)
        calls.append(call)
    return RaceResult(
        calls,
        "agent:test:race-x",
        rtt=rtt,
        gap=0.2,
        seed=1,
        node_id=node,
        log_matches=[LogMatch("x", "followup queue drain failed for <key>", 3)],
    ).to_dict()


def test_page_carries_patterns_bars_logs_and_escapes_text() -> None:
    page = render_html([sample("pfpf"), sample("pppp", 3.0, "t.py::test_x[rtt=3s]")], seed=7, settings={"gap": "200ms"})
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http://" not in page
    assert page.count("<svg") == 2
    assert '<span class="pattern">pfpf</span>' in page and '<span class="pattern">pppp</span>' in page
    assert page.count('height="11" fill="#d7263d"') == 2  # two fast-fail bars
    assert page.count('height="6" fill="#3b7dd8"') == 2 + 4  # provider bars: 2 real calls at 50 ms, 4 at 3 s
    assert "followup queue drain failed for &lt;key&gt;" in page and "&lt;canned &amp; fast&gt;" in page
    assert "<h2>t.py::test_x</h2>" in page and page.count("<h2>") == 1  # one test, one heatmap


def test_an_h_call_has_its_colour_and_its_reason_in_the_row() -> None:
    result = sample("pp")
    result["calls"][1]["letter"] = "h"
    result["calls"][1]["history_problem"] = "sent twice: rr-abcd-1 (request #2)"
    page = render_html([result], seed=7, settings={})
    assert 'height="11" fill="#b8860b"' in page and "h corrupted history" in page  # the bar and the legend
    assert "<title>history sent twice: rr-abcd-1 (request #2)</title>" in page  # the reason on the row label
    assert "— history sent twice: rr-abcd-1 (request #2)</title>" in page  # and on the bar


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


@pytest.mark.slow  # long: CI runs it in the slow step
def test_a_failing_run_gives_json_junit_and_html_merged_across_xdist_workers(race_pytester: pytest.Pytester) -> None:
    race_pytester.makepyfile(test_chat=race_test(("50ms", "1s", 2), calls=4, gap=0.2))
    out = race_pytester.path
    # 350 ms of background work from each turn's start holds the guard: at 50 ms RTT the send 200 ms after a real
    # reply lands 100 ms inside it and the one after a fast-fail 100 ms past it (pfpf, with margins that hold on
    # a loaded machine); at 1 s nothing is left.
    result = run(
        race_pytester,
        f"--replyrace-gateway-cmd={race_gateway_cmd('--background-ms', '350')}",
        "-n",
        "2",
        f"--replyrace-report={out / 'h.json'}",
        f"--replyrace-html={out / 'h.html'}",
        f"--junitxml={out / 'junit.xml'}",
    )
    result.assert_outcomes(passed=1, failed=1)
    history = json.loads((out / "h.json").read_text())
    assert sorted(t["pattern"] for t in history["tests"]) == ["pfpf", "pppp"]  # both workers' results
    result.stdout.fnmatch_lines(["*= replyrace summary =*", "*50ms   200ms  pfpf*failed)", "*1s   200ms  pppp*"])
    junit = (out / "junit.xml").read_text()
    assert '<property name="replyrace_pattern" value="pfpf"' in junit
    assert '<property name="replyrace_verdict" value="fast-fail"' in junit
    assert '<property name="replyrace_rtt" value="0.05"' in junit
    page = (out / "h.html").read_text()
    assert page.count("<svg") == 2 and '<span class="pattern">pfpf</span>' in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_a_real_browser_renders_the_page(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    page = tmp_path / "report.html"
    page.write_text(
        render_html([sample("pfpf"), sample("pppp", 3.0, "t.py::test_x[rtt=3s]")], seed=7, settings={"gap": "200ms"}),
        encoding="utf-8",
    )
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "pfpf" in dom.stdout and "<svg" in dom.stdout and "<rect" in dom.stdout
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--window-size=1100,900",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=60,
    )
    assert _png_size(shot) == (1100, 900)
    assert shot.stat().st_size > 20_000  # a blank page compresses to a few kB; this one has bars and text
