"""Docs that cannot drift: each table or block of the docs that restates the code is compared with the code (or
with what a real run writes), and each comparison is shown to catch a planted drift in a mutated copy."""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from support.docs import (
    README,
    code_names,
    doc_page,
    marked_block,
    regex_phrases,
    schema_drift,
    section_of,
    table_rows,
)
from support.selftest import race_gateway_cmd

from pytest_replyrace.markers import MARKERS
from pytest_replyrace.verdict import BUSY_POLICIES, BUSY_TEXT, LETTERS, verdict_of

Mutation = Callable[[str], str]
SAME: Mutation = lambda text: text  # noqa: E731 - the real docs, unmutated


def planted(real: Mutation, *drifts: tuple[str, Mutation]) -> list[object]:
    """Parameters: the real docs (must show no drift) and each planted drift (must be caught)."""
    return [pytest.param(real, False, id="real"), *(pytest.param(d, True, id=name) for name, d in drifts)]


def drop_line(containing: str) -> Mutation:
    def mutate(text: str) -> str:
        assert containing in text, containing
        return "\n".join(line for line in text.splitlines() if containing not in line) + "\n"

    return mutate


def replace(old: str, new: str) -> Mutation:
    def mutate(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return mutate


def check(problems: list[str], drift_expected: bool) -> None:
    if drift_expected:
        assert problems, "the planted drift was not caught"
    else:
        assert not problems, "\n".join(problems)


# -- settings -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registered_ini_keys(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The ini keys the plugin registers, as ``pytest --help`` lists them."""
    pytester_dir = tmp_path_factory.mktemp("help")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "pytest_replyrace", "--help"],
        cwd=pytester_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return set(re.findall(r"^  (replyrace_\w+) \(", out, re.M))


def settings_drift(page: str, registered: set[str]) -> list[str]:
    table = section_of(page, "## Every setting")
    documented = [f"replyrace_{name}" for row in table_rows(table) for name in code_names(row[:1])]
    problems = [f"documented twice: {n}" for n in sorted({n for n in documented if documented.count(n) > 1})]
    listed = set(documented) | ({"replyrace_log_patterns"} if "`replyrace_log_patterns`" in page else set())
    problems += [f"registered, not in the table: {n}" for n in sorted(registered - listed)]
    problems += [f"in the table, not registered: {n}" for n in sorted(listed - registered)]
    return problems


@pytest.mark.parametrize(
    ("mutate", "drift"),
    planted(
        SAME,
        ("a-row-dropped", drop_line("| `search` |")),
        ("a-row-unknown", replace("| `calls` |", "| `callz` |")),
        ("a-row-twice", replace("| `calls` |", "| `gap` |")),
    ),
)
def test_the_settings_table_lists_every_registered_option(
    registered_ini_keys: set[str], mutate: Mutation, drift: bool
) -> None:
    assert len(registered_ini_keys) > 40
    page = doc_page("02-settings.md").read_text(encoding="utf-8")
    check(settings_drift(mutate(page), registered_ini_keys), drift)


# -- markers --------------------------------------------------------------------------------------------------


def _arguments(signature: str) -> str:
    """A signature's parameters as Python reads them: quotes and spacing do not count."""
    tree = ast.parse(f"def {signature}: pass")
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    return f"{function.name} {ast.dump(function.args)}"


def marker_drift(page: str, markers: dict[str, str]) -> list[str]:
    rows = table_rows(section_of(page, "## Markers"))
    documented = {}
    for row in rows:
        match = re.fullmatch(r"`@pytest\.mark\.(\w+\(.*\))`", row[0])
        assert match, row[0]
        documented[match.group(1).split("(", 1)[0]] = match.group(1)
    problems = [f"marker not in the docs table: {name}" for name in sorted(set(markers) - set(documented))]
    problems += [f"in the docs, not a marker: {name}" for name in sorted(set(documented) - set(markers))]
    for name in sorted(set(markers) & set(documented)):
        code = markers[name].split("): ", 1)[0] + ")"
        if _arguments(code) != _arguments(documented[name]):
            problems.append(f"{name}: docs say {documented[name]}, the marker is {code}")
    return problems


@pytest.mark.parametrize(
    ("mutate", "drift"),
    planted(
        SAME,
        ("a-parameter-missing", replace(", close_within=None)`", ")`")),
        ("a-default-changed", replace("steps=5,", "steps=6,")),
        ("a-marker-missing", drop_line("`@pytest.mark.gap_range(")),
    ),
)
def test_the_marker_table_gives_each_markers_signature(mutate: Mutation, drift: bool) -> None:
    page = doc_page("01-writing-race-tests.md").read_text(encoding="utf-8")
    check(marker_drift(mutate(page), MARKERS), drift)


MARKER_CALL = re.compile(r"(?:@pytest\.mark\.|`)(" + "|".join(MARKERS) + r")(\([^`\n]*\))")


