"""The gate: every proposed action goes through the approval rules and thresholds, and either
waits for approvers or runs at once; the same idempotency key answers with the same row."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.utils import timezone

from agents.models import Agent
from agents.rule_sets import rules_replace
from approvals.models import ActionExecution, ApprovalRequest, LedgerEntry
from approvals.notifications import EMAIL_LEASE, approval_email_send
from approvals.services import action_propose
from conversations.lifecycle import conversation_transition
from conversations.models import Conversation, DecisionEvent
from conversations.services import conversation_start
from core.events import tenant_inbox_group
from core.models import OutboxEvent
from orchestration.turns import conversation_receive_message
from tests.approvals.conftest import client_for, propose

pytestmark = pytest.mark.django_db


def event_types(conversation):
    return list(
        DecisionEvent.objects.filter(conversation=conversation)
        .order_by("id")
        .values_list("type", flat=True)
    )


def test_an_action_no_rule_lists_runs_at_once(key_client, conversation, eager_tasks):
    response = propose(
        key_client, conversation, "access_sensitive_data", {"field": "dob"}, key="k-run"
    )

    assert response.status_code == 200, response.json()
    execution = response.json()["execution"]
    assert execution["status"] == "succeeded"
    assert execution["attempts"] == 1
    assert execution["approvalId"] is None
    assert execution["result"]["field"] == "dob"
    assert LedgerEntry.objects.filter(execution_key=execution["executionKey"]).count() == 1
    assert event_types(conversation)[-2:] == ["action.proposed", "action.executed"]
    assert not ApprovalRequest.objects.exists()


def test_an_agent_without_any_rules_runs_everything_at_once(tenant, key_client, eager_tasks):
    free = Agent.objects.create(tenant=tenant, slug="free", name="Free", role="specialist")
    conv, _ = conversation_start(tenant=tenant, agent=free, channel="api", customer={"id": "c"})

    response = propose(key_client, conv, "issue_refund", {"orderId": "A", "amount": 5000})

    assert response.status_code == 200
    assert response.json()["execution"]["status"] == "succeeded"


def test_a_refund_below_the_threshold_runs_at_once(key_client, conversation, eager_tasks):
    response = propose(key_client, conversation, params={"orderId": "A1", "amount": 100})

    assert response.status_code == 200
    assert response.json()["execution"]["status"] == "succeeded"
    assert LedgerEntry.objects.count() == 1


def test_a_refund_above_the_threshold_waits_for_approvers_and_nothing_runs(
    key_client, conversation, django_capture_on_commit_callbacks, eager_tasks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = propose(key_client, conversation, params={"orderId": "A1", "amount": 150.5})

    assert response.status_code == 202, response.json()
    approval = response.json()["approval"]
    assert approval["status"] == "pending"
    assert approval["action"] == "issue_refund"
    assert approval["params"] == {"orderId": "A1", "amount": 150.5, "currency": "EUR"}
    assert approval["conversationId"] == str(conversation.pk)
    assert approval["requestedBy"] == "api-key:integration"
    assert approval["approvers"] == ["alice", "rita", "group:finance"]
    assert approval["quorum"] == 1
    assert approval["rule"] == "agent-billing v1"
    assert any("params.amount" in line for line in approval["why"])
    assert approval["execution"] is None
    assert approval["decidedBy"] is None
    assert not ActionExecution.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert event_types(conversation)[-2:] == ["action.proposed", "approval.requested"]


def test_the_approvers_hear_of_a_request_after_commit_and_by_email(
    key_client, conversation, django_capture_on_commit_callbacks, eager_tasks
):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(tenant_inbox_group(conversation.tenant_id), channel)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = propose(key_client, conversation)
    assert mail.outbox == []  # nothing leaves before commit
    for callback in callbacks:
        callback()

    approval_id = response.json()["approval"]["id"]
    event = async_to_sync(layer.receive)(channel)["event"]
    assert event == {
        "type": "approval.requested",
        "approvalId": approval_id,
        "conversationId": str(conversation.pk),
    }
    async_to_sync(layer.group_discard)(tenant_inbox_group(conversation.tenant_id), channel)
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert sorted(email.to) == ["a@acme.test", "b@acme.test"]  # alice, and bob by group
    assert "issue_refund" in email.subject
    assert f"/approvals/{approval_id}/" in email.body
    assert "amount: 150" in email.body


def test_the_approvers_email_links_to_the_request_on_the_site(
    key_client, conversation, django_capture_on_commit_callbacks, eager_tasks, settings
):
    settings.SITE_URL = "https://support.example.com"
    with django_capture_on_commit_callbacks(execute=True):
        response = propose(key_client, conversation)
    approval_id = response.json()["approval"]["id"]

    (email,) = mail.outbox
    links = re.findall(r"\S*/approvals/\S*", email.body)
    assert links == [f"https://support.example.com/approvals/{approval_id}/"]
    assert urlsplit(links[0]).netloc == "support.example.com"


def test_the_approvers_are_emailed_once_however_often_the_task_is_delivered(
    key_client, conversation, django_capture_on_commit_callbacks, eager_tasks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = propose(key_client, conversation)
    approval_id = response.json()["approval"]["id"]
    event = OutboxEvent.objects.get(payload__task="approvals.email_approvers")
    assert event.payload["args"] == [approval_id]
    assert event.relayed_at is not None

    assert approval_email_send(approval_id) == 0  # the outbox delivered it again

    assert len(mail.outbox) == 1


def test_an_unknown_action_is_a_400_naming_the_field(key_client, conversation):
    response = propose(key_client, conversation, "wire_money", {"amount": 1})

    assert response.status_code == 400
    error = response.json()["error"]
    assert list(error["fields"]) == ["action"]
    assert "unknown action 'wire_money'" in error["fields"]["action"][0]


def test_bad_parameters_are_a_400_naming_each_parameter(key_client, conversation):
    response = propose(key_client, conversation, params={"amount": -3, "colour": "red"})

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["params.amount"] == ["must be greater than 0"]
    assert fields["params.orderId"] == ["is required"]
    assert fields["params.colour"] == ["is not a parameter of this action"]
    assert not ApprovalRequest.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "issue_refund", "params": {"orderId": "A", "amount": 1}}, "idempotencyKey"),
        ({"action": "issue_refund", "params": [], "idempotencyKey": "k"}, "params"),
        ({"params": {}, "idempotencyKey": "k"}, "action"),
    ],
)
def test_a_malformed_body_is_a_400(key_client, conversation, body, field):
    response = key_client.post(
        f"/api/v1/conversations/{conversation.pk}/actions", body, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_the_same_key_answers_with_the_same_request(key_client, conversation):
    first = propose(key_client, conversation, key="same")
    second = propose(key_client, conversation, key="same")

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["approval"]["id"] == second.json()["approval"]["id"]
    assert ApprovalRequest.objects.count() == 1
    assert event_types(conversation).count("approval.requested") == 1


def test_the_same_key_answers_with_the_same_execution(key_client, conversation, eager_tasks):
    params = {"orderId": "A1", "amount": 10}
    first = propose(key_client, conversation, params=params, key="same")
    second = propose(key_client, conversation, params=params, key="same")

    assert first.json()["execution"]["id"] == second.json()["execution"]["id"]
    assert ActionExecution.objects.count() == 1
    assert LedgerEntry.objects.count() == 1


def test_a_key_reused_for_something_else_is_a_409(key_client, conversation):
    propose(key_client, conversation, key="same")

    response = propose(key_client, conversation, params={"orderId": "B", "amount": 500}, key="same")

    assert response.status_code == 409
    assert "idempotencyKey" in response.json()["error"]["message"]


def test_keys_are_per_conversation(key_client, tenant, agent, conversation):
    other, _ = conversation_start(tenant=tenant, agent=agent, channel="api", customer={"id": "x"})

    assert propose(key_client, conversation, key="k").status_code == 202
    assert propose(key_client, other, key="k").status_code == 202
    assert ApprovalRequest.objects.count() == 2


def test_another_tenants_conversation_is_a_404(conversation, other_tenant):
    from rest_framework.test import APIClient

    from tests.factories import make_api_key

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")

    assert propose(client, conversation).status_code == 404


def test_a_resolved_conversation_takes_no_actions(key_client, conversation):
    conversation_transition(conversation=conversation, to="resolved", reason="done")

    response = propose(key_client, conversation)

    assert response.status_code == 409


def test_the_tenants_timeout_sets_the_deadline(tenant, key_client, conversation):
    import datetime as dt

    tenant.approval_timeout = dt.timedelta(hours=2)
    tenant.save()
    conversation.refresh_from_db()

    approval = ApprovalRequest.objects.get(
        pk=propose(key_client, conversation).json()["approval"]["id"]
    )

    assert approval.expires_at - approval.created_at == dt.timedelta(hours=2)


def test_a_turn_run_after_a_change_to_the_tenant_honours_the_change(
    tenant, conversation, knowledgeable, settings
):
    """The turns worker keeps tenants in memory (core.selectors.tenant_by_id): a tenant saved
    meanwhile, however it was saved, is read again."""
    import datetime as dt

    from core.models import Tenant
    from orchestration.turns import execute

    settings.TURN_DISPATCH = "outbox"

    def refund_asked(text: str) -> ApprovalRequest:
        result = conversation_receive_message(conversation=conversation, text=text)
        execute(
            conversation_id=conversation.pk, ai_turn=result.ai_turn, message_id=result.message.pk
        )
        return ApprovalRequest.objects.latest("id")

    first = refund_asked("I want a big refund please")
    edited = Tenant.objects.get(pk=tenant.pk)  # as the admin page or manage.py shell would
    edited.approval_timeout = dt.timedelta(hours=2)
    edited.currency = "USD"
    edited.save()
    second = refund_asked("Hello again, I want a big refund for my other order")

    assert first.expires_at - first.created_at == dt.timedelta(hours=24)
    assert first.params["currency"] == "EUR"
    assert second.expires_at - second.created_at == dt.timedelta(hours=2)
    assert second.params["currency"] == "USD"


def test_a_turns_proposal_follows_the_rules_of_the_cached_configuration_and_their_changes(
    conversation, knowledgeable, settings
):
    """The turn hands the gate its agent's approval rules from the tenant's cached
    configuration, where the orchestrator reads its own: the gate reads no rule rows, and a
    rules change saved meanwhile moves the configuration, so the next turn follows it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orchestration.turns import execute
    from tests.approvals.conftest import approval_rules

    settings.TURN_DISPATCH = "outbox"

    def refund_asked(text: str) -> list[str]:
        result = conversation_receive_message(conversation=conversation, text=text)
        with CaptureQueriesContext(connection) as seen:
            execute(
                conversation_id=conversation.pk,
                ai_turn=result.ai_turn,
                message_id=result.message.pk,
            )
        return [q["sql"] for q in seen]

    first = refund_asked("I want a big refund please")
    assert ApprovalRequest.objects.count() == 1  # 250 > 100: it waits
    assert not ActionExecution.objects.exists()
    rule_tables = ("agents_ruleset", "agents_handoffrule", "agents_approvalaction")
    assert not [sql for sql in first if any(table in sql for table in rule_tables)], first

    looser = [{"action": "issue_refund", "when": "params.amount > 900"}]
    rules_replace(agent=knowledgeable, document=approval_rules(actions=looser))
    refund_asked("Hello again, I want a big refund for my other order")

    assert ApprovalRequest.objects.count() == 1  # 250 < 900 now: it runs at once
    execution = ActionExecution.objects.get()
    assert execution.params["amount"] == 250
    assert execution.requested_by_label == "agent:agent-billing"


