"""Signed-in visitors of the web chat (handover/identity.py, core/chat_identity.py): the
tenant's website signs who its visitor is (a JSON Web Token, HS256, with the identity secret
the manager made in the admin) and the chat starts as that customer, marked verified. A token
that does not check out (forged, another tenant's, expired, alg none, bad claims, hostile
JSON) is a 400 naming it, with nothing written; a blocked customer id stays blocked."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from django.test import Client

from conversations.models import Conversation, CustomerBlock
from core.chat_identity import identity_secret_new, identity_secret_remove
from core.models import Tenant
from handover.models import Handoff
from handover.services import handoff_claim
from tests.handover.test_blocking import OURS, block

pytestmark = pytest.mark.django_db


def signed(secret: str, **claims) -> str:
    """What the website's server makes for a page: a token of ``claims`` (exp in 10 min)."""
    return jwt.encode({"exp": int(time.time()) + 600, **claims}, secret, algorithm="HS256")


def start(slug: str = "acme", **body):
    return Client(REMOTE_ADDR="198.51.100.7").post(
        f"/chat/{slug}/start",
        {"text": "Where is my order?", **body},
        content_type="application/json",
        headers=OURS,
    )


@pytest.fixture
def secret(tenant):
    return identity_secret_new(tenant)


def test_a_signed_in_visitor_chats_as_the_customer_the_website_says(team, tenant, secret):
    token = signed(
        secret,
        sub="user-42",
        name="Lee Marvin",
        email="lee@example.com",
        attributes={"plan": "pro", "orders": 12},
    )

    started = start(identity=token, name="Someone else", page="https://shop.example/boots")

    assert started.status_code == 201, started.content
    body = started.json()
    assert (body["name"], body["who"]) == ("Lee Marvin", "user-42")
    conversation = Conversation.objects.get(pk=body["conversationId"])
    assert conversation.customer_verified
    assert conversation.customer_ref == "user-42"
    assert (conversation.customer_name, conversation.customer_email) == (
        "Lee Marvin",
        "lee@example.com",
    )
    assert conversation.customer_attributes == {"plan": "pro", "orders": 12}  # no page: not framed
    # the address the website vouched for takes a person's replies while they are away
    assert conversation.email_follow_up and conversation.email_subject == "Where is my order?"
    assert (
        secret
        not in Tenant.objects.filter(pk=tenant.pk)
        .values_list("chat_identity_secret", flat=True)
        .get()
    )  # stored sealed


def test_an_anonymous_visitor_is_not_verified_and_keeps_a_chat_id_of_their_own(
    team, tenant, secret
):
    started = start(name="Kim")

    assert started.status_code == 201, started.content
    assert "who" not in started.json()
    conversation = Conversation.objects.get()
    assert not conversation.customer_verified
    assert conversation.customer_ref.startswith("web-") and conversation.customer_name == "Kim"
    assert not conversation.email_follow_up


def test_only_the_name_may_be_left_to_the_visitor(team, tenant, secret):
    started = start(identity=signed(secret, sub="user-7"), name="Kim")

    assert started.status_code == 201, started.content
    conversation = Conversation.objects.get()
    assert (conversation.customer_ref, conversation.customer_name, conversation.customer_email) == (
        "user-7",
        "Kim",
        "",
    )


def test_a_signed_in_visitor_with_an_address_is_not_asked_for_one(team, tenant, secret):
    tenant.chat_ask_email = "required"
    tenant.save()

    with_address = start(identity=signed(secret, sub="user-7", email="kim@example.com"))
    without = start(identity=signed(secret, sub="user-8"))

    assert with_address.status_code == 201, with_address.content
    assert Conversation.objects.get().customer_email == "kim@example.com"
    assert without.status_code == 400 and list(without.json()["error"]["fields"]) == ["email"]


def _unsigned(header: dict, claims: dict) -> str:
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part(header)}.{part(claims)}."


