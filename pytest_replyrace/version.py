"""The one version source: the installed distribution's metadata (pyproject.toml's ``version``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("pytest-replyrace")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
