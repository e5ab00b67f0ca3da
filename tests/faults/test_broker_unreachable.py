"""The broker is unreachable when a request publishes: the request does not hang, its data is
committed, and the work is published from the outbox once the broker is back."""

from __future__ import annotations

import pytest
import requests

from approvals.models import ApprovalRequest
from core.models import OutboxEvent
from tests.faults.conftest import WAIT, RedisServer, SilentServer, app_env, free_port, wait_until
from tests.faults.scenario import approval_scenario

pytestmark = pytest.mark.services


def propose(base, scenario, key):
    return requests.post(
        f"{base}/api/v1/conversations/{scenario.conversation.pk}/actions",
        json={
            "action": "issue_refund",
            "params": {"orderId": key, "amount": 150},
            "idempotencyKey": key,
        },
        headers={"Authorization": f"Bearer {scenario.api_key}"},
        timeout=WAIT,  # a hang fails the test here
    )


@pytest.mark.parametrize("broker", ["refusing", "silent"])
def test_requests_commit_and_answer_while_the_broker_is_away_and_the_work_follows_later(
    processes, redis_server, broker
):
    scenario = approval_scenario()
    broker_port = free_port()
    # "refusing": nothing listens; "silent": a server accepts the connection, never answers
    silent = SilentServer(broker_port) if broker == "silent" else None
    env = app_env(
        redis_url=redis_server.url,  # channel layer and cache stay up
        CELERY_BROKER_URL=f"redis://127.0.0.1:{broker_port}/0",
    )
    base = processes.web(env)

    responses = [propose(base, scenario, f"order-{n}") for n in range(3)]

    assert [r.status_code for r in responses] == [202, 202, 202], responses[-1].text
    assert ApprovalRequest.objects.count() == 3  # committed
    pending = OutboxEvent.objects.filter(relayed_at__isnull=True)
    assert pending.count() == 3  # the approvers' e-mails wait in the outbox
    assert pending.exclude(last_error="").exists()

    # the broker comes back, a worker runs, and the sweep (beat runs it every 5 s) relays
    if silent is not None:
        silent.close()
    broker_server = RedisServer(broker_port)
    broker_server.start()
    try:
        processes.worker(env)
        relayed = processes.manage(
            env,
            "from core.outbox import outbox_sweep; import datetime as dt; "
            "from django.utils import timezone; "
            "print(outbox_sweep(now=timezone.now() + dt.timedelta(minutes=10)))",
        )
        assert relayed.strip().splitlines()[-1] == "3"
        wait_until(
            lambda: ApprovalRequest.objects.filter(emailed_at__isnull=False).count() == 3,
            what="the approvers' e-mails to be sent by the worker",
        )
    finally:
        broker_server.stop()
    assert not OutboxEvent.objects.filter(relayed_at__isnull=True).exists()
