"""Regressions: each test is a request or a condition the fuzzers (test_api_schema.py,
test_condition_fuzz.py) found answering 500 or raising, reduced to its essence."""

from __future__ import annotations

import json

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


@pytest.mark.parametrize("path", ["/admin/core/tenant/?q=%00", "/inbox/%00"])
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
    from config.asgi import application
    from tests.sockets import Socket

    headers = [ORIGIN, (b"cookie", cookie)] if cookie else [ORIGIN]
    communicator = Socket(application, path, headers=headers)

    connected, _ = await communicator.connect()

    assert connected is False


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_customer_message_with_a_nul_is_an_error_event_and_the_socket_goes_on(tenant):
    from asgiref.sync import sync_to_async

    from config.asgi import application
    from tests.factories import TO_PEOPLE, make_team
    from tests.handover.test_consumers import _open_conversation_with_token, receive_until
    from tests.sockets import Socket

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    conversation, token = await sync_to_async(_open_conversation_with_token)(tenant)
    customer = Socket(
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


# -- issue 15: lone surrogates, deep nesting and overflowing numbers in JSON (one JSON door) -----
# A lone surrogate ("\ud800") is valid JSON and cannot be encoded as UTF-8: PostgreSQL refused
# it (a 500) wherever it reached text or jsonb. 100,000 nested brackets raised RecursionError in
# Python's parser, and 1e400 read as Infinity, which jsonb refuses.

SURROGATE = "\ud800"


def send_raw(client, path, body, method="post"):
    """``body`` as JSON text with its lone surrogates escaped (``\\ud800``), as a hostile
    client writes them (DRF's renderer could not even encode them)."""
    text = body if isinstance(body, str) else json.dumps(body)
    return getattr(client, method)(path, data=text, content_type="application/json")


SURROGATE_BODIES = [
    (
        "post",
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": "c", "name": SURROGATE}},
        "customer.name",
    ),
    (
        "post",
        "/api/v1/conversations",
        {
            "agentId": "agent-sup",
            "channel": "web",
            "customer": {"id": "c", "attributes": {"tier": ["gold", f"x{SURROGATE}"]}},
        },
        "customer.attributes.tier[1]",
    ),
    (
        "post",
        "/api/v1/conversations",
        {
            "agentId": "agent-sup",
            "channel": "web",
            "customer": {"id": "c", "attributes": {SURROGATE: 1}},
        },
        "customer.attributes",
    ),
    (
        "post",
        "/api/v1/workflows",
        {"name": "w", "steps": [{"agent": "agent-sup", "condition": f'intent == "{SURROGATE}"'}]},
        "steps[0].condition",
    ),
    (
        "post",
        f"{AGENT}/orchestration/rules",
        {"handoffs": [{"condition": f"intent == '{SURROGATE}'", "targetAgentId": "agent-sup"}]},
        "handoffs[0].condition",
    ),
    (
        "patch",
        "/api/v1/orchestrator-settings",
        {"routingInstructions": SURROGATE},
        "routingInstructions",
    ),
    (
        "post",
        "/api/v1/stacks/import",
        {"template": {"format": "stack-template", "version": 1, "agents": [{"id": SURROGATE}]}},
        "template.agents[0].id",
    ),
    ("patch", AGENT, {"name": f"Desk {SURROGATE}"}, "name"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), SURROGATE_BODIES)
def test_a_lone_surrogate_anywhere_in_a_json_body_is_400_at_its_field(
    key_client, sup, method, path, body, field
):
    response = send_raw(key_client, path, body, method)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "lone surrogate" in error["fields"][field][0]


def test_a_lone_surrogate_in_action_params_is_400_and_nothing_is_requested(key_client, sup):
    from approvals.models import ApprovalRequest

    conversation = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "email", "customer": {"id": "c-1"}},
        format="json",
    ).json()

    response = send_raw(
        key_client,
        f"/api/v1/conversations/{conversation['id']}/actions",
        {
            "action": "issue_refund",
            "params": {"orderId": SURROGATE, "amount": 5},
            "idempotencyKey": "k",
        },
    )

    assert response.status_code == 400
    assert "params.orderId" in response.json()["error"]["fields"]
    assert ApprovalRequest.objects.count() == 0


