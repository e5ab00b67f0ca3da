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
