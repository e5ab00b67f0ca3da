"""Files in a conversation: a customer's photo of the parcel that came broken, a person's PDF
of the return label.

- ``attachment_take(conversation=, upload=, sent_by=)`` checks one uploaded file and stores it:
  at most ``ATTACHMENT_MAX_BYTES``, not empty, and of a kind the pages show safely, told by its
  first bytes (never by its name or the type the browser claims): a PNG, JPEG, GIF or WebP
  image, a PDF, or plain UTF-8 text. Its row is not yet tied to a message; raises Invalid
  naming ``file``. The file is written before any transaction opens (local or object storage
  is I/O, held by no lock).
- ``message_post(files=...)`` (``conversations.messages``) writes the message that carries
  them, lists them on it (``Message.attachments``: ``id``, ``filename``, ``contentType``,
  ``size``) and ties them to it in the same transaction. ``attachment_discard`` drops a file
  whose message was refused; the sweep drops one whose message never came (a crash between).
- Files are reached only by a signed link (``attachment_link``: ``/files/<signed>/<name>``,
  valid ``ATTACHMENT_LINK_SECONDS``), which ``message_json`` adds as ``url``: the doors that
  show a conversation (the customer's socket with its token, the inbox, the API with the
  tenant's key) hand it out, and the file's door checks the signature only.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete
from django.urls import reverse
from django.utils import timezone

from conversations.file_quota import files_release, files_reserve
from conversations.models import Attachment, Conversation
from core.errors import Invalid
from core.limits import message_text, size_text
from core.observability import metrics

T = TypeVar("T")

log = logging.getLogger(__name__)

_SALT = "conversations.attachment"
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)
TEXT_NAMES = (".txt", ".log", ".csv")
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
KINDS_TEXT = "an image (PNG, JPEG, GIF or WebP), a PDF or a text file (.txt, .log, .csv)"
PER_CONVERSATION = 50  # files a conversation may hold
UNSENT_AFTER = dt.timedelta(hours=1)  # a file no message took by then is dropped
WITHOUT_TEXT = "[{count} attachment{s} sent without text: {names}]"
_ONLY_FILES = re.compile(r"\[\d+ attachments? sent without text: .*\]", re.DOTALL)


def clean_name(name: str) -> str:
    """A file's own name as people see it: no path, no control characters (NUL and lone
    surrogates included), spaces folded, at most 255 characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    return " ".join(name.split())[:255] or "attachment"


def without_text(names: list[str], count: int | None = None) -> str:
    """The text of a message that is only files (what the AI and the transcript read)."""
    count = len(names) if count is None else count
    return WITHOUT_TEXT.format(count=count, s="s" if count != 1 else "", names=", ".join(names))


def only_files(text: str, attachments: list[Any]) -> bool:
    """Whether a message's text only says that files came (``without_text``): the pages then
    show the files alone (static/js/message-files.js reads it the same way)."""
    return bool(attachments) and _ONLY_FILES.fullmatch(text or "") is not None


def _refused(reason: str) -> Invalid:
    return Invalid(f"The file cannot be sent: {reason}", fields={"file": reason})


def sniff(upload: Any, name: str) -> str | None:
    """The file's kind by its first bytes, or None. Plain text has none: a file named
    ``.txt``, ``.log`` or ``.csv`` is text when the whole of it is UTF-8 with no NUL and no
    control character but tab, line and page breaks (a page's markup named ``cat.png`` is not
    an image, and is refused)."""
    upload.seek(0)
    head = upload.read(16)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if not name.lower().endswith(TEXT_NAMES):
        return None
    upload.seek(0)
    try:
        text = upload.read().decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r\f" for c in text):
        return None
    return "text/plain"


def attachment_take(*, conversation: Conversation, upload: Any, sent_by: str) -> Attachment:
    """Check ``upload`` (a Django ``UploadedFile``) and store it as a file of
    ``conversation``, tied to no message yet. Raises Invalid naming ``file``. Counted in the
    operators' metrics (``attachments_total``, ``attachment_bytes_total``)."""
    try:
        attachment = _take(conversation, upload, sent_by)
    except Invalid:
        metrics.attachment_taken(sent_by=sent_by, size=None)
        raise
    metrics.attachment_taken(sent_by=sent_by, size=attachment.size)
    return attachment