def test_a_surrogate_pair_is_a_character_and_passes(key_client, sup):
    response = send_raw(
        key_client,
        "/api/v1/conversations",
        {
            "agentId": "agent-sup",
            "channel": "web",
            "customer": {"id": "c", "name": "Kim \U0001f600"},
        },
    )

    assert response.status_code == 201
    assert response.json()["customer"]["name"] == "Kim \U0001f600"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        '{"agentId": "agent-sup", "customer": {"attributes": ' + "[" * 65 + "]" * 65 + "}}",
    ],
    ids=["arrays", "objects", "65-deep-attributes"],
)
def test_json_nested_too_deep_is_400_not_a_recursion_error(key_client, sup, text):
    response = send_raw(key_client, "/api/v1/conversations", text)

    assert response.status_code == 400
    assert "nested deeper than 64" in response.json()["error"]["message"]


def test_brackets_inside_strings_do_not_count_as_nesting(key_client, sup):
    response = send_raw(
        key_client,
        "/api/v1/conversations",
        {
            "agentId": "agent-sup",
            "channel": "web",
            "customer": {"id": "[" * 200, "name": "{" * 200},
        },
    )

    assert response.status_code == 201


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 400 + ".0"])
def test_a_number_that_overflows_to_infinity_is_400(key_client, sup, number):
    conversation = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "email", "customer": {"id": "c-1"}},
        format="json",
    ).json()

    response = send_raw(
        key_client,
        f"/api/v1/conversations/{conversation['id']}/actions",
        '{"action": "issue_refund", "idempotencyKey": "k", '
        f'"params": {{"orderId": "A-1", "amount": {number}}}}}',
    )

    assert response.status_code == 400
    assert "too large" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "condition",
    ['intent != "\\uD83D" and turns >= 0', "intent != '\\uDE00\\uD83D'"],
)
def test_a_condition_escaping_half_a_surrogate_pair_is_400_at_its_column(
    key_client, sup, condition
):
    """The condition fuzzer found it: ``"\\uD83D"`` (clean JSON text) was decoded by the
    condition language into a lone surrogate; the rules were saved, and every customer message
    after that was a 500 on PostgreSQL when the fired rule's explanation was stored."""
    response = key_client.post(
        f"{AGENT}/orchestration/rules",
        {"handoffs": [{"condition": condition, "targetAgentId": "agent-sup"}]},
        format="json",
    )

    assert response.status_code == 400
    message = response.json()["error"]["fields"]["handoffs[0].condition"][0]
    assert message.startswith("column ")
    assert "surrogate pair" in message


def test_a_condition_with_a_surrogate_pair_escape_fires_and_is_stored(key_client, sup):
    from agents.models import Agent
    from conversations.models import DecisionEvent

    Agent.objects.create(
        tenant=sup.tenant, slug="agent-b", name="B", role="specialist", supervisor=sup
    )
    rules = key_client.post(
        f"{AGENT}/orchestration/rules",
        {"handoffs": [{"condition": 'intent != "\\uD83D\\uDE00"', "targetAgentId": "agent-b"}]},
        format="json",
    )
    conversation = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": "c"}},
        format="json",
    ).json()

    message = key_client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", {"text": "hello"}, format="json"
    )

    assert rules.status_code == 201
    assert message.status_code == 201
    assert DecisionEvent.objects.filter(type="rule.fired").exists()


# -- the admin's JSON fields, pasted documents and uploads --------------------------------------


def test_an_intent_keyword_with_a_surrogate_or_a_nul_is_a_form_error(manager_client, tenant):
    from agents.models import Intent

    for keywords in ('["\\ud800"]', "refund, a\x00b"):
        page = manager_client.post(
            "/admin/agents/intent/add/",
            {"name": "refunds", "keywords": keywords, "phrases": ""},
        )

        assert page.status_code == 200
        assert page.context["adminform"].form.errors["keywords"]
    assert not Intent.objects.exists()


