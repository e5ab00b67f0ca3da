"""The origin (scheme, host, port) of a URL: where an operator's lent runtime key may be sent
(``RUNTIME_KEY_ENVS``) is an origin, compared with the origin of a tenant's ``baseUrl``."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> str | None:
    """``scheme://host:port`` of an http(s) URL (lower case, the default port filled in), or
    None when ``url`` is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except (AttributeError, ValueError):
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or DEFAULT_PORTS[scheme]}"
