"""The customer's name and e-mail address, as they told them, set by a person in the inbox or by
an integration over the API (conversations.services.customer_details_update): on every
conversation of that customer and no other, noted for the colleagues, told to the inboxes; bad
values refused naming the field; tenants and roles apart."""

from __future__ import annotations

import pytest

from conversations.models import Conversation, Message, MessageRole
from conversations.services import UNCHANGED, conversation_start, customer_details_update
from core.errors import Invalid
from core.events import tenant_inbox_group
from tests.factories import make_person
from tests.handover.test_agent_tools import Listener, as_person, handed_over

pytestmark = pytest.mark.django_db


def start(tenant, ref: str, *, channel: str = "web", **customer):
    from agents.models import Agent

    agent = Agent.objects.get(tenant=tenant, slug="agent-sup")
    conversation, _ = conversation_start(
        tenant=tenant, agent=agent, channel=channel, customer={"id": ref, **customer}
    )
    return conversation


def notes(conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, role=MessageRole.NOTE).values_list(
            "text", flat=True
        )
    )


def test_a_name_is_set_on_every_conversation_of_the_customer_and_no_other(
    tenant, team, other_tenant, django_capture_on_commit_callbacks
):
    first = start(tenant, "web-ac87aab70ea6e7b0")
    second = start(tenant, "web-ac87aab70ea6e7b0")
    someone_else = start(tenant, "web-ffff000011112222")
    inbox = Listener(tenant_inbox_group(tenant.pk))

    with django_capture_on_commit_callbacks(execute=True):
        changed = customer_details_update(
            conversation=first, by="Ada", name="  Kim\n Lee ", email="kim@example.com"
        )

    assert (changed.customer_name, changed.customer_email) == ("Kim Lee", "kim@example.com")
    second.refresh_from_db()
    assert (second.customer_name, second.customer_email) == ("Kim Lee", "kim@example.com")
    assert Conversation.objects.get(pk=someone_else.pk).customer_name == ""
    assert notes(first) == [
        "Ada changed the customer's name from “-” to “Kim Lee” and e-mail address from “-” to "
        "“kim@example.com”."
    ]
    (told,) = [e for e in inbox.events() if e["type"] == "customer.updated"]
    assert sorted(told["conversationIds"]) == sorted([str(first.pk), str(second.pk)])
    assert (told["customer"], told["customerEmail"]) == ("Kim Lee", "kim@example.com")

    customer_details_update(conversation=first, by="Ada", name="Kim Lee")  # no change
    assert len(notes(first)) == 1


@pytest.mark.parametrize(
    ("name", "email", "field"),
    [
        ("Kim\x00", UNCHANGED, "name"),
        ("Kim\ud800", UNCHANGED, "name"),
        ("Kim\x07", UNCHANGED, "name"),
        ("K" * 201, UNCHANGED, "name"),
        (7, UNCHANGED, "name"),
        (UNCHANGED, "not an address", "email"),
        (UNCHANGED, "kim@example.com\x00", "email"),
        (UNCHANGED, ["kim@example.com"], "email"),
        (UNCHANGED, UNCHANGED, "customer"),
    ],
)
def test_bad_details_are_refused_naming_the_field_and_nothing_changes(
    tenant, team, name, email, field
):
    conversation = start(tenant, "c-1", name="Kim")

    with pytest.raises(Invalid) as refused:
        customer_details_update(conversation=conversation, by="Ada", name=name, email=email)

    assert list(refused.value.fields) == [field]
    conversation.refresh_from_db()
    assert (conversation.customer_name, notes(conversation)) == ("Kim", [])


def test_an_email_conversations_address_does_not_change_and_a_cleared_one_stops_followups(
    tenant, team
):
    mailed = start(tenant, "kim@example.com", channel="email", email="kim@example.com")
    with pytest.raises(Invalid) as refused:
        customer_details_update(conversation=mailed, by="Ada", email="other@example.com")
    assert list(refused.value.fields) == ["email"]
    customer_details_update(conversation=mailed, by="Ada", name="Kim", email="KIM@example.com")
    assert Conversation.objects.get(pk=mailed.pk).customer_email == "kim@example.com"

    chat = start(tenant, "web-1", email="kim@example.com")
    Conversation.objects.filter(pk=chat.pk).update(email_follow_up=True)
    customer_details_update(conversation=chat, by="Ada", email="")
    chat.refresh_from_db()
    assert (chat.customer_email, chat.email_follow_up) == ("", False)


