"""Shared protocols end to end: the built-in ``a2a`` and ``agui`` API files against the suite's small A2A and AG-UI
servers (real processes keeping conversations and calling the real fake provider), correct and broken twins, and
the declared transport's ``[stop]`` call against a run in flight. One pytest run per server, a test per anchor."""

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
from pytest_replyrace.transports.api_file import builtin_text, parse_api
from pytest_replyrace.transports.base import CallEvents
from pytest_replyrace.transports.cuts import DISCONNECTED
from pytest_replyrace.transports.declared import DeclaredTransport

A2A_GATEWAY = SUPPORT / "a2a_gateway.py"
AGUI_GATEWAY = SUPPORT / "agui_gateway.py"

TEST = """
@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.replyrace(calls=5, history="exact", send_at="{send_at}")
def test_at_{send_at}(sequential_sender):
    result = sequential_sender.run()
    print("PATTERN {send_at}", result.pattern)
    result.assert_clean()
"""


def support_cmd(script: Any, *options: str) -> str:
    return " ".join(
        ["{python}", shlex.quote(str(script)), "--port", "{port}", "--provider-url", "{provider_url}", *options]
    )


def protocol_run(
    pytester: pytest.Pytester, api: str, cmd: str, anchors: tuple[str, ...] = ("end",)
) -> tuple[pytest.RunResult, dict[str, Any]]:
    """One pytest run against the server ``cmd``, a race test per send_at anchor; their JSON records by anchor."""
    pytester.makepyfile(test_protocol="import pytest\n" + "".join(TEST.format(send_at=a) for a in anchors))
    report = pytester.path / "history.json"
    result = run(
        pytester,
        f"--replyrace-gateway-cmd={cmd}",
        f"--replyrace-api={api}",
        f"--replyrace-report={report}",
        "--replyrace-shrink=0",  # the failing runs are the broken twins: their patterns are the finding
        "-s",
    )
    tests = json.loads(report.read_text())["tests"] if report.exists() else []
    return result, {test["node_id"].split("::test_at_")[1].split("[")[0]: test for test in tests}


def shown(tests: dict[str, Any]) -> dict[str, str]:
    return {anchor: test["pattern"] for anchor, test in tests.items()}


# -- A2A ----------------------------------------------------------------------------------------------------------


def test_the_a2a_file_is_clean_on_a_correct_a2a_server_at_end_text_and_first(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    result, tests = protocol_run(race_pytester, "a2a", support_cmd(A2A_GATEWAY), ("end", "text", "first"))
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["replyrace *transport=declared api=a2a*"])
    assert shown(tests) == dict.fromkeys(("end", "text", "first"), "ppppp")
    # The task id is the run id (one server for the three runs: its tasks are numbered on).
    assert [call["run_id"] for test in tests.values() for call in test["calls"]] == [f"t-{i}" for i in range(1, 16)]
    for test in tests.values():
        # The last chunk holds the whole artifact (append false): it replaces the text, it is not added to it.
        assert all(call["reply"].count("ECHO") == 1 for call in test["calls"])
    assert_no_leak()


