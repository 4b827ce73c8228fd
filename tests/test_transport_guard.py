"""The driver's one guard around every transport: whatever a transport raises, or returns that
is not a reply, is that call's `e` quoting it, and the run goes on to its next call, its
summary row and its report entry. Cancellation still passes through."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pytest
from support.selftest import race_gateway_cmd, run

from pytest_replyrace.driver import DriverSettings, SequentialSender
from pytest_replyrace.transports.base import TransportReply


@dataclass
class Flaky:
    """Answers every call, except that call ``bad`` raises or returns ``failure``."""

    failure: BaseException | object
    bad: int = 2
    name: str = "flaky"
    sent: list[str] = field(default_factory=list)

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def late_replies(self) -> dict[str, list[str]]:
        return {}

    async def send(self, session_key: str, message: str, idempotency_key: str) -> TransportReply:
        self.sent.append(message)
        if len(self.sent) == self.bad:
            if isinstance(self.failure, BaseException):
                raise self.failure
            return self.failure  # type: ignore[return-value]
        return TransportReply(run_id=idempotency_key, reply=message.rsplit(" ", 1)[-1])


def run_flaky(transport: Flaky, calls: int = 3) -> list[str | None]:
    sender = SequentialSender(lambda: transport, settings=DriverSettings(calls=calls, timeout=5, settle=0))
    result = asyncio.run(asyncio.wait_for(sender.arun(), 20))
    assert len(transport.sent) == calls  # the run went on after the bad call
    assert [c.letter for c in result.calls][1] == "e"
    return [c.transport_error for c in result.calls]


@pytest.mark.parametrize(
    ("failure", "quoted"),
    [
        (
            ZeroDivisionError("division by zero"),
            "the flaky transport's send() raised ZeroDivisionError: 'division by zero'",
        ),
        (KeyError("runId"), "the flaky transport's send() raised KeyError: \"'runId'\""),
        # Raised by the transport, a TimeoutError is evidence: only the driver's own timeout makes `l`.
        (TimeoutError("socket read"), "the flaky transport's send() raised TimeoutError: 'socket read'"),
        (RecursionError("x" * 100_000), "the flaky transport's send() raised RecursionError: 'xxxx"),
        (None, "the flaky transport's send() returned 'None', not a TransportReply"),
    ],
    ids=["ZeroDivisionError", "KeyError", "TimeoutError", "huge-message", "returns-None"],
)
def test_whatever_send_raises_is_that_calls_error_and_the_run_goes_on(failure: object, quoted: str) -> None:
    errors = run_flaky(Flaky(failure))
    assert errors[0] is None and errors[2] is None
    assert errors[1] is not None and errors[1].startswith(quoted)
    assert len(errors[1]) < 400  # bounded, whatever the message


def test_cancellation_is_not_evidence() -> None:
    with pytest.raises(asyncio.CancelledError):
        run_flaky(Flaky(asyncio.CancelledError()))


def test_a_transport_that_raises_still_gets_its_summary_row_and_report_entry(race_pytester: pytest.Pytester) -> None:
    race_pytester.makepyfile(
        test_guard="""
        import pytest
        from pytest_replyrace.transports.http import HttpTransport

        class Broken(HttpTransport):
            async def send(self, session_key, message, idempotency_key):
                if message.startswith("replyrace probe 2/"):
                    return 1 / 0
                return await super().send(session_key, message, idempotency_key)

        @pytest.fixture
        def replyrace_transport_factory(gateway):
            return lambda: Broken(gateway.url)

        @pytest.mark.replyrace(calls=3)
        def test_run(sequential_sender):
            result = sequential_sender.run()
            print("PATTERN", result.pattern)
            print("ERROR", result.calls[1].transport_error)
        """
    )
    report = race_pytester.path / "history.json"
    result = run(race_pytester, "-s", f"--replyrace-gateway-cmd={race_gateway_cmd()}", f"--replyrace-report={report}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*PATTERN pep",
            "ERROR the http transport's send() raised ZeroDivisionError: 'division by zero'",
            "*= replyrace summary =*",
            "test_guard.py::test_run",
            "*50ms*pep *2  0  0  0  1 *",
        ]
    )
    (test,) = json.loads(report.read_text())["tests"]
    assert test["pattern"] == "pep"
    assert "ZeroDivisionError" in test["calls"][1]["transport_error"]
