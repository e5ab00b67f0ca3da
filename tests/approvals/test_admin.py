"""The admin: approval requests of the manager's tenant only, approve and deny through the same
service (so the manager must be a listed approver); executions and the ledger read-only."""

from __future__ import annotations

import pytest

from agents.rule_sets import rules_replace
from approvals.models import ActionExecution, ApprovalRequest, LedgerEntry
from approvals.services import action_propose
from conversations.services import conversation_start
from tests.approvals.conftest import approval_rules
from tests.conftest import login
from tests.factories import make_message, make_person

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/approvals/approvalrequest/"


def pending(conversation, key="k"):
    return action_propose(
        conversation=conversation,
        action="modify_account",
        params={"changes": {"plan": "pro"}},
        idempotency_key=key,
        requested_by_label="agent:agent-billing",
    ).approval


@pytest.fixture
def approving_manager(tenant, agent):
    boss = make_person(tenant=tenant, roles=["manager", "approver"], username="boss")
    rules_replace(agent=agent, document=approval_rules(approvers=["boss", "alice"]))
    return boss


@pytest.fixture
def theirs(other_tenant):
    from agents.models import Agent

    make_person(tenant=other_tenant, roles=["approver"], username="globex-approver")
    agent = Agent.objects.create(tenant=other_tenant, slug="x", name="X", role="specialist")
    rules_replace(agent=agent, document=approval_rules(approvers=["globex-approver"]))
    conv, _ = conversation_start(
        tenant=other_tenant, agent=agent, channel="api", customer={"id": "c"}
    )
    approval = pending(conv)
    ApprovalRequest.objects.filter(pk=approval.pk).update(approvers=["boss"])  # even so
    return approval


def test_a_manager_who_is_an_approver_approves_in_the_admin(
    approving_manager, conversation, django_capture_on_commit_callbacks, eager_tasks
):
    approval = pending(conversation)
    client = login(approving_manager)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CHANGELIST,
            {"action": "approve_selected", "_selected_action": [approval.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert f"Approved #{approval.pk}" in response.content.decode()
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by) == ("executed", approving_manager)
    assert LedgerEntry.objects.count() == 1


def test_a_manager_who_is_not_a_listed_approver_is_refused(manager, conversation):
    approval = pending(conversation)

    response = login(manager).post(
        CHANGELIST, {"action": "approve_selected", "_selected_action": [approval.pk]}, follow=True
    )

    assert "not an approver of this request" in response.content.decode()
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_deny_in_the_admin_asks_for_a_reason_first(approving_manager, conversation):
    approval = pending(conversation)
    client = login(approving_manager)

    ask = client.post(CHANGELIST, {"action": "deny_selected", "_selected_action": [approval.pk]})
    assert ask.status_code == 200
    assert b'name="reason"' in ask.content
    approval.refresh_from_db()
    assert approval.status == "pending"

    empty = client.post(
        CHANGELIST,
        {
            "action": "deny_selected",
            "_selected_action": [approval.pk],
            "apply": "yes",
            "reason": "",
        },
    )
    assert b"This field is required" in empty.content
    done = client.post(
        CHANGELIST,
        {
            "action": "deny_selected",
            "_selected_action": [approval.pk],
            "apply": "yes",
            "reason": "not allowed on this plan",
        },
        follow=True,
    )
    assert f"Denied #{approval.pk}" in done.content.decode()
    approval.refresh_from_db()
    assert (approval.status, approval.reason) == ("denied", "not allowed on this plan")


def test_the_admin_lists_and_acts_on_the_managers_tenant_only(
    approving_manager, conversation, theirs
):
    mine = pending(conversation)
    client = login(approving_manager)

    listing = client.get(CHANGELIST).content.decode()
    assert f"/admin/approvals/approvalrequest/{mine.pk}/change/" in listing
    assert f"/admin/approvals/approvalrequest/{theirs.pk}/change/" not in listing
    assert client.get(f"{CHANGELIST}{theirs.pk}/change/").status_code == 404

    client.post(CHANGELIST, {"action": "approve_selected", "_selected_action": [theirs.pk]})
    theirs.refresh_from_db()
    assert theirs.status == "pending"


def test_a_request_shows_its_conversation_and_is_read_only(approving_manager, conversation):
    make_message(conversation, text="Upgrade me")
    approval = pending(conversation)

    page = login(approving_manager).get(f"{CHANGELIST}{approval.pk}/change/")

    assert page.status_code == 200
    assert b"Upgrade me" in page.content
    assert b'name="status"' not in page.content
    assert login(approving_manager).get(f"{CHANGELIST}add/").status_code == 403


def test_executions_and_the_ledger_are_read_only(
    approving_manager, conversation, django_capture_on_commit_callbacks, eager_tasks
):
    from approvals.services import approval_decide

    approval = pending(conversation)
    with django_capture_on_commit_callbacks(execute=True):
        approval_decide(approval=approval, user=approving_manager, verdict="approve")
    execution = ActionExecution.objects.get()
    entry = LedgerEntry.objects.get()
    client = login(approving_manager)

    assert client.get("/admin/approvals/actionexecution/").status_code == 200
    assert client.get(f"/admin/approvals/actionexecution/{execution.pk}/change/").status_code == 200
    assert client.get("/admin/approvals/actionexecution/add/").status_code == 403
    assert (
        client.post(f"/admin/approvals/actionexecution/{execution.pk}/delete/").status_code == 403
    )
    assert client.get(f"/admin/approvals/ledgerentry/{entry.pk}/change/").status_code == 200
    assert client.post(f"/admin/approvals/ledgerentry/{entry.pk}/delete/").status_code == 403
