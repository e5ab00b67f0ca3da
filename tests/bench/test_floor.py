"""The floor endpoint bench/pipeline.py measures the pipeline against (core/bench_floor.py):
an API key, the rate limit, one INSERT; bad input is a 400 with the field; no key, a 401."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIRequestFactory

from core.bench_floor import CREATE_TABLE, FloorView

pytestmark = pytest.mark.django_db


@pytest.fixture
def floor_table():
    sql = CREATE_TABLE
    if connection.vendor == "sqlite":  # SQLite's own auto-increment key
        sql = sql.replace("bigserial PRIMARY KEY", "integer PRIMARY KEY")
    with connection.cursor() as cursor:
        cursor.execute(sql)


def post(body, raw_key: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"} if raw_key else {}
    request = APIRequestFactory().post("/api/v1/bench/floor", body, format="json", **headers)
    return FloorView.as_view()(request)


def test_one_row_per_request_for_the_keys_tenant(floor_table, api_key, tenant):
    response = post({"text": "hello"}, api_key[1])

    assert response.status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT tenant_id, text FROM bench_floor")
        assert cursor.fetchall() == [(tenant.pk, "hello")]


def test_bad_input_is_a_400_naming_the_field(floor_table, api_key):
    response = post({"text": 3}, api_key[1])

    assert response.status_code == 400
    assert "text" in str(response.data)


def test_without_a_key_it_is_refused(floor_table):
    assert post({"text": "hello"}, None).status_code == 401
