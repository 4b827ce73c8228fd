"""Two ACP agents from the registries, each taking an OpenAI-compatible endpoint (the fake provider), spoken by the
``acp`` transport over their stdin and stdout: Qwen Code (npm, ``qwen --acp``, Node 22) and deepagents-acp (PyPI,
``python -m deepagents_acp``, its ``openai:`` model on ``OPENAI_BASE_URL``). Each row of the docs' "The pinned
servers" table for ACP is measured here.

What they did (calls=6, rtt 50 ms): both clean at end and text. At first (the next prompt sent at the previous
prompt's first update, while it runs) they differ, and neither is asked to be clean here: Qwen Code aborts the
running prompt (it answers JSON-RPC -32603 "Internal error", "Request was aborted.") and the new prompt's reply
answers both messages (``iiiiip``); deepagents-acp runs the prompts over one another and the later turns miss
earlier ones (``pppphh``)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any

import pytest

from .acp_install import DEEPAGENTS_ACP_VERSION, QWEN_CODE_VERSION, ensure_deepagents_acp, ensure_qwen_code
from .anchors import inner, patterns
from .openclaw_install import InstallError

pytestmark = pytest.mark.gateways


@pytest.fixture(scope="session")
def qwen_code(pytestconfig: pytest.Config) -> str:
    from .conftest import terminal_note

    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the Qwen Code tests need it (apt-get install npm)")
    try:
        entry, node = ensure_qwen_code(terminal_note(pytestconfig))
    except InstallError as exc:
        pytest.fail(f"could not install @qwen-code/qwen-code@{QWEN_CODE_VERSION}: {exc}", pytrace=False)
    # Its own home (settings, history) in the state dir; the OpenAI-compatible endpoint is the fake provider.
    return (
        f"env HOME={{state_dir}} {node} {entry} --acp --auth-type openai --openai-api-key dummy "
        "--openai-base-url {provider_url} --model fake-model"
    )


@pytest.fixture(scope="session")
def deepagents_acp(pytestconfig: pytest.Config) -> str:
    from .conftest import terminal_note

    try:
        python = ensure_deepagents_acp(terminal_note(pytestconfig))
    except InstallError as exc:
        pytest.fail(f"could not install deepagents-acp=={DEEPAGENTS_ACP_VERSION}: {exc}", pytrace=False)
    return f"env OPENAI_API_KEY=dummy OPENAI_BASE_URL={{provider_url}} {python} -m deepagents_acp"


def run_agent(pytester: pytest.Pytester, command: str, label: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    pytester.makeini(
        f"""
        [pytest]
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        timeout = 600
        replyrace_transport = acp
        replyrace_gateway_cmd = {command}
        replyrace_ready_timeout = 120
        replyrace_call_timeout = 60
        """
    )
    pytester.makepyfile(
        test_agent=inner(6, "queue").replace('busy_policy="queue"', 'busy_policy="queue", history="exact"')
    )
    report = pytester.path / "history.json"
    start = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "pytest_replyrace", f"--replyrace-report={report}", "-s", timeout=900)
    tests = patterns(report) if report.exists() else {}
    shown = {send_at: test["pattern"] for send_at, test in tests.items()}
    print(f"{label}: {shown} ({time.monotonic() - start:.1f} s for the run)")
    return result, tests


@pytest.mark.parametrize("agent", ["qwen_code", "deepagents_acp"])
def test_an_acp_agent_from_the_registries_is_clean_at_end_and_text(
    pytester: pytest.Pytester,
    request: pytest.FixtureRequest,
    agent: str,
    leak_marker: str,
    assert_no_leak: Callable[[], None],
) -> None:
    command = request.getfixturevalue(agent)
    _result, tests = run_agent(pytester, command, agent)
    assert tests["end"]["pattern"] == tests["text"]["pattern"] == "pppppp"
    assert_no_leak()