# --- the doors ----------------------------------------------------------------------------------


def test_the_inbox_door_sets_the_details_for_whoever_reads_the_conversation(
    key_client, team, online, ada, tenant, other_tenant
):
    conversation = handed_over(key_client, customer="web-kim").conversation
    not_handed = start(tenant, "c-quiet")
    url = f"/inbox/conversations/{conversation.pk}/customer"

    saved = as_person(ada).post(url, {"name": "Kim Lee"}, content_type="application/json")
    assert saved.status_code == 200, saved.json()
    assert saved.json() == {
        "customer": "Kim Lee",
        "customerName": "Kim Lee",
        "customerEmail": "",
        "attributes": [],
    }

    bad = as_person(ada).post(url, {"email": "nope"}, content_type="application/json")
    assert bad.status_code == 400 and list(bad.json()["error"]["fields"]) == ["email"]
    garbage = as_person(ada).post(url, "[1, 2", content_type="application/json")
    assert garbage.status_code == 400
    hidden = as_person(ada).post(
        f"/inbox/conversations/{not_handed.pk}/customer", {"name": "X"}, format="json"
    )
    assert hidden.status_code == 404  # not handed to people: out of a human agent's reach
    eve = make_person(tenant=other_tenant, roles=["agent"], username="eve")
    assert as_person(eve).post(url, {"name": "X"}, format="json").status_code == 404
    approver = make_person(tenant=tenant, roles=["approver"], username="appr")
    assert as_person(approver).post(url, {"name": "X"}, format="json").status_code == 403
    assert Conversation.objects.get(pk=conversation.pk).customer_name == "Kim Lee"


