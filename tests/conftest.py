"""Fixtures for the plugin's own tests.

Plugin tests run pytest in a subprocess (pytester.runpytest_subprocess): the
plugin starts threads, sockets and child processes, which must not leak into
this process. Every gateway they start carries a unique environment marker so
a test can prove afterwards that no process of its own survived.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

import pytest
from support.selftest import EXAMPLE, LEAK_MARKER_VAR, processes_with_marker


@pytest.fixture
def leak_marker(monkeypatch: pytest.MonkeyPatch) -> str:
    """A marker in the environment of everything this test starts."""
    marker = uuid.uuid4().hex
    monkeypatch.setenv(LEAK_MARKER_VAR, marker)
    return marker


@pytest.fixture
def race_pytester(pytester: pytest.Pytester, leak_marker: str) -> pytest.Pytester:
    """A pytester with an ini like a gateway project's."""
    pytester.makeini(
        """
        [pytest]
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        timeout = 120
        replyrace_ready_timeout = 20
        replyrace_call_timeout = 10
        """
    )
    return pytester


@pytest.fixture
def assert_no_leak(leak_marker: str) -> Callable[[], None]:
    """Call after a run: fails if any process carrying this test's marker is alive."""

    def check() -> None:
        survivors = processes_with_marker(leak_marker)
        assert survivors == [], f"processes left running: {survivors}"

    return check


@pytest.fixture
def toy_pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, leak_marker: str) -> pytest.Pytester:
    """A pytester whose runs can start the example project's toy gateway (``python -m toy_gateway``)."""
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLE), prepend=os.pathsep)
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\ntimeout = 200\n"
        "replyrace_call_timeout = 10\n"
    )
    return pytester
