"""Run a real OpenClaw gateway against the fake provider.

The profile writes a private config into the state dir (loopback bind, a fixed
token, the fake provider as an ``openai-completions`` provider, agents
``main`` and ``test``, browser and update checks off, the JSON log file in the
state dir), gives the process a private HOME/state/config environment, and
starts ``node openclaw.mjs gateway run --port {port}`` in the foreground.
OpenClaw itself is installed by the user (or the integration tests) from the
npm registry; nothing of it ships here.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument

# The provider APIs an OpenClaw config can name for its model (models.providers.<id>.api).
OPENCLAW_APIS = ("openai-completions", "anthropic-messages", "openai-responses", "ollama")
OPENCLAW_TOOL_PROFILES = ("minimal", "coding", "messaging", "full")
"""OpenClaw's ``tools.profile`` values: ``minimal`` offers ``session_status`` alone, local and read-only."""


__all__ = ["OPENCLAW_APIS", "OpenClawProfile", "find_openclaw_entry", "json_log_line", "warm_up"]

MODEL_ID = "fake-model"
PROVIDER_ID = "fake"
_INHERITED_TO_DROP = (
    "OPENCLAW_GATEWAY_TOKEN",
    "OPENCLAW_GATEWAY_PASSWORD",
    "OPENCLAW_CONFIG_PATH",
    "OPENCLAW_STATE_DIR",
    "OPENCLAW_HOME",
)


def find_openclaw_entry(path: str | Path) -> Path:
    """``openclaw.mjs`` from itself, the package folder, or a folder with node_modules/openclaw."""
    candidate = Path(path).expanduser()
    for entry in (candidate, candidate / "openclaw.mjs", candidate / "node_modules" / "openclaw" / "openclaw.mjs"):
        if entry.is_file() and entry.name == "openclaw.mjs":
            return entry.resolve()
    raise InvalidArgument(
        f"openclaw path {str(path)!r}: no openclaw.mjs there; expected the installed package folder "
        "(node_modules/openclaw), the folder that holds node_modules, or openclaw.mjs itself"
    )


def json_log_line(line: str) -> str:
    """The text of one line of OpenClaw's JSON log: the message is spread over keys "0", "1", ...

    A line transform for :class:`~pytest_replyrace.gateway.log.LogReader`, which streams the file (and
    hands over at most its first SCAN_BYTES per line); a line that is not a JSON record is kept as it is.
    """
    try:
        record: Any = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, cut short, or nested too deep
        return line
    if not isinstance(record, dict):
        return line
    parts = [record[k] for k in sorted((k for k in record if k.isdigit()), key=int)]
    level = (record.get("_meta") or {}).get("logLevelName", "") if isinstance(record.get("_meta"), dict) else ""
    text = " ".join(p if isinstance(p, str) else json.dumps(p) for p in parts)
    return f"{level} {text}".strip()


def provider_base_url(api: str, provider_url: str) -> str:
    """The ``baseUrl`` OpenClaw needs for ``api``: the OpenAI APIs take the ``/v1`` base URL; the Anthropic
    SDK and OpenClaw's Ollama client append their own ``/v1/messages`` and ``/api/chat`` to the server root."""
    if api in ("anthropic-messages", "ollama"):
        return provider_url.rstrip("/").removesuffix("/v1")
    return provider_url


