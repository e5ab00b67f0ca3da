"""The Python client against a live server: the product docs' examples run as written, errors
are typed exceptions carrying the API's field paths, 429 is retried after the Retry-After the
server gives, actions carry idempotency keys, and lists iterate page by page."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

import httpx
import pytest
from backoffice_client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)
from backoffice_client._http import Base

from agents.rules_api import DOCS_EXAMPLES
from agents.workflows_api import DOCS_WORKFLOW
from approvals.models import ActionExecution
from tests.clients.conftest import PYTHON_CLIENT, handoff_held_by_docs_agent, mention_docs_agent

pytestmark = pytest.mark.clients

EXAMPLES = PYTHON_CLIENT / "examples"
REFUND = {"orderId": "A-1", "amount": 20}


def run_example(name: str, namespace: dict) -> dict:
    """Run ``examples/<name>.py`` as it is written, in ``namespace``."""
    path = EXAMPLES / f"{name}.py"
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


class Recorder:
    """Every request and answer a client's httpx client sends and gets, with its time."""

    def __init__(self) -> None:
        self.exchanges: list[tuple[httpx.Request, httpx.Response, float]] = []

    def __call__(self, response: httpx.Response) -> None:
        self.exchanges.append((response.request, response, time.monotonic()))

    @property
    def statuses(self) -> list[int]:
        return [response.status_code for _, response, _ in self.exchanges]

    def http(self) -> httpx.Client:
        return httpx.Client(event_hooks={"response": [self]})


def make_client(url: str, key: str, recorder: Recorder | None = None, **options) -> Client:
    http = recorder.http() if recorder else None
    return Client(base_url=url, api_key=key, http_client=http, **options)


def test_the_docs_examples_run_as_written(docs_tenant, server_url, monkeypatch):
    monkeypatch.setenv("BACKOFFICE_URL", server_url)
    monkeypatch.setenv("BACKOFFICE_API_KEY", docs_tenant.api_key)
    recorder = Recorder()
    namespace = run_example("client", {})
    client = namespace["client"]
    client._http.event_hooks = {"response": [recorder]}

    answers = [run_example(name, namespace)["rules"] for name in DOCS_EXAMPLES]
    workflow = run_example("workflow", namespace)["workflow"]

    assert recorder.statuses == [201, 201, 201, 201]
    # each call answers the rules as they stand after it: what it set, and what earlier set
    assert answers[0]["escalation"] == DOCS_EXAMPLES["escalation"]["escalation"]
    assert answers[1]["escalation"] == DOCS_EXAMPLES["escalation"]["escalation"]
    assert answers[1]["handoffs"] == DOCS_EXAMPLES["handoffs"]["handoffs"]
    rules = client.orchestration.get_rules("agent-123")
    assert rules["escalation"] == DOCS_EXAMPLES["escalation"]["escalation"]
    assert rules["handoffs"] == DOCS_EXAMPLES["handoffs"]["handoffs"]
    assert rules["approvals"]["approvers"] == ["user-admin-123", "user-manager-456"]
    assert [a["action"] for a in rules["approvals"]["actions"]] == [
        "issue_refund",
        "modify_account",
        "access_sensitive_data",
    ]
    assert [v["version"] for v in client.orchestration.versions("agent-123")] == [3, 2, 1]
    assert workflow["name"] == DOCS_WORKFLOW["name"]
    assert [s["inputs"] for s in workflow["steps"]] == [["all"], ["category", "context"], ["all"]]
    assert client.workflows.get(workflow["id"]) == workflow
    client.close()


def test_bad_input_raises_a_validation_error_naming_the_field_path(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)
    bad = {
        "handoffs": [
            {"condition": 'intent == "billing"', "targetAgentId": "agent-billing"},
            {"condition": "intent ==", "targetAgentId": "agent-billing"},
        ]
    }

    with pytest.raises(ValidationError) as raised:
        client.orchestration.create_rules("agent-123", bad)

    error = raised.value
    assert error.status == 400 and error.code == "invalid"
    assert list(error.fields) == ["handoffs[1].condition"]
    assert "expected a value after '=='" in error.fields["handoffs[1].condition"][0]
    assert "handoffs[1].condition: column 10" in str(error)
    assert client.orchestration.get_rules("agent-123")["source"] == "default"


