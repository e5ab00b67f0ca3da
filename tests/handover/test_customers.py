"""The inbox's customers (handover/customers.py): one row a customer by their customer id, the
name and address of their latest conversation, their conversations counted (open ones apart),
signed-in or not, the latest activity first, searched; a customer's page with what is known of
them and their conversations. What a person reaches (a human agent: handed to people), tenants
apart, bad input refused, and queries that do not grow with the customers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation
from handover.blocking import customer_block
from tests.factories import make_person
from tests.handover.test_history import as_person, opened, resolved_by

pytestmark = pytest.mark.django_db


def rows(client, **params) -> list[str]:
    response = client.get("/inbox/customers/", params)
    assert response.status_code == 200, response.content[:500]
    html = response.content.decode()
    return [part.split('"', 1)[0] for part in html.split('<tr data-customer="')[1:]]


def active_at(conversation: Conversation, minutes_ago: int) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(
        last_activity_at=timezone.now() - dt.timedelta(minutes=minutes_ago)
    )


def test_each_customer_is_one_row_the_latest_activity_first(key_client, team, tenant, manager, ada):
    kim_old = resolved_by(key_client, ada, "cust-kim", "Sorted, bye")
    kim_new = opened(key_client, "cust-kim", "Where is my parcel?", name="Kim Lee")
    lee = opened(key_client, "cust-lee", "Hello", name="Lee")
    Conversation.objects.filter(pk=kim_new.pk).update(customer_email="kim@example.com")
    active_at(kim_old, 120)
    active_at(kim_new, 5)
    active_at(lee, 30)

    client = as_person(manager)
    html = client.get("/inbox/customers/").content.decode()

    assert rows(client) == ["cust-kim", "cust-lee"]
    kim_row = html.split('<tr data-customer="cust-kim">')[1].split("</tr>")[0]
    assert "Kim Lee" in kim_row and "kim@example.com" in kim_row  # the latest conversation's
    assert '<td class="num">2</td>' in kim_row and '<td class="num">1</td>' in kim_row
    assert rows(client, q="KIM@example") == ["cust-kim"]
    assert rows(client, q="lee") == ["cust-kim", "cust-lee"]  # Kim Lee, and Lee
    assert rows(client, q="cust-le") == ["cust-lee"]
    assert rows(client, q="nobody") == []


def test_a_human_agent_sees_the_customers_of_conversations_handed_to_people(
    key_client, team, tenant, ada
):
    resolved_by(key_client, ada, "cust-kim", "Sorted")
    quiet = opened(key_client, "cust-quiet", "Just the AI, thanks")

    assert rows(as_person(ada)) == ["cust-kim"]
    page = as_person(ada).get("/inbox/customers/one", {"id": quiet.customer_ref})
    assert page.status_code == 404


def test_a_customers_page_says_what_is_known_and_lists_their_conversations(
    key_client, team, tenant, manager, ada
):
    first = resolved_by(key_client, ada, "cust-kim", "Your refund is on its way")
    second = opened(key_client, "cust-kim", "The parcel is late again", name="Kim")
    Conversation.objects.filter(pk=second.pk).update(
        customer_email="kim@example.com", customer_attributes={"plan": "pro"}
    )
    active_at(first, 60)
    # her mail from the same address: another customer id, the same customer
    mail = opened(key_client, "email:kim@example.com", "About my parcel")
    Conversation.objects.filter(pk=mail.pk).update(customer_email="KIM@example.com")
    active_at(mail, 120)
    stranger = opened(key_client, "cust-other", "Hello")
    customer_block(conversation=Conversation.objects.get(pk=second.pk), user=manager, reason="spam")

    page = as_person(manager).get("/inbox/customers/one", {"id": "cust-kim"})

    assert page.status_code == 200
    html = page.content.decode()
    assert (
        html.index(f'data-conversation="{second.pk}"')
        < html.index(f'data-conversation="{first.pk}"')
        < html.index(f'data-conversation="{mail.pk}"')
    )  # the latest first, her mail too
    assert f'data-conversation="{stranger.pk}"' not in html
    assert "kim@example.com" in html and "plan" in html and "pro" in html
    assert 'id="customer-blocked"' in html
    assert "?customer=cust-kim" in html  # their conversations in the history


@pytest.mark.parametrize("value", ["", "nobody", "x" * 201])
def test_a_customer_that_is_not_there_is_a_404(key_client, team, manager, value):
    opened(key_client, "cust-kim", "Hello")

    assert as_person(manager).get("/inbox/customers/one", {"id": value}).status_code == 404


def test_a_bad_search_is_a_400_that_says_why(key_client, team, manager):
    too_long = as_person(manager).get("/inbox/customers/", {"q": "x" * 201})
    nul = as_person(manager).get("/inbox/customers/", {"q": "a\x00b"})
    nul_id = as_person(manager).get("/inbox/customers/one", {"id": "a\x00b"})

    assert too_long.status_code == 400
    assert "longer than 200 characters" in too_long.content.decode()
    assert (nul.status_code, nul_id.status_code) == (400, 400)  # refused at the one door
    assert b"NUL" in nul.content


def test_another_tenants_customers_are_not_seen(key_client, team, tenant, other_tenant, manager):
    opened(key_client, "cust-kim", "Hello")
    theirs = make_person(tenant=other_tenant, roles=["manager"], username="eve")

    assert rows(as_person(theirs)) == []
    assert as_person(theirs).get("/inbox/customers/one", {"id": "cust-kim"}).status_code == 404


def test_an_approver_has_no_door_here(key_client, team, tenant):
    approver = make_person(tenant=tenant, roles=["approver"], username="appr")

    assert as_person(approver).get("/inbox/customers/").status_code == 403


def test_a_page_takes_the_same_queries_for_three_customers_or_thirty(key_client, team, manager):
    client = as_person(manager)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/inbox/customers/").status_code == 200
        return len(captured.captured_queries)

    for n in range(3):
        opened(key_client, f"cust-{n}", "Hello")
    few = queries()
    for n in range(3, 30):
        opened(key_client, f"cust-{n}", "Hello")
    many = queries()

    assert len(rows(client)) == 30
    assert few == many


# --- the API: GET /api/v1/customers and /api/v1/customers/{id} ---------------------------------


def test_an_integration_lists_and_reads_the_customers(key_client, team, tenant, ada):
    kim = resolved_by(key_client, ada, "shop/kim-7", "Sorted, bye")  # an id with a slash
    Conversation.objects.filter(pk=kim.pk).update(
        customer_email="kim@example.com", customer_attributes={"plan": "pro"}
    )
    opened(key_client, "cust-lee", "Hello", name="Lee")
    active_at(kim, 5)

    listed = key_client.get("/api/v1/customers").json()
    searched = key_client.get("/api/v1/customers", {"q": "KIM@"}).json()
    one = key_client.get("/api/v1/customers/shop/kim-7")

    assert [c["id"] for c in listed["results"]] == ["cust-lee", "shop/kim-7"]
    assert listed["next"] is None
    assert searched["results"][0] == {
        "id": "shop/kim-7",
        "name": "Kim",
        "email": "kim@example.com",
        "verified": False,
        "conversations": 1,
        "open": 0,
        "lastActivityAt": searched["results"][0]["lastActivityAt"],
    }
    assert one.status_code == 200, one.content
    body = one.json()
    assert (body["id"], body["attributes"], body["blocked"], body["more"]) == (
        "shop/kim-7",
        {"plan": "pro"},
        False,
        False,
    )
    (conversation,) = body["conversations"]
    assert (conversation["id"], conversation["state"]) == (str(kim.pk), "resolved")
    assert conversation["lastMessage"] == "Sorted, bye"


@pytest.mark.parametrize(
    "params, field",
    [({"q": "x" * 201}, "q"), ({"page": "0"}, "page"), ({"page": "two"}, "page")],
)
def test_a_bad_customers_query_is_a_400_naming_it(key_client, team, params, field):
    refused = key_client.get("/api/v1/customers", params)

    assert refused.status_code == 400
    assert list(refused.json()["error"]["fields"]) == [field]


def test_customers_over_the_api_keep_tenants_and_reach_apart(
    key_client, team, tenant, other_tenant, ada
):
    from rest_framework.test import APIClient

    from tests.factories import make_api_key

    resolved_by(key_client, ada, "cust-kim", "Sorted")
    opened(key_client, "cust-quiet", "Just the AI")
    _, raw = make_api_key(tenant=other_tenant)
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert theirs.get("/api/v1/customers").json()["results"] == []
    assert theirs.get("/api/v1/customers/cust-kim").status_code == 404
    ada_sees = as_person(ada).get("/api/v1/customers").json()["results"]
    assert [c["id"] for c in ada_sees] == ["cust-kim"]  # handed to people only
    assert as_person(ada).get("/api/v1/customers/cust-quiet").status_code == 404
    approver = make_person(tenant=tenant, roles=["approver"], username="appr")
    assert as_person(approver).get("/api/v1/customers").status_code == 403
