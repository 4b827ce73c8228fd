"""A gateway command template: split like a shell line (never run by one), placeholders filled in."""

from __future__ import annotations

import ipaddress
import re
import shlex
import socket
import string
from collections.abc import Mapping, Sequence

__all__ = ["PLACEHOLDERS", "format_command", "free_port", "is_loopback_host", "placeholders"]

PLACEHOLDERS = ("port", "provider_url", "state_dir", "python")


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bound to port 0, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: this machine, where the fake provider listens."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def format_command(command: str | Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Split a template (a string is split like a shell would) and fill its placeholders."""
    try:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
    except ValueError as exc:
        raise ValueError(f"gateway command {command!r} cannot be split like a shell would ({exc}); "
                         "expected a command such as 'my-gateway --port {port}'") from None
    if not argv:
        raise ValueError("gateway command is empty; expected a command such as 'my-gateway --port {port}'")
    out = []
    for arg in argv:
        try:
            out.append(_fill(arg, values))
        except ValueError as exc:
            raise ValueError(f"gateway command {command!r}: {exc}; expected plain placeholders "
                             f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)} (write {{{{ and }}}} for literal braces)"
                             ) from None
    return out


def _fill(arg: str, values: Mapping[str, str]) -> str:
    """Placeholders are plain names: no format spec (``{port:>200000000}`` would build a 200 MB argument),
    conversion, attribute or index; ``{{`` and ``}}`` are literal braces."""
    parts = []
    try:
        pieces = list(string.Formatter().parse(arg))
    except ValueError as exc:
        raise ValueError(f"bad placeholder in {_cut(arg)} ({exc})") from None
    for literal, name, spec, conversion in pieces:
        parts.append(literal)
        if name is None:
            continue
        if spec or conversion or name not in values:
            shown = _cut("{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
            where = "" if shown == _cut(arg) else f" in {_cut(arg)}"
            if re.split(r"[.\[]", name, maxsplit=1)[0] in values:
                raise ValueError(f"placeholder {shown}{where} is not a plain name (it has a format spec, conversion, "
                                 "attribute or index)")
            raise ValueError(f"unknown placeholder {shown}{where}")
        parts.append(values[name])
    return "".join(parts)


def _cut(text: str, width: int = 80) -> str:
    return repr(text if len(text) <= width else text[:width] + "…")


def placeholders(command: str | Sequence[str]) -> set[str]:
    """The placeholder names a template uses (``{{port}}`` is a literal, not one)."""
    try:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        return {name for arg in argv for _, name, _, _ in string.Formatter().parse(arg) if name}
    except ValueError:
        return set()  # a bad template is reported where it is formatted
