"""Settings resolution: one precedence, every source named in errors."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_replyrace.settings import OPTIONS, OPTIONS_BY_NAME, Settings, SettingsError, resolve


def resolve_from(ini: dict[str, str] | None = None, env: dict[str, str] | None = None,
                 cli: dict[str, Any] | None = None) -> Settings:
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
def test_errors_name_source_and_value(ini: dict[str, str], env: dict[str, str], cli: dict[str, Any], message: str) -> None:
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
        assert option.flag == "--replyrace-" + option.name.replace("_", "-")


# Bad input everywhere: every validated option, each bad value through each of the three sources.
SECONDS = "a number of seconds"
URL = "http://HOST:PORT"
READY = "'tcp', 'http:/path' or 'log:REGEX'"
CALLS = "an integer from 1 to 10000"
FRACTION = "a fraction from 0 to below 1"
SEARCH = "rtt=LO:HI,gap=LO[:HI]"

BAD: dict[str, tuple[tuple[str, str], ...]] = {
    # option: ((bad value, a fragment of what is accepted), ...)
    "gateway_cmd": (("gw --port {prot}", "{port}, {provider_url}"), ("gw --name 'unclosed", "such as 'my-gateway"),
                    ("gw {0}", "write {{ and }}"), ("gw {", "write {{ and }}")),
    "gateway_url": (("localhost:80", URL), ("ftp://127.0.0.1:80", URL), ("http://", URL), ("http://:80", URL),
                    ("http://127.0.0.1:abc", URL), ("http://127.0.0.1:99999", URL), ("http://127.0.0.1:0", URL)),
    "ready": (("tpc", READY), ("http:readyz", READY), ("log:", READY), ("log:(", READY)),
    "ready_timeout": (("soon", SECONDS), ("0", "> 0"), ("-1", "> 0"), ("nan", SECONDS)),
    "stop_grace": (("soon", SECONDS), ("-1", ">= 0")),
    "restart": (("always", "on-crash, never"), ("ON-CRASH", "on-crash, never")),
    "gateway": (("docker", "command, openclaw"),),
    "openclaw_api": (("anthropic", "openai-completions, anthropic-messages, openai-responses, ollama"),
                     ("OLLAMA", "openai-completions, anthropic-messages, openai-responses, ollama")),
    "transport": (("smtp", "http, openclaw"), ("ws", "http, openclaw")),
    "agent_wait": (("maybe", "on/off"), ("2", "on/off")),
    "http_path": (("chat.send", "starts with '/'"), ("http://127.0.0.1/chat.send", "starts with '/'")),
    "calls": (("abc", CALLS), ("1.5", CALLS), ("0", CALLS), ("10001", CALLS)),
    "force_calls": (("abc", CALLS), ("0", CALLS), ("10001", CALLS)),
    "shrink": (("soon", SECONDS), ("-1", ">= 0")),
    "settle": (("later", SECONDS), ("-0.5", ">= 0")),
    "parallel": (("x", "an integer from 1 to 64"), ("0", "an integer from 1 to 64"), ("65", "an integer from 1 to 64")),
    "search": (("gap=0:1s", SEARCH), ("rtt=50ms:2s,gap=0,speed=3", SEARCH), ("rtt=50ms:2s", SEARCH),
               ("rtt=2s:50ms,gap=0", "lo < hi"), ("rtt=50ms,gap=0", "(lo, hi) or 'LO:HI'"),
               ("rtt=50ms:2s,gap=1:0", "lo <= hi"), ("rtt=0:2s,gap=0", "> 0"),
               ("rtt=50ms:2s,gap=0,gaps=0", "an integer from 1 to 20"),
               ("rtt=50ms:2s,gap=0,calls=101", "an integer from 2 to 100"),
               ("rtt=50ms:2s,gap=0,budget=soon", SECONDS)),
    "gap": (("soon", SECONDS), ("-1", ">= 0"), ("inf", SECONDS)),
    "pause": (("20ms", "'AFTER:LENGTH'"), ("1:2:3", "'AFTER:LENGTH'"), ("x:1s", SECONDS), ("20ms:0", "> 0"),
              ("-1:1s", ">= 0")),
    "call_timeout": (("soon", SECONDS), ("0", "> 0")),
    "rtt": (("fast", SECONDS), ("-1", ">= 0")),
    "jitter": (("abc", FRACTION), ("1", FRACTION), ("-0.1", FRACTION), ("nan", FRACTION)),
    "seed": (("abc", "an integer >= 0 or 'last'"), ("1.5", "an integer >= 0 or 'last'"),
             ("-3", "an integer >= 0 or 'last'")),
}
FREE_TEXT = ("openclaw", "node", "token", "report", "html")
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
        f"rows for no option: {sorted((set(BAD) | set(FREE_TEXT)) - set(names))}")
    assert all(BAD[name] for name in BAD)


@pytest.mark.parametrize(
    ("name", "kind", "bad", "accepted"),
    [pytest.param(name, kind, bad, accepted, id=f"{name}-{kind}-{bad}")
     for name, rows in BAD.items() for bad, accepted in rows for kind in ("ini", "env", "cli")],
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
    assert settings.values[name] == text and settings.source(name) == where


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "ws://localhost:8080/", "https://gateway.test", "http://[::1]:80"])
def test_gateway_url_takes_any_host_and_port(url: str) -> None:
    assert resolve_from(cli={"replyrace_gateway_url": url}).gateway_url == url.rstrip("/")
