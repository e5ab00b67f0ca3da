"""A Celery worker is killed with SIGKILL while it runs an approved action: the action runs
again on another worker, and its effect happens once."""

from __future__ import annotations

import pytest
import requests

from approvals.models import (
    ActionExecution,
    ApprovalRequest,
    ExecutionStatus,
    LedgerEntry,
)
from approvals.services import EXECUTED_TEXT
from conversations.models import (
    DecisionEvent,
    Message,
)
from tests.faults.conftest import WAIT, app_env, wait_until, waiting_backends
from tests.faults.scenario import approval_scenario

pytestmark = pytest.mark.services


def test_an_action_whose_worker_is_killed_runs_again_once(processes, redis_server, pg):
    scenario = approval_scenario()
    env = app_env(
        redis_url=redis_server.url,
        # the broker gives an unacknowledged task to another worker after 3 s
        CELERY_VISIBILITY_TIMEOUT="3",
        CELERY_UNACKED_RESTORE_INTERVAL="1",
    )
    base = processes.web(env)
    first_worker = processes.worker(env)
    proposed = requests.post(
        f"{base}/api/v1/conversations/{scenario.conversation.pk}/actions",
        json={
            "action": "issue_refund",
            "params": {"orderId": "A1", "amount": 150},
            "idempotencyKey": "refund-A1",
        },
        headers={"Authorization": f"Bearer {scenario.api_key}"},
        timeout=WAIT,
    )
    approval_id = proposed.json()["approval"]["id"]

    # Given the worker is in the middle of the refund (held up writing the ledger)...
    with pg.cursor() as cur:
        cur.execute("LOCK TABLE approvals_ledgerentry IN EXCLUSIVE MODE")
    approved = requests.post(
        f"{base}/api/v1/approvals/{approval_id}/approve",
        json={},
        headers={"Authorization": f"Bearer {scenario.approver_token}"},
        timeout=WAIT,
    )
    assert approved.status_code == 200, approved.text
    wait_until(lambda: waiting_backends("approvals_ledgerentry"), what="the refund to start")
    assert ActionExecution.objects.get().status == ExecutionStatus.RUNNING

    # ...when the worker is killed outright, and a new one starts
    processes.kill(first_worker)
    pg.rollback()  # the refund the dead worker began can finish its statement; it never commits
    processes.worker(env)

    execution = wait_until(
        lambda: ActionExecution.objects.filter(status=ExecutionStatus.SUCCEEDED).first(),
        what="the refund to run again on the new worker",
    )
    assert LedgerEntry.objects.filter(execution_key=execution.execution_key).count() == 1
    assert DecisionEvent.objects.filter(type="action.executed").count() == 1
    assert ApprovalRequest.objects.get().status == "executed"
    told = Message.objects.filter(
        text=EXECUTED_TEXT.format(what="refund of 150.00 EUR for order A1")
    )
    assert told.count() == 1  # the customer hears of the refund once