def _marker_signature(name: str) -> inspect.Signature:
    namespace: dict[str, object] = {}
    exec(f"def {MARKERS[name].split('): ', 1)[0]}): pass", namespace)  # our own signature text
    function = namespace[name]
    assert callable(function)
    return inspect.signature(function)


def marker_call_drift(texts: dict[str, str]) -> list[str]:
    """Every marker call the docs write (``@pytest.mark.replyrace(send_at=...)``, `` `replyrace(busy_policy=...)` ``)
    must bind to the marker's signature: a renamed or removed argument is drift."""
    problems, calls = [], 0
    for where, text in texts.items():
        for name, arguments in MARKER_CALL.findall(text):
            try:
                call = ast.parse(f"f{arguments}".replace("...", "None"), mode="eval").body
            except SyntaxError:
                continue  # a signature with defaults and `*` (the marker table), checked above
            assert isinstance(call, ast.Call)
            calls += 1
            try:
                _marker_signature(name).bind(*[None] * len(call.args), **{k.arg: None for k in call.keywords if k.arg})
            except TypeError as exc:
                problems.append(f"{where}: {name}{arguments}: {exc}")
    assert calls >= 10, f"only {calls} marker calls found: is the pattern still right?"
    return problems


def docs_texts() -> dict[str, str]:
    pages = [README, *sorted(README.parent.joinpath("docs").glob("*.md"))]
    return {page.name: page.read_text(encoding="utf-8") for page in pages}


@pytest.mark.parametrize(
    ("mutate", "drift"),
    planted(
        SAME,
        ("a-renamed-argument", replace("`replyrace(busy_policy=...)`", "`replyrace(busy=...)`")),
        (
            "too-many-arguments",
            replace(
                "@pytest.mark.provider_model(tool_calls=1)", "@pytest.mark.provider_model(" + ", ".join("1" * 20) + ")"
            ),
        ),
    ),
)
def test_every_marker_call_in_the_docs_fits_the_marker(mutate: Mutation, drift: bool) -> None:
    texts = docs_texts()
    texts["09-when-clients-send.md"] = mutate(texts["09-when-clients-send.md"])
    check(marker_call_drift(texts), drift)


# -- verdict words, letters and busy phrases --------------------------------------------------------------------


def verdict_words() -> set[str]:
    """Every word the verdict gives: over every pattern of up to two letters, under every busy policy."""
    patterns = ["", *("".join(p) for n in (1, 2) for p in itertools.product(LETTERS, repeat=n))]
    return {verdict_of(pattern, policy) for pattern in patterns for policy in BUSY_POLICIES}


def defined_drift(defined: Iterable[str], used: set[str], what: str) -> list[str]:
    defined = list(defined)
    return [f"{what} used, not defined in the docs: {w}" for w in sorted(used - set(defined))] + [
        f"{what} defined in the docs, never used: {w}" for w in sorted(set(defined) - used)
    ]


@pytest.mark.parametrize(
    ("mutate", "drift"),
    planted(SAME, ("a-verdict-undefined", drop_line("| `busy-policy` |"))),
)
def test_every_verdict_word_is_defined_in_the_docs(mutate: Mutation, drift: bool) -> None:
    block = mutate(marked_block(doc_page("06-reports.md"), "verdicts"))
    words = {word for row in table_rows(block) for word in code_names(row[:1])}
    assert {"clean", "fast-fail", "busy-policy", "unreliable"} <= verdict_words()
    check(defined_drift(words, verdict_words(), "verdict word"), drift)


@pytest.mark.parametrize(
    ("mutate", "drift"),
    planted(SAME, ("a-letter-undefined", drop_line("| `m` |")), ("a-letter-unknown", replace("| `i` |", "| `x` |"))),
)
def test_every_letter_is_defined_in_the_readme(mutate: Mutation, drift: bool) -> None:
    table = mutate(section_of(README.read_text(encoding="utf-8"), "## The letters"))
    letters = [letter for row in table_rows(table) for letter in code_names(row[:1])]
    check(defined_drift(letters, set(LETTERS), "letter"), drift)


@pytest.mark.parametrize(
    ("pattern", "mutate", "drift"),
    [
        pytest.param(BUSY_TEXT.pattern, SAME, False, id="real"),
        pytest.param(BUSY_TEXT.pattern, drop_line("- still processing"), True, id="a-phrase-unlisted"),
        pytest.param(BUSY_TEXT.pattern.replace("|try again", "|try again|rate limited"), SAME, True, id="new-phrase"),
    ],
)
def test_the_busy_phrases_are_listed_where_docs_09_says(pattern: str, mutate: Mutation, drift: bool) -> None:
    page = doc_page("09-when-clients-send.md").read_text(encoding="utf-8")
    assert "[busy phrases](#the-busy-phrases)" in page  # where the `b` row sends the reader
    block = mutate(marked_block(doc_page("09-when-clients-send.md"), "busy-phrases"))
    listed = [line[2:].strip() for line in block.splitlines() if line.startswith("- ")]
    recognised = regex_phrases(pattern)
    assert all(re.search(BUSY_TEXT, phrase) for phrase in regex_phrases(BUSY_TEXT.pattern))
    check(defined_drift(listed, set(recognised), "busy phrase"), drift)


