"""The API files shipped in the package (``pytest_replyrace/transports/apis/NAME.toml``), by name.

Apart from :mod:`.api_file` so that the settings can name and check them without loading the parser.
"""

from __future__ import annotations

__all__ = ["BUILTIN_APIS", "builtin_text"]

BUILTIN_APIS = ("langgraph", "mastra", "a2a", "agui")
"""Usable by name with the ``declared`` transport (``--replyrace-api NAME``)."""


def builtin_text(name: str) -> str:
    """The text of the built-in API file ``name``."""
    from importlib import resources

    return resources.files("pytest_replyrace.transports").joinpath(f"apis/{name}.toml").read_text(encoding="utf-8")
