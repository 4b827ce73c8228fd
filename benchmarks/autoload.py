"""What the plugin costs a project that does not use it: pytest autoloads it through ``pytest11``.

    python benchmarks/autoload.py [--pairs 9]

A temporary project with one trivial test. In turns, A B A B …: ``python -m pytest -q test_x.py`` (the plugin
autoloaded) and the same with ``-p no:pytest_replyrace``. Prints both walls (median, min, max) and the median
of the per-pair ratios with / without (target ≤ 1.15). Every run is a subprocess bounded by a timeout; nothing
binds a port.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEST = "def test_x():\n    assert 1 + 1 == 2\n"


def one(project: Path, *extra: str) -> float:
    env = dict(os.environ)  # bytecode caches as a user has them: the warm-up run writes them
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_PLUGINS", None)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_x.py", *extra],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"pytest failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return wall


def describe(name: str, walls: list[float]) -> str:
    return f"{name:<28} median {statistics.median(walls):.3f}s  min {min(walls):.3f}s  max {max(walls):.3f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--pairs", type=int, default=9, help="paired runs (at least 9)")
    args = parser.parse_args()
    pairs = max(9, min(args.pairs, 200))
    with tempfile.TemporaryDirectory(prefix="replyrace-autoload-") as tmp:
        project = Path(tmp)
        (project / "test_x.py").write_text(TEST, encoding="utf-8")
        (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        one(project)  # warm the file cache once for both
        one(project, "-p", "no:pytest_replyrace")
        with_plugin: list[float] = []
        without: list[float] = []
        for _ in range(pairs):
            with_plugin.append(one(project))
            without.append(one(project, "-p", "no:pytest_replyrace"))
    ratios = [a / b for a, b in zip(with_plugin, without)]
    print(describe("with the plugin (autoload)", with_plugin))
    print(describe("-p no:pytest_replyrace", without))
    print(f"median ratio of {pairs} pairs: {statistics.median(ratios):.2f} (target <= 1.15)")


if __name__ == "__main__":
    main()
