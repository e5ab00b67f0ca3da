"""Decisions: only listed approvers of the same tenant, never the requester, final once made,
a quorum of distinct people, a reason to deny."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from agents.rule_sets import rules_replace
from approvals.models import ActionExecution, ApprovalRequest, LedgerEntry
from approvals.selectors import approvals_pending_for
from approvals.services import ApprovalConflict, NotAnApprover, approval_decide
from conversations.models import (
    DecisionEvent,
    Message,
)
from core.errors import Invalid
from tests.approvals.conftest import approval_rules, client_for, propose
from tests.factories import make_api_key, make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(key_client, conversation):
    response = propose(key_client, conversation)
    assert response.status_code == 202
    return ApprovalRequest.objects.get(pk=response.json()["approval"]["id"])


def decide(client, approval, verdict="approve", reason=None):
    body = {} if reason is None else {"reason": reason}
    return client.post(f"/api/v1/approvals/{approval.pk}/{verdict}", body, format="json")


# --- who may decide -----------------------------------------------------------------------------


def test_an_integration_key_cannot_decide(key_client, pending):
    response = decide(key_client, pending)

    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "forbidden",
        "message": "This needs the approver role.",
    }
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_a_person_who_is_not_an_approver_of_it_cannot_decide(people, pending):
    dave = make_person(tenant=pending.tenant, roles=["approver"], username="dave")

    carol = decide(client_for(people["carol"]), pending)  # no approver role: the matrix says no
    unlisted = decide(client_for(dave), pending)  # an approver, but not one of this request's

    assert carol.status_code == 403
    assert carol.json()["error"]["code"] == "forbidden"
    assert unlisted.status_code == 403
    assert unlisted.json()["error"]["code"] == "forbidden"  # one word for 403, as the matrix
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_the_requester_never_decides_their_own_request(people, conversation):
    rita = client_for(people["rita"])  # a listed approver
    approval_id = propose(rita, conversation).json()["approval"]["id"]

    response = rita.post(f"/api/v1/approvals/{approval_id}/approve", {}, format="json")

    assert response.status_code == 403
    assert "someone else" in response.json()["error"]["message"]


def test_another_tenants_approval_is_not_found(other_tenant, pending):
    theirs = make_person(tenant=other_tenant, roles=["approver"], username="alice-globex")
    key_client = APIClient()
    key_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")

    assert decide(client_for(theirs), pending).status_code == 404
    assert client_for(theirs).get(f"/api/v1/approvals/{pending.pk}").status_code == 404
    assert key_client.get(f"/api/v1/approvals/{pending.pk}").status_code == 404
    assert key_client.get("/api/v1/approvals").json() == []


def test_a_person_of_another_tenant_named_like_an_approver_cannot_decide(other_tenant, pending):
    # the service itself checks the tenant, whatever the caller
    impostor = make_person(tenant=other_tenant, roles=["approver"], username="alice2")
    pending.approvers = ["alice2"]
    pending.save()

    with pytest.raises(NotAnApprover):
        approval_decide(approval=pending, user=impostor, verdict="approve")


def test_an_approver_named_by_username_approves(people, pending, eager_tasks):
    response = decide(client_for(people["alice"]), pending, reason="order checked")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "approved"
    assert body["decidedBy"] == "alice"
    assert body["reason"] == "order checked"
    assert body["decisions"][0]["approver"] == "alice"
    assert body["execution"]["status"] == "queued"  # sent to the workers after commit


def test_a_member_of_a_listed_group_approves(people, pending):
    response = decide(client_for(people["bob"]), pending)

    assert response.status_code == 200
    assert response.json()["status"] == "approved"


def test_an_approval_runs_the_action_once_after_commit(
    people, pending, django_capture_on_commit_callbacks, eager_tasks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = decide(client_for(people["alice"]), pending)

    assert response.status_code == 200
    execution = ActionExecution.objects.get(request=pending)
    assert (execution.status, execution.attempts) == ("succeeded", 1)
    assert execution.execution_key == f"approval:{pending.pk}"
    assert LedgerEntry.objects.get().execution_key == execution.execution_key
    pending.refresh_from_db()
    assert pending.status == "executed"
    detail = client_for(people["alice"]).get(f"/api/v1/approvals/{pending.pk}").json()
    assert detail["status"] == "executed"
    assert detail["execution"]["result"]["refundId"].startswith("rf_")
    assert Message.objects.filter(conversation=pending.conversation, role="system").last().text == (
        "Your refund of 150.00 EUR for order A1 was approved and has been carried out."
    )
    types = list(
        DecisionEvent.objects.filter(conversation=pending.conversation).values_list(
            "type", flat=True
        )
    )
    assert types[-2:] == ["approval.decided", "action.executed"]


# --- final once made ----------------------------------------------------------------------------


def test_a_decision_is_final(people, pending):
    assert decide(client_for(people["alice"]), pending).status_code == 200

    again = decide(client_for(people["bob"]), pending)
    deny = decide(client_for(people["bob"]), pending, "deny", reason="too late")

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert "already approved" in again.json()["error"]["message"]
    assert deny.status_code == 409
    assert ActionExecution.objects.count() == 1


def test_a_denial_is_final_too(people, pending):
    assert decide(client_for(people["alice"]), pending, "deny", reason="fraud").status_code == 200

    assert decide(client_for(people["bob"]), pending).status_code == 409
    assert not ActionExecution.objects.exists()


# --- quorum -------------------------------------------------------------------------------------


@pytest.fixture
def four_eyes(agent):
    rules_replace(agent=agent, document=approval_rules(quorum=2))
    return agent


def test_a_quorum_of_two_needs_two_distinct_approvers(
    people, four_eyes, key_client, conversation, eager_tasks
):
    approval_id = propose(key_client, conversation).json()["approval"]["id"]
    alice, bob = client_for(people["alice"]), client_for(people["bob"])

    first = alice.post(f"/api/v1/approvals/{approval_id}/approve", {}, format="json")
    assert first.status_code == 200
    assert (first.json()["status"], first.json()["approvals"]) == ("pending", 1)
    assert not ActionExecution.objects.exists()

    twice = alice.post(f"/api/v1/approvals/{approval_id}/approve", {}, format="json")
    assert twice.status_code == 409
    assert "already approved" in twice.json()["error"]["message"]

    second = bob.post(f"/api/v1/approvals/{approval_id}/approve", {}, format="json")
    assert second.status_code == 200
    assert (second.json()["status"], second.json()["approvals"]) == ("approved", 2)
    assert second.json()["decidedBy"] == "bob"
    assert ActionExecution.objects.filter(request_id=approval_id).count() == 1


def test_in_a_quorum_any_deny_denies(people, four_eyes, key_client, conversation):
    approval_id = propose(key_client, conversation).json()["approval"]["id"]
    client_for(people["alice"]).post(f"/api/v1/approvals/{approval_id}/approve", {}, format="json")

    response = client_for(people["bob"]).post(
        f"/api/v1/approvals/{approval_id}/deny", {"reason": "not eligible"}, format="json"
    )

    assert response.json()["status"] == "denied"
    assert not ActionExecution.objects.exists()


# --- deny ---------------------------------------------------------------------------------------


def test_deny_needs_a_reason(people, pending):
    response = decide(client_for(people["alice"]), pending, "deny", reason="   ")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"reason": ["Give a reason to deny."]}
    with pytest.raises(Invalid):
        approval_decide(approval=pending, user=people["alice"], verdict="deny")
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_a_denial_is_told_to_the_conversation_which_carries_on(people, pending):
    response = decide(client_for(people["alice"]), pending, "deny", reason="refund abuse")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reason"]) == ("denied", "refund abuse")
    conversation = pending.conversation
    conversation.refresh_from_db()
    assert conversation.state == "active"
    told = Message.objects.filter(conversation=conversation).order_by("id").last()
    assert told.role == "system"
    assert told.text.startswith("Your refund of 150.00 EUR for order A1 was not approved")
    assert "refund abuse" not in told.text  # the approver's reason stays internal
    assert conversation.last_activity_at == told.created_at  # telling it is activity
    event = DecisionEvent.objects.filter(conversation=conversation, type="approval.decided").get()
    assert event.detail["outcome"] == "denied"
    assert event.detail["by"] == "alice"


# --- reading ------------------------------------------------------------------------------------


def test_the_list_filters_by_status(people, key_client, conversation):
    first = propose(key_client, conversation, key="a").json()["approval"]["id"]
    second = propose(key_client, conversation, key="b").json()["approval"]["id"]
    client_for(people["alice"]).post(
        f"/api/v1/approvals/{first}/deny", {"reason": "no"}, format="json"
    )

    assert [a["id"] for a in key_client.get("/api/v1/approvals").json()] == [second, first]
    assert [a["id"] for a in key_client.get("/api/v1/approvals?status=pending").json()] == [second]
    assert [a["id"] for a in key_client.get("/api/v1/approvals?status=denied,expired").json()] == [
        first
    ]
    assert key_client.get("/api/v1/approvals?status=bogus").status_code == 400
    assert key_client.get("/api/v1/approvals?limit=x").status_code == 400


def test_the_list_does_not_grow_queries_with_rows(people, key_client, conversation):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(5):
        propose(key_client, conversation, key=f"q{i}")
    with CaptureQueriesContext(connection) as few:
        key_client.get("/api/v1/approvals?limit=1")
    with CaptureQueriesContext(connection) as many:
        key_client.get("/api/v1/approvals")

    assert len(many) == len(few)


def test_pending_for_a_person_lists_what_they_may_decide(people, key_client, conversation):
    mine = propose(key_client, conversation, key="x").json()["approval"]["id"]
    rita = client_for(people["rita"])
    own = propose(rita, conversation, key="y").json()["approval"]["id"]

    assert [a.pk for a in approvals_pending_for(people["alice"])] == [mine, own]
    assert [a.pk for a in approvals_pending_for(people["rita"])] == [mine]  # not her own
    assert approvals_pending_for(people["carol"]) == []
    approval_decide(
        approval=ApprovalRequest.objects.get(pk=mine), user=people["alice"], verdict="approve"
    )
    assert [a.pk for a in approvals_pending_for(people["bob"])] == [own]
    assert [a["id"] for a in rita.get("/api/v1/approvals?mine=true").json()] == []


def test_a_conflict_from_the_service_is_an_exception(people, pending):
    approval_decide(approval=pending, user=people["alice"], verdict="approve")

    with pytest.raises(ApprovalConflict):
        approval_decide(approval=pending, user=people["bob"], verdict="approve")
