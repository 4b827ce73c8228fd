"""The openai-chat and openai-responses transports end to end: the suite's OpenAI-style gateway (a real
process keeping server-side sessions), the real fake provider, pytest in a subprocess."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from support.selftest import openai_gateway_cmd, run

SIX_CALLS = """
import pytest

@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.replyrace(calls=6)
def test_sequential_sends(sequential_sender):
    result = sequential_sender.run()
    print("PATTERN", result.pattern)
    result.assert_clean()
"""


@pytest.mark.parametrize(("gateway", "options"), [
    ("--session-header x-gw-session", ["--replyrace-transport=openai-chat", "--replyrace-session-header=x-gw-session"]),
    ("--session-field session_id", ["--replyrace-transport=openai-chat", "--replyrace-session-field=session_id",
                                    "--replyrace-stream=on"]),
    ("", ["--replyrace-transport=openai-responses"]),
    ("", ["--replyrace-transport=openai-responses", "--replyrace-responses-chain=conversation",
          "--replyrace-stream=on"]),
    ("--session-header x-gw-session", ["--replyrace-transport=openai-responses",
                                       "--replyrace-responses-chain=header", "--replyrace-session-header=x-gw-session"]),
], ids=["chat-header", "chat-field-stream", "responses-previous", "responses-conversation-stream",
        "responses-header"])
def test_a_correct_session_gateway_is_clean_over_each_transport(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None], gateway: str, options: list[str]
) -> None:
    race_pytester.makepyfile(test_chat=SIX_CALLS)
    report = race_pytester.path / "history.json"
    result = run(race_pytester, f"--replyrace-gateway-cmd={openai_gateway_cmd(gateway)}",
                 f"--replyrace-report={report}", "-s", *options)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*PATTERN pppppp*"])
    (test,) = json.loads(report.read_text())["tests"]
    # The gateway kept the session: the provider was given every earlier turn, in order.
    histories = [call["journal"][0]["history"] for call in test["calls"]]
    tokens = [call["token"] for call in test["calls"]]
    assert histories == [tokens[:i] for i in range(6)]
    assert_no_leak()


@pytest.mark.parametrize(("busy", "reply"), [("canned", "*Session is busy with another turn*"),
                                             ("409", "*error: HTTP 409: *Session is busy*")])
def test_a_busy_answer_before_the_provider_served_is_a_fast_fail(
    race_pytester: pytest.Pytester, busy: str, reply: str
) -> None:
    race_pytester.makepyfile(test_chat=SIX_CALLS.replace("assert_clean", "assert_no_fast_fail"))
    cmd = openai_gateway_cmd("--session-field user --hold-guard-ms 400 --busy", busy)
    result = run(race_pytester, f"--replyrace-gateway-cmd={cmd}", "--replyrace-transport=openai-chat",
                 "--replyrace-session-field=user")
    result.assert_outcomes(failed=1)
    # The guard outlives each reply by 400 ms: every send after the first finds it held and is refused at once.
    result.stdout.fnmatch_lines(["*replyrace fast-fail at rtt=50ms, gap=0ms: all after the first — pattern pfffff "
                                 "(1p, 5f)*", "*no request*" + reply.lstrip("*")])


def test_token_and_extra_headers_reach_the_gateway(race_pytester: pytest.Pytester) -> None:
    race_pytester.makepyfile(test_chat=SIX_CALLS)
    race_pytester.makeini("""
        [pytest]
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        replyrace_ready_timeout = 20
        replyrace_call_timeout = 10
        replyrace_transport = openai-chat
        replyrace_session_header = x-gw-session
        replyrace_headers =
            X-Team: qa
            X-Other: two words
        """)
    cmd = openai_gateway_cmd("--session-header x-gw-session --require-header 'Authorization: Bearer s3cret'",
                             "--require-header 'X-Team: qa' --require-header 'X-Other: two words'")
    result = run(race_pytester, f"--replyrace-gateway-cmd={cmd}", "--replyrace-token=s3cret")
    result.assert_outcomes(passed=1)
    # Without the token the gateway refuses every call before the provider is asked: an f quoting the 401.
    result = run(race_pytester, f"--replyrace-gateway-cmd={cmd}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*pattern ffffff*", "*no request*error: HTTP 401: *missing header Aut*"])


def test_openai_chat_without_a_session_header_or_field_is_a_usage_error(race_pytester: pytest.Pytester) -> None:
    race_pytester.makepyfile(test_chat=SIX_CALLS)
    result = run(race_pytester, f"--replyrace-gateway-cmd={openai_gateway_cmd()}", "--replyrace-transport=openai-chat")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--replyrace-transport: transport openai-chat needs the session named in a header "
                                 "or a body field; expected --replyrace-session-header NAME and/or "
                                 "--replyrace-session-field NAME*"])
