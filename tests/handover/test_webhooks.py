"""Webhooks to a tenant's systems (core/webhooks.py, orchestration/webhooks.py): a manager adds
an endpoint in the admin (its secret shown once, a bad URL refused in words); the events it
wants are written in the change's own transaction (none for a tenant without endpoints, at no
query; nothing of another tenant's; never a private note), posted signed as Standard Webhooks
says and verified with the maintained library; a failure is retried with a growing wait, then
left failed for a manager to send again; an endpoint switched off hears nothing more."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from conversations.models import Conversation
from core.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from core.secret_store import unseal
from core.webhooks import DELIVER_TASK, webhook_event
from handover.models import Handoff
from handover.services import conversation_resolve, handoff_claim, note_post
from orchestration.webhooks import (
    MAX_ATTEMPTS,
    delivery_send_again,
    endpoint_create,
    endpoint_test,
    webhook_deliver,
)
from tests.handover.test_agent_tools import handed_over
from tests.runtimes.support import FakeServer, Respond, verify_signature

pytestmark = pytest.mark.django_db

ALL = [
    "conversation.created",
    "conversation.resolved",
    "message.created",
    "handoff.created",
    "handoff.claimed",
    "csat.rated",
]


@pytest.fixture(autouse=True)
def _local_receivers(settings):
    settings.RUNTIME_ALLOW_PRIVATE_NETWORKS = True  # the test's receiver is on 127.0.0.1


def events_of(endpoint) -> list[str]:
    return list(
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .order_by("id")
        .values_list("event", flat=True)
    )


def test_the_events_it_wants_are_written_with_the_change_and_nothing_else(
    key_client, team, tenant, globex, online, ada
):
    endpoint, _ = endpoint_create(tenant_id=tenant.pk, url="https://crm.example.com/h", events=ALL)
    theirs, _ = endpoint_create(tenant_id=globex.pk, url="https://x.example.com/h", events=ALL)
    only_resolved, _ = endpoint_create(
        tenant_id=tenant.pk, url="https://bi.example.com/h", events=["conversation.resolved"]
    )

    handoff = handed_over(key_client, customer="c-kim")
    handoff_claim(handoff=handoff, user=ada)
    conversation = Conversation.objects.get(pk=handoff.conversation_id)
    note_post(conversation=conversation, user=ada, text="A private word.")
    conversation_resolve(conversation=conversation, user=ada)

    seen = events_of(endpoint)
    assert seen[0] == "conversation.created"
    assert {
        "message.created",
        "handoff.created",
        "handoff.claimed",
        "conversation.resolved",
    } <= set(seen)
    texts = [
        d.payload["data"]["message"]["text"]
        for d in WebhookDelivery.objects.filter(endpoint=endpoint, event="message.created")
    ]
    assert "A private word." not in texts and any("human" in t for t in texts)
    assert events_of(only_resolved) == ["conversation.resolved"]
    assert events_of(theirs) == []
    created = WebhookDelivery.objects.get(endpoint=endpoint, event="handoff.created")
    handed = created.payload["data"]["handoff"]
    assert (handed["group"], handed["overflowedAt"]) == (None, None)  # no group: everyone
    resolved = WebhookDelivery.objects.get(endpoint=endpoint, event="conversation.resolved")
    assert resolved.payload["type"] == "conversation.resolved"
    assert resolved.payload["data"]["conversation"]["id"] == str(conversation.pk)
    assert resolved.payload["data"]["conversation"]["customer"]["id"] == "c-kim"
    # each one runs its task once the transaction commits, through the outbox
    tasks = OutboxEvent.objects.filter(payload__task=DELIVER_TASK).count()
    assert tasks == WebhookDelivery.objects.count()


def test_a_tenant_without_endpoints_pays_no_query(tenant, team, django_assert_num_queries):
    webhook_event(tenant.pk, "message.created", {"x": 1})  # what it has is read once

    with django_assert_num_queries(0):
        assert webhook_event(tenant.pk, "message.created", lambda: 1 / 0) == 0  # never built


def test_a_delivery_is_signed_as_standard_webhooks_says_and_verified(tenant, team):
    with FakeServer(lambda seen: Respond(204, raw=b"")) as receiver:
        endpoint, raw = endpoint_create(
            tenant_id=tenant.pk, url=receiver.url + "/hooks", events=["conversation.created"]
        )
        delivery = endpoint_test(endpoint)

        assert webhook_deliver(delivery.pk) is True

    (seen,) = receiver.seen
    assert seen.path == "/hooks"
    assert verify_signature(seen, raw)
    assert not verify_signature(seen, "whsec_" + "A" * 43)  # another secret
    assert seen.headers["webhook-id"] == delivery.message_id
    assert seen.json["type"] == "webhook.test"
    assert seen.json["data"]["endpointId"] == endpoint.pk
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 204)
    assert unseal(WebhookEndpoint.objects.get().secret) == raw
    assert webhook_deliver(delivery.pk) is False  # a second delivery of the task sends nothing
    assert len(receiver.seen) == 1


def test_a_failure_is_retried_with_a_growing_wait_then_left_failed_to_send_again(tenant, team):
    with FakeServer(lambda seen: Respond(500, body={"error": "down"})) as receiver:
        endpoint, _ = endpoint_create(
            tenant_id=tenant.pk, url=receiver.url, events=["conversation.created"]
        )
        delivery = endpoint_test(endpoint)
        waits = []
        for _ in range(MAX_ATTEMPTS):
            assert webhook_deliver(delivery.pk) is False
            retry = OutboxEvent.objects.filter(payload__task=DELIVER_TASK).order_by("-id").first()
            waits.append(retry.payload.get("countdown"))

        assert webhook_deliver(delivery.pk) is False  # failed: no seventh attempt
        assert len(receiver.seen) == MAX_ATTEMPTS
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("failed", MAX_ATTEMPTS)
        assert delivery.last_error == "HTTP 500: down (after 1 attempt)"
        assert waits[:5] == [30.0, 120.0, 600.0, 3600.0, 21600.0]

        receiver.default = lambda seen: Respond(200, body={})
        assert delivery_send_again(delivery) is True
        assert webhook_deliver(delivery.pk) is True


def test_a_private_address_is_refused_when_private_networks_are_not_allowed(tenant, team, settings):
    endpoint, _ = endpoint_create(tenant_id=tenant.pk, url="https://crm.example.com/h", events=ALL)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url="http://127.0.0.1:9/h")
    settings.RUNTIME_ALLOW_PRIVATE_NETWORKS = False
    delivery = endpoint_test(endpoint)

    assert webhook_deliver(delivery.pk) is False

    delivery.refresh_from_db()
    assert delivery.last_error.startswith("refused:") and delivery.status == "pending"


def test_an_endpoint_switched_off_hears_nothing_more(key_client, tenant, team, manager_client):
    endpoint, _ = endpoint_create(
        tenant_id=tenant.pk, url="https://crm.example.com/h", events=["conversation.created"]
    )
    url = reverse("admin:core_webhookendpoint_change", args=[endpoint.pk])
    off = manager_client.post(
        url,
        {"url": endpoint.url, "description": "", "events": ["conversation.created"]},
    )
    assert off.status_code == 302, off.content.decode()[:1500]

    handed_over(key_client, customer="c-1")

    assert events_of(endpoint) == []


def test_the_admin_adds_an_endpoint_shows_its_secret_once_and_refuses_a_bad_url(
    tenant, team, manager_client
):
    url = reverse("admin:core_webhookendpoint_add")
    for bad, words in (
        ("ftp://crm.example.com/h", "must be an http or https URL"),
        ("https://kim:pw@crm.example.com/h", "must not hold a user name or password"),
    ):
        refused = manager_client.post(url, {"url": bad, "events": ["message.created"]})
        assert words in refused.content.decode(), bad
    none = manager_client.post(url, {"url": "https://crm.example.com/h", "active": "on"})
    assert "This field is required" in none.content.decode()

    made = manager_client.post(
        url,
        {"url": "https://crm.example.com/h", "events": ["message.created"], "active": "on"},
    )

    page = made.content.decode()
    endpoint = WebhookEndpoint.objects.get()
    raw = unseal(endpoint.secret)
    assert raw.startswith("whsec_") and raw in page
    assert (
        raw
        not in manager_client.get(
            reverse("admin:core_webhookendpoint_change", args=[endpoint.pk])
        ).content.decode()
    )
    assert (endpoint.tenant, endpoint.events, endpoint.active) == (
        tenant,
        ["message.created"],
        True,
    )


def test_a_rating_is_told(tenant, team, online, ada, key_client):
    endpoint, _ = endpoint_create(
        tenant_id=tenant.pk, url="https://crm.example.com/h", events=["csat.rated"]
    )
    started = (
        Client()
        .post(
            "/chat/acme/start",
            {"text": "I want to talk to a human please"},
            content_type="application/json",
            headers={"Origin": "http://testserver"},
        )
        .json()
    )
    conversation = Conversation.objects.get(pk=started["conversationId"])
    handoff_claim(handoff=Handoff.objects.get(conversation=conversation), user=ada)
    conversation_resolve(conversation=conversation, user=ada)

    Client().post(
        "/chat/acme/rate",
        {"conversationId": started["conversationId"], "token": started["token"], "score": 5},
        content_type="application/json",
    )

    (rated,) = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert rated.payload["data"]["score"] == 5


def test_the_api_keeps_to_the_tenant_and_the_configuring_roles(
    key_client, team, tenant, globex, online, ada
):
    from rest_framework.test import APIClient

    from tests.factories import make_api_key

    made = key_client.post(
        "/api/v1/webhooks",
        {"url": "https://crm.example.com/h", "events": ["message.created"]},
        format="json",
    )
    assert made.status_code == 201, made.json()
    endpoint_id = made.json()["id"]
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=globex)[1]}")
    person = APIClient()
    person.force_login(ada)

    assert other.get("/api/v1/webhooks").json() == []
    for method, url in (
        ("patch", f"/api/v1/webhooks/{endpoint_id}"),
        ("delete", f"/api/v1/webhooks/{endpoint_id}"),
        ("post", f"/api/v1/webhooks/{endpoint_id}/test"),
        ("get", f"/api/v1/webhooks/{endpoint_id}/deliveries"),
    ):
        assert getattr(other, method)(url, {}, format="json").status_code == 404, url
        assert getattr(person, method)(url, {}, format="json").status_code == 403, url
    for body, field in (
        ({"active": "yes"}, "active"),
        ({"events": []}, "events"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"secret": "mine"}, "secret"),
        ({"description": "\ud800"}, "description"),
    ):
        import json

        refused = key_client.patch(
            f"/api/v1/webhooks/{endpoint_id}", json.dumps(body), content_type="application/json"
        )
        assert refused.status_code == 400, body
        assert list(refused.json()["error"]["fields"]) == [field], body
    assert WebhookEndpoint.objects.get().events == ["message.created"]


def test_old_deliveries_go_and_an_erasure_takes_those_of_its_conversations(
    key_client, team, tenant
):
    import datetime as dt

    from django.utils import timezone

    from core.principals import Principal
    from orchestration.erasure import customer_erase
    from orchestration.webhooks import deliveries_sweep

    endpoint, _ = endpoint_create(
        tenant_id=tenant.pk, url="https://crm.example.com/h", events=["conversation.created"]
    )
    handed_over(key_client, customer="c-kim")
    handed_over(key_client, customer="c-lee")
    old = endpoint_test(endpoint)
    WebhookDelivery.objects.filter(pk=old.pk).update(
        status="delivered", created_at=timezone.now() - dt.timedelta(days=31)
    )

    assert deliveries_sweep() == 1
    customer_erase(tenant_id=tenant.pk, kind="customer", value="c-kim", by=Principal())

    left = WebhookDelivery.objects.all()
    assert [d.payload["data"]["conversation"]["customer"]["id"] for d in left] == ["c-lee"]


def test_a_manager_sends_a_failed_delivery_again_from_the_admin(tenant, team, manager_client):
    endpoint, _ = endpoint_create(
        tenant_id=tenant.pk, url="https://crm.example.com/h", events=["conversation.created"]
    )
    failed = endpoint_test(endpoint)
    WebhookDelivery.objects.filter(pk=failed.pk).update(status="failed", attempts=6)
    url = reverse("admin:core_webhookdelivery_changelist")

    listed = manager_client.get(url).content.decode()
    sent = manager_client.post(
        url, {"action": "send_again", "_selected_action": [failed.pk]}, follow=True
    )

    assert "webhook.test" in listed
    assert "1 delivery(ies) pending again." in sent.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("pending", 0)


def test_the_admin_rotates_a_secret_shown_once_and_sends_a_test(tenant, team, manager_client):
    endpoint, first = endpoint_create(
        tenant_id=tenant.pk, url="https://crm.example.com/h", events=["conversation.created"]
    )
    url = reverse("admin:core_webhookendpoint_changelist")

    rotated = manager_client.post(
        url, {"action": "rotate_secret", "_selected_action": [endpoint.pk]}
    )
    tested = manager_client.post(
        url, {"action": "send_test", "_selected_action": [endpoint.pk]}, follow=True
    )

    now = unseal(WebhookEndpoint.objects.get().secret)
    assert now != first and now in rotated.content.decode()
    assert "webhook.test event is on its way" in tested.content.decode()
    assert events_of(endpoint) == ["webhook.test"]


def test_the_admin_says_when_the_team_has_its_ten_endpoints(tenant, team, manager_client):
    for i in range(10):
        endpoint_create(tenant_id=tenant.pk, url=f"https://crm.example.com/{i}", events=ALL)

    refused = manager_client.post(
        reverse("admin:core_webhookendpoint_add"),
        {"url": "https://crm.example.com/11", "events": ["message.created"], "active": "on"},
    )

    assert refused.status_code == 200
    assert "a team has at most 10 webhook endpoints" in refused.content.decode()
    assert WebhookEndpoint.objects.count() == 10


def test_a_manager_never_reaches_another_tenants_endpoints_deliveries_or_erasures(
    tenant, team, globex, manager_client
):
    from conversations.models import Erasure
    from core.principals import Principal
    from orchestration.erasure import customer_erase

    theirs, _ = endpoint_create(
        tenant_id=globex.pk, url="https://globex.example.com/hooks", events=ALL
    )
    delivery = endpoint_test(theirs)
    erasure = customer_erase(tenant_id=globex.pk, kind="customer", value="c-9", by=Principal())

    for model, row in (
        ("webhookendpoint", theirs),
        ("webhookdelivery", delivery),
    ):
        listed = manager_client.get(reverse(f"admin:core_{model}_changelist")).content.decode()
        assert "globex.example.com" not in listed and delivery.message_id not in listed
        assert manager_client.get(
            reverse(f"admin:core_{model}_change", args=[row.pk])
        ).status_code in (302, 404)
    listed = manager_client.get(reverse("admin:conversations_erasure_changelist"))
    assert f"/{erasure.pk}/change/" not in listed.content.decode()
    changed = manager_client.post(
        reverse("admin:core_webhookendpoint_change", args=[theirs.pk]),
        {"url": "https://evil.example.com/h", "events": ["message.created"]},
    )
    assert changed.status_code in (302, 404)
    assert WebhookEndpoint.objects.get(pk=theirs.pk).url == "https://globex.example.com/hooks"
    assert Erasure.objects.filter(tenant=globex).count() == 1


def test_an_endpoint_failing_for_five_days_is_switched_off_its_managers_mailed_once(
    tenant, team, manager, key_client, manager_client
):
    import datetime as dt

    from django.core import mail
    from django.utils import timezone

    from orchestration.webhooks import DISABLED_MAIL_TASK, endpoint_disabled_mail

    manager.email = "mo@acme.example"
    manager.save(update_fields=["email"])
    with FakeServer(lambda seen: Respond(503, body={"error": "maintenance"})) as receiver:
        endpoint, _ = endpoint_create(
            tenant_id=tenant.pk, url=receiver.url, events=["conversation.created"]
        )
        delivery = endpoint_test(endpoint)
        webhook_deliver(delivery.pk)
        endpoint.refresh_from_db()
        assert (endpoint.failures, endpoint.active) == (1, True)
        began = endpoint.failing_since
        # every attempt failed since six days ago
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            failing_since=began - dt.timedelta(days=6)
        )
        for _ in range(MAX_ATTEMPTS - 2):
            webhook_deliver(delivery.pk)
        endpoint.refresh_from_db()
        assert (endpoint.failures, endpoint.active) == (MAX_ATTEMPTS - 1, True)  # not yet 6

        webhook_deliver(delivery.pk)

    endpoint.refresh_from_db()
    assert endpoint.active is False and endpoint.disabled_at is not None
    assert endpoint.failures == MAX_ATTEMPTS
    assert OutboxEvent.objects.filter(payload__task=DISABLED_MAIL_TASK).count() == 1
    handed_over(key_client, customer="c-after")
    assert events_of(endpoint) == ["webhook.test"]  # it hears nothing more
    shown = key_client.get("/api/v1/webhooks").json()[0]
    assert shown["active"] is False and shown["disabledAt"] and shown["failures"] == 6
    page = manager_client.get(reverse("admin:core_webhookendpoint_changelist")).content.decode()
    assert "Switched off by itself on" in page

    mail.outbox.clear()
    assert endpoint_disabled_mail(endpoint.pk) == 1
    assert endpoint_disabled_mail(endpoint.pk) == 0  # once
    (sent,) = mail.outbox
    assert sent.to == ["mo@acme.example"]
    assert "switched off" in sent.subject and receiver.url in sent.body
    assert "HTTP 503: maintenance" in sent.body
    assert reverse("admin:core_webhookendpoint_change", args=[endpoint.pk]) in sent.body

    # switched on again over the API: its health starts afresh, and it hears events again
    on = key_client.patch(f"/api/v1/webhooks/{endpoint.pk}", {"active": True}, format="json")
    assert on.status_code == 200
    assert (on.json()["failures"], on.json()["failingSince"], on.json()["disabledAt"]) == (
        0,
        None,
        None,
    )
    handed_over(key_client, customer="c-again")
    assert events_of(endpoint)[-1] == "conversation.created"
    assert timezone.now() - endpoint.disabled_at < dt.timedelta(minutes=1)


def test_a_delivered_attempt_ends_the_failing_and_a_short_outage_switches_nothing_off(tenant, team):
    answers = iter([500, 500, 200])
    with FakeServer(lambda seen: Respond(next(answers), body={})) as receiver:
        endpoint, _ = endpoint_create(
            tenant_id=tenant.pk, url=receiver.url, events=["conversation.created"]
        )
        delivery = endpoint_test(endpoint)
        webhook_deliver(delivery.pk)
        webhook_deliver(delivery.pk)
        endpoint.refresh_from_db()
        assert endpoint.failures == 2 and endpoint.failing_since is not None

        assert webhook_deliver(delivery.pk) is True

    endpoint.refresh_from_db()
    assert (endpoint.failures, endpoint.failing_since, endpoint.active) == (0, None, True)


def test_a_refused_mail_about_a_switched_off_endpoint_is_left_for_the_retry(
    tenant, team, manager, settings
):
    from django.core import mail
    from django.utils import timezone

    from orchestration.webhooks import endpoint_disabled_mail

    manager.email = "mo@acme.example"
    manager.save(update_fields=["email"])
    endpoint, _ = endpoint_create(
        tenant_id=tenant.pk, url="https://crm.example.com/h", events=["message.created"]
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        active=False, disabled_at=timezone.now(), failing_since=timezone.now(), failures=9
    )
    settings.EMAIL_BACKEND = f"{__name__}.RefusingMailServer"

    with pytest.raises(OSError):
        endpoint_disabled_mail(endpoint.pk)

    assert WebhookEndpoint.objects.get().disabled_mailed_at is None  # the retry sends it
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert endpoint_disabled_mail(endpoint.pk) == 1 and len(mail.outbox) == 1


def test_a_manager_switches_a_switched_off_endpoint_on_again_in_the_admin(
    tenant, team, manager_client
):
    from django.utils import timezone

    endpoint, _ = endpoint_create(
        tenant_id=tenant.pk, url="https://crm.example.com/h", events=["message.created"]
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        active=False, disabled_at=timezone.now(), failing_since=timezone.now(), failures=9
    )
    url = reverse("admin:core_webhookendpoint_change", args=[endpoint.pk])
    assert "Tick active to switch it on again" in manager_client.get(url).content.decode()

    on = manager_client.post(
        url, {"url": endpoint.url, "events": ["message.created"], "active": "on"}
    )

    assert on.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.failures, endpoint.disabled_at) == (True, 0, None)


class RefusingMailServer:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("connection refused by smtp.example")
