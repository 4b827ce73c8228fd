"""The README's first test and the library example of docs/07 run as written, against the suite's test gateway."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest
from support.docs import README, doc_block, doc_page, fenced_blocks, section_of
from support.selftest import race_gateway_cmd, run


def test_the_readmes_first_test_runs_as_written(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    section = section_of(README.read_text(encoding="utf-8"), "## A first test")
    (ini,) = fenced_blocks(section, "ini")
    test = fenced_blocks(section, "python")[0]
    (race_pytester.path / "tox.ini").write_text(  # the README's ini lines, beside the suite's
        (race_pytester.path / "tox.ini").read_text(encoding="utf-8").rstrip("\n")
        + "\n"
        + ini.split("[pytest]\n", 1)[1],
        encoding="utf-8",
    )
    race_pytester.makepyfile(test_chat=test)
    # Its command stands for the reader's gateway: the command line puts the suite's in its place (CLI over ini).
    # One of its five RTTs, with three calls, keeps it short; the rest is as written.
    result = run(
        race_pytester, f"--replyrace-gateway-cmd={race_gateway_cmd()}", "--replyrace-force-calls=3", "-k", "50ms"
    )
    result.assert_outcomes(passed=1, deselected=4)
    result.stdout.fnmatch_lines(
        ["test_chat.py::test_sequential_sends_get_real_replies", "*50ms   200ms  ppp *clean (passed)"]
    )
    assert_no_leak()


def test_the_library_example_runs_as_written(
    tmp_path: pytest.TempPathFactory, assert_no_leak: Callable[[], None]
) -> None:
    page = doc_page("07-without-pytest.md").read_text(encoding="utf-8")
    example = fenced_blocks(section_of(page, "## The parts together"), "python")[0]
    placeholder = '"my-gateway --port {port} --llm {provider_url}"'
    assert placeholder in example  # the reader's gateway, replaced by the suite's
    script = example.replace(placeholder, repr(race_gateway_cmd()))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "pppppppppp" in done.stdout, done.stdout
    assert_no_leak()


def test_the_several_builds_example_runs_with_the_buggy_build_caught(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    conftest = doc_block("01-writing-race-tests.md", "several-builds-conftest")
    assert '"v1.4.2": "node builds/v1.4.2/' in conftest and '"main": "node builds/main/' in conftest
    # The builds stand for the reader's: the suite's test gateway, with 450 ms of background work per turn (the
    # race: the next send at gap 0 finds the session still held) and without.
    race_pytester.makeconftest(
        conftest
        + f"\nBUILDS['v1.4.2'] = {race_gateway_cmd('--background-ms', '450')!r}"
        + f"\nBUILDS['main'] = {race_gateway_cmd()!r}\n"
    )
    race_pytester.makepyfile(test_builds=doc_block("01-writing-race-tests.md", "several-builds-test"))
    report = race_pytester.path / "run.json"
    result = run(race_pytester, "-rxX", f"--replyrace-report={report}")
    result.assert_outcomes(passed=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "XFAIL test_builds.py::test_sequential_sends_get_real_replies[[]v1.4.2[]] - v1.4.2 answers before its turn ends",
        ]
    )
    runs = {r["node_id"]: (r["pattern"], r["xfail"]) for r in json.loads(report.read_text())["tests"]}
    assert runs["test_builds.py::test_sequential_sends_get_real_replies[main]"] == ("pppp", None)
    pattern, reason = runs["test_builds.py::test_sequential_sends_get_real_replies[v1.4.2]"]
    assert "f" in pattern and reason == "v1.4.2 answers before its turn ends"
    assert_no_leak()
