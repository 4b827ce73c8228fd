"""Install LangGraph's Agent Server (``langgraph dev``, in-memory runtime) and langchain-openai, pinned, from PyPI
into a cached virtualenv.

    python tests/integration/langgraph_install.py

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

LANGGRAPH_CLI_VERSION = "0.4.40"
PINS = (
    f"langgraph-cli[inmem]=={LANGGRAPH_CLI_VERSION}",
    "langgraph-api==0.16.7",
    "langgraph-runtime-inmem==0.36.7",
    "langgraph==1.2.24",
    "langchain-openai==1.8.1",
)
"""The versions measured by hand (shared/research/gateways.md); the server's behaviour (409 on a busy thread
under ``reject``, the 0.5 s queue poll) is langgraph-api's, so it is pinned too."""


def ensure_langgraph(note: Note | None = None) -> Path:
    """The ``langgraph`` executable of the pinned Agent Server, in its own cached virtualenv."""
    folder = cache_root() / f"langgraph-cli-{LANGGRAPH_CLI_VERSION}"
    binary = folder / "bin" / "langgraph"
    what = " ".join(PINS)

    def install() -> None:
        venv.create(folder, with_pip=True, clear=True)
        pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        try:
            done = subprocess.run([*pip, *PINS], capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
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
    start = time.monotonic()
    path = ensure_langgraph(note=print)
    print(f"langgraph: {path} ({time.monotonic() - start:.1f} s)")
    sys.exit(0)
