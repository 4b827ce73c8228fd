"""Settings resolution: one precedence, every source named in errors."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_replyrace.gateway.command import format_command
from pytest_replyrace.settings import OPTIONS, OPTIONS_BY_NAME, Settings, SettingsError, resolve


def resolve_from(
    ini: dict[str, str] | None = None, env: dict[str, str] | None = None, cli: dict[str, Any] | None = None
) -> Settings:
    ini, env, cli = ini or {}, env or {}, cli or {}
    return resolve(ini=lambda k: ini.get(k, ""), cli=lambda d: cli.get(d), environ=env)


def test_defaults() -> None:
    settings = resolve_from()
    assert (settings.calls, settings.gap, settings.call_timeout, settings.rtt) == (10, 0.0, 30.0, 0.05)
    assert settings.gateway_cmd is None and settings.seed is None and settings.transport == "http"
    assert settings.describe("ready") == "http:/readyz" and settings.source("calls") == "default"


def test_precedence_ini_env_cli() -> None:
    ini = {"replyrace_gap": "0.1"}
    assert resolve_from(ini).gap == 0.1
    assert resolve_from(ini, {"REPLYRACE_GAP": "200ms"}).gap == 0.2
    settings = resolve_from(ini, {"REPLYRACE_GAP": "200ms"}, {"replyrace_gap": "0.3s"})
    assert settings.gap == 0.3 and settings.source("gap") == "--replyrace-gap"


def test_empty_values_count_as_unset() -> None:
    assert resolve_from({"replyrace_calls": "7"}, {"REPLYRACE_CALLS": " "}).calls == 7


@pytest.mark.parametrize(
    ("ini", "env", "cli", "message"),
    [
        ({"replyrace_gap": "-1"}, {}, {}, "ini replyrace_gap: '-1' must be >= 0"),
        ({}, {"REPLYRACE_CALLS": "many"}, {}, "env REPLYRACE_CALLS: 'many' is not an integer"),
        ({}, {}, {"replyrace_ready": "tpc"}, "--replyrace-ready: 'tpc'"),
        ({}, {}, {"replyrace_gateway_url": "localhost:80"}, "--replyrace-gateway-url: 'localhost:80' is not a URL"),
        ({}, {}, {"replyrace_jitter": "2"}, "--replyrace-jitter: '2' is out of range"),
        ({}, {}, {"replyrace_http_path": "chat"}, "--replyrace-http-path: 'chat' is not a path"),
        ({}, {}, {"replyrace_seed": "-3"}, "--replyrace-seed: '-3' is not a seed"),
    ],
)
def test_errors_name_source_and_value(
    ini: dict[str, str], env: dict[str, str], cli: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError) as info:
        resolve_from(ini, env, cli)
    assert str(info.value).startswith(message)
    assert "expected" in str(info.value)


def test_a_bad_lower_source_is_not_read_when_overridden() -> None:
    assert resolve_from({"replyrace_gap": "soon"}, {}, {"replyrace_gap": "0"}).gap == 0.0


def test_seed_last_and_int() -> None:
    assert resolve_from(cli={"replyrace_seed": "last"}).seed == "last"
    assert resolve_from(env={"REPLYRACE_SEED": "12"}).seed == 12


def test_three_spellings_are_uniform() -> None:
    for option in OPTIONS:
        assert option.ini == "replyrace_" + option.name
        assert option.env == "REPLYRACE_" + option.name.upper()
        # A list: --replyrace-header, repeatable; a list named by a word that is no plural keeps it (preamble).
        singular = option.singular or (option.name[:-1] if option.repeat else option.name)
        assert option.flag == "--replyrace-" + singular.replace("_", "-")
        assert option.singular is None or (option.repeat and option.singular == option.name)


# Bad input everywhere: every validated option, each bad value through each of the three sources.
SECONDS = "a number of seconds"
URL = "http://HOST:PORT"
READY = "'tcp', 'http:/path' or 'log:REGEX'"
CALLS = "an integer from 1 to 10000"
FRACTION = "a fraction from 0 to below 1"
SEARCH = "rtt=LO:HI,gap=LO[:HI]"
REMOTE = "127.0.0.0/8, ::1 or localhost"
HUGE = "99999999999999999999"
PLAIN = "expected plain placeholders {port}, {provider_url}, {state_dir}, {python}"
DAY = "at most 1 day (86400s)"
GRACE = "at most 10 min (600s)"

BAD: dict[str, tuple[tuple[str, str], ...]] = {
    # option: ((bad value, a fragment of what is accepted), ...)
    "gateway_cmd": (
        ("gw --port {prot}", "{port}, {provider_url}"),
        ("gw --name 'unclosed", "such as 'my-gateway"),
        ("gw {0}", "write {{ and }}"),
        ("gw {", "write {{ and }}"),
        # Plain names only: {port:>200000000} once built a 200 MB argument (1.2 GB, 36 s).
        ("gw --port {port:>20}", PLAIN),
        ("gw {port!r}", PLAIN),
        ("gw {port.real}", PLAIN),
        ("gw {port[0]}", PLAIN),
        ("gw {python:{port}}", PLAIN),
        ("gw {ports}", PLAIN),
    ),
    "gateway_url": (
        ("localhost:80", URL),
        ("ftp://127.0.0.1:80", URL),
        ("http://", URL),
        ("http://:80", URL),
        ("http://127.0.0.1:abc", URL),
        ("http://127.0.0.1:99999", URL),
        ("http://127.0.0.1:0", URL),
        ("http://192.0.2.1:8080", REMOTE),
        ("https://gateway.test", REMOTE),
        ("ws://[2001:db8::1]:80", REMOTE),
        ("http://128.0.0.1:80", REMOTE),
        ("http://localhost.example:80", REMOTE),
    ),
    "allow_remote": (("maybe", "on/off"), ("2", "on/off")),
    "ready": (("tpc", READY), ("http:readyz", READY), ("log:", READY), ("log:(", READY)),
    "ready_timeout": (("soon", SECONDS), ("0", "> 0"), ("-1", "> 0"), ("nan", SECONDS), (HUGE, DAY), ("1441m", DAY)),
    "stop_grace": (("soon", SECONDS), ("-1", ">= 0"), ("999999999", GRACE), ("601", GRACE), (HUGE, GRACE)),
    "restart": (("always", "on-crash, never"), ("ON-CRASH", "on-crash, never")),
    "gateway": (("docker", "command, openclaw"),),
    "transport": (("smtp", "http, openclaw, openai-chat, openai-responses, declared"), ("ws", "http, openclaw")),
    "api": (
        ("langraph", "langgraph, mastra, a2a, agui, or a path to a .toml file"),
        ("apis/gw.json", "a path to a .toml file"),
        ("MASTRA", "langgraph, mastra"),
    ),
    "session_header": (("x session", "such as x-session-id"), ("x:y", "letters, digits and '-'")),
    "session_field": (("session id", "such as session_id"),),
    "stream": (("sse", "on/off"),),
    "openclaw_http": (("both", "on/off"),),
    "headers": (("X-Team qa", "'Name: value'"), (": qa", "'Name: value'"), ("X Team: qa", "'Name: value'")),
    "responses_chain": (("last", "previous, conversation, header"),),
    "acp_permissions": (("ask", "deny, allow"),),
    "history": (("strict", "off, no-duplicates, exact"), ("on", "off, no-duplicates, exact")),
    "stop_at": (("later", "none, sent, first, request, served, text, end"), ("request,soon", "none, sent")),
    "stop_gap": (("soon", SECONDS), ("1,,2", "a comma list"), (HUGE, DAY)),
    "stop_calls": (("first", "odd, even, all, last"), ("1,x", "call numbers such as '1,4'"), (HUGE, "'1,4'")),
    "stop_by": (("kill", "cancel, disconnect"),),
    "disconnect_policy": (("drop", "continue, cancel, any"),),
    "close_within": (("soon", SECONDS), ("0", "> 0"), (HUGE, DAY)),
    "openclaw_queue_mode": (("steer now", "a queue mode"), ("-x", "a queue mode")),
    "send_at": (("reply", "end, text, first, request, served"), ("END", "end, text, first, request, served")),
    "busy_policy": (
        ("drop", "queue, reject, steer, interrupt, any"),
        ("Queue", "queue, reject, steer, interrupt, any"),
    ),
    "openclaw_config": (("{messages", "a JSON object"), ("[1, 2]", "a JSON object such as")),
    "gateway_files": (
        ("config.json", "DEST = TEMPLATE"),
        ("= gw.json", "DEST = TEMPLATE"),
        ("config.json =", "DEST = TEMPLATE"),
        ("/etc/gw.json = gw.json", "a relative path"),
        ("../gw.json = gw.json", "a relative path"),
    ),
    "openclaw_api": (
        ("anthropic", "openai-completions, anthropic-messages, openai-responses, ollama"),
        ("OLLAMA", "openai-completions, anthropic-messages, openai-responses, ollama"),
    ),
    "openclaw_tools": (("tiny", "minimal, coding, messaging, full"), ("MINIMAL", "minimal, coding, messaging, full")),
    "agent_wait": (("maybe", "on/off"), ("2", "on/off")),
    "require_gateway": (("maybe", "on/off"), ("required", "on/off")),
    "http_path": (("chat.send", "starts with '/'"), ("http://127.0.0.1/chat.send", "starts with '/'")),
    "calls": (("abc", CALLS), ("1.5", CALLS), ("0", CALLS), ("10001", CALLS), (HUGE, CALLS)),
    "force_calls": (("abc", CALLS), ("0", CALLS), ("10001", CALLS), (HUGE, CALLS)),
    "shrink": (("soon", SECONDS), ("-1", ">= 0"), (HUGE, DAY)),
    "settle": (("later", SECONDS), ("-0.5", ">= 0"), (HUGE, DAY)),
    "parallel": (
        ("x", "an integer from 1 to 64"),
        ("0", "an integer from 1 to 64"),
        ("65", "an integer from 1 to 64"),
        (HUGE, "an integer from 1 to 64"),
    ),
    "search": (
        ("gap=0:1s", SEARCH),
        ("rtt=50ms:2s,gap=0,speed=3", SEARCH),
        ("rtt=50ms:2s", SEARCH),
        ("rtt=2s:50ms,gap=0", "lo < hi"),
        ("rtt=50ms,gap=0", "(lo, hi) or 'LO:HI'"),
        ("rtt=50ms:2s,gap=1:0", "lo <= hi"),
        ("rtt=0:2s,gap=0", "> 0"),
        ("rtt=50ms:2s,gap=0,gaps=0", "an integer from 1 to 20"),
        ("rtt=50ms:2s,gap=0,calls=101", "an integer from 2 to 100"),
        ("rtt=50ms:2s,gap=0,budget=soon", SECONDS),
        (f"rtt=50ms:2s,gap=0,budget={HUGE}", DAY),
        (f"rtt=50ms:{HUGE},gap=0", DAY),
        (f"rtt=50ms:2s,gap=0:{HUGE}", DAY),
        ("rtt=50ms:2s,gap=0,calls=99999999999999999999", "an integer from 2 to 100"),
    ),
    "gap": (("soon", SECONDS), ("-1", ">= 0"), ("inf", SECONDS), (HUGE, DAY), ("86401", DAY)),
    "pause": (
        ("20ms", "'AFTER:LENGTH'"),
        ("1:2:3", "'AFTER:LENGTH'"),
        ("x:1s", SECONDS),
        ("20ms:0", "> 0"),
        ("-1:1s", ">= 0"),
        (f"{HUGE}:1s", DAY),
        (f"20ms:{HUGE}", DAY),
    ),
    "call_timeout": (("soon", SECONDS), ("0", "> 0"), (HUGE, DAY)),
    "rtt": (("fast", SECONDS), ("-1", ">= 0"), (HUGE, DAY)),
    "jitter": (("abc", FRACTION), ("1", FRACTION), ("-0.1", FRACTION), ("nan", FRACTION), (HUGE, FRACTION)),
    "tool_calls": (
        ("one", "an integer from 0 to 100"),
        ("-1", "an integer from 0 to 100"),
        ("101", "an integer from 0 to 100"),
        (HUGE, "an integer from 0 to 100"),
    ),
    "tool": (("two words", "a name without spaces"), ("clock\tnow", "a name without spaces")),
    "tool_arguments": (
        ("[1, 2]", "the text of one, such as '{}'"),
        ("{zone", "the text of one"),
        ('"text"', "the text of one"),
    ),
    "ttft": (("soon", SECONDS), ("-1", ">= 0"), ("3601", "at most 60 min (3600s)"), (HUGE, "at most 60 min")),
    "reply_pieces": (
        ("many", "an integer from 1 to 10000"),
        ("0", "an integer from 1 to 10000"),
        (HUGE, "an integer from 1 to 10000"),
    ),
    "reply_words": (
        ("few", "an integer from 0 to 100000"),
        ("-3", "an integer from 0 to 100000"),
        (HUGE, "an integer from 0 to 100000"),
    ),
    "seed": (
        ("abc", "an integer >= 0 or 'last'"),
        ("1.5", "an integer >= 0 or 'last'"),
        ("-3", "an integer >= 0 or 'last'"),
    ),
}
FREE_TEXT = ("openclaw", "node", "token", "report", "html", "model", "preamble")  # preamble: blank lines are skipped
"""Options that take any non-empty string (a command, a file path, a token): checked where they are used."""


def _set(option_name: str, kind: str, raw: str) -> tuple[str, dict[str, str], dict[str, str], dict[str, Any]]:
    """How errors name the source, and the ini, env and cli mappings that set the option there to ``raw``."""
    option = OPTIONS_BY_NAME[option_name]
    if kind == "ini":
        return f"ini {option.ini}", {option.ini: raw}, {}, {}
    if kind == "env":
        return f"env {option.env}", {}, {option.env: raw}, {}
    return option.flag, {}, {}, {option.dest: raw}


def test_every_option_has_bad_input_rows_or_is_free_text() -> None:
    names = [option.name for option in OPTIONS]
    assert not set(BAD) & set(FREE_TEXT)
    assert set(BAD) | set(FREE_TEXT) == set(names), (
        f"options without a bad-input row: {sorted(set(names) - set(BAD) - set(FREE_TEXT))}; "
        f"rows for no option: {sorted((set(BAD) | set(FREE_TEXT)) - set(names))}"
    )
    assert all(BAD[name] for name in BAD)


def test_every_number_has_an_upper_bound_row() -> None:
    numbers = {o.name for o in OPTIONS if isinstance(o.default, (int, float)) and not isinstance(o.default, bool)}
    numbers |= {"force_calls", "pause", "search", "ttft", "reply_pieces"}  # numbers without a numeric default
    missing = sorted(name for name in numbers if not any(HUGE in bad for bad, _ in BAD[name]))
    assert not missing, f"options without a row refusing {HUGE}: {missing}"


@pytest.mark.parametrize(
    ("name", "kind", "bad", "accepted"),
    [
        pytest.param(name, kind, bad, accepted, id=f"{name}-{kind}-{bad}")
        for name, rows in BAD.items()
        for bad, accepted in rows
        for kind in ("ini", "env", "cli")
    ],
)
def test_bad_input_names_value_source_and_what_is_accepted(name: str, kind: str, bad: str, accepted: str) -> None:
    where, ini, env, cli = _set(name, kind, bad)
    with pytest.raises(SettingsError) as info:
        resolve_from(ini, env, cli)
    message = str(info.value)
    assert message.startswith(f"{where}: "), message
    assert repr(bad) in message, message
    assert "expected" in message and accepted in message, message


@pytest.mark.parametrize("kind", ["ini", "env", "cli"])
@pytest.mark.parametrize("name", FREE_TEXT)
def test_free_text_options_take_any_string(name: str, kind: str) -> None:
    text = "any {thing} at all: -1, 'x'"
    where, ini, env, cli = _set(name, kind, text)
    settings = resolve_from(ini, env, cli)
    # A list of free text (preamble) holds the one message given.
    assert settings.values[name] in (text, (text,)) and settings.source(name) == where


def test_gateway_cmd_placeholders_are_filled_and_double_braces_stay_literal() -> None:
    values = {"port": "8080", "provider_url": "http://127.0.0.1:1/v1", "state_dir": "/s", "python": "py"}
    assert format_command("{python} gw --port={port} --json '{{\"a\": 1}}' {state_dir}/x", values) == [
        "py",
        "gw",
        "--port=8080",
        "--json",
        '{"a": 1}',
        "/s/x",
    ]


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("gw {port:>20}", "placeholder '{port:>20}' is not a plain name"),
        ("gw --p={port!r}", "placeholder '{port!r}' in '--p={port!r}' is not"),
        ("gw {prot}", "unknown placeholder '{prot}'"),
    ],
)
def test_gateway_cmd_errors_name_the_placeholder(template: str, named: str) -> None:
    with pytest.raises(SettingsError) as info:
        resolve_from(cli={"replyrace_gateway_cmd": template})
    assert named in str(info.value) and PLAIN in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9", "ws://localhost:8080/", "http://LOCALHOST:1", "http://[::1]:80", "http://127.255.0.9:80"],
)
def test_gateway_url_takes_any_loopback_host_and_port(url: str) -> None:
    assert resolve_from(cli={"replyrace_gateway_url": url}).gateway_url == url.rstrip("/")


@pytest.mark.parametrize("kind", ["ini", "env", "cli"])
def test_a_remote_gateway_url_is_refused_unless_allowed(kind: str) -> None:
    where, ini, env, cli = _set("gateway_url", kind, "http://192.0.2.1:8080")
    with pytest.raises(SettingsError) as info:
        resolve_from(ini, env, cli)
    message = str(info.value)
    assert message.startswith(f"{where}: 'http://192.0.2.1:8080' is not a loopback address")
    assert "fake provider stays on 127.0.0.1" in message and "ssh -R" in message
    assert "--replyrace-allow-remote" in message
    # The switch may come from any source, apart from the URL's.
    allowed = resolve_from({**ini, "replyrace_allow_remote": "on"}, env, cli)
    assert allowed.gateway_url == "http://192.0.2.1:8080" and allowed.allow_remote
    assert resolve_from(ini, {**env, "REPLYRACE_ALLOW_REMOTE": "yes"}, cli).allow_remote
    with pytest.raises(SettingsError):
        resolve_from({**ini, "replyrace_allow_remote": "on"}, env, {**cli, "replyrace_allow_remote": "off"})


def test_openai_paths_default_per_transport_unless_set() -> None:
    chat = {"replyrace_transport": "openai-chat", "replyrace_session_field": "session_id"}
    assert resolve_from(cli=chat).http_path == "/v1/chat/completions"
    assert resolve_from(cli={"replyrace_transport": "openai-responses"}).http_path == "/v1/responses"
    assert resolve_from(cli={**chat, "replyrace_http_path": "/api/chat"}).http_path == "/api/chat"
    assert resolve_from().http_path == "/chat.send"


@pytest.mark.parametrize(
    ("cli", "where"),
    [
        ({"replyrace_transport": "openai-chat"}, "--replyrace-transport: transport openai-chat"),
        (
            {"replyrace_transport": "openai-responses", "replyrace_responses_chain": "header"},
            "--replyrace-transport: transport openai-responses with --replyrace-responses-chain header",
        ),
    ],
)
def test_a_session_transport_without_header_or_field_is_a_usage_error(cli: dict[str, Any], where: str) -> None:
    with pytest.raises(SettingsError) as info:
        resolve_from(cli=cli)
    assert str(info.value).startswith(where)
    assert "expected --replyrace-session-header NAME and/or --replyrace-session-field NAME" in str(info.value)


def test_list_settings_take_lines_and_repeats_and_the_highest_source_wins() -> None:
    ini = {"replyrace_headers": ["X-A: 1", "", "X-B: two words"]}  # an ini linelist
    assert resolve_from(ini).headers == (("X-A", "1"), ("X-B", "two words"))
    env = {"REPLYRACE_HEADERS": "X-C: 3\nX-D: 4"}
    assert resolve_from(ini, env).headers == (("X-C", "3"), ("X-D", "4"))
    settings = resolve_from(ini, env, {"replyrace_headers": ["X-E: 5"]})  # --replyrace-header, repeatable
    assert settings.headers == (("X-E", "5"),) and settings.source("headers") == "--replyrace-header"
    assert settings.describe("headers") == "X-E: …"  # values may be credentials
    files = resolve_from({"replyrace_gateway_files": ["config.json = tpl/gw.json", "sub/b.yaml=b.yaml"]})
    assert files.gateway_files == (("config.json", "tpl/gw.json"), ("sub/b.yaml", "b.yaml"))


def test_the_scripted_model_settings_make_the_model_spec() -> None:
    from pytest_replyrace.provider.model import ModelSpec

    assert resolve_from().model_spec == ModelSpec()
    settings = resolve_from(
        {"replyrace_tool_calls": "2", "replyrace_tool": "clock"},
        {"REPLYRACE_TOOL_ARGUMENTS": '{"zone": "UTC"}', "REPLYRACE_TTFT": "200ms"},
        {"replyrace_reply_pieces": "50", "replyrace_reply_words": "40"},
    )
    assert settings.model_spec == ModelSpec(
        tool_calls=2, tool="clock", arguments='{"zone": "UTC"}', ttft=0.2, reply_pieces=50, reply_words=40
    )
    assert settings.source("tool_arguments") == "env REPLYRACE_TOOL_ARGUMENTS"


def test_the_openclaw_queue_mode_reaches_the_transport_and_is_unset_by_default() -> None:
    from pytest_replyrace.plugin import transport_choice

    assert resolve_from({}, {}, {}).openclaw_queue_mode is None
    settings = resolve_from({}, {"REPLYRACE_OPENCLAW_QUEUE_MODE": "steer"}, {"replyrace_transport": "openclaw"})
    assert settings.openclaw_queue_mode == "steer" and settings.source("openclaw_queue_mode").startswith("env ")
    transport = transport_choice(settings, None).make("http://127.0.0.1:1")
    assert getattr(transport, "queue_mode", None) == "steer"
    assert (
        getattr(transport_choice(resolve_from({}, {}, {}), None).make("http://127.0.0.1:1"), "queue_mode", None) is None
    )


def test_the_stop_settings_and_a_schedule_resolve_with_one_precedence() -> None:
    settings = resolve_from(
        {"replyrace_stop_at": "request", "replyrace_stop_gap": "1", "replyrace_send_at": "request,end"},
        {"REPLYRACE_STOP_GAP": "0.5,0", "REPLYRACE_STOP_BY": "disconnect"},
        {"replyrace_stop_by": "cancel", "replyrace_gap": "1,0", "replyrace_stop_calls": "1,4"},
    )
    assert (settings.stop_at, settings.stop_gap, settings.stop_by) == ("request", (0.5, 0.0), "cancel")
    assert (settings.send_at, settings.gap, settings.stop_calls) == (("request", "end"), (1.0, 0.0), (1, 4))
    spec = settings.run_spec
    assert spec.stopped(4) and not spec.stopped(2) and spec.send_at_of(3) == "end" and spec.gap_of(2) == 1.0
    with pytest.raises(SettingsError, match=r"--replyrace-stop-gap: '-1' must be >= 0.*needs stop_at served"):
        resolve_from({}, {}, {"replyrace_stop_gap": "-1", "replyrace_stop_at": "request"})