def test_the_api_sets_the_details_and_names_a_bad_field(key_client, team, tenant, other_tenant):
    conversation = start(tenant, "crm-42")
    theirs = start_other(other_tenant)  # another tenant's customer of the same id
    url = f"/api/v1/conversations/{conversation.pk}"

    changed = key_client.patch(
        url, {"customer": {"name": "Kim Lee", "email": "kim@example.com"}}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["customer"] | {"attributes": None} == {
        "id": "crm-42",
        "name": "Kim Lee",
        "email": "kim@example.com",
        "attributes": None,
        "verified": False,  # an integration's customer: no website signed for them
    }
    assert notes(conversation)[-1].startswith("The integration “")

    for body, field in (
        ({"customer": {"email": "nope"}}, "customer.email"),
        ({"customer": {"id": "other"}}, "customer.id"),
        ({"customer": "Kim"}, "customer"),
        ({}, "customer"),
        ({"customer": {}}, "customer"),
    ):
        refused = key_client.patch(url, body, format="json")
        assert refused.status_code == 400, body
        assert list(refused.json()["error"]["fields"]) == [field], body
    assert key_client.patch(url, [1], format="json").status_code == 400

    approver = make_person(tenant=tenant, roles=["approver"], username="appr")
    assert (
        as_person(approver).patch(url, {"customer": {"name": "X"}}, format="json").status_code
        == 403
    )
    assert Conversation.objects.get(pk=theirs.pk).customer_name == ""  # not across the line
    elsewhere = key_client.patch(
        f"/api/v1/conversations/{theirs.pk}", {"customer": {"name": "X"}}, format="json"
    )
    assert elsewhere.status_code == 404
    assert Conversation.objects.get(pk=theirs.pk).customer_name == ""


def start_other(other_tenant):
    from tests.factories import TO_PEOPLE, make_team

    make_team(other_tenant, **TO_PEOPLE)
    return start(other_tenant, "crm-42")


# --- what the integration tells of the customer (conversations.attributes) ---------------------


def test_attributes_given_at_the_start_and_changed_later_on_every_conversation_of_the_customer(
    key_client, team, tenant, other_tenant, django_capture_on_commit_callbacks
):
    started = key_client.post(
        "/api/v1/conversations",
        {
            "agentId": "agent-sup",
            "channel": "web",
            "customer": {"id": "crm-7", "attributes": {"plan": "free", "orders": 3, "vip": False}},
        },
        format="json",
    )
    assert started.status_code == 201, started.json()
    first = Conversation.objects.get(pk=started.json()["id"])
    second = start(tenant, "crm-7", attributes={"plan": "free"})
    theirs = start_other(other_tenant)  # "crm-42" there: never touched
    inbox = Listener(tenant_inbox_group(tenant.pk))

    with django_capture_on_commit_callbacks(execute=True):
        changed = key_client.patch(
            f"/api/v1/conversations/{first.pk}",
            {"customer": {"attributes": {"plan": "pro", "orders": None, "seats": 12}}},
            format="json",
        )

    assert changed.status_code == 200, changed.json()
    assert changed.json()["customer"]["attributes"] == {"plan": "pro", "vip": False, "seats": 12}
    second.refresh_from_db()
    assert second.customer_attributes == {"plan": "pro", "seats": 12}  # its own, changed
    assert Conversation.objects.get(pk=theirs.pk).customer_attributes == {}
    assert notes(first)[-1].endswith(
        "changed the customer's plan from “free” to “pro” and orders from “3” to “-” and seats "
        "from “-” to “12”."
    )
    (told,) = [e for e in inbox.events() if e["type"] == "customer.updated"]
    assert told["customerAttributes"] == [
        {"name": "plan", "value": "pro", "kind": "text", "text": "pro"},
        {"name": "seats", "value": "12", "kind": "number", "text": "12"},
        {"name": "vip", "value": "false", "kind": "boolean", "text": "false"},
    ]
    again = key_client.patch(
        f"/api/v1/conversations/{first.pk}",
        {"customer": {"attributes": {"plan": "pro"}}},
        format="json",
    )
    assert again.status_code == 200 and len(notes(first)) == 1  # nothing moved: no note


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ("pro", "customer.attributes"),
        ([1, 2], "customer.attributes"),
        ({"my plan": "pro"}, "customer.attributes"),
        ({"-plan": "pro"}, "customer.attributes"),
        ({"p" * 65: "pro"}, "customer.attributes"),
        ({f"k{i}": i for i in range(51)}, "customer.attributes"),
        ({"plan": "x" * 2001}, "customer.attributes.plan"),
        ({"plan": "pro\x00"}, "customer.attributes.plan"),
        ({"plan": {"tier": "pro\ud800"}}, "customer.attributes.plan.tier"),
        ({"plan": None}, "customer.attributes.plan"),
    ],
)
def test_bad_attributes_at_the_start_are_refused_naming_the_field(
    key_client, team, tenant, attributes, field
):
    import json

    refused = key_client.post(
        "/api/v1/conversations",
        json.dumps(
            {
                "agentId": "agent-sup",
                "channel": "web",
                "customer": {"id": "crm-8", "attributes": attributes},
            }
        ),
        content_type="application/json",
    )

    assert refused.status_code == 400, refused.content
    assert list(refused.json()["error"]["fields"]) == [field]
    assert not Conversation.objects.filter(customer_ref="crm-8").exists()


def test_a_change_past_fifty_names_is_refused_and_nothing_changes(key_client, team, tenant):
    conversation = start(tenant, "crm-9", attributes={f"k{i}": i for i in range(50)}, name="Kim")

    refused = key_client.patch(
        f"/api/v1/conversations/{conversation.pk}",
        {"customer": {"name": "Kim Lee", "attributes": {"one-more": 1}}},
        format="json",
    )

    assert refused.status_code == 400
    assert list(refused.json()["error"]["fields"]) == ["customer.attributes"]
    conversation.refresh_from_db()
    assert conversation.customer_name == "Kim" and len(conversation.customer_attributes) == 50


def test_the_inbox_and_the_conversations_page_show_the_attributes(key_client, team, tenant, ada):
    conversation = handed_over(key_client, "crm-10").conversation
    Conversation.objects.filter(pk=conversation.pk).update(
        customer_attributes={
            "plan": "<b>pro</b>",
            "country": "FR",
            "last_order": {"id": "A-17", "total": 49.5},
            "page": "https://shop.example.com/boots",
        }
    )
    page = as_person(ada)

    detail = page.get(f"/inbox/conversations/{conversation.pk}/").json()
    html = page.get(f"/inbox/conversations/{conversation.pk}/view").content.decode()

    order = '{"id": "A-17", "total": 49.5}'
    assert detail["conversation"]["attributes"] == [
        {"name": "country", "value": "FR", "kind": "text", "text": "FR"},
        {"name": "last_order", "value": order, "kind": "json", "text": order},
        # shown as text, never as markup
        {"name": "plan", "value": "<b>pro</b>", "kind": "text", "text": "<b>pro</b>"},
    ]
    assert '<dd class="attribute-value" data-attribute="plan">&lt;b&gt;pro&lt;/b&gt;</dd>' in html
    assert 'data-attribute="page"' not in html  # the chat's page is "Started on"


