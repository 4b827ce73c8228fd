"""The ``acp`` transport end to end: the suite's ACP agent (a real process speaking JSON-RPC over its stdin and
stdout) behind the bridge, the real fake provider, pytest in a subprocess; correct and broken twins, the agent's
own requests, an agent that never answers ``initialize``, and ``session/cancel`` against a prompt in flight."""

from __future__ import annotations

import asyncio
import json
import shlex
import time
from collections.abc import Callable
from typing import Any

import pytest
from support.docs import doc_page, fenced_blocks, marked_block
from support.selftest import SUPPORT, run

from pytest_replyrace import FakeProvider, LaunchedGateway
from pytest_replyrace.transports.acp import AcpTransport
from pytest_replyrace.transports.base import CallEvents
from pytest_replyrace.transports.select import acp_command

ACP_AGENT = SUPPORT / "acp_agent.py"

TEST = """
@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.replyrace(calls=5, history="exact", send_at="{send_at}")
def test_at_{send_at}(sequential_sender):
    result = sequential_sender.run()
    print("PATTERN {send_at}", result.pattern)
    result.assert_clean()
"""


def race_tests(*anchors: str) -> str:
    return "import pytest\n" + "".join(TEST.format(send_at=anchor) for anchor in anchors)


def agent_cmd(*options: str) -> str:
    return " ".join(["{python}", shlex.quote(str(ACP_AGENT)), *options])


def acp_run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[Any]]:
    pytester.makepyfile(test_acp=race_tests("end"))
    report = pytester.path / "history.json"
    result = run(
        pytester, "--replyrace-transport=acp", f"--replyrace-report={report}", "--replyrace-shrink=0", "-s", *args
    )
    return result, json.loads(report.read_text())["tests"] if report.exists() else []


def test_the_docs_acp_example_is_clean_at_end_and_text_with_the_suites_agent_in_place_of_opencode(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    (ini,) = fenced_blocks(marked_block(doc_page("12-shared-protocols.md"), "acp-example"), "ini")
    assert "replyrace_gateway_cmd = opencode acp\n" in ini
    ini = ini.replace("opencode acp", agent_cmd("--ask-permission")) + "filterwarnings = error\ntimeout = 120\n"
    race_pytester.makefile(".ini", pytest=ini)
    race_pytester.makepyfile(test_acp=race_tests("end", "text"))
    report = race_pytester.path / "history.json"
    result = run(race_pytester, f"--replyrace-report={report}", "-s")
    # Permissions allow: the agent's turns ran (a refused one answers "permission denied", no model call).
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["replyrace *transport=acp*", "*PATTERN end ppppp*", "*PATTERN text ppppp*"])
    for test in json.loads(report.read_text())["tests"]:
        assert all(call["text_at"] is not None for call in test["calls"])  # end_turn completed each text
        # The agent's own requests, answered by the setting, are on the call whose prompt was open.
        # With permissions allowed, the agent then asks to read a file, which this client does not support.
        for call in test["calls"]:
            assert [text for _, text in call["gateway_requests"]] == [
                'session/request_permission: {"outcome": "selected", "optionId": "yes"}',
                "fs/read_text_file: not supported",
            ]
    assert_no_leak()


def test_an_acp_agent_that_forgets_the_conversation_is_caught(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    result, _ = acp_run(race_pytester, f"--replyrace-gateway-cmd={agent_cmd('--bug', 'forget')}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*PATTERN end phhhh*"])
    assert_no_leak()


