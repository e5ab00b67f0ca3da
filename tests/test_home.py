"""The home page links each person to the pages their roles open, and only those: a manager
finds the team view, the conversations, the dashboard and the canvas there, not only the
admin's index; every link it shows opens for them."""

from __future__ import annotations

import re

import pytest

from tests.conftest import login
from tests.factories import make_person

pytestmark = pytest.mark.django_db

EXPECTED = {
    ("manager",): ["Team", "Conversations", "Dashboard", "Canvas", "Admin"],
    ("agent",): ["Inbox", "Conversations"],
    ("approver",): ["Approvals"],
    ("agent", "approver"): ["Inbox", "Approvals", "Conversations"],
    (): [],
}


def _links(html: str) -> list[tuple[str, str]]:
    block = html.split('<ul class="destinations">', 1)
    if len(block) < 2:
        return []
    items = block[1].split("</ul>", 1)[0]
    return re.findall(r'<li><a href="([^"]+)">([^<]+)</a>', items)


@pytest.mark.parametrize("roles", list(EXPECTED))
def test_the_home_page_links_a_person_to_every_page_their_roles_open_and_no_other(tenant, roles):
    person = make_person(tenant=tenant, roles=list(roles), username="p-" + "-".join(roles))
    client = login(person)

    links = _links(client.get("/").content.decode())

    assert [label for _, label in links] == EXPECTED[roles]
    for url, label in links:
        assert client.get(url).status_code == 200, (label, url)


def test_a_manager_who_also_takes_conversations_finds_the_inbox_and_the_team_view(tenant):
    person = make_person(tenant=tenant, roles=["manager", "agent"], username="lead")
    client = login(person)

    labels = [label for _, label in _links(client.get("/").content.decode())]

    assert labels[:2] == ["Inbox", "Team"]


def test_a_superuser_outside_every_tenant_is_linked_only_to_pages_that_open(db):
    from django.contrib.auth import get_user_model

    from tests.factories import PASSWORD

    root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    client = login(root)

    links = _links(client.get("/").content.decode())

    assert "Admin" in [label for _, label in links]
    for url, label in links:
        assert client.get(url).status_code == 200, (label, url)
