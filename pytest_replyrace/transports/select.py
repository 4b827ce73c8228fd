"""A built-in transport chosen by name: ``--replyrace-transport`` and the fields it needs, as plain values.

The concrete transports (and their HTTP and WebSocket clients) are imported only when one is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from ..errors import InvalidArgument

if TYPE_CHECKING:
    from .api_file import ApiSpec
    from .base import Transport

__all__ = ["ACP_BRIDGE", "TRANSPORTS", "TransportChoice", "TransportName", "acp_command"]

TransportName = Literal["http", "openclaw", "openai-chat", "openai-responses", "declared", "acp"]
TRANSPORTS: tuple[TransportName, ...] = get_args(TransportName)
ACP_BRIDGE = "{python} -m pytest_replyrace.transports.acp_bridge --port {port} -- "


def acp_command(command: str) -> str:
    """The gateway command that runs the ACP agent ``command`` behind the bridge that holds its stdin and stdout
    (``--replyrace-transport acp``; see :mod:`.acp_bridge`)."""
    return command if "acp_bridge" in command else ACP_BRIDGE + command


@dataclass(frozen=True)
class TransportChoice:
    """Which transport, and what it is given; :meth:`make` builds one for the gateway at a URL."""

    name: str
    path: str = "/chat.send"
    token: str | None = None
    """Sent by the HTTP transports when set; the openclaw transport's gateway token."""
    agent_wait: bool = False
    agent_wait_timeout: float = 30.0
    headers: Mapping[str, str] = field(default_factory=dict)
    model: str = "replyrace"
    stream: bool = False
    session_header: str | None = None
    session_field: str | None = None
    responses_chain: str = "previous"
    acp_permissions: str = "deny"
    """The acp transport's answer to the agent's permission requests."""
    api: ApiSpec | None = None
    """The declared transport's API file, read and checked."""
    api_model: str | None = None
    queue_mode: str | None = None
    """The openclaw transport's ``chat.send`` ``queueMode`` (unset: not sent)."""

    def make(self, url: str) -> Transport:
        if self.name == "http":
            from .http import HttpTransport

            return HttpTransport(url, path=self.path)
        if self.name == "openclaw":
            from .openclaw import OpenClawTransport

            return OpenClawTransport(
                url,
                token=self.token,
                agent_wait=self.agent_wait,
                agent_wait_timeout=self.agent_wait_timeout,
                queue_mode=self.queue_mode,
            )
        if self.name == "declared":
            from .declared import DeclaredTransport

            if self.api is None:
                raise InvalidArgument("transport declared: no API file was read (--replyrace-api)")
            return DeclaredTransport(url, api=self.api, token=self.token, model=self.api_model or self.model)
        if self.name == "acp":
            from .acp import AcpTransport

            return AcpTransport(url, permissions=self.acp_permissions)
        return self._openai(url)

    def _openai(self, url: str) -> Transport:
        from .openai import OpenAIChatTransport, OpenAIResponsesTransport

        common: dict[str, Any] = dict(
            path=self.path,
            headers=dict(self.headers),
            model=self.model,
            stream=self.stream,
            session_header=self.session_header,
            session_field=self.session_field,
            token=self.token,
        )
        if self.name == "openai-chat":
            return OpenAIChatTransport(url, **common)
        if self.name == "openai-responses":
            return OpenAIResponsesTransport(url, chain=self.responses_chain, **common)
        raise InvalidArgument(f"transport {self.name!r} is not known; expected one of {', '.join(TRANSPORTS)}")
