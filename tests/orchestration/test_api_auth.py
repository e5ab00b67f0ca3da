"""API authentication: tenant API keys, personal tokens, sessions; keys stored only hashed."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from core import services
from core.models import ApiKey
from tests.factories import make_api_key, make_person

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_tenant_key_acts_for_its_tenant(key_client, tenant):
    response = key_client.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json() == {
        "tenant": {"slug": "acme", "name": "Acme", "timeZone": "UTC"},
        "principal": {"type": "apiKey", "name": "integration", "roles": []},
    }


def test_each_tenant_key_sees_only_its_own_tenant(tenant, other_tenant):
    _, raw_a = make_api_key(tenant=tenant)
    _, raw_b = make_api_key(tenant=other_tenant)

    assert bearer(raw_a).get("/api/v1/me").json()["tenant"]["slug"] == "acme"
    assert bearer(raw_b).get("/api/v1/me").json()["tenant"]["slug"] == "globex"


def test_no_credentials_is_401_with_the_bearer_challenge(client):
    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer tka_not-a-real-key",
        "Bearer",
        "Bearer two words",
        "Bearer tkp_unknown-token",
        "Bearer something-else",
    ],
)
def test_a_bad_bearer_header_is_401(tenant, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_revoked_key_stops_working(tenant):
    api_key, raw = make_api_key(tenant=tenant)
    assert bearer(raw).get("/api/v1/me").status_code == 200

    services.api_key_revoke(api_key=api_key)
    response = bearer(raw).get("/api/v1/me")

    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_no_raw_key_is_stored_anywhere_in_the_key_table(tenant):
    api_key, raw = make_api_key(tenant=tenant)
    secret_part = raw.split("_", 1)[1]

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table}")
        rows = cursor.fetchall()

    stored = " ".join(str(value) for row in rows for value in row)
    assert secret_part not in stored
    assert raw not in stored
    assert api_key.prefix == raw[:12]
    assert len(api_key.key_hash) == 64 and api_key.key_hash not in raw


def test_using_a_key_records_when_it_was_last_used(tenant):
    api_key, raw = make_api_key(tenant=tenant)
    assert api_key.last_used_at is None

    bearer(raw).get("/api/v1/me")

    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_a_personal_token_acts_as_its_person_with_roles(tenant):
    person = make_person(tenant=tenant, roles=["agent", "approver"], username="ada")
    _, raw = services.personal_token_create(user=person, name="laptop")

    body = bearer(raw).get("/api/v1/me").json()

    assert body["principal"] == {"type": "user", "name": "ada", "roles": ["agent", "approver"]}
    assert body["tenant"]["slug"] == "acme"


def test_a_personal_token_of_a_disabled_person_is_refused(tenant):
    person = make_person(tenant=tenant, roles=["agent"])
    _, raw = services.personal_token_create(user=person, name="laptop")
    person.is_active = False
    person.save()

    assert bearer(raw).get("/api/v1/me").status_code == 401


def test_a_revoked_personal_token_is_refused(tenant):
    person = make_person(tenant=tenant, roles=["agent"])
    token, raw = services.personal_token_create(user=person, name="laptop")
    services.personal_token_revoke(token=token)

    assert bearer(raw).get("/api/v1/me").status_code == 401


def test_a_signed_in_person_uses_the_api_with_their_session(manager_client):
    response = manager_client.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["principal"]["roles"] == ["manager"]


def test_session_writes_need_the_csrf_token(manager):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(manager)

    response = client.post("/api/v1/api-keys", {"name": "x"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_a_person_without_a_tenant_is_forbidden(db):
    loner = make_person(tenant=None, username="loner")
    client = APIClient()
    client.force_login(loner)

    response = client.get("/api/v1/me")

    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Your account does not belong to a tenant."


# --- API key management (managers) -------------------------------------------------------------


def test_a_manager_creates_a_key_whose_secret_is_shown_once(manager, tenant):
    client = APIClient()
    client.force_login(manager)

    created = client.post("/api/v1/api-keys", {"name": "zapier"}, format="json")
    listed = client.get("/api/v1/api-keys")

    assert created.status_code == 201
    raw = created.json()["key"]
    assert bearer(raw).get("/api/v1/me").json()["tenant"]["slug"] == "acme"
    assert [k["name"] for k in listed.json()] == ["zapier"]
    assert "key" not in listed.json()[0] and "keyHash" not in listed.json()[0]
    assert listed.json()[0]["prefix"] == raw[:12]


def test_a_key_cannot_be_made_without_a_name(manager):
    client = APIClient()
    client.force_login(manager)

    response = client.post("/api/v1/api-keys", {"name": ""}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"name": ["This field may not be blank."]}
    assert ApiKey.objects.count() == 0


def test_an_integration_key_cannot_manage_keys(key_client):
    response = key_client.post("/api/v1/api-keys", {"name": "more"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This needs the manager role."


def test_an_agent_cannot_manage_keys(tenant):
    agent = make_person(tenant=tenant, roles=["agent"])
    client = APIClient()
    client.force_login(agent)

    assert client.get("/api/v1/api-keys").status_code == 403


def test_a_manager_cannot_see_or_revoke_another_tenants_key(manager, other_tenant):
    theirs, raw = make_api_key(tenant=other_tenant, name="theirs")
    client = APIClient()
    client.force_login(manager)

    assert client.get(f"/api/v1/api-keys/{theirs.pk}").status_code == 404
    assert client.post(f"/api/v1/api-keys/{theirs.pk}/revoke").status_code == 404
    assert client.get("/api/v1/api-keys").json() == []
    assert bearer(raw).get("/api/v1/me").status_code == 200


def test_a_manager_revokes_their_tenants_key(manager, tenant):
    mine, raw = make_api_key(tenant=tenant)
    client = APIClient()
    client.force_login(manager)

    response = client.post(f"/api/v1/api-keys/{mine.pk}/revoke")

    assert response.status_code == 200
    assert response.json()["revokedAt"] is not None
    assert bearer(raw).get("/api/v1/me").status_code == 401
