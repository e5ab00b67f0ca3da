"""@mentions in private notes (handover/mentions.py): who a note names, what they hear (their
own sockets only), reading them (socket and API, one's own only), editing a note, tenants apart,
roles from the permission table, and the e-mail to a person whose inbox is closed."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection

from core.events import person_group, tenant_inbox_group
from core.models import OutboxEvent
from handover.mentions import (
    MENTION_EMAIL_DELAY_SECONDS,
    MENTION_EMAIL_TASK,
    mention_email_send,
    mentioned_in,
    mentions_read,
)
from handover.models import Mention
from handover.presence import presence_join, presence_leave
from handover.services import note_edit, note_post
from orchestration.inbox import inbox_snapshot
from tests.factories import make_person
from tests.handover.test_agent_tools import Listener, as_person, handed_over

pytestmark = pytest.mark.django_db


@pytest.fixture
def cara(tenant):
    return make_person(
        tenant=tenant, roles=["agent"], username="cara.b", first_name="Cara", email="cara@acme.test"
    )


@pytest.fixture
def conversation(key_client, team, online):
    return handed_over(key_client).conversation


def named(text: str, *people) -> list[str]:
    return [p.get_username() for p in mentioned_in(text, people)]


def test_a_name_counts_after_an_at_sign_alone_in_any_case_and_not_inside_words(ada, bob, cara):
    assert named("@bob can you look?", ada, bob, cara) == ["bob"]
    assert named("thanks @Bob.", ada, bob, cara) == ["bob"]
    assert named("(@cara.b) and @bob, @bob again", ada, bob, cara) == ["cara.b", "bob"]
    assert named("@cara.bx or @bobby or @bob-x", ada, bob, cara) == []
    assert named("mail kim@bob or write bob", ada, bob, cara) == []
    assert named("@cara.b.", ada, bob, cara) == ["cara.b"]  # the sentence's full stop


def test_a_note_naming_a_colleague_tells_them_only_and_writes_the_email_for_later(
    conversation, ada, bob, cara, django_capture_on_commit_callbacks
):
    to_bob, to_ada = Listener(person_group(bob.pk)), Listener(person_group(ada.pk))
    inbox = Listener(tenant_inbox_group(conversation.tenant_id))

    with django_capture_on_commit_callbacks(execute=True):
        note = note_post(
            conversation=conversation, user=ada, text="@bob can you check the label? @ada @nobody"
        )

    (mention,) = Mention.objects.all()
    assert (mention.user, mention.by, mention.message, mention.read_at) == (bob, ada, note, None)
    heard = [e for e in to_bob.events() if e["type"] == "mention.created"]
    assert len(heard) == 1
    assert heard[0]["mention"] | {"createdAt": None} == {
        "id": mention.pk,
        "conversationId": str(conversation.pk),
        "messageId": note.pk,
        "customer": "c-1",
        "by": "Ada",
        "excerpt": "@bob can you check the label? @ada @nobody",
        "createdAt": None,
        "readAt": None,
    }
    assert not [e for e in to_ada.events() if e["type"].startswith("mention.")]  # herself
    assert not [e for e in inbox.events() if e["type"].startswith("mention.")]  # not the tenant's
    email = OutboxEvent.objects.get(payload__task=MENTION_EMAIL_TASK)
    assert email.payload["args"] == [mention.pk]
    assert email.payload["countdown"] == MENTION_EMAIL_DELAY_SECONDS


def test_a_note_names_nobody_of_another_tenant_or_who_is_no_agent(
    conversation, ada, other_tenant, manager
):
    make_person(tenant=other_tenant, roles=["agent"], username="eve")
    gone = make_person(tenant=conversation.tenant, roles=["agent"], username="gone")
    gone.is_active = False
    gone.save(update_fields=["is_active"])

    note_post(
        conversation=conversation,
        user=ada,
        text=f"@eve @gone @{manager.get_username()} have a look",
    )

    assert not Mention.objects.exists()


def test_a_new_note_that_names_nobody_costs_no_query_for_mentions(
    conversation, ada, django_assert_max_num_queries
):
    note_post(conversation=conversation, user=ada, text="warm up")  # the first note's lookups
    with django_assert_max_num_queries(20) as plain:
        note_post(conversation=conversation, user=ada, text="refund already sent")
    with django_assert_max_num_queries(20) as naming:
        note_post(conversation=conversation, user=ada, text="@bob refund already sent")

    assert len(naming.captured_queries) > len(plain.captured_queries)
    assert not any("handover_mention" in q["sql"] for q in plain.captured_queries)


def test_editing_a_note_names_the_new_people_once_and_takes_away_the_removed(
    conversation, ada, bob, cara, django_capture_on_commit_callbacks
):
    note = note_post(conversation=conversation, user=ada, text="@bob please check")
    (bobs,) = Mention.objects.filter(user=bob)
    to_bob, to_cara = Listener(person_group(bob.pk)), Listener(person_group(cara.pk))

    with django_capture_on_commit_callbacks(execute=True):
        note_edit(note=note, user=ada, text="@cara.b please check (not bob)")

    assert not Mention.objects.filter(pk=bobs.pk).exists()
    assert [e for e in to_bob.events() if e["type"] == "mention.read"] == [
        {"type": "mention.read", "mentionIds": [bobs.pk]}
    ]
    assert [e["type"] for e in to_cara.events() if e["type"].startswith("mention")] == [
        "mention.created"
    ]
    with django_capture_on_commit_callbacks(execute=True):
        note_edit(note=note, user=ada, text="@cara.b please check it today")
    assert Mention.objects.filter(user=cara).count() == 1
    assert not [e for e in to_cara.events() if e["type"] == "mention.created"]


def test_reading_mentions_changes_only_ones_own(conversation, ada, bob, cara):
    first = note_post(conversation=conversation, user=ada, text="@bob @cara.b first")
    note_post(conversation=conversation, user=ada, text="@bob second")
    bobs = list(Mention.objects.filter(user=bob).order_by("id").values_list("pk", flat=True))
    caras = Mention.objects.get(user=cara, message=first)

    assert mentions_read(bob, ids=[bobs[0], caras.pk]) == [bobs[0]]  # not Cara's
    assert mentions_read(bob, ids=[bobs[0]]) == []  # read already
    assert mentions_read(bob) == [bobs[1]]  # all the rest
    assert Mention.objects.get(pk=caras.pk).read_at is None
    assert mentions_read(cara, conversation_id=conversation.pk) == [caras.pk]


@pytest.mark.parametrize("ids", ["1", [0], [True], ["3"], list(range(1, 502)), {"a": 1}])
def test_bad_ids_are_refused_naming_the_field(conversation, bob, ids):
    from core.errors import Invalid

    with pytest.raises(Invalid) as refused:
        mentions_read(bob, ids=ids)
    assert list(refused.value.fields) == ["ids"]


def test_the_snapshot_carries_the_unread_count_and_the_newest(conversation, ada, bob):
    note_post(conversation=conversation, user=ada, text="@bob one")
    note_post(conversation=conversation, user=ada, text="@bob two")

    snapshot = inbox_snapshot(bob, conversation.tenant)

    assert snapshot["mentions"]["unread"] == 2
    assert [m["excerpt"] for m in snapshot["mentions"]["recent"]] == ["@bob two", "@bob one"]
    assert inbox_snapshot(ada, conversation.tenant)["mentions"] == {"unread": 0, "recent": []}


# --- the API ------------------------------------------------------------------------------------


def test_the_api_lists_and_marks_ones_own_mentions_and_refuses_bad_bodies(
    conversation, ada, bob, key_client, manager, other_tenant
):
    note_post(conversation=conversation, user=ada, text="@bob one")
    note_post(conversation=conversation, user=ada, text="@bob two")
    client = as_person(bob)

    listed = client.get("/api/v1/mentions")
    assert listed.status_code == 200
    assert listed.json()["unread"] == 2
    first, second = listed.json()["results"]
    assert (first["excerpt"], second["excerpt"]) == ("@bob two", "@bob one")

    marked = client.post("/api/v1/mentions/read", {"ids": [second["id"]]}, format="json")
    assert marked.status_code == 200 and marked.json() == {"read": [second["id"]]}
    unread = client.get("/api/v1/mentions?unread=true").json()
    assert [m["id"] for m in unread["results"]] == [first["id"]] and unread["unread"] == 1
    by_conversation = client.post(
        "/api/v1/mentions/read", {"conversationId": str(conversation.pk)}, format="json"
    )
    assert by_conversation.json() == {"read": [first["id"]]}

    assert as_person(ada).get("/api/v1/mentions").json() == {"unread": 0, "results": []}
    assert client.get("/api/v1/mentions?unread=maybe").status_code == 400
    for body in ({"ids": "1"}, {"ids": [-1]}, {"conversationId": "not-a-uuid"}):
        refused = client.post("/api/v1/mentions/read", body, format="json")
        assert refused.status_code == 400, body
        (field,) = refused.json()["error"]["fields"]
        assert field.startswith(next(iter(body))), field  # "ids[0]": the first bad id
    not_an_object = client.post("/api/v1/mentions/read", [1, 2], format="json")
    assert not_an_object.status_code == 400
    assert key_client.get("/api/v1/mentions").status_code == 403  # a key is no person
    assert as_person(manager).get("/api/v1/mentions").status_code == 403
    eve = make_person(tenant=other_tenant, roles=["agent"], username="eve")
    assert as_person(eve).get("/api/v1/mentions").json() == {"unread": 0, "results": []}


def test_the_inbox_page_offers_the_tenants_active_agents_to_name(
    conversation, ada, bob, cara, other_tenant
):
    make_person(tenant=other_tenant, roles=["agent"], username="eve")
    gone = make_person(tenant=conversation.tenant, roles=["agent"], username="gone")
    gone.is_active = False
    gone.save(update_fields=["is_active"])

    page = as_person(ada).get("/inbox/")

    people = page.context["config"]["people"]
    assert [p["username"] for p in people] == ["ada", "bob", "cara.b"]
    assert people[2] == {"username": "cara.b", "name": "Cara"}


# --- the e-mail ---------------------------------------------------------------------------------


def test_the_email_goes_to_a_person_with_the_inbox_closed_once_and_not_once_read(
    conversation, ada, bob, cara
):
    note_post(conversation=conversation, user=ada, text="@cara.b @bob the parcel came back")
    caras = Mention.objects.get(user=cara)
    bobs = Mention.objects.get(user=bob)  # bob has the inbox open (and no address)

    assert mention_email_send(caras.pk) is True
    assert mention_email_send(caras.pk) is False  # once
    assert mention_email_send(bobs.pk) is False
    (email,) = mail.outbox
    assert email.to == ["cara@acme.test"]
    assert email.subject == "Ada mentioned you in a note on c-1's conversation"
    assert "@cara.b @bob the parcel came back" in email.body
    assert f"/inbox/conversations/{conversation.pk}/view" in email.body

    other = note_post(conversation=conversation, user=ada, text="@cara.b again")
    again = Mention.objects.get(user=cara, message=other)
    mentions_read(cara, ids=[again.pk])
    assert mention_email_send(again.pk) is False  # she read it in the meantime
    presence_join(user=cara, tenant=conversation.tenant)
    third = Mention.objects.get(
        user=cara, message=note_post(conversation=conversation, user=ada, text="@cara.b 3")
    )
    assert mention_email_send(third.pk) is False  # her inbox is open
    presence_leave(user=cara)
    assert len(mail.outbox) == 1


class RefusingMailServer(BaseEmailBackend):
    calls: list[bool] = []

    def send_messages(self, email_messages):
        RefusingMailServer.calls.append(connection.in_atomic_block)
        raise OSError("connection refused by smtp.example")


@pytest.mark.django_db(transaction=True)
def test_a_refused_email_is_left_for_the_retry_and_no_transaction_is_open_meanwhile(
    key_client, team, online, ada, cara, settings
):
    conversation = handed_over(key_client).conversation
    note_post(conversation=conversation, user=ada, text="@cara.b see this")
    mention = Mention.objects.get(user=cara)
    Mention.objects.filter(pk=mention.pk).update(emailed_at=None)  # its task ran at commit
    settings.EMAIL_BACKEND = f"{__name__}.RefusingMailServer"
    RefusingMailServer.calls = []

    with pytest.raises(OSError):
        mention_email_send(mention.pk)

    assert RefusingMailServer.calls == [False]
    refused = Mention.objects.get(pk=mention.pk)
    assert (refused.emailed_at, refused.email_sending_at) == (None, None)  # the retry sends it


def test_a_worker_killed_mid_send_leaves_the_email_to_go_once_its_mark_expires(
    conversation, ada, cara
):
    import datetime as dt

    from django.utils import timezone

    from handover.mentions import EMAIL_LEASE

    note_post(conversation=conversation, user=ada, text="@cara.b the parcel came back")
    mention = Mention.objects.get(user=cara)
    taken = timezone.now() - dt.timedelta(seconds=10)
    Mention.objects.filter(pk=mention.pk).update(email_sending_at=taken)  # its worker died

    assert mention_email_send(mention.pk) is False  # delivered again: the mark is still held
    (again,) = OutboxEvent.objects.filter(payload__task=MENTION_EMAIL_TASK).order_by("-id")[:1]
    assert again.payload["args"] == [mention.pk]
    assert EMAIL_LEASE.total_seconds() - 20 < again.payload["countdown"] <= 300
    assert not mail.outbox

    Mention.objects.filter(pk=mention.pk).update(email_sending_at=taken - EMAIL_LEASE)  # expired
    assert mention_email_send(mention.pk) is True
    assert [m.to for m in mail.outbox] == [["cara@acme.test"]]
    before = OutboxEvent.objects.filter(payload__task=MENTION_EMAIL_TASK).count()
    assert mention_email_send(mention.pk) is False  # mailed: nothing, and no more looking again
    assert OutboxEvent.objects.filter(payload__task=MENTION_EMAIL_TASK).count() == before
    assert len(mail.outbox) == 1


def test_a_mention_read_while_a_dead_workers_mark_expires_is_not_mailed(conversation, ada, cara):
    import datetime as dt

    from django.utils import timezone

    from handover.mentions import EMAIL_LEASE

    note_post(conversation=conversation, user=ada, text="@cara.b the parcel came back")
    mention = Mention.objects.get(user=cara)
    Mention.objects.filter(pk=mention.pk).update(
        email_sending_at=timezone.now() - EMAIL_LEASE - dt.timedelta(seconds=1)
    )
    mentions_read(cara, ids=[mention.pk])

    assert mention_email_send(mention.pk) is False
    assert not mail.outbox