def test_a_knowledge_action_with_a_surrogate_in_its_params_is_a_form_error(manager_client, sup):
    from agents.models import Agent

    page = manager_client.post(
        "/admin/agents/agent/add/",
        {
            "slug": "agent-tech",
            "name": "Tech",
            "role": "supervisor",
            "supervisor": "",
            "domains": "",
            "pattern": "handoff",
            "runtime": "builtin",
            "runtime_config": "",
            "prompt": "",
            "knowledge-TOTAL_FORMS": "1",
            "knowledge-INITIAL_FORMS": "0",
            "knowledge-0-position": "0",
            "knowledge-0-question": "Refund?",
            "knowledge-0-keywords": "refund",
            "knowledge-0-answer": "Sure.",
            "knowledge-0-action": "issue_refund",
            "knowledge-0-action_params": '{"orderId": "\\ud800", "amount": 5}',
        },
    )

    assert page.status_code == 200
    assert "lone surrogate" in page.content.decode()
    assert not Agent.objects.filter(slug="agent-tech").exists()


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ('{"format": "stack-template", "name": "\\ud800"}', "lone surrogate"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper"),
        ('{"format": "stack-template", "version": 1e400}', "too large"),
    ],
    ids=["surrogate", "deep", "infinity"],
)
def test_a_hostile_stack_document_is_a_form_error_when_published_imported_or_uploaded(
    manager_client, tenant, document, reason
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from stacks.models import StackTemplate

    published = manager_client.post(
        "/admin/stacks/stacktemplate/add/", {"name": "Hostile", "document": document}
    )
    pasted = manager_client.post(
        "/admin/stacks/stacktemplate/import/", {"template": document, "preview": "1"}
    )
    uploaded = manager_client.post(
        "/admin/stacks/stacktemplate/import/",
        {"upload": SimpleUploadedFile("s.json", document.encode()), "preview": "1"},
    )

    for page in (published, pasted, uploaded):
        assert page.status_code == 200
        assert reason in page.content.decode().lower()
    assert not StackTemplate.objects.exists()


@pytest.mark.parametrize(
    ("draft", "reason"),
    [
        (
            '{"handoffs": [{"condition": "intent == \\"\\ud800\\"", "targetAgentId": "a"}]}',
            "surrogate",
        ),
        ("[" * 100_000 + "]" * 100_000, "Nested deeper"),
        ('{"escalation": {"maxAttempts": 1e400}}', "too large"),
    ],
    ids=["surrogate", "deep", "infinity"],
)
def test_a_hostile_backtest_draft_is_a_form_error(manager_client, sup, draft, reason):
    from insight.models import Backtest

    page = manager_client.post(
        "/admin/insight/backtest/add/", {"agent": sup.pk, "size": 5, "draft": draft}
    )

    assert page.status_code == 200
    assert reason in page.context["form"].errors["draft"][0]
    assert Backtest.objects.count() == 0


# -- the public chat's start: NUL and surrogates left empty conversations behind ----------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Kim", "text": "hello\x00"}, "text"),
        ({"name": "Kim", "text": f"hello {SURROGATE}"}, "text"),
        ({"name": f"K{SURROGATE}m", "text": "hello"}, "name"),
        ({"name": "K\x00m", "text": "hello"}, "name"),
    ],
)
def test_a_chat_start_with_a_nul_or_a_surrogate_is_400_and_starts_nothing(client, sup, body, field):
    from conversations.models import Conversation

    as_json = send_raw(client, "/chat/acme/start", body)
    has_surrogate = any(SURROGATE in value for value in body.values())
    as_form = None if has_surrogate else client.post("/chat/acme/start", body)

    assert as_json.status_code == 400
    assert as_json.json()["error"]["fields"][field]
    if as_form is not None:
        assert as_form.status_code == 400
        assert as_form.json()["error"]["fields"][field]
    assert not Conversation.objects.exists()


def test_a_chat_start_nested_too_deep_is_400_and_starts_nothing(client, sup):
    from conversations.models import Conversation

    response = send_raw(client, "/chat/acme/start", "[" * 15_000 + "]" * 15_000)

    assert response.status_code == 400
    assert "nested deeper" in response.json()["error"]["message"]
    assert not Conversation.objects.exists()


# -- dates at the calendar's edges (OverflowError): one date parser ------------------------------

CALENDAR_EDGES = [
    {"to": "0001-01-02"},
    {"from": "0001-01-01"},
    {"to": "9999-12-31"},
    {"from": "9999-12-30", "to": "9999-12-31"},
    {"to": "0001-01-01T00:00:00+14:00"},
    {"from": "9999-12-31T23:59:59-12:00"},
    {"from": "0001-01-01T00:00:00Z", "to": "0001-01-03T00:00:00Z"},
    {"to": "9999-12-31T23:59:59.999999"},
]


