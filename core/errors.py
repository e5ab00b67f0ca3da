"""The error vocabulary of every service: four kinds, each with a code and a readable message.

- ``Invalid``: the input is wrong; ``fields`` maps a field path (``params.amount``) to what is
  wrong with it (HTTP 400).
- ``Forbidden``: this person or key may not do this (HTTP 403), "not a member of this tenant"
  included.
- ``NotFound``: no such thing, or not one the caller may see (HTTP 404; another tenant's row
  looks the same).
- ``Conflict``: not in the current state (HTTP 409): already decided, already claimed, closed,
  or changed by someone else meanwhile.

A domain exception is a subclass of one of them (``ApprovalConflict(Conflict)``), so it is
mapped to HTTP once (``core.api_errors.exception_handler``: the ``{"error": {code, message,
fields?}}`` body) and to a socket error frame once (``handover.consumers``). Services raise
these; edges never translate them by hand.
"""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """A refusal a caller can act on. ``code`` names it for programs, ``message`` for people."""

    code = "error"
    default_message = "The request cannot be done."

    def __init__(self, message: str | None = None, *, code: str | None = None):
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        super().__init__(self.message)


class Invalid(DomainError):
    """Bad input. ``fields`` maps each bad field's path to its problems; the message is the
    first of them (``"params.amount: must be > 0"``) unless one is given."""

    code = "invalid"
    default_message = "Invalid input."

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: Mapping[str, str | list[str]] | None = None,
        code: str | None = None,
    ):
        self.fields: dict[str, list[str]] = {
            path: [problems] if isinstance(problems, str) else list(problems)
            for path, problems in (fields or {}).items()
        }
        if message is None and self.fields:
            message = first_problem(self.fields)
        super().__init__(message, code=code)


def first_problem(fields: Mapping[str, list[str]]) -> str:
    """How a 400 names its fields' problems in one sentence: the first field's first problem,
    after its path (``"params.amount: must be > 0"``)."""
    path, problems = next(iter(fields.items()), ("", []))
    where = "" if path in ("", "non_field_errors") else f"{path}: "
    return f"{where}{problems[0] if problems else 'Invalid input.'}"


class Forbidden(DomainError):
    code = "forbidden"  # as the permission matrix's refusals
    default_message = "You do not have permission to do this."


class NotFound(DomainError):
    code = "not_found"
    default_message = "Not found."


class Conflict(DomainError):
    code = "conflict"
    default_message = "The request conflicts with the current state."
