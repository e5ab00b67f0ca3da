"""Read the process environment once, with typed helpers.

Settings import this module; nothing else in the project reads ``os.environ`` (the runtimes
get the operator's allowed key variables as a setting, ``RUNTIME_KEYS_FROM_ENV``). Every name
read is remembered, so settings can refuse to hand one of their own to a tenant.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_READ: set[str] = set()


def names_read() -> frozenset[str]:
    """The names of the variables read through this module so far."""
    return frozenset(_READ)


def env_str(name: str, default: str = "") -> str:
    _READ.add(name)
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    _READ.add(name)
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}"
    )


def env_int(name: str, default: int) -> int:
    _READ.add(name)
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer; got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    _READ.add(name)
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number; got {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    _READ.add(name)
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]
