"""Every setting, its three spellings and one precedence.

Each setting is an ini key ``replyrace_<name>``, an environment variable
``REPLYRACE_<NAME>`` and an option ``--replyrace-<name>``; the precedence is
ini < environment < command line (< a marker, for the per-test ones). Every
value is validated where it is read, and an error names its source::

    --replyrace-gap: '-1' must be >= 0; expected a number of seconds or ...
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import ReplyraceError
from .command import PLACEHOLDERS, format_command
from .markers import parse_pause, parse_search_spec
from .readiness import ReadyCheck
from .units import format_duration, parse_duration
from .window import SearchSpec

__all__ = ["Option", "OPTIONS", "Settings", "SettingsError", "resolve", "TRANSPORTS", "parse_seed"]

TRANSPORTS = ("http", "openclaw")
GATEWAY_PROFILES = ("command", "openclaw")
OPENCLAW_APIS = ("openai-completions", "anthropic-messages", "openai-responses", "ollama")


class SettingsError(ReplyraceError, ValueError):
    """A setting has a bad value; the message names the source."""


def _text(raw: str, where: str) -> str:
    return raw


def _command(raw: str, where: str) -> str:
    # Checked where it is read (quotes, placeholders) rather than when the first test launches it.
    try:
        format_command(raw, {name: name for name in PLACEHOLDERS})
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return raw


def _duration(allow_zero: bool) -> Callable[[str, str], float]:
    def parse(raw: str, where: str) -> float:
        return parse_duration(raw, what=where, allow_zero=allow_zero)

    return parse


def _int_range(lo: int, hi: int) -> Callable[[str, str], int]:
    def parse(raw: str, where: str) -> int:
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise ValueError(f"{where}: {raw!r} is not an integer; expected an integer from {lo} to {hi}") from None
        if not lo <= value <= hi:
            raise ValueError(f"{where}: {raw!r} is out of range; expected an integer from {lo} to {hi}")
        return value

    return parse


def _fraction(raw: str, where: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{where}: {raw!r} is not a number; expected a fraction from 0 to below 1") from None
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{where}: {raw!r} is out of range; expected a fraction from 0 to below 1")
    return value


def _ready(raw: str, where: str) -> ReadyCheck:
    return ReadyCheck.parse(raw, source=where)


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(raw: str, where: str) -> str:
        value = raw.strip()
        if value not in choices:
            raise ValueError(f"{where}: {raw!r} is not accepted; expected one of {', '.join(choices)}")
        return value

    return parse


def _flag(raw: str, where: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{where}: {raw!r} is not a switch; expected on/off, true/false, yes/no or 1/0")


def _pause(raw: str, where: str) -> tuple[float, float] | None:
    return parse_pause(raw, where)


def _search(raw: str, where: str) -> SearchSpec:
    return parse_search_spec(raw, where)


def _url(raw: str, where: str) -> str:
    value = raw.strip()
    expected = "expected http://HOST:PORT (a loopback gateway)"
    if not value.startswith(("http://", "https://", "ws://", "wss://")):
        raise ValueError(f"{where}: {raw!r} is not a URL; {expected}")
    try:
        parts = urlsplit(value)
        port = parts.port  # ValueError unless a number from 0 to 65535
    except ValueError as exc:
        raise ValueError(f"{where}: {raw!r} is not a URL ({exc}); {expected}") from None
    if not parts.hostname:
        raise ValueError(f"{where}: {raw!r} has no host; {expected}")
    if port == 0:
        raise ValueError(f"{where}: {raw!r} has port 0; {expected}")
    return value.rstrip("/")


def _path(raw: str, where: str) -> str:
    value = raw.strip()
    if not value.startswith("/"):
        raise ValueError(f"{where}: {raw!r} is not a path; expected one that starts with '/', such as /chat.send")
    return value


def parse_seed(raw: str, where: str) -> int | str:
    value = str(raw).strip()
    if value == "last":
        return "last"
    try:
        seed = int(value)
    except ValueError:
        raise ValueError(f"{where}: {raw!r} is not a seed; expected an integer >= 0 or 'last'") from None
    if seed < 0:
        raise ValueError(f"{where}: {raw!r} is not a seed; expected an integer >= 0 or 'last'")
    return seed


@dataclass(frozen=True)
class Option:
    name: str
    help: str
    parse: Callable[[str, str], Any]
    default: Any = None
    metavar: str = "VALUE"

    @property
    def ini(self) -> str:
        return f"replyrace_{self.name}"

    @property
    def env(self) -> str:
        return f"REPLYRACE_{self.name.upper()}"

    @property
    def flag(self) -> str:
        return "--replyrace-" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        return f"replyrace_{self.name}"


OPTIONS: tuple[Option, ...] = (
    Option("gateway_cmd", "command that starts the gateway under test; placeholders {port}, {provider_url}, "
           "{state_dir}, {python}", _command, None, "CMD"),
    Option("gateway_url", "attach to a running gateway at this URL instead of launching one", _url, None, "URL"),
    Option("ready", "readiness check: tcp, http:/PATH (2xx) or log:REGEX (default http:/readyz)", _ready,
           ReadyCheck.parse("http:/readyz"), "CHECK"),
    Option("ready_timeout", "seconds to wait for readiness (default 60)", _duration(False), 60.0, "SECONDS"),
    Option("stop_grace", "seconds between SIGTERM and SIGKILL when stopping the gateway (default 5)",
           _duration(True), 5.0, "SECONDS"),
    Option("restart", "when the launched gateway dies or stops answering its readiness check: on-crash (the test "
           "that saw it errors, the next test gets a fresh one) or never (later tests error too); default on-crash",
           _choice(("on-crash", "never")), "on-crash", "on-crash|never"),
    Option("gateway", "gateway profile: command (launch replyrace_gateway_cmd) or openclaw (a real OpenClaw "
           "from --replyrace-openclaw)", _choice(GATEWAY_PROFILES), "command", "PROFILE"),
    Option("openclaw", "openclaw profile: the installed openclaw package folder (node_modules/openclaw) or "
           "openclaw.mjs", _text, None, "PATH"),
    Option("node", "openclaw profile: the node executable (default node on PATH)", _text, "node", "PATH"),
    Option("openclaw_api", "openclaw profile: the provider API OpenClaw calls the fake provider in: "
           + ", ".join(OPENCLAW_APIS) + " (default openai-completions)", _choice(OPENCLAW_APIS),
           "openai-completions", "API"),
    Option("transport", "how to talk to the gateway: " + ", ".join(TRANSPORTS) + " (default http)",
           _choice(TRANSPORTS), "http", "NAME"),
    Option("token", "gateway auth token for the openclaw transport (default replyrace-token)", _text,
           "replyrace-token", "TOKEN"),
    Option("agent_wait", "openclaw transport: call agent.wait after each final before the gap (default off: "
           "it hides the race)", _flag, False, "on|off"),
    Option("http_path", "path of the send endpoint for the http transport (default /chat.send)", _path,
           "/chat.send", "PATH"),
    Option("calls", "sequential calls per run (default 10)", _int_range(1, 10_000), 10, "N"),
    Option("force_calls", "sequential calls per run that beat markers too (to replay a shrunk failure)",
           _int_range(1, 10_000), None, "N"),
    Option("shrink", "seconds a failing race assertion may spend finding the fewest calls that still fail "
           "(default 30; 0 turns shrinking off)", _duration(True), 30.0, "SECONDS"),
    Option("parallel", "grid points that sequential_sender.grid()/search() probe at the same time, on separate "
           "session keys against one gateway (default 1; unsafe for gateways with a global lock)",
           _int_range(1, 64), 1, "N"),
    Option("search", "window search for every race test: sequential_sender.search() defaults, and a failing race "
           "assertion appends the window around it; rtt=LO:HI,gap=LO[:HI][,gaps=N][,budget=SECONDS][,calls=N]",
           _search, None, "SPEC"),
    Option("gap", "pause after each reply before the next send (default 0: send at once)", _duration(True), 0.0,
           "SECONDS"),
    Option("pause", "process-pause nemesis AFTER:LENGTH: SIGSTOP the launched gateway for LENGTH, AFTER after each "
           "reply (e.g. 20ms:1.5s)", _pause, None, "AFTER:LENGTH"),
    Option("settle", "seconds to wait after a run's last call for late log lines and late replies, which still "
           "belong to the run (default 0.5; 0 turns it off)", _duration(True), 0.5, "SECONDS"),
    Option("call_timeout", "seconds to wait for one reply before it counts as lost (default 30)",
           _duration(False), 30.0, "SECONDS"),
    Option("rtt", "provider RTT for tests without an rtt_range marker (default 50ms)", _duration(True), 0.05,
           "SECONDS"),
    Option("jitter", "provider RTT jitter fraction for tests without an rtt_range marker (default 0)", _fraction,
           0.0, "FRACTION"),
    Option("seed", "seed for tokens, session keys and jitter: an integer, or 'last' for the previous run's",
           parse_seed, None, "SEED"),
    Option("report", "write a JSON history of every race test to PATH", _text, None, "PATH"),
    Option("html", "write a self-contained HTML report (timelines, pattern heatmap) to PATH", _text, None, "PATH"),
)
OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """The resolved settings, one typed attribute per option (see :data:`OPTIONS`)."""

    gateway_cmd: str | None = None
    gateway_url: str | None = None
    ready: ReadyCheck = ReadyCheck("http", "/readyz")
    ready_timeout: float = 60.0
    stop_grace: float = 5.0
    restart: str = "on-crash"
    gateway: str = "command"
    openclaw: str | None = None
    node: str = "node"
    openclaw_api: str = "openai-completions"
    transport: str = "http"
    token: str = "replyrace-token"
    agent_wait: bool = False
    http_path: str = "/chat.send"
    calls: int = 10
    force_calls: int | None = None
    shrink: float = 30.0
    parallel: int = 1
    search: SearchSpec | None = None
    gap: float = 0.0
    pause: tuple[float, float] | None = None
    settle: float = 0.5
    call_timeout: float = 30.0
    rtt: float = 0.05
    jitter: float = 0.0
    seed: int | str | None = None
    report: str | None = None
    html: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where each value that is not a default came from (``--replyrace-gap``, ``env REPLYRACE_GAP``, ...)."""

    @property
    def values(self) -> dict[str, Any]:
        """Every option's value by name."""
        return {option.name: getattr(self, option.name) for option in OPTIONS}

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")

    def describe(self, name: str) -> str:
        value = getattr(self, name)
        if isinstance(value, float) and name not in ("jitter",):
            return format_duration(value)
        if isinstance(value, (ReadyCheck, SearchSpec)):
            return value.text if isinstance(value, ReadyCheck) else value.text()
        return str(value)


def resolve(
    ini: Callable[[str], Any],
    cli: Callable[[str], Any],
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every option: ini < environment < command line.

    ``ini(key)`` and ``cli(dest)`` return the raw value or a falsy one when
    unset. Raises :class:`SettingsError` naming the source of a bad value.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in OPTIONS:
        candidates = [
            (f"--{option.flag.lstrip('-')}", cli(option.dest)),
            (f"env {option.env}", env.get(option.env)),
            (f"ini {option.ini}", ini(option.ini)),
        ]
        for where, raw in candidates:
            if raw is None or (isinstance(raw, str) and raw.strip() == ""):
                continue
            try:
                values[option.name] = option.parse(str(raw), where)
            except ValueError as exc:
                message = str(exc)
                raise SettingsError(message if message.startswith(where) else f"{where}: {message}") from None
            sources[option.name] = where
            break
        else:
            values[option.name] = option.default
    if values["gateway"] == "openclaw" and "transport" not in sources:
        values["transport"] = "openclaw"  # the profile's natural transport, unless one was chosen
    return Settings(**values, sources=sources)
