"""pytest-replyrace: catch reply races in chat/LLM gateways across provider RTTs.

The library half needs no pytest: the fake provider, the gateway launcher, the
transports, the sequential-send driver and the verdicts. :mod:`pytest_replyrace.plugin`
holds the hooks and fixtures. Every exception we raise derives from
:class:`ReplyraceError`.
"""

from __future__ import annotations

from .driver import DriverSettings, SequentialSender
from .errors import FakeProviderError, ReplyraceError
from .gateway.attached import AttachedGateway
from .gateway.launcher import Gateway, GatewayStartError, LaunchedGateway
from .gateway.pool import GatewayPool
from .gateway.readiness import ReadyCheck
from .markers import MarkerError
from .provider.faults import FaultPlan, FaultRule
from .provider.server import FakeProvider, RttSpec
from .records import CallRecord, JournalEntry, LogMatch
from .settings import Settings, SettingsError
from .spec import RunSpec
from .transports.base import Transport, TransportError, TransportReply
from .transports.http import HttpTransport
from .transports.openclaw import OpenClawTransport
from .verdict import RaceFailure, RaceResult
from .version import __version__
from .window import RaceWindow

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
    "Transport",
    "TransportError",
    "TransportReply",
    "__version__",
]
