"""The one schedule of periodic work (config/celery.py): every sweep named once, each a real
task, installed by Celery beat's database scheduler under its name."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from config.celery import SCHEDULE, app

SWEEPS = {
    "orchestration.relay_outbox",
    "handover.expire_hot_offers",
    "orchestration.sweep_silence",
    "approvals.expire_pending",
    "conversations.sweep_unsent_attachments",
    "conversations.sweep_file_retention",
    "orchestration.sweep_conversation_retention",
    "webhooks.sweep_deliveries",
    "orchestration.sweep_alerts",
    "orchestration.sweep_turns",
    "handover.assign_queues",
    "handover.resolve_quiet",
    "handover.sweep_viewers",
    "handover.overflow_groups",
}


def test_every_sweep_is_in_the_schedule_once_and_is_a_task():
    app.loader.import_default_modules()
    tasks = [task for task, _ in SCHEDULE.values()]

    assert sorted(tasks) == sorted(SWEEPS)
    assert all(task in app.tasks for task in tasks)
    assert all(seconds > 0 for _, seconds in SCHEDULE.values())


@pytest.mark.django_db(transaction=True)
def test_beat_installs_the_schedule_under_its_names():
    DatabaseScheduler(app=app).setup_schedule()

    for name, (task, seconds) in SCHEDULE.items():
        row = PeriodicTask.objects.get(name=name)
        assert (row.task, row.enabled) == (task, True)
        assert (row.interval.every, row.interval.period) == (seconds, "seconds")