@pytest.mark.parametrize("params", CALENDAR_EDGES)
def test_metrics_dates_at_the_calendars_edges_are_400(key_client, tenant, params):
    tenant.time_zone = "Pacific/Kiritimati"  # UTC+14: midnight of 0001-01-01 is before year 1
    tenant.save()

    response = key_client.get("/api/v1/metrics", params)

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert any("out of range" in message for messages in fields.values() for message in messages)


@pytest.mark.parametrize("params", CALENDAR_EDGES)
def test_dashboard_dates_at_the_calendars_edges_are_form_errors(manager_client, tenant, params):
    tenant.time_zone = "Etc/GMT+12"  # UTC-12: midnight of 9999-12-31 is after the last day
    tenant.save()

    page = manager_client.get("/admin/insight/metricsdashboard/", params)
    export = manager_client.get("/admin/insight/metricsdashboard/export.csv", params)

    assert page.status_code == 200
    assert any(
        "out of range" in m for messages in page.context["errors"].values() for m in messages
    )
    assert export.status_code == 400


def test_dates_well_inside_the_calendar_still_work(key_client, tenant):
    response = key_client.get("/api/v1/metrics", {"from": "1900-01-01", "to": "1900-12-31"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"since": "0001-01-01"},
        {"until": "9999-12-31"},
        {"since": "0001-01-01", "until": "0001-01-01"},
    ],
)
def test_approval_history_dates_at_the_calendars_edges_are_form_errors(tenant, params):
    from tests.conftest import login
    from tests.factories import make_person

    tenant.time_zone = "Pacific/Kiritimati"
    tenant.save()
    approver = login(make_person(tenant=tenant, roles=["approver"], username="priya"))

    page = approver.get("/approvals/", params)
    fragment = approver.get("/approvals/history/", params)

    assert page.status_code == 200
    assert fragment.status_code == 200
    assert page.context["filter"].errors


@pytest.mark.parametrize(
    "query",
    [
        "created_at__year=9999&created_at__month=12&created_at__day=31",
        "created_at__year=9999&created_at__month=12",
        "created_at__year=9999",
        "created_at__year=1",
        "created_at__year=99999999999999999999",
    ],
)
def test_the_admins_date_drill_down_at_the_calendars_edge_is_refused_not_500(manager_client, query):
    response = manager_client.get(f"/admin/approvals/approvalrequest/?{query}")

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


# -- websocket frames: one frame decoder ----------------------------------------------------------

BAD_FRAMES = [
    ("text", "not json"),
    ("text", ""),
    ("text", "   "),
    ("bytes", b"\x00\xff binary"),
    ("text", "[" * 100_000),
    ("text", "[" * 100_000 + "]" * 100_000),
    ("text", '{"type": "message.send", "text": "\\ud800"}'),
    ("text", '{"type": "message.send", "text": "a", "\\udfff": 1}'),
    ("text", '"\\ud800"'),
    ("text", "[]"),
    ("text", "42"),
    ("text", "null"),
    ("text", '{"type": "resync", "n": NaN}'),
    ("text", '{"type": "resync", "n": 1e400}'),
    ("text", '{"type": "message.send", "text": "' + "x" * 70_000 + '"}'),
]


async def _strict_frame(communicator) -> dict:
    """The next frame, which must be strict JSON (no NaN or Infinity)."""
    raw = await communicator.receive_from(timeout=3)

    def refuse(name):
        raise AssertionError(f"{name} in a frame: not JSON ({raw[:200]})")

    return json.loads(raw, parse_constant=refuse)


async def _frame_of_type(communicator, kind: str, limit: int = 10) -> dict:
    for _ in range(limit):
        frame = await _strict_frame(communicator)
        if frame.get("type") == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


async def _send_frame(communicator, kind: str, data) -> None:
    await communicator.send_input({"type": "websocket.receive", kind: data})


