"""Signing in and out, the home page by role, and personal API tokens."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from core.models import PersonalToken
from tests.conftest import login
from tests.factories import PASSWORD, make_person

pytestmark = pytest.mark.django_db


def test_the_login_page_uses_the_projects_template(client):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert "registration/login.html" in [t.name for t in response.templates]
    assert b"Sign in" in response.content


def test_signing_in_leads_to_the_home_page(tenant):
    make_person(tenant=tenant, roles=["agent"], username="ada")
    client = Client()

    response = client.post(
        "/accounts/login/", {"username": "ada", "password": PASSWORD}, follow=True
    )

    assert response.redirect_chain[-1][0] == "/"
    assert b"Welcome" in response.content


def test_a_wrong_password_is_told_and_does_not_sign_in(tenant):
    make_person(tenant=tenant, roles=["agent"], username="ada")
    client = Client()

    response = client.post("/accounts/login/", {"username": "ada", "password": "nope"})

    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert client.get("/").status_code == 302


def test_the_home_page_needs_a_sign_in(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")


def test_a_manager_is_linked_to_the_admin(manager_client):
    content = manager_client.get("/").content.decode()

    assert 'href="/admin/"' in content
    assert "manager" in content


def test_an_agent_or_approver_is_not_linked_to_the_admin(tenant):
    agent = make_person(tenant=tenant, roles=["agent", "approver"])

    content = login(agent).get("/").content.decode()

    assert 'href="/admin/"' not in content
    assert "agent" in content and "approver" in content


def test_a_superuser_without_a_tenant_is_linked_to_the_admin(db):
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)

    content = login(root).get("/").content.decode()

    assert 'href="/admin/"' in content
    assert "all tenants" in content


def test_signing_out_needs_a_post_and_ends_the_session(manager_client):
    response = manager_client.post("/accounts/logout/")

    assert response.status_code == 302
    assert manager_client.get("/").status_code == 302


def test_a_person_makes_a_token_and_sees_it_once(manager_client, manager):
    created = manager_client.post("/accounts/tokens/", {"name": "laptop"})
    raw = created.context["created"]["raw"]
    again = manager_client.get("/accounts/tokens/")

    assert raw.encode() in created.content
    assert raw.encode() not in again.content
    token = PersonalToken.objects.get(user=manager)
    assert token.prefix.encode() in again.content
    assert raw.startswith("tkp_")


def test_a_token_needs_a_name(manager_client):
    response = manager_client.post("/accounts/tokens/", {"name": ""})

    assert b"This field is required." in response.content
    assert not PersonalToken.objects.exists()


def test_a_person_cannot_revoke_someone_elses_token(tenant, manager_client):
    other = make_person(tenant=tenant, roles=["agent"])
    from core import services

    token, _ = services.personal_token_create(user=other, name="theirs")

    response = manager_client.post(f"/accounts/tokens/{token.pk}/revoke/")

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.is_active


def test_a_person_revokes_their_token(manager_client, manager):
    from core import services

    token, _ = services.personal_token_create(user=manager, name="old")

    manager_client.post(f"/accounts/tokens/{token.pk}/revoke/")

    token.refresh_from_db()
    assert not token.is_active
