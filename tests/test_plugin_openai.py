"""The openai-chat and openai-responses transports end to end: the suite's OpenAI-style gateway (a real
process keeping server-side sessions), the real fake provider, pytest in a subprocess."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from support.selftest import OPENAI_GATEWAY, openai_gateway_cmd, run, run_inprocess, toy_gateway_option

SIX_CALLS = """
import pytest

@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.replyrace(calls=6)
def test_sequential_sends(sequential_sender):
    result = sequential_sender.run()
    print("PATTERN", result.pattern)
    result.assert_clean()
"""


@pytest.mark.parametrize(
    ("gateway", "options"),
    [
        (
            "--session-header x-gw-session",
            ["--replyrace-transport=openai-chat", "--replyrace-session-header=x-gw-session"],
        ),
        (
            "--session-field session_id",
            ["--replyrace-transport=openai-chat", "--replyrace-session-field=session_id", "--replyrace-stream=on"],
        ),
        ("", ["--replyrace-transport=openai-responses"]),
        (
            "",
            [
                "--replyrace-transport=openai-responses",
                "--replyrace-responses-chain=conversation",
                "--replyrace-stream=on",
            ],
        ),
        (
            "--session-header x-gw-session",
            [
                "--replyrace-transport=openai-responses",
                "--replyrace-responses-chain=header",
                "--replyrace-session-header=x-gw-session",
            ],
        ),
    ],
    ids=["chat-header", "chat-field-stream", "responses-previous", "responses-conversation-stream", "responses-header"],
)
def test_a_correct_session_gateway_is_clean_over_each_transport(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None], gateway: str, options: list[str]
) -> None:
    race_pytester.makepyfile(test_chat=SIX_CALLS)
    report = race_pytester.path / "history.json"
    result = run(
        race_pytester,
        f"--replyrace-gateway-cmd={openai_gateway_cmd(gateway)}",
        f"--replyrace-report={report}",
        "-s",
        *options,
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*PATTERN pppppp*"])
    (test,) = json.loads(report.read_text())["tests"]
    # The gateway kept the session: the provider was given every earlier turn, in order.
    histories = [call["journal"][0]["history"] for call in test["calls"]]
    tokens = [call["token"] for call in test["calls"]]
    assert histories == [tokens[:i] for i in range(6)]
    # The report keeps how the run spoke to the gateway: the transport, and whether it asked for a stream.
    stream = "--replyrace-stream=on" in options
    assert test["settings"]["transport"] == options[0].split("=")[1] and test["settings"]["stream"] is stream
    assert_no_leak()


@pytest.mark.parametrize(
    ("busy", "reply"),
    [("canned", "*Session is busy with another turn*"), ("409", "*error: HTTP 409: *Session is busy*")],
)
def test_a_busy_answer_before_the_provider_served_is_a_fast_fail(
    race_pytester: pytest.Pytester, busy: str, reply: str
) -> None:
    race_pytester.makepyfile(test_chat=SIX_CALLS.replace("assert_clean", "assert_no_fast_fail"))
    cmd = openai_gateway_cmd("--session-field user --hold-guard-ms 400 --busy", busy)
    result = run(
        race_pytester,
        f"--replyrace-gateway-cmd={cmd}",
        "--replyrace-transport=openai-chat",
        "--replyrace-session-field=user",
    )
    result.assert_outcomes(failed=1)
    # The guard outlives each reply by 400 ms: every send after the first finds it held and is refused at once.
    result.stdout.fnmatch_lines(
        [
            "*replyrace fast-fail at rtt=50ms, gap=0ms: all after the first — pattern pfffff (1p, 5f)*",
            "*no request*" + reply.lstrip("*"),
        ]
    )


@pytest.mark.slow  # long: CI runs it in the slow step
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
    cmd = openai_gateway_cmd(
        "--session-header x-gw-session --require-header 'Authorization: Bearer s3cret'",
        "--require-header 'X-Team: qa' --require-header 'X-Other: two words'",
    )
    result = run(race_pytester, f"--replyrace-gateway-cmd={cmd}", "--replyrace-token=s3cret")
    result.assert_outcomes(passed=1)
    # Without the token the gateway refuses every call: a broken setup, every call an e quoting the 401 and
    # saying what to check, never a fast-fail.
    result = run(race_pytester, f"--replyrace-gateway-cmd={cmd}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*replyrace: no call got a real reply — a race cannot be told from a broken setup: pattern eeeeee (6e)*",
            "*transport: POST http://127.0.0.1:*/v1/chat/completions answered HTTP 401: *missing header Aut*",
        ]
    )


def test_openai_chat_without_a_session_header_or_field_is_a_usage_error(race_pytester: pytest.Pytester) -> None:
    race_pytester.makepyfile(test_chat=SIX_CALLS)
    result = run_inprocess(
        race_pytester, f"--replyrace-gateway-cmd={openai_gateway_cmd()}", "--replyrace-transport=openai-chat"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--replyrace-transport: transport openai-chat needs the session named in a header "
            "or a body field; expected --replyrace-session-header NAME and/or "
            "--replyrace-session-field NAME*"
        ]
    )


HISTORY_TEST = """
import pytest

