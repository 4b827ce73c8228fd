"""The declared transport end to end: API files against the suite's declared gateway (a real process keeping
sessions and calling the real fake provider), pytest in a subprocess. JSON, SSE and NDJSON answers, JSON and form
bodies, a session call, errors inside a 200 stream, the busy selector, the bounds, and the event instants."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.docs import doc_page, fenced_blocks, marked_block
from support.selftest import declared_gateway_cmd, run, run_inprocess

from pytest_replyrace.transports.api_file import BUILTIN_APIS, builtin_text, parse_api

CALLS = """
import pytest

@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.replyrace(calls={calls}{extra})
def test_sends(sequential_sender):
    result = sequential_sender.run()
    print("PATTERN", result.pattern)
    result.{check}()
"""

JSON_API = """
[session]
path = "/sessions"
json = { tenant = "t", key = "{session_key}" }
session = "/data/id"

[send]
path = "/json/{session}"
headers = { "X-Model" = "{model}" }
json = { text = "{message}", model = "{model}" }

[reply]
format = "json"
text = { pointer = "/reply" }
error = { pointer = "/error/message" }
run_id = { pointer = "/run" }
"""

SSE_API = """
[send]
path = "/sse/{session}?tail_ms=300"
json = { text = "{message}" }

[reply]
format = "sse"
text = { event = "delta", pointer = "/d" }
complete = { event = "done", pointer = "/finish" }
error = { event = "error", pointer = "/message" }
end = { data = "[DONE]" }
run_id = { event = "meta", pointer = "/run" }
"""

NDJSON_API = """
[send]
path = "/ndjson/{session_key}?tail_ms=300"
json = { text = "{message}" }

[reply]
format = "ndjson"
text = { when = { "/type" = "delta" }, pointer = "/d" }
complete = { when = { "/type" = "text_done" } }
error = { when = { "/type" = "error" }, pointer = "/message" }
run_id = { when = { "/type" = "start" }, pointer = "/run" }
"""

FORM_API = """
[vars]
tags = ["a", "b"]
n = 3

[send]
path = "/form/{session}"
form = { message = "{message}", stream = STREAM, n = "{n}", tags = "{tags}" }

