"""The state tables (core.states): every allowed move moves, every other is refused, two racing
moves never both win, and a state is never written by a direct save() or update()."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from agents.models import Agent
from approvals.models import (
    APPROVAL_STATES,
    EXECUTION_STATES,
    ActionExecution,
    ApprovalRequest,
)
from conversations.lifecycle import LIFECYCLE
from conversations.models import Conversation
from conversations.services import conversation_start
from core.states import InvalidTransition, StateTable, StateWriteRefused
from handover.models import HANDOFF_STATES, Handoff
from tests.concurrency import race
from tests.conftest import need_service
from tests.states import path, walk

_keys = itertools.count(1)


def _conversation(tenant) -> Conversation:
    agent = Agent.objects.get_or_create(
        tenant=tenant, slug="a", defaults={"name": "A", "role": "specialist"}
    )[0]
    conversation, _ = conversation_start(
        tenant=tenant, agent=agent, channel="web", customer={"id": f"c{next(_keys)}"}
    )
    return conversation


def _row(model, **fields):
    """A new row of ``model``, on a conversation of its own, in its first state (a callable
    field gives each row its own value)."""

    def make(tenant):
        values = {name: v() if callable(v) else v for name, v in fields.items()}
        return model.objects.create(tenant=tenant, conversation=_conversation(tenant), **values)

    return make


_approval = _row(
    ApprovalRequest,
    action="issue_refund",
    params={"orderId": "A-1", "amount": 150},
    idempotency_key="k-1",
    requested_by_label="agent:a",
    expires_at=timezone.now() + dt.timedelta(days=1),
)
_execution = _row(
    ActionExecution, action="issue_refund", params={}, execution_key=lambda: str(uuid.uuid4())
)
_handoff = _row(Handoff, mode="hot", status="offered")


TABLES: dict[str, tuple[StateTable, type, object]] = {
    "conversation": (LIFECYCLE, Conversation, _conversation),
    "approval": (APPROVAL_STATES, ApprovalRequest, _approval),
    "execution": (EXECUTION_STATES, ActionExecution, _execution),
    "handoff": (HANDOFF_STATES, Handoff, _handoff),
}
# where a new row starts
FIRST = {
    "conversation": "triaged",
    "approval": "pending",
    "execution": "queued",
    "handoff": "offered",
}


def _pairs(allowed: bool) -> list[tuple[str, str, str]]:
    found = []
    for name, (table, _model, _make) in TABLES.items():
        for start, target in itertools.product(table.moves, repeat=2):
            reachable = start == FIRST[name] or path(table, FIRST[name], start)
            if reachable and table.can(start, target) == allowed:
                found.append((name, start, target))
    return found


def _row_in(tenant, name: str, start: str):
    """The table, the model, and a new row of it moved to ``start`` as the table allows."""
    table, model, make = TABLES[name]
    row = make(tenant)
    walk(table, row, start)
    return table, model, row


def _state(row) -> str:
    return type(row).objects.filter(pk=row.pk).values_list(row.state_field, flat=True).get()


def test_the_tables_name_every_state_of_their_field():
    for table, model, _make in TABLES.values():
        field = model._meta.get_field(model.state_field)
        assert set(table.moves) == {value for value, _label in field.choices}


def test_the_handoff_table_is_the_specs():
    moves = {(a, b) for a, targets in HANDOFF_STATES.moves.items() for b in targets}
    assert moves == {
        ("offered", "queued"),  # unclaimed in time, or undeliverable: it becomes cold
        ("offered", "claimed"),
        ("queued", "claimed"),
        ("claimed", "resolved"),
        ("offered", "expired"),  # its conversation closed before anyone claimed it
        ("queued", "expired"),
    }


def test_the_approval_table_is_the_specs():
    moves = {(a, b) for a, targets in APPROVAL_STATES.moves.items() for b in targets}
    assert moves == {
        ("pending", "approved"),
        ("pending", "denied"),
        ("pending", "expired"),
        ("approved", "executed"),
        ("approved", "failed"),
    }


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "start", "target"), _pairs(allowed=True))
def test_every_allowed_transition_moves_the_row(tenant, name, start, target):
    table, model, row = _row_in(tenant, name, start)

    assert table.transition(row, to=target, from_=start) == 1

    assert _state(row) == target
    assert getattr(row, model.state_field) == target
    row.save()  # the row knows its new state: saving its other fields is fine


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "start", "target"), _pairs(allowed=False))
def test_every_other_transition_is_refused_and_changes_nothing(tenant, name, start, target):
    table, _model, row = _row_in(tenant, name, start)

    with pytest.raises(InvalidTransition):
        table.transition(row, to=target, from_=start)
    if table.sources(target):  # without from_: the row is not in a state that may move there
        assert table.transition(row, to=target) == 0

    assert _state(row) == start


@pytest.mark.django_db
def test_a_move_into_a_state_nothing_leads_to_is_refused(tenant):
    approval = _approval(tenant)

    with pytest.raises(InvalidTransition, match="cannot go from any state to pending"):
        APPROVAL_STATES.transition(approval, to="pending")


@pytest.fixture(params=sorted(TABLES))
def fresh(request, tenant):
    """A new row of each table's model, its state, and a state the table lets it move to."""
    table, model, make = TABLES[request.param]
    row = make(tenant)
    first = getattr(row, model.state_field)
    return model, row, first, sorted(table.moves[first])[0]


@pytest.mark.django_db
def test_a_direct_save_of_the_state_is_refused(fresh):
    model, row, first, target = fresh
    setattr(row, model.state_field, target)

    with pytest.raises(StateWriteRefused, match="transition"):
        row.save()
    with pytest.raises(StateWriteRefused):
        row.save(update_fields=[model.state_field])
    loaded = model.objects.get(pk=row.pk)
    setattr(loaded, model.state_field, target)
    with pytest.raises(StateWriteRefused):
        loaded.save()

    assert _state(row) == first


@pytest.mark.django_db
def test_a_queryset_update_of_the_state_is_refused(tenant, fresh):
    model, row, first, target = fresh

    with pytest.raises(StateWriteRefused, match="transition"):
        model.objects.filter(pk=row.pk).update(**{model.state_field: target})
    with pytest.raises(StateWriteRefused):
        model.objects.bulk_update([row], [model.state_field])

    assert _state(row) == first
    model.objects.filter(pk=row.pk).update(tenant=tenant)  # other fields: fine


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "start", "targets"),
    [
        ("conversation", "active", ("stalled", "handing_off")),
        ("approval", "pending", ("approved", "expired")),
        ("execution", "running", ("succeeded", "failed")),
        ("handoff", "offered", ("claimed", "queued")),
    ],
)
def test_two_racing_transitions_exactly_one_wins_on_postgresql(tenant, name, start, targets):
    if connection.vendor != "postgresql":
        need_service("PostgreSQL: set DATABASE_URL")
    table, model, _make = TABLES[name]
    for _ in range(5):  # a few rounds: the threads meet at the row in both orders
        row = _row_in(tenant, name, start)[2]

        moved = race(
            2,
            lambda i, row=row: table.transition(
                model.objects.filter(pk=row.pk), to=targets[i], from_=start
            ),
        )

        assert sorted(moved) == [0, 1], moved
        assert _state(row) == targets[moved.index(1)]
