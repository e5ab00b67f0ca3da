"""One limit per kind of text, and the one check of a message's text every door uses.

A conversation's message arrives through the API (``POST /conversations/{id}/messages``, a
human's ``POST /handoffs/{id}/messages``), the customer's chat socket, the inbox socket and the
public chat's start: each reads it with ``message_text`` (the API through ``MessageTextField``),
so each refuses the same text with the same field and words."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.errors import Invalid
from core.json_input import text_problem

MAX_MESSAGE_TEXT = 10_000
"""Characters of one message (a customer's, an AI agent's answer shown as sent, a person's), as
stored: surrounding white space is not counted."""

MAX_REASON = 2000
"""Characters of an approver's reason (the API, the approvals page, the admin action)."""


def size_text(size: int) -> str:
    """A number of bytes as people read it: 512 B, 40 KB, 9.5 MB, 2.0 GB."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    if size < 1024**3:
        return f"{size / 1024**2:.1f} MB"
    return f"{size / 1024**3:.1f} GB"


def message_text(value: Any, *, field: str = "text") -> str:
    """The text of a message as a door received it, stripped; raises Invalid naming ``field``
    when it is not text, empty, longer than ``MAX_MESSAGE_TEXT`` or holds a character that
    cannot be stored (NUL, a lone surrogate)."""
    if not isinstance(value, str):
        raise Invalid(fields={field: "must be text"})
    text = value.strip()
    if not text:
        raise Invalid(fields={field: "must not be empty"})
    if len(text) > MAX_MESSAGE_TEXT:
        raise Invalid(
            fields={field: f"must be at most {MAX_MESSAGE_TEXT} characters (it has {len(text)})"}
        )
    if problem := text_problem(text):
        raise Invalid(fields={field: problem})
    return text


class MessageTextField(serializers.CharField):
    """A message's text in an API body, checked by ``message_text``."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("max_length", MAX_MESSAGE_TEXT)  # for the schema; checked below
        super().__init__(trim_whitespace=False, **kwargs)

    def run_validation(self, data: Any = serializers.empty) -> Any:
        # Field's, not CharField's: an empty text gets message_text's words, not DRF's
        return serializers.Field.run_validation(self, data)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("must be text")
        try:
            return message_text(data)
        except Invalid as exc:
            raise serializers.ValidationError(next(iter(exc.fields.values()))) from None
