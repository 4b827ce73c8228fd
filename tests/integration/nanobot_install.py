"""Install a pinned nanobot-ai (with its ``api`` extra) from PyPI into a cached virtualenv.

    python tests/integration/nanobot_install.py 0.3.5

Same cache and rules as :mod:`openclaw_install`: ``~/.cache/pytest-replyrace`` (env ``REPLYRACE_CACHE``), an
install counts once its marker file is written, and a file lock keeps two runs out of one folder.
"""

from __future__ import annotations

import subprocess
import sys
import time
import venv
from pathlib import Path

try:
    from .openclaw_install import INSTALL_TIMEOUT, InstallError, Note, cache_root, cached_install
except ImportError:  # run as a script
    from openclaw_install import INSTALL_TIMEOUT, InstallError, Note, cache_root, cached_install  # type: ignore[no-redef]

NANOBOT_VERSION = "0.3.5"


def ensure_nanobot(version: str = NANOBOT_VERSION, note: Note | None = None) -> Path:
    """The ``nanobot`` executable of nanobot-ai[api]==<version> in its own cached virtualenv."""
    folder = cache_root() / f"nanobot-{version}"
    binary = folder / "bin" / "nanobot"
    what = f"nanobot-ai[api]=={version}"

    def install() -> None:
        venv.create(folder, with_pip=True, clear=True)
        pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        try:
            done = subprocess.run([*pip, what], capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise InstallError(f"pip install {what} took over {INSTALL_TIMEOUT}s") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise InstallError(f"pip install {what} failed (exit {done.returncode}):\n{tail}")
        if not binary.exists():
            raise InstallError(f"{what} installed but {binary} is missing")

    cached_install(folder, what, "PyPI", install, note)
    return binary


if __name__ == "__main__":
    for wanted in sys.argv[1:] or [NANOBOT_VERSION]:
        start = time.monotonic()
        path = ensure_nanobot(wanted, note=print)
        print(f"nanobot-ai[api]=={wanted}: {path} ({time.monotonic() - start:.1f} s)")
