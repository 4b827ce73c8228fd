"""Helpers for the plugin's own tests (imported by test modules and conftest)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

SUPPORT = Path(__file__).parent
RACE_GATEWAY = SUPPORT / "race_gateway.py"
LEAK_MARKER_VAR = "REPLYRACE_SELFTEST_MARK"


def race_gateway_cmd(*options: str) -> str:
    """A launcher command template for the suite's test gateway."""
    return " ".join(
        ["{python}", shlex.quote(str(RACE_GATEWAY)), "--port", "{port}", "--provider-url", "{provider_url}", *options]
    )


EXAMPLE = SUPPORT.parent.parent / "example_project"


def toy_gateway_option(mode: str, *extra: str) -> str:
    """``--replyrace-gateway-cmd`` for the example project's toy gateway in ``mode``."""
    return " ".join(
        [
            "--replyrace-gateway-cmd={python} -m toy_gateway --port {port} --provider-url {provider_url}",
            "--mode",
            mode,
            *extra,
        ]
    )


def processes_with_marker(marker: str) -> list[int]:
    """PIDs whose environment carries our marker (our own process excepted)."""
    found = []
    needle = f"{LEAK_MARKER_VAR}={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def run(pytester: pytest.Pytester, *args: str, timeout: float = 240) -> pytest.RunResult:
    """Run pytest with the plugin in a subprocess, bounded in time."""
    return pytester.runpytest_subprocess("-p", "pytest_replyrace", *args, timeout=timeout)


def run_inprocess(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest with the plugin in this process: only for runs that end at a usage or collection error, before
    any provider, gateway or thread starts (a tenth of a subprocess's cost)."""
    return pytester.runpytest_inprocess("-p", "pytest_replyrace", *args)


OPENAI_GATEWAY = SUPPORT / "openai_gateway.py"
TOOL_GATEWAY = SUPPORT / "tool_gateway.py"


def tool_gateway_cmd(*options: str) -> str:
    """A launcher command template for the suite's tool-loop gateway."""
    return " ".join(
        ["{python}", shlex.quote(str(TOOL_GATEWAY)), "--port", "{port}", "--provider-url", "{provider_url}", *options]
    )


def openai_gateway_cmd(*options: str) -> str:
    """A launcher command template for the suite's OpenAI-style test gateway."""
    return " ".join(
        ["{python}", shlex.quote(str(OPENAI_GATEWAY)), "--port", "{port}", "--provider-url", "{provider_url}", *options]
    )


def race_test(rtt: tuple[str, str, int], calls: int, gap: float, name: str = "test_sends") -> str:
    """The source of a test module with one race test: ``rtt_range(lo, hi, steps)``, ``calls`` sends ``gap`` apart."""
    lo, hi, steps = rtt
    return f"""
import pytest

@pytest.mark.rtt_range({lo!r}, {hi!r}, steps={steps})
@pytest.mark.replyrace(calls={calls}, gap={gap})
def {name}(sequential_sender):
    sequential_sender.run().assert_no_fast_fail()
"""


DECLARED_GATEWAY = SUPPORT / "declared_gateway.py"


def declared_gateway_cmd(*options: str) -> str:
    """A launcher command template for the suite's declared-transport test gateway."""
    return " ".join(
        [
            "{python}",
            shlex.quote(str(DECLARED_GATEWAY)),
            "--port",
            "{port}",
            "--provider-url",
            "{provider_url}",
            *options,
        ]
    )


STEP_GATEWAY = SUPPORT / "step_gateway.py"


def step_gateway_cmd(*options: str) -> str:
    """A launcher command template for the suite's multi-step gateway (``--mode two-step`` and the others)."""
    return " ".join(
        ["{python}", shlex.quote(str(STEP_GATEWAY)), "--port", "{port}", "--provider-url", "{provider_url}", *options]
    )
