"""Whether a tenant is open: its weekday intervals, in its own time zone, minus holidays."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from core.models import (
    BusinessHours,
    Holiday,
)
from core.selectors import tenant_is_open, tenant_opens_next
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db
UTC = dt.UTC


@pytest.fixture
def paris():
    tenant = TenantFactory(slug="paris", time_zone="Europe/Paris")
    for weekday in range(5):  # Monday to Friday, split day
        BusinessHours.objects.create(
            tenant=tenant, weekday=weekday, opens=dt.time(9), closes=dt.time(12)
        )
        BusinessHours.objects.create(
            tenant=tenant, weekday=weekday, opens=dt.time(13), closes=dt.time(18)
        )
    return tenant


def at(y, m, d, hh, mm=0, tz="Europe/Paris"):
    return dt.datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(tz))


def test_open_within_an_interval_of_the_day(paris):
    assert tenant_is_open(tenant=paris, at=at(2026, 11, 23, 10))  # a Monday


def test_closed_at_lunch_and_before_opening_and_at_closing_time(paris):
    assert not tenant_is_open(tenant=paris, at=at(2026, 11, 23, 12, 30))
    assert not tenant_is_open(tenant=paris, at=at(2026, 11, 23, 8, 59))
    assert not tenant_is_open(tenant=paris, at=at(2026, 11, 23, 18, 0))


def test_closed_at_the_weekend(paris):
    assert not tenant_is_open(tenant=paris, at=at(2026, 11, 21, 10))  # Saturday


def test_the_tenants_time_zone_decides_not_utc(paris):
    # 08:30 UTC is 09:30 in Paris in winter (open), 07:30 UTC is 08:30 (closed)
    assert tenant_is_open(tenant=paris, at=dt.datetime(2026, 11, 23, 8, 30, tzinfo=UTC))
    assert not tenant_is_open(tenant=paris, at=dt.datetime(2026, 11, 23, 7, 30, tzinfo=UTC))


def test_summer_time_is_followed(paris):
    # In July Paris is UTC+2: 07:30 UTC is 09:30 local (open)
    assert tenant_is_open(tenant=paris, at=dt.datetime(2026, 7, 6, 7, 30, tzinfo=UTC))


def test_a_holiday_closes_the_whole_day(paris):
    Holiday.objects.create(tenant=paris, date=dt.date(2026, 12, 25), name="Noël")

    assert not tenant_is_open(tenant=paris, at=at(2026, 12, 25, 10))  # a Friday
    assert tenant_is_open(tenant=paris, at=at(2026, 12, 24, 10))


def test_a_holiday_is_judged_by_the_local_date(paris):
    Holiday.objects.create(tenant=paris, date=dt.date(2026, 12, 25))
    # 23:30 UTC on the 24th is already the 25th in Paris, but outside hours anyway;
    # 08:30 UTC on the 25th is 09:30 local on the holiday.
    assert not tenant_is_open(tenant=paris, at=dt.datetime(2026, 12, 25, 8, 30, tzinfo=UTC))


def test_closing_at_midnight_runs_to_the_end_of_the_day():
    tenant = TenantFactory(slug="late", time_zone="UTC")
    BusinessHours.objects.create(tenant=tenant, weekday=0, opens=dt.time(18), closes=dt.time(0))

    assert tenant_is_open(tenant=tenant, at=dt.datetime(2026, 11, 23, 23, 59, tzinfo=UTC))
    assert not tenant_is_open(tenant=tenant, at=dt.datetime(2026, 11, 24, 0, 1, tzinfo=UTC))


def test_a_tenant_without_hours_is_never_open():
    tenant = TenantFactory(slug="closed")

    assert not tenant_is_open(tenant=tenant, at=dt.datetime(2026, 11, 23, 12, tzinfo=UTC))


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        (at(2026, 11, 23, 12, 30), at(2026, 11, 23, 13)),  # Monday's lunch: the afternoon
        (at(2026, 11, 23, 7, 0), at(2026, 11, 23, 9)),  # Monday before opening
        (at(2026, 11, 23, 10, 0), at(2026, 11, 23, 13)),  # open now: the next opening
        (at(2026, 11, 27, 18, 0), at(2026, 11, 30, 9)),  # Friday evening: Monday
        (at(2026, 11, 28, 11, 0), at(2026, 11, 30, 9)),  # Saturday
        (at(2026, 12, 24, 19, 0), at(2026, 12, 28, 9)),  # Christmas Eve: 25 Dec is a holiday
        (dt.datetime(2026, 11, 23, 7, 30, tzinfo=UTC), at(2026, 11, 23, 9)),  # 8:30 in Paris
    ],
)
def test_when_a_tenant_next_opens(paris, now, opens):
    Holiday.objects.create(tenant=paris, date=dt.date(2026, 12, 25), name="Christmas")

    assert tenant_opens_next(tenant=paris, at=now) == opens


def test_a_tenant_without_business_hours_never_opens(paris):
    paris.business_hours.all().delete()

    assert tenant_opens_next(tenant=paris, at=at(2026, 11, 23, 10)) is None
