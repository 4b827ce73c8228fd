"""Settings resolution: one precedence, every source named in errors."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_replyrace.settings import OPTIONS, SettingsError, resolve


def resolve_from(ini: dict[str, str] | None = None, env: dict[str, str] | None = None,
                 cli: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
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