def test_the_errors_example_prints_the_field_path(docs_tenant, server_url, monkeypatch, capsys):
    monkeypatch.setenv("BACKOFFICE_URL", server_url)
    monkeypatch.setenv("BACKOFFICE_API_KEY", docs_tenant.api_key)

    run_example("errors", run_example("client", {}))

    printed = capsys.readouterr().out
    assert printed.startswith("{'handoffs[0].condition': [")
    assert "expected a value after '=='" in printed


def test_other_errors_are_typed_too(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)

    with pytest.raises(NotFoundError) as missing:
        client.agents.get("agent-nobody")
    with pytest.raises(AuthenticationError):
        make_client(server_url, "not-a-key").agents.list()

    assert missing.value.code == "not_found"


def test_a_429_is_retried_after_the_wait_the_server_asks_for(limited_tenant, server_url):
    recorder = Recorder()
    client = make_client(server_url, limited_tenant.api_key, recorder)

    answers = []
    while 429 not in recorder.statuses and len(answers) < 10:
        answers.append(client.agents.list())

    assert 429 in recorder.statuses
    assert all(len(agents) == 7 for agents in answers)  # every call answered in the end
    for (_, response, at), (_, _, next_at) in zip(
        recorder.exchanges, recorder.exchanges[1:], strict=False
    ):
        if response.status_code == 429:
            assert next_at - at >= float(response.headers["Retry-After"]) - 0.05


def test_a_wait_longer_than_the_client_may_wait_raises_at_once(limited_tenant, server_url):
    recorder = Recorder()
    client = make_client(server_url, limited_tenant.api_key, recorder, max_retry_wait=0.1)

    with pytest.raises(RateLimitError) as raised:
        for _ in range(10):
            client.agents.list()

    assert raised.value.retry_after >= 1
    assert recorder.statuses[-1] == 429 and recorder.statuses.count(429) == 1


def test_a_retried_action_keeps_its_generated_idempotency_key(limited_tenant, server_url):
    recorder = Recorder()
    client = make_client(server_url, limited_tenant.api_key, recorder)
    conversation = client.conversations.create(
        {"agentId": "agent-billing", "channel": "api", "customer": {"id": "c-1"}}
    )

    results = []
    while 429 not in recorder.statuses and len(results) < 10:
        results.append(
            client.conversations.propose_action(conversation["id"], "issue_refund", REFUND)
        )

    retried = recorder.statuses.index(429)
    first, again = recorder.exchanges[retried][0], recorder.exchanges[retried + 1][0]
    assert (
        json.loads(first.content)["idempotencyKey"] == json.loads(again.content)["idempotencyKey"]
    )
    keys = {r["execution"]["idempotencyKey"] for r in results}
    assert len(keys) == len(results)  # one key per call, generated
    executions = ActionExecution.objects.filter(conversation_id=conversation["id"])
    assert executions.count() == len(results)  # the retried call ran once


def test_the_same_idempotency_key_answers_the_same_execution(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)
    conversation = client.conversations.create(
        {"agentId": "agent-billing", "channel": "api", "customer": {"id": "c-1"}}
    )

    first = client.conversations.propose_action(
        conversation["id"], "issue_refund", REFUND, idempotency_key="refund-A-1"
    )
    again = client.conversations.propose_action(
        conversation["id"], "issue_refund", REFUND, idempotency_key="refund-A-1"
    )
    with pytest.raises(ConflictError):
        client.conversations.propose_action(
            conversation["id"],
            "issue_refund",
            {**REFUND, "amount": 99},
            idempotency_key="refund-A-1",
        )

    assert first["execution"]["id"] == again["execution"]["id"]
    assert ActionExecution.objects.filter(conversation_id=conversation["id"]).count() == 1