@pytest.mark.parametrize(("kind", "data"), BAD_FRAMES)
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_bad_frame_on_the_inbox_gets_a_bad_frame_error_and_the_socket_goes_on(
    tenant, kind, data
):
    from asgiref.sync import sync_to_async

    from tests.factories import make_person
    from tests.handover.test_consumers import inbox

    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    socket, connected, _ = await inbox(ada)
    assert connected
    await _frame_of_type(socket, "inbox.snapshot")

    await _send_frame(socket, kind, data)
    refused = await _frame_of_type(socket, "error")
    await socket.send_json_to({"type": "resync"})
    snapshot = await _frame_of_type(socket, "inbox.snapshot")

    assert refused["code"] == "bad_frame"
    assert refused["error"]
    assert snapshot["handoffs"] == []
    await socket.disconnect()


@pytest.mark.parametrize(("kind", "data"), BAD_FRAMES)
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_bad_frame_on_the_customer_socket_gets_an_error_and_sends_nothing(
    tenant, kind, data
):
    from asgiref.sync import sync_to_async

    from config.asgi import application
    from conversations.models import Message
    from tests.factories import TO_PEOPLE, make_team
    from tests.handover.test_consumers import _open_conversation_with_token
    from tests.sockets import Socket

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    conversation, token = await sync_to_async(_open_conversation_with_token)(tenant)
    customer = Socket(
        application, f"/ws/conversations/{conversation.pk}/?token={token}", headers=[ORIGIN]
    )
    assert (await customer.connect())[0]
    await _frame_of_type(customer, "conversation.snapshot")

    await _send_frame(customer, kind, data)
    refused = await _frame_of_type(customer, "error")
    await customer.send_json_to({"type": "resync"})
    snapshot = await _frame_of_type(customer, "conversation.snapshot")

    assert refused["code"] == "bad_frame"
    assert snapshot["messages"] == []
    assert await sync_to_async(Message.objects.count)() == 0
    await customer.disconnect()


@pytest.mark.parametrize(
    "handoff_id",
    ["Infinity", "-Infinity", "NaN", "1e400", "1.5", '"7"', "true", "null", "0", "-3",
     str(2**63), str(10**30), "[1]", '{"id": 1}'],
)  # fmt: skip
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_claim_with_a_bad_handoff_id_gets_an_error_in_valid_json(tenant, handoff_id):
    from asgiref.sync import sync_to_async

    from tests.factories import make_person
    from tests.handover.test_consumers import inbox

    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    socket, _, _ = await inbox(ada)
    await _frame_of_type(socket, "inbox.snapshot")

    await _send_frame(socket, "text", f'{{"type": "handoff.claim", "handoffId": {handoff_id}}}')
    refused = await _frame_of_type(socket, "error")  # parsed strictly: no Infinity echoed

    assert refused["code"] in ("bad_frame", "invalid")
    assert refused.get("handoffId") is None  # nothing echoed that JSON cannot hold
    await socket.send_json_to({"type": "heartbeat"})
    assert (await _frame_of_type(socket, "heartbeat.ack"))["type"] == "heartbeat.ack"
    await socket.disconnect()


@pytest.mark.parametrize(
    "path",
    ["/ws/nowhere/", "/ws/", "/", "/ws/conversations/not-a-uuid/", "/ws/inbox/extra/"],
)
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_socket_to_an_unknown_path_is_refused_not_a_server_error(path):
    from config.asgi import application
    from tests.sockets import Socket

    communicator = Socket(application, path, headers=[ORIGIN])

    connected, _ = await communicator.connect()

    assert connected is False


def test_every_json_field_of_every_admin_form_reads_through_the_json_door(rf, db):
    """A JSON field added to a model or a form later gets the door too, or this fails."""
    from django import forms
    from django.contrib import admin

    from core.json_input import StrictJSONField
    from tests.factories import make_person

    root = make_person(tenant=None, username="root", is_superuser=True, is_staff=True)
    request = rf.get("/admin/")
    request.user = root
    plain = []
    for model, model_admin in admin.site._registry.items():
        form_classes = [model_admin.get_form(request)]
        form_classes += [
            inline.get_formset(request).form for inline in model_admin.get_inline_instances(request)
        ]
        for form_class in form_classes:
            for name, field in form_class.base_fields.items():
                if isinstance(field, forms.JSONField) and not isinstance(field, StrictJSONField):
                    plain.append(f"{model.__name__}.{name}")

    assert plain == []
