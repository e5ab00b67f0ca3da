"""Webhooks to a tenant's systems, the half that talks to the network (``core.webhooks`` writes
the deliveries): an endpoint checked and saved, and a delivery posted.

``webhook_deliver`` (the task ``webhooks.deliver``) reads the delivery, gives its database
connection back, and POSTs the event with no transaction open, through the agents' runtimes'
own client (``agents.runtimes.http``): the Standard Webhooks headers signed with the endpoint's
secret, connect and read timeouts, no redirect followed, a host that resolves to a private or
local address refused. Any 2xx is delivered. Otherwise the attempt is counted and the
next one written to the outbox with a growing wait (``RETRY_SECONDS``: 30 s, 2 min, 10 min,
1 h, 6 h), ``MAX_ATTEMPTS`` in all; the last failure leaves it ``failed``, for a manager to
send again from the admin. Delivery is at least once: a worker that dies after the POST and
before recording it sends it again with the same ``webhook-id``, which receivers drop."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.utils import timezone

from agents.runtimes.addresses import saved_url_problem
from agents.runtimes.http import HttpPolicy, post_json
from agents.runtimes.signing import signer
from core.errors import Invalid
from core.json_input import text_problem
from core.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from core.outbox import outbox_task
from core.secret_store import SecretUnreadable, unseal
from core.webhooks import (
    DELIVER_TASK,
    ENDPOINTS_MAX,
    EVENT_TYPES,
    TEST_EVENT,
    delivery_for,
    endpoint_changed,
    endpoint_secret_set,
)

MAX_ATTEMPTS = 6
RETRY_SECONDS = (30, 120, 600, 3600, 6 * 3600)
# one attempt a task run (the next one is the outbox's, after its wait): 3 s to connect, 10 s
# to answer
ONE_TRY = HttpPolicy(connect_timeout=3.0, read_timeout=10.0, attempts=1, backoff=())


def endpoint_fields(url: Any, events: Any, description: Any = "") -> dict[str, Any]:
    """An endpoint's fields, checked (Invalid naming ``url``, ``events`` or ``description``)."""
    problems: dict[str, str] = {}
    if not isinstance(url, str) or not url.strip():
        problems["url"] = "is required"
    else:
        url = url.strip()
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            problems["url"] = "must be an http or https URL"
        else:
            if len(url) > 500:
                problems["url"] = "must be at most 500 characters"
            elif urlsplit(url).username or urlsplit(url).password:
                problems["url"] = "must not hold a user name or password (the secret signs)"
            elif refused := saved_url_problem(url):
                problems["url"] = refused
    if not isinstance(events, list) or not events:
        problems["events"] = f"must be a list of event types: {', '.join(sorted(EVENT_TYPES))}"
    elif unknown := [e for e in events if not isinstance(e, str) or e not in EVENT_TYPES]:
        problems["events"] = f"unknown event type {unknown[0]!r}"
    if not isinstance(description, str) or len(description) > 200 or text_problem(description):
        problems["description"] = "must be text of at most 200 characters"
    if problems:
        raise Invalid(fields=problems)
    return {"url": url, "events": sorted(set(events)), "description": description.strip()}


@transaction.atomic
def endpoint_room(tenant_id: int) -> None:
    """Invalid (naming ``url``) when the tenant has its ``ENDPOINTS_MAX`` endpoints already."""
    if WebhookEndpoint.objects.filter(tenant_id=tenant_id).count() >= ENDPOINTS_MAX:
        raise Invalid(fields={"url": f"a team has at most {ENDPOINTS_MAX} webhook endpoints"})


def endpoint_create(
    *, tenant_id: int, url: Any, events: Any, description: Any = "", active: bool = True
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret in clear (shown once). At most ``ENDPOINTS_MAX``."""
    fields = endpoint_fields(url, events, description)
    endpoint_room(tenant_id)
    endpoint = WebhookEndpoint.objects.create(tenant_id=tenant_id, active=active, **fields)
    raw = endpoint_secret_set(endpoint)
    endpoint_changed(tenant_id)
    return endpoint, raw


@transaction.atomic
def endpoint_update(endpoint: WebhookEndpoint, changes: dict[str, Any]) -> WebhookEndpoint:
    """Change an endpoint's ``url``, ``events``, ``description`` or ``active`` (the others kept;
    Invalid naming a bad one, or an unknown field)."""
    unknown = sorted(set(changes) - {"url", "events", "description", "active"})
    if unknown:
        raise Invalid(fields={unknown[0]: "is not a field of a webhook endpoint"})
    active = changes.get("active", endpoint.active)
    if not isinstance(active, bool):
        raise Invalid(fields={"active": "must be true or false"})
    fields = endpoint_fields(
        changes.get("url", endpoint.url),
        changes.get("events", endpoint.events),
        changes.get("description", endpoint.description),
    )
    for name, value in {**fields, "active": active}.items():
        setattr(endpoint, name, value)
    endpoint.save(update_fields=["url", "events", "description", "active"])
    endpoint_changed(endpoint.tenant_id)
    return endpoint


@transaction.atomic
def endpoint_delete(endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint with its deliveries (a pending one is not sent)."""
    tenant_id = endpoint.tenant_id
    endpoint.delete()
    endpoint_changed(tenant_id)


