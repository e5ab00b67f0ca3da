"""What a tenant's files may take, and how long it keeps them: the server operator's storage
limit per tenant (one tenant's customers cannot fill the disk) and the tenant's own retention
(files of conversations resolved long ago are deleted, their names kept in the transcript)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from conversations.file_quota import files_reserve
from conversations.file_retention import files_retention_sweep
from conversations.models import Attachment, Conversation, Message
from core.errors import Invalid
from core.models import FileUsage
from handover.services import conversation_resolve, handoff_claim
from tests.conftest import login
from tests.factories import make_person, tenant_admin_form
from tests.handover.test_attachments import (
    PDF,
    PNG,
    _file,
    _handoff,
    _send,
    _start,
)
from tests.handover.test_email_channel import (  # noqa: F401
    captured,
    channel,
    form,
    take,
)

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def _used(tenant) -> int:
    return FileUsage.objects.filter(tenant=tenant).values_list("bytes", flat=True).first() or 0


def _fill(tenant, *, limit_mb: int, room: int) -> None:
    """The tenant's limit, and its files taking all of it but ``room`` bytes."""
    tenant.files_limit_mb = limit_mb
    tenant.save(update_fields=["files_limit_mb"])
    FileUsage.objects.update_or_create(tenant=tenant, defaults={"bytes": limit_mb * MB - room})


# --- the limit -----------------------------------------------------------------------------


def test_each_file_is_counted_and_comes_off_when_deleted(
    team, tenant, django_capture_on_commit_callbacks
):
    started = _start()

    _send(started)
    _send(started, file=_file("receipt.pdf", PDF, "application/pdf"))

    assert _used(tenant) == len(PNG) + len(PDF)
    with django_capture_on_commit_callbacks(execute=True):
        Conversation.objects.filter(pk=started["conversationId"]).delete()
    assert _used(tenant) == 0


def test_a_file_past_the_tenants_limit_is_refused_naming_the_field_and_leaves_nothing(
    team, tenant, tmp_path
):
    _fill(tenant, limit_mb=1, room=len(PNG) - 1)
    started = _start()

    refused = _send(started)

    assert refused.status_code == 400, refused.content
    assert refused.json()["error"]["fields"]["file"] == [
        "this team's file storage is full (1.0 MB)"
    ]
    assert not Attachment.objects.exists()
    assert _used(tenant) == MB - len(PNG) + 1  # nothing counted
    assert not (tmp_path / "attachments").exists() or not any((tmp_path / "attachments").rglob("*"))
    # a file that fits still goes
    assert _send(started, file=_file("a.txt", b"ok", "text/plain")).status_code == 201
    assert _used(tenant) == MB - len(PNG) + 3


def test_a_tenant_the_operator_gives_no_room_takes_no_files(team, tenant, settings):
    settings.TENANT_FILES_MAX_MB = 0
    started = _start()

    refused = _send(started)

    assert refused.status_code == 400
    assert refused.json()["error"]["fields"]["file"] == ["this team does not take files"]
    # the tenant's own limit, set by the operator, stands over the server's default
    tenant.files_limit_mb = 1
    tenant.save(update_fields=["files_limit_mb"])
    assert _send(started).status_code == 201


def test_one_tenants_full_storage_is_its_own(team, tenant, globex):
    _fill(globex, limit_mb=1, room=0)

    sent = _send(_start())

    assert sent.status_code == 201
    assert _used(tenant) == len(PNG) and _used(globex) == MB
    assert _send(_start(slug="globex"), slug="globex").status_code == 400


def test_a_refused_message_gives_its_files_bytes_back(team, tenant):
    started = _start()
    bob = make_person(tenant=tenant, roles=["agent"], username="bob")
    client = Client()
    client.force_login(bob)

    # bob does not hold the conversation: his reply is refused after the file was taken
    refused = client.post(
        f"/inbox/conversations/{started['conversationId']}/files", {"file": _file()}
    )

    assert refused.status_code == 409, refused.content
    assert not Attachment.objects.exists() and _used(tenant) == 0


