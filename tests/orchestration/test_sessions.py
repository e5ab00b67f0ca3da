"""Sessions know their person: signing out everywhere, deactivating a person (in the admin)
and deleting one end every session of theirs at once; personal tokens stay as they are."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from core import services
from core.events import person_group
from core.models import PersonSession
from tests.conftest import login
from tests.factories import PASSWORD, make_person

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def signed_in(client: Client) -> bool:
    return client.get("/accounts/tokens/").status_code == 200


def test_a_session_records_the_person_who_signed_in(tenant):
    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    client = Client()

    client.post("/accounts/login/", {"username": "ada", "password": PASSWORD})

    session = PersonSession.objects.get(session_key=client.session.session_key)
    assert session.user_id == ada.pk


def test_signing_out_everywhere_ends_every_session_and_keeps_tokens(tenant):
    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    bob = make_person(tenant=tenant, roles=["agent"], username="bob")
    laptop, phone, colleague = login(ada), login(ada), login(bob)
    _, raw = services.personal_token_create(user=ada, name="script")

    response = laptop.post("/accounts/sign-out-everywhere/")

    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert not signed_in(laptop)
    assert not signed_in(phone)
    assert signed_in(colleague)
    assert not PersonSession.objects.filter(user_id=ada.pk).exists()
    assert bearer(raw).get("/api/v1/me").status_code == 200  # tokens are revoked one by one


def test_signing_out_everywhere_needs_a_post(tenant):
    ada = make_person(tenant=tenant, roles=[], username="ada")
    client = login(ada)

    assert client.get("/accounts/sign-out-everywhere/").status_code == 405
    assert signed_in(client)


def test_the_tokens_page_offers_to_sign_out_everywhere(tenant):
    client = login(make_person(tenant=tenant, roles=[], username="ada"))

    page = client.get("/accounts/tokens/").content.decode()

    assert 'action="/accounts/sign-out-everywhere/"' in page


@pytest.fixture
def memory_layer(settings):
    """The in-memory channel layer (one event loop per call here; the Redis layer's queues
    are bound to one loop: tests/handover/test_socket_access.py runs the sockets on both)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


def test_signing_out_everywhere_tells_the_persons_sockets_after_commit(
    tenant, django_capture_on_commit_callbacks, memory_layer
):
    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    layer = memory_layer
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(person_group(ada.pk), channel)

    async def next_message(timeout: float):
        return await asyncio.wait_for(layer.receive(channel), timeout)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.person_sign_out_everywhere(user=ada)
    with pytest.raises(TimeoutError):  # nothing before the commit
        async_to_sync(next_message)(0.3)
    for callback in callbacks:
        callback()

    message = async_to_sync(next_message)(3)
    assert message == {"type": "broadcast", "event": {"type": "access.changed"}}
    async_to_sync(layer.group_discard)(person_group(ada.pk), channel)


def test_a_manager_deactivating_a_person_in_the_admin_ends_their_sessions(manager_client, tenant):
    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    browser = login(ada)
    _, raw = services.personal_token_create(user=ada, name="script")

    response = manager_client.post(
        f"/admin/auth/user/{ada.pk}/change/",
        {"username": "ada", "first_name": "", "last_name": "", "email": "", "roles": ["agent"]},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    ada.refresh_from_db()
    assert not ada.is_active
    assert not PersonSession.objects.filter(user_id=ada.pk).exists()
    assert not signed_in(browser)
    assert bearer(raw).get("/api/v1/me").status_code == 401


def test_a_manager_signs_a_person_out_everywhere_from_the_admin(manager_client, tenant):
    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    browser = login(ada)

    response = manager_client.post(
        "/admin/auth/user/",
        {"action": "sign_out_everywhere", "_selected_action": [ada.pk]},
    )

    assert response.status_code == 302
    assert not signed_in(browser)
    ada.refresh_from_db()
    assert ada.is_active  # signed out, not disabled


def test_deleting_a_person_in_the_admin_ends_their_sessions(manager_client, tenant):
    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    login(ada)

    response = manager_client.post(f"/admin/auth/user/{ada.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not get_user_model().objects.filter(pk=ada.pk).exists()
    assert not PersonSession.objects.filter(user_id=ada.pk).exists()


def test_a_manager_cannot_sign_out_people_of_another_tenant(manager_client, other_tenant):
    eve = make_person(tenant=other_tenant, roles=["agent"], username="eve")
    browser = login(eve)

    manager_client.post(
        "/admin/auth/user/", {"action": "sign_out_everywhere", "_selected_action": [eve.pk]}
    )

    assert signed_in(browser)
