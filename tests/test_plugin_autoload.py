"""Autoload costs nothing: pytest loads the plugin in every project that installs it (``pytest11``), and a run
that uses none of it must not import the heavy parts (the HTTP and WebSocket clients, the provider, the driver,
the transports); ``--help`` still lists every option. The figure is in benchmarks/autoload.py."""

from __future__ import annotations

import pytest

from pytest_replyrace.settings import OPTIONS

HEAVY = (
    "aiohttp",
    "websockets",
    "pytest_replyrace.driver",
    "pytest_replyrace.provider.server",
    "pytest_replyrace.transports.base",
    "pytest_replyrace.transports.http",
    "pytest_replyrace.transports.openclaw",
    "pytest_replyrace.gateway.launcher",
    "pytest_replyrace.verdict",
)

CONFTEST = f"""
import sys

HEAVY = {HEAVY!r}


def pytest_unconfigure(config):
    loaded = sorted(name for name in HEAVY if name in sys.modules)
    print("heavy modules loaded: " + (", ".join(loaded) or "none"))
"""


def test_a_run_that_uses_no_replyrace_feature_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess(timeout=120)  # the plugin autoloaded, as in any project
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["replyrace *: gateway=*", "heavy modules loaded: none"])


def test_a_run_that_uses_the_sender_does_load_them(pytester: pytest.Pytester) -> None:
    # The control: the same check sees the heavy parts once a race fixture is used (the test skips: no gateway).
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_race="def test_race(sequential_sender):\n    sequential_sender.run()\n")
    result = pytester.runpytest_subprocess(timeout=120)
    result.assert_outcomes(skipped=1)
    line = next(text for text in result.outlines if text.startswith("heavy modules loaded: "))
    assert "aiohttp" in line and "pytest_replyrace.provider.server" in line, line


def test_help_still_lists_every_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help", timeout=120)
    text = result.stdout.str()
    missing = [option.flag for option in OPTIONS if option.flag not in text]
    assert not missing, missing
    assert "--replyrace-log-pattern" in text
