"""The stops of the shared protocols on real servers, sent straight by the transports (``stop()``) one second into
a turn whose model call takes four seconds, then the next message: A2A's ``tasks/cancel`` on LangGraph,
``tasks/cancel`` on Pydantic AI through fasta2a, and ACP's ``session/cancel`` on Qwen Code and deepagents-acp.
LangGraph's run cancel (the built-in ``langgraph`` file's ``[stop]``) is pinned through the plugin's stop
settings instead, as a project writes the test (``stop_at="request"``, ``stop_gap=0.5``), with
``multitask_strategy`` ``enqueue`` and ``reject``: ``sp`` under both (docs/13-when-clients-stop.md).

What each did:

- LangGraph (threads and A2A), Qwen Code, deepagents-acp: the stop is answered at once (LangGraph's cancel with
  202 and no body; A2A with the canceled task; ACP with ``stopReason: "cancelled"``) and the call has no reply.
  LangGraph and Qwen Code close the model call; deepagents-acp leaves it open to its end (the provider serves all
  of it). And on all four the stopped message stays in the conversation: the next message's model request holds
  both messages, and its reply answers both (what the "when clients stop" issue calls a reply carrying a stopped
  message after the stop).
- fasta2a 2.1.1 with Pydantic AI: ``tasks/cancel`` does nothing (the Pydantic AI worker's ``cancel_task`` is
  empty), and its answer waits until the running task has ended (the in-memory broker hands the worker one
  operation at a time), then returns the completed task: the turn runs on and its reply is delivered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_replyrace import FakeProvider, LaunchedGateway
from pytest_replyrace.transports.acp import AcpTransport
from pytest_replyrace.transports.api_file import builtin_text, parse_api
from pytest_replyrace.transports.base import CallEvents
from pytest_replyrace.transports.declared import DeclaredTransport
from pytest_replyrace.transports.select import acp_command

from .test_acp_live import deepagents_acp, qwen_code  # noqa: F401 - fixtures
from .test_langgraph_live import (
    QUIET,
    TEMPLATES,
    command,
    langgraph_pytester,  # noqa: F401 - a fixture
    reject_api,
)
from .test_shared_protocols_live import SERVER, langgraph_a2a_api, pydantic_ai  # noqa: F401 - fixtures

pytestmark = pytest.mark.gateways

WARM, FIRST, NEXT = "rr-stoplive-1", "rr-stoplive-2", "rr-stoplive-3"


async def stop_then_send(transport: Any) -> dict[str, Any]:
    """A first turn (agents load their model on it), then: send, stop 1 s in, wait for the call, and send the
    next message once the stopped model call's time is over."""
    await transport.open()
    try:
        await asyncio.wait_for(transport.send("s", f"{WARM} warm up", "k0", events=CallEvents()), 60)
        sending = asyncio.ensure_future(transport.send("s", f"{FIRST} hello", "k1", events=CallEvents()))
        await asyncio.sleep(1.0)
        asked = time.monotonic()
        answer = await transport.stop("s", "k1", wait_for_run=2.0)
        reply = await asyncio.wait_for(sending, 20)
        ended = time.monotonic()
        await asyncio.sleep(4.0)
        following = await asyncio.wait_for(transport.send("s", f"{NEXT} again", "k2", events=CallEvents()), 60)
        return {"answer": answer, "took": answer.answered_at - asked, "reply": reply, "ended": ended, "next": following}
    finally:
        await transport.close()


def measured(cmd: str, make: Callable[[str], Any], **launch: Any) -> tuple[dict[str, Any], list[Any]]:
    with FakeProvider(rtt=4.0) as provider:
        provider.set_token_rtt(NEXT, 0.05)
        provider.set_token_rtt(WARM, 0.05)
        with LaunchedGateway(cmd, provider_url=provider.base_url, ready_timeout=120, **launch) as gateway:
            seen = asyncio.run(stop_then_send(make(gateway.url)))
            provider.wait_idle(6.0)
            journal = list(provider.journal)
    print({k: v for k, v in seen.items() if k != "answer"}, seen["answer"], [(e.tokens, e.status) for e in journal])
    return seen, journal


def stopped_and_folded(seen: dict[str, Any], journal: list[Any], model_call: int = 499) -> None:
    """Stopped at once, no reply, the model call closed (499; 200: left to run to its end); the next turn's
    request carries the stopped message too."""
    assert seen["answer"].error is None and seen["took"] < 2.5  # well before the model call's 4 s were over
    assert seen["reply"].reply == ""
    assert [entry.status for entry in journal if entry.tokens == [FIRST]] == [model_call]
    assert [entry.tokens for entry in journal if NEXT in entry.tokens] == [[FIRST, NEXT]]
    assert FIRST in (seen["next"].reply or "")


def langgraph_launch(pytester: pytest.Pytester) -> dict[str, Any]:
    files = (("langgraph.json", TEMPLATES / "langgraph.json"), ("agent.py", TEMPLATES / "agent.py"))
    return {"ready": "http:/ok", "files": files, "cwd": pytester.path}