@dataclass
class OpenClawProfile:
    openclaw: Path
    node: str = "node"
    token: str = "replyrace-token"
    agents: tuple[str, ...] = ("main", "test")
    extra_config: dict[str, Any] = field(default_factory=dict)
    http: bool = False
    """Also serve the OpenAI-compatible HTTP API (``/v1/chat/completions`` and ``/v1/responses``, off by
    default in OpenClaw), on the same port and bearer token as the WebSocket."""
    api: str = "openai-completions"
    """OpenClaw's provider ``api``: the provider API it calls the fake provider in."""
    tools: str | None = None
    """OpenClaw's ``tools.profile`` (the tools it offers the model); None keeps OpenClaw's own default."""

    def __post_init__(self) -> None:
        if self.api not in OPENCLAW_APIS:
            raise InvalidArgument(
                f"api {self.api!r}: not an OpenClaw provider api; expected one of {', '.join(OPENCLAW_APIS)}"
            )
        if self.tools is not None and self.tools not in OPENCLAW_TOOL_PROFILES:
            raise InvalidArgument(
                f"tools {self.tools!r}: not an OpenClaw tools profile; expected one of "
                f"{', '.join(OPENCLAW_TOOL_PROFILES)}"
            )
        self.openclaw = find_openclaw_entry(self.openclaw)
        resolved = shutil.which(self.node) if os.sep not in self.node else self.node
        if resolved is None or not Path(resolved).exists():
            raise InvalidArgument(
                f"node {self.node!r}: not found; expected a node executable (22.x for OpenClaw < 2026.9)"
            )
        self.node = str(resolved)

    def paths(self, state_dir: Path) -> dict[str, Path]:
        return {
            "home": state_dir / "home",
            "state": state_dir / "state",
            "config": state_dir / "state" / "openclaw.json",
            "log": state_dir / "logs" / "gateway.log",
        }

    def config(self, state_dir: Path, port: int | str, provider_url: str) -> dict[str, Any]:
        paths = self.paths(state_dir)
        config: dict[str, Any] = {
            "gateway": {
                "mode": "local",
                "bind": "loopback",
                "port": int(port),
                "auth": {"mode": "token", "token": self.token},
            },
            "models": {
                "mode": "merge",
                "providers": {
                    PROVIDER_ID: {
                        "baseUrl": provider_base_url(self.api, provider_url),
                        "apiKey": "sk-fake",
                        "api": self.api,
                        # Loopback is trusted by default on recent releases; say so explicitly for the others.
                        "request": {"allowPrivateNetwork": True},
                        "models": [
                            {
                                "id": MODEL_ID,
                                "name": "Fake Model",
                                "reasoning": False,
                                "input": ["text"],
                                "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                                "contextWindow": 128000,
                                "maxTokens": 4096,
                            }
                        ],
                    }
                },
            },
            "agents": {
                "defaults": {"model": {"primary": f"{PROVIDER_ID}/{MODEL_ID}"}},
                "list": [{"id": agent, **({"default": True} if i == 0 else {})} for i, agent in enumerate(self.agents)],
            },
            "logging": {"file": str(paths["log"])},
            "browser": {"enabled": False},
            "update": {"checkOnStart": False},
        }
        if self.tools is not None:
            config["tools"] = {"profile": self.tools}
        if self.http:
            config["gateway"]["http"] = {
                "endpoints": {"chatCompletions": {"enabled": True}, "responses": {"enabled": True}}
            }
        _merge(config, self.extra_config)
        return config

    def write_config(self, state_dir: Path, port: int | str, provider_url: str) -> Path:
        paths = self.paths(state_dir)
        for key in ("home", "state"):
            paths[key].mkdir(parents=True, exist_ok=True)
        paths["log"].parent.mkdir(parents=True, exist_ok=True)
        paths["config"].write_text(json.dumps(self.config(state_dir, port, provider_url), indent=2), encoding="utf-8")
        return paths["config"]

    def env(self, state_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str | None]:
        """The private environment; None removes an inherited variable."""
        paths = self.paths(state_dir)
        env: dict[str, str | None] = {key: None for key in _INHERITED_TO_DROP}
        env.update(
            {
                "HOME": str(paths["home"]),
                "OPENCLAW_HOME": str(paths["home"]),
                "OPENCLAW_STATE_DIR": str(paths["state"]),
                "OPENCLAW_CONFIG_PATH": str(paths["config"]),
                "OPENCLAW_DISABLE_BONJOUR": "1",
                "NO_COLOR": "1",
                "PATH": f"{Path(self.node).parent}{os.pathsep}{(base or os.environ).get('PATH', '')}",
            }
        )
        return env

    def command(self) -> list[str]:
        """A launcher template: ``{port}`` is filled in by the launcher."""
        return [self.node, str(self.openclaw), "gateway", "run", "--port", "{port}"]

    def log_files(self, state_dir: Path) -> list[Path]:
        return [self.paths(state_dir)["log"]]


async def warm_up(url: str, token: str, timeout: float = 120.0) -> str | None:
    """One turn on a throwaway session key, to absorb the slow first turn; returns its reply."""
    import secrets

    from ..transports.openclaw import OpenClawTransport

    transport = OpenClawTransport(url, token=token, handshake_timeout=timeout)
    try:
        await asyncio.wait_for(transport.open(), timeout)
        key = f"agent:test:warmup-{secrets.token_hex(4)}"
        reply = await asyncio.wait_for(transport.send(key, "warm-up: reply with ok", secrets.token_hex(16)), timeout)
        return reply.reply
    finally:
        await transport.close()


def _merge(into: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
