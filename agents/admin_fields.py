"""Form fields the admin uses for configuration: comma-separated lists and JSON objects."""

from __future__ import annotations

import json
import re

from django import forms

from core.json_input import (
    JsonRefused,
    StrictJSONField,
    loads,
    text_problem,
)


class CommaListField(forms.CharField):
    """A list of short strings typed as ``billing, refunds`` (or as a JSON list)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 60}))
        super().__init__(*args, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value):
        if isinstance(value, list | tuple):
            return list(value)
        text = (super().to_python(value) or "").strip()
        if text.startswith("["):
            try:
                parsed = loads(text)
            except JsonRefused as exc:
                raise forms.ValidationError(
                    f"Enter names separated by commas. {exc.sentence()}", code="invalid"
                ) from None
            if isinstance(parsed, list):
                return parsed
        parts = [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]
        for part in parts:
            if problem := text_problem(part):
                raise forms.ValidationError(f"A name {problem}.", code="invalid")
        return parts


class JSONObjectField(StrictJSONField):
    """A JSON object (``{}`` when left empty)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3, "cols": 60}))
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError('Enter a JSON object, e.g. {"key": "value"}.')
        return value

    def prepare_value(self, value):
        if value in (None, "", {}):
            return ""
        if isinstance(value, dict):
            return json.dumps(value, indent=2)
        return super().prepare_value(value)

    def bound_data(self, data, initial):
        return "" if data in (None, "") else super().bound_data(data, initial)


class WriteOnlySecretField(forms.CharField):
    """A key or secret typed into an admin form: never rendered back (the page says only
    whether one is set), taken as typed (no stripping), and not offered to the browser's
    saved passwords."""

    def __init__(self, *, label: str, **kwargs) -> None:
        kwargs.setdefault("required", False)
        super().__init__(
            strip=False,
            label=label,
            widget=forms.PasswordInput(
                render_value=False, attrs={"autocomplete": "new-password", "size": 60}
            ),
            **kwargs,
        )
