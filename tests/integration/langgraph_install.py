"""Install LangGraph's Agent Server (``langgraph dev``, in-memory runtime) and langchain-openai, pinned, from PyPI
into a cached virtualenv.

    python tests/integration/langgraph_install.py

Same cache and rules as :mod:`openclaw_install`: ``~/.cache/pytest-replyrace`` (env ``REPLYRACE_CACHE``), an
install counts once its marker file is written, and a file lock keeps two runs out of one folder.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

try:
    from .openclaw_install import Note, cache_root, pip_venv_install
except ImportError:  # run as a script
    from openclaw_install import Note, cache_root, pip_venv_install  # type: ignore[no-redef]

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

    return pip_venv_install(folder, what, PINS, binary, note)


if __name__ == "__main__":
    start = time.monotonic()
    path = ensure_langgraph(note=print)
    print(f"langgraph: {path} ({time.monotonic() - start:.1f} s)")
    sys.exit(0)
