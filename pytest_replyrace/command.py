"""A gateway command template: split like a shell line (never run by one), placeholders filled in."""

from __future__ import annotations

import shlex
import socket
import string
from collections.abc import Mapping, Sequence

__all__ = ["PLACEHOLDERS", "format_command", "free_port", "placeholders"]

PLACEHOLDERS = ("port", "provider_url", "state_dir", "python")


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bound to port 0, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def format_command(command: str | Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Split a template (a string is split like a shell would) and fill its placeholders."""
    try:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
    except ValueError as exc:
        raise ValueError(f"gateway command {command!r} cannot be split like a shell would ({exc}); "
                         "expected a command such as 'my-gateway --port {port}'") from None
    if not argv:
        raise ValueError("gateway command is empty; expected a command such as 'my-gateway --port {port}'")
    accepted = (f"expected placeholders {', '.join('{' + p + '}' for p in PLACEHOLDERS)} "
                "(write {{ and }} for literal braces)")
    out = []
    for arg in argv:
        try:
            out.append(arg.format_map(dict(values)))
        except KeyError as exc:
            raise ValueError(f"gateway command {command!r}: unknown placeholder {{{exc.args[0]}}}; {accepted}") from None
        except (ValueError, IndexError) as exc:
            raise ValueError(f"gateway command {command!r}: bad placeholder in {arg!r} ({exc}); {accepted}") from None
    return out


def placeholders(command: str | Sequence[str]) -> set[str]:
    """The placeholder names a template uses (``{{port}}`` is a literal, not one)."""
    try:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        return {name for arg in argv for _, name, _, _ in string.Formatter().parse(arg) if name}
    except ValueError:
        return set()  # a bad template is reported where it is formatted
