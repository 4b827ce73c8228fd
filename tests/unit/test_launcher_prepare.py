"""LaunchedGateway: the constructor only stores and checks; prepare() (start() calls it) makes the state dir,
registers it with the watchdog, takes the port and fills the command."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_replyrace.errors import NotStarted
from pytest_replyrace.gateway.launcher import LaunchedGateway

URL = "http://127.0.0.1:9/v1"


def test_the_constructor_makes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    gateway = LaunchedGateway("gw --port {port} --dir {state_dir}", provider_url=URL, state_dir=state)
    assert not state.exists()
    with pytest.raises(NotStarted, match=r"the gateway's port is known once it is prepared; call prepare\(\)"):
        _ = gateway.port
    with pytest.raises(NotStarted):
        _ = gateway.url
    assert "not prepared" in repr(gateway)
    gateway.stop()  # nothing to stop, nothing to remove


def test_prepare_makes_the_dir_takes_the_port_and_fills_the_command_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    gateway = LaunchedGateway("gw --port {port} --dir {state_dir}", provider_url=URL, state_dir=state)
    assert gateway.prepare() is gateway
    port = gateway.port
    assert state.is_dir() and gateway.url == f"http://127.0.0.1:{port}"
    assert gateway.command == ["gw", "--port", str(port), "--dir", str(state)]
    assert gateway.env()["REPLYRACE_GATEWAY_PORT"] == str(port)
    assert gateway.prepare().port == port  # idempotent
    gateway.stop()
    assert state.is_dir()  # a state dir the caller gave is the caller's


def test_a_state_dir_of_its_own_is_made_by_prepare_and_removed_by_stop() -> None:
    gateway = LaunchedGateway("gw --port {port}", provider_url=URL).prepare()
    state = gateway.state_dir
    assert state.is_dir() and state.name.startswith("replyrace-gw-")
    gateway.stop()
    assert not state.exists()


def test_a_bad_template_is_refused_by_the_constructor_before_anything_is_made() -> None:
    with pytest.raises(ValueError, match=r"gateway command 'gw --port \{port:>9\}'"):
        LaunchedGateway("gw --port {port:>9}", provider_url=URL)
