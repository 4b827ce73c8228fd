"""Which TCP ports a launched gateway's processes listen on, read from ``/proc`` (Linux).

A gateway that finds its port taken may move to another one and say so only in its log (LangGraph's
``langgraph dev`` does): the readiness check on ``{port}`` then talks to whatever holds that port. The launcher
asks this module where the gateway's own processes listen, and fails clearly when they listen elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["listening_ports"]

_LISTEN = "0A"
"""The state of a listening socket in /proc/net/tcp."""


def _socket_inodes(pids: Iterable[int]) -> set[int]:
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # gone, or not ours to read
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link.endswith("]"):
                inodes.add(int(link[8:-1]))
    return inodes


def listening_ports(pids: Iterable[int], tables: Iterable[str] = ("/proc/net/tcp", "/proc/net/tcp6")) -> set[int]:
    """The TCP ports on which any of ``pids`` holds a listening socket (empty where ``/proc`` cannot tell)."""
    inodes = _socket_inodes(pids)
    ports: set[int] = set()
    if not inodes:
        return ports
    for table in tables:
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            try:
                inode, port = int(fields[9]), int(fields[1].rsplit(":", 1)[1], 16)
            except ValueError:
                continue
            if inode in inodes:
                ports.add(port)
    return ports
