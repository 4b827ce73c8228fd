"""A gateway command template: split like a shell line (never run by one), placeholders filled in."""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Mapping, Sequence

from ..errors import InvalidArgument

__all__ = ["PLACEHOLDERS", "format_command", "placeholders", "shell_hint"]

PLACEHOLDERS = ("port", "provider_url", "state_dir", "python")


def format_command(command: str | Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Split a template (a string is split like a shell would) and fill its placeholders."""
    try:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
    except ValueError as exc:
        raise InvalidArgument(
            f"gateway command {command!r} cannot be split like a shell would ({exc}); "
            "expected a command such as 'my-gateway --port {port}'"
        ) from None
    if not argv:
        raise InvalidArgument("gateway command is empty; expected a command such as 'my-gateway --port {port}'")
    out = []
    for arg in argv:
        try:
            out.append(_fill(arg, values))
        except ValueError as exc:
            names = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise InvalidArgument(
                f"gateway command {command!r}: {exc}; expected plain placeholders "
                f"{names} (write {{{{ and }}}} for literal braces)"
            ) from None
    return out


def _fill(arg: str, values: Mapping[str, str]) -> str:
    """Placeholders are plain names: no format spec (``{port:>200000000}`` would build a 200 MB argument),
    conversion, attribute or index; ``{{`` and ``}}`` are literal braces."""
    parts = []
    try:
        pieces = list(string.Formatter().parse(arg))
    except ValueError as exc:
        raise InvalidArgument(f"bad placeholder in {_cut(arg)} ({exc})") from None
    for literal, name, spec, conversion in pieces:
        parts.append(literal)
        if name is None:
            continue
        if spec or conversion or name not in values:
            shown = _cut("{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
            where = "" if shown == _cut(arg) else f" in {_cut(arg)}"
            if re.split(r"[.\[]", name, maxsplit=1)[0] in values:
                raise InvalidArgument(
                    f"placeholder {shown}{where} is not a plain name (it has a format spec, conversion, "
                    "attribute or index)"
                )
            raise InvalidArgument(f"unknown placeholder {shown}{where}")
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


ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def shell_hint(argv: Sequence[str]) -> str:
    """For a command that could not be started: when its first words are ``NAME=value`` (a shell's way to set a
    variable), say that no shell runs it and show the way that works, ``env NAME=value cmd …``. Else empty."""
    assignments = 0
    while assignments < len(argv) and ASSIGNMENT.match(argv[assignments]):
        assignments += 1
    if not assignments:
        return ""
    return (
        f"; the command is not run by a shell, so {argv[0]!r} is taken for the program; to set an environment "
        f"variable, start the command with env: {shlex.join(['env', *argv])}"
    )
