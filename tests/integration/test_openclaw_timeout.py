"""Real OpenClaw and an honest model timeout (issue 28, item 10).

OpenClaw 2026.6.33 with a 5 s model timeout (``agents.defaults.timeoutSeconds``); our ``ttft`` fault holds call 1's
first token for 60 s, and call 2 goes out when the provider received call 1's request (``send_at="request"``).
6.33 gives up on call 1's model call after its timeout, ends call 1 with a bare final, and runs call 2 as its own
turn, which gets its real reply. That is correct: call 1 is ``e`` ("the gateway gave up on a model call we
held"), never ``i`` (call 2 did not interrupt it; our fault and the gateway's timeout ended it), and the run passes
under ``steer`` and ``queue``. Measured: ``epp`` (call 2's request also carries call 1's message, which OpenClaw
keeps in the session; its reply answers both).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .test_openclaw_live import run_against

pytestmark = pytest.mark.openclaw

VERSION = "2026.6.33"
CONFIG = json.dumps({"agents": {"defaults": {"timeoutSeconds": 5}}})

TIMEOUT_TEST = """
import pytest

@pytest.mark.rtt_range("50ms", "50ms", steps=1)
@pytest.mark.provider_faults("ttft", calls=[1], ttft=60.0)
@pytest.mark.replyrace(calls=3, send_at="request", busy_policy="{policy}")
def test_model_timeout(sequential_sender):
    result = sequential_sender.run()
    print("PATTERN", result.pattern)
    result.assert_no_fast_fail()
"""


@pytest.mark.parametrize("policy", ["steer", "queue"])
def test_openclaw_2026_6_33_gives_up_on_a_held_model_call_honestly(
    policy: str,
    pytester: pytest.Pytester,
    leak_marker: str,
    openclaw_release: Callable[[str], tuple[Path, Path]],
    assert_no_leak: Callable[[], None],
) -> None:
    result, history = run_against(
        pytester,
        openclaw_release,
        VERSION,
        f"--replyrace-openclaw-config={CONFIG}",
        "-s",
        test=TIMEOUT_TEST.replace("{policy}", policy),
    )
    (test,) = history["tests"]  # type: ignore[misc]
    print(f"{VERSION} model timeout 5 s, ttft fault 60 s on call 1, busy_policy={policy}: pattern", test["pattern"])
    print(test["timeline"])
    first, *others = test["calls"]
    assert first["letter"] == "e" and first["note"] == "the gateway gave up on a model call we held", first
    assert any(e["fault"] == "ttft" and not (e["ended_at"] and e["status"] == 200) for e in first["journal"]), first
    assert all(call["letter"] == "p" for call in others), test["pattern"]
    result.assert_outcomes(passed=1)
    assert_no_leak()
