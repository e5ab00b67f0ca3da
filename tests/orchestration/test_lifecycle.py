"""The lifecycle of SPEC 3 is a table enforced in one service."""

from __future__ import annotations

import pytest

from agents.models import Agent
from conversations.lifecycle import (
    TRANSITIONS,
    ConcurrentChange,
    InvalidTransition,
    conversation_transition,
)
from conversations.models import (
    Conversation,
    DecisionEvent,
    State,
)
from conversations.services import conversation_start

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
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.fixture
def conversation(tenant):
    agent = Agent.objects.create(tenant=tenant, slug="a", name="A", role="specialist")
    conv, _ = conversation_start(tenant=tenant, agent=agent, channel="web", customer={"id": "c1"})
    return conv


@pytest.mark.parametrize(("start", "target"), sorted(ALLOWED))
def test_each_allowed_transition_writes_a_state_changed_event(conversation, start, target):
    Conversation.objects.filter(pk=conversation.pk).update(state=start)
    conversation.refresh_from_db()

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
    Conversation.objects.filter(pk=conversation.pk).update(state=start)
    conversation.refresh_from_db()
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
