"""Separation of duties: nobody decides an approval they caused. A request records who asked
(a person, or an integration key and the person who created it), who opened its
conversation (the same) and who sent the customer message the AI answered; each of them is
refused on every door (API, approvals page, admin), the inbox and the e-mail leave them
out, and a quorum is reached by other people only."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from agents.rule_sets import rules_replace
from approvals.models import ApprovalDecision, ApprovalRequest, CauseKind
from approvals.notifications import approver_emails
from approvals.selectors import approvals_pending_for
from core import services
from orchestration.inbox import inbox_snapshot
from tests.approvals.conftest import approval_rules, client_for, propose
from tests.conftest import login
from tests.factories import make_api_key, make_person

pytestmark = pytest.mark.django_db

APPROVERS = ["alice", "maria", "mark", "group:finance"]


@pytest.fixture
def maria(tenant, people, agent):
    """A manager who also approves, listed on the rules (the issue's second attack)."""
    person = make_person(
        tenant=tenant, roles=["manager", "approver"], username="maria", email="m@acme.test"
    )
    make_person(tenant=tenant, roles=["manager", "approver"], username="mark")
    rules_replace(agent=agent, document=approval_rules(approvers=APPROVERS))
    return person


@pytest.fixture
def refund_entry(agent):
    agent.knowledge.create(
        question="I want a refund for my whole order",
        keywords=["whole order"],
        answer="I have asked for a full refund.",
        action="issue_refund",
        action_params={"orderId": "A9", "amount": 240},
    )
    return agent


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def token_client(person) -> APIClient:
    _, raw = services.personal_token_create(user=person, name="laptop")
    return bearer(raw)


def open_and_ask(client, agent, text="I want a refund for my whole order", *, sender=None):
    """Open a conversation through the API with ``client``, then send the customer's message
    (with ``sender``, else the same client); returns the AI's approval request."""
    started = client.post(
        "/api/v1/conversations",
        {"agentId": agent.slug, "channel": "api", "customer": {"id": "cust-9", "name": "Kim"}},
        format="json",
    )
    assert started.status_code == 201, started.json()
    sent = (sender or client).post(
        f"/api/v1/conversations/{started.json()['id']}/messages", {"text": text}, format="json"
    )
    assert sent.status_code == 201, sent.json()
    assert sent.json()["approval"]["status"] == "pending"
    return ApprovalRequest.objects.get(pk=sent.json()["approval"]["id"])


def approve(client, approval):
    return client.post(f"/api/v1/approvals/{approval.pk}/approve", {}, format="json")


# --- the two attacks of the issue -------------------------------------------------------------


def test_an_approver_cannot_approve_what_the_ai_proposed_in_a_conversation_she_opened(
    maria, refund_entry, people, eager_tasks
):
    # maria opens a conversation through the API (signed in), writes as the customer, and the
    # AI asks for a refund of 240
    approval = open_and_ask(client_for(maria), refund_entry)

    response = approve(client_for(maria), approval)

    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "You opened the conversation this action was asked for in; someone else must decide it."
    )
    approval.refresh_from_db()
    assert approval.status == "pending"
    assert not ApprovalDecision.objects.exists()
    assert approve(token_client(maria), approval).status_code == 403  # with a token too
    assert approve(client_for(people["alice"]), approval).status_code == 200


def test_a_manager_who_approves_cannot_approve_what_she_proposed_through_her_key(
    tenant, maria, conversation, people, eager_tasks
):
    key, raw = make_api_key(tenant=tenant, name="maria-crm", created_by=maria)

    response = propose(bearer(raw), conversation)
    assert response.status_code == 202
    approval = ApprovalRequest.objects.get(pk=response.json()["approval"]["id"])
    assert approval.requested_by is None and approval.requested_by_key == key

    refused = approve(client_for(maria), approval)

    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == (
        "This action was asked for through the API key “maria-crm”, which you created; "
        "someone else must decide it."
    )
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "pending"
    assert approve(client_for(people["alice"]), approval).status_code == 200


