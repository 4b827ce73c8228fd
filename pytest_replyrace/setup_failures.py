"""A gateway that cannot start, said once and to the point.

The first test that needs the gateway fails with the error's message alone (the command, what the readiness
probe saw, the log's last lines), without the traceback through the plugin and pytest-asyncio (``--full-trace``
shows it). Every later test on the same gateway (the session fixture re-raises the same error; the pool does not
start a command again that failed) gets one line pointing at that first test.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from .errors import GatewayStartError

__all__ = ["SetupFailures"]


class SetupFailures:
    """Registered by the plugin; rewrites the report of a test whose gateway could not start."""

    def __init__(self) -> None:
        self._first: dict[int, tuple[GatewayStartError, str]] = {}
        """id of each first failure -> (the failure, kept alive so the id stays its own; the test it failed)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        error = call.excinfo.value if call.excinfo is not None else None
        if not isinstance(error, GatewayStartError) or item.config.getoption("fulltrace"):
            return report
        report.longrepr = self.describe(error, item.nodeid)
        return report

    def describe(self, error: GatewayStartError, nodeid: str) -> str:
        """The message for ``error`` in test ``nodeid``: in full the first time, then one line."""
        first = error.earlier if error.earlier is not None else error
        seen = self._first.get(id(first))
        if seen is None:
            self._first[id(first)] = (first, nodeid)
            return f"replyrace: {error}"
        return f"replyrace: the gateway could not start for {seen[1]} (its error above); it is not started again"