# -- the JSON schema, against a real run -----------------------------------------------------------------------

EVERY_KEY = """
import os
import signal

import pytest

@pytest.mark.replyrace(calls=3)
def test_race(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()

@pytest.mark.xfail(reason="the planted bug", strict=True)
@pytest.mark.replyrace(calls=3)
def test_xfail(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()

def test_kill(gateway):  # the next race test's setup restarts it: a restart in the report
    os.kill(gateway.pid, signal.SIGKILL)

@pytest.mark.replyrace(calls=2, stop_at="end", stop_calls="1", stop_by="disconnect")
def test_stop(sequential_sender):  # a stopped call's `stop` in the report (its letters not asserted)
    sequential_sender.run()

@pytest.mark.replyrace(calls=2)
def test_window(sequential_sender):
    sequential_sender.search(rtt=(0.05, 0.2), gap=(0.0, 0.0), budget_s=20, max_calls=2)
"""


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run's folder, with its JSON (out.json) and HTML (out.html) reports: a fast-fail with matched log
    lines, an xfail, a restart, a stopped call and a window. pytest in a subprocess (as pytester's runpytest_subprocess), once
    for the module."""
    where = tmp_path_factory.mktemp("schema")
    (where / "test_every_key.py").write_text(EVERY_KEY, encoding="utf-8")
    (where / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n", encoding="utf-8")
    cmd = race_gateway_cmd("--background-ms", "450", "--log-each-call", "'ReplyRunAlreadyActiveError: boom'")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "pytest_replyrace",
            "-p",
            "no:cacheprovider",
            f"--replyrace-gateway-cmd={cmd}",
            "--replyrace-shrink=0",
            "--replyrace-report=out.json",
            "--replyrace-html=out.html",
            "--replyrace-calls=3",
        ],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    # The fast-fail test fails and the xfail is expected: anything else means the run is not the one described.
    assert "1 failed, 3 passed, 1 xfailed" in done.stdout, done.stdout + done.stderr
    return where


@pytest.fixture(scope="module")
def real_report(real_run: Path) -> dict[str, object]:
    document = json.loads((real_run / "out.json").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _schema() -> str:
    return marked_block(doc_page("06-reports.md"), "json-schema").split("```\n", 1)[1].rsplit("```", 1)[0]


def _add_call_key(document: dict[str, object]) -> dict[str, object]:
    planted_doc = json.loads(json.dumps(document))
    planted_doc["tests"][0]["calls"][0]["brand_new"] = 1
    return planted_doc


@pytest.mark.parametrize(
    ("mutate", "mutate_json", "drift"),
    [
        pytest.param(SAME, None, False, id="real"),
        pytest.param(replace(', "xfail": str|null', ""), None, True, id="a-written-key-undocumented"),
        pytest.param(replace('"restarts": int', '"restarts": int, "when": float'), None, True, id="a-key-not-written"),
        pytest.param(SAME, _add_call_key, True, id="a-new-key-in-the-json"),
    ],
)
def test_the_json_schema_is_what_a_real_run_writes(
    real_report: dict[str, object],
    mutate: Mutation,
    mutate_json: Callable[[dict[str, object]], dict[str, object]] | None,
    drift: bool,
) -> None:
    document = mutate_json(real_report) if mutate_json else real_report
    check(schema_drift(mutate(_schema()), document), drift)


def test_the_real_run_recorded_the_xfail_and_its_reason(real_report: dict[str, object]) -> None:
    tests = real_report["tests"]
    assert isinstance(tests, list)
    by_test = {t["node_id"].rsplit("::", 1)[1]: t.get("xfail") for t in tests}
    assert by_test["test_xfail"] == "the planted bug"
    assert by_test["test_race"] is None


def test_the_html_report_shows_the_xfail_and_folds_the_settings_at_their_defaults(real_run: Path) -> None:
    page = (real_run / "out.html").read_text(encoding="utf-8")
    assert '<span class="xfail">xfail: the planted bug</span>' in page
    header = page.split('<div class="meta">', 1)[1].split("</div>", 1)[0]
    shown, folded = header.split("<details>", 1)
    assert "shrink=<code>0ms</code>" in shown and "calls=<code>3</code>" in shown  # set on the command line
    assert "rtt=<code>50ms</code>" in folded and "rtt=" not in shown  # at its default


def test_docs_06_names_the_run_its_picture_shows() -> None:
    import importlib.util
    import shlex

    spec = importlib.util.spec_from_file_location("make_report_png", doc_page("make_report_png.py"))
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    page = doc_page("06-reports.md").read_text(encoding="utf-8")
    assert f"`{shlex.join(script.RUN)}`" in page.replace("\n", " ")
    assert "python docs/make_report_png.py" in page
