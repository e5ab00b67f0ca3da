"""The one JSON door: every JSON text that comes from outside (an API body, a socket frame, the
public chat's start, a JSON field of the admin, an uploaded or pasted stack document, a
backtest draft, a runtime's answer) is read by ``loads`` and nothing else.

``loads`` refuses, with a message that names the place (``customer.attributes.note``):

- text that is not UTF-8 or not JSON, and ``NaN``/``Infinity`` or numbers that overflow to them
  (``1e400``), which no JSON reader of ours could send back;
- nesting deeper than ``MAX_DEPTH`` arrays and objects, found by a scan of the brackets outside
  strings before anything is parsed (Python's parser recurses: 100,000 ``[`` would raise
  RecursionError in it, or in any code walking the result later);
- a NUL character or a lone surrogate (``"\\ud800"``, an escape JSON allows and UTF-8 cannot
  encode) in any key or string: PostgreSQL text and jsonb hold neither, so such a value would
  fail in the database, a 500, after half the work was done.

``text_problem`` is the same check for one string that arrived some other way (a form field).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput, JSONString

MAX_DEPTH = 64
"""Arrays and objects inside one another; our deepest document (a stack template) uses 7."""

NUL = "\x00"
_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # linear: no nested quantifier
_BRACKET = re.compile(r"[\[\]{}]")


class JsonRefused(ValueError):
    """Why a JSON text was refused; ``path`` is where in the document (``""``: the text as a
    whole or its root); ``syntax`` when it is not JSON at all (rather than JSON we refuse)."""

    def __init__(self, reason: str, path: str = "", *, syntax: bool = False):
        self.reason = reason
        self.path = path
        self.syntax = syntax
        super().__init__(f"{path}: {reason}" if path else reason)

    def sentence(self) -> str:
        """For a form error: ``Not valid JSON: ...`` or ``steps[0].agent: contains ...``."""
        text = str(self)
        return (text if self.path else text[:1].upper() + text[1:]).rstrip(".") + "."


def uuid_text(value: Any) -> str:
    """``value`` as a UUID's canonical text when a body or query gave one as a string ("" for
    anything else: not a string, not a UUID)."""
    if not isinstance(value, str):
        return ""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return ""


def text_problem(text: str) -> str | None:
    """What makes ``text`` unfit to store (a NUL or a lone surrogate), or None."""
    found = _BAD_CHARACTER.search(text)
    if found is None:
        return None
    if found.group() == NUL:
        return "contains a NUL character (\\u0000), which is never valid here"
    return (
        f"contains a lone surrogate (\\u{ord(found.group()):04x}), which is not a character "
        "and cannot be stored"
    )


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` in ``text`` (brackets inside
    strings do not count). Iterative, and quick: a text with few brackets is not scanned."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is too large")
    return value


def loads(raw: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``raw`` strictly (see the module's note); raises JsonRefused."""
    if isinstance(raw, bytes | bytearray):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonRefused(f"not UTF-8 text (byte {exc.start})", syntax=True) from None
    if too_deep(raw, max_depth):
        raise JsonRefused(f"nested deeper than {max_depth} arrays and objects")
    try:
        data = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:  # not reached under MAX_DEPTH; a second guard all the same
        raise JsonRefused(f"nested deeper than {max_depth} arrays and objects") from None
    except ValueError as exc:
        raise JsonRefused(f"not valid JSON: {exc}", syntax=True) from None
    check_strings(data)
    return data


def check_strings(data: Any, path: str = "") -> None:
    """Raise JsonRefused naming the first key or string holding a NUL or a lone surrogate.
    Iterative (a caller may pass data deeper than the recursion limit)."""
    stack: list[tuple[str, Any]] = [(path, data)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise JsonRefused(problem, where)
        elif isinstance(item, dict):
            for key, value in reversed(list(item.items())):
                child = _child_path(where, key)
                if isinstance(key, str) and (problem := text_problem(key)):
                    raise JsonRefused(f"a key {problem}", where)
                stack.append((child, value))
        elif isinstance(item, list | tuple):
            stack.extend((f"{where}[{i}]", value) for i, value in reversed(list(enumerate(item))))


def _child_path(path: str, key: Any) -> str:
    name = _BAD_CHARACTER.sub(lambda m: f"\\u{ord(m.group()):04x}", str(key))
    return f"{path}.{name}" if path else name


# -- the admin's JSON fields ------------------------------------------------------------------


class StrictJSONField(forms.JSONField):
    """Django's JSON form field, read through ``loads``: a refused text is a form error that
    says why, and a re-shown form keeps the text as typed."""

    def to_python(self, value):
        if self.disabled:
            return value
        if value in self.empty_values:
            return None
        try:
            if isinstance(value, list | dict | int | float | JSONString):
                check_strings(value)
                return value
            converted = loads(value)
        except JsonRefused as exc:
            raise forms.ValidationError(
                exc.sentence(), code="invalid", params={"value": value}
            ) from None
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data, initial):
        if self.disabled:
            return initial
        if data is None:
            return None
        try:
            return loads(data)
        except JsonRefused:
            return InvalidJSONInput(data)
