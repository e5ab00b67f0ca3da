"""A manager of one tenant cannot list, open, change or pick another tenant's rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from core.models import (
    ApiKey,
    BusinessHours,
    Holiday,
    Membership,
)
from tests.conftest import login
from tests.factories import make_api_key, make_person

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_a_manager_lists_only_their_own_tenant(manager_client, tenant, other_tenant):
    response = manager_client.get("/admin/core/tenant/")

    assert response.status_code == 200
    assert b"Acme" in response.content
    assert b"Globex" not in response.content


def test_another_tenant_by_url_is_not_found(manager_client, other_tenant):
    url = f"/admin/core/tenant/{other_tenant.pk}/change/"

    assert manager_client.get(url).status_code == 404
    response = manager_client.post(url, {"name": "Hijacked", "time_zone": "UTC"})
    assert response.status_code == 404
    other_tenant.refresh_from_db()
    assert other_tenant.name == "Globex"


def test_a_manager_edits_their_tenant_and_its_business_hours(manager_client, tenant):
    url = f"/admin/core/tenant/{tenant.pk}/change/"
    form = {
        "name": "Acme Corp",
        "time_zone": "Europe/Paris",
        "approval_timeout": "1 00:00:00",
        "currency": "GBP",
        "chat_color": "#2f5bea",
        "chat_reply_time": "minutes",
        "chat_ask_email": "no",
        "business_hours-TOTAL_FORMS": "1",
        "business_hours-INITIAL_FORMS": "0",
        "business_hours-0-weekday": "0",
        "business_hours-0-opens": "09:00",
        "business_hours-0-closes": "17:00",
        "holidays-TOTAL_FORMS": "1",
        "holidays-INITIAL_FORMS": "0",
        "holidays-0-date": "2026-12-25",
        "holidays-0-name": "Christmas",
    }

    response = manager_client.post(url, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    tenant.refresh_from_db()
    assert (tenant.name, tenant.time_zone, tenant.currency) == ("Acme Corp", "Europe/Paris", "GBP")
    assert BusinessHours.objects.get(tenant=tenant).opens == dt.time(9)
    assert Holiday.objects.get(tenant=tenant).name == "Christmas"


def test_bad_business_hours_are_a_form_error_not_a_crash(manager_client, tenant):
    url = f"/admin/core/tenant/{tenant.pk}/change/"
    form = {
        "name": "Acme",
        "time_zone": "Mars/Olympus",
        "business_hours-TOTAL_FORMS": "1",
        "business_hours-INITIAL_FORMS": "0",
        "business_hours-0-weekday": "0",
        "business_hours-0-opens": "17:00",
        "business_hours-0-closes": "09:00",
        "holidays-TOTAL_FORMS": "0",
        "holidays-INITIAL_FORMS": "0",
    }

    response = manager_client.post(url, form)

    assert response.status_code == 200
    content = response.content.decode()
    assert "Mars/Olympus is not a known time zone" in content
    assert "Opening time must be before closing time." in content
    assert not BusinessHours.objects.exists()


def test_a_manager_cannot_add_or_delete_tenants(manager_client, tenant):
    assert manager_client.get("/admin/core/tenant/add/").status_code == 403
    url = f"/admin/core/tenant/{tenant.pk}/delete/"
    assert manager_client.post(url, {"post": "yes"}).status_code == 403


def test_api_keys_of_another_tenant_are_invisible(manager_client, tenant, other_tenant):
    make_api_key(tenant=tenant, name="ours")
    theirs, _ = make_api_key(tenant=other_tenant, name="theirs")

    listing = manager_client.get("/admin/core/apikey/")
    opened = manager_client.get(f"/admin/core/apikey/{theirs.pk}/change/")

    assert b"ours" in listing.content and b"theirs" not in listing.content
    assert opened.status_code == 404


def test_a_key_made_in_the_admin_is_shown_once_and_lands_in_the_managers_tenant(
    manager_client, tenant, other_tenant
):
    # The manager does not see the tenant field; a forged one is ignored.
    response = manager_client.post(
        "/admin/core/apikey/add/", {"name": "helpdesk", "tenant": other_tenant.pk}
    )

    assert response.status_code == 200
    api_key = ApiKey.objects.get(name="helpdesk")
    assert api_key.tenant == tenant
    raw = response.context["raw"]
    assert raw.startswith(api_key.prefix)
    assert raw.encode() in response.content
    assert (
        raw.encode() not in manager_client.get(f"/admin/core/apikey/{api_key.pk}/change/").content
    )


def test_revoking_keys_from_the_admin_touches_only_the_managers_tenant(
    manager_client, tenant, other_tenant
):
    ours, _ = make_api_key(tenant=tenant, name="ours")
    theirs, _ = make_api_key(tenant=other_tenant, name="theirs")

    manager_client.post(
        "/admin/core/apikey/",
        {"action": "revoke", "_selected_action": [ours.pk, theirs.pk]},
    )

    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.revoked_at is not None
    assert theirs.revoked_at is None


def test_people_of_another_tenant_are_invisible(manager_client, tenant, other_tenant):
    make_person(tenant=tenant, roles=["agent"], username="ada")
    bob = make_person(tenant=other_tenant, roles=["agent"], username="bob")
    root = User.objects.create_superuser("root", password="x")

    listing = manager_client.get("/admin/auth/user/").content.decode()

    assert "ada" in listing and "bob" not in listing and ">root<" not in listing
    assert manager_client.get(f"/admin/auth/user/{bob.pk}/change/").status_code == 404
    assert manager_client.get(f"/admin/auth/user/{root.pk}/change/").status_code == 404
    response = manager_client.post(f"/admin/auth/user/{bob.pk}/delete/", {"post": "yes"})
    assert response.status_code == 404
    assert User.objects.filter(pk=bob.pk).exists()


def test_a_manager_adds_a_person_to_their_own_tenant_with_roles(
    manager_client, tenant, other_tenant
):
    response = manager_client.post(
        "/admin/auth/user/add/",
        {
            "username": "newbie",
            "usable_password": "true",
            "password1": "a-long-enough-password-42",
            "password2": "a-long-enough-password-42",
            "roles": ["agent", "approver"],
            "tenant": other_tenant.pk,  # forged: managers have no tenant field
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    membership = Membership.objects.get(user__username="newbie")
    assert membership.tenant == tenant
    assert membership.roles == ["agent", "approver"]
    assert not membership.user.is_staff


def test_making_someone_a_manager_lets_them_into_the_admin(manager_client, tenant):
    person = make_person(tenant=tenant, roles=["agent"], username="ada")
    url = f"/admin/auth/user/{person.pk}/change/"
    page = manager_client.get(url).content.decode()
    assert "is_superuser" not in page  # managers cannot grant superuser powers

    response = manager_client.post(
        url,
        {
            "username": "ada",
            "first_name": "Ada",
            "last_name": "",
            "email": "",
            "roles": ["manager", "agent"],
            "is_active": "on",
            "is_superuser": "on",  # forged: ignored
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    person.refresh_from_db()
    assert person.is_staff and not person.is_superuser
    assert login(person).get("/admin/").status_code == 200


def test_people_without_the_manager_role_cannot_use_the_admin(tenant):
    agent = make_person(tenant=tenant, roles=["agent", "approver"])

    response = login(agent).get("/admin/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_superuser_sees_every_tenant(db, tenant, other_tenant):
    root = User.objects.create_superuser("root", password="x")
    client = login_superuser(root)

    listing = client.get("/admin/core/tenant/").content

    assert b"Acme" in listing and b"Globex" in listing
    assert client.get(f"/admin/core/tenant/{other_tenant.pk}/change/").status_code == 200


def test_a_superuser_cannot_attach_a_holiday_twice_to_one_day(db, tenant):
    Holiday.objects.create(tenant=tenant, date=dt.date(2026, 12, 25), name="Christmas")
    root = User.objects.create_superuser("root", password="x")
    client = login_superuser(root)

    response = client.post(
        f"/admin/core/tenant/{tenant.pk}/change/",
        {
            "name": "Acme",
            "slug": "acme",
            "time_zone": "UTC",
            "approval_timeout": "1 00:00:00",
            "currency": "EUR",
            "business_hours-TOTAL_FORMS": "0",
            "business_hours-INITIAL_FORMS": "0",
            "holidays-TOTAL_FORMS": "1",
            "holidays-INITIAL_FORMS": "0",
            "holidays-0-date": "2026-12-25",
            "holidays-0-name": "Again",
        },
    )

    assert response.status_code == 200
    assert "This date is already a holiday." in response.content.decode()
    assert Holiday.objects.count() == 1


def login_superuser(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_conversations_and_intents_are_scoped_in_the_admin(manager_client, tenant, other_tenant):
    from agents.models import Agent, Intent
    from conversations.services import conversation_start

    mine_agent = Agent.objects.create(tenant=tenant, slug="a", name="A", role="specialist")
    their_agent = Agent.objects.create(tenant=other_tenant, slug="b", name="B", role="specialist")
    conversation_start(
        tenant=tenant, agent=mine_agent, channel="web", customer={"id": "mine", "name": "Mine"}
    )
    theirs, _ = conversation_start(
        tenant=other_tenant,
        agent=their_agent,
        channel="web",
        customer={"id": "x", "name": "Theirs"},
    )
    Intent.objects.create(tenant=other_tenant, name="secret-intent")

    listing = manager_client.get("/admin/conversations/conversation/").content.decode()
    assert "Mine" in listing and "Theirs" not in listing
    assert (
        manager_client.get(f"/admin/conversations/conversation/{theirs.pk}/change/").status_code
        == 404
    )
    assert "secret-intent" not in manager_client.get("/admin/agents/intent/").content.decode()
    added = manager_client.post(
        "/admin/agents/intent/add/",
        {"name": "warranty", "keywords": "warranty, guarantee", "phrases": ""},
    )
    assert added.status_code == 302
    assert Intent.objects.get(name="warranty").tenant == tenant