def test_approvals_iterate_page_by_page_and_an_approver_decides(docs_tenant, server_url):
    recorder = Recorder()
    client = make_client(server_url, docs_tenant.api_key, recorder)
    approver = make_client(server_url, docs_tenant.approver_token)
    client.orchestration.create_rules("agent-123", DOCS_EXAMPLES["approvals"])
    conversation = client.conversations.create(
        {"agentId": "agent-123", "channel": "api", "customer": {"id": "c-1"}}
    )
    proposed = [
        client.conversations.propose_action(
            conversation["id"], "issue_refund", {"orderId": f"A-{n}", "amount": 10 + n}
        )["approval"]["id"]
        for n in range(5)
    ]
    recorder.exchanges.clear()

    listed = [a["id"] for a in client.approvals.list(status="pending", page_size=2)]
    approved = approver.approvals.approve(proposed[0], reason="fine")
    denied = approver.approvals.deny(proposed[1], reason="duplicate")

    assert listed == proposed[::-1]  # newest first, all five over three pages
    befores = [r.url.params.get("before") for r, _, _ in recorder.exchanges]
    assert befores == [None, str(proposed[3]), str(proposed[1])]
    assert (
        approved["status"] in ("approved", "executed") and approved["decidedBy"] == "user-admin-123"
    )
    assert denied["status"] == "denied"
    with pytest.raises(ConflictError):
        approver.approvals.approve(proposed[1])
    with pytest.raises(PermissionDeniedError):  # an integration key decides no approval
        client.approvals.approve(proposed[2])
    assert [a["id"] for a in client.approvals.list(status="pending")] == proposed[:1:-1]


def test_messages_and_events_iterate_in_order(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)
    conversation = client.conversations.create(
        {"agentId": "agent-supervisor", "channel": "web", "customer": {"id": "c-1"}}
    )
    answer = client.conversations.send(conversation["id"], "I was charged twice on my bill")
    client.conversations.send(conversation["id"], "Can you check?", signals={"sentiment": -0.2})

    messages = list(client.conversations.messages(conversation["id"]))
    events = list(client.conversations.events(conversation["id"]))
    later = list(client.conversations.events(conversation["id"], after=events[1]["id"]))

    assert answer["currentAgentId"] == "agent-billing"
    assert messages[0]["text"] == "I was charged twice on my bill"
    assert [m["id"] for m in messages] == sorted(m["id"] for m in messages)
    assert later == events[2:]
    assert client.conversations.get(conversation["id"])["turns"] == 2


def test_a_customers_file_is_sent_and_opens_by_its_link(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)
    conversation = client.conversations.create(
        {"agentId": "agent-supervisor", "channel": "web", "customer": {"id": "c-file"}}
    )
    pdf = b"%PDF-1.4\n%%EOF\n"

    answer = client.conversations.send_file(
        conversation["id"], pdf, "receipt.pdf", content_type="application/pdf", text="My receipt"
    )
    with pytest.raises(ValidationError) as refused:
        client.conversations.send_file(conversation["id"], b"MZ\x90\x00", "setup.exe")

    (sent,) = answer["message"]["attachments"]
    assert (answer["message"]["text"], sent["filename"], sent["size"]) == (
        "My receipt",
        "receipt.pdf",
        len(pdf),
    )
    assert "file" in refused.value.fields
    assert httpx.get(server_url + sent["url"]).content == pdf
    listed = list(client.conversations.messages(conversation["id"]))
    assert listed[0]["attachments"][0]["id"] == sent["id"]


def test_a_conversation_is_tagged_and_found_by_its_tag(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)
    conversation = client.conversations.create(
        {"agentId": "agent-supervisor", "channel": "web", "customer": {"id": "c-tag"}}
    )

    assert client.conversations.tag(conversation["id"], "Carrier late") == ["carrier-late"]
    found = client.conversations.list(tag="carrier-late")
    assert client.conversations.untag(conversation["id"], "carrier-late") == []

    assert [c["id"] for c in found] == [conversation["id"]]
    assert found[0]["tags"] == ["carrier-late"]