def test_a_mail_whose_file_finds_the_storage_full_tells_the_people_why(
    channel,  # noqa: F811
    captured,  # noqa: F811
    tenant,
):
    _fill(tenant, limit_mb=1, room=3)
    data = {**form(), "attachments": "1", "attachment1": _file("heel.png")}

    response = take(channel, captured, data)

    assert response.status_code == 201, response.content[:300]
    message = Message.objects.get(pk=response.json()["messageId"])
    assert message.attachments == [
        {"filename": "heel.png", "contentType": "image/png", "size": len(PNG)}
    ]
    note = Message.objects.get(conversation_id=message.conversation_id, role="note")
    assert (
        f"Not kept as files: heel.png (image/png, {len(PNG)} B: this team's file storage is "
        "full (1.0 MB))." in note.text
    )


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_files_at_once_cannot_both_pass_the_limit(tenant):
    from django.db import connection

    from tests.concurrency import race

    if connection.vendor != "postgresql":
        pytest.skip("two uploads at once are decided by a row's lock: PostgreSQL")
    _fill(tenant, limit_mb=1, room=100)

    results = race(4, lambda i: files_reserve(tenant.pk, 60))

    assert sum(r is None for r in results) == 1, results
    assert sum(isinstance(r, Invalid) for r in results) == 3, results
    assert _used(tenant) == MB - 40


def test_the_manager_sees_what_the_files_take_and_cannot_raise_the_limit(
    team, tenant, manager, settings
):
    settings.TENANT_FILES_MAX_MB = 2048
    _send(_start())
    url = f"/admin/core/tenant/{tenant.pk}/change/"
    form = tenant_admin_form(tenant, file_retention_days="30", files_limit_mb="999999")
    client = login(manager)

    page = client.get(url).content.decode()
    saved = client.post(url, form)

    assert f"{len(PNG)} B of 2.0 GB (0%)" in page
    assert saved.status_code == 302, saved.content.decode()[:2000]
    tenant.refresh_from_db()
    assert (tenant.file_retention_days, tenant.files_limit_mb) == (30, None)
    root = make_person(tenant=None, username="root", is_superuser=True, is_staff=True)
    assert login(root).post(url, {**form, "slug": tenant.slug}).status_code == 302
    tenant.refresh_from_db()
    assert tenant.files_limit_mb == 999999


def test_the_admin_refuses_a_retention_out_of_range(tenant, manager):
    url = f"/admin/core/tenant/{tenant.pk}/change/"
    form = tenant_admin_form(tenant, file_retention_days="0")

    refused = login(manager).post(url, form)

    assert refused.status_code == 200
    assert "Ensure this value is greater than or equal to 1" in refused.content.decode()
    tenant.refresh_from_db()
    assert tenant.file_retention_days is None


# --- retention -----------------------------------------------------------------------------


def _conversation_with_a_file(*, resolved_days_ago: int | None, slug: str = "acme"):
    started = _start(slug=slug)
    sent = _send(started, slug=slug)
    assert sent.status_code == 201, sent.content
    if resolved_days_ago is not None:
        conversation = Conversation.objects.get(pk=started["conversationId"])
        person = make_person(tenant=conversation.tenant, roles=["agent"])
        handoff_claim(handoff=_handoff(conversation), user=person)
        conversation_resolve(conversation=conversation, user=person)
        Conversation.objects.filter(pk=conversation.pk).update(
            resolved_at=timezone.now() - dt.timedelta(days=resolved_days_ago)
        )
    return started["conversationId"], sent.json()