LANGGRAPH_STOP = """
import pytest

@pytest.mark.rtt_range("2s", "2s", steps=1)
@pytest.mark.replyrace(calls=2, stop_at="request", stop_gap=0.5, busy_policy="{policy}")
def test_stop(sequential_sender):
    print("PATTERN", sequential_sender.run().pattern)
"""


@pytest.mark.parametrize("strategy", ["enqueue", "reject"])
def test_langgraph_run_cancel_through_the_plugin(
    langgraph_pytester: pytest.Pytester,  # noqa: F811
    strategy: str,
    assert_no_leak: Callable[[], None],
) -> None:
    """The built-in file's ``[stop]`` (the thread's run cancel) at request + 0.5 s, then the next message, with
    ``multitask_strategy`` ``enqueue`` (the built-in file) and ``reject`` (its copy)."""
    api = "langgraph"
    if strategy == "reject":
        (langgraph_pytester.path / "langgraph-reject.toml").write_text(reject_api())
        api = "langgraph-reject.toml"
    policy = "queue" if strategy == "enqueue" else "reject"
    langgraph_pytester.makepyfile(test_langgraph=LANGGRAPH_STOP.format(policy=policy))
    report = langgraph_pytester.path / "history.json"
    start = time.monotonic()
    langgraph_pytester.runpytest_subprocess(
        "-p", "pytest_replyrace", f"--replyrace-api={api}", f"--replyrace-report={report}", "-s", timeout=600
    )
    (test,) = json.loads(report.read_text())["tests"]
    print(f"langgraph {strategy}: {test['pattern']} in {time.monotonic() - start:.1f} s")
    for call in test["calls"]:
        print(json.dumps({k: call.get(k) for k in ("letter", "token", "reason", "stop", "journal")}, default=str))
    first, second = test["calls"]
    stop, model_call = first["stop"], first["journal"][0]  # its own; then the next one, holding it
    # Measured alike under both strategies: the cancel answered 202 with no body (it says neither) a few ms after
    # it went out, the model call closed with it, and the next message's request holds both messages, so its
    # reply carries the stopped one. The model had that message before the stop: not the o of OpenClaw #145727.
    assert test["pattern"] == "sp" and stop["reason"] is None, stop
    assert (
        model_call["tokens"] == [first["token"]]
        and model_call["arrived_at"] < stop["sent_at"]
        and stop["detail"] == "HTTP 202: ''"
    ), stop
    assert stop["aborted"] is None and stop["error"] is None, stop
    assert model_call["status"] == 499 and model_call["closed_at"] - stop["answered_at"] < 2.0, model_call
    assert second["letter"] == "p" and first["token"] in second["reply"], second
    assert [e["tokens"] for e in second["journal"]] == [[first["token"], second["token"]]], second
    assert_no_leak()


def test_a2a_tasks_cancel_on_langgraph_stops_the_task_and_keeps_the_message(
    pytester: pytest.Pytester, langgraph: Path, monkeypatch: pytest.MonkeyPatch, leak_marker: str
) -> None:
    for name, value in QUIET.items():
        monkeypatch.setenv(name, value)
    api = parse_api(langgraph_a2a_api(), "a2a-langgraph")
    seen, journal = measured(
        command(langgraph), lambda url: DeclaredTransport(url, api=api), **langgraph_launch(pytester)
    )
    assert seen["answer"].aborted is True
    stopped_and_folded(seen, journal)


def test_a2a_tasks_cancel_on_fasta2a_does_nothing_and_answers_when_the_task_is_done(
    pydantic_ai: Path,  # noqa: F811
    leak_marker: str,
) -> None:
    api = parse_api(builtin_text("a2a"), "a2a")
    seen, journal = measured(
        f"{pydantic_ai} {SERVER} a2a {{port}} {{provider_url}}",
        lambda url: DeclaredTransport(url, api=api),
        ready="http:/.well-known/agent-card.json",
    )
    assert seen["answer"].aborted is False and seen["took"] > 2.0  # the completed task, once it completed
    assert seen["reply"].reply == f"ECHO {FIRST}"
    assert [entry.status for entry in journal if entry.tokens == [FIRST]] == [200]


@pytest.mark.parametrize("agent", ["qwen_code", "deepagents_acp"])
def test_acp_session_cancel_answers_cancelled_and_keeps_the_message(
    request: pytest.FixtureRequest, agent: str, leak_marker: str
) -> None:
    seen, journal = measured(acp_command(request.getfixturevalue(agent)), lambda url: AcpTransport(url))
    assert seen["answer"].aborted is True and seen["answer"].detail == "stopReason 'cancelled'"
    # Qwen Code closes the model call; deepagents-acp answers "cancelled" and leaves it to run to its end.
    stopped_and_folded(seen, journal, model_call=499 if agent == "qwen_code" else 200)
