"""A race test's xfail, recorded in both reports: each of its runs gets ``xfail``, the reason pytest gives
(``""`` when the marker has none), or ``None`` when the test was not an expected failure."""

from __future__ import annotations

from collections.abc import Generator

import pytest

__all__ = ["XfailRecord"]


class XfailRecord:
    """Registered by the plugin, after the hooks that put a test's runs on its report (so it wraps them)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        runs = getattr(report, "replyrace", None)
        if isinstance(runs, list):
            reason = getattr(report, "wasxfail", None)
            for run in runs:
                if isinstance(run, dict):
                    run["xfail"] = reason if isinstance(reason, str) else None
        return report
