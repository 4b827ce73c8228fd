"""The wheel ships the package, its type marker and entry point, and nothing of the repository around it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # a long sweep: CI runs it in the slow step
def test_the_wheel_holds_the_package_and_py_typed_and_nothing_else(tmp_path: Path) -> None:
    # Built from a copy of the tree (tests/ and example_project/ included, so leaving them out is checked):
    # setuptools writes build/ into the tree it builds.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "__pycache__", "*.egg-info", ".pytest_cache", ".mypy_cache"
        ),
    )
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("pytest_replyrace-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
        archive.extractall(tmp_path / "site")
    strays = [n for n in names if not n.startswith(("pytest_replyrace/", "pytest_replyrace-"))]
    assert strays == [], f"the wheel holds more than the package: {strays}"
    assert {
        "pytest_replyrace/__init__.py",
        "pytest_replyrace/plugin.py",
        "pytest_replyrace/py.typed",
        "pytest_replyrace/transports/apis/langgraph.toml",
        "pytest_replyrace/transports/apis/mastra.toml",
        "pytest_replyrace/transports/apis/a2a.toml",
        "pytest_replyrace/transports/apis/agui.toml",
        "pytest_replyrace/transports/acp_bridge.py",
    } <= set(names)
    assert "pytest_replyrace = pytest_replyrace.plugin" in entry_points
    # The unpacked wheel, first on the path, is a working plugin on its own.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "site"), os.environ.get("PYTHONPATH")])),
    }
    probe = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "pytest_replyrace", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    assert "--replyrace-gateway-cmd" in probe.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import pytest_replyrace; print(pytest_replyrace.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.stdout.strip() == str(tmp_path / "site" / "pytest_replyrace" / "__init__.py"), where
    # The built-in API files are read from the installed package by name.
    builtins = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pytest_replyrace.transports.api_file import BUILTIN_APIS, "
            "builtin_text, parse_api; print([parse_api(builtin_text(n), n).label for n in "
            "BUILTIN_APIS])",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert builtins.stdout.strip() == "['langgraph', 'mastra', 'a2a', 'agui']", builtins
