"""Regressions: each test is a request or a condition the fuzzers (test_api_schema.py,
test_condition_fuzz.py) found answering 500 or raising, reduced to its essence."""

from __future__ import annotations

import pytest

AGENT = "/api/v1/agents/agent-sup"


@pytest.fixture
def sup(tenant):
    from agents.models import Agent

    return Agent.objects.create(tenant=tenant, slug="agent-sup", name="Desk", role="supervisor")


@pytest.mark.parametrize(
    ("knowledge", "field"),
    [
        ([{"question": "q", "answer": "a", "action": {}}], "knowledge[0].action.name"),
        ([{"question": "q", "answer": "a", "action": {"params": {}}}], "knowledge[0].action.name"),
        ([{"answer": "a"}], "knowledge[0].question"),
        ([{"question": "q"}], "knowledge[0].answer"),
    ],
)
def test_a_patch_with_an_incomplete_knowledge_entry_is_400_not_500(
    key_client, sup, knowledge, field
):
    """PATCH is partial, and DRF used to skip the required fields of nested objects too: an
    action without a name reached ``data["name"]`` (KeyError, 500)."""
    response = key_client.patch(AGENT, {"knowledge": knowledge}, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_patch_still_leaves_out_top_level_fields(key_client, sup):
    response = key_client.patch(AGENT, {"name": "Front desk"}, format="json")

    assert response.status_code == 200
    assert response.json()["name"] == "Front desk"
    assert response.json()["role"] == "supervisor"


def test_api_keys_document_their_nullable_dates(client):
    schema = client.get("/api/schema/?format=json").json()
    key = schema["components"]["schemas"]["ApiKey"]["properties"]

    assert key["revokedAt"].get("nullable") is True
    assert key["lastUsedAt"].get("nullable") is True


def test_every_operation_documents_the_api_errors(client):
    schema = client.get("/api/schema/?format=json").json()

    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if method == "parameters":
                continue
            responses = operation["responses"]
            assert {"400", "401", "403", "404", "429"} <= set(responses), (method, path)
            assert "Retry-After" in responses["429"]["headers"]


# -- NUL characters: PostgreSQL text and jsonb cannot hold them (a DataError, 500, on PG) --------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/agents/agent%00",
        "/api/v1/metrics?agentId=%00",
        "/api/v1/approvals?status=pending&conversationId=a%00",
        "/api/v1/handoffs?mode=hot%00",
    ],
)
def test_a_nul_in_an_api_url_is_400_invalid(key_client, sup, path):
    response = key_client.get(path)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "NUL" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/admin/orchestration/tenant/?q=%00", "/inbox/%00"])
def test_a_nul_in_a_page_url_is_400(manager_client, path):
    assert manager_client.get(path).status_code == 400


@pytest.mark.parametrize("cookie", ["sessionid=abcdefgh\x00ijkl", "csrftoken=\x00"])
def test_a_nul_in_a_cookie_is_400(client, cookie):
    assert client.get("/api/v1/agents", HTTP_COOKIE=cookie).status_code == 400
    assert client.get("/admin/", HTTP_COOKIE=cookie).status_code == 400


STEP = {"agent": "agent-sup", "condition": "start"}
CUSTOMER = {"id": "c", "attributes": {"note": "\x00"}}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/workflows", {"name": "a\x00b", "steps": [STEP]}),
        ("/api/v1/stack-templates", {"name": "\x00", "agentId": "agent-sup"}),
        ("/api/v1/agents", {"id": "x", "name": "X", "role": "supervisor", "runtime": {"\x00": 1}}),
        ("/api/v1/conversations", {"agentId": "agent-sup", "channel": "web", "customer": CUSTOMER}),
    ],
)
def test_a_nul_anywhere_in_a_json_body_is_400(key_client, sup, path, body):
    response = key_client.post(path, body, format="json")

    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]


def test_a_nul_in_action_params_is_400_and_nothing_is_requested(key_client, sup):
    from approvals.models import ApprovalRequest

    conversation = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "email", "customer": {"id": "c-1"}},
        format="json",
    ).json()

    response = key_client.post(
        f"/api/v1/conversations/{conversation['id']}/actions",
        {
            "action": "issue_refund",
            "params": {"orderId": "\x00", "amount": 5},
            "idempotencyKey": "k",
        },
        format="json",
    )

    assert response.status_code == 400
    assert ApprovalRequest.objects.count() == 0


def test_json_without_nul_still_passes(key_client, sup):
    response = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": "c", "name": "Zoë \\u0001"}},
        format="json",
    )

    assert response.status_code == 201


# -- NUL on the websockets ---------------------------------------------------------------------

ORIGIN = (b"origin", b"http://localhost")


@pytest.mark.parametrize(
    ("path", "cookie"),
    [
        ("/ws/inbox/", b"sessionid=abcdefgh\x00ijk"),
        ("/ws/inbox/?x=%00", b""),
        ("/ws/conversations/00000000-0000-0000-0000-000000000000/?token=a%00b", b""),
    ],
)
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_socket_with_a_nul_in_its_cookie_or_query_is_refused(path, cookie):
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    headers = [ORIGIN, (b"cookie", cookie)] if cookie else [ORIGIN]
    communicator = WebsocketCommunicator(application, path, headers=headers)

    connected, _ = await communicator.connect()

    assert connected is False


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_customer_message_with_a_nul_is_an_error_event_and_the_socket_goes_on(tenant):
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from config.asgi import application
    from tests.handover.conftest import _make_team_sync
    from tests.handover.test_consumers import _open_conversation_with_token, receive_until

    await sync_to_async(_make_team_sync)(tenant)
    conversation, token = await sync_to_async(_open_conversation_with_token)(tenant)
    customer = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.pk}/?token={token}", headers=[ORIGIN]
    )
    assert (await customer.connect())[0]
    await receive_until(customer, "conversation.snapshot")

    await customer.send_json_to({"type": "message.send", "text": "a\x00b"})
    refused = await receive_until(customer, "error")
    await customer.send_json_to({"type": "message.send", "text": "hello"})
    created = await receive_until(customer, "message.created")

    assert "NUL" in refused["error"]
    assert created["message"]["text"] == "hello"
    await customer.disconnect()
