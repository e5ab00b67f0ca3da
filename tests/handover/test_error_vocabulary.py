"""One error vocabulary (core.errors) told the same way over HTTP and over the sockets, and one
limit for a message's text at every door (core.limits)."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from config.asgi import application
from core.api_errors import domain_error_response, exception_handler
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.limits import MAX_MESSAGE_TEXT
from handover.consumers import refusal
from handover.models import Handoff
from handover.services import NotAllowed, handoff_claim
from orchestration.turns import ConversationClosed, conversation_receive_message
from tests.factories import TO_PEOPLE, make_person, make_team
from tests.handover.test_consumers import (
    ORIGIN,
    _open_conversation_with_token,
    inbox,
    receive_until,
)
from tests.sockets import Socket

TOO_LONG = "x" * (MAX_MESSAGE_TEXT + 1)
TOO_LONG_WHY = f"must be at most {MAX_MESSAGE_TEXT} characters (it has {MAX_MESSAGE_TEXT + 1})"
TOO_LONG_SAID = {
    "code": "invalid",
    "message": f"text: {TOO_LONG_WHY}",
    "fields": {"text": [TOO_LONG_WHY]},
}

KINDS = [
    (Invalid(fields={"amount": "must be > 0"}), 400, "invalid", "amount: must be > 0"),
    (Forbidden("not yours"), 403, "forbidden", "not yours"),
    (NotFound("no such handoff"), 404, "not_found", "no such handoff"),
    (Conflict("already claimed"), 409, "conflict", "already claimed"),
    (NotAllowed("not a member of this tenant"), 403, "forbidden", "not a member of this tenant"),
    (ConversationClosed("resolved"), 409, "conversation_closed", "resolved"),
]


@pytest.mark.parametrize(("exc", "status", "code", "message"), KINDS)
def test_each_kind_has_one_status_and_body_over_http(exc, status, code, message):
    api = exception_handler(exc, {})
    page = domain_error_response(exc)

    assert api.status_code == page.status_code == status
    assert api.data["error"]["code"] == code
    assert api.data["error"]["message"] == message
    assert json.loads(page.content) == api.data


@pytest.mark.parametrize(("exc", "status", "code", "message"), KINDS)
def test_each_kind_is_the_same_in_a_socket_frame(exc, status, code, message):
    said = refusal(exc)

    assert said["code"] == code
    assert said["error"] == message
    assert said.get("fields") == (getattr(exc, "fields", None) or None)


# --- over the real doors ------------------------------------------------------------------------


@pytest.mark.django_db
def test_not_a_member_of_this_tenant_is_forbidden_in_handover_as_in_approvals(
    tenant, other_tenant, team, key_client
):
    conversation, _ = _open_conversation_with_token(tenant)
    conversation_receive_message(conversation=conversation, text="I want a human")
    handoff = Handoff.objects.get(conversation=conversation)
    stranger = make_person(tenant=other_tenant, roles=["agent"], username="eve")

    with pytest.raises(Forbidden, match="not a member of this tenant"):
        handoff_claim(handoff=handoff, user=stranger)
    assert exception_handler(NotAllowed("not a member of this tenant"), {}).status_code == 403


@pytest.mark.django_db
def test_a_claim_that_lost_is_409_over_the_api(tenant, team, ada, bob, online, key_client):
    conversation, _ = _open_conversation_with_token(tenant)
    conversation_receive_message(conversation=conversation, text="I want a human")
    handoff = Handoff.objects.get(conversation=conversation)
    handoff_claim(handoff=handoff, user=ada)
    client = APIClient()
    client.force_login(bob)

    response = client.post(f"/api/v1/handoffs/{handoff.pk}/claim")

    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "conflict",
            "message": "This handoff has already been claimed or closed.",
        }
    }


@pytest.mark.django_db
def test_the_api_refuses_a_message_over_the_limit_as_the_sockets_do(
    tenant, team, ada, online, key_client
):
    conversation, _ = _open_conversation_with_token(tenant)
    customer = key_client.post(
        f"/api/v1/conversations/{conversation.pk}/messages", {"text": TOO_LONG}, format="json"
    )
    at_the_limit = key_client.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        {"text": "y" * MAX_MESSAGE_TEXT},
        format="json",
    )
    conversation_receive_message(conversation=conversation, text="I want a human")
    handoff = Handoff.objects.get(conversation=conversation)
    handoff_claim(handoff=handoff, user=ada)
    person = APIClient()
    person.force_login(ada)
    human = person.post(
        f"/api/v1/handoffs/{handoff.pk}/messages", {"text": TOO_LONG}, format="json"
    )

    assert (customer.status_code, customer.json()) == (400, {"error": TOO_LONG_SAID})
    assert (human.status_code, human.json()) == (400, {"error": TOO_LONG_SAID})
    assert at_the_limit.status_code == 201


def _socket_said(frame: dict) -> dict:
    return {"code": frame["code"], "message": frame["error"], "fields": frame["fields"]}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_both_sockets_refuse_a_message_over_the_limit_as_the_api_does(tenant):
    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    agent_socket, _, _ = await inbox(ada)
    conversation, token = await sync_to_async(_open_conversation_with_token)(tenant)
    customer = Socket(
        application, f"/ws/conversations/{conversation.pk}/?token={token}", headers=[ORIGIN]
    )
    assert (await customer.connect())[0]
    await receive_until(customer, "conversation.snapshot")

    await customer.send_json_to({"type": "message.send", "text": TOO_LONG})
    chat_refused = await receive_until(customer, "error")
    await agent_socket.send_json_to(
        {"type": "message.send", "conversationId": str(conversation.pk), "text": TOO_LONG}
    )
    inbox_refused = await receive_until(agent_socket, "message.send.result")

    assert _socket_said(chat_refused) == TOO_LONG_SAID
    assert inbox_refused["ok"] is False
    assert _socket_said(inbox_refused) == TOO_LONG_SAID
    await customer.disconnect()
    await agent_socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_refusals_reach_the_inbox_socket_with_the_apis_codes(tenant):
    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    bob = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="bob")
    conversation, _ = await sync_to_async(_open_conversation_with_token)(tenant)
    await sync_to_async(conversation_receive_message)(
        conversation=conversation, text="I want a human"
    )
    handoff = await sync_to_async(Handoff.objects.get)(conversation=conversation)
    await sync_to_async(handoff_claim)(handoff=handoff, user=ada)
    socket, _, _ = await inbox(bob)
    await receive_until(socket, "inbox.snapshot")

    await socket.send_json_to({"type": "handoff.claim", "handoffId": "seven"})
    invalid = await receive_until(socket, "error")
    await socket.send_json_to({"type": "handoff.claim", "handoffId": 999_999})
    missing = await receive_until(socket, "handoff.claim.result")
    await socket.send_json_to({"type": "handoff.claim", "handoffId": handoff.pk})
    taken = await receive_until(socket, "handoff.claim.result")
    await socket.send_json_to(
        {"type": "message.send", "conversationId": str(conversation.pk), "text": "hello"}
    )
    not_theirs = await receive_until(socket, "message.send.result")

    assert invalid == {
        "type": "error",
        "code": "invalid",
        "error": "handoffId: must be a positive integer",
        "fields": {"handoffId": ["must be a positive integer"]},
    }
    assert (missing["ok"], missing["code"], missing["error"]) == (
        False,
        "not_found",
        "no such handoff",
    )
    assert (taken["code"], taken["error"]) == (
        "conflict",
        "This handoff has already been claimed or closed.",
    )
    assert (not_theirs["code"], not_theirs["error"]) == (
        "conflict",
        "only the person who claimed the conversation can do this",
    )
    await socket.disconnect()
