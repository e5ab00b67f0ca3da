"""The tenants' secret store: what a tenant gives us to use on its behalf (an LLM API key, a
webhook signing secret) is kept encrypted at rest and is never shown again.

A secret lives in a :class:`SealedField` column as a Fernet token (AES-128-CBC with an
HMAC-SHA256, timestamped) made with the first key of ``settings.SECRETS_KEYS``; every key of
the list decrypts, so keys rotate: put a new key first, keep the old ones, run
``manage.py reseal_secrets`` (it re-encrypts every sealed column under the new key and drops
cached configuration), then remove the old keys.

Only :func:`unseal` turns a token back into the secret, at the moment it is used (the network
runtimes call it right before a request); rows, cached configuration snapshots and the
runtimes' inputs carry the token, never the secret. Nothing here logs a secret or a token.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.db import models


class SecretUnreadable(Exception):
    """A token that none of the keys in SECRETS_KEYS decrypts (a key was removed too early, or
    the column was changed by hand)."""


class SealedField(models.TextField):
    """A column holding a sealed secret (a Fernet token), or ``""`` when none is set.

    The value in Python is the token: reading a row never decrypts. Not editable in model
    forms; forms take the secret in a field of their own and call :func:`seal`.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def cipher() -> MultiFernet:
    keys = tuple(settings.SECRETS_KEYS)
    if not keys:
        raise SecretUnreadable("SECRETS_KEYS is empty")
    return _cipher(keys)


def seal(secret: str) -> str:
    """The token to store for ``secret`` (under the newest key)."""
    return cipher().encrypt(secret.encode("utf-8")).decode("ascii")


def unseal(token: str) -> str:
    """The secret in ``token``. Raises :class:`SecretUnreadable` (naming neither)."""
    try:
        return cipher().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError):
        raise SecretUnreadable(
            "a stored secret cannot be decrypted with the keys in SECRETS_KEYS"
        ) from None


def is_current(token: str) -> bool:
    """Whether ``token`` is already sealed under the newest key."""
    try:
        Fernet(settings.SECRETS_KEYS[0]).decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError, ValueError, IndexError):
        return False
    return True


def reseal(token: str) -> str:
    """``token`` re-encrypted under the newest key (the secret unchanged)."""
    try:
        return cipher().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, ValueError):
        raise SecretUnreadable(
            "a stored secret cannot be decrypted with the keys in SECRETS_KEYS"
        ) from None


def sealed_columns() -> Iterator[tuple[type[models.Model], str]]:
    """Every ``(model, field name)`` that stores sealed secrets."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, SealedField):
                yield model, field.name
