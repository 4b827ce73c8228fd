"""Install two ACP agents that take an OpenAI-compatible endpoint, pinned, into the cache: Qwen Code (npm, run by
Node 22: ``qwen --acp``) and deepagents-acp (PyPI, ``python -m deepagents_acp``, with langchain-openai for its
``openai:`` model).

    python tests/integration/acp_install.py

Same cache and rules as :mod:`openclaw_install`: ``~/.cache/pytest-replyrace`` (env ``REPLYRACE_CACHE``), an
install counts once its marker file is written, and a file lock keeps two runs out of one folder.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

try:
    from .openclaw_install import InstallError, Note, _npm, cache_root, cached_install, ensure_node, pip_venv_install
except ImportError:  # run as a script
    from openclaw_install import (  # type: ignore[no-redef]
        InstallError,
        Note,
        _npm,
        cache_root,
        cached_install,
        ensure_node,
        pip_venv_install,
    )

QWEN_CODE_VERSION = "0.24.4"
QWEN_NODE_MAJOR = 22
"""Qwen Code wants Node >= 22."""
DEEPAGENTS_ACP_VERSION = "0.0.13"
DEEPAGENTS_PINS = (f"deepagents-acp=={DEEPAGENTS_ACP_VERSION}", "deepagents==0.7.32", "langchain-openai==1.8.1")


def ensure_qwen_code(note: Note | None = None) -> tuple[Path, Path]:
    """``(cli.js, node)``: Qwen Code's entry and the Node 22 that runs it."""
    node = ensure_node(QWEN_NODE_MAJOR, note, say_cached=False)
    folder = cache_root() / f"qwen-code-{QWEN_CODE_VERSION}"
    entry = folder / "node_modules" / "@qwen-code" / "qwen-code" / "cli.js"
    what = f"@qwen-code/qwen-code@{QWEN_CODE_VERSION}"

    def install() -> None:
        _npm(
            ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(folder), what],
            cwd=folder,
            path_prefix=node.parent,
        )
        if not entry.exists():
            raise InstallError(f"{what} installed but {entry} is missing")

    cached_install(folder, what, "npm", install, note)
    return entry, node


def ensure_deepagents_acp(note: Note | None = None) -> Path:
    """The python of deepagents-acp's cached virtualenv (``python -m deepagents_acp`` serves ACP on stdio)."""
    folder = cache_root() / f"deepagents-acp-{DEEPAGENTS_ACP_VERSION}"
    pip_venv_install(folder, " ".join(DEEPAGENTS_PINS), DEEPAGENTS_PINS, folder / "bin" / "dotenv", note)
    return folder / "bin" / "python"


if __name__ == "__main__":
    for ensure in (ensure_qwen_code, ensure_deepagents_acp):
        start = time.monotonic()
        print(f"{ensure.__name__}: {ensure(note=print)} ({time.monotonic() - start:.1f} s)")
    sys.exit(0)
