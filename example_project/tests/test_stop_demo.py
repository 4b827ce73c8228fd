"""When clients stop and go away: a Stop pressed in the middle of a turn, a client that leaves mid-answer.

Each test stops the odd calls (1, 3, …) at a moment of their turn and judges them with the letters ``s``
(stopped as asked) and ``o`` (overran the stop), and the call after each stop as always, since that call
shows what the stop left behind. Each of the toy's five planted stop bugs is caught (xfail strict); ``fixed``
is clean at every stop anchor, both by a stop call and by going away.
"""

import pytest

from pytest_replyrace import HttpTransport

# The toy's turn engine with a queue: the busy policy the stop modes are built on, for `fixed` too.
pytestmark = pytest.mark.toy_args("--busy", "queue")


@pytest.fixture
def replyrace_transport_factory(gateway):
    # The toy's HTTP contract: POST /chat.send, and POST /chat.abort to stop a turn.
    return lambda: HttpTransport(gateway.url)


@pytest.mark.toy_modes("stop-ignored", "fixed")
@pytest.mark.rtt_range("400ms", "400ms", steps=1)
@pytest.mark.replyrace(calls=2, stop_at="request", stop_gap=0.15)
def test_a_stopped_turn_ends(toy_mode, sequential_sender):
    # stop-ignored: the stop is acknowledged, the turn runs on and its reply arrives (o).
    sequential_sender.run().assert_no_fast_fail()


@pytest.mark.toy_modes("stop-wedge", "fixed")
@pytest.mark.rtt_range("400ms", "400ms", steps=1)
@pytest.mark.replyrace(calls=2, stop_at="request", stop_gap=0.15)
def test_the_message_after_a_stop_is_answered(toy_mode, sequential_sender):
    # stop-wedge: the stop leaves the session's write lock behind; the next message fails (f, after the stop).
    sequential_sender.run().assert_no_fast_fail()


@pytest.mark.toy_modes("stop-leaks-pending", "fixed")
@pytest.mark.rtt_range("400ms", "400ms", steps=1)
@pytest.mark.replyrace(calls=3, send_at="request", gap=0.1, stop_calls="2", stop_at="sent", stop_gap=0.1)
def test_a_stopped_waiting_message_never_reaches_the_model(toy_mode, sequential_sender):
    # Call 2 is sent while call 1's model call runs, and stopped while it waits its turn.
    # stop-leaks-pending: it is answered "aborted", and the model gets its text later (o).
    sequential_sender.run().assert_no_fast_fail()


@pytest.mark.toy_modes("stop-orphan-tool", "fixed")
@pytest.mark.toy_args("--busy", "queue", "--tool-ms", "400")
@pytest.mark.rtt_range("100ms", "100ms", steps=1)
@pytest.mark.provider_model(tool_calls=1)
@pytest.mark.replyrace(calls=2, stop_at="request", stop_gap=0.25)
def test_a_stop_during_a_tool_leaves_no_unpaired_tool_call(toy_mode, sequential_sender):
    # The stop lands while the clock tool runs. stop-orphan-tool: the tool call is stored without its result,
    # and the provider refuses call 2's request as a real one does (e: an unpaired tool call).
    sequential_sender.run().assert_clean()


@pytest.mark.toy_modes("disconnect-drops", "fixed")
@pytest.mark.rtt_range("400ms", "400ms", steps=1)
@pytest.mark.replyrace(
    calls=2, stop_at="request", stop_gap=0.15, stop_by="disconnect", disconnect_policy="continue", history="exact"
)
def test_a_turn_outlives_its_client(toy_mode, sequential_sender):
    # disconnect-drops: the client going away cancels the turn and drops it (o under the continue promise).
    sequential_sender.run().assert_clean()


@pytest.mark.toy_modes("fixed")
@pytest.mark.parametrize(
    ("stop_at", "stop_by"),
    [  # request, by a stop call and by going away: the fixed twins of the tests above
        *((anchor, "cancel") for anchor in ("sent", "first", "served", "text", "end")),
        *((anchor, "disconnect") for anchor in ("sent", "served")),
    ],
)
@pytest.mark.rtt_range("200ms", "200ms", steps=1)
@pytest.mark.replyrace(calls=2)
def test_fixed_stops_cleanly_at_every_anchor(toy_mode, stop_at, stop_by, sequential_sender):
    # served - 80 ms: inside the model call; after the text or the end the stop comes after the reply (p).
    gap = -0.08 if stop_at == "served" else 0.05
    sequential_sender.settings = sequential_sender.settings.override(
        "test", stop_at=stop_at, stop_gap=gap, stop_by=stop_by
    )
    result = sequential_sender.run()
    result.assert_clean()
    if stop_at in ("sent", "request", "served"):  # the HTTP contract's first event is its whole body
        assert result.pattern.startswith("s"), result.timeline()
