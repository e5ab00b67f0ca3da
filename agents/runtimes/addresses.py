"""Where the network runtimes may connect: public addresses only, unless the operator allows
private networks (``RUNTIME_ALLOW_PRIVATE_NETWORKS``, on by default only with DEBUG).

A tenant configures its webhook URL and its OpenAI-compatible base URL itself; without this
check a manager could point them at the cloud's metadata service (169.254.169.254), the
database, Redis or the admin on loopback, and read the answers back through the agent (SSRF).

Two checks: on save, a literal address or ``localhost`` that is not public is a field error;
before every request, every address the host name resolves to must be public (a public name
may resolve to a private address). What remains: a name whose DNS answer changes between the
check and the connection (DNS rebinding) within the same request.

A host is read as the resolver reads it, not as it looks: the C library's ``inet_aton``, which
``getaddrinfo`` uses for numbers, takes ``127.1``, ``2130706433``, ``0x7f000001``,
``017700000001`` (octal) and ``0`` as addresses, and IDNA turns full-width letters and digits
and the ideographic and full-width full stops (U+3002, U+FF0E, U+FF61) into ASCII before the
lookup. So the host is first normalised (NFKC, every such full stop a dot, lower case, no
trailing dot), then read with :func:`numeric_ipv4` (inet_aton's rules) or as an IPv6 address.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from urllib.parse import urlsplit

ALLOW_SETTING = "RUNTIME_ALLOW_PRIVATE_NETWORKS"


def private_networks_allowed() -> bool:
    from django.conf import settings

    return bool(getattr(settings, ALLOW_SETTING, False))


_DOTS = re.compile("[\u002e\u3002\uff0e\uff61]")  # what IDNA takes as label separators
_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


def _not_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return _ip_not_public(ip)


def _reached(ip: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The address a connection to ``ip`` reaches (IPv4-mapped and 6to4 addresses: their
    IPv4 address)."""
    if isinstance(ip, ipaddress.IPv6Address):
        return ip.ipv4_mapped or ip.sixtofour or ip
    return ip


def _ip_not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    ip = _reached(ip)
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def normalised_host(host: str) -> str:
    """``host`` as a resolver sees it: NFKC (full-width forms to ASCII), every IDNA dot a
    ``.``, lower case, without the trailing dot."""
    host = unicodedata.normalize("NFKC", host)
    return _DOTS.sub(".", host).lower().rstrip(".")


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``host`` names under ``inet_aton``'s rules (one to four parts,
    decimal, octal with a leading 0, hex with 0x; the last part fills the bytes left), or
    None for a name."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_PART.fullmatch(part) for part in parts):
        return None
    values = [
        int(part[2:] or "0", 16)
        if part[:2].lower() == "0x"
        else int(part, 8 if part[0] == "0" else 10)
        for part in parts
    ]
    *head, last = values
    if any(value > 255 for value in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for position, value in enumerate(head):
        number += value << (8 * (3 - position))
    return ipaddress.IPv4Address(number)


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a (normalised) host is written as, or None for a name."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    found = numeric_ipv4(host)
    if found is None:
        try:  # the platform's own reading, in case it accepts more
            found = ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, ValueError, UnicodeError):
            return None
    return found


def _host(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    return normalised_host(parts.hostname or ""), parts.port


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
    if not host:
        return None  # the URL check reports it
    if host == "localhost" or host.endswith(".localhost"):
        return _refusal(host)
    address = literal_address(host)
    if address is None:
        return None  # a name: checked when it is resolved, before each request
    return _refusal(host, str(_reached(address))) if _ip_not_public(address) else None


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
