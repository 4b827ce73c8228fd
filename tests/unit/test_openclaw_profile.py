"""The openclaw profile's written config: the HTTP API is off unless asked for."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_replyrace.openclaw_profile import OpenClawProfile


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
