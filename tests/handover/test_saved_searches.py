"""Saved searches of the history (handover/saved_searches.py): a person saves the search on
screen under a name and opens it again from the history's page; their own are theirs alone, a
manager shares one with the team and may take a shared one away; another tenant sees none; bad
input is a 400 naming the field with nothing saved; the admin lists them."""

from __future__ import annotations

import html as html_lib

import pytest

from handover.models import SavedSearch
from tests.factories import make_person
from tests.handover.test_history import as_person, opened

pytestmark = pytest.mark.django_db

SAVE = "/inbox/history/searches"


def saved_names(client, **params) -> list[str]:
    html = client.get("/inbox/history/", params).content.decode()
    if 'id="saved-searches"' not in html:
        return []
    bar = html.split('id="saved-searches"')[1].split("</nav>")[0]
    return [
        html_lib.unescape(part.split(">", 1)[1].split("<", 1)[0])
        for part in bar.split('<a href="?')[1:]
    ]


def test_a_person_saves_the_search_on_screen_and_opens_it_again(key_client, team, tenant, ada):
    opened(key_client, "cust-1", "I want to speak to a human about my refund")
    client = as_person(ada)

    page = client.get("/inbox/history/", {"q": "refund", "state": "handing_off"})
    assert 'id="save-search"' in page.content.decode()  # a search on screen can be saved
    assert 'id="save-search"' not in client.get("/inbox/history/").content.decode()

    saved = client.post(SAVE, {"name": " Refunds waiting ", "query": "state=handing_off&q=refund"})

    assert saved.status_code == 302
    assert saved["Location"] == "/inbox/history/?q=refund&state=handing_off"  # one order
    search = SavedSearch.objects.get()
    assert (search.name, search.owner, search.shared, search.tenant) == (
        "Refunds waiting",
        ada,
        False,
        tenant,
    )
    html = client.get(saved["Location"]).content.decode()
    assert "Saved “Refunds waiting”." in html
    bar = html.split('id="saved-searches"')[1].split("</nav>")[0]
    assert (
        '<a href="?q=refund&amp;state=handing_off" aria-current="page">Refunds waiting</a>' in bar
    )
    assert "cust-1" in html or "Visitor" in html  # what it finds is listed under it
    assert saved_names(client) == ["Refunds waiting"]  # on every search, not only its own


def test_own_searches_are_ones_own_a_managers_shared_one_is_everyones(
    team, tenant, ada, manager, other_manager
):
    bob = make_person(tenant=tenant, roles=["agent"], username="bob")
    as_person(ada).post(SAVE, {"name": "Mine", "query": "tag=vip"})
    shared = as_person(manager).post(
        SAVE, {"name": "Late parcels", "query": "tag=carrier-late", "shared": "on"}
    )
    assert shared.status_code == 302
    as_person(manager).post(SAVE, {"name": "Manager's own", "query": "state=resolved"})

    assert saved_names(as_person(ada)) == ["Mine", "Late parcels"]  # theirs first
    assert saved_names(as_person(bob)) == ["Late parcels"]
    assert saved_names(as_person(manager)) == ["Late parcels", "Manager's own"]
    assert saved_names(as_person(other_manager)) == []  # another tenant's see nothing

    # only a manager shares: an agent's "shared" is refused, nothing saved
    refused = as_person(bob).post(SAVE, {"name": "Team", "query": "tag=x", "shared": "on"})
    assert refused.status_code == 400
    assert "shared: Only a manager shares a search with the team." in refused.content.decode()
    assert not SavedSearch.objects.filter(name="Team").exists()


def test_who_removes_which_saved_search(team, tenant, ada, manager, other_manager):
    bob = make_person(tenant=tenant, roles=["agent"], username="bob")
    as_person(ada).post(SAVE, {"name": "Mine", "query": "tag=vip"})
    as_person(manager).post(SAVE, {"name": "Team", "query": "tag=late", "shared": "on"})
    mine, team_search = SavedSearch.objects.get(name="Mine"), SavedSearch.objects.get(name="Team")

    def remove(user, search):
        return as_person(user).post(
            f"/inbox/history/searches/{search.pk}/remove", {"back": "tag=vip&nonsense=1"}
        )

    assert remove(bob, mine).status_code == 404  # another person's own: as if none
    assert remove(bob, team_search).status_code == 404  # shared, but bob is no manager
    assert remove(other_manager, team_search).status_code == 404  # another tenant's manager
    assert remove(manager, mine).status_code == 404  # a manager does not see one's own
    assert SavedSearch.objects.count() == 2

    removed = remove(ada, mine)
    assert removed.status_code == 302 and removed["Location"] == "/inbox/history/?tag=vip"
    assert remove(manager, team_search).status_code == 302
    assert not SavedSearch.objects.exists()
    assert as_person(ada).get(f"/inbox/history/searches/{mine.pk}/remove").status_code == 405


