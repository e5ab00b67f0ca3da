"""`./run up` says where the demo's pages are, with their logins, and how to try it (issue 19,
point 11); the README's first screen says the same."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from agents.models import KnowledgeEntry
from stacks.demo import DEMO_PEOPLE, WALKTHROUGH_REFUND

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["/chat/demo/", "/inbox/", "/approvals/", "/admin/"]

pytestmark = pytest.mark.django_db


def test_seed_demo_prints_the_pages_with_their_logins_and_the_walkthrough():
    out = io.StringIO()
    call_command("seed_demo", site="http://127.0.0.1:8000", stdout=out)

    text = out.getvalue()
    for page in PAGES:
        assert f"http://127.0.0.1:8000{page}" in text
    for username, password, _, _ in DEMO_PEOPLE:
        assert f"{username} / {password}" in text
    assert "I want a refund for my whole order" in text
    # the pages are there, and the chat is the demo tenant's
    client = Client()
    assert client.get("/chat/demo/").status_code == 200
    for page in PAGES[1:]:
        assert client.get(page).status_code in (200, 302)


def test_run_up_prints_the_guide():
    assert 'seed_demo --site "http://$HOST:$PORT"' in (ROOT / "run").read_text()


def test_the_readme_first_screen_names_the_pages_and_the_walkthrough():
    readme = (ROOT / "README.md").read_text()
    first_screen = readme[: readme.index("## Running on PostgreSQL and Redis")]
    for page in PAGES:
        assert f"http://127.0.0.1:8000{page}" in first_screen
    assert "I want a refund for my whole order" in first_screen
    assert "Try it" in first_screen


def test_the_walkthrough_refund_is_seeded_once_above_the_threshold():
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())

    entry = KnowledgeEntry.objects.get(
        agent__slug="agent-billing", question=WALKTHROUGH_REFUND["question"]
    )
    assert entry.action_params["amount"] > 100


# A newcomer's first questions in the demo's chat, and the specialist who should answer each
# from its knowledge (never "I'm not sure I can help"): "where is my order" went to Returns,
# who knew nothing of deliveries.
FIRST_QUESTIONS = [
    ("Hello, where is my order 1234?", "agent-returns", "tracking"),
    ("How do I return an item?", "agent-returns", "within 30 days"),
    ("My boots arrived with a broken heel", "agent-returns", "Send a photo"),
    ("Why was I charged twice?", "agent-billing", ""),
    ("The app keeps crashing", "agent-tech", ""),
]


def _demo_conversation():
    """The demo tenant as seed_demo loads it, and a newcomer's web conversation with it."""
    from agents.models import Agent
    from conversations.services import conversation_start
    from core.models import Tenant

    call_command("seed_demo", stdout=io.StringIO())
    tenant = Tenant.objects.get(slug="demo")
    conversation, _ = conversation_start(
        tenant=tenant,
        agent=Agent.objects.get(tenant=tenant, slug="agent-supervisor"),
        channel="web",
        customer={"id": "newcomer"},
    )
    return conversation


@pytest.mark.parametrize(("question", "agent", "words"), FIRST_QUESTIONS)
def test_the_demo_answers_a_newcomers_first_questions_from_the_right_specialist(
    question, agent, words
):
    from agents.runtimes import CANNOT_ANSWER
    from orchestration.turns import conversation_receive_message

    conversation = _demo_conversation()

    result = conversation_receive_message(conversation=conversation, text=question)

    assert result.reply is not None
    assert result.reply.text != CANNOT_ANSWER
    assert words in result.reply.text
    conversation.refresh_from_db()
    assert conversation.current_agent.slug == agent


def test_the_demo_thanks_a_customer_for_a_photo_sent_without_words():
    from conversations.attachments import without_text
    from orchestration.turns import conversation_receive_message

    conversation = _demo_conversation()
    conversation_receive_message(conversation=conversation, text="My boots arrived broken")

    result = conversation_receive_message(
        conversation=conversation, text=without_text(["heel.png"])
    )

    assert result.reply is not None
    assert "we have your file" in result.reply.text