# --- every way of causing a request ---------------------------------------------------------------


def test_a_conversation_opened_with_a_key_stands_for_the_person_who_created_the_key(
    tenant, maria, refund_entry, people
):
    _, raw = make_api_key(tenant=tenant, name="maria-bot", created_by=maria)

    approval = open_and_ask(bearer(raw), refund_entry)

    assert [(c.username, c.kind, c.key_name) for c in approval.causes.all()] == [
        ("maria", CauseKind.OPENED_KEY, "maria-bot"),
        ("maria", CauseKind.WROTE_KEY, "maria-bot"),
    ]
    assert approve(token_client(maria), approval).json()["error"]["message"] == (
        "The conversation this action was asked for in was opened through the API key "
        "“maria-bot”, which you created; someone else must decide it."
    )
    assert approve(client_for(people["alice"]), approval).status_code == 200


def test_whoever_sent_the_message_the_ai_answered_may_not_decide(
    tenant, maria, refund_entry, people
):
    # a key nobody is behind opens the conversation; mark writes the customer's message with
    # his personal token
    mark = maria.__class__.objects.get(username="mark")
    _, raw = make_api_key(tenant=tenant, name="shop")

    approval = open_and_ask(bearer(raw), refund_entry, sender=token_client(mark))

    body = client_for(people["alice"]).get(f"/api/v1/approvals/{approval.pk}").json()
    assert body["causedBy"] == [{"username": "mark", "how": "wrote"}]
    assert approve(client_for(mark), approval).status_code == 403
    assert approve(client_for(maria), approval).status_code == 200


def test_a_person_who_asked_in_a_conversation_someone_else_opened_is_refused_and_so_is_the_opener(
    tenant, maria, people
):
    from agents.models import Agent

    mark = maria.__class__.objects.get(username="mark")
    agent = Agent.objects.get(slug="agent-billing")
    started = client_for(maria).post(
        "/api/v1/conversations",
        {"agentId": agent.slug, "channel": "api", "customer": {"id": "cust-3"}},
        format="json",
    )
    conversation = agent.tenant.conversations.get(pk=started.json()["id"])

    response = propose(client_for(mark), conversation)

    approval = ApprovalRequest.objects.get(pk=response.json()["approval"]["id"])
    assert sorted((c.username, c.kind) for c in approval.causes.all()) == [
        ("maria", "opened"),
        ("mark", "asked"),
    ]
    assert approve(client_for(mark), approval).status_code == 403
    assert approve(client_for(maria), approval).status_code == 403
    assert approve(client_for(people["alice"]), approval).status_code == 200


