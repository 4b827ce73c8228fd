"""Every exception pytest-replyrace raises, in one place and under one base, so ``except ReplyraceError``
catches ours and never the gateway's behaviour. Each keeps the builtin it used to be (``ValueError`` for a
bad value, ``RuntimeError`` for a wrong state) so code written against the builtin still catches it."""

from __future__ import annotations

__all__ = [
    "ApiFileError",
    "BadRequest",
    "FakeProviderError",
    "GatewayStartError",
    "InvalidArgument",
    "MarkerError",
    "NotStarted",
    "RaceFailure",
    "ReplyraceError",
    "SettingsError",
    "TransportContractError",
    "TransportError",
    "UnknownName",
]


class ReplyraceError(Exception):
    """Base of every exception raised by pytest-replyrace."""


class InvalidArgument(ReplyraceError, ValueError):
    """A bad value given to one of our functions or classes; the message names it and what is accepted."""


class SettingsError(InvalidArgument):
    """A setting has a bad value; the message names the source."""


class MarkerError(InvalidArgument):
    """A marker has a bad argument."""


class ApiFileError(InvalidArgument):
    """The API file cannot be used: the message names the file, the key and what is accepted."""


class NotStarted(ReplyraceError, RuntimeError):
    """A part was used in a state that does not allow it: not started yet, or failed to start."""


class GatewayStartError(ReplyraceError, RuntimeError):
    """The gateway exited or did not become ready; the message quotes the command and log tail."""

    earlier: GatewayStartError | None = None
    """Set when the gateway was not started again because the same one failed before: that first failure."""


class FakeProviderError(ReplyraceError):
    """replyrace's own fake provider failed while serving a request: a bug of ours, not the gateway's race."""


class BadRequest(ReplyraceError):
    """A request the fake provider's API would refuse (always HTTP 400); answered, never raised to a test."""


class TransportError(ReplyraceError):
    """The exchange failed: refused, reset, bad status, not JSON, too large."""


class TransportContractError(ReplyraceError, TypeError):
    """A transport factory made something that does not follow the transport protocol."""


class UnknownName(ReplyraceError, AttributeError):
    """``pytest_replyrace.X`` for a name the package does not export."""


class RaceFailure(ReplyraceError, AssertionError):
    """A race assertion failed; the message carries the timeline."""

    def __init__(self, message: str, result: object = None, bad: frozenset[str] = frozenset()) -> None:
        super().__init__(message)
        self.result = result
        """The :class:`~pytest_replyrace.verdict.RaceResult` that failed (None: raised by hand)."""
        self.bad = bad
        """The letters it failed on: what a shrink looks for again."""
        self.explored = False
        """A shrink and a search already ran after it (and appended what they found)."""
