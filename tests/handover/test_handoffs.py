"""Handoffs: the mode decision, hot offers and claims, cold packs, talking, handing back,
resolving; and nothing lost when the real-time layer is down."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from agents.orchestrator_settings import BANDS, priority_band, settings_update
from conversations.models import (
    Conversation,
    DecisionEvent,
    Message,
)
from core.models import BusinessHours, Holiday
from handover.models import Handoff, Presence
from handover.presence import PRESENCE_TTL, presence_join, presence_leave
from handover.services import (
    COLD_FOLLOW_UP_TEXT,
    HUMAN_HANDOVER_TEXT,
    cold_follow_up_text,
    handoff_claim,
    handoff_make_cold,
    hot_offers_expire,
    human_send_message,
)
from orchestration.packs import (
    key_details,
    sentiment_trend,
)

pytestmark = pytest.mark.django_db


def start(client, channel="web", **customer):
    response = client.post(
        "/api/v1/conversations",
        {
            "agentId": "agent-sup",
            "channel": channel,
            "customer": {"id": "c-1", "name": "Kim", **customer},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def say(client, conversation_id, text):
    response = client.post(
        f"/api/v1/conversations/{conversation_id}/messages", {"text": text}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def as_person(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_with_agents_online_in_business_hours_a_web_handoff_is_hot(key_client, team, online):
    conv = start(key_client)

    body = say(key_client, conv, "I want to speak to a human please")

    assert body["state"] == "handing_off"
    assert body["handoff"]["mode"] == "hot" and body["handoff"]["status"] == "offered"
    offered = DecisionEvent.objects.get(conversation_id=conv, type="handoff.offered")
    assert offered.detail["why"] == "live channel, business hours, agents online"
    told = Message.objects.filter(conversation_id=conv, role="system").values_list(
        "text", flat=True
    )
    assert list(told) == [HUMAN_HANDOVER_TEXT]


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        ("nobody online", "no human agent is online"),
        ("email", "the email channel is not live"),
        ("closed", "outside business hours"),
        ("forced cold", "handoffMode is cold"),
    ],
)
def test_otherwise_it_is_cold(key_client, team, tenant, ada, setup, why):
    if setup != "nobody online":
        presence_join(user=ada, tenant=tenant)
    if setup == "closed":
        tenant.business_hours.all().delete()
    if setup == "forced cold":
        settings_update(level="tenant", tenant=tenant, changes={"handoffMode": "cold"})
    conv = start(
        key_client, channel="email" if setup == "email" else "web", email="kim@example.com"
    )

    body = say(key_client, conv, "I want to speak to a human please")

    assert body["handoff"]["mode"] == "cold"
    assert body["handoff"]["status"] == "queued"
    assert (
        DecisionEvent.objects.get(conversation_id=conv, type="handoff.offered").detail["why"] == why
    )


def test_outside_business_hours_the_chat_is_told_when_the_team_is_back(
    key_client, team, tenant, ada
):
    presence_join(user=ada, tenant=tenant)  # someone is online, but the team is closed
    tenant.time_zone = "America/New_York"
    tenant.save()
    local = timezone.localtime(timezone.now(), tenant.tzinfo)
    tomorrow = (local + dt.timedelta(days=1)).weekday()
    tenant.business_hours.all().delete()
    BusinessHours.objects.create(
        tenant=tenant, weekday=tomorrow, opens=dt.time(9), closes=dt.time(17)
    )
    conv = start(key_client)

    body = say(key_client, conv, "I want to speak to a human please")

    assert body["handoff"]["mode"] == "cold"
    told = Message.objects.filter(conversation_id=conv, role="system").values_list(
        "text", flat=True
    )
    assert list(told) == [  # one notice: not "someone will be with you shortly" as well
        "Thanks for your patience. Our team is away right now and back tomorrow at 09:00 "
        "(New York time): someone will follow up with you then."
    ]


@pytest.mark.parametrize(
    ("now", "when"),
    [
        (dt.datetime(2026, 11, 23, 12, 30), "today at 13:00"),  # Monday's lunch
        (dt.datetime(2026, 11, 23, 18, 0), "tomorrow at 09:00"),
        (dt.datetime(2026, 11, 27, 18, 0), "on Monday at 09:00"),  # Friday evening
        (dt.datetime(2026, 12, 24, 19, 0), "on Monday at 09:00"),  # Christmas on the Friday
        (dt.datetime(2026, 12, 23, 18, 0), "tomorrow at 09:00"),
        (dt.datetime(2026, 12, 31, 18, 0), "on 11 January at 09:00"),  # the team's holidays
    ],
)
def test_the_away_notice_names_the_teams_next_opening(tenant, now, when):
    tenant.time_zone = "Europe/Paris"
    tenant.save()
    for weekday in range(5):
        BusinessHours.objects.create(
            tenant=tenant, weekday=weekday, opens=dt.time(9), closes=dt.time(12)
        )
        BusinessHours.objects.create(
            tenant=tenant, weekday=weekday, opens=dt.time(13), closes=dt.time(18)
        )
    Holiday.objects.create(tenant=tenant, date=dt.date(2026, 12, 25))
    for day in range(1, 11):  # closed 1-10 January
        Holiday.objects.create(tenant=tenant, date=dt.date(2027, 1, day))

    text = cold_follow_up_text(tenant, now=now.replace(tzinfo=ZoneInfo("Europe/Paris")))

    assert f"back {when} (Paris time)" in text


def test_within_business_hours_or_without_any_the_queue_notice_promises_no_time(tenant):
    tenant.business_hours.all().delete()
    for weekday in range(7):  # always open
        BusinessHours.objects.create(
            tenant=tenant, weekday=weekday, opens=dt.time(0), closes=dt.time(0)
        )
    assert cold_follow_up_text(tenant) == COLD_FOLLOW_UP_TEXT

    tenant.business_hours.all().delete()  # never open: no opening to name
    assert cold_follow_up_text(tenant) == COLD_FOLLOW_UP_TEXT


def test_a_closed_laptop_stops_counting_as_online(key_client, team, tenant, ada):
    presence_join(user=ada, tenant=tenant)
    Presence.objects.filter(user=ada).update(
        last_seen=timezone.now() - PRESENCE_TTL - dt.timedelta(seconds=1)
    )
    conv = start(key_client)

    assert say(key_client, conv, "get me a human")["handoff"]["mode"] == "cold"


def test_leaving_the_inbox_stops_counting_as_online(key_client, team, tenant, ada):
    presence_join(user=ada, tenant=tenant)
    presence_leave(user=ada)
    conv = start(key_client)

    assert say(key_client, conv, "get me a human")["handoff"]["mode"] == "cold"


def test_exactly_one_agent_claims_and_the_other_is_told(key_client, team, online):
    ada, bob = online
    conv = start(key_client)
    handoff_id = say(key_client, conv, "get me a human")["handoff"]["id"]

    first = as_person(ada).post(f"/api/v1/handoffs/{handoff_id}/claim")
    second = as_person(bob).post(f"/api/v1/handoffs/{handoff_id}/claim")

    assert first.status_code == 200 and first.json()["claimedBy"] == "ada"
    assert second.status_code == 409
    assert "already been claimed" in second.json()["error"]["message"]
    conversation = Conversation.objects.get(pk=conv)
    assert (conversation.state, conversation.assignee) == ("with_human", ada)


def test_the_ai_stays_silent_while_the_human_talks_then_takes_over_on_hand_back(
    key_client, team, online
):
    ada, _ = online
    conv = start(key_client)
    handoff_id = say(key_client, conv, "get me a human")["handoff"]["id"]
    ada_client = as_person(ada)
    ada_client.post(f"/api/v1/handoffs/{handoff_id}/claim")

    sent = ada_client.post(
        f"/api/v1/handoffs/{handoff_id}/messages", {"text": "Hi Kim, Ada here."}, format="json"
    )
    customer = say(key_client, conv, "Thanks Ada, I was charged twice")
    back = ada_client.post(f"/api/v1/handoffs/{handoff_id}/hand-back")
    again = say(key_client, conv, "I was charged twice")

    assert sent.status_code == 201 and sent.json()["author"] == "Ada"
    assert customer["reply"] is None and customer["state"] == "with_human"
    assert back.status_code == 200 and back.json()["status"] == "resolved"
    assert again["state"] == "active"
    roles = list(Message.objects.filter(conversation_id=conv).values_list("role", flat=True))
    assert "human" in roles


def test_only_the_claimer_talks_and_resolves(key_client, team, online):
    ada, bob = online
    conv = start(key_client)
    handoff_id = say(key_client, conv, "get me a human")["handoff"]["id"]
    as_person(ada).post(f"/api/v1/handoffs/{handoff_id}/claim")

    assert (
        as_person(bob)
        .post(f"/api/v1/handoffs/{handoff_id}/messages", {"text": "hi"}, format="json")
        .status_code
        == 409
    )
    assert as_person(bob).post(f"/api/v1/handoffs/{handoff_id}/resolve").status_code == 409
    resolved = as_person(ada).post(f"/api/v1/handoffs/{handoff_id}/resolve")
    assert resolved.status_code == 200
    assert Conversation.objects.get(pk=conv).state == "resolved"


def test_an_unclaimed_offer_turns_cold_with_a_pack(
    key_client, team, online, tenant, django_capture_on_commit_callbacks, eager_tasks
):
    conv = start(key_client)
    say(key_client, conv, "My order A-12345 was charged $249.99 twice on 2026-11-02.")
    handoff_id = say(key_client, conv, "get me a human now")["handoff"]["id"]

    with django_capture_on_commit_callbacks(execute=True):
        assert hot_offers_expire(now=timezone.now() + dt.timedelta(minutes=5)) == 1

    handoff = Handoff.objects.get(pk=handoff_id)
    assert (handoff.mode, handoff.status) == ("cold", "queued")
    assert DecisionEvent.objects.filter(conversation_id=conv, type="handoff.expired").exists()
    pack = handoff.pack
    assert pack.key_details["orderIds"] == ["A-12345"]
    assert "$249.99" in pack.key_details["amounts"]
    assert "2026-11-02" in pack.key_details["dates"]
    assert "A refund needs approval when params.amount > 100 (the tenant's rule)." in (
        pack.suggestions
    )
    assert pack.brief["why"] == "The customer asked for a person"
    assert pack.brief["trigger"]["text"] == "get me a human now"
    assert pack.brief["wants"].startswith("Help with a charge or an invoice (order A-12345")
    assert pack.summary.startswith("The customer asked for a person: \u201cget me a human now")
    assert pack.transcript[0]["text"].startswith("My order A-12345")
    assert handoff.priority > 0
    assert "follow up" in Message.objects.filter(conversation_id=conv).last().text


def test_expiry_and_claims_never_both_win(key_client, team, online):
    ada, _ = online
    conv = start(key_client)
    handoff_id = say(key_client, conv, "get me a human")["handoff"]["id"]
    as_person(ada).post(f"/api/v1/handoffs/{handoff_id}/claim")

    assert handoff_make_cold(handoff_id=handoff_id, reason="late") is None
    assert Handoff.objects.get(pk=handoff_id).status == "claimed"


def test_a_cold_email_handoff_tells_the_customer_by_email(
    key_client, team, tenant, django_capture_on_commit_callbacks, eager_tasks
):
    conv = start(key_client, channel="email", email="kim@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        say(key_client, conv, "I want to talk to a person")

    # one thing told, once, through the outbox: "someone will follow up by e-mail"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["kim@example.com"]
    assert "follow up by e-mail" in mail.outbox[0].body
    assert "shortly" not in mail.outbox[0].body
    texts = list(Message.objects.filter(conversation_id=conv).values_list("text", flat=True))
    assert sum("follow up" in text for text in texts) == 1


def test_queued_handoffs_show_the_response_targets_of_their_priority_and_breaches(
    key_client, team, tenant, ada
):
    targets = {band: {"firstResponse": 3600, "resolution": 7200} for band in BANDS}
    targets["medium"] = {"firstResponse": 1800, "resolution": 3 * 3600}
    settings_update(level="tenant", tenant=tenant, changes={"responseTargets": targets})
    conv = start(key_client)
    handoff_id = say(key_client, conv, "get me a human")["handoff"]["id"]
    handoff = Handoff.objects.get(pk=handoff_id)
    assert priority_band(handoff.priority) == "medium"  # a request for a person: 10
    opened = timezone.now() - dt.timedelta(minutes=45)
    Handoff.objects.filter(pk=handoff_id).update(created_at=opened, queued_at=opened)

    listed = as_person(ada).get("/api/v1/handoffs?status=queued").json()

    row = listed[0]
    assert row["priorityBand"] == "medium"
    assert row["responseTargetMinutes"] == 30
    assert row["waitingMinutes"] == 45
    assert dt.datetime.fromisoformat(row["firstResponseDueAt"]) == opened + dt.timedelta(minutes=30)
    assert dt.datetime.fromisoformat(row["resolutionDueAt"]) == opened + dt.timedelta(hours=3)
    assert row["firstRespondedAt"] is None
    assert (row["breached"], row["breaches"]) == (True, ["firstResponse"])


def test_a_persons_first_message_meets_the_first_response_target(key_client, team, ada):
    conv = start(key_client)
    handoff = Handoff.objects.get(pk=say(key_client, conv, "get me a human")["handoff"]["id"])
    handoff_claim(handoff=handoff, user=ada)
    conversation = Conversation.objects.get(pk=conv)

    first = human_send_message(conversation=conversation, user=ada, text="Hi, Ada here.")
    second = human_send_message(conversation=conversation, user=ada, text="Let me look.")

    handoff.refresh_from_db()
    assert handoff.first_response_at == first.created_at
    # the conversation's last activity follows each message
    assert Conversation.objects.get(pk=conv).last_activity_at == second.created_at
    row = as_person(ada).get(f"/api/v1/handoffs/{handoff.pk}").json()
    assert row["firstRespondedAt"] is not None
    assert (row["breached"], row["breaches"]) == (False, [])


def test_stack_settings_override_the_tenants_response_targets(key_client, team, tenant, ada):
    sup = team[0]
    quick = {band: {"firstResponse": 60, "resolution": 120} for band in BANDS}
    settings_update(level="stack", stack=sup, changes={"responseTargets": quick})
    conv = start(key_client)
    say(key_client, conv, "get me a human")

    row = as_person(ada).get("/api/v1/handoffs").json()[0]

    assert row["responseTargetMinutes"] == 1


def test_a_handoff_is_never_lost_when_the_real_time_layer_is_down(
    key_client, team, online, settings, django_capture_on_commit_callbacks, eager_tasks
):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "config.channel_layer.BatchingRedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},  # nothing listens there
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        conv = start(key_client)
        with django_capture_on_commit_callbacks(execute=True):
            body = say(key_client, conv, "get me a human")
    finally:
        channel_layers.backends.clear()

    handoff = Handoff.objects.get(pk=body["handoff"]["id"])
    assert (handoff.mode, handoff.status) == ("cold", "queued")
    expired = DecisionEvent.objects.get(conversation_id=conv, type="handoff.expired")
    assert expired.detail["reason"].startswith("live delivery failed")
    assert handoff.pack.summary


def test_key_details_and_sentiment_trend():
    details = key_details(
        ["Order #ORD-5512 cost 120 EUR, write to me at Kim@Example.com", "It was on 3 March 2026"]
    )
    assert details["orderIds"] == ["ORD-5512"]
    assert details["amounts"] == ["120 EUR"]
    assert details["emails"] == ["kim@example.com"]
    assert details["dates"] == ["3 March 2026"]
    assert sentiment_trend([0.2, -0.1, -0.6])["trend"] == "worsening"


def test_another_tenants_handoffs_are_out_of_reach(key_client, team, other_tenant, online):
    from agents.models import Agent
    from tests.factories import make_api_key, make_person

    Agent.objects.create(tenant=other_tenant, slug="agent-sup", name="S", role="supervisor")
    _, raw = make_api_key(tenant=other_tenant)
    them = APIClient()
    them.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    theirs = start(them)
    their_handoff = say(them, theirs, "get me a human")["handoff"]["id"]
    ada, _ = online

    assert as_person(ada).get(f"/api/v1/handoffs/{their_handoff}").status_code == 404
    assert as_person(ada).post(f"/api/v1/handoffs/{their_handoff}/claim").status_code == 404
    assert all(h["id"] != their_handoff for h in as_person(ada).get("/api/v1/handoffs").json())
    outsider = make_person(tenant=other_tenant, roles=["agent"], username="eve")
    mine = say(key_client, start(key_client), "get me a human")["handoff"]["id"]
    assert as_person(outsider).post(f"/api/v1/handoffs/{mine}/claim").status_code == 404


def test_integration_keys_and_non_agents_cannot_claim(key_client, team, online, tenant):
    from tests.factories import make_person

    conv = start(key_client)
    handoff_id = say(key_client, conv, "get me a human")["handoff"]["id"]
    approver = make_person(tenant=tenant, roles=["approver"], username="appr")

    assert key_client.post(f"/api/v1/handoffs/{handoff_id}/claim").status_code == 403
    assert as_person(approver).post(f"/api/v1/handoffs/{handoff_id}/claim").status_code == 403
    assert key_client.get("/api/v1/handoffs?status=nonsense").status_code == 400
