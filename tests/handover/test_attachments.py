"""Files in a conversation: the web chat's customer sends a photo or a PDF, the person holding
the conversation sends one back from the inbox; both reach the other side with a signed link
that expires, and nothing else reaches the file. Only kinds the pages show safely are taken,
told by the file's first bytes, and a refused file leaves nothing behind."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from conversations.attachments import (
    attachment_take,
    attachments_unsent_sweep,
    without_text,
)
from conversations.models import Attachment, Conversation, Message
from handover.models import Handoff
from handover.services import conversation_resolve, handoff_claim
from tests.factories import make_person
from tests.handover.test_email_channel import captured  # noqa: F401

pytestmark = pytest.mark.django_db

OURS = {"Origin": "http://testserver"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def _start(slug="acme", text="My boots arrived with a broken heel"):
    response = Client().post(
        f"/chat/{slug}/start", {"text": text}, content_type="application/json", headers=OURS
    )
    assert response.status_code == 201, response.content
    return response.json()


def _file(name="heel.png", content=PNG, content_type="image/png"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def _send(started, slug="acme", client=None, headers=OURS, **fields):
    body = {"conversationId": started["conversationId"], "token": started["token"]}
    body.update(fields)
    if "file" not in fields:
        body["file"] = _file()
    body = {key: value for key, value in body.items() if value is not None}
    return (client or Client()).post(f"/chat/{slug}/files", body, headers=headers)


def test_the_customer_sends_a_photo_and_it_reaches_the_conversation(team, tenant):
    started = _start()

    response = _send(started, text="This is how it came")

    assert response.status_code == 201, response.content
    attachment = response.json()["attachment"]
    assert attachment["filename"] == "heel.png"
    assert attachment["contentType"] == "image/png"
    assert attachment["size"] == len(PNG)
    message = Message.objects.get(pk=response.json()["messageId"])
    assert (message.role, message.text) == ("customer", "This is how it came")
    stored = Attachment.objects.get(pk=attachment["id"])
    assert stored.message_id == message.pk and stored.tenant_id == tenant.pk
    # the transcript the inbox reads lists it, with the same kind of link
    shown = Client()
    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    shown.force_login(ada)
    conversation = Conversation.objects.get(pk=started["conversationId"])
    handoff_claim(handoff=_handoff(conversation), user=ada)
    detail = shown.get(f"/inbox/conversations/{conversation.pk}/").json()
    (listed,) = [m for m in detail["messages"] if m.get("attachments")]
    assert listed["attachments"][0]["url"].startswith("/files/")

    got = Client().get(attachment["url"])

    assert got.status_code == 200
    assert b"".join(got.streaming_content) == PNG
    assert got["Content-Type"] == "image/png"
    assert got["Content-Disposition"].startswith("inline")
    assert got["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got["Content-Security-Policy"]


def _handoff(conversation):
    from orchestration.turns import conversation_receive_message

    if not Handoff.objects.filter(conversation=conversation).exists():
        conversation_receive_message(conversation=conversation, text="I want a human please")
    return Handoff.objects.get(conversation=conversation)


def test_a_file_without_text_says_so_in_the_transcript(team, tenant):
    started = _start()

    response = _send(started, file=_file("receipt.pdf", PDF, "application/pdf"))

    assert response.status_code == 201, response.content
    message = Message.objects.get(pk=response.json()["messageId"])
    assert message.text == without_text(["receipt.pdf"])
    assert message.text == "[1 attachment sent without text: receipt.pdf]"
    got = Client().get(response.json()["attachment"]["url"])
    assert got["Content-Type"] == "application/pdf"
    assert got["Content-Disposition"].startswith('attachment; filename="receipt.pdf"')


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        # a page with a script, named as an image: its bytes say what it is
        ({"file": _file("cat.png", b"<html><script>alert(1)</script>", "image/png")}, 400, "file"),
        (
            {"file": _file("logo.svg", b"<svg onload=alert(1)></svg>\x00", "image/svg+xml")},
            400,
            "file",
        ),
        (
            {"file": _file("run.exe", b"MZ\x90\x00\x03\x00\x00\x00", "application/octet-stream")},
            400,
            "file",
        ),
        ({"file": _file("empty.png", b"", "image/png")}, 400, "file"),
        ({"file": None}, 400, "file"),
        ({"file": [_file(), _file("two.png")]}, 400, "file"),
        ({"text": "look\x00"}, 400, "text"),
        ({"text": "x" * 20_000}, 400, "text"),
    ],
    ids=["html-as-png", "svg", "exe", "empty", "none", "two", "nul-text", "long-text"],
)
def test_a_refused_file_is_a_400_naming_the_field_and_leaves_nothing(
    team, tenant, fields, status, field
):
    started = _start()

    response = _send(started, **fields)

    assert response.status_code == status, response.content
    assert list(response.json()["error"]["fields"]) == [field]
    assert Attachment.objects.count() == 0
    assert (
        not Message.objects.filter(conversation_id=started["conversationId"])
        .exclude(attachments=[])
        .exists()
    )
    assert not default_storage.exists(f"attachments/{tenant.pk}")


def test_a_file_over_the_limit_is_refused(team, tenant, settings):
    settings.ATTACHMENT_MAX_BYTES = 100
    started = _start()

    within_the_form = _send(started, file=_file(content=PNG + b"x" * 200))
    settings.ATTACHMENT_MAX_BYTES = 10
    declared_too_large = Client().post(
        "/chat/acme/files",
        b"x" * (70 * 1024),
        content_type="multipart/form-data; boundary=zzz",
        headers=OURS,
    )

    assert within_the_form.status_code == 400
    assert "at most 100 B" in within_the_form.json()["error"]["fields"]["file"][0]
    assert declared_too_large.status_code == 413
    assert Attachment.objects.count() == 0


def test_a_body_that_is_no_form_is_a_400(team, tenant):
    started = _start()

    as_json = Client().post(
        "/chat/acme/files", {**started}, content_type="application/json", headers=OURS
    )
    garbage = Client().post(
        "/chat/acme/files",
        b'--zzz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n\x89PNG',
        content_type="multipart/form-data; boundary=zzz",
        headers=OURS,
    )
    no_boundary = Client().post(
        "/chat/acme/files", b"abc", content_type="multipart/form-data", headers=OURS
    )

    assert as_json.status_code == 400
    assert garbage.status_code == 400
    assert no_boundary.status_code == 400
    assert Attachment.objects.count() == 0


def test_a_files_name_is_cleaned(team, tenant):
    started = _start()

    response = _send(started, file=_file("../../etc/pass\x00wd\u202e.png"))

    assert response.status_code == 201, response.content
    assert response.json()["attachment"]["filename"] == "passwd.png"
    stored = Attachment.objects.get()
    assert stored.file.name == f"attachments/{tenant.pk}/{stored.pk.hex}"


def test_only_the_token_opens_the_door(team, tenant):
    started = _start()
    other = _start()
    resolved = Conversation.objects.get(pk=other["conversationId"])

    wrong_token = _send(started, token=other["token"])
    another_tenant = _send(started, slug="globex")
    foreign_page = _send(
        started,
        client=Client(enforce_csrf_checks=True),
        headers={"Origin": "https://evil.example"},
    )
    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    handoff_claim(handoff=_handoff(resolved), user=ada)
    conversation_resolve(conversation=resolved, user=ada)
    after_resolve = _send(other)

    assert wrong_token.status_code == 404
    assert another_tenant.status_code == 404
    assert foreign_page.status_code == 403
    assert after_resolve.status_code == 409
    assert Attachment.objects.count() == 0


def test_another_tenants_chat_cannot_send_to_it(team, tenant, globex):
    started = _start()

    response = _send(started, slug="globex")

    assert response.status_code == 404
    assert Attachment.objects.count() == 0


def test_a_link_that_is_altered_or_expired_opens_nothing(team, tenant, settings):
    started = _start()
    url = _send(started).json()["attachment"]["url"]
    _, _, signed, name = url.split("/", 3)
    pk, stamp, signature = signed.split(":")
    other = Attachment.objects.get().pk.hex  # another id under the same signature

    forged = Client().get(f"/files/{other}:{stamp}:{signature}/{name}")
    altered = Client().get(f"/files/{pk}:{stamp}:{signature[:-2]}xx/{name}")
    garbage = Client().get(
        "/files/\ud800:::/x.png".encode("utf-8", "surrogatepass").decode("latin-1")
    )
    settings.ATTACHMENT_LINK_SECONDS = -1  # every link is past its age
    expired = Client().get(url)

    assert forged.status_code == 404
    assert altered.status_code == 404
    assert garbage.status_code in (400, 404)
    assert expired.status_code == 404


def test_the_person_holding_it_sends_a_file_and_the_customer_gets_it(team, tenant):
    started = _start()
    conversation = Conversation.objects.get(pk=started["conversationId"])
    ada = make_person(tenant=tenant, roles=["agent"], username="ada", first_name="Ada")
    bob = make_person(tenant=tenant, roles=["agent"], username="bob")
    approver = make_person(tenant=tenant, roles=["approver"], username="appr")
    handoff_claim(handoff=_handoff(conversation), user=ada)

    def post(user, **fields):
        client = Client()
        client.force_login(user)
        return client.post(
            f"/inbox/conversations/{conversation.pk}/files",
            {"file": _file("label.pdf", PDF, "application/pdf"), **fields},
        )

    not_theirs = post(bob)
    no_agent = post(approver)
    sent = post(ada, text="Here is your return label")

    assert not_theirs.status_code == 409, not_theirs.content
    assert no_agent.status_code == 403
    assert sent.status_code == 201, sent.content
    message = Message.objects.get(pk=sent.json()["messageId"])
    assert (message.role, message.author, message.text) == (
        "human",
        "Ada",
        "Here is your return label",
    )
    assert Attachment.objects.get().message_id == message.pk  # bob's was dropped
    assert message.attachments[0]["filename"] == "label.pdf"


def test_any_agent_attaches_a_file_to_a_private_note_that_never_reaches_the_customer(
    team,
    tenant,
    key_client,
    captured,  # noqa: F811
):
    started = _start()
    conversation = Conversation.objects.get(pk=started["conversationId"])
    ada = make_person(tenant=tenant, roles=["agent"], username="ada", first_name="Ada")
    bob = make_person(tenant=tenant, roles=["agent"], username="bob", first_name="Bob")
    handoff_claim(handoff=_handoff(conversation), user=ada)
    Conversation.objects.filter(pk=conversation.pk).update(
        customer_email="kim@example.com", email_follow_up=True
    )
    client = Client()
    client.force_login(bob)  # he does not hold it: a note is anyone's

    with captured(execute=True):
        sent = client.post(
            f"/inbox/conversations/{conversation.pk}/files",
            {
                "file": _file("invoice.pdf", PDF, "application/pdf"),
                "text": "Carrier's invoice",
                "note": "1",
            },
        )
        empty = client.post(
            f"/inbox/conversations/{conversation.pk}/files",
            {"file": _file("e.pdf", b"", "application/pdf"), "note": "1"},
        )

    assert sent.status_code == 201, sent.content
    note = Message.objects.get(pk=sent.json()["messageId"])
    assert (note.role, note.author, note.text) == ("note", "Bob", "Carrier's invoice")
    assert note.attachments[0]["filename"] == "invoice.pdf"
    assert empty.status_code == 400 and list(empty.json()["error"]["fields"]) == ["file"]
    assert mail.outbox == []  # never e-mailed
    transcript = key_client.get(f"/api/v1/conversations/{conversation.pk}/messages").json()
    assert note.pk not in [m["id"] for m in transcript]  # nor in the channel's transcript


def test_another_tenants_agent_cannot_send_into_it(team, tenant, globex):
    started = _start()
    conversation = Conversation.objects.get(pk=started["conversationId"])
    stranger = make_person(tenant=globex, roles=["agent"], username="eve")
    client = Client()
    client.force_login(stranger)

    response = client.post(f"/inbox/conversations/{conversation.pk}/files", {"file": _file()})

    assert response.status_code == 404
    assert Attachment.objects.count() == 0


def test_a_reply_with_a_file_is_emailed_with_it_attached(team, tenant, captured):  # noqa: F811
    started = _start()
    conversation = Conversation.objects.get(pk=started["conversationId"])
    ada = make_person(tenant=tenant, roles=["agent"], username="ada", first_name="Ada")
    handoff_claim(handoff=_handoff(conversation), user=ada)
    left = Client().post(
        "/chat/acme/email",
        {**started, "email": "kim@example.com"},
        content_type="application/json",
        headers=OURS,
    )
    assert left.status_code == 200
    client = Client()
    client.force_login(ada)

    with captured(execute=True):
        sent = client.post(
            f"/inbox/conversations/{conversation.pk}/files",
            {"file": _file("label.pdf", PDF, "application/pdf"), "text": "Your label"},
        )

    assert sent.status_code == 201
    (emailed,) = mail.outbox
    assert emailed.body.startswith("Your label")
    assert emailed.attachments == [("label.pdf", PDF, "application/pdf")]


def test_the_files_go_with_their_conversation(team, tenant, django_capture_on_commit_callbacks):
    started = _start()
    _send(started)
    stored = Attachment.objects.get()
    assert default_storage.exists(stored.file.name)

    with django_capture_on_commit_callbacks(execute=True):
        Conversation.objects.filter(pk=started["conversationId"]).delete()

    assert not Attachment.objects.exists()
    assert not default_storage.exists(stored.file.name)


def test_a_file_no_message_took_is_swept(team, tenant):
    started = _start()
    conversation = Conversation.objects.get(pk=started["conversationId"])
    orphan = attachment_take(conversation=conversation, upload=_file(), sent_by="customer")
    kept = _send(started).json()["attachment"]["id"]

    assert attachments_unsent_sweep() == 0  # too young: its message may be on its way
    assert attachments_unsent_sweep(now=timezone.now() + dt.timedelta(hours=2)) == 1

    assert [str(pk) for pk in Attachment.objects.values_list("pk", flat=True)] == [kept]
    assert not Attachment.objects.filter(pk=orphan.pk).exists()


def test_a_text_file_is_taken_by_its_name_and_its_content(team, tenant):
    started = _start()

    log = _send(started, file=_file("app.log", b"ERROR 42: payment declined\n", "text/x-log"))
    binary = _send(started, file=_file("notes.txt", b"\x01\x02 not text", "text/plain"))

    assert log.status_code == 201, log.content
    got = Client().get(log.json()["attachment"]["url"])
    assert got["Content-Type"] == "text/plain; charset=utf-8"
    assert got["Content-Disposition"].startswith("attachment")
    assert binary.status_code == 400
    assert Attachment.objects.count() == 1


def test_a_channel_posts_the_customers_file_through_the_api(team, tenant, key_client, globex):
    from rest_framework.test import APIClient

    from tests.factories import make_api_key

    started = _start()
    url = f"/api/v1/conversations/{started['conversationId']}/files"

    sent = key_client.post(url, {"file": _file(), "text": "How it came"}, format="multipart")
    wrong_kind = key_client.post(
        url, {"file": _file("a.png", b"GIF? no", "image/png")}, format="multipart"
    )
    as_json = key_client.post(url, {"text": "no file"}, format="json")
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=globex)[1]}")
    across = theirs.post(url, {"file": _file()}, format="multipart")
    agent = APIClient()
    agent.force_authenticate(make_person(tenant=tenant, roles=["agent"], username="ada"))
    not_a_channel = agent.post(url, {"file": _file()}, format="multipart")

    assert sent.status_code == 201, sent.content
    body = sent.json()
    assert body["message"]["text"] == "How it came"
    assert body["message"]["attachments"][0]["filename"] == "heel.png"
    assert body["replyStatus"] in {"answered", "pending", "silent", "none"}
    assert wrong_kind.status_code == 400
    assert "file" in wrong_kind.json()["error"]["fields"]
    assert as_json.status_code == 415
    assert across.status_code == 404
    assert not_a_channel.status_code == 403
    assert Attachment.objects.count() == 1
    listed = key_client.get(f"/api/v1/conversations/{started['conversationId']}/messages").json()
    # the same file (each read signs its link afresh: the stamp may differ by a second)
    assert [m["attachments"][0]["id"] for m in listed if m.get("attachments")] == [
        body["message"]["attachments"][0]["id"]
    ]


def test_the_api_refuses_a_file_over_the_limit_before_reading_it(
    team, tenant, key_client, settings
):
    settings.ATTACHMENT_MAX_BYTES = 10
    started = _start()

    response = key_client.post(
        f"/api/v1/conversations/{started['conversationId']}/files",
        b"x" * (70 * 1024),
        content_type="multipart/form-data; boundary=zzz",
    )

    assert response.status_code == 413
    assert Attachment.objects.count() == 0


def test_no_door_reads_a_body_larger_than_any_door_takes(team, tenant, settings, key_client):
    settings.REQUEST_MAX_BYTES = 4096
    started = _start()
    body = {**started, "file": _file(content=PNG + b"x" * 8000)}

    # from another site: refused before Django's CSRF check would parse the form
    foreign = Client(enforce_csrf_checks=True).post(
        "/chat/acme/files", body, headers={"Origin": "https://evil.example"}
    )
    api = key_client.post(
        f"/api/v1/conversations/{started['conversationId']}/files",
        {"file": _file(content=PNG + b"x" * 8000)},
        format="multipart",
    )

    assert foreign.status_code == 413
    assert api.status_code == 413 and api.json()["error"]["code"] == "payload_too_large"
    assert Attachment.objects.count() == 0


def test_the_claimer_sends_a_file_through_the_api(team, tenant):
    from rest_framework.test import APIClient

    started = _start()
    conversation = Conversation.objects.get(pk=started["conversationId"])
    handoff = _handoff(conversation)
    ada = make_person(tenant=tenant, roles=["agent"], username="ada", first_name="Ada")
    bob = make_person(tenant=tenant, roles=["agent"], username="bob")
    handoff_claim(handoff=handoff, user=ada)

    def post(user, **fields):
        client = APIClient()
        client.force_authenticate(user)
        return client.post(
            f"/api/v1/handoffs/{handoff.pk}/files",
            {"file": _file("label.pdf", PDF, "application/pdf"), **fields},
            format="multipart",
        )

    sent = post(ada, text="Your return label")
    not_theirs = post(bob)
    bad_text = post(ada, text="x\x00")

    assert sent.status_code == 201, sent.content
    assert sent.json()["attachments"][0]["filename"] == "label.pdf"
    assert sent.json()["text"] == "Your return label"
    assert not_theirs.status_code == 409
    assert bad_text.status_code == 400 and "text" in bad_text.json()["error"]["fields"]
    assert Attachment.objects.count() == 1  # the refused ones left nothing


def test_a_persons_uploads_over_the_limit_get_429_and_nothing_is_stored(team, tenant, settings):
    settings.INBOX_UPLOAD_RATE_LIMIT = "2/min"
    started = _start()
    conversation = Conversation.objects.get(pk=started["conversationId"])
    ada = make_person(tenant=tenant, roles=["agent"], username="ada", first_name="Ada")
    bob = make_person(tenant=tenant, roles=["agent"], username="bob", first_name="Bob")

    def note_file(user):
        client = Client()
        client.force_login(user)
        return client.post(
            f"/inbox/conversations/{conversation.pk}/files",
            {"file": _file("invoice.pdf", PDF, "application/pdf"), "note": "1"},
        )

    codes = [note_file(ada).status_code for _ in range(2)]
    refused = note_file(ada)
    bobs = note_file(bob)  # another person's allowance is their own

    assert codes == [201, 201]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "sending files too fast" in refused.json()["error"]["message"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert bobs.status_code == 201
    assert Attachment.objects.count() == 3
