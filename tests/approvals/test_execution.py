"""Execution exactly once: a task delivered twice runs the callable once; workers and approvers
racing on PostgreSQL give one execution and one ledger entry; a failing action is retried with
a bound, then failed, told to the conversation and handed to people."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from agents.rule_sets import rules_replace
from approvals.models import ActionExecution, ApprovalDecision, ApprovalRequest, LedgerEntry
from approvals.services import (
    MAX_ATTEMPTS,
    ApprovalConflict,
    action_propose,
    approval_decide,
    execution_run,
    executions_resend,
)
from approvals.tasks import execute_action
from conversations.models import (
    Conversation,
    DecisionEvent,
    Message,
)
from handover.services import COLD_FOLLOW_UP_TEXT
from tests.approvals.conftest import approval_rules
from tests.approvals.support import FLAKY
from tests.concurrency import race
from tests.conftest import need_service
from tests.factories import make_person


def approved_execution(conversation, approver, *, action="issue_refund", params=None, key="k"):
    proposal = action_propose(
        conversation=conversation,
        action=action,
        params=params if params is not None else {"orderId": "A1", "amount": 500},
        idempotency_key=key,
        requested_by_label="agent:agent-billing",
    )
    approval_decide(approval=proposal.approval, user=approver, verdict="approve")
    return ActionExecution.objects.get(request=proposal.approval)


@pytest.mark.django_db
def test_a_task_delivered_twice_runs_the_action_once(people, conversation):
    execution = approved_execution(conversation, people["alice"])

    assert execute_action(execution.pk) == "succeeded"
    assert execute_action(execution.pk) == "succeeded"

    execution.refresh_from_db()
    assert (execution.status, execution.attempts) == ("succeeded", 1)
    assert LedgerEntry.objects.count() == 1
    assert DecisionEvent.objects.filter(type="action.executed").count() == 1


@pytest.mark.django_db
def test_a_task_for_a_missing_execution_does_nothing(db):
    assert execute_action(123456) == "missing"


@pytest.mark.django_db
def test_a_failing_action_is_retried_then_failed_told_and_handed_over(
    people, conversation, test_actions, eager_tasks
):
    rules_replace(
        agent=conversation.current_agent,
        document=approval_rules(actions=["exploding_action"]),
    )
    execution = approved_execution(
        conversation, people["alice"], action="exploding_action", params={}
    )

    execute_action.delay(execution.pk)  # eager: the retries run at once

    execution.refresh_from_db()
    assert execution.status == "failed"
    assert execution.attempts == MAX_ATTEMPTS
    assert execution.error == "RuntimeError: the payment provider is down"
    assert execution.finished_at is not None
    assert not LedgerEntry.objects.exists()
    assert ApprovalRequest.objects.get(pk=execution.request_id).status == "failed"
    conversation.refresh_from_db()
    assert conversation.state == "handing_off"
    texts = list(
        Message.objects.filter(conversation=conversation, role="system")
        .order_by("id")
        .values_list("text", flat=True)
    )
    assert texts[0] == "We could not complete your exploding action."
    # nobody is online: one notice, that someone will follow up (not also "someone will be with
    # you shortly")
    assert texts[1:] == [COLD_FOLLOW_UP_TEXT]
    failed = DecisionEvent.objects.get(conversation=conversation, type="action.failed")
    assert failed.detail["attempts"] == MAX_ATTEMPTS
    assert DecisionEvent.objects.filter(
        conversation=conversation, type="state.changed", detail__to="handing_off"
    ).exists()

    execute_action.delay(execution.pk)  # a late redelivery changes nothing
    execution.refresh_from_db()
    assert execution.attempts == MAX_ATTEMPTS


@pytest.mark.django_db
def test_a_failing_action_on_a_conversation_with_a_human_stays_with_the_human(
    people, conversation, test_actions, eager_tasks
):
    from conversations.lifecycle import conversation_transition

    rules_replace(
        agent=conversation.current_agent,
        document=approval_rules(actions=["exploding_action"]),
    )
    execution = approved_execution(
        conversation, people["alice"], action="exploding_action", params={}
    )
    conversation_transition(conversation=conversation, to="handing_off", reason="test")
    conversation_transition(conversation=conversation, to="with_human", reason="test")

    execute_action.delay(execution.pk)

    conversation.refresh_from_db()
    assert conversation.state == "with_human"
    execution.refresh_from_db()
    assert execution.status == "failed"


@pytest.mark.django_db
def test_a_flaky_action_succeeds_on_a_retry(people, conversation, test_actions, eager_tasks):
    rules_replace(
        agent=conversation.current_agent, document=approval_rules(actions=["flaky_action"])
    )
    execution = approved_execution(conversation, people["alice"], action="flaky_action", params={})
    FLAKY["failures_left"] = 1

    execute_action.delay(execution.pk)

    execution.refresh_from_db()
    assert (execution.status, execution.attempts) == ("succeeded", 2)
    assert LedgerEntry.objects.count() == 1
    conversation.refresh_from_db()
    assert conversation.state == "active"


@pytest.mark.django_db
def test_one_failed_attempt_leaves_the_execution_queued_for_a_retry(
    people, conversation, test_actions
):
    rules_replace(
        agent=conversation.current_agent, document=approval_rules(actions=["flaky_action"])
    )
    execution = approved_execution(conversation, people["alice"], action="flaky_action", params={})
    FLAKY["failures_left"] = 1

    attempt = execution_run(execution_id=execution.pk)

    assert (attempt.status, attempt.attempts) == ("queued", 1)
    assert attempt.error == "ConnectionError: timed out"


@pytest.mark.django_db
def test_executions_whose_task_was_lost_are_sent_again(
    people, conversation, django_capture_on_commit_callbacks, eager_tasks
):
    execution = approved_execution(conversation, people["alice"])  # its task never ran
    later = timezone.now() + dt.timedelta(hours=1)

    with django_capture_on_commit_callbacks(execute=True):
        assert executions_resend(now=later) == 1

    execution.refresh_from_db()
    assert execution.status == "succeeded"
    with django_capture_on_commit_callbacks(execute=True):
        assert executions_resend(now=later + dt.timedelta(hours=1)) == 0


# --- real concurrency (PostgreSQL) ---------------------------------------------------------------


def _needs_postgresql():
    if connection.vendor != "postgresql":
        need_service("PostgreSQL: set DATABASE_URL (row locks decide the races)")


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_twenty_approvers_racing_give_one_execution_and_one_ledger_entry(
    tenant, agent, conversation, eager_tasks
):
    _needs_postgresql()
    from core.models import ApproverGroup

    crowd = [
        make_person(tenant=tenant, roles=["approver"], username=f"approver{i:02d}")
        for i in range(20)
    ]
    ApproverGroup.objects.get(name="finance").members.add(*crowd)
    proposal = action_propose(
        conversation=conversation,
        action="issue_refund",
        params={"orderId": "RACE", "amount": 999},
        idempotency_key="race",
        requested_by_label="agent:agent-billing",
    )

    def click(i):
        approval = ApprovalRequest.objects.get(pk=proposal.approval.pk)
        return approval_decide(approval=approval, user=crowd[i], verdict="approve")

    results = race(20, click)

    winners = [r for r in results if isinstance(r, ApprovalRequest)]
    conflicts = [r for r in results if isinstance(r, ApprovalConflict)]
    assert len(winners) == 1, results
    assert len(conflicts) == 19, results
    assert ApprovalDecision.objects.filter(request=proposal.approval).count() == 1
    assert ActionExecution.objects.count() == 1
    assert LedgerEntry.objects.count() == 1
    execution = ActionExecution.objects.get()
    assert (execution.status, execution.attempts) == ("succeeded", 1)
    assert ApprovalRequest.objects.get(pk=proposal.approval.pk).status == "executed"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_task_delivered_to_two_workers_at_once_runs_once(conversation):
    _needs_postgresql()
    execution = ActionExecution.objects.create(  # queued, its task not sent yet
        tenant=conversation.tenant,
        conversation=conversation,
        action="issue_refund",
        params={"orderId": "A1", "amount": 500},
        execution_key="test:twice",
    )

    results = race(2, lambda i: execute_action(execution.pk))

    assert results == ["succeeded", "succeeded"]
    execution.refresh_from_db()
    assert execution.attempts == 1
    assert LedgerEntry.objects.count() == 1
    assert DecisionEvent.objects.filter(type="action.executed").count() == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_same_key_proposed_concurrently_makes_one_request(
    tenant, agent, conversation, eager_tasks
):
    _needs_postgresql()

    def call(i):
        conv = Conversation.objects.select_related("tenant", "current_agent").get(
            pk=conversation.pk
        )
        return action_propose(
            conversation=conv,
            action="issue_refund",
            params={"orderId": "A1", "amount": 500},
            idempotency_key="double-click",
            requested_by_label="api-key:integration",
        )

    results = race(8, call)

    assert all(not isinstance(r, Exception) for r in results), results
    assert len({r.approval.pk for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert ApprovalRequest.objects.count() == 1
    assert DecisionEvent.objects.filter(type="approval.requested").count() == 1
