"""Snooze (handover/snooze.py): the holder puts a conversation aside until a time or the
customer's next message; only the holder; bad times refused naming ``until``; the customer's
message ends it; the time passing ends it with nothing to wake; the API's door and its roles."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from core.errors import Invalid
from core.events import tenant_inbox_group
from handover.models import Handoff
from handover.selectors import handoff_json
from handover.services import NotTheClaimer, handoff_claim
from handover.snooze import handoff_snooze
from orchestration.turns import conversation_receive_message
from tests.handover.test_agent_tools import Listener, as_person, handed_over

pytestmark = pytest.mark.django_db


def later(**delta) -> str:
    return (timezone.now() + dt.timedelta(**delta)).isoformat()


@pytest.fixture
def held(key_client, team, online, ada):
    handoff = handed_over(key_client)
    handoff_claim(handoff=handoff, user=ada)
    return Handoff.objects.get(pk=handoff.pk)


def test_the_holder_snoozes_until_a_time_and_the_inboxes_hear_of_it(
    held, ada, django_capture_on_commit_callbacks
):
    inbox = Listener(tenant_inbox_group(held.tenant_id))

    with django_capture_on_commit_callbacks(execute=True):
        snoozed = handoff_snooze(handoff=held, user=ada, until=later(hours=2))

    shown = handoff_json(snoozed)["snoozedUntil"]
    assert shown is not None and abs(shown - timezone.now() - dt.timedelta(hours=2)) < dt.timedelta(
        minutes=1
    )
    (told,) = [e for e in inbox.events() if e["type"] == "handoff.snoozed"]
    assert (told["handoffId"], told["conversationId"]) == (held.pk, str(held.conversation_id))
    assert told["snoozedUntil"] and "woke" not in told

    woken = handoff_snooze(handoff=held, user=ada, until=None)
    assert woken.snoozed_until is None and handoff_json(woken)["snoozedUntil"] is None


def test_only_the_holder_snoozes(held, bob, key_client, ada):
    with pytest.raises(NotTheClaimer):
        handoff_snooze(handoff=held, user=bob, until=later(hours=1))
    waiting = handed_over(key_client, customer="c-2")
    with pytest.raises(NotTheClaimer):  # nobody holds it yet
        handoff_snooze(handoff=waiting, user=ada, until=later(hours=1))
    assert Handoff.objects.get(pk=held.pk).snoozed_until is None


@pytest.mark.parametrize(
    "until",
    [
        "tomorrow",
        5,
        ["2030-01-01"],
        "2000-01-01T00:00:00Z",  # past
        "9999-12-31T23:59:59Z",  # the calendar's edge
        "0001-01-01",
        "2025-02-30T09:00",
        "in 31 days",
    ],
)
def test_a_bad_time_is_refused_naming_until(held, ada, until):
    with pytest.raises(Invalid) as refused:
        handoff_snooze(handoff=held, user=ada, until=until)
    assert list(refused.value.fields) == ["until"]


def test_more_than_thirty_days_is_refused(held, ada):
    with pytest.raises(Invalid) as refused:
        handoff_snooze(handoff=held, user=ada, until=later(days=30, minutes=5))
    assert refused.value.fields["until"] == ["must be within 30 days"]


def test_the_customer_writing_ends_the_snooze_and_the_time_passing_too(
    held, ada, django_capture_on_commit_callbacks
):
    handoff_snooze(handoff=held, user=ada, until=later(days=3))
    inbox = Listener(tenant_inbox_group(held.tenant_id))

    with django_capture_on_commit_callbacks(execute=True):
        conversation_receive_message(conversation=held.conversation, text="Any news?")

    assert Handoff.objects.get(pk=held.pk).snoozed_until is None
    (told,) = [e for e in inbox.events() if e["type"] == "handoff.snoozed"]
    assert told == {
        "type": "handoff.snoozed",
        "handoffId": None,
        "conversationId": str(held.conversation_id),
        "snoozedUntil": None,
        "woke": "customer",
    }

    handoff_snooze(handoff=held, user=ada, until=later(minutes=10))
    again = Handoff.objects.get(pk=held.pk)
    assert (
        handoff_json(again, now=timezone.now() + dt.timedelta(minutes=11))["snoozedUntil"] is None
    )


def test_the_api_snoozes_for_the_holder_only(held, ada, bob, key_client):
    url = f"/api/v1/handoffs/{held.pk}/snooze"

    snoozed = as_person(ada).post(url, {"until": later(hours=3)}, format="json")
    assert snoozed.status_code == 200, snoozed.json()
    assert snoozed.json()["snoozedUntil"] is not None
    assert as_person(bob).post(url, {"until": later(hours=1)}, format="json").status_code == 409
    assert key_client.post(url, {"until": later(hours=1)}, format="json").status_code == 403
    for body in ({}, {"until": "soon"}, [1]):
        refused = as_person(ada).post(url, body, format="json")
        assert refused.status_code == 400, body
        assert list(refused.json()["error"]["fields"]) == ["until"], body
    woken = as_person(ada).post(url, {"until": None}, format="json")
    assert woken.status_code == 200 and woken.json()["snoozedUntil"] is None


def test_a_transfer_ends_the_givers_snooze(held, ada, bob):
    from handover.services import conversation_transfer

    handoff_snooze(handoff=held, user=ada, until=later(days=1))

    conversation_transfer(conversation=held.conversation, user=ada, to_username="bob")

    passed = Handoff.objects.get(pk=held.pk)
    assert (passed.claimed_by, passed.snoozed_until) == (bob, None)
