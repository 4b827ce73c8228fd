"""Mastra (npm) behind its own HTTP API, spoken by the declared transport with the built-in ``mastra`` API file:
per message ``POST /api/agents/agent/stream`` with ``memory: {thread, resource}`` (the thread made on first use),
answered as SSE ``data: {"type": ...}`` events (``text-delta`` pieces at ``/payload/text``, ``text-end``,
``finish``) and the non-JSON line ``data: [DONE]``.

The server is the one-agent project in ``tests/integration/mastra`` (memory on LibSQL in the gateway's state dir),
built once into the cache with ``npx mastra build`` and run as ``node .mastra/output/index.mjs``; it reads its port,
provider URL and state dir from the launcher's environment. Runs on one thread wait for the active one
(``waitForCrossAgentThreadRun`` in ``@mastra/core``): a queue, so the sends are clean at ``end``, at ``text``
(``text-end``) and at ``first`` (the ``start`` event)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .anchors import inner, patterns
from .mastra_install import MASTRA_VERSION, QUIET

pytestmark = pytest.mark.gateways


def mastra_ini(entry: Path, node: Path) -> str:
    """The built server reads REPLYRACE_GATEWAY_PORT (no {port} in its command), as the ini line says."""
    return f"""
        [pytest]
        asyncio_default_fixture_loop_scope = function
        filterwarnings =
            error
            ignore:the gateway command has no
        timeout = 600
        replyrace_gateway_cmd = {node} {entry}
        replyrace_ready = http:/health
        replyrace_ready_timeout = 120
        replyrace_call_timeout = 60
        replyrace_api = mastra
        """


def test_mastra_queues_a_threads_runs_clean_at_end_text_and_first(
    pytester: pytest.Pytester,
    mastra: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    leak_marker: str,
    assert_no_leak: Callable[[], None],
) -> None:
    for name, value in QUIET.items():
        monkeypatch.setenv(name, value)
    entry, node = mastra
    pytester.makeini(mastra_ini(entry, node))
    pytester.makepyfile(test_mastra=inner(6, "queue"))
    report = pytester.path / "history.json"
    start = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "pytest_replyrace", f"--replyrace-report={report}", "-s", timeout=900)
    tests = patterns(report)
    for send_at, test in tests.items():
        latencies = [round(call["latency"] * 1000) for call in test["calls"]]
        print(f"mastra {MASTRA_VERSION} queue send_at={send_at}: {test['pattern']} latencies {latencies} ms")
    print(f"mastra: {time.monotonic() - start:.1f} s for the run")
    assert {send_at: test["pattern"] for send_at, test in tests.items()} == {
        "end": "pppppp",
        "text": "pppppp",
        "first": "pppppp",
    }
    result.assert_outcomes(passed=3)
    for test in tests.values():
        tokens = [call["token"] for call in test["calls"]]
        for i, call in enumerate(test["calls"]):
            # The agent's memory thread: the provider was given the run's earlier turns, in order, nothing twice.
            history = [t for t in call["journal"][0]["history"] if t in tokens]
            assert history == sorted(set(history), key=tokens.index) and set(history) <= set(tokens[:i])
        assert all(call["run_id"] for call in test["calls"])
    assert_no_leak()
