"""Install a pinned nanobot-ai (with its ``api`` extra) from PyPI into a cached virtualenv.

    python tests/integration/nanobot_install.py 0.3.5

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

NANOBOT_VERSION = "0.3.5"


def ensure_nanobot(version: str = NANOBOT_VERSION, note: Note | None = None) -> Path:
    """The ``nanobot`` executable of nanobot-ai[api]==<version> in its own cached virtualenv."""
    folder = cache_root() / f"nanobot-{version}"
    binary = folder / "bin" / "nanobot"
    what = f"nanobot-ai[api]=={version}"

    return pip_venv_install(folder, what, [what], binary, note)


if __name__ == "__main__":
    for wanted in sys.argv[1:] or [NANOBOT_VERSION]:
        start = time.monotonic()
        path = ensure_nanobot(wanted, note=print)
        print(f"nanobot-ai[api]=={wanted}: {path} ({time.monotonic() - start:.1f} s)")
