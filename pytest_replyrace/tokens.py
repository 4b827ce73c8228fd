"""Call tokens: how a reply is tied back to the call that asked for it.

Every driver message carries a unique token ``rr-<run>-<n>``. The fake provider
echoes the tokens it finds in the latest user turn, so a reply that carries a
token proves which call the model really answered.
"""

from __future__ import annotations

import re

from .errors import InvalidArgument

__all__ = [
    "TOKEN_RE",
    "call_number",
    "find_tokens",
    "looks_like_token",
    "make_token",
    "newest_token",
    "own_tokens",
    "quoted_tokens",
    "strip_quoted_replies",
    "validate_session_key",
]

# Lower-case run tag and a call number; nothing else in a prompt looks like it. The number ends where its
# digits do: OpenClaw glues steered answers together ("ECHO rr-x-1ECHO rr-x-2").
TOKEN_RE = re.compile(r"(?<![0-9a-z])rr-[0-9a-z]{4,16}-\d{1,6}(?!\d)")


QUOTED_REPLY_RE = re.compile(r"ECHO(?:\s+" + TOKEN_RE.pattern + r")+")
"""The fake provider's own reply quoted inside a message: ``ECHO`` and the tokens it echoed (any wrapping around
it, any role). OpenClaw glues steered answers together, so ``ECHO rr-x-1ECHO rr-x-2`` is two quotes."""


def strip_quoted_replies(text: str | None) -> str:
    """``text`` without the fake provider's replies quoted in it: ``For context: [responder] said: ECHO rr-k3q8-1``
    keeps ``For context: [responder] said: ``. The tokens inside a quote are the model's words, never the user's."""
    if not text:
        return ""
    return QUOTED_REPLY_RE.sub("", text)


def own_tokens(text: str | None) -> list[str]:
    """The tokens of ``text`` outside quoted replies (see :func:`strip_quoted_replies`), in order."""
    return find_tokens(strip_quoted_replies(text))


def quoted_tokens(text: str | None) -> list[str]:
    """The tokens inside the provider's replies quoted in ``text``, in order: whose reply a step quotes."""
    if not text:
        return []
    return find_tokens(" ".join(match.group(0) for match in QUOTED_REPLY_RE.finditer(text)))


def make_token(run_tag: str, index: int) -> str:
    """The token of call ``index`` (1-based) in the run tagged ``run_tag``."""
    token = f"rr-{run_tag}-{index}"
    if not TOKEN_RE.fullmatch(token):
        raise InvalidArgument(f"run tag {run_tag!r} gives an invalid token {token!r}")
    return token


def find_tokens(text: str | None) -> list[str]:
    """Every distinct token in ``text``, in order of first appearance."""
    if not text:
        return []
    seen: dict[str, None] = {}
    for match in TOKEN_RE.finditer(text):
        seen.setdefault(match.group(0), None)
    return list(seen)


def looks_like_token(text: str) -> bool:
    """True when ``text`` contains something a provider would echo as a token."""
    return TOKEN_RE.search(text) is not None


def call_number(token: str) -> int:
    """The call number ``n`` of a token ``rr-<run>-<n>``."""
    return int(token.rsplit("-", 1)[1])


def newest_token(tokens: list[str]) -> str | None:
    """The token of the latest call among ``tokens`` (the highest call number; the later one on a tie).

    A gateway that keeps a failed turn in its history re-sends that turn's token with the next call's:
    the request is the next call's, not the failed one's again.
    """
    return max(reversed(tokens), key=call_number) if tokens else None


def validate_session_key(key: object, where: str = "session_key") -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidArgument(f"{where}: {key!r} is not a session key; expected a non-empty string")
    if looks_like_token(key):
        # A gateway may copy the key into the prompt; the provider would echo it as a token.
        raise InvalidArgument(
            f"{where}: {key!r} looks like a call token (rr-<tag>-<n>); choose a key without that shape"
        )
    return key
