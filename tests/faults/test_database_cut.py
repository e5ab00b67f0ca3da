"""The PostgreSQL connection is cut in the middle of a request: the client gets a clean 503
it may retry, nothing of the request is written, and the retry with the same idempotency key
makes exactly one request."""

from __future__ import annotations

import threading

import pytest
import requests

from approvals.models import ApprovalRequest, AuditLog
from conversations.models import DecisionEvent
from core.models import OutboxEvent
from tests.faults.conftest import WAIT, app_env, wait_until, waiting_backends
from tests.faults.scenario import approval_scenario

pytestmark = pytest.mark.services


def test_a_connection_cut_mid_request_is_a_clean_503_and_the_retry_is_safe(
    processes, redis_server, pg
):
    scenario = approval_scenario()
    base = processes.web(app_env(redis_url=redis_server.url))
    url = f"{base}/api/v1/conversations/{scenario.conversation.pk}/actions"
    body = {
        "action": "issue_refund",
        "params": {"orderId": "A1", "amount": 150},
        "idempotencyKey": "refund-A1",
    }
    headers = {"Authorization": f"Bearer {scenario.api_key}"}

    # Given the request is half way through its transaction (the request, its decision events
    # and its audit row written) and waiting to write its outbox row...
    with pg.cursor() as cur:
        cur.execute("LOCK TABLE orchestration_outboxevent IN EXCLUSIVE MODE")
    answer: dict = {}
    request = threading.Thread(
        target=lambda: answer.update(
            response=requests.post(url, json=body, headers=headers, timeout=WAIT)
        )
    )
    request.start()
    [backend] = wait_until(
        lambda: waiting_backends("orchestration_outboxevent"),
        what="the request to wait on the outbox table",
    )

    # ...when its database connection is cut
    with pg.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", [backend])
    pg.rollback()  # releases the lock
    request.join(WAIT)

    response = answer["response"]
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.json()["error"]["code"] == "database_unavailable"
    # nothing half-written
    assert not ApprovalRequest.objects.exists()
    assert not AuditLog.objects.exists()
    assert not OutboxEvent.objects.exists()
    assert not DecisionEvent.objects.filter(type__in=["action.proposed", "approval.requested"])

    # the client retries with the same key, twice: one request
    first = requests.post(url, json=body, headers=headers, timeout=WAIT)
    again = requests.post(url, json=body, headers=headers, timeout=WAIT)

    assert first.status_code == 202, first.text
    assert again.status_code == 202, again.text
    assert again.json()["approval"]["id"] == first.json()["approval"]["id"]
    assert ApprovalRequest.objects.count() == 1
    assert DecisionEvent.objects.filter(type="approval.requested").count() == 1
    assert OutboxEvent.objects.count() == 1  # the approvers' e-mail, once
