"""Where the network runtimes may connect: public addresses only, unless the operator allows
private networks (``RUNTIME_ALLOW_PRIVATE_NETWORKS``, on by default only with DEBUG).

A tenant configures its webhook URL and its OpenAI-compatible base URL itself; without this
check a manager could point them at the cloud's metadata service (169.254.169.254), the
database, Redis or the admin on loopback, and read the answers back through the agent (SSRF).

Two checks: on save, a literal address or ``localhost`` that is not public is a field error;
before every request, every address the host name resolves to must be public (a public name
may resolve to a private address). What remains: a name whose DNS answer changes between the
check and the connection (DNS rebinding) within the same request.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

ALLOW_SETTING = "RUNTIME_ALLOW_PRIVATE_NETWORKS"


def private_networks_allowed() -> bool:
    from django.conf import settings

    return bool(getattr(settings, ALLOW_SETTING, False))


def _not_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _host(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    return (parts.hostname or "").rstrip("."), parts.port


def _refusal(host: str, address: str | None = None) -> str:
    where = host if address is None or address == host else f"{host} ({address})"
    return (
        f"{where} is a private or local network address; the runtimes reach public addresses "
        f"only unless {ALLOW_SETTING} is on"
    )


def saved_url_problem(url: str) -> str | None:
    """On save: a URL whose host is written as a non-public address, or is ``localhost``."""
    if private_networks_allowed():
        return None
    try:
        host, _ = _host(url)
    except ValueError:
        return None  # the URL check reports it
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return _refusal(host)
    try:
        return _refusal(host) if _not_public(host) else None
    except ValueError:
        return None  # a name: checked when it is resolved, before each request


def destination_problem(url: str) -> str | None:
    """Before a request: a refusal when the host resolves to any non-public address. A name
    that does not resolve passes here and fails to connect, with the connection's error."""
    if private_networks_allowed():
        return None
    try:
        host, port = _host(url)
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (ValueError, OSError, UnicodeError):
        return None
    for info in infos:
        address = str(info[4][0])
        if _not_public(address):
            return _refusal(host, address)
    return None