def test_a_conversation_from_the_public_chat_has_nobody_behind_it(
    client, tenant, maria, refund_entry, people
):
    from agents.models import Agent

    # the chat widget starts with the tenant's entry agent: make it the one with the entry
    Agent.objects.exclude(pk=refund_entry.pk).delete()
    response = client.post(
        f"/chat/{tenant.slug}/start",
        {"name": "Kim", "text": "I want a refund for my whole order"},
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    approval = ApprovalRequest.objects.get()
    assert list(approval.causes.all()) == []
    assert approve(client_for(maria), approval).status_code == 200


# --- a quorum counts other people only ----------------------------------------------------------


def test_the_causer_never_counts_towards_a_quorum(tenant, maria, agent, conversation, people):
    rules_replace(agent=agent, document=approval_rules(approvers=APPROVERS, quorum=2))
    _, raw = make_api_key(tenant=tenant, name="maria-crm", created_by=maria)
    approval = ApprovalRequest.objects.get(
        pk=propose(bearer(raw), conversation).json()["approval"]["id"]
    )

    assert approve(client_for(maria), approval).status_code == 403
    first = approve(client_for(people["alice"]), approval).json()
    assert (first["status"], first["approvals"]) == ("pending", 1)
    second = approve(client_for(people["bob"]), approval).json()  # bob: group:finance

    assert second["status"] in ("approved", "executed")
    assert [d.approver_label for d in ApprovalDecision.objects.order_by("id")] == ["alice", "bob"]


# --- the other doors ------------------------------------------------------------------------------


def test_the_approvals_page_says_who_caused_it_and_refuses_them(maria, refund_entry, people):
    approval = open_and_ask(client_for(maria), refund_entry)
    page = login(maria)

    detail = page.get(f"/approvals/{approval.pk}/").content.decode()
    posted = page.post(f"/approvals/{approval.pk}/approve", {"reason": ""})

    origin = re.search(r'<p class="origin small" id="origin">(.*?)</p>', detail).group(1)
    assert origin == (
        "Requested by the AI agent Billing in a conversation opened by maria, answering a "
        "message maria sent; maria may not decide it."
    )
    assert 'class="decide"' not in detail
    assert "You opened the conversation this action was asked for in" in detail
    assert posted.status_code == 403
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "pending"
    # another approver sees the same sentence and may decide
    theirs = login(people["alice"]).get(f"/approvals/{approval.pk}/").content.decode()
    assert "maria may not decide it." in theirs
    assert 'class="decide"' in theirs


def test_the_page_names_the_key_behind_the_conversation(tenant, maria, refund_entry, people):
    _, raw = make_api_key(tenant=tenant, name="K", created_by=maria)
    approval = open_and_ask(bearer(raw), refund_entry)

    detail = login(people["alice"]).get(f"/approvals/{approval.pk}/").content.decode()

    assert (
        "Requested by the AI agent Billing in a conversation opened by maria through the API "
        "key “K”, answering a message maria sent through the API key “K”; maria may not "
        "decide it." in detail
    )


def test_the_admin_action_refuses_the_person_who_caused_it(tenant, maria, conversation):
    _, raw = make_api_key(tenant=tenant, name="maria-crm", created_by=maria)
    approval_id = propose(bearer(raw), conversation).json()["approval"]["id"]

    response = login(maria).post(
        "/admin/approvals/approvalrequest/",
        {"action": "approve_selected", "_selected_action": [approval_id]},
        follow=True,
    )

    assert f"#{approval_id}: This action was asked for through the API key" in (
        response.content.decode().replace("&ldquo;", "“").replace("&rdquo;", "”")
    )
    assert ApprovalRequest.objects.get(pk=approval_id).status == "pending"
    change = login(maria).get(f"/admin/approvals/approvalrequest/{approval_id}/change/")
    assert "maria may not decide it." in change.content.decode()


def test_the_inbox_the_queue_and_the_email_leave_the_causer_out(
    tenant, maria, conversation, people, django_capture_on_commit_callbacks, eager_tasks
):
    _, raw = make_api_key(tenant=tenant, name="maria-crm", created_by=maria)
    with django_capture_on_commit_callbacks(execute=True):
        approval_id = propose(bearer(raw), conversation).json()["approval"]["id"]
    approval = ApprovalRequest.objects.get(pk=approval_id)

    assert approvals_pending_for(maria) == []
    assert inbox_snapshot(maria, tenant)["approvals"] == []
    assert [a["id"] for a in inbox_snapshot(people["alice"], tenant)["approvals"]] == [approval_id]
    assert "m@acme.test" not in approver_emails(approval)
    assert sorted(mail.outbox[0].to) == ["a@acme.test", "b@acme.test"]
    queue = login(maria).get("/approvals/").content.decode()
    assert f'data-approval="{approval_id}"' in queue  # under "waiting for others" only
    assert "you approved these, or caused them" in queue
    assert 'Waiting for your decision <span class="count">0</span>' in queue


def test_a_causer_who_is_deleted_later_leaves_the_other_approvers_emailed(
    tenant, maria, conversation, people
):
    _, raw = make_api_key(tenant=tenant, name="maria-crm", created_by=maria)
    approval = ApprovalRequest.objects.get(
        pk=propose(bearer(raw), conversation).json()["approval"]["id"]
    )

    maria.delete()

    assert approval.causes.get().user is None
    assert approver_emails(approval) == ["a@acme.test", "b@acme.test"]