def test_the_customers_details_are_set_as_they_told_them(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)
    conversation = client.conversations.create(
        {
            "agentId": "agent-supervisor",
            "channel": "web",
            "customer": {"id": "c-crm", "attributes": {"plan": "free", "orders": 3}},
        }
    )

    changed = client.conversations.update_customer(
        conversation["id"], name="Kim Lee", email="kim@example.com"
    )
    upgraded = client.conversations.update_customer(
        conversation["id"], attributes={"plan": "pro", "orders": None}
    )
    with pytest.raises(ValidationError) as bad_name:
        client.conversations.update_customer(conversation["id"], attributes={"my plan": "x"})
    cleared = client.conversations.update_customer(conversation["id"], email="")
    with pytest.raises(ValidationError) as refused:
        client.conversations.update_customer(conversation["id"], email="nope")

    assert (changed["customer"]["name"], changed["customer"]["email"]) == (
        "Kim Lee",
        "kim@example.com",
    )
    assert (cleared["customer"]["name"], cleared["customer"]["email"]) == ("Kim Lee", "")
    assert list(refused.value.fields) == ["customer.email"]
    assert upgraded["customer"]["attributes"] == {"plan": "pro"}  # orders taken off
    assert list(bad_name.value.fields) == ["customer.attributes"]


def test_many_conversations_are_tagged_and_resolved_at_once(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)
    ids = [
        client.conversations.create(
            {"agentId": "agent-supervisor", "channel": "web", "customer": {"id": f"c-bulk-{n}"}}
        )["id"]
        for n in range(2)
    ]

    tagged = client.conversations.bulk(ids, "tag", tag="spam-wave")
    untagged = client.conversations.bulk(ids[:1], "untag", tag="spam-wave")
    with pytest.raises(ValidationError) as nobody:
        client.conversations.bulk(ids, "assign", to="nobody")
    resolved = client.conversations.bulk([*ids, ids[0]], "resolve")
    again = client.conversations.bulk(ids[:1], "resolve")
    with pytest.raises(ValidationError) as refused:
        client.conversations.bulk(ids, "archive")

    assert tagged == {"done": ids, "left": {}}
    assert untagged == {"done": ids[:1], "left": {}}
    assert client.conversations.get(ids[0])["tags"] == []
    assert client.conversations.get(ids[1])["tags"] == ["spam-wave"]
    assert nobody.value.fields == {"to": ["no human agent of this team has that username"]}
    assert resolved == {"done": ids, "left": {}}  # the same id twice is done once
    assert again == {"done": [], "left": {ids[0]: "resolved already"}}
    assert list(refused.value.fields) == ["action"]
    assert client.conversations.get(ids[1])["state"] == "resolved"


def test_groups_are_made_changed_and_deleted(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)

    made = client.groups.create(
        name="Front",
        members=[],
        ai_agents=["agent-supervisor"],
        overflow_after=10,
        hours=[{"weekday": 0, "opens": "09:00", "closes": "17:00"}],
    )
    with pytest.raises(ValidationError) as refused:
        client.groups.create(name="Desk", ai_agents=["agent-supervisor"])
    changed = client.groups.update(made["id"], name="Front desk", ai_agents=[])
    with pytest.raises(ValidationError) as too_long:
        client.groups.update(made["id"], overflow_after=10_081)
    never = client.groups.update(made["id"], overflow_after=None)
    listed = client.groups.list()
    client.groups.delete(made["id"])

    assert (made["name"], made["aiAgents"], made["overflowAfter"]) == (
        "Front",
        ["agent-supervisor"],
        10,
    )
    assert list(refused.value.fields) == ["aiAgents"]
    # a change that does not name the overflow keeps it; None sets it to never
    assert (changed["name"], changed["aiAgents"]) == ("Front desk", [])
    assert changed["overflowAfter"] == 10
    assert list(too_long.value.fields) == ["overflowAfter"]
    assert never["overflowAfter"] is None
    assert made["hours"] == [{"weekday": 0, "opens": "09:00", "closes": "17:00"}]
    assert never["hours"] == made["hours"]  # not named: kept
    assert [g["name"] for g in listed] == ["Front desk"]
    assert client.groups.list() == []


