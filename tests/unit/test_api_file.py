"""The declared transport's API file: pointers, selectors, placeholders, form values, and every usage error
(each names the file, the key and what is accepted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_replyrace.settings import SettingsError, api_model, load_api, resolve
from pytest_replyrace.transports.api_file import (
    BUILTIN_APIS,
    MISSING,
    ApiFileError,
    Event,
    Pointer,
    aborted_of,
    builtin_text,
    fill,
    first_pick,
    form_pairs,
    parse_api,
)

SEND = '[send]\npath = "/send"\njson = { text = "{message}" }\n'
REPLY = '[reply]\nformat = "sse"\ntext = { pointer = "/t" }\n'
MINIMAL = SEND + REPLY


def api(text: str = MINIMAL) -> Any:
    return parse_api(text, "gw.toml")


def event(document: Any = MISSING, name: str | None = "message", data: str | None = None) -> Event:
    import json

    return Event(name, data if data is not None else json.dumps(document), document)


# -- pointers ---------------------------------------------------------------------------------------------------

DOC = {"a": [{"b": 1}, {"b": 2}, {"b": None}], "x/y": {"~k": "tilde"}, "": "empty key", "n": 0}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("", DOC),
        ("/a/0/b", 1),
        ("/a/1/b", 2),
        ("/a/-1/b", None),
        ("/a/-3/b", 1),
        ("/x~1y/~0k", "tilde"),
        ("/", "empty key"),
        ("/n", 0),
        ("/a/3", MISSING),
        ("/a/-4", MISSING),
        ("/a/01", MISSING),
        ("/a/-", MISSING),
        ("/a/-0", MISSING),
        ("/a/b", MISSING),
        ("/n/0", MISSING),
        ("/missing", MISSING),
    ],
)
def test_pointers_follow_rfc_6901_and_minus_n_counts_from_an_arrays_end(text: str, found: Any) -> None:
    assert (
        Pointer.parse(text).resolve(DOC) == found
        if found is not MISSING
        else Pointer.parse(text).resolve(DOC) is MISSING
    )


@pytest.mark.parametrize("text", ["a/b", "/~2", "/a~", "~0"])
def test_a_bad_pointer_says_what_is_wrong(text: str) -> None:
    with pytest.raises(ValueError, match="is not a JSON pointer"):
        Pointer.parse(text)


# -- selectors --------------------------------------------------------------------------------------------------


def selectors(key: str, body: str, fmt: str = "sse") -> Any:
    spec = api(SEND + f'[reply]\nformat = "{fmt}"\ntext = {{ pointer = "/t" }}\n{key} = {body}\n')
    return getattr(spec.reply, key)


def test_a_selector_matches_by_event_when_and_unless_and_picks_its_pointer() -> None:
    (chosen,) = selectors(
        "error", '{ event = "e", when = { "/type" = "err", "/n" = 1 }, unless = { "/hide" = true }, pointer = "/msg" }'
    )
    doc = {"type": "err", "n": 1, "msg": "boom"}
    assert chosen.pick(event(doc, "e")) == "boom"
    assert chosen.pick(event(doc, "other")) is MISSING
    assert chosen.pick(event({**doc, "type": "ok"}, "e")) is MISSING
    assert chosen.pick(event({**doc, "n": True}, "e")) is MISSING  # true is not 1
    assert chosen.pick(event({**doc, "n": 1.0}, "e")) == "boom"  # 1 is 1.0
    assert chosen.pick(event({**doc, "hide": True}, "e")) is MISSING
    assert chosen.pick(event({**doc, "hide": 1}, "e")) == "boom"
    # A pointer that finds nothing, or null, is no match.
    assert chosen.pick(event({"type": "err", "n": 1}, "e")) is MISSING
    assert chosen.pick(event({**doc, "msg": None}, "e")) is MISSING


def test_without_a_pointer_a_selector_picks_the_whole_data() -> None:
    (chosen,) = selectors("error", '{ when = { "/type" = "error" } }')
    assert chosen.pick(event({"type": "error", "x": [1]})) == {"type": "error", "x": [1]}


def test_a_data_line_that_is_not_json_matches_only_a_data_selector() -> None:
    done = event(MISSING, data="[DONE]")
    (end,) = selectors("end", '{ data = "[DONE]" }')
    assert end.pick(done) == "[DONE]" and end.pick(event(MISSING, data="[DONE] ")) is MISSING
    for body in ('{ pointer = "" }', '{ unless = { "/x" = 1 } }', '{ event = "message" }'):
        (other,) = selectors("end", body)
        assert other.pick(done) is MISSING, body
    # A `data` selector compares JSON lines raw too.
    (raw,) = selectors("end", '{ data = "{}" }')
    assert raw.pick(event({}, data="{}")) == {}


def test_of_a_list_of_selectors_the_first_that_matches_wins() -> None:
    chosen = selectors("error", '[{ pointer = "/error" }, { pointer = "/errorMessage" }, { data = "oops" }]')
    assert first_pick(chosen, event({"error": "a", "errorMessage": "b"}))[1] == "a"
    assert first_pick(chosen, event({"error": None, "errorMessage": "b"}))[1] == "b"
    assert first_pick(chosen, event(MISSING, data="oops"))[1] == "oops"
    assert first_pick(chosen, event({"other": 1})) == (None, MISSING)


def test_text_modes_and_complete_text_and_end_complete() -> None:
    spec = api(
        SEND + '[reply]\nformat = "ndjson"\ntext = [{ pointer = "/d" }, { pointer = "/all", mode = "replace" }]\n'
        'complete = { pointer = "/done", text = "/final" }\nend = "complete"\n'
    )
    assert [s.mode for s in spec.reply.text] == ["append", "replace"]
    assert spec.reply.complete[0].text == Pointer.parse("/final") and spec.reply.end_at_complete
    assert spec.reply.end == () and spec.reply.has_end


# -- placeholders -----------------------------------------------------------------------------------------------

VALUES = {"message": "hi {there} / ?", "session": 42, "flag": True, "temp": 0.5, "obj": {"k": [1]}}


def test_a_string_that_is_only_a_placeholder_is_the_value_and_a_longer_one_is_text() -> None:
    template = {
        "m": "{message}",
        "s": "{session}",
        "f": "{flag}",
        "o": "{obj}",
        "t": "say {message}!",
        "n": "id-{session}-{flag}-{temp}",
        "j": "obj={obj}",
        "lit": "{{message}} and {1} and { x }",
        "list": ["{session}"],
    }
    assert fill(template, VALUES) == {
        "m": "hi {there} / ?",
        "s": 42,
        "f": True,
        "o": {"k": [1]},
        "t": "say hi {there} / ?!",
        "n": "id-42-true-0.5",
        "j": 'obj={"k": [1]}',
        "lit": "{message} and {1} and { x }",
        "list": [42],
    }


def test_in_a_path_a_placeholder_is_percent_encoded() -> None:
    assert fill("/threads/{message}/runs", VALUES, path=True) == "/threads/hi%20%7Bthere%7D%20%2F%20%3F/runs"
    assert fill("/t/{session}", VALUES, path=True) == "/t/42"


def test_form_values_booleans_numbers_arrays() -> None:
    form = {
        "b": True,
        "f": False,
        "i": 7,
        "x": 1.5,
        "big": 1e20,
        "small": 1e-7,
        "arr": ["a", 2, True],
        "m": "{message}",
        "s": "{session}",
        "v": "{flag}",
    }
    assert form_pairs(form, VALUES) == [
        ("b", "true"),
        ("f", "false"),
        ("i", "7"),
        ("x", "1.5"),
        ("big", "100000000000000000000"),
        ("small", "0.0000001"),
        ("arr", "a"),
        ("arr", "2"),
        ("arr", "true"),
        ("m", "hi {there} / ?"),
        ("s", "42"),
        ("v", "true"),
    ]
    with pytest.raises(ValueError, match="is not a form value"):
        form_pairs({"o": "{obj}"}, VALUES)


def test_the_placeholders_a_file_uses_are_known() -> None:
    spec = api(
        '[vars]\nmodel = "m"\ntenant = "t"\n[session]\npath = "/s/{session_key}"\nheaders = { X = "{token}" }\n'
        'json = { t = "{tenant}", k = "{idempotency_key}" }\nsession = "/id"\n'
        '[send]\npath = "/x/{session}"\nform = { m = "{message}", model = "{model}" }\n' + REPLY
    )
    assert spec.uses == {"session_key", "token", "tenant", "idempotency_key", "session", "message", "model"}
    assert spec.vars == {"model": "m", "tenant": "t"} and spec.send.form == {"m": "{message}", "model": "{model}"}
    assert spec.session.headers == (("X", "{token}"),) and spec.session.session == Pointer.parse("/id")


# -- usage errors -----------------------------------------------------------------------------------------------

S, R = SEND, REPLY
USAGE_ERRORS = [
    # (file text, the key named, what is accepted)
    ("[send\n", "does not parse as TOML", "the tables [vars], [session], [send], [reply], [stop] and [history]"),
    (
        S + R + "[replies]\n",
        "[replies]: unknown table",
        "the tables [vars], [session], [send], [reply], [stop] and [history]",
    ),
    ('format = "sse"\n' + S + R, "format: a key outside any table", "the tables"),
    (R, "[send]: missing", "a [send] table"),
    (S, "[reply]: missing", "a [reply] table"),
    ('[send]\nmethod = "POST"\n' + R, "[send]: no path", 'path = "/threads"'),
    ('[send]\npath = "send"\n' + R, "[send] path: 'send' does not start with /", "a path such as"),
    ("[send]\npath = 5\n" + R, "[send] path: 5 is not a string", "a path that starts with /"),
    ('[send]\npath = "/s"\nmethod = "FETCH"\n' + R, "[send] method: 'FETCH' is not accepted", "GET, POST, PUT"),
    ('[send]\npath = "/s"\nbody = {}\n' + R, "[send]: unknown key 'body'", "method, path, headers, json or form"),
    ('[send]\npath = "/s"\njson = {}\nform = {}\n' + R, "[send]: both json and form", "one body"),
    (
        '[send]\npath = "/s"\nheaders = { "X Y" = "1" }\n' + R,
        "[send] headers.'X Y': 'X Y' is not a header name",
        "letters, digits",
    ),
    ('[send]\npath = "/s"\nheaders = { X = 1 }\n' + R, "[send] headers.X: 1 is not a string", "a string value"),
    ('[send]\npath = "/s"\nheaders = "X: 1"\n' + R, "[send] headers: 'X: 1' is not a table", "a table of"),
    ('[send]\npath = "/s/{mesage}"\n' + R, "[send] path: unknown placeholder {mesage}", "{message}, {session}"),
    ('[send]\npath = "/s"\njson = { a = ["{x}"] }\n' + R, "[send] json.a[1]: unknown placeholder {x}", "{model}"),
    (
        '[send]\npath = "/s"\njson = { a = 1979-05-27 }\n' + R,
        "[send] json.a: datetime.date(1979, 5, 27)",
        "a string, number, boolean, array or table",
    ),
    ('[send]\npath = "/s"\njson = { a = inf }\n' + R, "[send] json.a: inf has no JSON form", "a finite number"),
    (
        '[send]\npath = "/s"\nform = { a = { b = 1 } }\n' + R,
        "[send] form.a: a table or nested array",
        "an array of them (it repeats the field)",
    ),
    ('[send]\npath = "/s"\nform = { a = [[1]] }\n' + R, "[send] form.a[1]: a table or nested array", "a string"),
    ('[send]\npath = "/s"\nform = "a=1"\n' + R, "[send] form: 'a=1' is not a table", "a table of field = value"),
    ('[session]\npath = "/s"\n' + S + R, "[session]: no session pointer", 'session = "/thread_id"'),
    (
        '[session]\npath = "/s"\nsession = "id"\n' + S + R,
        "[session] session: 'id' is not a JSON pointer",
        "an RFC 6901 JSON pointer",
    ),
    (
        '[session]\npath = "/s/{message}"\nsession = "/id"\n' + S + R,
        "[session] path: {message} is not known before the session exists",
        "{session_key}",
    ),
    (
        '[session]\npath = "/s"\njson = { s = "{session}" }\nsession = "/id"\n' + S + R,
        "[session] json.s: {session} is not known before the session exists",
        "{idempotency_key}",
    ),
    (
        '[session]\npath = "/s"\nsession = "/id"\nformat = "json"\n' + S + R,
        "[session]: unknown key 'format'",
        "method, path, headers, json, form or session",
    ),
    ('[vars]\nmessage = "x"\n' + S + R, "[vars] message: {message} is set by the transport", "another name"),
    ("[vars]\nmodel = 3\n" + S + R, "[vars] model: 3 is not a string", "a model or agent name"),
    ('[vars]\n"my var" = 1\n' + S + R, "[vars] my var: 'my var' is not a placeholder name", "letters, digits and _"),
    ("vars = 3\n" + S + R, "[vars]: 3 is not a table", "a table of name = value"),
    ("send = 3\n" + R, "[send]: 3 is not a table", "a table with the keys method, path"),
    (
        S + '[reply]\nformat = "xml"\ntext = { pointer = "/t" }\n',
        "[reply] format: 'xml' is not accepted",
        '"json", "sse" or "ndjson"',
    ),
    (
        S + '[reply]\nformat = "sse"\ntext = { pointer = "/t" }\nbusy2 = {}\n',
        "[reply]: unknown key 'busy2'",
        "format, text, complete, error, end, run_id or busy",
    ),
    (S + '[reply]\nformat = "sse"\n', "[reply]: no text", "text = { pointer"),
    (S + '[reply]\nformat = "sse"\ncomplete = { pointer = "/done" }\n', "[reply]: no text", "complete = { text"),
    (
        S + '[reply]\nformat = "sse"\ntext = { pointr = "/t" }\n',
        "[reply] text: unknown key 'pointr'",
        "event, when, unless, pointer, data or mode",
    ),
    (
        S + '[reply]\nformat = "sse"\ntext = [{ pointer = "/t" }, { text = "/t" }]\n',
        "[reply] text[2]: unknown key 'text'",
        "event, when, unless, pointer, data or mode",
    ),
    (S + '[reply]\nformat = "sse"\ntext = []\n', "[reply] text: an empty list", "a table, or a list of tables"),
    (S + '[reply]\nformat = "sse"\ntext = "/t"\n', "[reply] text: '/t' is not a table", "a table with the keys"),
    (
        S + '[reply]\nformat = "sse"\ntext = { pointer = "t" }\n',
        "[reply] text.pointer: 't' is not a JSON pointer",
        "/messages/-1/content",
    ),
    (
        S + '[reply]\nformat = "sse"\ntext = { pointer = "/t", when = { "type" = 1 } }\n',
        "[reply] text.when key 'type': 'type' is not a JSON pointer",
        "an RFC 6901 JSON pointer",
    ),
    (
        S + '[reply]\nformat = "sse"\ntext = { pointer = "/t", unless = 1 }\n',
        "[reply] text.unless: 1 is not a table",
        '{ "/type" = "text-delta" }',
    ),
    (
        S + '[reply]\nformat = "sse"\ntext = { pointer = "/t", mode = "prepend" }\n',
        "[reply] text.mode: 'prepend' is not accepted",
        '"append" (each value a delta) or "replace"',
    ),
    (
        S + '[reply]\nformat = "ndjson"\ntext = { event = "m", pointer = "/t" }\n',
        "[reply] text.event: an event name with format = 'ndjson'",
        'event only with format = "sse"',
    ),
    (
        S + '[reply]\ntext = { pointer = "/t" }\nerror = { event = "error" }\n',
        "[reply] error.event: an event name with format = 'json'",
        'event only with format = "sse"',
    ),
    (
        S + '[reply]\ntext = { pointer = "/t" }\ncomplete = { pointer = "/d" }\n',
        '[reply] complete: has no meaning with format = "json"',
        'it only with format = "sse" or "ndjson"',
    ),
    (
        S + '[reply]\nformat = "json"\ntext = { pointer = "/t" }\nend = { data = "x" }\n',
        "[reply] end: has no meaning",
        '"sse" or "ndjson"',
    ),
    (S + R + 'end = "done"\n', "[reply] end: 'done' is not accepted", '"complete", a selector table'),
    (S + R + 'end = "complete"\n', '[reply] end: "complete" without a complete selector', "complete = { ... } too"),
    (S + R + "complete = { text = 3 }\n", "[reply] complete.text: 3 is not a JSON pointer", "RFC 6901"),
    (S + R + "busy = {}\n", "[reply] busy: an empty table", "status = [409, ...] and/or text"),
    (S + R + "busy = { status = [200] }\n", "[reply] busy.status: [200] is not accepted", "from 400 to 599"),
    (S + R + 'busy = { status = "409" }\n', "[reply] busy.status: '409' is not accepted", "such as [409, 422]"),
    (S + R + 'busy = { text = " " }\n', "[reply] busy.text: an empty text", "a text the refusal contains"),
    (S + R + "busy = { code = 409 }\n", "[reply] busy: unknown key 'code'", "status or text"),
    (S + R + "run_id = { data = 1 }\n", "[reply] run_id.data: 1 is not a string", "the exact raw data of a line"),
    (S + R + "run_id = { event = 1 }\n", "[reply] run_id.event: 1 is not a string", "an SSE event name"),
    # [stop]: the keys of [send], {run_id} (which needs a run id), and an aborted selector on its JSON answer.
    (S + R + "[stop]\njson = {}\n", "[stop]: no path", 'path = "/threads"'),
    (S + R + '[stop]\npath = "/x/{message}"\n', "[stop] path: {message} is not known before", "{run_id}"),
    (S + R + '[stop]\npath = "/x/{run_id}"\n', "[stop]: {run_id} without a run id", "[reply] run_id = {"),
    (S + R + '[stop]\npath = "/x"\nwait = 1\n', "[stop]: unknown key 'wait'", "aborted"),
    (
        S + R + '[stop]\npath = "/x"\naborted = { pointer = "/a", means = 1 }\n',
        "[stop] aborted.means: 1 is not a boolean",
        "true",
    ),
    (S + R + '[stop]\npath = "/x"\naborted = { event = "e" }\n', "[stop] aborted.event: an event name", "only with"),
    ('[send]\npath = "/{run_id}"\n' + R, "[send] path: unknown placeholder {run_id}", "{session_uuid}"),
    # [history]: a template per role, {text} and {message_id} in it, and {history} used by a call.
    (S + R + '[history]\nuser = "{text}"\n', "[history]: no assistant template", "assistant = {"),
    (
        S + R + '[history]\nuser = "{text}"\nassistant = "{text}"\n',
        "[history]: no call uses {history}",
        'messages = "{history}"',
    ),
    (
        S + R + '[history]\nuser = "{message}"\nassistant = "{text}"\n',
        "[history] user: {message} is not known",
        "{text}",
    ),
    (
        S + R + '[history]\nuser = "{text}"\nassistant = "{text}"\nsystem = "x"\n',
        "[history]: unknown key 'system'",
        "user or assistant",
    ),
    (
        '[send]\npath = "/s"\njson = { m = "{history}" }\n' + R,
        "[send] json.m: unknown placeholder {history}",
        "{message}",
    ),
]


@pytest.mark.parametrize(("text", "key", "accepted"), USAGE_ERRORS, ids=[row[1][:60] for row in USAGE_ERRORS])
def test_every_usage_error_names_the_file_the_key_and_what_is_accepted(text: str, key: str, accepted: str) -> None:
    with pytest.raises(ApiFileError) as info:
        api(text)
    message = str(info.value)
    assert message.startswith(f"gw.toml: {key}"), message
    assert "expected" in message and accepted in message, message
    assert "docs/10-any-http-gateway.md" in message


@pytest.mark.parametrize("name", BUILTIN_APIS)
def test_the_built_in_api_files_parse(name: str) -> None:
    spec = parse_api(builtin_text(name), name)
    assert spec.reply.format == "sse"
    assert (spec.session is not None) == (name == "langgraph")
    if name in ("langgraph", "mastra"):
        assert spec.vars["model"] == "agent" and {"message", "session"} <= spec.uses
    else:  # the shared protocols: a fresh UUID per run names the conversation, and the endpoint is a [vars] path
        assert spec.vars["agent_path"] == "" and "session_uuid" in spec.uses
    # A stop for the gateways that have one: LangGraph's run cancel, A2A's tasks/cancel (by the answer's run id).
    assert (spec.stop is not None) == (name in ("langgraph", "a2a"))
    assert (spec.history is not None) == (name == "agui") and ("history" in spec.uses) == (name == "agui")


# -- through the settings ---------------------------------------------------------------------------------------


def settings_with(cli: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    return resolve(ini=lambda key: "", cli=lambda dest: cli.get(dest), environ=env or {})


def test_an_api_file_is_read_relative_to_the_rootdir_and_chooses_the_declared_transport(tmp_path: Path) -> None:
    (tmp_path / "apis").mkdir()
    (tmp_path / "apis" / "gw.toml").write_text('[vars]\nmodel = "bot"\n' + MINIMAL)
    settings = settings_with({"replyrace_api": "apis/gw.toml"})
    assert settings.transport == "declared"
    spec = load_api(settings, tmp_path)
    assert spec is not None and spec.label == "apis/gw.toml" and api_model(settings, spec) == "bot"
    # --replyrace-model beats [vars] model.
    assert api_model(settings_with({"replyrace_api": "apis/gw.toml", "replyrace_model": "m2"}), spec) == "m2"
    langgraph = load_api(settings_with({}, {"REPLYRACE_API": "langgraph"}), tmp_path)
    assert langgraph is not None and langgraph.label == "built-in API langgraph"
    assert load_api(settings_with({}), tmp_path) is None


@pytest.mark.parametrize(
    ("cli", "files", "message"),
    [
        ({"replyrace_api": "missing.toml"}, {}, "--replyrace-api: the API file 'missing.toml' cannot be read ("),
        ({"replyrace_api": "gw.toml"}, {"gw.toml": "[send"}, "--replyrace-api: gw.toml: does not parse as TOML"),
        (
            {"replyrace_api": "gw.toml"},
            {"gw.toml": MINIMAL.replace("{message}", "{token}")},
            "--replyrace-api: gw.toml: {token} is used, and no token is set; expected --replyrace-token TOKEN",
        ),
    ],
)
def test_a_bad_api_file_is_a_settings_error_naming_its_source(
    tmp_path: Path, cli: dict[str, Any], files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    settings = settings_with(cli)
    with pytest.raises(SettingsError) as info:
        load_api(settings, tmp_path)
    assert str(info.value).startswith(message) and "expected" in str(info.value)


def test_the_token_placeholder_is_fine_once_a_token_is_set(tmp_path: Path) -> None:
    (tmp_path / "gw.toml").write_text(MINIMAL.replace("{message}", "{token}"))
    assert load_api(settings_with({"replyrace_api": "gw.toml", "replyrace_token": "s3"}), tmp_path) is not None


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        (
            {"replyrace_transport": "declared"},
            "--replyrace-transport: transport declared needs an API file; expected "
            "--replyrace-api FILE (env REPLYRACE_API, ini replyrace_api)",
        ),
        (
            {"replyrace_transport": "http", "replyrace_api": "mastra"},
            "--replyrace-api: an API file is read only by the "
            "declared transport, and the transport is http (--replyrace-transport); expected --replyrace-transport declared",
        ),
    ],
)
def test_the_declared_transport_and_an_api_file_go_together(cli: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        settings_with(cli)
    assert str(info.value).startswith(message)


# -- [stop], [history], {session_uuid} ----------------------------------------------------------------------------


def test_a_stop_reads_its_answer_by_the_aborted_selectors() -> None:
    spec = api(
        SEND
        + REPLY
        + 'run_id = { pointer = "/run" }\n[stop]\nmethod = "delete"\npath = "/runs/{run_id}"\n'
        + 'aborted = [{ pointer = "/aborted" }, { when = { "/state" = "canceled" }, means = true }, '
        + '{ pointer = "/error", means = false }]\n'
    )
    assert spec.stop is not None and spec.stop.method == "DELETE" and "run_id" in spec.uses
    selectors = spec.stop.aborted
    assert aborted_of(selectors, {"aborted": False}) is False and aborted_of(selectors, {"aborted": True}) is True
    assert (
        aborted_of(selectors, {"state": "canceled"}) is True and aborted_of(selectors, {"error": {"code": 1}}) is False
    )
    # A value that is not a boolean, or nothing that matches, says neither.
    assert aborted_of(selectors, {"aborted": "yes"}) is None and aborted_of(selectors, {"ok": True}) is None


def test_a_history_is_a_template_per_role_with_its_own_placeholders() -> None:
    spec = api(
        '[vars]\nwho = "me"\n[history]\nuser = { id = "{message_id}", text = "{text}", by = "{who}" }\n'
        'assistant = { id = "{message_id}", text = "{text}" }\n'
        '[send]\npath = "/s/{session_uuid}"\njson = { messages = "{history}" }\n' + REPLY
    )
    assert spec.history is not None and {"history", "session_uuid", "text", "message_id"} <= spec.uses
    assert fill(spec.history.user, {"message_id": "m1", "text": "hi", "who": "me"}) == {
        "id": "m1",
        "text": "hi",
        "by": "me",
    }


def test_in_a_path_a_vars_value_keeps_its_slashes() -> None:
    values = {"agent_path": "a2a/x y", "message": "a/b"}
    assert fill("/{agent_path}/{message}", values, path=True, keep=frozenset({"agent_path"})) == "/a2a/x%20y/a%2Fb"
