"""History, search and the customer (issue 19, point 3), below the browser: the searchable list
(full-text search on PostgreSQL, LIKE on SQLite), its filters and reach, tenants apart, a page's
queries that do not grow with the rows, a conversation read-only with the customer's other
conversations, and the managers' view of who holds what."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Conversation
from handover.models import Handoff
from handover.services import (
    conversation_resolve,
    handoff_claim,
    human_send_message,
    note_post,
)
from handover.snooze import handoff_snooze
from tests.factories import make_api_key, make_person, make_team

pytestmark = pytest.mark.django_db


def as_person(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def opened(key_client, customer: str, text: str, *, name: str = "") -> Conversation:
    response = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": customer, "name": name}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    conversation_id = response.json()["id"]
    key_client.post(
        f"/api/v1/conversations/{conversation_id}/messages", {"text": text}, format="json"
    )
    return Conversation.objects.get(pk=conversation_id)


def resolved_by(key_client, person, customer: str, words: str) -> Conversation:
    """A conversation handed to people, claimed, answered with ``words`` and resolved."""
    conversation = opened(key_client, customer, "I want to speak to a human please", name="Kim")
    handoff = Handoff.objects.get(conversation=conversation)
    handoff_claim(handoff=handoff, user=person)
    human_send_message(conversation=conversation, user=person, text=words)
    conversation_resolve(conversation=conversation, user=person)
    return conversation


def found(client, **params) -> list[str]:
    response = client.get("/inbox/history/", params)
    assert response.status_code == 200, response.content[:500]
    return [str(c.pk) for c in response.context["rows"]]


def test_search_finds_a_resolved_conversation_by_a_word_in_it(key_client, team, online, ada):
    umbrella = resolved_by(key_client, ada, "c-1", "Your blue umbrella ships tomorrow.")
    other = resolved_by(key_client, ada, "c-2", "Your boots ship tomorrow.")

    assert found(as_person(ada), q="umbrella") == [str(umbrella.pk)]
    assert set(found(as_person(ada), q="tomorrow")) == {str(umbrella.pk), str(other.pk)}
    assert found(as_person(ada), q="kayak") == []
    assert found(as_person(ada), q="umbrella", state="active") == []
    assert found(as_person(ada), q="umbrella", state="resolved", assignee="ada") == [
        str(umbrella.pk)
    ]


def test_search_never_returns_another_tenants_conversation(
    key_client, team, online, ada, other_tenant
):
    mine = resolved_by(key_client, ada, "c-1", "The umbrella is on its way.")
    make_team(other_tenant)
    theirs_key = APIClient()
    theirs_key.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")
    theirs = opened(theirs_key, "c-1", "Where is my umbrella?")
    their_manager = make_person(tenant=other_tenant, roles=["manager"], username="globex-boss")

    assert found(as_person(ada), q="umbrella") == [str(mine.pk)]
    assert found(as_person(their_manager), q="umbrella") == [str(theirs.pk)]
    assert as_person(ada).get(f"/inbox/conversations/{theirs.pk}/view").status_code == 404


def test_an_agent_finds_conversations_handed_to_people_a_manager_every_one(
    key_client, team, online, ada, manager
):
    handed = resolved_by(key_client, ada, "c-1", "About your umbrella.")
    ai_only = opened(key_client, "c-2", "Do you sell umbrellas? umbrella")

    assert found(as_person(ada), q="umbrella") == [str(handed.pk)]
    assert set(found(as_person(manager), q="umbrella")) == {str(handed.pk), str(ai_only.pk)}
    assert as_person(ada).get(f"/inbox/conversations/{ai_only.pk}/view").status_code == 404
    assert as_person(manager).get(f"/inbox/conversations/{ai_only.pk}/view").status_code == 200


def test_bad_filters_are_a_400_naming_the_field(ada, team):
    for params, field in (
        ({"since": "yesterday"}, "since"),
        ({"state": "asleep"}, "state"),
        ({"q": "x" * 201}, "q"),
        ({"since": "2026-02-02", "until": "2026-01-01"}, "until"),
    ):
        response = as_person(ada).get("/inbox/history/", params)
        assert response.status_code == 400
        assert response.context["problem"].field == field


def test_a_page_of_the_history_costs_the_same_queries_with_more_rows(
    key_client, team, online, ada, manager
):
    for i in range(3):
        opened(key_client, f"c-{i}", "Where is my parcel?")
    client = as_person(manager)
    client.get("/inbox/history/")  # sessions and caches warm

    with CaptureQueriesContext(connection) as few:
        assert len(found(client, q="parcel")) == 3
    for i in range(3, 30):
        opened(key_client, f"c-{i}", "Where is my parcel?")
    with CaptureQueriesContext(connection) as many:
        assert len(found(client, q="parcel")) == 25

    assert len(many) == len(few)
    assert client.get("/inbox/history/", {"q": "parcel", "page": 2}).context["rows"].__len__() == 5


def test_the_conversation_read_only_with_notes_and_the_customers_other_conversations(
    key_client, team, online, ada
):
    first = resolved_by(key_client, ada, "c-9", "The umbrella is refunded.")
    second = opened(key_client, "c-9", "I want to speak to a human please", name="Kim")
    note_post(conversation=second, user=ada, text="Second time this week")

    page = as_person(ada).get(f"/inbox/conversations/{second.pk}/view")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Second time this week" in html and "Private note" in html
    assert [c.pk for c in page.context["past"]] == [first.pk]
    assert f"/inbox/conversations/{first.pk}/view" in html


def test_the_inbox_counts_all_the_customers_conversations_and_links_the_history_to_them(
    key_client, team, online, ada, tenant
):
    from django.urls import reverse

    from conversations.services import conversation_start

    this = opened(key_client, "c-12", "I want to speak to a human please", name="Kim")
    assert (
        as_person(ada)
        .get(reverse("inbox-conversation", args=[this.pk]))
        .json()["customerHistoryUrl"]
        is None
    )  # none before
    for _ in range(12):  # Kim's twelve chats before, handed to people like this one
        before, _token = conversation_start(
            tenant=tenant, agent=this.current_agent, channel="web", customer={"id": "c-12"}
        )
        Handoff.objects.create(
            tenant=tenant, conversation=before, mode="cold", status="resolved", reason="x"
        )

    detail = as_person(ada).get(reverse("inbox-conversation", args=[this.pk])).json()

    assert len(detail["customerHistory"]) == 10  # the latest ten listed
    assert detail["customerHistoryCount"] == 12
    url = detail["customerHistoryUrl"]
    assert url == "/inbox/history/?customer=c-12"
    listed = found(as_person(ada), customer=url.split("customer=")[1])
    assert len(listed) == 13  # the twelve and this one
    # and the customer's page, which lists them all
    assert detail["customerUrl"] == "/inbox/customers/one?id=c-12"
    page = as_person(ada).get(detail["customerUrl"])
    assert page.status_code == 200
    assert page.content.decode().count('<tr data-conversation="') == 13


def test_managers_see_who_holds_what_and_agents_do_not(key_client, team, online, ada, bob, tenant):
    boss = make_person(tenant=tenant, roles=["manager"], username="boss")
    held = opened(key_client, "c-1", "I want to speak to a human please", name="Kim")
    handoff_claim(handoff=Handoff.objects.get(conversation=held), user=ada)

    assert as_person(boss).get("/inbox/").url == "/inbox/team/"  # a manager, no agent
    page = as_person(boss).get("/inbox/team/")
    rows = {row["user"].username: row for row in page.context["rows"]}
    assert [c.pk for c in rows["ada"]["held"]] == [held.pk] and rows["bob"]["held"] == []
    assert rows["ada"]["online"] is True
    assert b"(snoozed)" not in page.content
    handoff_snooze(
        handoff=Handoff.objects.get(conversation=held),
        user=ada,
        until=(timezone.now() + dt.timedelta(hours=1)).isoformat(),
    )
    assert b"(snoozed)" in as_person(boss).get("/inbox/team/").content  # still hers, set aside
    assert as_person(ada).get("/inbox/team/").status_code == 403


def test_on_postgresql_the_word_search_can_use_its_gin_index():
    """The search's expression is the index's: the planner can answer the words from it.

    Whether it *prefers* the index depends on the table's statistics (rows other tests wrote
    and rolled back, a word found in most rows); whether it *can* use it does not. So the
    words' filter alone (the search's own expression, no ordering, hence no join) is explained
    with every other way to read the table priced out (a plain or index-only scan of another
    index, a sequential scan): only the GIN index can answer it without a disabled node, and
    an expression that did not match the index's would leave a sequential scan in the plan."""
    if connection.vendor != "postgresql":
        pytest.skip("the GIN index exists on PostgreSQL only (SQLite searches with LIKE)")
    from django.contrib.postgres.search import SearchQuery, SearchVector

    from conversations.models import Message
    from conversations.search import SEARCH_CONFIG

    query = (
        Message.objects.annotate(words=SearchVector("text", config=SEARCH_CONFIG))
        .filter(words=SearchQuery("umbrella", config=SEARCH_CONFIG, search_type="websearch"))
        .order_by()
        .values("conversation_id")
    )
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:  # the test's transaction: SET LOCAL ends with it
        for method in ("seqscan", "indexscan", "indexonlyscan"):
            cursor.execute(f"SET LOCAL enable_{method} = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Bitmap Index Scan on message_text_search" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_the_api_finds_conversations_the_same_way_and_names_a_bad_filter(
    key_client, team, online, ada, other_tenant
):
    umbrella = resolved_by(key_client, ada, "c-1", "Your blue umbrella ships tomorrow.")
    opened(key_client, "c-2", "Where are my boots?")
    make_team(other_tenant)
    theirs_key = APIClient()
    theirs_key.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")
    opened(theirs_key, "c-1", "My umbrella broke")

    response = key_client.get("/api/v1/conversations", {"q": "umbrella"})
    assert [c["id"] for c in response.json()] == [str(umbrella.pk)]
    assert [c["id"] for c in key_client.get("/api/v1/conversations?q=kayak").json()] == []
    assert as_person(ada).get("/api/v1/conversations?q=boots").status_code == 403  # the table
    bad = key_client.get("/api/v1/conversations", {"since": "soon"})
    assert bad.status_code == 400 and "since" in bad.json()["error"]["fields"]


# --- the export ------------------------------------------------------------------------------


def exported(client, **params) -> list[list[str]]:
    import csv
    import io

    response = client.get("/inbox/history/export.csv", params)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="conversations-')
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_a_manager_exports_the_history_under_its_filters_with_formulas_quoted(
    key_client, team, online, ada, manager, other_tenant
):
    kept = resolved_by(key_client, ada, "c-kim", "Your refund is on its way.")
    opened(key_client, "c-lee", "Where is my parcel?", name='=HYPERLINK("http://x")')
    make_team(other_tenant)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")
    opened(other, "c-kim", "Where is my umbrella?")
    client = as_person(manager)

    header, *rows = exported(client)
    assert header[:6] == ["conversation", "started", "resolved", "state", "channel", "customer"]
    assert len(rows) == 2  # not globex's
    by_id = {row[0]: row for row in rows}
    kim = by_id[str(kept.pk)]
    assert (kim[3], kim[6], kim[9]) == ("resolved", "c-kim", "ada")
    assert kim[12].endswith(f"/inbox/conversations/{kept.pk}/view")
    assert header[13:] == ["group", "customer attributes"]
    assert (kim[13], kim[14]) == ("", "")  # no group took it; the integration told nothing
    (lee,) = [row for row in rows if row[6] == "c-lee"]
    assert lee[5] == '\'=HYPERLINK("http://x")'  # a spreadsheet shows it, never runs it
    (only,) = exported(client, state="resolved")[1:]
    assert only[0] == str(kept.pk)
    page = client.get("/inbox/history/", {"state": "resolved"}).content.decode()
    assert 'href="/inbox/history/export.csv?state=resolved"' in page


def test_the_export_is_a_managers_and_a_bad_filter_is_a_400(ada, manager, team):
    assert as_person(ada).get("/inbox/history/export.csv").status_code == 403
    assert "export.csv" not in as_person(ada).get("/inbox/history/").content.decode()
    refused = as_person(manager).get("/inbox/history/export.csv", {"since": "yesterday"})
    assert refused.status_code == 400 and refused.content.decode().startswith("since:")


def test_the_export_costs_the_same_queries_with_more_rows(key_client, team, manager):
    client = as_person(manager)
    opened(key_client, "c-0", "Where is my parcel?")
    client.get("/inbox/history/export.csv")  # sessions and caches warm

    with CaptureQueriesContext(connection) as few:
        assert len(exported(client)) == 2
    for i in range(1, 20):
        opened(key_client, f"c-{i}", "Where is my parcel?")
    with CaptureQueriesContext(connection) as many:
        assert len(exported(client)) == 21

    assert len(many) == len(few)


def test_an_offline_agent_shows_when_last_seen_and_no_status_that_does_not_apply(tenant):
    import datetime as dt

    from django.utils import timezone

    from handover.models import Presence
    from handover.presence import presence_join
    from handover.services import agent_status_set
    from tests.factories import make_person

    boss = make_person(tenant=tenant, roles=["manager"], username="boss")
    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    make_person(tenant=tenant, roles=["agent"], username="bob")
    presence_join(user=ada, tenant=tenant)
    agent_status_set(user=ada, status="away")
    Presence.objects.filter(user=ada).update(
        sockets=0, last_seen=timezone.now() - dt.timedelta(hours=3)
    )

    page = as_person(boss).get("/inbox/team/?fragment=1").content.decode()

    ada_row = page[page.index('data-agent="ada"') : page.index('data-agent="bob"')]
    bob_row = page[page.index('data-agent="bob"') :].split("</tr>")[0]
    assert "offline" in ada_row and "seen <time" in ada_row and "3\xa0hours ago" in ada_row
    assert ">away<" not in ada_row and "Their status is away once they are back" in ada_row
    assert "never opened the inbox" in bob_row