def test_a_person_changes_what_is_known_of_the_customer_and_each_value_keeps_its_kind(
    key_client, team, online, ada, tenant, other_tenant, django_capture_on_commit_callbacks
):
    conversation = handed_over(key_client, customer="crm-11").conversation
    attributes = {"plan": "free", "orders": 3, "vip": False, "ltv": 49.5, "tags": ["a"]}
    attributes["page"] = "https://shop.example.com/boots"
    Conversation.objects.filter(pk=conversation.pk).update(customer_attributes=attributes)
    url = f"/inbox/conversations/{conversation.pk}/customer"
    inbox = Listener(tenant_inbox_group(tenant.pk))

    with django_capture_on_commit_callbacks(execute=True):
        saved = as_person(ada).post(
            url,
            {
                "attributes": {
                    "plan": "pro",
                    "orders": " 4 ",
                    "vip": "TRUE",
                    "ltv": "1e2",
                    "tags": '["a", "b"]',
                    "country": "FR",
                }
            },
            content_type="application/json",
        )

    assert saved.status_code == 200, saved.json()
    conversation.refresh_from_db()
    assert conversation.customer_attributes == {
        "plan": "pro",
        "orders": 4,
        "vip": True,
        "ltv": 100.0,
        "tags": ["a", "b"],
        "country": "FR",
        "page": "https://shop.example.com/boots",
    }
    assert [a["name"] for a in saved.json()["attributes"]] == [
        "country",
        "ltv",
        "orders",
        "plan",
        "tags",
        "vip",
    ]
    assert notes(conversation)[-1] == (
        "Ada changed the customer's plan from “free” to “pro” and orders from “3” to “4” and vip "
        'from “false” to “true” and ltv from “49.5” to “100.0” and tags from “["a"]” to '
        '“["a", "b"]” and 1 more of its details.'
    )
    (told,) = [e for e in inbox.events() if e["type"] == "customer.updated"]
    assert {"name": "orders", "value": "4", "kind": "number", "text": "4"} in told[
        "customerAttributes"
    ]

    taken = as_person(ada).post(
        url, {"attributes": {"country": "", "tags": None}}, content_type="application/json"
    )
    assert taken.status_code == 200, taken.json()
    conversation.refresh_from_db()
    assert "country" not in conversation.customer_attributes
    assert "tags" not in conversation.customer_attributes


@pytest.mark.parametrize(
    ("typed", "field"),
    [
        ([], "attributes"),
        ({"orders": "four"}, "attributes.orders"),
        ({"orders": "1e999"}, "attributes.orders"),
        ({"orders": "9" * 2001}, "attributes.orders"),
        ({"vip": "yes"}, "attributes.vip"),
        ({"tags": "a, b"}, "attributes.tags"),
        ({"tags": '{"a": 1}'}, "attributes.tags"),
        ({"tags": "[" * 1999}, "attributes.tags"),
        ({"plan": 7}, "attributes.plan"),
        ({"plan": "pro\x00"}, "attributes.plan"),
        ({"plan": "\ud800"}, "attributes.plan"),
        ({"my plan": "pro"}, "customer.attributes"),
        ({"page": "https://evil.example"}, "attributes.page"),
    ],
)
def test_a_persons_bad_detail_is_refused_naming_it_and_nothing_changes(
    key_client, team, online, ada, typed, field
):
    conversation = handed_over(key_client, customer="crm-12").conversation
    kept = {"plan": "free", "orders": 3, "vip": False, "tags": ["a"], "page": "https://x.example"}
    Conversation.objects.filter(pk=conversation.pk).update(customer_attributes=kept)

    refused = as_person(ada).post(
        f"/inbox/conversations/{conversation.pk}/customer",
        {"attributes": typed, "name": "Kim Lee"},
        content_type="application/json",
    )

    assert refused.status_code == 400, refused.content
    assert list(refused.json()["error"]["fields"]) == [field]
    conversation.refresh_from_db()
    assert conversation.customer_attributes == kept and conversation.customer_name != "Kim Lee"