def test_a_conversation_is_merged_into_another_of_its_customer(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)
    customer = {"id": "c-merge", "name": "Kim"}
    kept = client.conversations.create(
        {"agentId": "agent-supervisor", "channel": "web", "customer": customer}
    )
    second = client.conversations.create(
        {"agentId": "agent-supervisor", "channel": "web", "customer": customer}
    )
    other = client.conversations.create(
        {"agentId": "agent-supervisor", "channel": "web", "customer": {"id": "c-other"}}
    )

    with pytest.raises(ValidationError) as refused:
        client.conversations.merge(second["id"], other["id"])
    into = client.conversations.merge(second["id"], kept["id"])
    with pytest.raises(ConflictError):
        client.conversations.merge(second["id"], kept["id"])  # resolved now

    assert list(refused.value.fields) == ["into"]
    assert into["id"] == kept["id"] and into["mergedInto"] is None
    merged = client.conversations.get(second["id"])
    assert (merged["state"], merged["mergedInto"]) == ("resolved", kept["id"])


def test_a_copy_of_a_conversation_is_emailed_and_listed(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)
    conversation = client.conversations.create(
        {
            "agentId": "agent-supervisor",
            "channel": "web",
            "customer": {"id": "c-copy", "email": "kim@example.com"},
        }
    )

    sent = client.conversations.send_copy(conversation["id"])
    other = client.conversations.send_copy(conversation["id"], to="desk@example.com")
    with pytest.raises(ValidationError) as refused:
        client.conversations.send_copy(conversation["id"], to="not an address")

    assert (sent["to"], other["to"]) == ("kim@example.com", "desk@example.com")
    assert sent["askedBy"].startswith("The integration")
    assert list(refused.value.fields) == ["to"]
    listed = client.conversations.copies(conversation["id"])
    assert [c["id"] for c in listed] == [other["id"], sent["id"]]  # the newest first
    assert {c["status"] for c in listed} <= {"waiting", "sending", "sent"}


def test_the_customers_are_listed_searched_and_read(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)
    client.conversations.create(
        {
            "agentId": "agent-supervisor",
            "channel": "web",
            "customer": {"id": "crm/c-42", "name": "Kim Lee", "email": "kim.lee@example.com"},
        }
    )

    found = client.customers.list(q="kim.lee@")
    kim = client.customers.get("crm/c-42")
    with pytest.raises(ValidationError) as refused:
        client.customers.list(page=0)
    with pytest.raises(NotFoundError):
        client.customers.get("nobody-at-all")

    assert [c["id"] for c in found["results"]] == ["crm/c-42"]
    assert (kim["name"], kim["email"], len(kim["conversations"])) == (
        "Kim Lee",
        "kim.lee@example.com",
        1,
    )
    assert list(refused.value.fields) == ["page"]


def test_the_holder_snoozes_a_conversation_and_wakes_it(docs_tenant, server_url):
    handoff = handoff_held_by_docs_agent(docs_tenant)
    agent = make_client(server_url, docs_tenant.agent_token)
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()

    snoozed = agent.handoffs.snooze(handoff.pk, until)
    woken = agent.handoffs.snooze(handoff.pk, None)
    with pytest.raises(ValidationError) as refused:
        agent.handoffs.snooze(handoff.pk, "2000-01-01T00:00:00Z")

    assert snoozed["snoozedUntil"] is not None and woken["snoozedUntil"] is None
    assert list(refused.value.fields) == ["until"]


def test_the_holder_sends_a_canned_reply_that_resolves(docs_tenant, server_url):
    handoff = handoff_held_by_docs_agent(docs_tenant)
    key = make_client(server_url, docs_tenant.api_key)
    agent = make_client(server_url, docs_tenant.agent_token)
    reply = key.canned_replies.create(
        shortcut="sorted", title="Sorted", text="All sorted!", tags=["solved-fast"], then="resolve"
    )

    with pytest.raises(ValidationError) as refused:
        agent.handoffs.send(handoff.pk, "All sorted!", canned_reply_id=reply["id"] + 999)
    sent = agent.handoffs.send(handoff.pk, "All sorted!", canned_reply_id=reply["id"])

    assert list(refused.value.fields) == ["cannedReplyId"]
    assert sent["text"] == "All sorted!"
    conversation = key.conversations.get(str(handoff.conversation_id))
    assert conversation["state"] == "resolved" and "solved-fast" in conversation["tags"]


