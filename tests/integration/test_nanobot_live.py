"""nanobot-ai (PyPI) behind its OpenAI-compatible API: ``nanobot serve -c CONFIG -w WORKSPACE``, launched
through gateway_cmd with its config written by gateway_files, driven by the openai-chat transport with the
session in the body field ``session_id``. Gap 0, 6 calls, 50 ms and 2 s provider RTT, stream off and on.

nanobot serialises a session's turns (a per-session lock in the API server and another in the agent loop):
a second message waits for the first and never gets a busy answer, so every call is a real reply, and the
conversation it sends the provider grows turn by turn, in order."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .nanobot_install import NANOBOT_VERSION

pytestmark = pytest.mark.gateways

TEMPLATE = Path(__file__).parent / "nanobot" / "config.json"

NANOBOT_TEST = """
import pytest

@pytest.mark.rtt_range("50ms", "2s", steps=2)
@pytest.mark.replyrace(calls=6, gap=0, history="exact")
def test_sequential_sends(sequential_sender):
    sequential_sender.run().assert_clean()
"""


def nanobot_ini(nanobot: Path, template: Path = TEMPLATE) -> str:
    """The ini block the README shows (the nanobot path is the cached install's; its config from ``template``)."""
    return f"""
        [pytest]
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        timeout = 300
        replyrace_gateway_cmd = {nanobot} serve -c {{state_dir}}/config.json -w {{state_dir}}/workspace
        replyrace_gateway_files = config.json = {template}
        replyrace_ready = http:/health
        replyrace_ready_timeout = 120
        replyrace_transport = openai-chat
        replyrace_session_field = session_id
        replyrace_model = fake-model
        replyrace_call_timeout = 60
        """


@pytest.mark.parametrize("stream", ["off", "on"])
def test_nanobot_answers_every_sequential_send_with_an_intact_history(
    pytester: pytest.Pytester, nanobot: Path, leak_marker: str, assert_no_leak: Callable[[], None], stream: str
) -> None:
    pytester.makeini(nanobot_ini(nanobot))
    pytester.makepyfile(test_nanobot=NANOBOT_TEST)
    report = pytester.path / "history.json"
    result = pytester.runpytest_subprocess(
        "-p", "pytest_replyrace", f"--replyrace-stream={stream}", f"--replyrace-report={report}", timeout=400
    )
    tests = json.loads(report.read_text())["tests"]
    for test in tests:
        latencies = [round(call["latency"] * 1000) for call in test["calls"]]
        print(
            f"nanobot-ai {NANOBOT_VERSION} rtt={test['rtt']} stream={stream}: {test['pattern']} "
            f"latencies {latencies} ms"
        )
    result.assert_outcomes(passed=2)
    assert [t["pattern"] for t in tests] == ["pppppp", "pppppp"]
    for test in tests:
        tokens = [call["token"] for call in test["calls"]]
        for i, call in enumerate(test["calls"]):
            # The provider was given every earlier turn, in order, and nothing twice.
            assert [t for t in call["journal"][0]["history"] if t in tokens] == tokens[:i]
    result.stdout.fnmatch_lines(["*50ms     0ms  pppppp*clean (passed)", "*2s     0ms  pppppp*clean (passed)"])
    assert_no_leak()
