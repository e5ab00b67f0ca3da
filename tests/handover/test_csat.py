"""The customer's rating of a resolved conversation (issue 19, point 5): the chat page posts
it with the customer token; one rating per conversation (a second is refused: 409, the first
stays), only once resolved, only by the holder of the conversation's token, 1 to 5."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from conversations.services import conversation_start
from handover.models import CsatRating

pytestmark = pytest.mark.django_db


def rate(client, conversation, token, score, slug="acme"):
    return client.post(
        f"/chat/{slug}/rate",
        {"conversationId": str(conversation.pk), "token": token, "score": score},
        content_type="application/json",
    )


def test_a_rating_is_kept_once_with_the_person_who_had_the_conversation(resolved, ada):
    conversation, token = resolved

    first = rate(Client(), conversation, token, 4)
    second = rate(Client(), conversation, token, 1)

    assert first.status_code == 201 and first.json()["score"] == 4
    assert second.status_code == 409
    assert "rated already" in second.json()["error"]["message"]
    rating = CsatRating.objects.get()
    assert (rating.score, rating.person, rating.conversation_id) == (4, ada, conversation.pk)


def test_the_chat_page_asks_for_the_rating(tenant, team):
    html = Client().get("/chat/acme/").content.decode()

    assert 'id="csat"' in html
    assert html.count("data-score=") == 5
    assert '"rateUrl": "/chat/acme/rate"' in html


@pytest.mark.parametrize(
    ("score", "status"), [(0, 400), (6, 400), ("five", 400), (True, 400), (None, 400), ("3", 201)]
)
def test_only_a_score_from_1_to_5_is_taken(resolved, score, status):
    conversation, token = resolved

    response = rate(Client(), conversation, token, score)

    assert response.status_code == status
    if status == 400:
        assert response.json()["error"]["fields"] == {"score": ["must be 1 to 5"]}
        assert not CsatRating.objects.exists()


def test_a_wrong_token_or_another_tenants_chat_finds_nothing(resolved, other_tenant):
    conversation, token = resolved

    assert rate(Client(), conversation, "not-the-token", 5).status_code == 404
    assert rate(Client(), conversation, token, 5, slug=other_tenant.slug).status_code == 404
    assert rate(Client(), conversation, token, 5, slug="nobody").status_code == 404
    assert not CsatRating.objects.exists()


def test_an_open_conversation_cannot_be_rated_yet(tenant, team):
    entry = Agent.objects.get(tenant=tenant, slug="agent-sup")
    conversation, token = conversation_start(
        tenant=tenant, agent=entry, channel="web", customer={"id": "lee", "name": "Lee"}
    )

    response = rate(Client(), conversation, token, 5)

    assert response.status_code == 409
    assert not CsatRating.objects.exists()


def test_the_rating_needs_the_pages_csrf_token(resolved):
    conversation, token = resolved

    response = rate(Client(enforce_csrf_checks=True), conversation, token, 5)

    assert response.status_code == 403


def say(client, conversation, token, comment, slug="acme"):
    return client.post(
        f"/chat/{slug}/rate/comment",
        {"conversationId": str(conversation.pk), "token": token, "comment": comment},
        content_type="application/json",
    )


def test_the_customer_adds_words_to_their_rating_once(resolved, ada, manager_client, tenant):
    conversation, token = resolved
    assert say(Client(), conversation, token, "Thanks!").status_code == 409  # no rating yet
    rate(Client(), conversation, token, 2)

    kept = say(Client(), conversation, token, "  The label was wrong twice.  ")
    again = say(Client(), conversation, token, "Actually fine")

    assert kept.status_code == 200, kept.json()
    assert kept.json() == {"score": 2, "comment": "The label was wrong twice."}
    assert again.status_code == 409 and "already" in again.json()["error"]["message"]
    assert CsatRating.objects.get().comment == "The label was wrong twice."
    # the team reads it beside the rating: the conversation's page, the dashboard, the API
    page = manager_client.get(f"/inbox/conversations/{conversation.pk}/view").content.decode()
    assert "2 of 5: “The label was wrong twice.”" in page
    dashboard = manager_client.get(reverse("admin:insight_dashboard")).content.decode()
    assert "“The label was wrong twice.”" in dashboard and "with ada" in dashboard
    from tests.factories import make_api_key

    _, raw = make_api_key(tenant=tenant)
    metrics = Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/metrics").json()
    (said,) = metrics["csat"]["comments"]
    assert (said["score"], said["comment"], said["person"]) == (
        2,
        "The label was wrong twice.",
        "ada",
    )


@pytest.mark.parametrize(
    "comment",
    ["", "   ", None, 5, ["words"], "x" * 1001, "nul\x00here", "\ud800"],
)
def test_a_bad_comment_is_a_400_naming_it_and_keeps_nothing(resolved, comment):
    import json

    conversation, token = resolved
    rate(Client(), conversation, token, 5)
    body = {"conversationId": str(conversation.pk), "token": token, "comment": comment}

    refused = Client().post(
        "/chat/acme/rate/comment", json.dumps(body), content_type="application/json"
    )

    assert refused.status_code == 400, refused.content
    assert list(refused.json()["error"]["fields"]) == ["comment"]
    assert CsatRating.objects.get().comment == ""


def test_a_comment_needs_the_conversations_token(resolved, other_tenant):
    conversation, token = resolved
    rate(Client(), conversation, token, 5)

    assert say(Client(), conversation, "ct_wrong", "hi").status_code == 404
    assert CsatRating.objects.get().comment == ""