def test_an_integration_and_a_person_set_a_handoffs_priority(docs_tenant, server_url):
    handoff = handoff_held_by_docs_agent(docs_tenant)
    key = make_client(server_url, docs_tenant.api_key)
    agent = make_client(server_url, docs_tenant.agent_token)

    urgent = key.handoffs.set_priority(handoff.pk, "urgent")
    low = agent.handoffs.set_priority(handoff.pk, "low")
    with pytest.raises(ValidationError) as refused:
        agent.handoffs.set_priority(handoff.pk, "asap")

    assert (urgent["priority"], urgent["priorityBand"]) == (40, "urgent")
    assert low["priority"] == 0
    assert list(refused.value.fields) == ["priority"]


def test_an_integration_blocks_a_spammer_and_unblocks_them(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)

    block = client.blocks.create(kind="email", value="Spam@Example.com", reason="spam")
    listed = client.blocks.list()
    with pytest.raises(ValidationError) as refused:
        client.blocks.create(kind="email", value="nope")
    client.blocks.delete(block["id"])

    assert (block["kind"], block["value"], block["reason"]) == (
        "email",
        "spam@example.com",
        "spam",
    )
    assert [b["id"] for b in listed] == [block["id"]]
    assert list(refused.value.fields) == ["value"]
    assert client.blocks.list() == []
    # a spam filter's block for a week, then for good
    week = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=7)
    for_a_week = client.blocks.create(kind="email", value="spam@example.com", expires_at=week)
    assert dt.datetime.fromisoformat(for_a_week["expiresAt"]) == week
    for_good = client.blocks.create(kind="email", value="spam@example.com", expires_at=None)
    assert (for_good["id"], for_good["expiresAt"]) == (for_a_week["id"], None)
    with pytest.raises(ValidationError) as past:
        client.blocks.create(kind="email", value="spam@example.com", expires_at="2020-01-01")
    assert list(past.value.fields) == ["expiresAt"]


def test_a_human_agent_reads_the_notes_that_named_them(docs_tenant, server_url):
    note = mention_docs_agent(docs_tenant)
    agent = make_client(server_url, docs_tenant.agent_token)

    listed = agent.mentions.list()
    (mention,) = listed["results"]
    assert (listed["unread"], mention["messageId"]) == (1, note.pk)
    assert mention["excerpt"] == "@docs-agent can you check this?"
    assert agent.mentions.read(ids=[mention["id"]]) == [mention["id"]]
    assert agent.mentions.list(unread=True) == {"unread": 0, "results": []}
    assert agent.mentions.read() == []
    with pytest.raises(ValidationError) as refused:
        agent.mentions.read(ids=[0])
    assert list(refused.value.fields) == ["ids[0]"]
    with pytest.raises(PermissionDeniedError):  # an integration key is no person
        make_client(server_url, docs_tenant.api_key).mentions.list()


def test_the_async_client_does_the_same(docs_tenant, server_url):
    async def scenario():
        async with AsyncClient(base_url=server_url, api_key=docs_tenant.api_key) as client:
            rules = await client.orchestration.create_rules("agent-123", DOCS_EXAMPLES["handoffs"])
            try:
                await client.orchestration.create_rules("agent-123", {"escalation": {"intents": 1}})
            except ValidationError as exc:
                error = exc
            conversation = await client.conversations.create(
                {"agentId": "agent-supervisor", "channel": "web", "customer": {"id": "c-2"}}
            )
            await client.conversations.send(conversation["id"], "hello there")
            messages = [m async for m in client.conversations.messages(conversation["id"])]
            approvals = [a async for a in client.approvals.list()]
            return rules, error, messages, approvals

    rules, error, messages, approvals = asyncio.run(scenario())

    assert rules["handoffs"] == DOCS_EXAMPLES["handoffs"]["handoffs"]
    assert "escalation.intents" in error.fields
    assert messages[0]["text"] == "hello there"
    assert approvals == []


