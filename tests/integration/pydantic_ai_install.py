"""Install Pydantic AI with its A2A bridge (fasta2a) and its AG-UI adapter, pinned, from PyPI into a cached
virtualenv.

    python tests/integration/pydantic_ai_install.py

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

PYDANTIC_AI_VERSION = "2.68.0"
PINS = (
    f"pydantic-ai-slim[openai,ag-ui]=={PYDANTIC_AI_VERSION}",
    "fasta2a==2.1.1",
    "uvicorn==0.54.0",
)
"""fasta2a serves A2A (``fasta2a.pydantic_ai.agent_to_a2a``), the ``ag-ui`` extra the AG-UI adapter."""


def ensure_pydantic_ai(note: Note | None = None) -> Path:
    """The ``python`` of the pinned Pydantic AI's cached virtualenv (its servers are scripts run by it)."""
    folder = cache_root() / f"pydantic-ai-{PYDANTIC_AI_VERSION}"
    return (
        pip_venv_install(folder, " ".join(PINS), PINS, folder / "bin" / "uvicorn", note) and folder / "bin" / "python"
    )


if __name__ == "__main__":
    start = time.monotonic()
    path = ensure_pydantic_ai(note=print)
    print(f"pydantic-ai: {path} ({time.monotonic() - start:.1f} s)")
    sys.exit(0)
