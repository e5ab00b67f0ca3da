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
before recording it sends it again with the same ``webhook-id``, which receivers drop.

An endpoint keeps its health: when its attempts began to fail (``failing_since``) and how many
have since (``failures``), both cleared by a delivered one. One every attempt to which has
failed for ``WEBHOOK_DISABLE_AFTER_HOURS`` (5 days, as Svix and Stripe do; and at least a whole
delivery's attempts) is switched off by itself in the attempt's own transaction (a conditional
UPDATE: one of two workers does it), and its tenant's managers are mailed once
(``endpoint_disabled_mail``, the task ``webhooks.disabled_mail``, no transaction open while the
mail server is called). A manager switches it on again; its failed deliveries can be sent
again then."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import URLValidator
from django.db import connection, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone

from agents.runtimes.addresses import saved_url_problem
from agents.runtimes.http import HttpPolicy, post_json
from agents.runtimes.signing import signer
from core.errors import Invalid
from core.json_input import text_problem
from core.links import absolute_reverse
from core.models import DeliveryStatus, Membership, WebhookDelivery, WebhookEndpoint
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
DISABLED_MAIL_TASK = "webhooks.disabled_mail"


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
    changed = {**fields, "active": active}
    # read as stored (the admin's form has set the instance's fields already)
    stored = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if (active and not stored.active) or fields["url"] != stored.url:
        # switched on again, or pointed elsewhere: its health starts afresh
        changed.update(failing_since=None, failures=0, disabled_at=None, disabled_mailed_at=None)
    for name, value in changed.items():
        setattr(endpoint, name, value)
    endpoint.save(update_fields=list(changed))
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
        if moved and not final:  # a POST was made: the endpoint's health follows it
            _health(delivery.endpoint, failed=not done, now=now)
    return bool(moved) and done


def _health(endpoint: WebhookEndpoint, *, failed: bool, now: dt.datetime) -> None:
    """Inside the attempt's transaction: a delivered attempt clears the endpoint's failing (no
    statement when it had none); a failed one counts, and switches the endpoint off once every
    attempt has failed for ``WEBHOOK_DISABLE_AFTER_HOURS``."""
    rows = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    if not failed:
        if endpoint.failures:
            rows.filter(failures__gt=0).update(failures=0, failing_since=None)
        return
    rows.update(
        failures=F("failures") + 1,
        failing_since=Coalesce(F("failing_since"), Value(now, models.DateTimeField())),
    )
    since = now - dt.timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_HOURS)
    if rows.filter(active=True, failing_since__lte=since, failures__gte=MAX_ATTEMPTS).update(
        active=False, disabled_at=now
    ):
        endpoint_changed(endpoint.tenant_id)
        outbox_task(tenant_id=endpoint.tenant_id, task=DISABLED_MAIL_TASK, args=[endpoint.pk])


def endpoint_disabled_mail(endpoint_id: int) -> int:
    """Tell the tenant's managers (those with an address) that the endpoint was switched off
    by itself; returns how many were mailed. Once: taken by a conditional UPDATE before the mail
    server is called (no transaction open), given back when the send fails so the task's retry
    sends it."""
    now = timezone.now()
    mine = WebhookEndpoint.objects.filter(
        pk=endpoint_id, active=False, disabled_at__isnull=False, disabled_mailed_at__isnull=True
    )
    endpoint = mine.select_related("tenant").first()
    if endpoint is None or not mine.update(disabled_mailed_at=now):
        return 0
    recipients = sorted(
        set(
            Membership.objects.filter(
                tenant_id=endpoint.tenant_id, is_manager=True, user__is_active=True
            )
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )
    if not recipients:
        return 0
    last = (
        WebhookDelivery.objects.filter(endpoint_id=endpoint_id)
        .exclude(last_error="")
        .order_by("-attempted_at")
        .values_list("last_error", flat=True)
        .first()
    )
    context = {
        "endpoint": endpoint,
        "tenant": endpoint.tenant,
        "error": last or "",
        "url": absolute_reverse("admin:core_webhookendpoint_change", endpoint.pk),
    }
    subject = render_to_string("orchestration/email/webhook_disabled_subject.txt", context)
    body = render_to_string("orchestration/email/webhook_disabled_body.txt", context)
    try:
        send_mail(" ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        WebhookEndpoint.objects.filter(pk=endpoint_id, disabled_mailed_at=now).update(
            disabled_mailed_at=None
        )
        raise
    return len(recipients)


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
