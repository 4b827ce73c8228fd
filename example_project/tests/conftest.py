"""How the example project points pytest-replyrace at its gateway.

pytest.ini names the command that starts the toy gateway; this conftest adds
the mode under test, so one session can hold one gateway per mode (the
plugin's ``replyrace_gateway_factory`` starts each once and stops them all at
the end). Each mode stands for a family of OpenClaw releases; the buggy ones
are expected to fail where their planted race window opens, and are marked
``xfail(strict=True)`` there: a green run means the plugin caught every
planted bug and raised no false alarm.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

# Background work started with every model turn, holding the session guard
# until it ends: a provider faster than this leaves a window after each reply
# that the next send (BACKGROUND_MS - RTT later at most) can fall into. With a
# 0.2 s gap the window is open below 300 ms RTT: the demo's 50 and 160 ms fall
# into it, its 500 ms does not.
BACKGROUND_MS = 500
# A probed RTT this close to the window's edge would pass or fail by luck on a
# loaded machine: refuse it rather than flake.
EDGE_MARGIN = 0.06


@dataclass(frozen=True)
class Planted:
    releases: str
    bug: str
    send_at: str | None = None
    """For a busy-session bug: the moment of sending it bites at (a test's send_at parameter); None: the
    guard-window bugs, which bite at fast RTTs."""

    def window_open_at(self, rtt: float, gap: float) -> bool:
        # The guard outlives the reply by BACKGROUND_MS - RTT; a send `gap` later finds it held.
        edge = BACKGROUND_MS / 1000 - gap
        if abs(rtt - edge) < EDGE_MARGIN:
            raise pytest.UsageError(
                f"rtt={rtt * 1000:g}ms is within {EDGE_MARGIN * 1000:g} ms of the planted "
                f"window's edge ({edge * 1000:g} ms at gap={gap:g}s); probe further from it"
            )
        return rtt < edge


PLANTED: dict[str, Planted | None] = {
    "drain-first": Planted("2026.4.26 / 2026.5.3", "follow-up drain scheduled while the guard is held"),
    "alternating": Planted("2026.5.4 – 2026.5.7", "drain sleeps a debounce after release; direct sends leapfrog it"),
    "cascade": Planted("2026.5.12", "queued sends pile up behind slow follow-up runs"),
    "lost-drain": Planted("2026.6 (#91909)", "a send in the terminal window is queued and never drained"),
    "fixed": None,
}
# The busy-session bugs: tests ask for them by name with @pytest.mark.toy_modes.
BUSY_PLANTED: dict[str, Planted] = {
    "busy-after-final": Planted("a rejecting gateway", "the turn goes idle 200 ms after its final", "text"),
    "stale-history": Planted("an agent server", "the turn is stored 200 ms after its final", "text"),
    "takeover": Planted("2026.7.1-2 (#113194)", "a message during a model call takes the session over", "request"),
    "tool-handoff": Planted(
        "an agent loop",
        "the session is given up while a tool runs, and the pending tool call is kept per session",
        "request",
    ),
}


# The stop bugs (tests/test_stop_demo.py): each caught wherever its test runs it.
STOP_PLANTED: dict[str, Planted] = {
    "stop-ignored": Planted("Mastra #20447", "a stop is acknowledged and the turn runs on"),
    "stop-wedge": Planted("OpenClaw #90309, #113019", "a stop leaves the session write lock behind"),
    "stop-leaks-pending": Planted("OpenClaw #145727", "a stopped waiting message still reaches the model"),
    "stop-orphan-tool": Planted("OpenClaw #116379", "a stop during a tool stores the tool call without its result"),
    "disconnect-drops": Planted("OpenClaw #82484's promise", "a client going away cancels and drops its turn"),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "toy_modes(*modes): run the test once per toy gateway mode")
    config.addinivalue_line("markers", "toy_args(*args): more arguments for the toy gateway, e.g. '--busy', 'reject'")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "toy_mode" in metafunc.fixturenames:
        mark = metafunc.definition.get_closest_marker("toy_modes")
        modes = list(mark.args) if mark is not None else list(PLANTED)
        metafunc.parametrize("toy_mode", modes)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(item, "callspec", None)
        if params is None or "toy_mode" not in params.params:
            continue
        stop = STOP_PLANTED.get(params.params["toy_mode"])
        if stop is not None:
            item.add_marker(
                pytest.mark.xfail(
                    strict=True, raises=AssertionError, reason=f"planted bug ({stop.releases}): {stop.bug}"
                )
            )
            continue
        busy = BUSY_PLANTED.get(params.params["toy_mode"])
        if busy is not None:
            if params.params.get("send_at") == busy.send_at:
                item.add_marker(
                    pytest.mark.xfail(
                        strict=True, raises=AssertionError, reason=f"planted bug of {busy.releases}: {busy.bug}"
                    )
                )
            continue
        planted = PLANTED.get(params.params["toy_mode"])
        mark = item.get_closest_marker("replyrace")
        gap = float(mark.kwargs.get("gap", 0.0)) if mark is not None else 0.0
        rtt = params.params.get("replyrace_rtt")
        if planted is not None and rtt is not None and planted.window_open_at(rtt, gap):
            item.add_marker(
                pytest.mark.xfail(
                    strict=True,
                    raises=AssertionError,
                    reason=f"planted bug of OpenClaw {planted.releases}: {planted.bug}",
                )
            )


@pytest.fixture
def gateway(request, toy_mode: str, replyrace_gateway_factory, replyrace_settings):  # type: ignore[no-untyped-def]
    """This test's toy gateway: the configured command plus the mode (one process per mode and arguments)."""
    command = f"{replyrace_settings.gateway_cmd} --mode {toy_mode} --background-ms {BACKGROUND_MS}"
    mark = request.node.get_closest_marker("toy_args")
    if mark is not None:
        command += " " + " ".join(mark.args)
    if "toy_busy" in request.fixturenames:  # a test parametrized over the gateway's busy policy
        command += f" --busy {request.getfixturevalue('toy_busy')}"
    # TOY_GATEWAY_ARGS tries a regression without editing code, e.g.
    # "--admission-wait off --cleanup-ms 500" turns `fixed` back into a racy build.
    extra = os.environ.get("TOY_GATEWAY_ARGS", "").strip()
    return replyrace_gateway_factory.launch(f"{command} {extra}" if extra else command)
