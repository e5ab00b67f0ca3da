"""Metric alerts: a threshold on the escalation rate or on unclaimed handoffs e-mails the
tenant's managers, at most once per window, never another tenant's."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent
from insight.alerts import (
    alert_notify,
    alerts_sweep,
)
from insight.models import MetricAlert
from tests.factories import make_person
from tests.insight.support import conversation, event, handoff

pytestmark = pytest.mark.django_db


@pytest.fixture
def managers(tenant, other_tenant):
    make_person(tenant=tenant, roles=["manager"], username="maria", email="maria@acme.test")
    make_person(tenant=tenant, roles=["manager", "approver"], username="li", email="li@acme.test")
    make_person(tenant=tenant, roles=["manager"], username="nomail")
    gone = make_person(tenant=tenant, roles=["manager"], username="gone", email="gone@acme.test")
    gone.is_active = False
    gone.save()
    make_person(tenant=tenant, roles=["agent"], username="ada", email="ada@acme.test")
    make_person(tenant=other_tenant, roles=["manager"], username="otto", email="otto@globex.test")


@pytest.fixture
def escalating(team):
    """In the last hour: two conversations, one of them escalated (rate 0.5)."""
    now = timezone.now()
    sup = team[0]
    first = conversation(sup, when=now - dt.timedelta(minutes=30))
    event(first, "escalated", when=now - dt.timedelta(minutes=29), agent="agent-sup")
    conversation(sup, when=now - dt.timedelta(minutes=20))
    return now


def sweep(django_capture_on_commit_callbacks, **kwargs) -> int:
    with django_capture_on_commit_callbacks(execute=True):
        return alerts_sweep(**kwargs)


def test_a_reached_threshold_emails_the_tenants_managers_once_per_window(
    tenant, managers, escalating, django_capture_on_commit_callbacks
):
    alert = MetricAlert.objects.create(
        tenant=tenant, metric="escalationRate", threshold=0.5, window_minutes=60
    )
    now = escalating

    assert sweep(django_capture_on_commit_callbacks, now=now) == 1
    assert sorted(m.to[0] for m in mail.outbox) == ["li@acme.test", "maria@acme.test"]
    assert all(len(m.to) == 1 for m in mail.outbox)  # managers do not see each other
    assert mail.outbox[0].subject == (
        "[Acme] Escalation rate 50% over the last 60 minutes reached the alert threshold of 50%"
    )
    alert.refresh_from_db()
    assert (alert.last_sent_at, alert.last_value) == (now, 0.5)

    # the same window: no second e-mail, however many sweeps
    for minutes in (1, 30, 59):
        assert (
            sweep(django_capture_on_commit_callbacks, now=now + dt.timedelta(minutes=minutes)) == 0
        )
    assert len(mail.outbox) == 2


def test_the_next_window_may_send_again(tenant, team, managers, django_capture_on_commit_callbacks):
    conv = conversation(team[0], when=timezone.now())
    handoff(conv, when=timezone.now())
    MetricAlert.objects.create(
        tenant=tenant, metric="unclaimedHandoffs", threshold=1, window_minutes=15
    )
    now = timezone.now()

    assert sweep(django_capture_on_commit_callbacks, now=now) == 1
    assert sweep(django_capture_on_commit_callbacks, now=now + dt.timedelta(minutes=14)) == 0
    assert sweep(django_capture_on_commit_callbacks, now=now + dt.timedelta(minutes=15)) == 1
    assert len(mail.outbox) == 4
    assert mail.outbox[0].subject == ("[Acme] 1 handoffs are waiting unclaimed (alert threshold 1)")


def test_the_alert_links_to_the_dashboard_on_the_site(
    tenant, managers, escalating, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://support.example.com"
    MetricAlert.objects.create(
        tenant=tenant, metric="escalationRate", threshold=0.5, window_minutes=60
    )

    sweep(django_capture_on_commit_callbacks, now=escalating)

    dashboard = reverse("admin:insight_dashboard")
    assert f"Dashboard: https://support.example.com{dashboard}\n" in mail.outbox[0].body


def test_two_sweeps_at_once_send_once(
    tenant, managers, escalating, django_capture_on_commit_callbacks
):
    alert = MetricAlert.objects.create(
        tenant=tenant, metric="escalationRate", threshold=0.25, window_minutes=60
    )
    # both sweeps read the alert before either claimed its window
    first, second = MetricAlert.objects.get(pk=alert.pk), MetricAlert.objects.get(pk=alert.pk)
    now = escalating

    with django_capture_on_commit_callbacks(execute=True):
        sent = [
            alert_notify(alert=first, value=0.5, now=now),
            alert_notify(alert=second, value=0.5, now=now + dt.timedelta(seconds=1)),
        ]

    assert sent == [True, False]
    assert len(mail.outbox) == 2


def test_below_the_threshold_or_inactive_nothing_is_sent(
    tenant, managers, escalating, django_capture_on_commit_callbacks
):
    MetricAlert.objects.create(tenant=tenant, metric="escalationRate", threshold=0.6)
    MetricAlert.objects.create(
        tenant=tenant, metric="escalationRate", threshold=0.1, is_active=False
    )
    MetricAlert.objects.create(tenant=tenant, metric="unclaimedHandoffs", threshold=1)

    assert sweep(django_capture_on_commit_callbacks, now=escalating) == 0
    assert mail.outbox == []


def test_another_tenants_escalations_and_managers_stay_apart(
    tenant, other_tenant, managers, escalating, django_capture_on_commit_callbacks
):
    other_sup = Agent.objects.create(
        tenant=other_tenant, slug="agent-o", name="O", role="supervisor"
    )
    calm = conversation(other_sup, when=escalating - dt.timedelta(minutes=5))
    assert calm.tenant_id == other_tenant.pk
    MetricAlert.objects.create(tenant=other_tenant, metric="escalationRate", threshold=0.1)
    MetricAlert.objects.create(tenant=tenant, metric="escalationRate", threshold=0.5)

    assert sweep(django_capture_on_commit_callbacks, now=escalating) == 1
    assert "otto@globex.test" not in {m.to[0] for m in mail.outbox}
    assert all(m.subject.startswith("[Acme]") for m in mail.outbox)


def test_managers_keep_alerts_in_the_admin_with_checks(manager_client, tenant, other_tenant):
    MetricAlert.objects.create(tenant=other_tenant, metric="escalationRate", threshold=0.2)
    add = reverse("admin:insight_metricalert_add")

    bad = manager_client.post(
        add, {"metric": "escalationRate", "threshold": 25, "window_minutes": 60, "is_active": "on"}
    )
    good = manager_client.post(
        add,
        {"metric": "escalationRate", "threshold": 0.25, "window_minutes": 60, "is_active": "on"},
    )

    assert bad.status_code == 200
    assert bad.context["adminform"].form.errors["threshold"] == [
        "An escalation rate runs from 0 to 1 (0.25 is 25%)."
    ]
    assert good.status_code == 302
    assert MetricAlert.objects.get(threshold=0.25).tenant == tenant
    listing = manager_client.get(reverse("admin:insight_metricalert_changelist"))
    assert listing.context["cl"].result_count == 1