@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.replyrace(calls=6{marker})
def test_conversation(sequential_sender):
    result = sequential_sender.run()
    print("PATTERN", result.pattern)
    result.assert_no_fast_fail()  # h is not a fast-fail
    result.assert_clean()
"""


@pytest.mark.parametrize(
    ("gateway_history", "check", "pattern", "reason"),
    [
        ("duplicate", "", "hhhhhh", "sent twice: rr-*-1 (request #1)"),
        ("reorder", "", "pphhhh", "out of call order: the request's turns were 2, 1, 3 (request #3)"),
        pytest.param("drop", "", "pppppp", None, marks=pytest.mark.slow),
        ("drop", "marker:exact", "phhhhh", "the previous turn was not in the conversation: rr-*-1 (request #2)"),
        pytest.param("none", "", "pppppp", None, marks=pytest.mark.slow),  # no history: never h unless exact is asked
        pytest.param(
            "none",
            "cli:exact",
            "phhhhh",
            "the previous turn was not in the conversation: rr-*-1 (request #2)",
            marks=pytest.mark.slow,
        ),
        ("correct", "cli:exact", "pppppp", None),
        pytest.param("duplicate", "marker:off", "pppppp", None, marks=pytest.mark.slow),
    ],
)
def test_the_conversation_check_catches_a_gateway_that_corrupts_its_history(
    race_pytester: pytest.Pytester, gateway_history: str, check: str, pattern: str, reason: str | None
) -> None:
    where, _, mode = check.partition(":")
    marker = f", history={mode!r}" if where == "marker" else ""
    race_pytester.makepyfile(test_chat=HISTORY_TEST.format(marker=marker))
    report = race_pytester.path / "history.json"
    options = [f"--replyrace-history={mode}"] if where == "cli" else []
    result = run(
        race_pytester,
        "-s",
        f"--replyrace-report={report}",
        "--replyrace-transport=openai-chat",
        "--replyrace-session-field=session_id",
        f"--replyrace-gateway-cmd={openai_gateway_cmd('--session-field session_id --history', gateway_history)}",
        *options,
    )
    result.stdout.fnmatch_lines([f"*PATTERN {pattern}*"])
    (test,) = json.loads(report.read_text())["tests"]
    if reason is None:
        result.assert_outcomes(passed=1)
        assert all(call["history_problem"] is None for call in test["calls"])
        return
    result.assert_outcomes(failed=1)  # assert_clean, not assert_no_fast_fail
    result.stdout.fnmatch_lines(
        [
            "*replyrace unclean run at rtt=50ms, gap=0ms:*",
            f"*history:*{reason}",
            f"     50ms     0ms  {pattern}  *  {pattern.count('h')}  *unreliable*",
        ]
    )
    first = next(call for call in test["calls"] if call["letter"] == "h")
    assert first["history_problem"] is not None and "journal" in first and "history" in first["journal"][0]


@pytest.mark.parametrize("mode", ["correct", "fixed"])
def test_the_toys_correct_modes_never_get_h(toy_pytester: pytest.Pytester, mode: str) -> None:
    toy_pytester.makepyfile(test_chat=HISTORY_TEST.format(marker=""))
    result = run(toy_pytester, "-s", toy_gateway_option(mode), "--replyrace-ready=http:/readyz")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*PATTERN pppppp*"])


TEMPLATE = """{"port": {port}, "provider_url": "{provider_url}",
 "paths": {"state": "{state_dir}", "python": "{python}"}, "left": "{not_ours} {ports} {0}"}
