"""What an integration tells about its customer (``customer.attributes``: their plan, how many
orders, their country), as Intercom's user data and Chatwoot's contact attributes: given when a
conversation starts (``POST /api/v1/conversations``) and changed later (``PATCH
/api/v1/conversations/{id}`` with ``customer.attributes``: a key set to null is taken off),
shown to the people in the inbox's side panel and on the conversation's page.

Checked at the door, so what is stored is always fit to show: an object of at most
``ATTRIBUTES_MAX`` keys, each 1 to ``KEY_MAX`` letters, digits, ``_``, ``.`` or ``-``; each value
a string, number, boolean or small JSON (at most ``VALUE_MAX`` characters once written), with
no NUL or lone surrogate anywhere. The web chat's own ``page`` (where it was opened) is one of
them, shown apart as "Started on"."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from core.errors import Invalid
from core.json_input import text_problem

ATTRIBUTES_MAX = 50
KEY_MAX = 64
VALUE_MAX = 2000
SHOWN_MAX = 200  # characters of a value the inbox shows (the API has all of it)
_KEY = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9_.\-]{{0,{KEY_MAX - 1}}}")
SHOWN_APART = ("page",)  # the web chat's page: "Started on"


def _problem(value: Any) -> str | None:
    """Why a value cannot be stored, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    try:
        written = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return "must be a string, a number, a boolean or JSON"
    if len(written) > VALUE_MAX:
        return f"is longer than {VALUE_MAX} characters once written"
    return text_problem(written)


def attributes_checked(value: Any, *, field: str, changes: bool = False) -> dict[str, Any]:
    """``value`` when it is fit to store as a customer's attributes (``changes``: a change, in
    which a null value takes the key off), else Invalid naming ``field`` (or one key of it)."""
    if not isinstance(value, dict):
        raise Invalid(fields={field: "must be an object of names and values"})
    if len(value) > ATTRIBUTES_MAX:
        raise Invalid(fields={field: f"has more than {ATTRIBUTES_MAX} names"})
    for key, item in value.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise Invalid(
                fields={
                    field: f"{str(key)[:80]!r} is not a name: 1 to {KEY_MAX} letters, digits, "
                    "_, . or - (not starting with . or -)"
                }
            )
        if item is None and changes:
            continue
        problem = "must not be null" if item is None else _problem(item)
        if problem is not None:
            raise Invalid(fields={f"{field}.{key}": problem})
    return value


def attributes_changed(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``current`` with ``changes`` made (a null takes the key off); Invalid naming
    ``customer.attributes`` when the result has too many names."""
    result = dict(current or {})
    for key, item in changes.items():
        if item is None:
            result.pop(key, None)
        else:
            result[key] = item
    if len(result) > ATTRIBUTES_MAX:
        too_many = f"would have more than {ATTRIBUTES_MAX} names"
        raise Invalid(fields={"customer.attributes": too_many})
    return result


def _written(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def value_text(value: Any) -> str:
    """A value as people read it: a string as it is, anything else as JSON (cut at
    ``SHOWN_MAX``)."""
    text = _written(value)
    return text if len(text) <= SHOWN_MAX else f"{text[: SHOWN_MAX - 1]}…"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "text" if isinstance(value, str) else "json"


def attributes_shown(attributes: dict[str, Any] | None) -> list[dict[str, str]]:
    """The attributes the inbox and the conversation's page list, by name: ``[{"name",
    "value", "kind", "text"}]``: ``value`` as shown (cut at ``SHOWN_MAX``), ``text`` whole, for
    the inbox's form, ``kind`` text, number, boolean or json (the chat's page is shown apart)."""
    return [
        {
            "name": key,
            "value": value_text(value),
            "kind": _kind(value),
            "text": _written(value),
        }
        for key, value in sorted((attributes or {}).items(), key=lambda kv: kv[0].lower())
        if key not in SHOWN_APART
    ]


_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def attributes_typed(current: dict[str, Any] | None, typed: Any) -> dict[str, Any]:
    """What a person typed in the inbox (``{"name": "text" | null}``) as a change of attributes:
    an empty text or a null takes the name off; a text keeps the kind the name's value has, so an
    integration's ``orders: 3`` stays a number once a person writes "4" and ``vip: false`` a
    boolean ("true"); a JSON value must be written as JSON again. A new name is text. The chat's
    ``page`` is not a person's to change. Invalid naming ``attributes`` or
    ``attributes.<name>``."""
    if not isinstance(typed, dict):
        raise Invalid(fields={"attributes": "must be an object of names and values"})
    current = current or {}
    change: dict[str, Any] = {}
    for key, text in typed.items():
        where = f"attributes.{str(key)[:80]}"
        if key in SHOWN_APART:
            raise Invalid(fields={where: "is where the chat was opened; it does not change"})
        if text is None or text == "":
            change[key] = None
            continue
        if not isinstance(text, str):
            raise Invalid(fields={where: "must be text"})
        if len(text) > VALUE_MAX:
            raise Invalid(fields={where: f"is longer than {VALUE_MAX} characters"})
        try:
            change[key] = _kind_of(current.get(key), text)
        except ValueError as exc:
            raise Invalid(fields={where: str(exc)}) from None
    return change


def _kind_of(was: Any, text: str) -> Any:
    """``text`` as a value of the kind ``was`` has (text when it has none); ValueError says
    why it cannot be."""
    if isinstance(was, bool):
        if text.strip().lower() not in ("true", "false"):
            raise ValueError("must be true or false, as it was")
        return text.strip().lower() == "true"
    if isinstance(was, int | float):
        text = text.strip()
        if not _NUMBER.fullmatch(text):
            raise ValueError("must be a number, as it was")
        number = float(text) if any(c in text for c in ".eE") else int(text)
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError("must be a finite number")
        return number
    if was is None or isinstance(was, str):
        return text
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        parsed = None
    if type(parsed) is not type(was):
        raise ValueError("must be written as JSON, as it was")
    return parsed
