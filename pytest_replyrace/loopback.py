"""Everything we start or reach stays on this machine: a free loopback port, and what counts as loopback."""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["free_port", "is_loopback_host"]


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
