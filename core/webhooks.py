"""Webhooks to a tenant's own systems (Intercom's, Zendesk's and Chatwoot's webhooks): a CRM, a
data warehouse or a chat tool of theirs hears of conversations, messages, handoffs, approvals
and ratings as they happen.

A manager registers an endpoint (the admin's **Webhook endpoints**, or ``/api/v1/webhooks``):
its URL, the event types it wants (``WebhookEventType``), and a secret made for it and shown
once (``whsec_...``). Each event is sent as the Standard Webhooks specification says
(https://www.standardwebhooks.com/), so receivers verify it with the maintained libraries: a
POST of ``{"type", "timestamp", "data"}`` with the headers ``webhook-id`` (the delivery's
``msg_...``, the same on every attempt), ``webhook-timestamp`` and ``webhook-signature``.

``webhook_event`` is called where the change is made, inside its transaction: it writes one
``WebhookDelivery`` per endpoint that wants the event and the outbox row that runs its task
once the transaction commits (``core.outbox``: nothing lost if the broker is down, nothing sent
for a change rolled back). A tenant with no endpoint for the event costs no query: the endpoints
are kept in process per configuration generation (``core.config_version``; an endpoint's change
moves it on). ``orchestration.webhook_delivery`` posts it, outside any transaction."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from core.config_version import config_changed, generation, generation_key
from core.models import WebhookDelivery, WebhookEndpoint, WebhookEventType
from core.outbox import outbox_task
from core.secret_store import seal

DELIVER_TASK = "webhooks.deliver"
TEST_EVENT = WebhookEventType.WEBHOOK_TEST.value
EVENT_TYPES = frozenset(WebhookEventType.values) - {TEST_EVENT}  # what an endpoint subscribes to
ENDPOINTS_MAX = 10  # per tenant
SECRET_PREFIX = "whsec_"

_kept: dict[int, tuple[int, tuple[tuple[int, frozenset[str]], ...]]] = {}
_lock = threading.Lock()


def _endpoints(tenant_id: int) -> tuple[tuple[int, frozenset[str]], ...]:
    """The tenant's active endpoints and the events each wants, kept per generation."""
    current = generation(generation_key(tenant_id))
    kept = _kept.get(tenant_id)
    if kept is not None and kept[0] == current:
        return kept[1]
    found = tuple(
        (pk, frozenset(events or ()))
        for pk, events in WebhookEndpoint.objects.filter(
            tenant_id=tenant_id, active=True
        ).values_list("pk", "events")
    )
    with _lock:
        if len(_kept) > 10_000:
            _kept.clear()
        _kept[tenant_id] = (current, found)
    return found


def webhook_event(
    tenant_id: int,
    event: str,
    data: Callable[[], dict[str, Any]] | dict[str, Any],
    *,
    conversation_id: Any = None,
) -> int:
    """Inside the transaction of the change: the event for each of the tenant's endpoints that
    wants it, sent once the transaction commits; ``data`` (or what it returns: built only when
    an endpoint wants it), about the conversation ``conversation_id``. Returns how many
    deliveries were written."""
    wanted = [pk for pk, events in _endpoints(tenant_id) if event in events]
    if not wanted:
        return 0
    body = _body(event, data() if callable(data) else data)
    rows = WebhookDelivery.objects.bulk_create(
        [_delivery(tenant_id, pk, event, body, conversation_id) for pk in wanted]
    )
    for row in rows:
        outbox_task(tenant_id=tenant_id, task=DELIVER_TASK, args=[row.pk])
    return len(rows)


def delivery_for(endpoint: WebhookEndpoint, event: str, data: dict[str, Any]) -> WebhookDelivery:
    """Inside a transaction: ``event`` for ``endpoint`` alone (a test), sent once it commits."""
    row = _delivery(endpoint.tenant_id, endpoint.pk, event, _body(event, data))
    row.save()
    outbox_task(tenant_id=endpoint.tenant_id, task=DELIVER_TASK, args=[row.pk])
    return row


def _body(event: str, data: dict[str, Any]) -> dict[str, Any]:
    """The event as it is sent, and stored: dates and ids as the API writes them."""
    sent = {"type": event, "timestamp": timezone.now(), "data": data}
    return json.loads(json.dumps(sent, cls=DjangoJSONEncoder))


def _delivery(
    tenant_id: int, endpoint_id: int, event: str, body: dict, conversation_id: Any = None
) -> WebhookDelivery:
    return WebhookDelivery(
        tenant_id=tenant_id,
        endpoint_id=endpoint_id,
        message_id=f"msg_{uuid.uuid4().hex}",
        event=event,
        payload=body,
        conversation_id=conversation_id,
    )


def new_signing_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64 (a webhook
    endpoint's, the e-mail channel's inbound one)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def endpoint_secret_set(endpoint: WebhookEndpoint) -> str:
    """Give the endpoint a new secret (made or rotated); the secret in clear, shown once."""
    raw = new_signing_secret()
    endpoint.secret = seal(raw)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret=endpoint.secret)
    return raw


def disable_after_words() -> str:
    """``WEBHOOK_DISABLE_AFTER_HOURS`` in words: "5 days"."""
    hours = settings.WEBHOOK_DISABLE_AFTER_HOURS
    return f"{hours // 24} day(s)" if hours % 24 == 0 else f"{hours} hour(s)"


def endpoint_health(endpoint: WebhookEndpoint) -> str:
    """How its deliveries go, in words (the admin's list and page)."""
    when = "%d %b %Y %H:%M"
    if endpoint.disabled_at and not endpoint.active:
        return (
            f"Switched off by itself on {timezone.localtime(endpoint.disabled_at):{when}}: "
            f"every attempt failed since {timezone.localtime(endpoint.failing_since):{when}} "
            f"({endpoint.failures}). Tick active to switch it on again."
            if endpoint.failing_since
            else f"Switched off by itself on {timezone.localtime(endpoint.disabled_at):{when}}."
        )
    if endpoint.failing_since:
        return (
            f"Failing since {timezone.localtime(endpoint.failing_since):{when}} "
            f"({endpoint.failures} attempt(s)); switched off by itself after "
            f"{disable_after_words()} of it."
        )
    return "Delivering" if endpoint.active else "Switched off"


def endpoint_changed(tenant_id: int) -> None:
    """An endpoint was made, changed or deleted: every process reads the tenant's again."""
    config_changed(tenant_id)
