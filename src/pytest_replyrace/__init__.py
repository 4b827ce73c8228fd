"""pytest-replyrace: catch reply races in chat/LLM gateways across provider RTTs.

The library half (provider, launcher, transports, driver, verdict) needs no
pytest; :mod:`pytest_replyrace.plugin` holds the hooks and fixtures.
"""

from __future__ import annotations

# `-p pytest_replyrace` without the installed entry point imports this package:
# pull the real plugin module in from here.
pytest_plugins = ["pytest_replyrace.plugin"]

__version__ = "0.1.0"
