"""Tags: people put words on a conversation ("damaged", "vip") in the inbox, and find such
conversations again in the history and through the API. A name is normalised (lower case, a
space becomes "-"), a bad one is a 400 naming tag, and no one reaches another tenant's."""

from __future__ import annotations

import pytest
from django.test import Client

from conversations.models import Conversation, ConversationTag
from conversations.tags import MAX_TAGS, conversation_tag, tag_name
from core.errors import Invalid
from handover.models import Handoff
from handover.services import handoff_claim
from orchestration.turns import conversation_receive_message
from tests.factories import make_person

pytestmark = pytest.mark.django_db

OURS = {"Origin": "http://testserver"}


def _handed(name="Kim", text="My boots arrived broken, I want a human please"):
    started = (
        Client()
        .post(
            "/chat/acme/start",
            {"name": name, "text": text},
            content_type="application/json",
            headers=OURS,
        )
        .json()
    )
    conversation = Conversation.objects.get(pk=started["conversationId"])
    if not Handoff.objects.filter(conversation=conversation).exists():
        conversation_receive_message(conversation=conversation, text="I want a human please")
    return conversation


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _tag(client, conversation, **change):
    return client.post(
        f"/inbox/conversations/{conversation.pk}/tags", change, content_type="application/json"
    )


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("damaged", "damaged"),
        ("  Carrier late ", "carrier-late"),
        ("VIP", "vip"),
        ("a_b-1", "a_b-1"),
    ],
)
def test_a_name_is_normalised(given, kept):
    assert tag_name(given) == kept


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "x" * 41, "-leading", "no/slash", "émoji🙂", "nul\x00", "\ud800", 7, None, ["a"]],
)
def test_a_bad_name_is_refused_naming_tag(bad):
    with pytest.raises(Invalid) as refused:
        tag_name(bad)
    assert list(refused.value.fields) == ["tag"]


def test_an_agent_tags_and_untags_in_the_inbox(team, tenant):
    conversation = _handed()
    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    handoff_claim(handoff=Handoff.objects.get(conversation=conversation), user=ada)
    client = _as(ada)

    added = _tag(client, conversation, add="Damaged")
    again = _tag(client, conversation, add="damaged")
    other = _tag(client, conversation, add="carrier late")
    removed = _tag(client, conversation, remove="damaged")
    bad = _tag(client, conversation, add="no/slash")
    neither = _tag(client, conversation, keep="x")

    assert added.json() == {"tags": ["damaged"]}
    assert again.json() == {"tags": ["damaged"]}
    assert other.json() == {"tags": ["carrier-late", "damaged"]}
    assert removed.json() == {"tags": ["carrier-late"]}
    assert bad.status_code == 400 and list(bad.json()["error"]["fields"]) == ["tag"]
    assert neither.status_code == 400
    (tag,) = ConversationTag.objects.all()
    assert (tag.name, tag.added_by, tag.tenant_id) == ("carrier-late", ada, tenant.pk)
    detail = client.get(f"/inbox/conversations/{conversation.pk}/").json()
    assert detail["conversation"]["tags"] == ["carrier-late"]


def test_a_conversation_holds_a_bounded_number_of_tags(team, tenant):
    conversation = _handed()
    for n in range(MAX_TAGS):
        conversation_tag(conversation=conversation, name=f"t{n}")

    with pytest.raises(Invalid, match="at most"):
        conversation_tag(conversation=conversation, name="one-more")

    assert ConversationTag.objects.count() == MAX_TAGS


def test_no_one_tags_what_they_do_not_reach(team, tenant, other_tenant):
    conversation = _handed()
    stranger = make_person(tenant=other_tenant, roles=["agent", "manager"], username="globex-eve")
    approver = make_person(tenant=tenant, roles=["approver"], username="appr-tags")

    across = _tag(_as(stranger), conversation, add="mine")
    not_an_agent = _tag(_as(approver), conversation, add="mine")

    assert across.status_code == 404
    assert not_an_agent.status_code == 403
    assert not ConversationTag.objects.exists()


def test_the_history_and_the_api_find_conversations_by_tag(team, tenant, key_client):
    manager = make_person(tenant=tenant, roles=["manager"], username="mia")
    damaged, other = _handed(name="Kim"), _handed(name="Lee")
    conversation_tag(conversation=damaged, name="damaged", user=manager)
    conversation_tag(conversation=other, name="vip", user=manager)

    page = _as(manager).get("/inbox/history/", {"tag": "Damaged"}).content.decode()
    bad = _as(manager).get("/inbox/history/", {"tag": "no/slash"})
    listed = key_client.get("/api/v1/conversations", {"tag": "damaged"}).json()
    refused = key_client.get("/api/v1/conversations", {"tag": "x" * 41})

    assert "Kim" in page and "Lee" not in page
    assert 'href="?tag=damaged"' in page  # the row's chip filters by itself
    assert bad.status_code == 400
    assert [c["id"] for c in listed] == [str(damaged.pk)]
    assert listed[0]["tags"] == ["damaged"]
    assert refused.status_code == 400 and "tag" in refused.json()["error"]["fields"]
    handoffs = {h["conversationId"]: h for h in key_client.get("/api/v1/handoffs").json()}
    assert handoffs[str(damaged.pk)]["tags"] == ["damaged"]  # the inbox's cards show them


def test_an_integration_tags_through_the_api_and_no_one_crosses_tenants(
    team, tenant, key_client, other_tenant
):
    from rest_framework.test import APIClient

    from tests.factories import make_api_key

    conversation = _handed()
    url = f"/api/v1/conversations/{conversation.pk}/tags"

    put = key_client.put(f"{url}/Carrier%20late")
    again = key_client.put(f"{url}/carrier-late")
    bad = key_client.put(f"{url}/no%2Fslash")
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")
    across = theirs.put(f"{url}/mine")
    deleted = key_client.delete(f"{url}/carrier-late")

    assert put.status_code == 200 and put.json() == {"tags": ["carrier-late"]}
    assert again.json() == {"tags": ["carrier-late"]}
    assert bad.status_code in (400, 404)  # a "/" never names a tag
    assert across.status_code == 404
    assert deleted.json() == {"tags": []}
    assert not ConversationTag.objects.exists()
