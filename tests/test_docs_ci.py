"""docs/14-in-ci.md: its GitHub Actions workflow and GitLab CI job parse, hold what the page says (install, a
cached build, the strict race tests, JUnit and HTML kept as artifacts, a matrix), and their pytest command line
runs against the suite's test gateway."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from support.docs import doc_page, marked_block
from support.selftest import race_gateway_cmd, run

PAGE = "14-in-ci.md"
STRICT = ("--strict-config", "--replyrace-require-gateway")


def ci_file(name: str) -> dict[str, Any]:
    block = marked_block(doc_page(PAGE), name)
    document = yaml.safe_load(block.split("```yaml\n", 1)[1].rsplit("```", 1)[0])
    assert isinstance(document, dict)
    return document


def pytest_words(lines: list[str]) -> list[str]:
    """The words after ``python -m pytest`` of the one command that runs the race tests."""
    (line,) = [line for line in lines if "python -m pytest" in line]
    words = shlex.split(line.split("python -m pytest", 1)[1])
    for flag in STRICT:
        assert flag in words, f"{flag} missing from {line}"
    return words


def report_paths(words: list[str]) -> set[str]:
    return {w.split("=", 1)[1] for w in words if w.startswith(("--junitxml=", "--replyrace-html="))}


def github_command() -> list[str]:
    job = ci_file("github-actions")["jobs"]["race"]
    matrix = job["strategy"]["matrix"]
    assert all(len(values) >= 2 for values in matrix.values()) and len(matrix) >= 1
    steps = job["steps"]
    uses = [step.get("uses", "") for step in steps]
    cache = next(step for step in steps if step.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == "dist" and "${{ matrix.build }}" in cache["with"]["key"]
    build = next(step for step in steps if step.get("name") == "Build the gateway")
    assert build["if"] == f"steps.{cache['id']}.outputs.cache-hit != 'true'"
    assert any(u.startswith("actions/setup-python@") for u in uses)
    assert any("pip install pytest-replyrace" in step.get("run", "") for step in steps)
    words = pytest_words([step.get("run", "") for step in steps])
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    assert set(upload["with"]["path"].split()) == report_paths(words)
    return words


def gitlab_command() -> list[str]:
    job = ci_file("gitlab-ci")["race"]
    (matrix,) = job["parallel"]["matrix"]
    assert all(len(values) >= 2 for values in matrix.values())
    assert "dist/" in job["cache"][0]["paths"]
    assert any("pip install pytest-replyrace" in line for line in job["before_script"])
    words = pytest_words(job["script"])
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always" and set(artifacts["paths"]) == report_paths(words)
    assert artifacts["reports"]["junit"] in report_paths(words)
    return words


RACE = """
import pytest

@pytest.mark.replyrace(calls=3)
def test_sequential_sends_get_real_replies(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()
"""


@pytest.mark.parametrize("ci", [github_command, gitlab_command], ids=["github-actions", "gitlab-ci"])
def test_the_ci_files_parse_and_hold_the_strict_race_command(ci: Callable[[], list[str]]) -> None:
    words = ci()
    assert words[0] == "tests/race"


def test_the_ci_command_line_runs_against_a_gateway_and_keeps_both_reports(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    words = github_command()
    assert gitlab_command() == words  # one command line in both files
    race_pytester.mkdir("tests")
    race_pytester.mkdir("tests/race")
    (race_pytester.path / "tests" / "race" / "test_race.py").write_text(RACE, encoding="utf-8")
    # Without a gateway configured the strict run is an error, never a green skip.
    result = run(race_pytester, *words)
    result.assert_outcomes(errors=1)
    # The repository's pytest.ini names its gateway; here, the suite's test gateway.
    ini = race_pytester.path / "tox.ini"
    ini.write_text(ini.read_text("utf-8").rstrip("\n") + f"\nreplyrace_gateway_cmd = {race_gateway_cmd()}\n", "utf-8")
    result = run(race_pytester, *words)
    result.assert_outcomes(passed=1)
    for path in report_paths(words):
        assert (race_pytester.path / path).is_file(), path
    assert '<property name="replyrace_pattern" value="ppp"' in (race_pytester.path / "reports/junit.xml").read_text()
    assert_no_leak()
