"""The gateway's file templates (``replyrace_gateway_files``): each read and checked before any test runs, and
the warning for a gateway command that has no ``{port}`` and whose templates do not carry it either."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import pytest

from .gateway.command import placeholders
from .settings import Settings

__all__ = ["PORT_WARNING_FILTER", "GatewayPortWarning", "gateway_templates", "warn_without_port"]


def gateway_templates(settings: Settings, rootpath: Path) -> list[tuple[str, Path]]:
    """``replyrace_gateway_files`` as (dest, template path) pairs, each template readable (absolute, or relative
    to the rootdir); a usage error names the one that is not and where the setting came from."""
    files = []
    for dest, template in settings.gateway_files:
        path = Path(template) if Path(template).is_absolute() else rootpath / template
        try:
            path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise pytest.UsageError(
                f"{settings.source('gateway_files')}: the template {template!r} of gateway file {dest!r} cannot be "
                f"read ({path}: {type(exc).__name__}: {exc}); expected a readable text file, absolute or relative "
                f"to the rootdir {rootpath}"
            ) from None
        files.append((dest, path))
    return files


class GatewayPortWarning(pytest.PytestWarning):
    """The gateway command has no ``{port}``: the gateway must read ``REPLYRACE_GATEWAY_PORT``."""


PORT_WARNING_FILTER = "ignore:the gateway command has no"


def warn_without_port(settings: Settings, files: Sequence[tuple[str, Path]]) -> None:
    command = settings.gateway_cmd
    if command is None or "port" in placeholders(command):
        return
    if any("{port}" in template.read_text(encoding="utf-8") for _, template in files):
        return  # the port reaches the gateway through its config file
    # Silenced by its message, not its class: a filter naming our class would import this package before
    # pytest can mark it for assertion rewriting (PytestAssertRewriteWarning, an error under -W error).
    warnings.warn(
        GatewayPortWarning(
            f"the gateway command has no {{port}} (replyrace: {command!r}, {settings.source('gateway_cmd')}); the "
            "gateway must then listen on the port in the environment variable REPLYRACE_GATEWAY_PORT, or readiness "
            "waits on a port nothing listens on. Add --port {port} (or your gateway's flag, or {port} in a gateway "
            "file template), or, if it does read "
            f"REPLYRACE_GATEWAY_PORT, silence this with the ini line: filterwarnings = {PORT_WARNING_FILTER}"
        ),
        stacklevel=2,
    )
