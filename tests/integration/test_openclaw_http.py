"""OpenClaw's OpenAI-compatible HTTP API (off by default; --replyrace-openclaw-http on) driven by the
openai-chat and openai-responses transports: gap 0, 6 calls, 50 ms and 2 s provider RTT, streamed and not,
the session in the x-openclaw-session-key header, model openclaw/test, the profile's token as the bearer.

The HTTP API answers only once the dispatch has finished, so the WebSocket race of 2026.5.7 does not show
through it: a maintainer testing only over HTTP would be falsely reassured (see the README)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .test_openclaw_live import run_against

pytestmark = pytest.mark.openclaw

HTTP_TEST = """
import pytest

@pytest.mark.rtt_range("{rtt}", "{rtt}", steps=1)
@pytest.mark.replyrace(calls=6, gap=0, history="exact")
def test_sequential_sends_over_http(sequential_sender):
    sequential_sender.run().assert_clean()
"""

ENDPOINTS = {
    "chat": ["--replyrace-transport=openai-chat"],
    "responses": ["--replyrace-transport=openai-responses", "--replyrace-responses-chain=previous"],
}


@pytest.mark.parametrize(("rtt", "stream"), [("50ms", "off"), ("50ms", "on"), ("2s", "off"), ("2s", "on")])
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("version", ["2026.5.7", "2026.5.28"])
def test_openclaw_http_api_is_clean_with_an_intact_history(
    pytester: pytest.Pytester,
    openclaw_release: Callable[[str], tuple[Path, Path]],
    leak_marker: str,
    assert_no_leak: Callable[[], None],
    version: str,
    endpoint: str,
    rtt: str,
    stream: str,
) -> None:
    result, history = run_against(
        pytester,
        openclaw_release,
        version,
        "--replyrace-openclaw-http=on",
        *ENDPOINTS[endpoint],
        "--replyrace-session-header=x-openclaw-session-key",
        "--replyrace-model=openclaw/test",
        f"--replyrace-stream={stream}",
        test=HTTP_TEST.replace("{rtt}", rtt),
    )
    (test,) = history["tests"]  # type: ignore[misc]
    latencies = [round(call["latency"] * 1000) for call in test["calls"]]
    print(f"openclaw {version} {endpoint} rtt={rtt} stream={stream}: {test['pattern']} latencies {latencies} ms")
    result.assert_outcomes(passed=1)
    assert test["pattern"] == "pppppp"
    # Every turn's request carried all earlier turns, in order (history exact).
    tokens = [call["token"] for call in test["calls"]]
    for i, call in enumerate(test["calls"]):
        assert [t for t in call["journal"][0]["history"] if t in tokens] == tokens[:i]
    assert_no_leak()