def test_the_a2a_file_reads_a2a_1_0_and_an_agent_path_keeps_its_slashes(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    text = builtin_text("a2a").replace('\nagent_path = ""', '\nagent_path = "a2a/my assistant"', 1)
    race_pytester.path.joinpath("a2a-lg.toml").write_text(text)
    cmd = support_cmd(A2A_GATEWAY, "--wire", "1.0")  # it answers at /a2a/{assistant} as at /
    result, tests = protocol_run(race_pytester, "a2a-lg.toml", cmd, ("end", "first"))
    result.assert_outcomes(passed=2)
    assert shown(tests) == dict.fromkeys(("end", "first"), "ppppp")
    assert all(call["reply"].count("ECHO") == 1 for test in tests.values() for call in test["calls"])
    assert_no_leak()


def test_the_a2a_file_catches_a_server_that_forgets_the_conversation(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    result, tests = protocol_run(race_pytester, "a2a", support_cmd(A2A_GATEWAY, "--bug", "forget"))
    result.assert_outcomes(failed=1)
    assert shown(tests) == {"end": "phhhh"}
    assert_no_leak()


# -- [stop], straight against a run in flight --------------------------------------------------------------------


async def send_then_stop(url: str, after: float, wait_for_run: float = 2.0) -> tuple[Any, Any, float]:
    transport = DeclaredTransport(url, api=parse_api(builtin_text("a2a"), "a2a"))
    assert transport.supports_stop and callable(getattr(transport, "stop", None))
    await transport.open()
    try:
        events = CallEvents()
        sending = asyncio.ensure_future(transport.send("s", "rr-stop0-1 hello", "key-1", events=events))
        await asyncio.sleep(after)
        asked = time.monotonic()
        answer = await transport.stop("s", "key-1", wait_for_run=wait_for_run)  # type: ignore[attr-defined]
        reply = await asyncio.wait_for(sending, 10)
        late = await transport.stop("s", "key-1", wait_for_run=wait_for_run)  # type: ignore[attr-defined]
        return (answer, reply, answer.answered_at - asked), late, asked
    finally:
        await transport.close()


@pytest.mark.parametrize("bug", [None, "cancel-ignored"])
def test_a2a_tasks_cancel_stops_a_task_in_flight_and_a_second_cancel_finds_nothing(
    leak_marker: str, bug: str | None
) -> None:
    with (
        FakeProvider(rtt=3.0) as provider,
        LaunchedGateway(
            support_cmd(A2A_GATEWAY, *(["--bug", bug] if bug else [])), provider_url=provider.base_url
        ) as gateway,
    ):
        (answer, reply, took), late, _ = asyncio.run(send_then_stop(gateway.url, 0.5))
        provider.wait_idle(5.0)  # the provider's handler of a closed call sleeps out its time
        served = [(entry.status, entry.error) for entry in provider.journal]
    assert answer.error is None and answer.aborted is True and answer.detail.startswith("HTTP 200")
    assert late.aborted is False and "-32002" in late.detail  # the task had ended
    if bug is None:
        assert reply.reply == "" and reply.run_id == "t-1" and took < 2.5  # stopped: no reply, the call closed
        assert served != [(200, None)], served
    else:  # the planted bug: the cancel is acknowledged, and the reply is delivered anyway
        assert "rr-stop0-1" in (reply.reply or "") and served == [(200, None)]


def test_a_file_without_stop_has_no_stop_and_a_stop_before_the_run_id_waits_for_it(leak_marker: str) -> None:
    assert not hasattr(DeclaredTransport("http://127.0.0.1:9", api=parse_api(builtin_text("agui"), "agui")), "stop")
    with (
        FakeProvider(rtt=2.0) as provider,
        LaunchedGateway(support_cmd(A2A_GATEWAY), provider_url=provider.base_url) as gateway,
    ):
        (answer, reply, _), _, _ = asyncio.run(send_then_stop(gateway.url, 0.0))
        # A stop sent with no run id known yet, and a call that never names one: the wait is bounded.
        none = asyncio.run(stop_unknown(gateway.url))
    assert answer.aborted is True and reply.reply == ""
    assert none.error is not None and "no call was sent with the key 'nope'" in none.error


async def stop_unknown(url: str) -> Any:
    transport = DeclaredTransport(url, api=parse_api(builtin_text("a2a"), "a2a"))
    try:
        return await transport.stop("s", "nope", wait_for_run=0.2)  # type: ignore[attr-defined]
    finally:
        await transport.close()


# -- AG-UI: the history kept by the client ({history}) or by the server (one message per run) ----------------------


def one_message_agui() -> str:
    """The built-in agui file changed as the docs say for a server that keeps the thread: [history] dropped, and
    the docs' [send] (one message per run) in place of the built-in one."""
    (send,) = fenced_blocks(marked_block(doc_page("12-shared-protocols.md"), "agui-one-message"), "toml")
    text = builtin_text("agui")
    return text[: text.index("[history]")] + send + "\n" + text[text.index("[reply]") :]


def test_the_agui_file_sends_the_conversation_to_a_server_that_keeps_nothing(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    cmd = support_cmd(AGUI_GATEWAY, "--history", "client")
    result, tests = protocol_run(race_pytester, "agui", cmd, ("end", "text", "first"))
    # At end and text the client has each reply before it sends: the conversation it sends is whole.
    # At first, message 2 goes with message 1 and no reply to it (the client has none yet): the server, which
    # keeps nothing, answers both, and the user reads message 1 answered twice.
    assert shown(tests) == dict.fromkeys(("end", "text", "first"), "ppppp")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*answered twice: call 1: its token is in the replies of calls 1, 2*"])
    assert all(call["run_id"] for call in tests["end"]["calls"])  # RUN_STARTED's runId: the client's own
    assert_no_leak()


def test_the_agui_file_catches_a_server_that_drops_the_history_the_client_sent(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    result, tests = protocol_run(race_pytester, "agui", support_cmd(AGUI_GATEWAY, "--bug", "last-only"))
    result.assert_outcomes(failed=1)
    assert shown(tests) == {"end": "phhhh"}
    assert_no_leak()


def test_one_message_per_run_is_clean_on_a_server_that_keeps_the_thread(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.path.joinpath("agui-one.toml").write_text(one_message_agui())
    cmd = support_cmd(AGUI_GATEWAY, "--history", "server")
    result, tests = protocol_run(race_pytester, "agui-one.toml", cmd, ("end", "text", "first"))
    result.assert_outcomes(passed=3)
    assert shown(tests) == dict.fromkeys(("end", "text", "first"), "ppppp")
    assert_no_leak()


def test_one_message_per_run_catches_a_server_that_loses_the_thread(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    race_pytester.path.joinpath("agui-one.toml").write_text(one_message_agui())
    cmd = support_cmd(AGUI_GATEWAY, "--history", "server", "--bug", "thread-per-run")
    result, tests = protocol_run(race_pytester, "agui-one.toml", cmd)
    result.assert_outcomes(failed=1)
    assert shown(tests) == {"end": "phhhh"}
    assert_no_leak()


@pytest.mark.slow  # the README suite's 3 minutes: the twins above cover the file, this is the measurement
def test_one_message_per_run_to_a_server_that_keeps_nothing_is_caught(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    # The measurement on Pydantic AI's adapter without its store: the format cannot send a history.
    race_pytester.path.joinpath("agui-one.toml").write_text(one_message_agui())
    result, tests = protocol_run(race_pytester, "agui-one.toml", support_cmd(AGUI_GATEWAY, "--history", "client"))
    result.assert_outcomes(failed=1)
    assert shown(tests) == {"end": "phhhh"}
    assert_no_leak()


async def send_then_disconnect(url: str) -> tuple[Any, float]:
    transport = DeclaredTransport(url, api=parse_api(builtin_text("agui"), "agui"))
    await transport.open()
    try:
        sending = asyncio.ensure_future(transport.send("s", "rr-cut0-1 hello", "key-1", events=CallEvents()))
        await asyncio.sleep(0.5)
        at = await transport.disconnect("key-1")
        return await asyncio.wait_for(sending, 5), at
    finally:
        await transport.close()


def test_a_declared_call_can_be_cut_without_a_stop_call(leak_marker: str) -> None:
    with (
        FakeProvider(rtt=3.0) as provider,
        LaunchedGateway(support_cmd(AGUI_GATEWAY), provider_url=provider.base_url) as gateway,
    ):
        reply, at = asyncio.run(send_then_disconnect(gateway.url))
        provider.wait_idle(5.0)
    # The client went away: no reply, the cut's instant; the server (which keeps nothing) ran its turn on.
    assert reply.reply is None and reply.cut_at == at and reply.error == DISCONNECTED