# --- delivering ----------------------------------------------------------------------------


def webhook_deliver(delivery_id: int) -> bool:
    """One attempt at a pending delivery (the task). True when it was delivered now."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint")
        .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
        .first()
    )
    if delivery is None:
        return False  # delivered, failed for good, or gone with its endpoint
    endpoint = delivery.endpoint
    attempt = delivery.attempts + 1
    if not endpoint.active:
        return _recorded(delivery, attempt, None, "the endpoint is switched off", final=True)
    try:
        sign = signer(unseal(endpoint.secret), delivery.message_id, legacy=False)
    except (SecretUnreadable, ValueError) as exc:
        return _recorded(delivery, attempt, None, f"the secret cannot sign: {exc}", final=True)
    if not connection.in_atomic_block:
        connection.close()  # no pooled connection waits on the receiver
    status, error = _post(endpoint.url, delivery.payload, sign)
    return _recorded(delivery, attempt, status, error, final=False)


def _post(url: str, payload: dict[str, Any], sign) -> tuple[int | None, str]:
    """One POST through the runtimes' own client (``agents.runtimes.http.post_json``: the
    address check, timeouts, no redirect, a capped body): any 2xx is delivered, whatever its
    body; ``(status, error)``, the error empty then."""
    answer = post_json(url, payload, sign=sign, policy=ONE_TRY)
    if answer.status is not None and 200 <= answer.status < 300:
        return answer.status, ""
    return answer.status, answer.error or f"HTTP {answer.status}"


def _recorded(
    delivery: WebhookDelivery, attempt: int, status: int | None, error: str, *, final: bool
) -> bool:
    """Record the attempt (only if no other worker recorded it meanwhile) and, after a failure,
    write the next one to the outbox."""
    now = timezone.now()
    done = not error
    last = final or attempt >= MAX_ATTEMPTS
    with transaction.atomic():
        moved = WebhookDelivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts
        ).update(
            attempts=attempt,
            attempted_at=now,
            response_status=status,
            last_error=error[:500],
            status=DeliveryStatus.DELIVERED
            if done
            else (DeliveryStatus.FAILED if last else DeliveryStatus.PENDING),
            delivered_at=now if done else None,
        )
        if moved and not done and not last:
            outbox_task(
                tenant_id=delivery.tenant_id,
                task=DELIVER_TASK,
                args=[delivery.pk],
                countdown=RETRY_SECONDS[min(attempt, len(RETRY_SECONDS)) - 1],
            )
    return bool(moved) and done


KEPT_DAYS = 30  # a delivery done with (delivered or failed) is kept this long
SWEEP_TASK = "webhooks.sweep_deliveries"


def deliveries_sweep(*, now: Any = None, batch: int = 1000) -> int:
    """Delete deliveries done with for more than ``KEPT_DAYS`` (their events hold customers'
    data), a batch a transaction. Returns how many went."""
    before = (now or timezone.now()) - dt.timedelta(days=KEPT_DAYS)
    gone = 0
    while True:
        with transaction.atomic():
            ids = list(
                WebhookDelivery.objects.filter(
                    created_at__lt=before,
                    status__in=(DeliveryStatus.DELIVERED, DeliveryStatus.FAILED),
                ).values_list("pk", flat=True)[:batch]
            )
            if not ids:
                return gone
            gone += WebhookDelivery.objects.filter(pk__in=ids).delete()[0]


@transaction.atomic
def delivery_send_again(delivery: WebhookDelivery) -> bool:
    """A failed delivery, pending again from its first attempt (a manager's "send again")."""
    moved = WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.FAILED).update(
        status=DeliveryStatus.PENDING, attempts=0, last_error=""
    )
    if moved:
        outbox_task(tenant_id=delivery.tenant_id, task=DELIVER_TASK, args=[delivery.pk])
    return bool(moved)


@transaction.atomic
def endpoint_test(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A ``webhook.test`` event to this endpoint alone, whatever it subscribed to."""
    return delivery_for(endpoint, TEST_EVENT, {"endpointId": endpoint.pk, "message": "It works."})
