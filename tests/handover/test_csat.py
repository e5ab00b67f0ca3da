"""The customer's rating of a resolved conversation (issue 19, point 5): the chat page posts
it with the customer token; one rating per conversation (a second is refused: 409, the first
stays), only once resolved, only by the holder of the conversation's token, 1 to 5."""

from __future__ import annotations

import pytest
from django.test import Client

from agents.models import Agent
from conversations.models import Conversation
from conversations.services import conversation_start
from handover.models import CsatRating, Handoff
from handover.services import conversation_resolve, handoff_claim
from orchestration.turns import conversation_receive_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def resolved(tenant, team, ada):
    """A web conversation handed to Ada, who claimed and resolved it; with its token."""
    entry = Agent.objects.get(tenant=tenant, slug="agent-sup")
    conversation, token = conversation_start(
        tenant=tenant, agent=entry, channel="web", customer={"id": "kim", "name": "Kim"}
    )
    conversation_receive_message(conversation=conversation, text="I want a human please")
    handoff_claim(handoff=Handoff.objects.get(conversation=conversation), user=ada)
    conversation_resolve(conversation=conversation, user=ada)
    return Conversation.objects.get(pk=conversation.pk), token


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
