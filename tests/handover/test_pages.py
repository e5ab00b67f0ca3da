"""The inbox page and its small JSON views, and the customer's chat page and its start view,
through Django's test client: who may open what, validation, CSRF, and tenant isolation."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from agents.models import Agent
from agents.services import agent_create
from conversations.models import (
    Conversation,
    Message,
)
from conversations.services import (
    conversation_start,
    customer_token_matches,
)
from core.models import BusinessHours
from handover.models import Handoff
from handover.services import handoff_claim
from handover.views import entry_agent
from orchestration.turns import conversation_receive_message
from tests.conftest import login
from tests.factories import TO_PEOPLE, TenantFactory, make_person, make_team

pytestmark = pytest.mark.django_db


def handed_over(tenant, *, name: str, text: str = "I want a human please") -> Handoff:
    """A conversation of ``tenant`` whose customer asked for a person."""
    entry = Agent.objects.get(tenant=tenant, slug="agent-sup")
    conversation, _ = conversation_start(
        tenant=tenant, agent=entry, channel="web", customer={"id": name.lower(), "name": name}
    )
    conversation_receive_message(conversation=conversation, text=text)
    return Handoff.objects.get(conversation=conversation)


def config_of(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="inbox-config" type="application/json">') + len(
        '<script id="inbox-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def start_chat(client, slug="acme", **body):
    return client.post(f"/chat/{slug}/start", body, content_type="application/json")


# --- the inbox ----------------------------------------------------------------------------------


def test_signed_out_people_are_sent_to_sign_in(client):
    response = client.get("/inbox/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/inbox/"


def test_only_human_agents_and_managers_open_the_inbox(tenant):
    approver = make_person(tenant=tenant, roles=["approver"])
    assert login(approver).get("/inbox/").status_code == 403

    for roles in (["manager"], ["manager", "approver"]):  # no agent: the team's view
        response = login(make_person(tenant=tenant, roles=roles)).get("/inbox/")
        assert response.status_code == 302 and response["Location"] == "/inbox/team/"


def test_a_person_of_no_tenant_is_refused(db):
    person = make_person(tenant=None, username="drifter")

    assert login(person).get("/inbox/").status_code == 403


def test_a_human_agent_sees_the_inbox_with_its_live_script(team, ada):
    response = login(ada).get("/inbox/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "handover/inbox.js" in html and 'aria-live="polite"' in html
    config = config_of(response)
    assert config["me"] == "ada"
    assert config["socketPath"] == "/ws/inbox/"
    assert config["agents"]["agent-billing"] == "Billing"


def test_the_home_page_links_human_agents_to_the_inbox(team, ada):
    assert 'href="/inbox/"' in login(ada).get("/").content.decode()


def test_an_agent_sees_only_their_tenants_handoffs(tenant, other_tenant, team, ada):
    make_team(other_tenant, **TO_PEOPLE)
    mine = handed_over(tenant, name="Kim")
    theirs = handed_over(other_tenant, name="Zed")

    response = login(ada).get("/inbox/")

    html = response.content.decode()
    assert "Kim" in html and "Zed" not in html
    assert [h["id"] for h in config_of(response)["handoffs"]] == [mine.pk]
    assert str(theirs.conversation_id) not in html


def test_the_queue_is_rendered_in_priority_order_with_the_response_target(tenant, team, ada):
    # names with a space: the page's random CSRF token (letters and digits) once held "Low"
    handed_over(tenant, name="Kim Low")
    urgent = handed_over(tenant, name="Kim High")
    Handoff.objects.filter(pk=urgent.pk).update(priority=50)

    response = login(ada).get("/inbox/")

    html = response.content.decode()
    assert html.index("Kim High") < html.index("Kim Low")
    assert "Urgent" in html
    assert "targets by priority" in html
    assert "urgent 5 min / 4 h" in html  # the default targets, in the heading's title
    assert 'class="target-clock"' in html


def test_customer_text_is_escaped_on_the_page(tenant, team, ada):
    handed_over(tenant, name="<script>alert(1)</script>")

    html = login(ada).get("/inbox/").content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_an_agent_reads_a_conversation_with_a_live_pack_preview(tenant, team, ada, online):
    handoff = handed_over(tenant, name="Kim", text="I want a human about order 12345 now")
    assert handoff.mode == "hot"

    response = login(ada).get(f"/inbox/conversations/{handoff.conversation_id}/")

    assert response.status_code == 200
    body = response.json()
    assert body["conversation"]["customer"] == "Kim"
    assert body["handoff"]["id"] == handoff.pk and body["handoff"]["status"] == "offered"
    assert body["handoff"]["pack"]["preview"] is True
    assert body["handoff"]["pack"]["keyDetails"]["orderIds"] == ["12345"]
    assert body["handoff"]["priorityBand"] == "medium"  # a request for a person
    assert body["handoff"]["responseTargetMinutes"] == 30  # the default for medium
    assert [m["role"] for m in body["messages"]][:1] == ["customer"]


def test_another_tenants_conversation_is_not_found(tenant, other_tenant, team, ada):
    make_team(other_tenant, **TO_PEOPLE)
    theirs = handed_over(other_tenant, name="Zed")

    response = login(ada).get(f"/inbox/conversations/{theirs.conversation_id}/")

    assert response.status_code == 404


def test_an_approver_cannot_read_conversations_through_the_inbox(tenant, team):
    handoff = handed_over(tenant, name="Kim")
    priya = Client()
    priya.force_login(make_person(tenant=tenant, roles=["approver"], username="approver-2"))

    assert priya.get(f"/inbox/conversations/{handoff.conversation_id}/").status_code == 403


def test_the_claimer_resolves_and_others_are_told_no(tenant, team, ada, bob, online):
    handoff = handed_over(tenant, name="Kim")
    handoff_claim(handoff=handoff, user=ada)
    url = f"/inbox/conversations/{handoff.conversation_id}/resolve"

    refused = login(bob).post(url)
    done = login(ada).post(url)

    assert refused.status_code == 409
    assert "only the person who claimed" in refused.json()["error"]["message"]
    assert done.status_code == 200 and done.json()["state"] == "resolved"
    assert Conversation.objects.get(pk=handoff.conversation_id).state == "resolved"
    assert Handoff.objects.get(pk=handoff.pk).status == "resolved"


def test_the_claimer_hands_back_to_the_ai(tenant, team, ada, online):
    handoff = handed_over(tenant, name="Kim")
    handoff_claim(handoff=handoff, user=ada)

    response = login(ada).post(f"/inbox/conversations/{handoff.conversation_id}/hand-back")

    assert response.status_code == 200 and response.json()["state"] == "active"
    assert Message.objects.filter(conversation_id=handoff.conversation_id, role="system").exists()


def test_claiming_over_http_lets_one_person_win(tenant, team, ada, bob, online):
    handoff = handed_over(tenant, name="Kim")

    first = login(ada).post(f"/inbox/handoffs/{handoff.pk}/claim")
    second = login(bob).post(f"/inbox/handoffs/{handoff.pk}/claim")

    assert first.status_code == 200
    assert second.status_code == 409
    assert Handoff.objects.get(pk=handoff.pk).claimed_by == ada


def test_inbox_actions_need_the_csrf_token(tenant, team, ada, online):
    handoff = handed_over(tenant, name="Kim")
    handoff_claim(handoff=handoff, user=ada)
    client = Client(enforce_csrf_checks=True)
    client.force_login(ada)

    response = client.post(f"/inbox/conversations/{handoff.conversation_id}/resolve")

    assert response.status_code == 403
    assert Conversation.objects.get(pk=handoff.conversation_id).state == "with_human"


def test_inbox_actions_are_post_only(tenant, team, ada):
    handoff = handed_over(tenant, name="Kim")

    response = login(ada).get(f"/inbox/conversations/{handoff.conversation_id}/resolve")

    assert response.status_code == 405


# --- the customer's chat ------------------------------------------------------------------------


def test_the_chat_page_is_public(team, client):
    response = client.get("/chat/acme/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Acme" in html and "handover/chat.js" in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "Bearer" not in html and "apiKey" not in html


def _chat_config(response) -> dict:
    html = response.content.decode()
    start = html.index('id="chat-config"')
    body = html[html.index(">", start) + 1 : html.index("</script>", start)]
    return json.loads(body)


def test_the_chat_page_says_when_the_team_is_back_while_it_is_away(team, tenant, client):
    tenant.business_hours.all().delete()
    for weekday in range(7):  # always open
        BusinessHours.objects.create(
            tenant=tenant, weekday=weekday, opens=dt.time(0), closes=dt.time(0)
        )
    assert _chat_config(client.get("/chat/acme/"))["teamBack"] is None

    tenant.business_hours.all().delete()  # open tomorrow only, 09:00-17:00 (UTC)
    tomorrow = (timezone.now() + dt.timedelta(days=1)).weekday()
    BusinessHours.objects.create(
        tenant=tenant, weekday=tomorrow, opens=dt.time(9), closes=dt.time(17)
    )
    assert _chat_config(client.get("/chat/acme/"))["teamBack"] == "tomorrow at 09:00 (UTC time)"


def test_an_unknown_tenant_has_no_chat(db, client):
    assert client.get("/chat/nobody/").status_code == 404
    assert start_chat(client, slug="nobody", text="hello").status_code == 404


def test_a_tenant_without_agents_says_chat_is_not_available(tenant, client):
    page = client.get("/chat/acme/")
    started = start_chat(client, text="hello")

    assert page.status_code == 503
    assert "Chat is not available" in page.content.decode()
    assert started.status_code == 503
    assert not Conversation.objects.exists()


def test_starting_a_chat_needs_a_first_message(team, client):
    response = start_chat(client, name="Kim", text="   ")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["text"]
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{"text": "hi", "name": "x" * 101}, {"text": ["hi"]}, {"text": "x" * 10_001}],
    ids=["long-name", "text-not-a-string", "text-too-long"],
)
def test_a_bad_start_is_a_400_naming_the_field(team, client, body):
    response = start_chat(client, **body)

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) <= {"text", "name"}


def test_a_start_that_is_not_json_is_a_400(team, client):
    response = client.post("/chat/acme/start", "{nope", content_type="application/json")

    assert response.status_code == 400


def test_starting_a_chat_creates_a_web_conversation_with_the_entry_agent(
    tenant, other_tenant, team, client
):
    make_team(other_tenant, **TO_PEOPLE)
    entry, _ = team

    response = start_chat(client, name="Kim", text="Where is my invoice?")

    assert response.status_code == 201
    body = response.json()
    conversation = Conversation.objects.get(pk=body["conversationId"])
    assert conversation.tenant == tenant
    assert conversation.entry_agent == entry
    assert conversation.channel == "web" and conversation.customer_name == "Kim"
    assert customer_token_matches(conversation, body["token"])
    first = Message.objects.filter(conversation=conversation).order_by("id").first()
    assert (first.role, first.text) == ("customer", "Where is my invoice?")


def test_a_form_post_starts_a_chat_too_and_the_name_is_optional(team, client):
    response = client.post("/chat/acme/start", {"text": "Hello"})

    assert response.status_code == 201
    conversation = Conversation.objects.get(pk=response.json()["conversationId"])
    assert conversation.customer_name == ""
    assert conversation.customer_ref.startswith("web-")


def test_the_entry_agent_is_the_top_supervisor_else_the_first_agent(tenant):
    first = agent_create(tenant=tenant, slug="a-first", name="First", role="specialist")
    assert entry_agent(tenant) == first

    boss = agent_create(tenant=tenant, slug="z-boss", name="Boss", role="supervisor")
    agent_create(tenant=tenant, slug="m-lead", name="Lead", role="supervisor", supervisor=boss)

    assert entry_agent(tenant) == boss


def test_starting_a_chat_is_csrf_protected_and_needs_no_api_key(team):
    client = Client(enforce_csrf_checks=True)

    refused = start_chat(client, text="hello")
    page = client.get("/chat/acme/")
    token = page.cookies["csrftoken"].value
    started = client.post(
        "/chat/acme/start",
        {"text": "hello"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )

    assert refused.status_code == 403
    assert started.status_code == 201
    assert Conversation.objects.count() == 1


def test_starting_a_chat_is_post_only(team, client):
    assert client.get("/chat/acme/start").status_code == 405


def test_a_chat_that_asks_for_a_person_is_handed_over(team, client):
    response = start_chat(client, name="Kim", text="I want to talk to a human")

    conversation = Conversation.objects.get(pk=response.json()["conversationId"])
    assert conversation.state == "handing_off"
    assert Handoff.objects.filter(conversation=conversation).exists()


def test_other_tenants_chats_are_their_own(tenant, team, client):
    other = TenantFactory(slug="globex", name="Globex")
    make_team(other, **TO_PEOPLE)

    response = start_chat(client, slug="globex", text="hello")

    conversation = Conversation.objects.get(pk=response.json()["conversationId"])
    assert conversation.tenant == other
    assert conversation.entry_agent.tenant == other


def chat_config_of(response) -> dict:
    html = response.content.decode()
    tag = '<script id="chat-config" type="application/json">'
    start = html.index(tag) + len(tag)
    return json.loads(html[start : html.index("</script>", start)])


def test_the_chat_page_names_one_assistant_and_no_agent(team, client):
    response = client.get("/chat/acme/")

    html = response.content.decode()
    config = chat_config_of(response)
    assert config["assistantName"] == "Acme \u00b7 AI assistant"
    assert "agents" not in config
    for internal in ("agent-sup", "agent-billing", "Front desk", "Billing"):
        assert internal not in html


def test_the_visitors_conversation_is_kept_in_their_session_until_resolved(team, client, ada):
    assert chat_config_of(client.get("/chat/acme/"))["resume"] is None
    started = start_chat(client, text="I want a human please").json()

    resume = chat_config_of(client.get("/chat/acme/"))["resume"]

    assert resume == {"conversationId": started["conversationId"], "token": started["token"]}
    assert chat_config_of(Client().get("/chat/acme/"))["resume"] is None  # another visitor
    handoff = Handoff.objects.get(conversation_id=started["conversationId"])
    handoff_claim(handoff=handoff, user=ada)
    login(ada).post(f"/inbox/conversations/{started['conversationId']}/resolve")
    assert chat_config_of(client.get("/chat/acme/"))["resume"] is None


def test_a_nameless_visitor_is_a_visitor_with_a_short_id(tenant, team, ada):
    entry = Agent.objects.get(tenant=tenant, slug="agent-sup")
    conversation, _ = conversation_start(
        tenant=tenant, agent=entry, channel="web", customer={"id": "web-ac87aab70ea6e7b0"}
    )
    conversation_receive_message(conversation=conversation, text="I want a human please")

    body = login(ada).get(f"/inbox/conversations/{conversation.pk}/").json()

    assert body["conversation"]["customer"] == "Visitor ac87"
    assert body["handoff"]["customer"] == "Visitor ac87"
