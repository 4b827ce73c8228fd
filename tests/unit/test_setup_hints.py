"""The pure parts of the setup hints: ini keys read from each kind of ini file, the nearest known keys, and the
hint for a command written for a shell."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_replyrace.gateway.command import shell_hint
from pytest_replyrace.ini_keys import ini_keys, misspelt_keys

KNOWN = {"replyrace_gateway_cmd", "replyrace_gateway_url", "replyrace_rtt", "replyrace_ready"}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pytest.ini", "[pytest]\nreplyrace_rtt = 1\ntimeout = 3\n"),
        ("tox.ini", "[tox]\nenvlist = py\n[pytest]\nreplyrace_rtt = 1\ntimeout = 3\n"),
        ("setup.cfg", "[metadata]\nname = x\n[tool:pytest]\nreplyrace_rtt = 1\ntimeout = 3\n"),
        ("pyproject.toml", '[tool.pytest.ini_options]\nreplyrace_rtt = "1"\ntimeout = 3\n'),
        ("pyproject.toml", '[tool.pytest]\nreplyrace_rtt = "1"\ntimeout = 3\n'),  # pytest 9's native table
    ],
)
def test_the_keys_of_pytests_section_are_read_from_each_kind_of_file(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert ini_keys(path) == ["replyrace_rtt", "timeout"]


def test_no_file_or_a_broken_one_gives_no_keys(tmp_path: Path) -> None:
    broken = tmp_path / "pyproject.toml"
    broken.write_text("[tool.pytest.ini_options\n", encoding="utf-8")
    assert ini_keys(None) == [] and ini_keys(broken) == [] and ini_keys(tmp_path / "missing.ini") == []


def test_a_misspelt_key_names_the_nearest_known_ones_and_other_plugins_keys_pass() -> None:
    assert misspelt_keys(["replyrace_rtt", "timeout", "asyncio_mode"], KNOWN, "pytest.ini") is None
    message = misspelt_keys(["replyrace_gatway_cmd", "replayrace_rtt"], KNOWN, "pytest.ini")
    assert message == (
        "replyrace: unknown ini key in pytest.ini: 'replyrace_gatway_cmd': nearest known keys: replyrace_gateway_cmd, "
        "replyrace_gateway_url, replyrace_ready; 'replayrace_rtt': nearest known keys: replyrace_rtt, replyrace_ready, "
        "replyrace_gateway_url (a misspelt key is not read; `pytest --help` lists every replyrace_ key)"
    )
    assert "no replyrace_ key is close" in str(misspelt_keys(["replyrace_zzzzzzzzzzzzzz"], KNOWN, "pytest.ini"))


def test_a_shell_assignment_first_gets_the_env_form() -> None:
    assert shell_hint(["node", "gw.js"]) == ""
    assert shell_hint(["./A=B"]) == ""
    hint = shell_hint(["GW_MODE=race", "DEBUG=1", "node", "gw.js", "--port", "40000"])
    assert hint.endswith("start the command with env: env GW_MODE=race DEBUG=1 node gw.js --port 40000")
    assert "'GW_MODE=race' is taken for the program" in hint
