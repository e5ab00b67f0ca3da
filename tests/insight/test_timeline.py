"""The conversation timeline in the admin: the transcript interleaved with the decision
events by time, with their durations and the rule (and version) behind each."""

from __future__ import annotations

import pytest
from django.template.defaultfilters import floatformat
from django.urls import reverse

from agents.models import Agent
from conversations.models import (
    DecisionEvent,
    Message,
)
from tests.conftest import login
from tests.insight.support import at, conversation, customer_message, event, say, start

pytestmark = pytest.mark.django_db


def timeline(client, conversation_id):
    return client.get(reverse("admin:insight_timeline", args=[conversation_id]))


def test_the_transcript_is_interleaved_with_the_events_in_order(key_client, manager_client, team):
    conv = start(key_client)
    say(key_client, conv["id"], "Where is my invoice?", intent="billing")
    say(key_client, conv["id"], "And the app crashes", intent="technical")

    response = timeline(manager_client, conv["id"])

    assert response.status_code == 200
    rows = [
        (item["kind"], item["message"].role if item["kind"] == "message" else item["event"].type)
        for item in response.context["items"]
    ]
    assert rows == [
        ("event", "agent.routed"),  # started with the front desk
        ("message", "customer"),
        ("event", "message.classified"),
        ("event", "state.changed"),  # triaged -> active, in the same turn
        ("event", "rule.fired"),
        ("event", "agent.routed"),
        ("event", "agent.replied"),
        ("message", "agent"),  # "I'm transferring you to Billing."
        ("message", "agent"),  # the billing answer
        ("message", "customer"),
        ("event", "message.classified"),
        ("event", "agent.replied"),  # under handoff, billing answers every following message
        ("message", "agent"),
    ]
    events = [i["event"] for i in response.context["items"] if i["kind"] == "event"]
    assert [e.pk for e in events] == sorted(e.pk for e in events)


def test_each_event_shows_its_rule_with_version_linked_to_the_history(
    key_client, manager_client, team
):
    sup = team[0]
    conv = start(key_client)
    say(key_client, conv["id"], "Where is my invoice?", intent="billing")

    response = timeline(manager_client, conv["id"])

    page = response.content.decode()
    events = [i for i in response.context["items"] if i["kind"] == "event"]
    fired = next(i for i in events if i["event"].type == "rule.fired")
    assert fired["event"].rule == "agent-sup v1 handoffs[0]"
    history = reverse("admin:agents_ruleset_rules_history", args=[sup.pk])
    assert fired["rule_url"] == f"{history}#v1"
    assert f'<a href="{history}#v1">agent-sup v1 handoffs[0]</a>' in page
    assert fired["summary"].startswith("handoff → agent-billing (")
    classified = DecisionEvent.objects.get(conversation_id=conv["id"], type="message.classified")
    assert f"{floatformat(classified.duration_ms, 2)} ms" in page


def test_events_without_a_message_outside_a_turn_keep_their_own_time(manager_client, team):
    conv = conversation(team[0], when=at(4, 10))
    message = customer_message(conv, "hello")
    Message.objects.filter(pk=message.pk).update(created_at=at(4, 10, 0, 30))
    event(conv, "message.classified", when=at(4, 10, 1), message=message)
    event(conv, "handoff.claimed", when=at(4, 11), detail={"by": "ada", "mode": "cold"})
    later = customer_message(conv, "thanks")
    Message.objects.filter(pk=later.pk).update(created_at=at(4, 12))

    items = timeline(manager_client, conv.pk).context["items"]

    assert [i["event"].type if i["kind"] == "event" else i["message"].text for i in items] == [
        "agent.routed",
        "hello",
        "message.classified",
        "handoff.claimed",
        "thanks",
    ]


def test_the_conversation_admin_links_to_the_timeline(key_client, manager_client, team):
    conv = start(key_client)
    url = reverse("admin:insight_timeline", args=[conv["id"]])

    listing = manager_client.get(reverse("admin:conversations_conversation_changelist"))
    detail = manager_client.get(
        reverse("admin:conversations_conversation_change", args=[conv["id"]])
    )

    assert f'href="{url}"' in listing.content.decode()
    assert f'href="{url}"' in detail.content.decode()


def test_another_tenants_timeline_is_not_found(key_client, team, other_manager, other_tenant):
    conv = start(key_client)
    Agent.objects.create(tenant=other_tenant, slug="agent-x", name="X", role="supervisor")

    assert timeline(login(other_manager), conv["id"]).status_code == 404


def test_a_file_the_customer_sent_shows_on_the_timeline(
    key_client, manager_client, team, settings, tmp_path
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = str(tmp_path)
    conv_id = start(key_client)["id"]
    photo = SimpleUploadedFile("heel.png", b"\x89PNG\r\n\x1a\n" + bytes(16), "image/png")
    sent = key_client.post(
        f"/api/v1/conversations/{conv_id}/files", {"file": photo}, format="multipart"
    )
    assert sent.status_code == 201

    page = timeline(manager_client, conv_id).content.decode()

    assert 'class="file-image"' in page and 'alt="heel.png"' in page
