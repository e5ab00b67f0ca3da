"""API keys kept in process (core/selectors.py): the lookup costs no query once a key is
kept, a revoked key is refused at once by the process that revoked it and by every other one
within CONFIG_CHECK_SECONDS, a key never resolves to another tenant, and a tenant's change or
removal is honoured as well."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from agents.models import Agent
from bench._procs import wait_until
from core.models import ApiKey
from core.selectors import forget_kept
from core.services import api_key_revoke
from tests.factories import make_api_key
from tests.runner.processes import manage_on_test_database, need_postgresql


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.mark.django_db
def test_a_kept_key_costs_no_query(key_client, django_assert_num_queries):
    assert key_client.get("/api/v1/me").status_code == 200  # kept; last-used stamped
    forget_kept()

    with django_assert_num_queries(1):  # the key with its tenant
        assert key_client.get("/api/v1/me").status_code == 200
    with django_assert_num_queries(0):  # kept: the lookup is gone
        assert key_client.get("/api/v1/me").json()["tenant"]["slug"] == "acme"


@pytest.mark.django_db
def test_a_revoked_key_is_refused_at_once_by_the_process_that_revoked_it(key_client, api_key):
    assert key_client.get("/api/v1/me").status_code == 200

    api_key_revoke(api_key=api_key[0])

    response = key_client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API key or token has been revoked."


@pytest.mark.django_db
def test_a_key_never_resolves_to_another_tenants(tenant, other_tenant):
    Agent.objects.create(tenant=tenant, slug="agent-acme", name="Acme's", role="supervisor")
    Agent.objects.create(tenant=other_tenant, slug="agent-globex", name="Globex's")
    ours = bearer(make_api_key(tenant=tenant, name="ours")[1])
    theirs = bearer(make_api_key(tenant=other_tenant, name="theirs")[1])
    for _ in range(3):  # kept after the first round: each still answers for its own tenant
        for client, slug, name in [(ours, "acme", "ours"), (theirs, "globex", "theirs")]:
            me = client.get("/api/v1/me").json()
            assert (me["tenant"]["slug"], me["principal"]["name"]) == (slug, name)
            agents = client.get("/api/v1/agents").json()
            assert [a["id"] for a in agents] == [f"agent-{slug}"]


@pytest.mark.django_db
def test_what_a_request_does_to_its_key_stays_out_of_the_kept_one(api_key, key_client):
    from core.selectors import credential_for_bearer

    first = credential_for_bearer(api_key[1])
    first.name = "changed by a request"
    first.tenant.name = "changed too"

    again = credential_for_bearer(api_key[1])
    assert (again.name, again.tenant.name) == (api_key[0].name, "Acme")
    assert again is not first and again.tenant is not first.tenant


@pytest.mark.django_db
def test_a_change_to_the_tenant_reads_its_key_again(key_client, tenant, django_assert_num_queries):
    from core.config_version import config_changed

    key_client.get("/api/v1/me")
    tenant.__class__.objects.filter(pk=tenant.pk).update(name="Acme Renamed")
    config_changed(tenant.pk)  # as the admin does when it saves a tenant

    with django_assert_num_queries(1):
        assert key_client.get("/api/v1/me").json()["tenant"]["name"] == "Acme Renamed"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_key_revoked_by_another_process_is_refused_within_the_interval(
    key_client, api_key, settings
):
    need_postgresql()
    assert key_client.get("/api/v1/me").status_code == 200  # kept here
    settings.CONFIG_CHECK_SECONDS = 0.2

    manage_on_test_database(
        "from core.models import ApiKey; from core.services import api_key_revoke; "
        f"api_key_revoke(api_key=ApiKey.objects.get(pk={api_key[0].pk}))"
    )

    wait_until(
        lambda: key_client.get("/api/v1/me").status_code == 401,
        what="the key revoked elsewhere refused here",
    )
    assert ApiKey.objects.get(pk=api_key[0].pk).revoked_at is not None


@pytest.mark.django_db
def test_a_kept_tenant_costs_no_query_and_each_caller_gets_its_own_copy(
    tenant, django_assert_num_queries
):
    from core.selectors import tenant_by_id

    with django_assert_num_queries(1):
        first = tenant_by_id(tenant.pk)
    first.name = "changed by a caller"
    with django_assert_num_queries(0):
        again = tenant_by_id(tenant.pk)

    assert again.name == "Acme" and again is not first


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_tenant_changed_by_another_process_is_read_again_within_the_interval(tenant, settings):
    from core.selectors import tenant_by_id

    need_postgresql()
    assert tenant_by_id(tenant.pk).currency == "EUR"  # kept here
    settings.CONFIG_CHECK_SECONDS = 0.2

    manage_on_test_database(
        f"from core.models import Tenant; t = Tenant.objects.get(pk={tenant.pk}); "
        "t.currency = 'USD'; t.save()"
    )

    wait_until(
        lambda: tenant_by_id(tenant.pk).currency == "USD",
        what="the tenant changed elsewhere read again here",
    )