def _deep(depth: int) -> str:
    nested = base64.urlsafe_b64encode(b"[" * depth).rstrip(b"=").decode()
    return f"{nested}.{nested}.c2ln"


REFUSED = [
    (
        "forged",
        lambda s: signed("not-the-secret-" + s, sub="user-42"),
        "identity",
        "is not signed with this chat's identity secret",
    ),
    (
        "expired",
        lambda s: jwt.encode({"sub": "u", "exp": int(time.time()) - 3600}, s),
        "identity",
        "has expired: make a new one for each page (exp)",
    ),
    ("no exp", lambda s: jwt.encode({"sub": "u"}, s), "identity", "must have the claim exp"),
    ("no sub", lambda s: signed(s, name="Lee"), "identity", "must have the claim sub"),
    (
        "alg none",
        lambda s: _unsigned({"alg": "none", "typ": "JWT"}, {"sub": "admin", "exp": 2**40}),
        "identity",
        "must be signed with HS256",
    ),
    (
        "HS512",
        lambda s: jwt.encode({"sub": "u", "exp": 2**40}, s, algorithm="HS512"),
        "identity",
        "must be signed with HS256",
    ),
    ("not a token", lambda s: "hello", "identity", "is not a JSON Web Token signed with HS256"),
    (
        "a number",
        lambda s: 42,
        "identity",
        "must be the identity token your website signed, as text",
    ),
    ("empty", lambda s: "", "identity", "must be the identity token your website signed, as text"),
    ("too long", lambda s: "a" * 9000, "identity", "is longer than 8192 characters"),
    (
        "100k-deep header",
        lambda s: _deep(100_000)[:8000],
        "identity",
        "is not a JSON Web Token signed with HS256",
    ),
    ("deep header", lambda s: _deep(2500), "identity", "is not a JSON Web Token signed with HS256"),
    (
        "sub a number",
        lambda s: signed(s, sub=42),
        "identity",
        "must say who the visitor is in sub, as text",
    ),
    (
        "sub blank",
        lambda s: signed(s, sub="   "),
        "identity.sub",
        "must be the visitor's id: 1 to 200 characters",
    ),
    (
        "sub NUL",
        lambda s: signed(s, sub="user\x00"),
        "identity.sub",
        "must be the visitor's id: 1 to 200 characters",
    ),
    (
        "sub too long",
        lambda s: signed(s, sub="u" * 201),
        "identity.sub",
        "must be the visitor's id: 1 to 200 characters",
    ),
    (
        "name a list",
        lambda s: signed(s, sub="u", name=["Lee"]),
        "identity.name",
        "must be text of at most 200 characters",
    ),
    (
        "name lone surrogate",
        lambda s: signed(s, sub="u", name="Lee \ud800"),
        "identity.name",
        "must be text of at most 200 characters",
    ),
    ("bad email", lambda s: signed(s, sub="u", email="not an address"), "identity.email", None),
    (
        "attributes a list",
        lambda s: signed(s, sub="u", attributes=["vip"]),
        "identity.attributes",
        "must be an object of names and values",
    ),
]


