"""Metric alerts (issue 7): a manager sets a threshold on the escalation rate (over a window)
or on the handoffs waiting unclaimed; a periodic sweep e-mails the tenant's managers when the
value reaches it, at most once per window.

"At most once" is a conditional UPDATE on ``last_sent_at`` (only a row whose last e-mail is
older than its window is claimed); the e-mail leaves only after the claim commits, so two
sweeps running at once never both send.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.links import absolute_reverse
from core.models import Membership
from insight.metrics.selectors import (
    conversation_rates,
    unclaimed_handoffs,
    window_ending,
)
from insight.models import (
    AlertMetric,
    MetricAlert,
)

log = logging.getLogger(__name__)

TASK_NAME = "orchestration.sweep_alerts"


def alert_value(alert: MetricAlert, *, now: dt.datetime) -> float:
    """The alert's metric now: the escalation rate of the conversations started in the last
    ``window_minutes`` (0 when there were none), or the handoffs waiting unclaimed."""
    if alert.metric == AlertMetric.ESCALATION_RATE:
        window = window_ending(alert.tenant, minutes=alert.window_minutes, now=now)
        return conversation_rates(window)["escalationRate"] or 0.0
    return float(unclaimed_handoffs(alert.tenant))


def manager_emails(tenant_id: int) -> list[str]:
    return sorted(
        set(
            Membership.objects.filter(tenant_id=tenant_id, is_manager=True, user__is_active=True)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )


def _describe(alert: MetricAlert, value: float) -> str:
    if alert.metric == AlertMetric.ESCALATION_RATE:
        return (
            f"Escalation rate {value:.0%} over the last {alert.window_minutes} minutes reached "
            f"the alert threshold of {alert.threshold:.0%}"
        )
    return f"{value:g} handoffs are waiting unclaimed (alert threshold {alert.threshold:g})"


def _dashboard_url() -> str:
    return absolute_reverse("admin:insight_dashboard", fallback="/admin/")


def alert_notify(*, alert: MetricAlert, value: float, now: dt.datetime) -> bool:
    """Claim the alert's window and e-mail the tenant's managers after commit. False when
    another sweep (or an earlier run) already sent in this window."""
    window = dt.timedelta(minutes=alert.window_minutes)
    with transaction.atomic():
        claimed = (
            MetricAlert.objects.filter(pk=alert.pk, is_active=True)
            .filter(Q(last_sent_at__isnull=True) | Q(last_sent_at__lte=now - window))
            .update(last_sent_at=now, last_value=value)
        )
        if not claimed:
            return False
        recipients = manager_emails(alert.tenant_id)
        tenant = alert.tenant
        what = _describe(alert, value)
        subject = f"[{tenant.name}] {what}"
        body = (
            f"{what}.\n\n"
            f"Tenant: {tenant.name}\n"
            f"Checked at: {timezone.localtime(now, tenant.tzinfo):%Y-%m-%d %H:%M %Z}\n"
            f"Dashboard: {_dashboard_url()}\n\n"
            f"You get at most one such e-mail every {alert.window_minutes} minutes. Change or "
            f"switch off the alert in the admin, under Metric alerts.\n"
        )
        messages = [(subject, body, settings.DEFAULT_FROM_EMAIL, [to]) for to in recipients]

        def send() -> None:
            try:
                send_mass_mail(messages, fail_silently=False)
            except Exception:  # the window is spent either way: never twice, at worst never
                log.exception("could not e-mail the alert %s", alert.pk)

        if messages:
            transaction.on_commit(send)
    return True


def alerts_sweep(*, now: dt.datetime | None = None) -> int:
    """Check every active alert that may send now; returns how many alerts sent e-mail."""
    now = now or timezone.now()
    sent = 0
    candidates = MetricAlert.objects.filter(is_active=True).select_related("tenant")
    for alert in candidates.order_by("pk"):
        window = dt.timedelta(minutes=alert.window_minutes)
        if alert.last_sent_at is not None and alert.last_sent_at > now - window:
            continue  # sent within its window: nothing to check
        value = alert_value(alert, now=now)
        if value >= alert.threshold and alert_notify(alert=alert, value=value, now=now):
            sent += 1
    return sent
