"""Make sure the demo's host names resolve to this machine (the seed uses idp.local)."""

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

HOSTS_FILE = Path("/etc/hosts")
MARKER = "# added by idp-demo (make demo)"


def resolves_to_loopback(
    hostname: str, getaddrinfo: Callable[..., list] = socket.getaddrinfo
) -> bool:
    """True when every address `hostname` resolves to is this machine's (none: False).

    `getaddrinfo` is the resolver, replaceable so the decision can be tested on its own.
    """
    try:
        infos = getaddrinfo(hostname, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def hosts_line(hostnames: list[str]) -> str:
    return f"127.0.0.1 {' '.join(hostnames)} {MARKER}"


def unresolved(hostnames: list[str]) -> list[str]:
    """The names, other than IP literals and localhost, that do not resolve to loopback."""
    missing = []
    for name in hostnames:
        try:
            ipaddress.ip_address(name)
            continue
        except ValueError:
            pass
        if not resolves_to_loopback(name):
            missing.append(name)
    return missing


def add_to_hosts_file(hostnames: list[str]) -> bool:
    """Append one line for `hostnames`; False (and nothing written) when the file is read-only."""
    try:
        with HOSTS_FILE.open("a", encoding="ascii") as handle:
            handle.write(f"\n{hosts_line(hostnames)}\n")
    except OSError:
        return False
    return True
