"""One base for every exception pytest-replyrace raises, so ``except ReplyraceError`` catches ours
and never the gateway's behaviour."""

from __future__ import annotations

__all__ = ["FakeProviderError", "ReplyraceError"]


class ReplyraceError(Exception):
    """Base of every exception raised by pytest-replyrace."""


class FakeProviderError(ReplyraceError):
    """replyrace's own fake provider failed while serving a request: a bug of ours, not the gateway's race."""
