"""Real OpenClaw releases, installed from the npm registry into a cache on first use."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .nanobot_install import NANOBOT_VERSION, ensure_nanobot
from .openclaw_install import InstallError, ensure_node, ensure_openclaw, node_major_for


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if shutil.which("npm") is None:
        skip = pytest.mark.skip(reason="npm is not installed: the real OpenClaw tests need it (apt-get install npm)")
        for item in items:
            if "openclaw" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def openclaw_release() -> object:
    """``release(version) -> (openclaw.mjs, node)``, installed once and cached across runs."""

    def release(version: str) -> tuple[Path, Path]:
        try:
            return ensure_openclaw(version), ensure_node(node_major_for(version))
        except InstallError as exc:
            pytest.fail(f"could not install openclaw@{version}: {exc}", pytrace=False)

    return release


@pytest.fixture(scope="session")
def nanobot() -> Path:
    """The ``nanobot`` executable of the pinned nanobot-ai[api], installed once into a cached virtualenv."""
    try:
        return ensure_nanobot(NANOBOT_VERSION)
    except InstallError as exc:
        pytest.fail(f"could not install nanobot-ai[api]=={NANOBOT_VERSION}: {exc}", pytrace=False)