def test_a_queued_prompt_is_an_acknowledgement_whose_reply_comes_later(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    # Sent when the provider has the previous prompt's request, each prompt is queued: answered at once with no
    # text, its turn's text streaming later while no prompt is open. The twin acknowledges and never runs it.
    # A 100 ms model call, so every later prompt goes out while the first turn runs even on a loaded machine,
    # and a settle of 1 s, which holds the four queued turns' late text.
    slow = race_tests("request").replace('"50ms", "50ms"', '"100ms", "100ms"')
    race_pytester.makepyfile(
        test_acp=slow.replace("test_at_request", "test_queued")
        + slow.replace("import pytest\n", "").replace("test_at_request", "test_dropped")
    )
    report = race_pytester.path / "history.json"
    result = run(
        race_pytester,
        "--replyrace-transport=acp",
        f"--replyrace-gateway-cmd={agent_cmd('--queue')}",
        f"--replyrace-report={report}",
        "--replyrace-shrink=0",
        "--replyrace-settle=1",
        "-s",
        "-k",
        "queued",
    )
    result.assert_outcomes(passed=1)
    (test,) = json.loads(report.read_text())["tests"]
    assert test["pattern"] == "ppppp"
    assert all(call["reply"] == "" for call in test["calls"][1:])  # the acknowledgements carry no text
    dropped = run(
        race_pytester,
        "--replyrace-transport=acp",
        f"--replyrace-gateway-cmd={agent_cmd('--queue', '--bug', 'queue-drops')}",
        "--replyrace-shrink=0",
        "-s",
        "-k",
        "dropped",
    )
    dropped.assert_outcomes(failed=1)
    dropped.stdout.fnmatch_lines(["*PATTERN request pllll*"])
    assert_no_leak()


@pytest.mark.parametrize(
    ("bug", "quoted"),
    [
        ("garbage", "*a line that is not JSON: 'Loaded 3 tools from the config'*"),
        pytest.param(  # the README suite's 3 minutes: one bad line is in the default run, this one in the slow step
            "double-answer", '*a second answer to one request: *"stopReason": "end_turn"*', marks=pytest.mark.slow
        ),
    ],
)
def test_bad_json_rpc_from_the_agent_is_an_error_quoting_it(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None], bug: str, quoted: str
) -> None:
    result, (test,) = acp_run(race_pytester, f"--replyrace-gateway-cmd={agent_cmd('--bug', bug)}")
    result.assert_outcomes(failed=1)
    assert "e" in test["pattern"]
    result.stdout.fnmatch_lines([quoted])
    assert_no_leak()


def test_an_agent_that_never_answers_initialize_fails_with_its_stderr_and_nothing_left_running(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    result, _ = acp_run(
        race_pytester, f"--replyrace-gateway-cmd={agent_cmd('--bug', 'never-init')}", "--replyrace-ready-timeout=3"
    )
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*still not ready*", "*loading the model weights (this takes forever)*"])
    assert_no_leak()


# -- straight at the transport: the agent's requests, and session/cancel -------------------------------------------


async def prompt_and_maybe_stop(
    url: str, permissions: str = "deny", stop_after: float | None = None
) -> tuple[Any, Any, AcpTransport]:
    transport = AcpTransport(url, permissions=permissions)
    await transport.open()
    try:
        sending = asyncio.ensure_future(transport.send("s", "rr-acp0-1 hi", "k1", events=CallEvents()))
        answer = None
        if stop_after is not None:
            await asyncio.sleep(stop_after)
            asked = time.monotonic()
            answer = await transport.stop("s", "k1", wait_for_run=1.0)
            answer = (answer, answer.answered_at - asked)
        reply = await asyncio.wait_for(sending, 15)
        return reply, answer, transport
    finally:
        await transport.close()


@pytest.mark.parametrize("permissions", ["deny", "allow"])
def test_the_agents_requests_are_answered_by_the_setting(leak_marker: str, permissions: str) -> None:
    with (
        FakeProvider(rtt=0.05) as provider,
        LaunchedGateway(acp_command(agent_cmd("--ask-permission")), provider_url=provider.base_url) as gateway,
    ):
        reply, _, transport = asyncio.run(prompt_and_maybe_stop(gateway.url, permissions))
    if permissions == "deny":
        assert reply.reply == "permission denied for rr-acp0-1 hi"
        assert transport.agent_requests == ['session/request_permission: {"outcome": "selected", "optionId": "no"}']
    else:
        assert reply.reply == "ECHO rr-acp0-1" or "rr-acp0-1" in (reply.reply or "")
        assert transport.agent_requests == [
            'session/request_permission: {"outcome": "selected", "optionId": "yes"}',
            "fs/read_text_file: not supported",
        ]


@pytest.mark.parametrize("bug", [None, "cancel-end-turn"])
def test_session_cancel_stops_a_prompt_in_flight_and_must_answer_cancelled(leak_marker: str, bug: str | None) -> None:
    with (
        FakeProvider(rtt=3.0) as provider,
        LaunchedGateway(
            acp_command(agent_cmd(*(["--bug", bug] if bug else []))), provider_url=provider.base_url
        ) as gateway,
    ):
        reply, (answer, took), _ = asyncio.run(prompt_and_maybe_stop(gateway.url, stop_after=0.5))
        provider.wait_idle(5.0)
    assert answer.error is None and took < 2.0  # the prompt answered at once: its provider call was closed
    if bug is None:
        assert answer.aborted is True and answer.detail == "stopReason 'cancelled'"
        assert reply.reply == "" and reply.error is None
    else:  # ACP's rule broken: a cancelled prompt must answer "cancelled"
        assert answer.aborted is False and 'ACP requires "cancelled"' in answer.detail
