"""A launched gateway must answer on its own port: one that moved to another (as LangGraph's ``langgraph dev`` does
when its port is taken, with only a log line) while something else answers on ``{port}`` fails clearly, and at
once, not after the readiness timeout. Real processes: a gateway that listens on a port of its own choosing, and
an unrelated HTTP server holding the one the launcher gave it."""

from __future__ import annotations

import contextlib
import http.server
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_replyrace.gateway.launcher import GatewayStartError, LaunchedGateway

# A gateway that ignores the port it was given and listens on a free one, saying where only in its log.
MOVED = """
import http.server, socket
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Ok)
print("API: http://127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
"""


@contextlib.contextmanager
def occupant(port: int, status: int) -> Iterator[http.server.HTTPServer]:
    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def gone(pid: int | None) -> bool:
    return pid is None or not Path(f"/proc/{pid}").exists()


@pytest.fixture
def moved_gateway() -> Iterator[LaunchedGateway]:
    gateway = LaunchedGateway(
        [sys.executable, "-c", MOVED],
        provider_url="http://127.0.0.1:9/v1",
        ready="http:/readyz",
        ready_timeout=30,
        stop_grace=2,
    ).prepare()  # its port is known before it starts
    yield gateway
    gateway.stop()
    assert gone(gateway.pid)


def test_a_port_taken_before_the_gateway_starts_is_refused_at_once(moved_gateway: LaunchedGateway) -> None:
    with occupant(moved_gateway.port, 200), pytest.raises(GatewayStartError) as info:
        moved_gateway.start()
    assert f"was not started: its port {moved_gateway.port} is taken" in str(info.value)
    assert moved_gateway.pid is None  # nothing was started


@pytest.mark.parametrize("status", [200, 404])
def test_a_gateway_that_moved_while_something_else_took_its_port_fails_clearly_and_at_once(
    moved_gateway: LaunchedGateway, status: int
) -> None:
    # The port is taken after the launcher checked it and before the readiness check: 200, the other process
    # passes the readiness check itself; 404, it never would, and waiting the 30 s would not help.
    failure: list[BaseException] = []

    def start() -> None:
        try:
            moved_gateway.start()
        except BaseException as exc:
            failure.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=start)
    thread.start()
    deadline = time.monotonic() + 20
    while "API: http://127.0.0.1:" not in "\n".join(moved_gateway.log_tail()) and time.monotonic() < deadline:
        time.sleep(0.02)  # until the gateway listens where it chose
    with occupant(moved_gateway.port, status):
        thread.join(timeout=25)
    elapsed = time.monotonic() - started
    (error,) = failure
    message = str(error)
    assert isinstance(error, GatewayStartError), message
    assert f"does not listen on its port {moved_gateway.port}: its processes listen on 127.0.0.1:" in message
    assert f"something else answers on {moved_gateway.port}" in message and "LangGraph's `langgraph dev`" in message
    assert "API: http://127.0.0.1:" in message  # the log tail shows where it went
    assert elapsed < 10, elapsed
    assert not moved_gateway.is_running()


def test_a_gateway_on_its_own_port_is_ready() -> None:
    own = MOVED.replace('("127.0.0.1", 0)', '("127.0.0.1", int(__import__("sys").argv[1]))')
    gateway = LaunchedGateway(
        [sys.executable, "-c", own, "{port}"],
        provider_url="http://127.0.0.1:9/v1",
        ready="http:/readyz",
        ready_timeout=30,
        stop_grace=2,
    )
    try:
        gateway.start()
        assert gateway.is_running()
    finally:
        gateway.stop()
    assert gone(gateway.pid)
