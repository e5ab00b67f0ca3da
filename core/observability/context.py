"""The ids of the work at hand, for the logs: set at the doors (the HTTP middleware, the
socket consumers, a Celery task's start, the turn) and read by ``logs.ContextFilter``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")
tenant_id: ContextVar[str] = ContextVar("tenant_id", default="")
conversation_id: ContextVar[str] = ContextVar("conversation_id", default="")

_VARS = {"request_id": request_id, "tenant_id": tenant_id, "conversation_id": conversation_id}
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_from(header: str | None) -> str:
    """An incoming ``X-Request-ID`` when it is a plain token, else a new one."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


@contextmanager
def bound(**ids: object) -> Iterator[None]:
    """Set the ids given (``request_id``, ``tenant_id``, ``conversation_id``) for the block;
    None leaves one as it is."""
    tokens = [
        (_VARS[name], _VARS[name].set(str(value)))
        for name, value in ids.items()
        if value is not None
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind(**ids: object) -> None:
    """Set ids for the rest of the current context (a task's run, a request's view)."""
    for name, value in ids.items():
        if value is not None:
            _VARS[name].set(str(value))


def current() -> dict[str, str]:
    return {name: var.get() for name, var in _VARS.items() if var.get()}
