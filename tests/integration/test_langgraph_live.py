"""LangGraph's Agent Server (``langgraph dev``, in-memory runtime, PyPI) behind its own HTTP API, spoken by the
declared transport with the built-in ``langgraph`` API file: a thread per run, then per message
``POST /threads/{thread}/runs/stream`` (SSE, ``stream_mode: ["messages-tuple"]``). The project (``langgraph.json``
and a one-node graph calling the fake provider through ``ChatOpenAI``) comes from gateway-file templates.

The server's ``multitask_strategy`` decides what a message sent while the thread runs gets. ``enqueue`` (the
default) queues it. ``reject`` answers 409 "Thread is already running a task" while the thread has a pending or
running run, and the worker emits the run's last events before it marks the run done and closes the stream: a
client that sends on the text-complete event (the chunk with the finish_reason) is refused for a few ms with no
model call, though its previous reply was complete, a fast-fail ``f``. Waiting for the stream to end is clean.
The in-memory queue polls every 0.5 s, so a turn on an idle thread takes about a second.

Two traps of ``langgraph dev``: it moves to another port when its port is taken, with only a log line (the
launcher refuses a taken port and fails clearly when the gateway listens elsewhere), and it keeps its state in
``./.langgraph_api`` (pytester runs each test in a fresh folder)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_replyrace.gateway.launcher import GatewayStartError, LaunchedGateway
from pytest_replyrace.transports.api_file import builtin_text

from .anchors import inner, patterns
from .langgraph_install import LANGGRAPH_CLI_VERSION

pytestmark = pytest.mark.gateways

TEMPLATES = Path(__file__).parent / "langgraph"
QUIET = {"LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"}


def command(langgraph: Path) -> str:
    return (
        f"{langgraph} dev --host 127.0.0.1 --port {{port}} --no-browser --no-reload "
        "--config {state_dir}/langgraph.json"
    )


def langgraph_ini(langgraph: Path) -> str:
    return f"""
        [pytest]
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        timeout = 600
        replyrace_gateway_cmd = {command(langgraph)}
        replyrace_gateway_files =
            langgraph.json = {TEMPLATES / "langgraph.json"}
            agent.py = {TEMPLATES / "agent.py"}
        replyrace_ready = http:/ok
        replyrace_ready_timeout = 120
        replyrace_call_timeout = 60
        """


def reject_api() -> str:
    """The built-in file, copied and changed as docs/10-any-http-gateway.md shows: the thread rejects a message
    while it runs."""
    text = builtin_text("langgraph")
    changed = text.replace(
        'stream_mode = ["messages-tuple"] }', 'stream_mode = ["messages-tuple"], multitask_strategy = "reject" }'
    )
    assert changed != text
    return changed


@pytest.fixture
def langgraph_pytester(
    pytester: pytest.Pytester, langgraph: Path, monkeypatch: pytest.MonkeyPatch, leak_marker: str
) -> pytest.Pytester:
    for name, value in QUIET.items():
        monkeypatch.setenv(name, value)
    pytester.makeini(langgraph_ini(langgraph))
    return pytester


def run_sends(pytester: pytest.Pytester, api: str, policy: str, calls: int) -> tuple[pytest.RunResult, dict[str, Any]]:
    pytester.makepyfile(test_langgraph=inner(calls, policy))
    report = pytester.path / "history.json"
    start = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-p", "pytest_replyrace", f"--replyrace-api={api}", f"--replyrace-report={report}", "-s", timeout=900
    )
    tests = patterns(report)
    for send_at, test in tests.items():
        latencies = [round(call["latency"] * 1000) for call in test["calls"]]
        print(
            f"langgraph-cli {LANGGRAPH_CLI_VERSION} {policy} send_at={send_at}: {test['pattern']} "
            f"latencies {latencies} ms"
        )
    print(f"langgraph {policy}: {time.monotonic() - start:.1f} s for the run")
    return result, tests


def test_enqueue_is_clean_at_end_text_and_first(
    langgraph_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    result, tests = run_sends(langgraph_pytester, "langgraph", "queue", calls=6)
    assert {send_at: test["pattern"] for send_at, test in tests.items()} == {
        "end": "pppppp",
        "text": "pppppp",
        "first": "pppppp",
    }
    result.assert_outcomes(passed=3)
    for test in tests.values():
        tokens = [call["token"] for call in test["calls"]]
        for i, call in enumerate(test["calls"]):
            # One thread per run: the provider was given every earlier turn of it, in order.
            assert [t for t in call["journal"][0]["history"] if t in tokens] == tokens[:i]
    assert_no_leak()


def test_reject_is_clean_at_end_and_fast_fails_at_text(
    langgraph_pytester: pytest.Pytester, assert_no_leak: Callable[[], None]
) -> None:
    (langgraph_pytester.path / "langgraph-reject.toml").write_text(reject_api())
    result, tests = run_sends(langgraph_pytester, "langgraph-reject.toml", "reject", calls=12)
    # Measured: end pppppppppppp; text pffpfpfffffp (8 of 12 refused in 3-7 ms); first pbbbbbbbbbbb.
    assert tests["end"]["pattern"] == "p" * 12
    text = tests["text"]
    assert "f" in text["pattern"] and set(text["pattern"]) <= {"p", "f"}, text["pattern"]
    for call in text["calls"]:
        if call["letter"] == "f":
            # Refused as busy within a few ms of the previous reply's last event, and no model call was made:
            # the previous reply was complete, so the refusal says the thread was done when it was not.
            assert call["busy_refusal"] and not call["sent_while_busy"] and call["journal"] == [], call
            assert call["latency"] < 0.25 and "HTTP 409" in call["error"] and "already running" in call["error"]
    # Sent at the first event, while the run ran: refused as busy, which the reject policy allows.
    first = tests["first"]["pattern"]
    assert first[0] == "p" and "b" in first and set(first) <= {"p", "b"}, first
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*send_at=text, busy_policy=reject: *pattern p*f*"])
    assert_no_leak()


def test_a_taken_port_is_refused_and_a_moved_langgraph_fails_clearly(langgraph: Path, tmp_path: Path) -> None:
    # langgraph dev moves to another port when its own is taken; something must hold the port after the
    # launcher's check and before langgraph binds it (it takes about 2 s to start).
    gateway = LaunchedGateway(
        command(langgraph),
        provider_url="http://127.0.0.1:9/v1",
        ready="http:/ok",
        ready_timeout=60,
        env=QUIET,
        cwd=tmp_path,
        files=[("langgraph.json", TEMPLATES / "langgraph.json"), ("agent.py", TEMPLATES / "agent.py")],
    )
    failure: list[BaseException] = []

    def start() -> None:
        try:
            gateway.start()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while gateway.pid is None and time.monotonic() < deadline:
            time.sleep(0.005)
        with occupied(gateway.port):
            thread.join(timeout=90)
    finally:
        gateway.stop()
    (error,) = failure
    assert isinstance(error, GatewayStartError), error
    message = str(error)
    print(message)
    moved = re.search(
        rf"does not listen on its port {gateway.port}: its processes listen on 127\.0\.0\.1:(\d+)", message
    )
    assert moved is not None and moved.group(1) != str(gateway.port), message
    assert f"http://127.0.0.1:{moved.group(1)}" in message.split("last 30 log lines:")[1]  # its log says so too


def occupied(port: int) -> Iterator[None]:
    import contextlib
    import http.server

    @contextlib.contextmanager
    def hold() -> Iterator[None]:
        class NotIt(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(404)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.HTTPServer(("127.0.0.1", port), NotIt)
        worker = threading.Thread(target=server.serve_forever, daemon=True)
        worker.start()
        try:
            yield
        finally:
            server.shutdown()
            server.server_close()
            worker.join(timeout=5)

    return hold()  # type: ignore[return-value]
