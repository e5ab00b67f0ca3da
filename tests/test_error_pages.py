"""A person who lands on a missing page, a page their roles do not open, or a server error
gets the product's page (its look, why, and the way back), not Django's bare text; the API
keeps answering JSON."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import login
from tests.factories import make_person

pytestmark = pytest.mark.django_db


def test_a_missing_page_says_so_with_the_way_back(tenant):
    response = Client().get("/no/such/page/")

    body = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in body and "/no/such/page/" in body
    assert 'href="/"' in body and 'rel="icon"' in body


def test_a_page_the_roles_do_not_open_says_why_and_where_to_go(tenant):
    approver = make_person(tenant=tenant, roles=["approver"], username="only-approves")

    response = login(approver).get("/inbox/")

    body = response.content.decode()
    assert response.status_code == 403
    assert "Your roles do not open this page." in body
    assert 'href="/"' in body and "only-approves" in body  # signed in, with the top bar


def test_the_api_still_answers_json_for_a_missing_route(tenant):
    response = Client().get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


def test_a_server_error_page_renders_without_a_request_context(rf):
    from django.views.defaults import server_error

    response = server_error(rf.get("/inbox/"))

    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in body and 'rel="icon"' in body