@pytest.mark.parametrize(
    ("token", "field", "reason"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_an_identity_that_does_not_check_out_is_refused_naming_it(
    team, tenant, secret, token, field, reason
):
    refused = start(identity=token(secret))

    assert refused.status_code == 400, refused.content
    fields = refused.json()["error"]["fields"]
    assert list(fields) == [field]
    if reason:
        assert fields[field] == [reason]
    assert not Conversation.objects.exists()


def test_another_tenants_secret_does_not_sign_for_this_chat(team, tenant, globex, secret):
    theirs = identity_secret_new(globex)

    refused = start(identity=signed(theirs, sub="user-42"))

    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {
        "identity": ["is not signed with this chat's identity secret"]
    }
    assert start(slug="globex", identity=signed(theirs, sub="user-42")).status_code in (201, 503)


def test_without_a_secret_no_identity_is_trusted(team, tenant, secret):
    token = signed(secret, sub="user-42")
    identity_secret_remove(tenant)

    refused = start(identity=token)

    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {
        "identity": ["this chat verifies no identity: its manager has made no identity secret"]
    }
    assert not Conversation.objects.exists()


def test_a_new_secret_ends_the_old_ones_tokens(team, tenant, secret):
    old = signed(secret, sub="user-42")
    new = identity_secret_new(tenant)

    assert start(identity=old).status_code == 400
    assert start(identity=signed(new, sub="user-42")).status_code == 201


def test_a_signed_in_customer_blocked_by_a_person_starts_no_chat_from_anywhere(
    team, tenant, secret, ada, bob
):
    first = start(identity=signed(secret, sub="user-42"), text="I want a human please")
    conversation = Conversation.objects.get(pk=first.json()["conversationId"])
    handoff_claim(handoff=Handoff.objects.get(conversation=conversation), user=bob)

    assert block(ada, conversation.pk).status_code == 200
    assert CustomerBlock.objects.filter(kind="customer", value="user-42", expires_at=None).exists()

    again = Client(REMOTE_ADDR="203.0.113.9").post(  # another network: the id still blocks
        "/chat/acme/start",
        {"text": "Hello again", "identity": signed(secret, sub="user-42")},
        content_type="application/json",
        headers=OURS,
    )
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "blocked"
    assert Conversation.objects.count() == 1


def test_the_manager_makes_the_secret_in_the_admin_sees_it_once_and_removes_it(
    team, tenant, manager
):
    from tests.conftest import login
    from tests.factories import tenant_admin_form

    url = f"/admin/core/tenant/{tenant.pk}/change/"
    client = login(manager)
    assert "every visitor of the chat is anonymous" in client.get(url).content.decode()

    made = client.post(url, tenant_admin_form(tenant, identity_secret="new"))

    assert made.status_code == 200
    raw = made.context["raw"]
    assert raw.startswith("chatid_") and raw in made.content.decode()
    page = client.get(url).content.decode()
    assert raw not in page and "shown once then" in page  # never shown again
    assert start(identity=signed(raw, sub="user-42")).status_code == 201

    kept = client.post(url, tenant_admin_form(tenant))  # saving the page keeps it
    assert kept.status_code == 302
    assert start(identity=signed(raw, sub="user-42")).status_code == 201

    removed = client.post(url, tenant_admin_form(tenant, identity_secret="remove"))
    assert removed.status_code == 302
    tenant.refresh_from_db()
    assert tenant.chat_identity_secret == "" and tenant.chat_identity_since is None
    assert start(identity=signed(raw, sub="user-42")).status_code == 400


def test_another_tenants_manager_cannot_touch_the_secret(team, tenant, globex, manager):
    from tests.conftest import login
    from tests.factories import tenant_admin_form

    url = f"/admin/core/tenant/{globex.pk}/change/"
    refused = login(manager).post(url, tenant_admin_form(globex, identity_secret="new"))

    assert refused.status_code in (302, 403, 404)
    globex.refresh_from_db()
    assert globex.chat_identity_secret == ""


def test_the_api_and_the_inbox_say_the_customer_is_signed_in(team, tenant, secret, key_client, ada):
    from tests.conftest import login

    signed_in = start(
        identity=signed(secret, sub="user-42", name="Lee"), text="I want a human please"
    ).json()["conversationId"]
    anonymous = start(name="Kim").json()["conversationId"]

    read = key_client.get(f"/api/v1/conversations/{signed_in}").json()
    assert read["customer"] == {
        "id": "user-42",
        "name": "Lee",
        "email": "",
        "attributes": {},
        "verified": True,
    }
    assert (
        key_client.get(f"/api/v1/conversations/{anonymous}").json()["customer"]["verified"] is False
    )

    page = login(ada).get(f"/inbox/conversations/{signed_in}/").json()["conversation"]
    assert (page["customerVerified"], page["customerId"]) == (True, "user-42")


def test_a_signed_in_visitor_finds_their_open_conversation_on_another_device(
    team, tenant, secret, key_client
):
    from conversations.services import customer_token_matches

    first = start(identity=signed(secret, sub="user-42", name="Lee")).json()
    # an integration's conversation with the same customer id: not the visitor's to open
    key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": "user-42"}},
        format="json",
    )

    def resume(token, address="203.0.113.9"):
        return Client(REMOTE_ADDR=address).post(
            "/chat/acme/resume", {"identity": token}, content_type="application/json", headers=OURS
        )

    found = resume(signed(secret, sub="user-42"))

    assert found.status_code == 200, found.content
    assert found.json() == {
        "conversationId": first["conversationId"],
        "token": first["token"],  # the same token: the first device keeps its own
        "name": "Lee",
        "who": "user-42",
    }
    conversation = Conversation.objects.get(pk=first["conversationId"])
    assert customer_token_matches(conversation, found.json()["token"])
    assert resume(signed(secret, sub="user-7")).json() == {"conversationId": None}
    forged = resume(signed("not-" + secret, sub="user-42"))
    assert forged.status_code == 400
    assert forged.json()["error"]["fields"] == {
        "identity": ["is not signed with this chat's identity secret"]
    }
    assert resume(None).json()["error"]["fields"] == {
        "identity": ["must be the identity token your website signed, as text"]
    }
    from django.db import transaction

    from conversations.selectors import conversation_locked
    from handover.services import conversation_close

    with transaction.atomic():
        conversation_close(conversation_locked(conversation.pk), reason="resolved by a test")
    assert resume(signed(secret, sub="user-42")).json() == {"conversationId": None}


def test_an_anonymous_visitors_token_is_no_signed_in_one(team, tenant, secret):
    from conversations.services import customer_token_matches, signed_in_customer_token

    anonymous = start(name="Kim").json()
    conversation = Conversation.objects.get(pk=anonymous["conversationId"])

    assert customer_token_matches(conversation, anonymous["token"])
    assert not customer_token_matches(conversation, signed_in_customer_token(conversation.pk))


def test_where_only_signed_in_visitors_may_chat_the_others_are_asked_to_sign_in(
    team, tenant, secret, client
):
    from tests.handover.test_pages import chat_config_of

    tenant.chat_signed_in_only = True
    tenant.save(update_fields=["chat_signed_in_only"])

    refused = start(name="Kim")
    started = start(identity=signed(secret, sub="user-42"))

    assert refused.status_code == 403
    error = refused.json()["error"]
    assert (error["code"], error["message"]) == (
        "sign_in_required",
        "Please sign in on our website to chat with us.",
    )
    assert started.status_code == 201
    assert list(Conversation.objects.values_list("customer_ref", flat=True)) == ["user-42"]
    assert chat_config_of(client.get("/chat/acme/"))["signedInOnly"] is True


def test_the_admin_will_not_let_only_signed_in_visitors_chat_without_a_secret(
    team, tenant, manager
):
    from tests.conftest import login
    from tests.factories import tenant_admin_form

    url = f"/admin/core/tenant/{tenant.pk}/change/"
    client = login(manager)

    refused = client.post(url, tenant_admin_form(tenant, chat_signed_in_only="on"))
    made = client.post(
        url, tenant_admin_form(tenant, chat_signed_in_only="on", identity_secret="new")
    )
    removing = client.post(
        url, tenant_admin_form(tenant, chat_signed_in_only="on", identity_secret="remove")
    )

    assert refused.status_code == 200
    assert "none can be signed in without an identity secret" in refused.content.decode()
    assert made.status_code == 200 and made.context["raw"].startswith("chatid_")
    assert removing.status_code == 200
    assert "none can be signed in without an identity secret" in removing.content.decode()
    tenant.refresh_from_db()
    assert tenant.chat_signed_in_only and tenant.chat_identity_secret
