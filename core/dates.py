"""The one door for dates a person or a client writes (the metrics API's and the dashboard's
``from``/``to``, the approvals history's filter, the admin's date drill-down).

Python's calendar ends at 0001-01-01 and 9999-12-31: a day after the last, a week before the
first, or midnight of 0001-01-01 in a time zone east of UTC cannot be computed
(OverflowError), and 500s came of it. We take dates from ``EARLIEST`` to ``LATEST``, far
enough from both ends that a window's arithmetic and any time zone offset stay inside the
calendar, and refuse the others with a message that names the range.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(8999, 12, 31)
RANGE_TEXT = f"dates run from {EARLIEST.isoformat()} to {LATEST.isoformat()}"


class DateRefused(ValueError):
    """A date or date-time we do not take; the message says why."""


def in_range(day: dt.date) -> bool:
    return EARLIEST <= day <= LATEST


def year_in_range(year: int) -> bool:
    return EARLIEST.year <= year <= LATEST.year


def parse_moment(raw: str, tz: dt.tzinfo, *, end: bool = False) -> dt.datetime:
    """An ISO 8601 date-time (naive ones are in ``tz``) or a date: its midnight in ``tz``, or
    with ``end`` the next midnight (a window "to 2025-03-31" includes that day). A ``+`` of an
    offset that arrived unescaped in a query string (as a space) is taken back. Raises
    DateRefused for anything else, and for dates outside ``EARLIEST``..``LATEST``."""
    raw = raw.strip()
    try:
        day = parse_date(raw)  # a date alone (parse_datetime would take it as midnight)
    except ValueError:  # 2025-02-30, year 0
        raise DateRefused(f"'{raw[:40]}' is not a date on the calendar") from None
    if day is not None:
        _check_range(day)
        if end:
            day += dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    candidates = [raw]
    if " " in raw:
        candidates.append(raw.replace(" ", "+"))
    for text in candidates:
        try:
            value = parse_datetime(text)
        except ValueError:  # a day or hour that does not exist, an offset of a day or more
            value = None
        if value is not None:
            _check_range(value.date())  # before any offset arithmetic
            return value if timezone.is_aware(value) else timezone.make_aware(value, tz)
    raise DateRefused(
        f"'{raw[:40]}' is not an ISO 8601 date-time (e.g. 2025-03-01T00:00:00Z) or date"
    )


def _check_range(day: dt.date) -> None:
    if not in_range(day):
        raise DateRefused(f"{day.isoformat()} is out of range: {RANGE_TEXT}")


class DateInRangeField(forms.DateField):
    """A form's date, refused (a form error) outside ``EARLIEST``..``LATEST``."""

    default_validators = [
        MinValueValidator(EARLIEST, message=f"Enter a date from {EARLIEST.isoformat()} on."),
        MaxValueValidator(LATEST, message=f"Enter a date up to {LATEST.isoformat()}."),
    ]
