"""When clients send: the next message before the previous turn has wound down.

A chat UI shows the reply as soon as its text is complete, and the user types the next message while the
gateway is still finishing the turn; people also write again while the agent is still thinking. These tests
send the next message on the previous final (``send_at="text"``) or while its model call runs
(``"request"``), and, like the careful client the maintainer had, only after agent.wait said the run was
done (``"end"``). Each planted bug is caught where it bites and clean at ``end``; ``fixed`` with the same
policy is clean everywhere, and each policy's own letter passes under that policy.
"""

import pytest

from pytest_replyrace import OpenClawTransport


@pytest.fixture
def replyrace_transport_factory(gateway):
    # The toy's WebSocket, with agent.wait after each final: `end` is "the run has settled".
    return lambda: OpenClawTransport(gateway.url, token="replyrace-token", agent_wait=True)


@pytest.mark.toy_modes("busy-after-final", "fixed")
@pytest.mark.toy_args("--busy", "reject")
@pytest.mark.parametrize("send_at", ["end", "text"])
@pytest.mark.rtt_range("100ms", "100ms", steps=1)
@pytest.mark.replyrace(calls=3, busy_policy="reject")
def test_a_refusing_gateway_is_idle_when_it_says_done(toy_mode, send_at, sequential_sender):
    sequential_sender.run(send_at=send_at).assert_no_fast_fail()


@pytest.mark.toy_modes("stale-history", "fixed")
@pytest.mark.toy_args("--busy", "queue")
@pytest.mark.parametrize("send_at", ["end", "text"])
@pytest.mark.rtt_range("100ms", "100ms", steps=1)
@pytest.mark.replyrace(calls=3, history="exact")
def test_the_next_turn_sees_the_previous_one(toy_mode, send_at, sequential_sender):
    sequential_sender.run(send_at=send_at).assert_clean()


@pytest.mark.toy_modes("takeover", "fixed")
@pytest.mark.toy_args("--busy", "queue")
@pytest.mark.parametrize("send_at", ["end", "request"])
@pytest.mark.rtt_range("200ms", "200ms", steps=1)
@pytest.mark.replyrace(calls=3, gap=0.05)
def test_a_message_during_a_model_call_waits_its_turn(toy_mode, send_at, sequential_sender):
    sequential_sender.run(send_at=send_at).assert_no_fast_fail()


@pytest.mark.toy_modes("tool-handoff", "fixed")
@pytest.mark.toy_args("--busy", "queue", "--tool-ms", "200")
@pytest.mark.parametrize("send_at", ["end", "request"])
@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.provider_model(tool_calls=1, strict_tools=False)
@pytest.mark.replyrace(calls=3)
def test_a_message_during_a_tool_call_waits_for_the_turn(toy_mode, send_at, sequential_sender):
    # Each turn: a tool call to `clock` (200 ms), then the text. A message sent while the first model call
    # runs must wait for the whole turn, tool included, and every tool call must get its own result.
    # strict_tools=False: a real provider would refuse the handed-off result with a 400 (the call then reads
    # `e`); the lenient model lets the conversation check name the bug (`h`, a result for a call never issued).
    sequential_sender.run(send_at=send_at).assert_clean()


@pytest.mark.toy_modes("fixed")
@pytest.mark.parametrize(
    ("toy_busy", "send_at", "letter"),
    [("reject", "first", "b"), ("steer", "request", "m"), ("interrupt", "request", "i")],
)
@pytest.mark.rtt_range("200ms", "200ms", steps=1)
@pytest.mark.replyrace(calls=3, gap=0.05)
def test_each_busy_policy_keeps_its_promise(toy_mode, toy_busy, send_at, letter, sequential_sender):
    result = sequential_sender.run(send_at=send_at, busy_policy=toy_busy)
    result.assert_clean()
    assert letter in result.pattern  # the policy was exercised, not dodged
