"""pytest-replyrace: catch reply races in chat/LLM gateways across provider RTTs.

The library half needs no pytest: the fake provider, the gateway launcher, the
transports, the sequential-send driver and the verdicts. :mod:`pytest_replyrace.plugin`
holds the hooks and fixtures. Every exception we raise derives from
:class:`ReplyraceError`.
"""

from __future__ import annotations

from .attached import AttachedGateway
from .driver import DriverSettings, SequentialSender
from .errors import FakeProviderError, ReplyraceError
from .faults import FaultPlan, FaultRule
from .gateways import GatewayPool
from .launcher import Gateway, GatewayStartError, LaunchedGateway
from .markers import MarkerError
from .openclaw_transport import OpenClawTransport
from .provider import FakeProvider, RttSpec
from .readiness import ReadyCheck
from .records import CallRecord, JournalEntry, LogMatch
from .settings import Settings, SettingsError
from .transport import HttpTransport, Transport, TransportError, TransportReply
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
    "SequentialSender",
    "Settings",
    "SettingsError",
    "Transport",
    "TransportError",
    "TransportReply",
    "__version__",
]
