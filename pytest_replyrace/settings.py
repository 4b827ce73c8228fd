"""Every setting, its three spellings and one precedence.

Each setting is an ini key ``replyrace_<name>``, an environment variable
``REPLYRACE_<NAME>`` and an option ``--replyrace-<name>``; the precedence is
ini < environment < command line (< a marker, for the per-test ones). Every
value is validated where it is read, and an error names its source::

    --replyrace-gap: '-1' must be >= 0; expected a number of seconds or ...
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import ApiFileError, InvalidArgument, SettingsError
from .gateway.command import PLACEHOLDERS, format_command
from .gateway.openclaw import OPENCLAW_APIS, OPENCLAW_TOOL_PROFILES
from .gateway.readiness import ReadyCheck
from .loopback import is_loopback_host
from .provider.model import MAX_PIECES, MAX_TOOL_CALLS, MAX_WORDS, ModelSpec, parse_arguments, parse_tool
from .spec import (
    BUSY_POLICIES,
    CALLS_MAX,
    CALLS_MIN,
    CHECKS,
    DEFAULTS,
    DISCONNECT_POLICIES,
    HISTORY_MODES,
    SEND_ANCHORS,
    STOP_ANCHORS,
    STOP_BY,
    BusyPolicy,
    DisconnectPolicy,
    HistoryMode,
    RunSpec,
    SendAt,
    StopAt,
    StopBy,
)
from .transports.builtin_apis import BUILTIN_APIS, builtin_text
from .transports.select import TRANSPORTS, TransportName
from .units import DURATION_HELP, MAX_DURATION, MAX_GRACE, format_duration, parse_duration, parse_signed_duration

if TYPE_CHECKING:
    from .spec import SearchSpec
    from .transports.api_file import ApiSpec

__all__ = [
    "OPTIONS",
    "TRANSPORTS",
    "Option",
    "Settings",
    "SettingsError",
    "api_model",
    "load_api",
    "parse_seed",
    "resolve",
    "transport_token",
]

RUN = DEFAULTS
"""The run parameters' one set of defaults, which the options below take."""
ACP_PERMISSIONS = ("deny", "allow")
DEFAULT_HTTP_PATHS = {"openai-chat": "/v1/chat/completions", "openai-responses": "/v1/responses"}
"""The send path of each transport that has one, unless --replyrace-http-path says otherwise."""
RESPONSES_CHAINS = ("previous", "conversation", "header")
GATEWAY_PROFILES = ("command", "openclaw")


def _text(raw: str, where: str) -> str:
    return raw


def _command(raw: str, where: str) -> str:
    # Checked where it is read (quotes, placeholders) rather than when the first test launches it.
    try:
        format_command(raw, {name: name for name in PLACEHOLDERS})
    except ValueError as exc:
        raise InvalidArgument(f"{where}: {exc}") from None
    return raw


def _duration(allow_zero: bool, limit: float = MAX_DURATION) -> Callable[[str, str], float]:
    def parse(raw: str, where: str) -> float:
        return parse_duration(raw, what=where, allow_zero=allow_zero, limit=limit)

    return parse


def _int_range(lo: int, hi: int) -> Callable[[str, str], int]:
    def parse(raw: str, where: str) -> int:
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise InvalidArgument(
                f"{where}: {raw!r} is not an integer; expected an integer from {lo} to {hi}"
            ) from None
        if not lo <= value <= hi:
            raise InvalidArgument(f"{where}: {raw!r} is out of range; expected an integer from {lo} to {hi}")
        return value

    return parse