[reply]
format = "FORMAT"
text = [{ event = "delta", pointer = "/d" }]
complete = { event = "done" }
error = { event = "error", pointer = "/message" }
"""


def setup(
    pytester: pytest.Pytester,
    api: str,
    calls: int = 6,
    extra: str = "",
    check: str = "assert_clean",
) -> Path:
    pytester.path.joinpath("gw.toml").write_text(api)
    pytester.makepyfile(test_declared=CALLS.format(calls=calls, extra=extra, check=check))
    return pytester.path / "history.json"


def declared(pytester: pytest.Pytester, *args: str, gateway: str = "") -> tuple[pytest.RunResult, list[Any]]:
    report = pytester.path / "history.json"
    result = run(
        pytester,
        f"--replyrace-gateway-cmd={declared_gateway_cmd(gateway)}",
        "--replyrace-api=gw.toml",
        f"--replyrace-report={report}",
        "-s",
        *args,
    )
    tests = json.loads(report.read_text())["tests"] if report.exists() else []
    return result, tests


def histories(test: dict[str, Any]) -> list[list[str]]:
    return [call["journal"][0]["history"] for call in test["calls"]]


def test_a_json_api_with_a_session_call_is_clean_and_the_gateway_keeps_the_history(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    setup(race_pytester, '[vars]\nmodel = "bot"\n' + JSON_API, extra=", history='exact'")
    # The file's header, its placeholder filled in, reaches the gateway (which refuses a send without it).
    result, (test,) = declared(race_pytester, gateway="--require-header 'X-Model: bot'")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["replyrace *transport=declared api=gw.toml*", "*PATTERN pppppp*"])
    tokens = [call["token"] for call in test["calls"]]
    # One session for the run, made by the session call: each turn carried every earlier one.
    assert histories(test) == [tokens[:i] for i in range(6)]
    assert [call["run_id"] for call in test["calls"]] == [f"r-{i}" for i in range(1, 7)]
    assert test["settings"]["transport"] == "declared" and test["settings"]["api"] == "gw.toml"
    # A JSON body has no stream: its first byte and its end are the first event and the text-complete instant.
    for call in test["calls"]:
        assert call["sent_at"] <= call["first_at"] <= call["text_at"] <= call["ended_at"]
    assert_no_leak()


def test_a_failed_session_call_is_that_runs_e_and_names_it(race_pytester: pytest.Pytester) -> None:
    setup(race_pytester, JSON_API.replace('path = "/sessions"', 'path = "/sessions?fail=1"'))
    result, (test,) = declared(race_pytester)
    result.assert_outcomes(failed=1)
    assert test["pattern"] == "eeeeee"
    result.stdout.fnmatch_lines(
        [
            "*transport: the session call POST http://127.0.0.1:*/sessions?fail=1 answered "
            "HTTP 500: *cannot create a session right now*"
        ]
    )


@pytest.mark.slow  # long: CI runs it in the slow step
def test_the_token_goes_to_both_calls(race_pytester: pytest.Pytester) -> None:
    setup(race_pytester, JSON_API)
    result, _ = declared(race_pytester, "--replyrace-token=s3cret", gateway="--require-token s3cret")
    result.assert_outcomes(passed=1)
    result, (test,) = declared(race_pytester, gateway="--require-token s3cret")
    result.assert_outcomes(failed=1)
    assert test["pattern"] == "eeeeee"
    result.stdout.fnmatch_lines(["*the session call POST * answered HTTP 401: *missing or wrong bearer token*"])


def test_an_sse_api_reports_its_first_and_text_complete_events_and_send_at_text_goes_before_the_end(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    setup(race_pytester, SSE_API, extra=", send_at='text', history='exact'")
    result, (test,) = declared(race_pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*PATTERN pppppp*"])
    calls = test["calls"]
    assert [call["run_id"] for call in calls] == [f"r-{i}" for i in range(1, 7)]
    tokens = [call["token"] for call in calls]
    assert histories(test) == [tokens[:i] for i in range(6)]
    for call in calls:
        # meta at once, the text complete after the provider served it, the end 300 ms later ([DONE]).
        served = call["journal"][0]["ended_at"]
        assert call["sent_at"] < call["first_at"] < served < call["text_at"] < call["ended_at"]
        assert call["ended_at"] - call["text_at"] >= 0.2
        assert call["reply"] is not None and call["token"] in call["reply"]
    for previous, call in itertools.pairwise(calls):
        # Each message went out at the previous text-complete event, while that answer was still open.
        assert call["anchor_at"] == previous["text_at"] and not call["anchor_fallback"]
        assert previous["text_at"] <= call["sent_at"] < previous["ended_at"]
    assert_no_leak()


@pytest.mark.parametrize("end", ["", 'end = "complete"\n'])
def test_an_ndjson_api_at_first_with_a_client_chosen_session_and_end_complete(
    race_pytester: pytest.Pytester, end: str
) -> None:
    setup(race_pytester, NDJSON_API + end, extra=", send_at='first', history='exact'")
    result, (test,) = declared(race_pytester)
    result.assert_outcomes(passed=1)
    calls = test["calls"]
    # Sent at the previous answer's first line, queued by the gateway behind the running turn: all real.
    assert test["pattern"] == "pppppp"
    tokens = [call["token"] for call in calls]
    assert histories(test) == [tokens[:i] for i in range(6)]
    for previous, call in itertools.pairwise(calls):
        assert call["anchor_at"] == previous["first_at"] and previous["first_at"] <= call["sent_at"]
        assert call["sent_at"] < previous["text_at"] and call["sent_while_busy"]
    tails = [call["ended_at"] - call["text_at"] for call in calls]
    if end:  # the text-complete line ends the answer: the 300 ms tail is not waited for
        assert max(tails) < 0.1, tails
    else:
        assert min(tails) >= 0.2, tails


@pytest.mark.parametrize(("stream", "fmt"), [("true", "sse"), ("false", "json")])
def test_a_form_body_with_typed_and_repeated_values(race_pytester: pytest.Pytester, stream: str, fmt: str) -> None:
    api = FORM_API.replace("STREAM", stream).replace("FORMAT", fmt)
    if fmt == "json":  # one body: its pointers point into it, and no event names
        api = (
            api.replace('[{ event = "delta", pointer = "/d" }]', '{ pointer = "/reply" }')
            .replace('complete = { event = "done" }\n', "")
            .replace('{ event = "error", pointer = "/message" }', '{ pointer = "/error/message" }')
        )
    setup(race_pytester, api)
    result, (test,) = declared(race_pytester)
    # The gateway answers 400 unless stream is true/false, n an integer and tags repeated a then b.
    result.assert_outcomes(passed=1)
    assert test["pattern"] == "pppppp"


def test_a_form_table_value_is_a_usage_error_naming_the_file_and_key(race_pytester: pytest.Pytester) -> None:
    setup(race_pytester, FORM_API.replace("STREAM", "{ on = true }").replace("FORMAT", "sse"))
    result = run_inprocess(
        race_pytester, f"--replyrace-gateway-cmd={declared_gateway_cmd()}", "--replyrace-api=gw.toml"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "--replyrace-api: gw.toml: [send] form.stream: a table or nested array cannot be a form value; expected a "
        "string, number or boolean, or an array of them"
    ) in result.stderr.str()


@pytest.mark.parametrize(
    ("ini", "line"),
    [
        ("replyrace_api = missing.toml", "*ini replyrace_api: the API file 'missing.toml' cannot be read (*"),
        (
            "replyrace_api = mastr",
            "*ini replyrace_api: 'mastr' is neither a built-in API nor a .toml file; expected one "
            "of langgraph, mastra*",
        ),
        (
            "replyrace_transport = declared",
            "*ini replyrace_transport: transport declared needs an API file; expected --replyrace-api FILE*",
        ),
    ],
)
def test_api_file_problems_are_usage_errors_before_any_test_runs(
    race_pytester: pytest.Pytester, ini: str, line: str
) -> None:
    config = race_pytester.path / "tox.ini"
    config.write_text(config.read_text().rstrip("\n") + "\n" + ini + "\n")
    race_pytester.makepyfile(test_declared=CALLS.format(calls=2, extra="", check="assert_clean"))
    result = run_inprocess(race_pytester, f"--replyrace-gateway-cmd={declared_gateway_cmd()}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([line])


def test_an_error_inside_a_200_stream_is_the_calls_error_with_its_instant(race_pytester: pytest.Pytester) -> None:
    setup(race_pytester, SSE_API, extra="", check="assert_no_fast_fail")
    test_file = race_pytester.path / "test_declared.py"
    test_file.write_text(
        test_file.read_text().replace(
            "@pytest.mark.rtt_range", "@pytest.mark.provider_faults('500', calls=[2])\n@pytest.mark.rtt_range"
        )
    )
    result, (test,) = declared(race_pytester)
    result.assert_outcomes(passed=1)
    # The provider failed call 2 and the gateway said so in an error event of its 200 stream: an honest e.
    assert test["pattern"] == "pepppp"
    second = test["calls"][1]
    assert second["error"].startswith("provider failed: HTTP 500")
    ((at, text),) = second["stream_errors"]
    assert text == second["error"] and second["first_at"] < at <= second["ended_at"]
    assert second["text_at"] is not None  # no text-complete event: the end completes the (empty) text


BUSY = "?busy=reject&busy_status=422&busy_text=Thread+is+already+running"


@pytest.mark.parametrize(
    ("busy", "policy", "outcome"),
    [
        ('busy = { status = [409, 422], text = "already running" }\n', "reject", "passed"),
        ('busy = { status = [409, 422], text = "already running" }\n', "queue", "failed"),
        ("", "reject", "failed"),
    ],
)
def test_the_busy_selector(race_pytester: pytest.Pytester, busy: str, policy: str, outcome: str) -> None:
    api = SSE_API.replace("?tail_ms=300", BUSY) + busy
    setup(race_pytester, api, extra=f", send_at='first', busy_policy='{policy}'")
    result, (test,) = declared(race_pytester)
    result.assert_outcomes(**{outcome: 1})
    calls = test["calls"]
    if busy:
        # Sent at the first event of a running turn and refused at once (422 with the text): b, allowed only by
        # reject. Its first event, text-complete and end are the instant the refusal was read.
        assert "b" in test["pattern"] and set(test["pattern"]) <= {"p", "b"}
        refused = [c for c in calls if c["letter"] == "b"]
        assert all(c["busy_refusal"] and c["first_at"] == c["text_at"] <= c["ended_at"] for c in refused)
        assert all("HTTP 422" in c["error"] and "already running" in c["error"] for c in refused)
    else:
        # Without [reply] busy, 422 refuses the request itself: a broken setup, e, never a turn that raced.
        assert "e" in test["pattern"]
        assert all(
            "answered HTTP 422: " in c["transport_error"]
            and "the gateway refused the request itself, not a turn: check [send] in gw.toml" in c["transport_error"]
            for c in calls
            if c["letter"] == "e"
        )


@pytest.mark.parametrize(
    "api",
    [
        SSE_API.replace("?tail_ms=300", "?busy=hold&hold_ms=400"),
        # A 200 whose error holds the busy text: a refusal by text alone (no status in [reply] busy).
        JSON_API.replace(
            'path = "/json/{session}"', 'path = "/json/{session}?busy=hold&hold_ms=400&busy_status=200"'
        ).replace(
            'error = { pointer = "/error/message" }', 'error = [{ pointer = "/error/message" }, { pointer = "/error" }]'
        )
        + 'busy = { text = "already running" }\n',
    ],
    ids=["sse-409", "json-200-text"],
)
def test_a_busy_refusal_of_a_message_sent_after_the_end_is_a_fast_fail(
    race_pytester: pytest.Pytester, api: str
) -> None:
    # The gateway holds the session 400 ms after each reply: a message sent at the end is refused though the
    # client was done.
    setup(race_pytester, api, check="assert_no_fast_fail")
    result, (test,) = declared(race_pytester, "--replyrace-busy-policy=reject")
    result.assert_outcomes(failed=1)
    assert test["pattern"] == "pfffff"
    assert all(call["busy_refusal"] and "already running" in call["error"] for call in test["calls"][1:])


@pytest.mark.parametrize(
    "reply",
    [
        'text = { event = "delta", pointer = "/so_far", mode = "replace" }\n',
        'complete = { event = "done", text = "/whole" }\n',
    ],
    ids=["replace", "complete-text"],
)
def test_the_text_as_a_snapshot_or_whole_in_the_text_complete_event(race_pytester: pytest.Pytester, reply: str) -> None:
    api = SSE_API.replace('text = { event = "delta", pointer = "/d" }\n', reply)
    if reply.startswith("complete"):
        api = api.replace('complete = { event = "done", pointer = "/finish" }\n', "")
    setup(race_pytester, api)
    result, (test,) = declared(race_pytester)
    result.assert_outcomes(passed=1)
    assert [call["reply"] for call in test["calls"]] == [f"ECHO {call['token']}" for call in test["calls"]]


@pytest.mark.parametrize(
    ("fault", "timeout", "evidence"),
    [
        ("garbage", "10", ["the answer holds no SSE event ([reply] format in gw.toml): '<html>oops ECHO"]),
        ("cut", "10", ["/sse/", "broke off after ", " bytes (ClientPayloadError: ", "what arrived: ", "event: delta"]),
        ("huge", "10", ["answer larger than 1048576 bytes: 'event: meta"]),
    ],
)
def test_a_broken_answer_is_e_with_an_excerpt_and_the_run_goes_on(
    race_pytester: pytest.Pytester, fault: str, timeout: str, evidence: list[str]
) -> None:
    setup(race_pytester, SSE_API.replace("?tail_ms=300", f"?fault={fault}&fault_turn=2"), calls=4)
    result, (test,) = declared(race_pytester, f"--replyrace-call-timeout={timeout}")
    result.assert_outcomes(failed=1)
    assert test["pattern"] == "pepp"
    error = test["calls"][1]["transport_error"]
    assert all(part in error for part in evidence), error
    result.stdout.fnmatch_lines(["*2 * e  transport: *"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "arrived"),
    [
        ("silent", ["HTTP 200 and ", " bytes of its body: 'event: meta"]),
        ("headers", ["HTTP 200 and 0 bytes of its body"]),
    ],
)
def test_an_answer_accepted_then_silent_is_l_with_the_provider_evidence(
    race_pytester: pytest.Pytester, fault: str, arrived: list[str]
) -> None:
    setup(race_pytester, SSE_API.replace("?tail_ms=300", f"?fault={fault}&fault_turn=2"), calls=4)
    result, (test,) = declared(race_pytester, "--replyrace-call-timeout=2")
    result.assert_outcomes(failed=1)
    assert test["pattern"] == "plpp"
    note = test["calls"][1]["note"]
    assert note.startswith("accepted, then silent: its token ") and all(part in note for part in arrived), note


def test_text_after_the_text_complete_event_is_late_text_not_the_reply(race_pytester: pytest.Pytester) -> None:
    setup(race_pytester, SSE_API.replace("?tail_ms=300", "?fault=late"))
    result, (test,) = declared(race_pytester)
    result.assert_outcomes(passed=1)
    for call in test["calls"]:
        assert not call["reply"].endswith("(late)")
        assert call["after_text"] == [" (late)"] and call["late_replies"] == []


PAGE = "10-any-http-gateway.md"


def page_toml(name: str, page: str = PAGE) -> str:
    (block,) = fenced_blocks(marked_block(doc_page(page), name), "toml")
    return block


@pytest.mark.parametrize("name", BUILTIN_APIS)
def test_the_docs_show_each_built_in_file_as_the_package_ships_it(name: str) -> None:
    page = "12-shared-protocols.md" if name in ("a2a", "agui") else PAGE  # the shared protocols have their page
    assert page_toml(f"{name}-api", page) == builtin_text(name)


def test_the_docs_multitask_strategy_line_is_the_built_in_one_plus_the_field() -> None:
    text = doc_page(PAGE).read_text(encoding="utf-8")
    changed = next(line for line in text.splitlines() if line.startswith("json = ") and "multitask_strategy" in line)
    original = next(line for line in builtin_text("langgraph").splitlines() if line.startswith("json = { assistant"))
    assert changed.endswith(', multitask_strategy = "reject" }')
    assert changed.replace(', multitask_strategy = "reject"', "") == original
    parse_api(builtin_text("langgraph").replace(original, changed), "copy")


def test_the_docs_example_is_clean_at_send_at_text(
    race_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    setup(race_pytester, page_toml("declared-example"), extra=", send_at='text', history='exact'")
    result, (test,) = declared(race_pytester)
    result.assert_outcomes(passed=1)
    assert test["pattern"] == "pppppp" and all(call["text_at"] < call["ended_at"] for call in test["calls"])
    assert_no_leak()
