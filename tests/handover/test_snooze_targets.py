"""A snooze pauses the handoff's resolution target (handover/targets.py): while it is on the
target is due later by the snooze's length; a snooze ended early (the customer writes, its
holder wakes it, a transfer) counts only the time it held; one that ran out counts to its end;
closing keeps the total, and the people's metrics judge the breach with it. The first-response
target does not pause."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from handover.models import Handoff
from handover.selectors import handoff_json
from handover.services import conversation_resolve, conversation_transfer
from handover.snooze import handoff_snooze
from handover.targets import TargetBook
from orchestration.turns import conversation_receive_message
from tests.handover.test_agent_tools import as_person
from tests.handover.test_snooze import held, later  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)


def shown(handoff: Handoff, **kw) -> dict:
    handoff.refresh_from_db()
    return handoff_json(handoff, targets=TargetBook(handoff.tenant), **kw)


def near(a: dt.timedelta | float, b: dt.timedelta, slack=dt.timedelta(seconds=5)) -> bool:
    a = a if isinstance(a, dt.timedelta) else dt.timedelta(seconds=a)
    return abs(a - b) < slack


def began(handoff: Handoff, ago: dt.timedelta) -> None:
    """The snooze on began ``ago`` (time passing, without waiting for it)."""
    Handoff.objects.filter(pk=handoff.pk).update(snoozed_at=timezone.now() - ago)


def test_a_snooze_on_moves_the_resolution_target_by_its_length_not_the_first_response(held, ada):  # noqa: F811
    before = shown(held)
    assert before["resolutionPausedSeconds"] == 0

    handoff_snooze(handoff=held, user=ada, until=later(hours=2))

    during = shown(held)
    assert near(during["resolutionPausedSeconds"], 2 * HOUR)
    assert near(during["resolutionDueAt"] - before["resolutionDueAt"], 2 * HOUR)
    assert during["firstResponseDueAt"] == before["firstResponseDueAt"]
    # the API shows the same
    row = as_person(ada).get(f"/api/v1/handoffs/{held.pk}").json()
    assert near(row["resolutionPausedSeconds"], 2 * HOUR)


def test_a_resolution_target_about_to_pass_does_not_pass_while_snoozed(held, ada):  # noqa: F811
    # medium band: resolved within 24 h; opened 23 h 30 min ago, answered at once
    opened = timezone.now() - dt.timedelta(hours=23, minutes=30)
    Handoff.objects.filter(pk=held.pk).update(
        created_at=opened, first_response_at=opened + dt.timedelta(minutes=5)
    )
    handoff_snooze(handoff=held, user=ada, until=later(hours=3))

    in_an_hour = timezone.now() + HOUR
    assert shown(held, now=in_an_hour)["breaches"] == []
    # without the snooze, it would be
    Handoff.objects.filter(pk=held.pk).update(snoozed_at=None, snoozed_until=None)
    assert shown(held, now=in_an_hour)["breaches"] == ["resolution"]


def test_the_customer_writing_early_counts_only_the_time_it_held(held, ada):  # noqa: F811
    handoff_snooze(handoff=held, user=ada, until=later(days=2))
    began(held, 30 * dt.timedelta(minutes=1))

    conversation_receive_message(conversation=held.conversation, text="Any news?")

    after = Handoff.objects.get(pk=held.pk)
    assert (after.snoozed_until, after.snoozed_at) == (None, None)
    assert near(after.paused, dt.timedelta(minutes=30))
    assert near(shown(after)["resolutionPausedSeconds"], dt.timedelta(minutes=30))


def test_snoozes_add_up_a_woken_one_a_run_out_one_and_a_transfer(held, ada, bob):  # noqa: F811
    handoff_snooze(handoff=held, user=ada, until=later(hours=5))
    began(held, 20 * dt.timedelta(minutes=1))
    handoff_snooze(handoff=held, user=ada, until=None)  # woken by hand after 20 min
    assert near(Handoff.objects.get(pk=held.pk).paused, dt.timedelta(minutes=20))

    # one that ran out an hour ago, after 2 h: snoozing again counts it whole
    Handoff.objects.filter(pk=held.pk).update(
        snoozed_at=timezone.now() - 3 * HOUR, snoozed_until=timezone.now() - HOUR
    )
    assert near(shown(held)["resolutionPausedSeconds"], dt.timedelta(hours=2, minutes=20))
    handoff_snooze(handoff=held, user=ada, until=later(hours=1))
    began(held, 10 * dt.timedelta(minutes=1))
    assert near(Handoff.objects.get(pk=held.pk).paused, dt.timedelta(hours=2, minutes=20))

    conversation_transfer(conversation=held.conversation, user=ada, to_username="bob")

    passed = Handoff.objects.get(pk=held.pk)
    assert passed.snoozed_at is None
    assert near(passed.paused, dt.timedelta(hours=2, minutes=30))


def test_closing_keeps_the_pause_and_a_snooze_on_counts_to_the_close(held, ada):  # noqa: F811
    handoff_snooze(handoff=held, user=ada, until=later(hours=4))
    began(held, HOUR)

    conversation_resolve(conversation=held.conversation, user=ada)

    closed = Handoff.objects.get(pk=held.pk)
    assert closed.status == "resolved" and closed.snoozed_at is None
    assert near(closed.paused, HOUR)
    assert near(shown(closed)["resolutionPausedSeconds"], HOUR)
