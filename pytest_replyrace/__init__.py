"""pytest-replyrace: catch reply races in chat/LLM gateways across provider RTTs.

The library half needs no pytest: the fake provider, the gateway launcher, the
transports, the sequential-send driver and the verdicts. :mod:`pytest_replyrace.plugin`
holds the hooks and fixtures. Every exception we raise derives from
:class:`ReplyraceError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .driver import SequentialSender
    from .errors import FakeProviderError, MarkerError, RaceFailure, ReplyraceError, SettingsError
    from .gateway.attached import AttachedGateway
    from .gateway.launcher import Gateway, GatewayStartError, LaunchedGateway
    from .gateway.pool import GatewayPool
    from .gateway.readiness import ReadyCheck
    from .provider.faults import FaultPlan, FaultRule
    from .provider.server import FakeProvider, RttSpec
    from .records import CallRecord, JournalEntry, LogMatch, StopRecord
    from .settings import Settings
    from .spec import DriverSettings, RunSpec
    from .transports.base import StopAnswer, Transport, TransportError, TransportReply
    from .transports.http import HttpTransport
    from .transports.openclaw import OpenClawTransport
    from .verdict import RaceResult
    from .version import __version__
    from .window import RaceWindow

_WHERE: dict[str, str] = {
    "AttachedGateway": ".gateway.attached",
    "CallRecord": ".records",
    "DriverSettings": ".spec",
    "FakeProvider": ".provider.server",
    "FakeProviderError": ".errors",
    "FaultPlan": ".provider.faults",
    "FaultRule": ".provider.faults",
    "Gateway": ".gateway.launcher",
    "GatewayPool": ".gateway.pool",
    "GatewayStartError": ".gateway.launcher",
    "HttpTransport": ".transports.http",
    "JournalEntry": ".records",
    "LaunchedGateway": ".gateway.launcher",
    "LogMatch": ".records",
    "MarkerError": ".errors",
    "OpenClawTransport": ".transports.openclaw",
    "RaceFailure": ".errors",
    "RaceResult": ".verdict",
    "RaceWindow": ".window",
    "ReadyCheck": ".gateway.readiness",
    "ReplyraceError": ".errors",
    "RttSpec": ".provider.server",
    "RunSpec": ".spec",
    "SequentialSender": ".driver",
    "Settings": ".settings",
    "SettingsError": ".errors",
    "StopAnswer": ".transports.base",
    "StopRecord": ".records",
    "Transport": ".transports.base",
    "TransportError": ".transports.base",
    "TransportReply": ".transports.base",
    "__version__": ".version",
}
"""Where each public name lives: imported on first use, so pytest's autoload of the plugin costs nothing."""


def __getattr__(name: str) -> Any:
    import importlib

    module = _WHERE.get(name)
    if module is None:
        from .errors import UnknownName

        raise UnknownName(f"module {__name__!r} has no attribute {name!r}")

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


# `-p pytest_replyrace` without the installed entry point imports this package:
# pull the real plugin module in from here.
pytest_plugins = ["pytest_replyrace.plugin"]

__all__ = [
    "AttachedGateway",
    "CallRecord",
    "DriverSettings",
    "FakeProvider",
    "FakeProviderError",
    "FaultPlan",
    "FaultRule",
    "Gateway",
    "GatewayPool",
    "GatewayStartError",
    "HttpTransport",
    "JournalEntry",
    "LaunchedGateway",
    "LogMatch",
    "MarkerError",
    "OpenClawTransport",
    "RaceFailure",
    "RaceResult",
    "RaceWindow",
    "ReadyCheck",
    "ReplyraceError",
    "RttSpec",
    "RunSpec",
    "SequentialSender",
    "Settings",
    "SettingsError",
    "StopAnswer",
    "StopRecord",
    "Transport",
    "TransportError",
    "TransportReply",
    "__version__",
]