def _take(conversation: Conversation, upload: Any, sent_by: str) -> Attachment:
    if upload is None:
        raise _refused("choose a file to send")
    limit = settings.ATTACHMENT_MAX_BYTES
    size = int(getattr(upload, "size", 0) or 0)
    if size <= 0:
        raise _refused("the file is empty")
    if size > limit:
        raise _refused(f"it is {size_text(size)}; at most {size_text(limit)}")
    filename = clean_name(str(getattr(upload, "name", "") or ""))
    kind = sniff(upload, filename)
    if kind is None:
        raise _refused(f"it must be {KINDS_TEXT}")
    held = Attachment.objects.filter(tenant_id=conversation.tenant_id, conversation=conversation)
    if held.count() >= PER_CONVERSATION:
        raise _refused(f"this conversation holds {PER_CONVERSATION} files already")
    attachment = Attachment(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        filename=filename,
        content_type=kind,
        size=size,
        sent_by=sent_by,
    )
    files_reserve(conversation.tenant_id, size)  # the tenant's limit, counted first
    try:
        upload.seek(0)
        attachment.file.save("upload", upload, save=False)  # its name: attachment_path
        try:
            attachment.save(force_insert=True)
        except Exception:
            attachment.file.delete(save=False)
            raise
    except BaseException:
        files_release(conversation.tenant_id, size)
        raise
    return attachment


def caption(value: Any) -> str:
    """The words sent with a file: none, or a message's text (its checks: Invalid naming
    ``text``)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    return message_text(value).strip()


def attachment_send(
    *,
    conversation: Conversation,
    upload: Any,
    text: Any,
    sent_by: str,
    send: Callable[[str, list[Attachment]], T],
) -> T:
    """Check and store ``upload`` and the words sent with it, then ``send(text, files)``: the
    one door's own way of writing the message (the customer's turn, a person's reply). A file
    without words says so in its text (``without_text``). When ``send`` refuses, the stored
    file goes too. Raises Invalid naming ``file`` or ``text``."""
    words = caption(text)
    taken = attachment_take(conversation=conversation, upload=upload, sent_by=sent_by)
    try:
        return send(words or without_text([taken.filename]), [taken])
    except BaseException:
        attachment_discard([taken])
        raise


def attachment_entry(attachment: Attachment) -> dict[str, Any]:
    """How a message lists the file (``Message.attachments``)."""
    return {
        "id": str(attachment.pk),
        "filename": attachment.filename,
        "contentType": attachment.content_type,
        "size": attachment.size,
    }


def attachment_discard(attachments: Iterable[Attachment]) -> None:
    """Drop files whose message was refused (their rows and what was stored)."""
    for attachment in attachments:
        attachment.delete()


def attachment_link(entry: dict[str, Any]) -> str | None:
    """The signed path of a listed file (``entry["id"]``), or None for one listed only by its
    name (a mail's file of a kind we do not keep)."""
    pk = entry.get("id")
    if not isinstance(pk, str):
        return None
    signed = signing.TimestampSigner(salt=_SALT).sign(pk)
    name = quote(str(entry.get("filename") or "file"), safe="")
    return reverse("attachment", kwargs={"signed": signed, "name": name})


def attachment_by_link(signed: str) -> Attachment | None:
    """The file a link names, while its signature holds and is not older than
    ``ATTACHMENT_LINK_SECONDS``; else None. The primary key is the only way in: the signature
    was made by a door that checked the conversation's reader."""
    try:
        pk = signing.TimestampSigner(salt=_SALT).unsign(
            signed, max_age=settings.ATTACHMENT_LINK_SECONDS
        )
    except signing.BadSignature:  # a forged, altered or expired link
        return None
    try:
        return Attachment.objects.filter(pk=pk).first()
    except (ValueError, TypeError):
        return None


def attachments_unsent_sweep(*, now: dt.datetime | None = None) -> int:
    """Files that no message took within ``UNSENT_AFTER`` (their process died between the
    upload and the message): dropped, with what was stored. Returns how many."""
    before = (now or timezone.now()) - UNSENT_AFTER
    dropped = 0
    for attachment in Attachment.objects.filter(message__isnull=True, created_at__lt=before)[:500]:
        attachment.delete()
        dropped += 1
    return dropped


def _file_gone(sender, instance: Attachment, **kwargs) -> None:
    """A file's row is deleted (its message or conversation, a tenant): its bytes come off the
    tenant's count in the same transaction, and what was stored is deleted after it commits (a
    rolled-back delete keeps both)."""
    files_release(instance.tenant_id, instance.size)
    name = instance.file.name

    def remove() -> None:
        try:
            default_storage.delete(name)
        except OSError as exc:  # already gone, or the storage is away: the row is what counts
            log.warning("attachment file %s not deleted: %s", name, exc)

    if name:
        transaction.on_commit(remove)


def connect_signals() -> None:
    """Called by the app's ``ready``."""
    post_delete.connect(_file_gone, sender=Attachment, dispatch_uid="attachment-file-gone")
