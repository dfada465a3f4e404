"""Loopback ports for the servers tests start as separate processes."""

import socket


def free_port() -> int:
    """A port nothing listens on now (the OS picks it); the caller's server binds it next."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