def _fraction(raw: str, where: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidArgument(f"{where}: {raw!r} is not a number; expected a fraction from 0 to below 1") from None
    if not 0.0 <= value < 1.0:
        raise InvalidArgument(f"{where}: {raw!r} is out of range; expected a fraction from 0 to below 1")
    return value


def _ready(raw: str, where: str) -> ReadyCheck:
    return ReadyCheck.parse(raw, source=where)


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(raw: str, where: str) -> str:
        value = raw.strip()
        if value not in choices:
            raise InvalidArgument(f"{where}: {raw!r} is not accepted; expected one of {', '.join(choices)}")
        return value

    return parse


def _flag(raw: str, where: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise InvalidArgument(f"{where}: {raw!r} is not a switch; expected on/off, true/false, yes/no or 1/0")


def _signed_duration(raw: str, where: str) -> float:
    return parse_signed_duration(raw, what=where)


def _knob(name: str) -> Callable[[str, str], Any]:
    """A run parameter's option: the spec's own check (comma lists for a per-call schedule), naming the source."""

    def parse(raw: str, where: str) -> Any:
        return CHECKS[name](raw.strip(), where)

    return parse


def _signed_schedule(name: str) -> Callable[[str, str], Any]:
    """A gap (or stop gap) or a comma list of them, each may be negative (checked against its anchor later)."""

    def parse(raw: str, where: str) -> Any:
        items = [part.strip() for part in raw.split(",")]
        if not all(items):
            raise InvalidArgument(f"{where}: {raw!r} is not a {name}; expected a duration or a comma list, e.g. 1,0")
        values = tuple(parse_signed_duration(item, what=where) for item in items)
        return values[0] if len(values) == 1 else values

    return parse


def _negative(value: Any) -> bool:
    return any(v < 0 for v in (value if isinstance(value, tuple) else (value,)))


def _served_only(value: Any) -> bool:
    return all(v == "served" for v in (value if isinstance(value, tuple) else (value,)))


def _queue_mode(raw: str, where: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,39}", value):
        raise InvalidArgument(
            f"{where}: {raw!r} is not a queue mode; expected a name such as steer, followup or collect"
        )
    return value


def _message(raw: str, where: str) -> str:
    if not raw.strip():
        raise InvalidArgument(f"{where}: an empty message; expected text such as /new or hello")
    return raw.strip()


def _json_object(raw: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(
            f"{where}: {raw[:80]!r} is not JSON ({exc}); expected a JSON object such as "
            '\'{"agents": {"defaults": {"timeoutSeconds": 60}}}\''
        ) from None
    if not isinstance(value, dict):
        raise InvalidArgument(
            f"{where}: {raw[:80]!r} is not a JSON object; expected a JSON object such as "
            '\'{"messages": {"queue": {"mode": "steer"}}}\''
        )
    return value


def _tool_name(raw: str, where: str) -> str | None:
    try:
        return parse_tool(raw)
    except ValueError:
        raise InvalidArgument(
            f"{where}: {raw!r} is not a tool name; expected a name without spaces, such as session_status"
        ) from None


def _tool_arguments(raw: str, where: str) -> str:
    try:
        return parse_arguments(raw)
    except ValueError:
        raise InvalidArgument(
            f"{where}: {raw[:80]!r} is not a JSON object; expected the text of one, such as '{{}}' "
            'or \'{"zone": "UTC"}\''
        ) from None


def _pause(raw: str, where: str) -> tuple[float, float] | None:
    from .markers import parse_pause  # read only when the option is given

    return parse_pause(raw, where)


def _search(raw: str, where: str) -> SearchSpec:
    from .markers import parse_search_spec  # read only when the option is given

    return parse_search_spec(raw, where)


def _url(raw: str, where: str) -> str:
    value = raw.strip()
    expected = "expected http://HOST:PORT (a loopback gateway)"
    if not value.startswith(("http://", "https://", "ws://", "wss://")):
        raise InvalidArgument(f"{where}: {raw!r} is not a URL; {expected}")
    try:
        parts = urlsplit(value)
        port = parts.port  # ValueError unless a number from 0 to 65535
    except ValueError as exc:
        raise InvalidArgument(f"{where}: {raw!r} is not a URL ({exc}); {expected}") from None
    if not parts.hostname:
        raise InvalidArgument(f"{where}: {raw!r} has no host; {expected}")
    if port == 0:
        raise InvalidArgument(f"{where}: {raw!r} has port 0; {expected}")
    return value.rstrip("/")


def _api(raw: str, where: str) -> str:
    value = raw.strip()
    if value not in BUILTIN_APIS and not value.lower().endswith(".toml"):
        raise InvalidArgument(
            f"{where}: {raw!r} is neither a built-in API nor a .toml file; expected one of "
            f"{', '.join(BUILTIN_APIS)}, or a path to a .toml file (relative to the rootdir)"
        )
    return value


def _check_remote(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """A gateway off this machine only when asked for: it cannot reach the fake provider without a tunnel."""
    url = values["gateway_url"]
    if not url or values["allow_remote"] or is_loopback_host(urlsplit(url).hostname or ""):
        return
    allow = OPTIONS_BY_NAME["allow_remote"]
    raise SettingsError(
        f"{sources['gateway_url']}: {url!r} is not a loopback address; expected 127.0.0.0/8, ::1 or localhost. "
        "The fake provider stays on 127.0.0.1, so a remote gateway needs a tunnel to reach it (e.g. ssh -R "
        f"PORT:127.0.0.1:PORT); to attach anyway, set {allow.flag} (env {allow.env}=on, ini {allow.ini} = on)"
    )


def _path(raw: str, where: str) -> str:
    value = raw.strip()
    if not value.startswith("/"):
        raise InvalidArgument(f"{where}: {raw!r} is not a path; expected one that starts with '/', such as /chat.send")
    return value


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _header_name(raw: str, where: str) -> str:
    value = raw.strip()
    if not _HEADER_NAME.fullmatch(value):
        raise InvalidArgument(
            f"{where}: {raw!r} is not a header name; expected letters, digits and '-', such as x-session-id"
        )
    return value


def _field_name(raw: str, where: str) -> str:
    value = raw.strip()
    if not value or any(c.isspace() for c in value):
        raise InvalidArgument(
            f"{where}: {raw!r} is not a field name; expected a JSON key without spaces, such as session_id or user"
        )
    return value


def _header_line(raw: str, where: str) -> tuple[str, str]:
    name, colon, value = raw.partition(":")
    if not colon or not _HEADER_NAME.fullmatch(name.strip()):
        raise InvalidArgument(f"{where}: {raw!r} is not a header; expected 'Name: value', such as 'X-Team: qa'")
    return name.strip(), value.strip()


def _gateway_file(raw: str, where: str) -> tuple[str, str]:
    dest, equals, template = raw.partition("=")
    dest, template = dest.strip(), template.strip()
    expected = "expected DEST = TEMPLATE, DEST a relative path inside the state dir, such as config.json = gw.json"
    if not equals or not dest or not template:
        raise InvalidArgument(f"{where}: {raw!r} is not a gateway file; {expected}")
    if PurePosixPath(dest).is_absolute() or ".." in PurePosixPath(dest).parts:
        raise InvalidArgument(f"{where}: {raw!r} writes outside the state dir; {expected}")
    return dest, template


def parse_seed(raw: str, where: str) -> int | str:
    value = str(raw).strip()
    if value == "last":
        return "last"
    try:
        seed = int(value)
    except ValueError:
        raise InvalidArgument(f"{where}: {raw!r} is not a seed; expected an integer >= 0 or 'last'") from None
    if seed < 0:
        raise InvalidArgument(f"{where}: {raw!r} is not a seed; expected an integer >= 0 or 'last'")
    return seed


@dataclass(frozen=True)
class Option:
    name: str
    help: str
    parse: Callable[[str, str], Any]
    default: Any = None
    metavar: str = "VALUE"
    repeat: bool = False
    """A list: the name is plural (ini ``replyrace_headers``, one per line; env ``REPLYRACE_HEADERS``, one per
    line), the flag singular and repeatable (``--replyrace-header``); ``parse`` reads one item."""
    singular: str | None = None
    """The flag's name for a list whose name is not a plural in -s (``preamble``)."""
    knob: str | None = None
    """The run parameter (a :class:`~pytest_replyrace.spec.RunSpec` field) this option sets, if any."""

    @property
    def ini(self) -> str:
        return f"replyrace_{self.name}"

    @property
    def env(self) -> str:
        return f"REPLYRACE_{self.name.upper()}"

    @property
    def flag(self) -> str:
        one = self.singular or (self.name[:-1] if self.repeat else self.name)
        return "--replyrace-" + one.replace("_", "-")

    @property
    def dest(self) -> str:
        return f"replyrace_{self.name}"

    @property
    def switch(self) -> bool:
        """An on/off setting: the bare flag means on."""
        return self.parse is _flag


OPTIONS: tuple[Option, ...] = (
    Option(
        "gateway_cmd",
        "command that starts the gateway under test; placeholders {port}, {provider_url}, {state_dir}, {python}",
        _command,
        None,
        "CMD",
    ),
    Option("gateway_url", "attach to a running gateway at this URL instead of launching one", _url, None, "URL"),
    Option(
        "allow_remote",
        "accept a gateway_url whose host is not loopback (127.0.0.0/8, ::1, localhost); the fake "
        "provider stays on 127.0.0.1, so such a gateway needs a tunnel to reach it (default off)",
        _flag,
        False,
        "on|off",
    ),
    Option(
        "ready",
        "readiness check: tcp, http:/PATH (2xx) or log:REGEX (default http:/readyz)",
        _ready,
        ReadyCheck.parse("http:/readyz"),
        "CHECK",
    ),
    Option("ready_timeout", "seconds to wait for readiness (default 60)", _duration(False), 60.0, "SECONDS"),
    Option(
        "stop_grace",
        "seconds between SIGTERM and SIGKILL when stopping the gateway (default 5, at most 10 min)",
        _duration(True, MAX_GRACE),
        5.0,
        "SECONDS",
    ),
    Option(
        "restart",
        "when the launched gateway dies or stops answering its readiness check: on-crash (the test "
        "that saw it errors, the next test gets a fresh one) or never (later tests error too); default on-crash",
        _choice(("on-crash", "never")),
        "on-crash",
        "on-crash|never",
    ),
    Option(
        "gateway",
        "gateway profile: command (launch replyrace_gateway_cmd) or openclaw (a real OpenClaw "
        "from --replyrace-openclaw)",
        _choice(GATEWAY_PROFILES),
        "command",
        "PROFILE",
    ),
    Option(
        "openclaw",
        "openclaw profile: the installed openclaw package folder (node_modules/openclaw) or openclaw.mjs",
        _text,
        None,
        "PATH",
    ),
    Option(
        "openclaw_http",
        "openclaw profile: also enable its OpenAI-compatible HTTP API (gateway.http.endpoints"
        ".chatCompletions and .responses), for --replyrace-transport openai-chat/openai-responses (default off)",
        _flag,
        False,
        "on|off",
    ),
    Option("node", "openclaw profile: the node executable (default node on PATH)", _text, "node", "PATH"),
    Option(
        "openclaw_api",
        "openclaw profile: the provider API OpenClaw calls the fake provider in: "
        + ", ".join(OPENCLAW_APIS)
        + " (default openai-completions)",
        _choice(OPENCLAW_APIS),
        "openai-completions",
        "API",
    ),
    Option(
        "openclaw_tools",
        "openclaw profile: OpenClaw's tools.profile, the tools it offers the model: minimal "
        "(session_status alone), coding, messaging or full (default: OpenClaw's own)",
        _choice(OPENCLAW_TOOL_PROFILES),
        None,
        "|".join(OPENCLAW_TOOL_PROFILES),
    ),
    Option(
        "transport",
        "how to talk to the gateway: " + ", ".join(TRANSPORTS) + " (default http)",
        _choice(TRANSPORTS),
        "http",
        "NAME",
    ),
    Option(
        "api",
        "declared transport: the API file describing the gateway's HTTP API (TOML, see "
        "docs/10-any-http-gateway.md), a path relative to the rootdir or a built-in: "
        + ", ".join(BUILTIN_APIS)
        + "; setting it chooses --replyrace-transport declared",
        _api,
        None,
        "FILE",
    ),
    Option(
        "token",
        "gateway auth token for the openclaw transport (default replyrace-token); the openai "
        "transports send it as 'Authorization: Bearer TOKEN' when it is set (or the openclaw profile runs)",
        _text,
        "replyrace-token",
        "TOKEN",
    ),
    Option(
        "session_header",
        "openai transports: send the session key as this header's value (e.g. x-openclaw-session-key)",
        _header_name,
        None,
        "NAME",
    ),
    Option(
        "session_field",
        "openai transports: send the session key as this top-level body field (e.g. session_id or user)",
        _field_name,
        None,
        "NAME",
    ),
    Option(
        "model", "openai transports: the model field of each request (default replyrace)", _text, "replyrace", "MODEL"
    ),
    Option(
        "stream",
        "openai transports: ask for an SSE stream and read it to its end (default off)",
        _flag,
        False,
        "on|off",
    ),
    Option(
        "headers",
        "openai transports: an extra request header 'Name: value' (repeatable; ini replyrace_headers, one per line)",
        _header_line,
        (),
        "'NAME: VALUE'",
        repeat=True,
    ),
    Option(
        "responses_chain",
        "openai-responses transport: how turns are chained: previous (previous_response_id "
        "of the run's last response), conversation (the session key as 'conversation') or header (only the "
        "session header/field); default previous",
        _choice(RESPONSES_CHAINS),
        "previous",
        "previous|conversation|header",
    ),
    Option(
        "acp_permissions",
        "acp transport: how the agent's permission requests are answered: deny (the default) or allow (file and "
        "terminal requests are answered 'not supported' either way)",
        _choice(ACP_PERMISSIONS),
        "deny",
        "deny|allow",
    ),
    Option(
        "history",
        "conversation check on the history the provider was given: off, no-duplicates (a turn "
        "twice or out of order is h) or exact (also a missing earlier real turn); default no-duplicates",
        _choice(HISTORY_MODES),
        RUN.history,
        "|".join(HISTORY_MODES),
        knob="history",
    ),
    Option(
        "gateway_files",
        "copy a config template to the gateway's state dir before each launch: 'DEST = "
        "TEMPLATE' with {port}, {provider_url}, {state_dir}, {python} filled in (repeatable; ini "
        "replyrace_gateway_files, one per line)",
        _gateway_file,
        (),
        "DEST=TEMPLATE",
        repeat=True,
    ),
    Option(
        "agent_wait",
        "openclaw transport: call agent.wait after each final before the gap (default off: it hides the race)",
        _flag,
        False,
        "on|off",
    ),
    Option(
        "openclaw_config",
        "openclaw profile: a JSON object deep-merged into the config it writes (e.g. "
        '\'{"messages": {"queue": {"mode": "steer"}}}\')',
        _json_object,
        None,
        "JSON",
    ),
    Option(
        "send_at",
        "when the next message goes out, gap after it: end (the previous answer ended; default), "
        "text (its reply text was complete), first (its first event arrived), request (the fake provider "
        "received its request) or served (the provider finished serving it; gap may be negative)",
        _knob("send_at"),
        RUN.send_at,
        "|".join(SEND_ANCHORS) + "[,...]",
        knob="send_at",
    ),
    Option(
        "stop_at",
        "when the client stops a stopped call, stop_gap after it: none (default), sent, first, request, served, "
        "text or end of that call; a comma list is applied to the stopped calls in turn",
        _knob("stop_at"),
        RUN.stop_at,
        "|".join(STOP_ANCHORS) + "[,...]",
        knob="stop_at",
    ),
    Option(
        "stop_gap",
        "seconds after the stop anchor (default 0; negative only with stop_at served); a comma list per stopped call",
        _signed_schedule("stop gap"),
        RUN.stop_gap,
        "SECONDS[,...]",
        knob="stop_gap",
    ),
    Option(
        "stop_calls",
        "which calls the client stops: odd (default), even, all, last, or call numbers such as 1,4",
        _knob("stop_calls"),
        RUN.stop_calls,
        "odd|even|all|last|N,...",
        knob="stop_calls",
    ),
    Option(
        "stop_by",
        "how the client stops: cancel (the transport's stop call; default) or disconnect (it closes that "
        "answer's connection)",
        _choice(STOP_BY),
        RUN.stop_by,
        "|".join(STOP_BY),
        knob="stop_by",
    ),
    Option(
        "disconnect_policy",
        "what the gateway promises when a client goes away mid-answer: continue (the turn runs on and is "
        "stored), cancel (as a stop) or any (default)",
        _choice(DISCONNECT_POLICIES),
        RUN.disconnect_policy,
        "|".join(DISCONNECT_POLICIES),
        knob="disconnect_policy",
    ),
    Option(
        "close_within",
        "seconds after the stop's answer the model call of a stopped turn may stay open (default 2)",
        _duration(False),
        RUN.close_within,
        "SECONDS",
        knob="close_within",
    ),
    Option(
        "openclaw_queue_mode",
        "openclaw transport: chat.send's own queueMode (steer, followup, collect, ...); unset by default",
        _queue_mode,
        None,
        "MODE",
    ),
    Option(
        "busy_policy",
        "what the gateway promises for a message sent while a turn runs: queue (default; "
        "allows none of b, m, i), reject (b), steer (m), interrupt (i) or any",
        _choice(BUSY_POLICIES),
        RUN.busy_policy,
        "|".join(BUSY_POLICIES),
        knob="busy_policy",
    ),
    Option(
        "preamble",
        "a message sent on each run's session before its first call, after the previous "
        "answer ended (repeatable, in order; ini replyrace_preamble, one per line), e.g. /new; its answer "
        "is shown, not judged",
        _message,
        (),
        "MSG",
        repeat=True,
        singular="preamble",
        knob="preamble",
    ),
    Option(
        "http_path",
        "path of the send endpoint (default /chat.send for http, /v1/chat/completions for "
        "openai-chat, /v1/responses for openai-responses)",
        _path,
        "/chat.send",
        "PATH",
    ),
    Option(
        "calls",
        f"sequential calls per run (default {RUN.calls})",
        _int_range(CALLS_MIN, CALLS_MAX),
        RUN.calls,
        "N",
        knob="calls",
    ),
    Option(
        "force_calls",
        "sequential calls per run that beat markers too (to replay a shrunk failure)",
        _int_range(CALLS_MIN, CALLS_MAX),
        None,
        "N",
    ),
    Option(
        "shrink",
        "seconds a failing race assertion may spend finding the fewest calls that still fail "
        "(default 30; 0 turns shrinking off)",
        _duration(True),
        30.0,
        "SECONDS",
    ),
    Option(
        "parallel",
        "grid points that sequential_sender.grid()/search() probe at the same time, on separate "
        "session keys against one gateway (default 1; unsafe for gateways with a global lock)",
        _int_range(1, 64),
        1,
        "N",
    ),
    Option(
        "search",
        "window search for every race test: sequential_sender.search() defaults, and a failing race "
        "assertion appends the window around it; rtt=LO:HI,gap=LO[:HI][,gaps=N][,budget=SECONDS][,calls=N]",
        _search,
        None,
        "SPEC",
    ),
    Option(
        "gap",
        "pause after the send_at moment of the previous call before the next send (default 0: send at "
        "once; negative only with send_at served); a comma list is a gap per call in turn",
        _signed_schedule("gap"),
        RUN.gap,
        "SECONDS",
        knob="gap",
    ),
    Option(
        "pause",
        "process-pause nemesis AFTER:LENGTH: SIGSTOP the launched gateway for LENGTH, AFTER after each "
        "reply (e.g. 20ms:1.5s)",
        _pause,
        RUN.pause,
        "AFTER:LENGTH",
        knob="pause",
    ),
    Option(
        "settle",
        "seconds to wait after a run's last call for late log lines and late replies, which still "
        "belong to the run (default 0.5; 0 turns it off)",
        _duration(True),
        RUN.settle,
        "SECONDS",
        knob="settle",
    ),
    Option(
        "call_timeout",
        "seconds to wait for one reply before it counts as lost (default 30)",
        _duration(False),
        RUN.timeout,
        "SECONDS",
        knob="timeout",
    ),
    Option(
        "rtt", "provider RTT for tests without an rtt_range marker (default 50ms)", _duration(True), 0.05, "SECONDS"
    ),
    Option(
        "jitter",
        "provider RTT jitter fraction for tests without an rtt_range marker (default 0)",
        _fraction,
        0.0,
        "FRACTION",
    ),
    Option(
        "tool_calls",
        "scripted model: tool calls per turn before the text step (default 0: every request gets the text at once)",
        _int_range(0, MAX_TOOL_CALLS),
        0,
        "N",
    ),
    Option(
        "tool",
        "scripted model: the tool to call (default: the first tool the request offers)",
        _tool_name,
        None,
        "NAME",
    ),
    Option(
        "tool_arguments",
        "scripted model: the tool call's arguments, a JSON object (default {})",
        _tool_arguments,
        "{}",
        "JSON",
    ),
    Option(
        "ttft",
        "scripted model: seconds from a request's arrival to its first streamed piece; the pieces then "
        "spread evenly to the RTT (default: half the RTT)",
        _duration(True, 3600.0),
        None,
        "SECONDS",
    ),
    Option(
        "reply_pieces",
        "scripted model: how many pieces a streamed text comes in, at most one per character (default 3)",
        _int_range(1, MAX_PIECES),
        None,
        "N",
    ),
    Option(
        "reply_words",
        "scripted model: filler words after the echoed tokens (default 0)",
        _int_range(0, MAX_WORDS),
        0,
        "N",
    ),
    Option(
        "seed",
        "seed for tokens, session keys and jitter: an integer, or 'last' for the previous run's",
        parse_seed,
        None,
        "SEED",
    ),
    Option(
        "require_gateway",
        "on: a race test with no gateway configured errors instead of skipping (for CI, "
        "with --strict-config); default off",
        _flag,
        False,
        "on|off",
    ),
    Option("report", "write a JSON history of every race test to PATH", _text, None, "PATH"),
    Option("html", "write a self-contained HTML report (timelines, pattern heatmap) to PATH", _text, None, "PATH"),
)
OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """The resolved settings, one typed attribute per option (see :data:`OPTIONS`)."""

    gateway_cmd: str | None = None
    gateway_url: str | None = None
    allow_remote: bool = False
    ready: ReadyCheck = ReadyCheck("http", "/readyz")  # noqa: RUF009 - a frozen value, safe to share
    ready_timeout: float = 60.0
    stop_grace: float = 5.0
    restart: str = "on-crash"
    gateway: str = "command"
    openclaw: str | None = None
    openclaw_http: bool = False
    node: str = "node"
    openclaw_api: str = "openai-completions"
    openclaw_tools: str | None = None
    transport: TransportName = "http"
    api: str | None = None
    token: str = "replyrace-token"
    session_header: str | None = None
    session_field: str | None = None
    model: str = "replyrace"
    stream: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    responses_chain: str = "previous"
    acp_permissions: str = "deny"
    history: HistoryMode = RUN.history
    gateway_files: tuple[tuple[str, str], ...] = ()
    agent_wait: bool = False
    openclaw_config: Mapping[str, Any] | None = None
    send_at: SendAt | tuple[SendAt, ...] = RUN.send_at
    stop_at: StopAt | tuple[StopAt, ...] = RUN.stop_at
    stop_gap: float | tuple[float, ...] = RUN.stop_gap
    stop_calls: str | tuple[int, ...] = RUN.stop_calls
    stop_by: StopBy = RUN.stop_by
    disconnect_policy: DisconnectPolicy = RUN.disconnect_policy
    close_within: float = RUN.close_within
    openclaw_queue_mode: str | None = None
    busy_policy: BusyPolicy = RUN.busy_policy
    preamble: tuple[str, ...] = RUN.preamble
    http_path: str = "/chat.send"
    calls: int = RUN.calls
    force_calls: int | None = None
    shrink: float = 30.0
    parallel: int = 1
    search: SearchSpec | None = None
    gap: float | tuple[float, ...] = RUN.gap
    pause: tuple[float, float] | None = RUN.pause
    settle: float = RUN.settle
    call_timeout: float = RUN.timeout
    rtt: float = 0.05
    jitter: float = 0.0
    tool_calls: int = 0
    tool: str | None = None
    tool_arguments: str = "{}"
    ttft: float | None = None
    reply_pieces: int | None = None
    reply_words: int = 0
    seed: int | str | None = None
    require_gateway: bool = False
    report: str | None = None
    html: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where each value that is not a default came from (``--replyrace-gap``, ``env REPLYRACE_GAP``, ...)."""

    @property
    def values(self) -> dict[str, Any]:
        """Every option's value by name."""
        return {option.name: getattr(self, option.name) for option in OPTIONS}

    @property
    def run_spec(self) -> RunSpec:
        """The run parameters these settings give (a ``replyrace`` marker overrides them per test); each value
        was checked where it was read, with its source."""
        values = {option.knob: getattr(self, option.name) for option in OPTIONS if option.knob is not None}
        if self.force_calls:
            values["calls"] = self.force_calls
        return RUN.override("settings", **values)

    @property
    def model_spec(self) -> ModelSpec:
        """The scripted model these settings ask for (a ``provider_model`` marker changes it per test)."""
        return ModelSpec(
            tool_calls=self.tool_calls,
            tool=self.tool,
            arguments=self.tool_arguments,
            ttft=self.ttft,
            reply_pieces=self.reply_pieces,
            reply_words=self.reply_words,
        )

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")

    def describe(self, name: str) -> str:
        value = getattr(self, name)
        if name in ("send_at", "gap", "stop_at", "stop_gap", "stop_calls") and isinstance(value, tuple):
            return ",".join(format_duration(v) if isinstance(v, float) else str(v) for v in value)
        if isinstance(value, float) and name not in ("jitter",):
            return format_duration(value)
        if isinstance(value, ReadyCheck):
            return value.text
        if name == "search" and value is not None:  # a SearchSpec
            return str(value.text())
        if name == "headers":  # values may be credentials: names only
            return ", ".join(f"{header}: …" for header, _ in value)
        if name == "openclaw_config":
            return json.dumps(value, separators=(",", ":"))
        if name == "preamble":
            return " | ".join(value)
        if name == "gateway_files":
            return ", ".join(f"{dest} = {template}" for dest, template in value)
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
    raws: dict[str, str] = {}
    for option in OPTIONS:
        candidates = [
            (f"--{option.flag.lstrip('-')}", cli(option.dest)),
            (f"env {option.env}", env.get(option.env)),
            (f"ini {option.ini}", ini(option.ini)),
        ]
        for where, raw in candidates:
            items = _items(raw) if option.repeat else ([] if _unset(raw) else [str(raw)])
            if not items:
                continue
            try:
                parsed = [option.parse(item, where) for item in items]
            except ValueError as exc:
                message = str(exc)
                raise SettingsError(message if message.startswith(where) else f"{where}: {message}") from None
            values[option.name] = tuple(parsed) if option.repeat else parsed[0]
            sources[option.name] = where
            raws[option.name] = items[0]
            break
        else:
            values[option.name] = option.default
    _check_remote(values, sources)  # after every option: one value's check depends on another
    if "transport" not in sources:  # the natural transport of an API file or a profile, unless one was chosen
        if values["api"] is not None:
            values["transport"] = "declared"
        elif values["gateway"] == "openclaw":
            values["transport"] = "openclaw"
    _check_api(values, sources)
    if "http_path" not in sources:
        values["http_path"] = DEFAULT_HTTP_PATHS.get(values["transport"], values["http_path"])
    _check_session(values, sources)
    for gap, anchor in (("gap", "send_at"), ("stop_gap", "stop_at")):
        if _negative(values[gap]) and not _served_only(values[anchor]):
            shown = values[anchor] if isinstance(values[anchor], str) else ",".join(values[anchor])
            raise SettingsError(
                f"{sources[gap]}: {raws[gap]!r} must be >= 0; expected {DURATION_HELP} "
                f"(a negative {gap.replace('_', ' ')} needs {anchor} served, so long before the provider finishes "
                f"serving the {'previous ' if gap == 'gap' else ''}call; {anchor} is {shown}, "
                f"{sources.get(anchor, 'default')})"
            )
    return Settings(**values, sources=sources)


def _unset(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def _items(raw: Any) -> list[str]:
    """The non-blank items of a list setting: a list (ini linelist, repeated flag) or lines of one string."""
    lines = raw.splitlines() if isinstance(raw, str) else list(raw or [])
    return [str(line) for line in lines if not _unset(line)]


def _check_session(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """A transport that names the session in a header or a field needs one of them."""
    transport = values["transport"]
    needs = transport == "openai-chat" or (transport == "openai-responses" and values["responses_chain"] == "header")
    if needs and values["session_header"] is None and values["session_field"] is None:
        how = (
            "openai-chat" if transport == "openai-chat" else "openai-responses with --replyrace-responses-chain header"
        )
        raise SettingsError(
            f"{sources.get('transport', 'default')}: transport {how} needs the session named in a header or a body "
            "field; expected --replyrace-session-header NAME and/or --replyrace-session-field NAME (ini "
            "replyrace_session_header / replyrace_session_field, env REPLYRACE_SESSION_HEADER / "
            "REPLYRACE_SESSION_FIELD)"
        )


def _check_api(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """The declared transport and an API file go together."""
    api = OPTIONS_BY_NAME["api"]
    if values["transport"] == "declared" and values["api"] is None:
        raise SettingsError(
            f"{sources.get('transport', 'default')}: transport declared needs an API file; expected {api.flag} FILE "
            f"(env {api.env}, ini {api.ini}): a TOML file relative to the rootdir, or a built-in API: "
            + ", ".join(BUILTIN_APIS)
        )
    if values["api"] is not None and values["transport"] != "declared":
        raise SettingsError(
            f"{sources['api']}: an API file is read only by the declared transport, and the transport is "
            f"{values['transport']} ({sources.get('transport', 'default')}); expected --replyrace-transport declared, "
            f"or no {api.flag}"
        )


def stop_header(settings: Settings) -> str:
    """The stop settings in the report header (only when the client stops calls)."""
    d = settings.describe
    text = f"stop-at={d('stop_at')} stop-gap={d('stop_gap')} stop-calls={d('stop_calls')} stop-by={settings.stop_by}"
    if settings.stop_by == "disconnect":
        text += f" disconnect-policy={settings.disconnect_policy}"
    return text + f" close-within={d('close_within')}"


def transport_token(settings: Settings) -> str | None:
    """The token the HTTP transports send: the default belongs to the openclaw profile, so it is sent only when
    chosen, or when that profile runs."""
    if settings.source("token") != "default" or settings.gateway == "openclaw":
        return settings.token
    return None


def load_api(settings: Settings, rootpath: Path) -> ApiSpec | None:
    """The declared transport's API file, read and checked (None for the other transports): a file relative to
    the rootdir, or a built-in one by name. Every problem is a :class:`SettingsError` naming the setting's
    source, the file, the key and what is accepted."""
    if settings.transport != "declared" or settings.api is None:
        return None
    from .transports.api_file import parse_api  # the parser loads only for the declared transport

    where, raw = settings.source("api"), settings.api
    if raw in BUILTIN_APIS:
        text, label = builtin_text(raw), f"built-in API {raw}"
    else:
        path = Path(raw) if Path(raw).is_absolute() else rootpath / raw
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(
                f"{where}: the API file {raw!r} cannot be read ({path}: {type(exc).__name__}: {exc}); expected a "
                f"TOML file, absolute or relative to the rootdir {rootpath}, or a built-in API: "
                + ", ".join(BUILTIN_APIS)
            ) from None
        label = raw
    try:
        spec = parse_api(text, label)
    except ApiFileError as exc:
        raise SettingsError(f"{where}: {exc}") from None
    if "token" in spec.uses and transport_token(settings) is None:
        token = OPTIONS_BY_NAME["token"]
        raise SettingsError(
            f"{where}: {label}: {{token}} is used, and no token is set; expected {token.flag} TOKEN "
            f"(env {token.env}, ini {token.ini})"
        )
    return spec


def api_model(settings: Settings, spec: ApiSpec) -> str:
    """``{model}``: --replyrace-model when given, else the API file's ``[vars] model``, else the default."""
    if settings.source("model") == "default" and isinstance(spec.vars.get("model"), str):
        return str(spec.vars["model"])
    return settings.model