def test_a_person_proposing_is_the_requester(people, conversation):
    from tests.approvals.conftest import client_for

    response = propose(client_for(people["rita"]), conversation)

    approval = ApprovalRequest.objects.get(pk=response.json()["approval"]["id"])
    assert approval.requested_by == people["rita"]
    assert response.json()["approval"]["requestedBy"] == "rita"


# --- the orchestrator's proposed actions --------------------------------------------------------


@pytest.fixture
def knowledgeable(agent):
    agent.knowledge.create(
        question="I want a big refund",
        keywords=["big refund"],
        answer="I have asked for your refund.",
        action="issue_refund",
        action_params={"orderId": "A9", "amount": 250},
    )
    agent.knowledge.create(
        question="I want a small refund",
        keywords=["small refund"],
        answer="Refunding you now.",
        action="issue_refund",
        action_params={"orderId": "A8", "amount": 20},
    )
    return agent


def test_an_agents_proposed_action_over_the_threshold_waits(
    key_client, conversation, knowledgeable
):
    response = key_client.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        {"text": "I want a big refund please"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["approval"]["status"] == "pending"
    assert body["approval"]["requestedBy"] == "agent:agent-billing"
    approval = ApprovalRequest.objects.get()
    assert approval.params == {"orderId": "A9", "amount": 250, "currency": "EUR"}
    assert approval.idempotency_key == f"message:{body['message']['id']}:0"
    assert event_types(conversation)[-2:] == ["action.proposed", "approval.requested"]
    assert not ActionExecution.objects.exists()


def test_an_agents_proposed_action_under_the_threshold_runs_after_the_turn(
    conversation, knowledgeable, django_capture_on_commit_callbacks, eager_tasks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = conversation_receive_message(
            conversation=conversation, text="I want a small refund"
        )

    assert result.approval is None
    execution = ActionExecution.objects.get()
    assert execution.status == "succeeded"
    assert execution.requested_by_label == "agent:agent-billing"
    assert LedgerEntry.objects.count() == 1


def test_the_gate_is_the_same_function_for_services(conversation):
    proposal = action_propose(
        conversation=conversation,
        action="modify_account",
        params={"changes": {"email": "new@example.com"}},
        idempotency_key="svc-1",
        requested_by_label="agent:agent-billing",
    )

    assert proposal.waiting
    assert proposal.approval.rule_detail == ["modify_account always needs approval"]
    again = action_propose(
        conversation=conversation,
        action="modify_account",
        params={"changes": {"email": "new@example.com"}},
        idempotency_key="svc-1",
        requested_by_label="agent:agent-billing",
    )
    assert (again.approval.pk, again.created) == (proposal.approval.pk, False)


def test_rules_of_a_supervisor_apply_to_its_specialists(tenant, people, key_client):
    lead = Agent.objects.create(tenant=tenant, slug="lead", name="Lead", role="supervisor")
    rules_replace(
        agent=lead, document={"approvals": {"actions": ["modify_account"], "approvers": ["alice"]}}
    )
    spec = Agent.objects.create(
        tenant=tenant, slug="spec", name="Spec", role="specialist", supervisor=lead
    )
    conv, _ = conversation_start(tenant=tenant, agent=spec, channel="api", customer={"id": "c"})

    response = propose(key_client, conv, "modify_account", {"changes": {"plan": "pro"}})

    assert response.status_code == 202
    assert response.json()["approval"]["rule"] == "lead v1"


def test_a_nameless_web_visitor_is_named_as_everywhere_else_in_the_mail_and_the_request(
    key_client, conversation, django_capture_on_commit_callbacks, eager_tasks, people
):
    """'Visitor 4c62', as the inbox and the transcript call them, never their raw customer id
    (``web-4c621041cb0f8ef3``) or a dash."""
    Conversation.objects.filter(pk=conversation.pk).update(
        customer_name="", customer_ref="web-4c621041cb0f8ef3"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = propose(key_client, conversation)
    approval_id = response.json()["approval"]["id"]

    (email,) = mail.outbox
    page = client_for(people["alice"]).get(f"/approvals/{approval_id}/").content.decode()

    assert "Customer:     Visitor 4c62 (Web chat)" in email.body
    assert "<dt>Name</dt><dd>Visitor 4c62</dd>" in page


class RecordingMailServer(BaseEmailBackend):
    """A mail server that notes whether a database transaction was open while it was called,
    and refuses the next ``refuse`` sends."""

    calls: list[bool] = []
    refuse = 0

    def send_messages(self, email_messages):
        RecordingMailServer.calls.append(connection.in_atomic_block)
        if RecordingMailServer.refuse:
            RecordingMailServer.refuse -= 1
            raise OSError("connection refused by smtp.example")
        mail.outbox.extend(email_messages)
        return len(email_messages)


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_the_approvers_mail_is_sent_and_a_failure_is_retried(
    key_client, conversation, settings
):
    response = propose(key_client, conversation)
    approval_id = response.json()["approval"]["id"]
    settings.EMAIL_BACKEND = f"{__name__}.RecordingMailServer"
    RecordingMailServer.calls, RecordingMailServer.refuse = [], 1
    ApprovalRequest.objects.filter(pk=approval_id).update(emailed_at=None, email_taken_at=None)
    mail.outbox.clear()

    with pytest.raises(OSError):
        approval_email_send(approval_id)  # the mail server refuses: the task's retry sends

    approval = ApprovalRequest.objects.get(pk=approval_id)
    assert (approval.emailed_at, approval.email_taken_at) == (None, None)
    assert approval_email_send(approval_id) == 2  # the tenant's two approvers
    assert approval_email_send(approval_id) == 0  # sent: a second delivery sends nothing
    assert RecordingMailServer.calls == [False, False]  # neither call inside a transaction
    assert len(mail.outbox) == 1
    assert ApprovalRequest.objects.get(pk=approval_id).emailed_at is not None


def test_a_worker_that_died_sending_the_approvers_mail_leaves_it_to_the_next_delivery(
    key_client, conversation
):
    response = propose(key_client, conversation)
    approval_id = response.json()["approval"]["id"]
    mail.outbox.clear()
    taken = timezone.now() - dt.timedelta(seconds=30)
    ApprovalRequest.objects.filter(pk=approval_id).update(emailed_at=None, email_taken_at=taken)

    assert approval_email_send(approval_id) == 0  # another worker may still be sending it

    ApprovalRequest.objects.filter(pk=approval_id).update(
        email_taken_at=timezone.now() - EMAIL_LEASE - dt.timedelta(seconds=1)
    )
    assert approval_email_send(approval_id) == 2  # its lease ran out: the worker died
    assert len(mail.outbox) == 1
