"""The Celery application and the one schedule of periodic work.

Tasks live in each app's ``tasks.py`` and are discovered here. ``SCHEDULE`` is every sweep the
product runs, by name: Celery beat installs it (``DatabaseScheduler`` keeps its entries in the
database under these names, so an operator may pause one in the admin), and on the embedded
default the in-process runner reads the same table. Every sweep is safe to run twice, or two at
once.
"""

import os

from celery import Celery
from celery.signals import worker_process_init, worker_ready

from config.gc_freeze import freeze_startup_objects

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# a worker has loaded its tasks (a prefork child once forked): keep the collector off all that
worker_ready.connect(freeze_startup_objects, weak=False)
worker_process_init.connect(freeze_startup_objects, weak=False)

# name -> (task name, every N seconds)
SCHEDULE: dict[str, tuple[str, float]] = {
    # the outbox's rows that were not relayed after their commit
    "Outbox: relay sweep": ("orchestration.relay_outbox", 5),
    # hot offers unclaimed past hotClaimTimeout become cold
    "Handover: hot offers that nobody claimed go cold": ("handover.expire_hot_offers", 5),
    # conversations silent for checkInterval x stallThreshold (each conversation's own
    # settings; the sweep runs often enough for the smallest checkInterval worth setting)
    "Orchestrator: silence sweep": ("orchestration.sweep_silence", 5),
    # AI turns pending past TURN_STALE_SECONDS: sent to the workers once more, then given up
    # (the customer is told, people take over)
    "Orchestrator: AI turns that never came back": ("orchestration.sweep_turns", 30),
    # pending approvals past the tenant's approval_timeout, and stale executions resent
    "Approvals: expiry sweep": ("approvals.expire_pending", 60),
    # metric alerts past their threshold (at most one e-mail per window)
    "Insight: metric alerts": ("orchestration.sweep_alerts", 60),
    # where a tenant gives its queue out: what the triggers missed (a person opening the inbox)
    "Handover: the queue given out": ("handover.assign_queues", 10),
    # a group's queued handoffs nobody of it took within its overflow_after: open to everyone
    "Handover: groups' queues opened to everyone": ("handover.overflow_groups", 30),
    # inboxes that had a conversation open and stopped beating (who else is viewing it)
    "Handover: viewers gone without a goodbye": ("handover.sweep_viewers", 30),
    # where a tenant resolves quiet conversations: those nobody wrote in for its setting
    "Handover: quiet conversations resolved": ("handover.resolve_quiet", 60),
    # files uploaded in a conversation that no message took (a process died between)
    "Conversations: files no message took": ("conversations.sweep_unsent_attachments", 600),
    # files of conversations resolved longer ago than the tenant keeps files (its admin page)
    "Conversations: files past the tenant's retention": (
        "conversations.sweep_file_retention",
        3600,
    ),
    # webhook deliveries done with for more than a month (orchestration/webhooks.py)
    "Webhooks: old deliveries": ("webhooks.sweep_deliveries", 3600),
    # conversations resolved longer ago than the tenant keeps them (its admin page)
    "Conversations: past the tenant's retention": (
        "orchestration.sweep_conversation_retention",
        3600,
    ),
}

app.conf.beat_schedule = {
    name: {"task": task, "schedule": float(seconds)} for name, (task, seconds) in SCHEDULE.items()
}