"""

CONFIG_TEST = """
import json

def test_the_gateway_read_its_config(sequential_sender, gateway):
    result = sequential_sender.run(calls=3)
    config = (gateway.state_dir / "conf" / "gw.json").read_text()
    print("CONFIG", config.replace("\\n", " "))
    data = json.loads(config)
    assert data["port"] == gateway.port and data["paths"]["state"] == str(gateway.state_dir)
    result.assert_clean()
"""


def test_gateway_files_fill_only_the_four_placeholders_before_launch(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.makepyfile(test_chat=CONFIG_TEST)
    race_pytester.path.joinpath("tpl").mkdir()
    race_pytester.path.joinpath("tpl", "gw.json").write_text(TEMPLATE)
    # The gateway takes its port and provider from the config file only.
    cmd = f"{{python}} {OPENAI_GATEWAY} --config {{state_dir}}/conf/gw.json --session-field session_id"
    race_pytester.makeini(f"""
        [pytest]
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        replyrace_ready_timeout = 20
        replyrace_call_timeout = 10
        replyrace_gateway_cmd = {cmd}
        replyrace_transport = openai-chat
        replyrace_session_field = session_id
        replyrace_gateway_files =
            conf/gw.json = tpl/gw.json
        """)
    result = run(race_pytester, "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ['*CONFIG {"port": [0-9]*, "provider_url": "http://127.0.0.1:*/v1",*"left": "{not_ours} {ports} {0}"}*']
    )
    assert_no_leak()


@pytest.mark.parametrize(
    ("options", "source"),
    [
        (["--replyrace-gateway-file", "gw.json = tpl/absent.json"], "--replyrace-gateway-file"),
        (["-o", "replyrace_gateway_files=gw.json = tpl/absent.json"], "ini replyrace_gateway_files"),
    ],
)
def test_a_missing_template_is_a_usage_error_naming_it_and_its_source(
    race_pytester: pytest.Pytester, options: list[str], source: str
) -> None:
    race_pytester.makepyfile(test_chat=CONFIG_TEST)
    result = run_inprocess(race_pytester, f"--replyrace-gateway-cmd={openai_gateway_cmd()}", *options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*{source}: the template 'tpl/absent.json' of gateway file 'gw.json' cannot be read "
            "(*absent.json: FileNotFoundError: *); expected a readable text file, absolute or "
            "relative to the rootdir *"
        ]
    )


@pytest.mark.parametrize(
    "options",
    [
        ["--replyrace-transport=openai-chat", "--replyrace-session-field=session_id", "--replyrace-stream=on"],
        ["--replyrace-transport=openai-responses", "--replyrace-responses-chain=conversation", "--replyrace-stream=on"],
        ["--replyrace-transport=openai-chat", "--replyrace-session-field=session_id"],
    ],
    ids=["chat-stream", "responses-stream", "chat-json"],
)
def test_the_openai_transports_report_their_events_for_send_at_text(
    race_pytester: pytest.Pytester, options: list[str]
) -> None:
    race_pytester.makepyfile(test_chat=SIX_CALLS.replace("calls=6", "calls=4, send_at='text'"))
    report = race_pytester.path / "history.json"
    result = run(
        race_pytester,
        f"--replyrace-gateway-cmd={openai_gateway_cmd('--session-field session_id')}",
        f"--replyrace-report={report}",
        "-s",
        *options,
    )
    result.assert_outcomes(passed=1)
    (test,) = json.loads(report.read_text())["tests"]
    calls = test["calls"]
    for call in calls:
        assert call["sent_at"] < call["first_at"] <= call["text_at"] <= call["ended_at"], call
    # Each send waited for the text-complete event of the one before (the chunk with a finish_reason,
    # response.output_text.done, or the body read), not for a fallback.
    assert [c["anchor_at"] for c in calls[1:]] == [c["text_at"] for c in calls[:-1]]
    assert not any(c["anchor_fallback"] for c in calls)