def test_a_503_with_retry_after_is_retried_and_the_wait_is_bounded():
    base = Base("http://x", "k", timeout=1, max_retries=2, max_retry_wait=5, headers=None)
    request = httpx.Request("GET", "http://x/api/v1/agents")

    def answer(status, retry_after=None):
        headers = {"Retry-After": retry_after} if retry_after else {}
        return httpx.Response(status, headers=headers, request=request)

    assert base._retry_delay(answer(503, "2"), attempt=0) == 2
    assert base._retry_delay(answer(503), attempt=1) == 1.0  # no Retry-After: backoff
    assert base._retry_delay(answer(503, "2"), attempt=2) is None  # retries spent
    assert base._retry_delay(answer(429, "30"), attempt=0) is None  # longer than it may wait
    assert base._retry_delay(answer(500, "1"), attempt=0) is None  # not a retry status


def test_intents_extend_and_switch_off_through_the_client(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)

    added = client.intents.set("legal_question", {"keywords": ["lawyer", "lawsuit"]})
    off = client.intents.set("greeting", {"enabled": False})
    listed = {intent["name"]: intent for intent in client.intents.list()}
    with pytest.raises(ValidationError) as raised:
        client.intents.set("vague", {})
    client.intents.delete("greeting")
    client.intents.delete("legal_question")

    assert added["source"] == "tenant" and added["enabled"] is True
    assert off["source"] == "built-in" and off["enabled"] is False
    assert listed["greeting"]["enabled"] is False and listed["human_agent"]["enabled"] is True
    assert list(raised.value.fields) == ["keywords"]
    assert {i["name"]: i for i in client.intents.list()}["greeting"]["enabled"] is True


def test_an_integration_exports_then_erases_a_customer_at_their_request(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)
    kept = client.conversations.create(
        {"agentId": "agent-billing", "channel": "api", "customer": {"id": "py-keep"}}
    )
    for _ in range(2):
        client.conversations.create(
            {"agentId": "agent-billing", "channel": "api", "customer": {"id": "py-erase"}}
        )

    exported = client.customer_data.get(kind="customer", value="py-erase")
    erased = client.erasures.create(kind="customer", value="py-erase")
    with pytest.raises(ValidationError) as refused:
        client.erasures.create(kind="phone", value="+44")

    assert len(exported["conversations"]) == 2
    assert exported["conversations"][0]["customer"]["id"] == "py-erase"
    assert (erased["kind"], erased["conversations"]) == ("customer", 2)
    assert "py-erase" not in json.dumps(erased)  # a keyed hash, never the name
    assert [e["id"] for e in client.erasures.list()] == [erased["id"]]
    assert list(refused.value.fields) == ["kind"]
    assert client.conversations.get(kept["id"])["id"] == kept["id"]


def test_an_integration_sets_up_its_webhook_and_tests_it(docs_tenant, server_url):
    client = make_client(server_url, docs_tenant.api_key)

    made = client.webhooks.create(
        url="https://crm.example.com/hooks", events=["conversation.resolved"], description="CRM"
    )
    with pytest.raises(ValidationError) as refused:
        client.webhooks.create(url="https://crm.example.com/h", events=["conversation.sold"])
    changed = client.webhooks.update(made["id"], active=False, events=["csat.rated"])
    test = client.webhooks.test(made["id"])
    deliveries = client.webhooks.deliveries(made["id"])
    listed = client.webhooks.list()
    client.webhooks.delete(made["id"])

    assert made["secret"].startswith("whsec_") and "secret" not in listed[0]
    assert list(refused.value.fields) == ["events"]
    assert (changed["active"], changed["events"]) == (False, ["csat.rated"])
    assert (test["event"], deliveries[0]["webhookId"]) == ("webhook.test", test["webhookId"])
    assert client.webhooks.list() == []
