"""Cells of the CSV files we hand out (the dashboard's figures, the history's conversations),
safe to open in a spreadsheet: a cell that starts with = + - @ (or a tab or carriage return)
would run as a formula there, and customers write some of these cells (their names, their
e-mail addresses). Such text is written with a leading quote."""

from __future__ import annotations

from typing import Any

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """``value`` as a CSV cell: text that a spreadsheet would run, quoted; None, empty."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return "" if value is None else value