def test_files_of_conversations_resolved_past_the_retention_are_deleted_and_named(
    team,
    tenant,
    globex,
    manager,
    django_capture_on_commit_callbacks,
):
    tenant.file_retention_days = 30
    tenant.save(update_fields=["file_retention_days"])
    old_id, old = _conversation_with_a_file(resolved_days_ago=31)
    _, recent = _conversation_with_a_file(resolved_days_ago=10)
    _, open_ = _conversation_with_a_file(resolved_days_ago=None)
    _, theirs = _conversation_with_a_file(resolved_days_ago=400, slug="globex")  # keeps all
    stored = Attachment.objects.get(pk=old["attachment"]["id"]).file.name

    with django_capture_on_commit_callbacks(execute=True):
        deleted = files_retention_sweep()

    assert deleted == 1
    remaining = {str(pk) for pk in Attachment.objects.values_list("pk", flat=True)}
    assert remaining == {
        recent["attachment"]["id"],
        open_["attachment"]["id"],
        theirs["attachment"]["id"],
    }
    assert not default_storage.exists(stored)
    assert _used(tenant) == 2 * len(PNG) and _used(globex) == len(PNG)
    (entry,) = Message.objects.get(pk=old["messageId"]).attachments
    assert "id" not in entry
    assert (entry["filename"], entry["size"]) == ("heel.png", len(PNG))
    assert dt.datetime.fromisoformat(entry["deleted"]) <= timezone.now()
    # the transcript still says what came; the link is gone, and the old one opens nothing
    detail = login(manager).get(f"/inbox/conversations/{old_id}/view")
    assert detail.status_code == 200
    listed = Client().get(old["attachment"]["url"])
    assert listed.status_code == 404
    assert files_retention_sweep() == 0  # nothing more to do


def test_the_sweep_goes_batch_by_batch(team, tenant, monkeypatch):
    from conversations import file_retention

    monkeypatch.setattr(file_retention, "BATCH", 2)
    tenant.file_retention_days = 1
    tenant.save(update_fields=["file_retention_days"])
    _conversation_with_a_file(resolved_days_ago=None)
    started = _start()
    for _ in range(5):
        assert _send(started).status_code == 201
    conversation = Conversation.objects.get(pk=started["conversationId"])
    person = make_person(tenant=tenant, roles=["agent"])
    handoff_claim(handoff=_handoff(conversation), user=person)
    conversation_resolve(conversation=conversation, user=person)
    Conversation.objects.filter(pk=conversation.pk).update(
        resolved_at=timezone.now() - dt.timedelta(days=2)
    )

    assert files_retention_sweep() == 5

    assert Attachment.objects.count() == 1 and _used(tenant) == len(PNG)  # the open one's
    entries = [e for m in Message.objects.filter(conversation=conversation) for e in m.attachments]
    assert len(entries) == 5 and all("deleted" in e and "id" not in e for e in entries)


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_what_each_tenants_files_already_take():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("conversations", "0012_conversation_tags"), ("core", "0005_tenant_assign_queue")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old = executor.loader.project_state(before).apps
        Tenant = old.get_model("core", "Tenant")
        Conversation = old.get_model("conversations", "Conversation")
        Attachment = old.get_model("conversations", "Attachment")
        sizes = {"acme": [100, 250], "globex": [7], "initech": []}
        for slug, each in sizes.items():
            tenant = Tenant.objects.create(slug=slug, name=slug)
            agent = old.get_model("agents", "Agent").objects.create(
                tenant=tenant, slug="desk", name="Desk", role="supervisor"
            )
            conversation = Conversation.objects.create(
                tenant=tenant,
                channel="web",
                customer_ref="c",
                entry_agent=agent,
                current_agent=agent,
            )
            for size in each:
                Attachment.objects.create(
                    tenant=tenant,
                    conversation=conversation,
                    file=f"attachments/{size}",
                    filename="f",
                    content_type="text/plain",
                    size=size,
                    sent_by="customer",
                )

        executor.loader.build_graph()
        executor.migrate([("conversations", "0013_file_usage_counted")])

        counted = dict(FileUsage.objects.values_list("tenant__slug", "bytes"))
        assert counted == {"acme": 350, "globex": 7}
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