@pytest.mark.parametrize(
    "data, problem",
    [
        ({"name": "", "query": "tag=vip"}, "name: Give the search a name."),
        ({"name": "x" * 61, "query": "tag=vip"}, "name: At most 60 characters."),
        ({"name": "All", "query": ""}, "query: Search for words or pick a filter first."),
        ({"name": "All", "query": "page=3"}, "query: Search for words or pick a filter first."),
        ({"name": "Odd", "query": "state=sleeping"}, "query.state: must be one of"),
        ({"name": "Odd", "query": "since=2026-13-40"}, "query.since: must be a date"),
        ({"name": "Long", "query": "q=" + "x" * 1000}, "query: At most 1000 characters."),
    ],
)
def test_a_search_that_cannot_be_saved_says_why_and_nothing_is_saved(team, ada, data, problem):
    refused = as_person(ada).post(SAVE, data)

    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'id="save-search-problem"' in html and problem in html
    assert not SavedSearch.objects.exists()


def test_a_refused_save_shows_an_agent_only_what_the_history_shows_them(key_client, team, ada):
    opened(key_client, "cust-ai", "Where is my invoice?")  # the AI keeps it: not for people
    opened(key_client, "cust-human", "I want to speak to a human please")

    refused = as_person(ada).post(SAVE, {"name": "", "query": "channel=web"})

    assert refused.status_code == 400
    assert refused.content.decode().count("<tr data-conversation=") == 1  # handed to people
    assert (
        as_person(ada)
        .get("/inbox/history/", {"channel": "web"})
        .content.decode()
        .count("<tr data-conversation=")
        == 1
    )


def test_a_nul_in_the_name_is_refused_and_bytes_that_are_no_utf8_stay_harmless(team, ada):
    def post(body: bytes):
        return as_person(ada).generic(
            "POST", SAVE, body, content_type="application/x-www-form-urlencoded"
        )

    refused = post(b"name=Bad%00&query=tag%3Dvip")
    assert refused.status_code == 400 and "name: " in refused.content.decode()
    assert not SavedSearch.objects.exists()
    # a lone surrogate's bytes are no UTF-8: read as the replacement character, stored safely
    assert post(b"name=Bad%ED%A0%80&query=tag%3Dvip").status_code == 302
    assert SavedSearch.objects.get().name.startswith("Bad\ufffd")


def test_a_name_is_one_search_per_person_and_a_person_keeps_fifty(team, tenant, ada, manager):
    as_person(ada).post(SAVE, {"name": "VIP", "query": "tag=vip"})
    again = as_person(ada).post(SAVE, {"name": "VIP", "query": "tag=gold"})
    assert again.status_code == 400
    assert "You already have a search named “VIP”." in again.content.decode()
    assert as_person(manager).post(SAVE, {"name": "VIP", "query": "tag=vip"}).status_code == 302

    SavedSearch.objects.bulk_create(
        SavedSearch(tenant=tenant, owner=ada, name=f"s{i}", query="tag=x") for i in range(49)
    )
    full = as_person(ada).post(SAVE, {"name": "One more", "query": "tag=x"})
    assert full.status_code == 400 and "You have 50 saved searches" in full.content.decode()


def test_an_approver_has_no_history_and_no_saved_searches(team, tenant):
    priya = make_person(tenant=tenant, roles=["approver"], username="priya2")
    assert as_person(priya).post(SAVE, {"name": "X", "query": "tag=x"}).status_code == 403
    assert not SavedSearch.objects.exists()


def test_the_manager_renames_shares_and_removes_them_in_the_admin(
    team, tenant, ada, manager, other_manager
):
    as_person(ada).post(SAVE, {"name": "Mine", "query": "tag=vip"})
    as_person(ada).post(SAVE, {"name": "Other", "query": "tag=gold"})
    search = SavedSearch.objects.get(name="Mine")
    url = f"/admin/handover/savedsearch/{search.pk}/change/"
    client = as_person(manager)

    listed = client.get("/admin/handover/savedsearch/")
    assert listed.status_code == 200 and "Mine" in listed.content.decode()
    taken = client.post(url, {"name": "Other", "shared": "on"})
    assert (
        taken.status_code == 200 and "ada already has a search named so." in taken.content.decode()
    )
    assert client.post(url, {"name": "VIP customers", "shared": "on"}).status_code == 302
    search.refresh_from_db()
    assert (search.name, search.shared, search.query) == ("VIP customers", True, "tag=vip")
    assert as_person(other_manager).get(url).status_code in (302, 403, 404)
