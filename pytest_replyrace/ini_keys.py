"""A misspelt ``replyrace_*`` key in the ini file, told at once as one usage error.

pytest only warns about an unknown ini key, after collection: without ``filterwarnings = error`` the key is
silently not read (and every race test skips, green); with it, the warning is an INTERNALERROR. The keys are
read here from the ini file pytest chose (``pytest.ini``, ``tox.ini``, ``setup.cfg``, ``pyproject.toml``).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Collection, Iterable
from pathlib import Path

__all__ = ["ini_keys", "misspelt_keys"]

PREFIX = "replyrace"
CLOSE = 0.8
"""How close (difflib's ratio) a key without our prefix must be to one of ours to count as a misspelling."""


def ini_keys(inipath: Path | None) -> list[str]:
    """The keys of pytest's section in ``inipath``; none when there is no file or it cannot be read (pytest
    itself reports a file it cannot parse)."""
    if inipath is None:
        return []
    try:
        text = inipath.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return []
    if inipath.suffix == ".toml":
        return _toml_keys(text)
    # pytest's own ini reader (a dependency of pytest, loaded already): the keys as pytest reads them.
    import iniconfig

    try:
        parsed = iniconfig.IniConfig(str(inipath), data=text)
    except iniconfig.ParseError:
        return []
    name = "tool:pytest" if inipath.name == "setup.cfg" else "pytest"
    return list(parsed[name]) if name in parsed else []


def _toml_keys(text: str) -> list[str]:
    # Imported here: pytest has loaded it already when it read a pyproject.toml, and no other run pays for it.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        tool = tomllib.loads(text).get("tool", {}).get("pytest", {})
    except ValueError:
        return []
    section = tool.get("ini_options", tool) if isinstance(tool, dict) else {}
    return [key for key in section if isinstance(key, str)] if isinstance(section, dict) else []


def misspelt_keys(keys: Iterable[str], known: Collection[str], where: str) -> str | None:
    """One message for the keys that look like ours but are not (``None`` when there are none): each key
    with the nearest known keys."""
    lines = []
    for key in keys:
        if key in known:
            continue
        near = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.6)
        if not key.lower().startswith(PREFIX) and not difflib.get_close_matches(key, list(known), n=1, cutoff=CLOSE):
            continue
        nearest = f"nearest known keys: {', '.join(near)}" if near else f"no {PREFIX}_ key is close to it"
        lines.append(f"{key!r}: {nearest}")
    if not lines:
        return None
    return (
        f"replyrace: unknown ini key in {where}: {'; '.join(lines)} (a misspelt key is not read; "
        f"`pytest --help` lists every {PREFIX}_ key)"
    )
