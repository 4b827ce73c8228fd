"""Real gateways (OpenClaw releases, nanobot-ai, LangGraph's Agent Server, Mastra), installed from their registries
into a cache on first use."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_replyrace.plugin import terminal_writer

from .langgraph_install import LANGGRAPH_CLI_VERSION, ensure_langgraph
from .mastra_install import MASTRA_VERSION, ensure_mastra
from .nanobot_install import NANOBOT_VERSION, ensure_nanobot
from .openclaw_install import InstallError, Note, ensure_node, ensure_openclaw, node_major_for


def terminal_note(config: pytest.Config) -> Note:
    """Writes an install's progress line on the terminal while pytest captures output, as the plugin's
    slow-start line does; nothing with ``-q``."""
    return terminal_writer(config, quiet=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if shutil.which("npm") is None:
        skip = pytest.mark.skip(reason="npm is not installed: the real OpenClaw tests need it (apt-get install npm)")
        for item in items:
            if "openclaw" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def openclaw_release(pytestconfig: pytest.Config) -> object:
    """``release(version) -> (openclaw.mjs, node)``, installed once and cached across runs."""
    note = terminal_note(pytestconfig)
    known: dict[str, tuple[Path, Path]] = {}

    def release(version: str) -> tuple[Path, Path]:
        if version not in known:  # one line per release and session, however many tests use it
            try:
                known[version] = ensure_openclaw(version, note), ensure_node(node_major_for(version))
            except InstallError as exc:
                pytest.fail(f"could not install openclaw@{version}: {exc}", pytrace=False)
        return known[version]

    return release


@pytest.fixture(scope="session")
def nanobot(pytestconfig: pytest.Config) -> Path:
    """The ``nanobot`` executable of the pinned nanobot-ai[api], installed once into a cached virtualenv."""
    try:
        return ensure_nanobot(NANOBOT_VERSION, terminal_note(pytestconfig))
    except InstallError as exc:
        pytest.fail(f"could not install nanobot-ai[api]=={NANOBOT_VERSION}: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def langgraph(pytestconfig: pytest.Config) -> Path:
    """The ``langgraph`` executable of the pinned Agent Server (``langgraph-cli[inmem]``, ``langchain-openai``)."""
    try:
        return ensure_langgraph(terminal_note(pytestconfig))
    except InstallError as exc:
        pytest.fail(f"could not install langgraph-cli[inmem]=={LANGGRAPH_CLI_VERSION}: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def mastra(pytestconfig: pytest.Config) -> tuple[Path, Path]:
    """``(index.mjs, node)``: the pinned Mastra one-agent server, built once, and the Node 22 that runs it."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the Mastra tests need it (apt-get install npm)")
    try:
        return ensure_mastra(terminal_note(pytestconfig))
    except InstallError as exc:
        pytest.fail(f"could not install and build mastra@{MASTRA_VERSION}: {exc}", pytrace=False)
