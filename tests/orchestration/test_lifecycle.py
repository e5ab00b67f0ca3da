"""The lifecycle of SPEC 3 is a table enforced in one service."""

from __future__ import annotations

import pytest

from agents.models import Agent
from conversations.lifecycle import (
    LIFECYCLE,
    ConcurrentChange,
    conversation_transition,
)
from conversations.models import (
    Conversation,
    DecisionEvent,
    State,
)
from conversations.services import conversation_start
from core.states import InvalidTransition, StateWriteRefused
from tests.states import walk

pytestmark = pytest.mark.django_db

ALLOWED = {
    ("triaged", "active"),
    ("active", "stalled"),
    ("active", "at_risk"),
    ("active", "handing_off"),
    ("stalled", "active"),
    ("stalled", "handing_off"),
    ("at_risk", "active"),
    ("at_risk", "handing_off"),
    ("handing_off", "with_human"),
    ("with_human", "active"),
} | {(state, "resolved") for state in State.values if state != "resolved"}


def test_the_table_is_exactly_the_specs_lifecycle():
    table = {(a, b) for a, targets in LIFECYCLE.moves.items() for b in targets}
    assert table == ALLOWED


@pytest.fixture
def conversation(tenant):
    agent = Agent.objects.create(tenant=tenant, slug="a", name="A", role="specialist")
    conv, _ = conversation_start(tenant=tenant, agent=agent, channel="web", customer={"id": "c1"})
    return conv


@pytest.mark.parametrize(("start", "target"), sorted(ALLOWED))
def test_each_allowed_transition_writes_a_state_changed_event(conversation, start, target):
    walk(LIFECYCLE, conversation, start)

    event = conversation_transition(conversation=conversation, to=target, reason="test")

    conversation.refresh_from_db()
    assert conversation.state == target
    assert event.type == "state.changed"
    assert event.detail == {"v": 1, "from": start, "to": target, "reason": "test"}


@pytest.mark.parametrize(
    ("start", "target"),
    sorted({(a, b) for a in State.values for b in State.values if a != b} - ALLOWED),
)
def test_every_other_transition_is_refused_and_changes_nothing(conversation, start, target):
    walk(LIFECYCLE, conversation, start)
    before = DecisionEvent.objects.count()

    with pytest.raises(InvalidTransition):
        conversation_transition(conversation=conversation, to=target, reason="test")

    conversation.refresh_from_db()
    assert conversation.state == start
    assert DecisionEvent.objects.count() == before


def test_a_stale_copy_cannot_move_a_conversation_someone_else_moved(conversation):
    stale = Conversation.objects.get(pk=conversation.pk)
    conversation_transition(conversation=conversation, to="active", reason="first")

    with pytest.raises(ConcurrentChange):
        conversation_transition(conversation=stale, to="resolved", reason="late")

    conversation.refresh_from_db()
    assert conversation.state == "active"


def test_resolving_stamps_the_time(conversation):
    conversation_transition(conversation=conversation, to="resolved", reason="done")

    conversation.refresh_from_db()
    assert conversation.resolved_at is not None


def test_a_direct_save_of_the_state_is_refused(conversation):
    conversation.state = "resolved"

    with pytest.raises(StateWriteRefused):
        conversation.save()
    with pytest.raises(StateWriteRefused):
        conversation.save(update_fields=["state"])

    assert Conversation.objects.get(pk=conversation.pk).state == "triaged"


def test_a_save_of_other_fields_is_accepted(conversation):
    conversation.customer_name = "Kim"
    conversation.save()

    conversation.state = "resolved"  # not written: not among the fields saved
    conversation.save(update_fields=["customer_name"])

    assert Conversation.objects.get(pk=conversation.pk).state == "triaged"


def test_a_queryset_update_of_the_state_is_refused(conversation):
    with pytest.raises(StateWriteRefused):
        Conversation.objects.filter(pk=conversation.pk).update(state="resolved")
    with pytest.raises(StateWriteRefused):
        Conversation.objects.bulk_update([conversation], ["state"])

    assert Conversation.objects.get(pk=conversation.pk).state == "triaged"
