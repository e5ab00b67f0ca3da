"""The silence sweep: batched, judged by each conversation's own settings, safe to overlap."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from agents.models import Agent
from agents.orchestrator_settings import settings_update
from conversations.lifecycle import conversation_transition
from conversations.models import (
    Conversation,
    DecisionEvent,
)
from conversations.services import conversation_start
from orchestration.silence import silence_sweep
from orchestration.tasks import sweep_silence
from tests.factories import make_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(tenant):
    return Agent.objects.create(tenant=tenant, slug="a", name="A", role="specialist")


def open_conversation(tenant, agent, *, quiet_for: dt.timedelta, last_role="agent"):
    conv, _ = conversation_start(tenant=tenant, agent=agent, channel="web", customer={"id": "c"})
    conversation_transition(conversation=conv, to="active", reason="test")
    make_message(conv, role=last_role, text="...")
    Conversation.objects.filter(pk=conv.pk).update(last_activity_at=timezone.now() - quiet_for)
    return conv


def test_a_conversation_silent_past_its_threshold_is_stalled(tenant, agent):
    # defaults: checkInterval 60 s x stallThreshold 3 = 3 minutes
    quiet = open_conversation(tenant, agent, quiet_for=dt.timedelta(minutes=4))
    recent = open_conversation(tenant, agent, quiet_for=dt.timedelta(minutes=1))

    assert silence_sweep() == 1

    quiet.refresh_from_db()
    recent.refresh_from_db()
    assert quiet.state == "stalled"
    assert recent.state == "active"
    event = DecisionEvent.objects.get(conversation=quiet, type="stall.detected")
    assert event.detail["reason"] == "silence"
    assert event.detail["silentSeconds"] >= 240


def test_a_waiting_customer_is_handed_to_people(tenant, agent):
    waiting = open_conversation(
        tenant, agent, quiet_for=dt.timedelta(minutes=10), last_role="customer"
    )

    silence_sweep()

    waiting.refresh_from_db()
    assert waiting.state == "handing_off"


def test_each_tenant_is_judged_by_its_own_settings(tenant, other_tenant, agent):
    settings_update(level="tenant", tenant=other_tenant, changes={"checkInterval": 600})
    theirs = Agent.objects.create(tenant=other_tenant, slug="b", name="B", role="specialist")
    mine = open_conversation(tenant, agent, quiet_for=dt.timedelta(minutes=5))
    patient = open_conversation(other_tenant, theirs, quiet_for=dt.timedelta(minutes=5))

    silence_sweep()

    mine.refresh_from_db()
    patient.refresh_from_db()
    assert (mine.state, patient.state) == ("stalled", "active")


def test_the_sweep_works_in_batches_and_a_second_run_changes_nothing(tenant, agent):
    for _ in range(7):
        open_conversation(tenant, agent, quiet_for=dt.timedelta(hours=1))

    assert silence_sweep(batch_size=3) == 7
    assert silence_sweep(batch_size=3) == 0
    assert DecisionEvent.objects.filter(type="stall.detected").count() == 7


def test_a_stale_copy_from_an_overlapping_sweep_is_skipped(tenant, agent):
    from orchestration.silence import _stall_silent

    conv = open_conversation(tenant, agent, quiet_for=dt.timedelta(hours=1))
    stale = Conversation.objects.select_related("current_agent").get(pk=conv.pk)
    silence_sweep()

    assert _stall_silent(stale, timezone.now()) == 0
    assert DecisionEvent.objects.filter(conversation=conv, type="stall.detected").count() == 1


def test_the_task_runs_the_sweep(tenant, agent):
    open_conversation(tenant, agent, quiet_for=dt.timedelta(hours=1))

    assert sweep_silence.apply().get() == 1


def test_the_customer_writing_again_reactivates_a_stalled_conversation(key_client, tenant, agent):
    conv = open_conversation(tenant, agent, quiet_for=dt.timedelta(hours=1))
    silence_sweep()

    response = key_client.post(
        f"/api/v1/conversations/{conv.pk}/messages", {"text": "sorry, I'm back"}, format="json"
    )

    assert response.json()["state"] == "active"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_stall_each_conversation_once_on_postgresql(tenant, agent):
    import threading

    from django.db import connection, connections

    from tests.conftest import need_service

    if connection.vendor != "postgresql":
        need_service("PostgreSQL: set DATABASE_URL")
    for _ in range(40):
        open_conversation(tenant, agent, quiet_for=dt.timedelta(hours=1))
    results: list[int] = []
    barrier = threading.Barrier(2)

    def sweep():
        try:
            barrier.wait()
            results.append(silence_sweep(batch_size=5))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(results) == 40
    assert DecisionEvent.objects.filter(type="stall.detected").count() == 40
