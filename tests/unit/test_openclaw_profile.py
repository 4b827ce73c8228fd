"""The openclaw profile's written config: the provider entry per provider API, and the HTTP API off unless
asked for."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from pytest_replyrace.gateway.openclaw import OpenClawProfile

URL = "http://127.0.0.1:4242/v1"


@pytest.fixture
def entry(tmp_path: Path) -> Path:
    (tmp_path / "openclaw.mjs").write_text("// stand-in: the profile only checks that it exists\n")
    return tmp_path


@pytest.mark.parametrize(
    ("api", "base_url"),
    [
        ("openai-completions", URL),
        ("openai-responses", URL),
        ("anthropic-messages", "http://127.0.0.1:4242"),
        ("ollama", "http://127.0.0.1:4242"),
    ],
)
def test_the_provider_is_configured_in_the_chosen_api(entry: Path, tmp_path: Path, api: str, base_url: str) -> None:
    node = shutil.which("node") or shutil.which("python3") or "/bin/sh"  # any existing executable
    profile = OpenClawProfile(entry, node=node, api=api)
    (provider,) = profile.config(tmp_path, 1234, URL)["models"]["providers"].values()
    assert (provider["api"], provider["baseUrl"]) == (api, base_url)


def test_an_unknown_api_names_the_choices(entry: Path) -> None:
    with pytest.raises(ValueError, match=r"api 'claude': .*openai-completions, anthropic-messages, openai-responses"):
        OpenClawProfile(entry, node="/bin/sh", api="claude")


@pytest.mark.parametrize("http", [False, True])
def test_the_http_api_endpoints_are_enabled_only_with_openclaw_http(tmp_path: Path, http: bool) -> None:
    (tmp_path / "openclaw.mjs").write_text("// stands in for the package entry\n")
    profile = OpenClawProfile(tmp_path, node=sys.executable, http=http)
    gateway = profile.config(tmp_path, 18789, "http://127.0.0.1:1/v1")["gateway"]
    assert gateway["auth"] == {"mode": "token", "token": "replyrace-token"}  # the bearer the transports send
    if http:
        assert gateway["http"] == {"endpoints": {"chatCompletions": {"enabled": True}, "responses": {"enabled": True}}}
    else:
        assert "http" not in gateway


@pytest.mark.parametrize("tools", [None, "minimal", "full"])
def test_the_tools_profile_is_written_only_when_chosen(tmp_path: Path, tools: str | None) -> None:
    (tmp_path / "openclaw.mjs").write_text("// stands in for the package entry\n")
    config = OpenClawProfile(tmp_path, node=sys.executable, tools=tools).config(tmp_path, 18789, URL)
    assert config.get("tools") == (None if tools is None else {"profile": tools})


def test_an_unknown_tools_profile_names_the_choices(tmp_path: Path) -> None:
    (tmp_path / "openclaw.mjs").write_text("// stands in for the package entry\n")
    with pytest.raises(
        ValueError,
        match=r"tools 'tiny': not an OpenClaw tools profile; expected one of minimal, "
        r"coding, messaging, full",
    ):
        OpenClawProfile(tmp_path, node=sys.executable, tools="tiny")
