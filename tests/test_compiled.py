"""Queries compiled once and run with new values (core/compiled.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError
from django.db.models import F
from django.db.models.signals import post_save
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

from agents.models import Agent
from conversations.models import Conversation, DecisionEvent, Message
from conversations.services import conversation_start
from core.compiled import (
    DATETIME_MARK,
    INT_MARK,
    Compiled,
    CompiledInsert,
    CompiledSave,
    CompiledUpdate,
    Marker,
)
from core.models import Tenant
from core.permissions import access_of
from tests.factories import make_person

pytestmark = pytest.mark.django_db

_STARTED = Conversation._meta.get_field("created_at")
BY_TENANT_SINCE = Compiled(
    lambda tenant, since, state: (
        Conversation.objects.annotate(owner=F("tenant_id") + 0)
        .filter(owner=tenant, created_at__gte=since)
        .exclude(state=state)
        .order_by("created_at")
        .values_list("customer_ref", flat=True)
    ),
    tenant=Marker(-424242),
    since=Marker(dt.datetime(1901, 1, 1, tzinfo=dt.UTC), _STARTED),
    state=Marker("~state~"),
)


def _rows(**values) -> list[str]:
    from django.db import connection

    sql, params = BY_TENANT_SINCE.sql(**values)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def test_each_run_gets_its_own_values_and_the_same_rows_as_the_orm(tenant):
    other = Tenant.objects.create(name="Other", slug="other")
    for owner, ref in ((tenant, "a1"), (tenant, "a2"), (other, "b1")):
        agent, _ = Agent.objects.get_or_create(
            tenant=owner, slug="a", defaults={"name": "A", "role": "specialist"}
        )
        conversation_start(tenant=owner, agent=agent, channel="web", customer={"id": ref})
    long_ago = timezone.now() - dt.timedelta(days=1)
    later = timezone.now() + dt.timedelta(days=1)
    started = Conversation.objects.values_list("state", flat=True).first()

    for owner, since, state, expected in (
        (tenant, long_ago, "resolved", ["a1", "a2"]),
        (other, long_ago, "resolved", ["b1"]),
        (tenant, later, "resolved", []),
        (tenant, long_ago, started, []),
    ):
        orm = list(
            Conversation.objects.filter(tenant=owner, created_at__gte=since)
            .exclude(state=state)
            .order_by("created_at")
            .values_list("customer_ref", flat=True)
        )
        assert _rows(tenant=owner.pk, since=since, state=state) == orm == expected


def test_a_query_is_compiled_once_then_only_filled_in(tenant, monkeypatch):
    person = make_person(tenant=tenant, roles=["agent"], username="ada")
    access_of(person.pk, "some-session")  # both compiled here, if no test did before
    access_of(person.pk, None)
    compiled: list[object] = []
    as_sql = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        compiled.append(self.query.model)
        return as_sql(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    for _ in range(3):
        assert access_of(person.pk, "some-session").close_code == 4401  # no such session
        assert access_of(person.pk, None).hats == {"person", "agent"}

    assert compiled == []


def test_a_marker_that_is_not_in_the_query_is_refused_when_it_is_compiled():
    wrong = Compiled(
        lambda tenant: Conversation.objects.filter(tenant_id=7),  # the marker left out
        tenant=Marker(-424242),
    )
    with pytest.raises(ValueError, match="'tenant' is not among"):
        wrong.sql(tenant=1)


def test_two_markers_with_one_value_are_refused_when_compiled():
    both = Compiled(
        lambda tenant, other: Conversation.objects.filter(tenant_id=tenant, current_agent_id=other),
        tenant=Marker(-424242),
        other=Marker(-424242),
    )
    with pytest.raises(ValueError, match="the same value"):
        both.sql(tenant=1, other=2)


def _started(tenant, ref="c"):
    agent, _ = Agent.objects.get_or_create(
        tenant=tenant, slug="a", defaults={"name": "A", "role": "specialist"}
    )
    return conversation_start(tenant=tenant, agent=agent, channel="web", customer={"id": ref})[0]


def test_a_compiled_save_writes_its_fields_and_moves_auto_now_and_nothing_else(tenant):
    conversation = _started(tenant)
    save = CompiledSave(Conversation, ["turns", "workflow_state", "updated_at"])
    before = Conversation.objects.get(pk=conversation.pk)
    conversation.turns, conversation.workflow_state = 7, {"step": 2, "notes": ["é", None]}
    conversation.customer_ref = "not saved"  # not one of its fields

    save.save(conversation)

    after = Conversation.objects.get(pk=conversation.pk)
    assert (after.turns, after.workflow_state) == (7, {"step": 2, "notes": ["é", None]})
    assert after.customer_ref == before.customer_ref
    assert after.updated_at > before.updated_at


def test_a_compiled_save_of_a_row_gone_raises_as_django_does(tenant):
    conversation = _started(tenant)
    Conversation.objects.filter(pk=conversation.pk).delete()
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        CompiledSave(Conversation, ["turns"]).save(conversation)


def test_a_compiled_save_goes_through_django_when_a_receiver_listens(tenant):
    conversation = _started(tenant)
    heard: list[list[str]] = []

    def saved(sender, instance, update_fields, **kwargs):
        heard.append(sorted(update_fields))

    post_save.connect(saved, sender=Conversation)
    try:
        conversation.turns = 3
        CompiledSave(Conversation, ["turns"]).save(conversation)
    finally:
        post_save.disconnect(saved, sender=Conversation)
    assert heard == [["turns"]]
    assert Conversation.objects.get(pk=conversation.pk).turns == 3


def test_a_compiled_save_never_writes_a_state():
    with pytest.raises(ValueError, match="transition"):
        CompiledSave(Conversation, ["state", "turns"])


def test_a_compiled_insert_writes_each_row_and_gives_each_object_its_id(tenant):
    conversation = _started(tenant)
    events = [
        DecisionEvent(
            tenant_id=tenant.pk,
            conversation=conversation,
            type="agent.routed",
            detail={"to": f"agent-{i}", "why": ["é", None, 1.5]},
            duration_ms=i / 3,
            rule="" if i else "intent == 'billing'",
        )
        for i in range(3)
    ]

    CompiledInsert(DecisionEvent).insert(events)

    assert all(event.pk for event in events) and len({event.pk for event in events}) == 3
    for event in events:
        stored = DecisionEvent.objects.get(pk=event.pk)
        assert (stored.detail, stored.duration_ms, stored.rule, stored.conversation_id) == (
            event.detail,
            event.duration_ms,
            event.rule,
            conversation.pk,
        )
        assert stored.created_at == event.created_at is not None
        assert not event._state.adding


def test_a_compiled_create_stores_what_the_orm_would(tenant):
    conversation = _started(tenant)
    fields = {
        "tenant_id": tenant.pk,
        "conversation_id": conversation.pk,
        "role": "customer",
        "text": "Refund 😀 please\n",
        "sentiment": -0.25,
        "risk": ["refund"],
    }
    by_orm = Message.objects.create(**fields)
    compiled = CompiledInsert(Message).create(**fields)

    def stored(message):
        row = Message.objects.values().get(pk=message.pk)
        return {k: v for k, v in row.items() if k not in ("id", "created_at")}

    assert compiled.pk == by_orm.pk + 1
    assert stored(compiled) == stored(by_orm)


def test_a_compiled_create_goes_through_django_when_a_receiver_listens(tenant):
    conversation = _started(tenant)
    heard: list[int] = []

    def saved(sender, instance, created, **kwargs):
        heard.append(instance.pk)

    post_save.connect(saved, sender=Message)
    try:
        message = CompiledInsert(Message).create(
            tenant_id=tenant.pk, conversation_id=conversation.pk, role="agent", text="hi"
        )
    finally:
        post_save.disconnect(saved, sender=Message)
    assert heard == [message.pk]


_SEEN = Marker(DATETIME_MARK, Conversation._meta.get_field("last_activity_at"))
QUIET_SINCE = CompiledUpdate(
    lambda tenant, before, at: (
        Conversation.objects.filter(tenant_id=tenant, last_activity_at__lt=before),
        {"last_activity_at": at, "attempts": F("attempts") + 1},
    ),
    tenant=Marker(INT_MARK),
    before=Marker(dt.datetime(1902, 1, 1, tzinfo=dt.UTC), _SEEN.field),
    at=_SEEN,
)


def test_a_compiled_update_changes_the_rows_the_orms_would_with_each_runs_values(tenant):
    other = Tenant.objects.create(name="Other", slug="other")
    rows = {}
    for owner, ref in ((tenant, "a1"), (tenant, "a2"), (other, "b1")):
        agent, _ = Agent.objects.get_or_create(
            tenant=owner, slug="a", defaults={"name": "A", "role": "specialist"}
        )
        rows[ref], _ = conversation_start(
            tenant=owner, agent=agent, channel="web", customer={"id": ref}
        )
    now = timezone.now()
    old = now - dt.timedelta(days=3)
    Conversation.objects.filter(pk__in=[rows["a1"].pk, rows["b1"].pk]).update(last_activity_at=old)

    changed = QUIET_SINCE.run(tenant=tenant.pk, before=now - dt.timedelta(days=1), at=now)

    assert changed == 1  # a1: its tenant's and quiet; a2 is recent, b1 another tenant's
    seen = {c.customer_ref: c for c in Conversation.objects.all()}
    assert seen["a1"].last_activity_at == now and seen["a1"].attempts == 1
    assert seen["a2"].last_activity_at > old and seen["a2"].attempts == 0
    assert seen["b1"].last_activity_at == old and seen["b1"].attempts == 0
    # a second run with other values: the other tenant's row, nothing of the first tenant's
    assert QUIET_SINCE.run(tenant=other.pk, before=now - dt.timedelta(days=1), at=now) == 1
    assert Conversation.objects.get(pk=rows["b1"].pk).last_activity_at == now
    assert Conversation.objects.get(pk=rows["a2"].pk).attempts == 0


def test_a_compiled_update_never_writes_a_state():
    from handover.models import Handoff

    refused = CompiledUpdate(
        lambda pk: (Handoff.objects.filter(pk=pk), {"status": "claimed"}), pk=Marker(INT_MARK)
    )
    with pytest.raises(ValueError, match="transition"):
        refused.run(pk=1)


def test_a_compiled_update_of_a_slice_is_refused_as_django_refuses_it():
    sliced = CompiledUpdate(
        lambda pk: (Conversation.objects.filter(tenant_id=pk)[:1], {"attempts": 0}),
        pk=Marker(INT_MARK),
    )
    with pytest.raises(TypeError, match="slice"):
        sliced.run(pk=1)
