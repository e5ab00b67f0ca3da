"""The e-mail channel, inbound (issue 19, point 8): a customer's mail, posted by the mail
provider's inbound parse (SendGrid's Inbound Parse, Mailgun's routes: a multipart or urlencoded
form with ``from``, ``to``, ``subject``, ``text`` and the raw ``headers``), becomes a customer
message of the right conversation, through the one turn entry (``conversation_receive_message``).

Addressed to a tenant by the URL's token (``/email/inbound/<token>``, ``EmailChannel``) and
signed with the tenant's secret by the Standard Webhooks scheme (as our webhook runtime signs
its calls, ``agents.runtimes.signing``): ``webhook-id``, ``webhook-timestamp`` (within
``TOLERANCE`` of now) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw
body>">``. A mail is taken once by its Message-ID (``InboundEmail``).

Which conversation: the one whose mails (ours or the customer's) the mail answers
(``In-Reply-To``, then ``References``, newest first), when it comes from that conversation's
customer (a web chat too, whose customer asked for replies by e-mail); else the sender's open
e-mail conversation; else a new one. A mail answering a resolved conversation starts a new one
with the same subject.

Attachments (the provider's file parts: SendGrid's ``attachment1..N``, Mailgun's
``attachment-1..N``): each is listed on the customer's message (``Message.attachments``), and
one of a kind the pages show, within ``ATTACHMENT_MAX_BYTES``, is kept as a file of the
conversation (``conversations.attachments``: a photo, a PDF), reached by its signed link as a
chat's are. Of the others only the filename, content type and size are kept, and a private
note tells the people which, so they may ask the customer for what matters. A post is at most
``MAX_INBOUND_BYTES`` (413 past it, before anything is read or written); at most
``MAX_ATTACHMENTS`` are listed (the rest are counted). A mail with attachments and no text is
taken, its text saying so.
"""

from __future__ import annotations

import hmac
import html
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr
from io import BytesIO
from typing import Any

from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
    ValidationError,
)
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest, QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.utils.datastructures import MultiValueDict
from django.utils.html import strip_tags

from agents.models import Agent, AgentRole
from agents.orchestrator_settings import chat_workflow
from agents.runtimes.signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    standard_signature,
    webhook_signing_key,
)
from conversations.attachments import (
    attachment_discard,
    attachment_entry,
    attachment_take,
    clean_name,
    without_text,
)
from conversations.blocks import blocked
from conversations.messages import message_post
from conversations.models import (
    Attachment,
    Channel,
    Conversation,
    EmailChannel,
    InboundEmail,
    Message,
    MessageRole,
    State,
)
from conversations.services import conversation_start
from core.errors import Invalid
from core.limits import MAX_MESSAGE_TEXT, message_text, size_text
from core.secret_store import SecretUnreadable, unseal
from orchestration.turn import ConversationClosed
from orchestration.turns import conversation_receive_message

TOLERANCE = 5 * 60  # seconds between the signature's timestamp and now
MAX_IDS = 50  # Message-IDs of References read (the newest)
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")
MAX_INBOUND_BYTES = 25 * 1024 * 1024  # one post, attachments included (the providers' limit)
MAX_ATTACHMENTS = 20  # listed on the message; more are counted


class SignatureRefused(Exception):
    """The post is not signed by the tenant's secret (401)."""


@dataclass
class InboundMail:
    sender: str
    sender_name: str
    to: str
    subject: str
    text: str
    mail_id: str
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    auto_submitted: bool = False
    attachments: list[dict[str, Any]] = field(default_factory=list)
    attachments_unlisted: int = 0
    # the listed attachments' uploaded files, in the same order (kept where their kind allows)
    uploads: list[Any] = field(default_factory=list, repr=False)

    def answered_ids(self) -> list[str]:
        """The Message-IDs this mail answers, the most telling first."""
        seen: list[str] = []
        for mail_id in [*self.in_reply_to, *reversed(self.references[-MAX_IDS:])]:
            if mail_id not in seen:
                seen.append(mail_id)
        return seen


# --- the signature -------------------------------------------------------------------------------


def signature_verify(
    channel: EmailChannel, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """Raise SignatureRefused unless ``body`` is signed with the channel's secret, recently."""
    delivery, stamp = headers.get(ID_HEADER, ""), headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not (delivery and stamp and given):
        raise SignatureRefused(
            f"the {ID_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required"
        )
    try:
        at = int(stamp)
    except ValueError:
        raise SignatureRefused(f"{TIMESTAMP_HEADER} must be whole seconds since 1970") from None
    if abs((time.time() if now is None else now) - at) > TOLERANCE:
        raise SignatureRefused(f"{TIMESTAMP_HEADER} is more than {TOLERANCE} s from now")
    try:
        key = webhook_signing_key(unseal(channel.signing_secret))
    except (SecretUnreadable, ValueError):
        raise SignatureRefused("the channel's signing secret cannot be read") from None
    expected = standard_signature(key, delivery, stamp, body)
    # the scheme allows several signatures, space-separated (a secret being rotated)
    if not any(hmac.compare_digest(expected, sig) for sig in given.split()):
        raise SignatureRefused("the signature does not match")


# --- the form ------------------------------------------------------------------------------------


class TooLarge(Exception):
    """The post is larger than ``MAX_INBOUND_BYTES`` (413)."""


class BadForm(Exception):
    """The post is not a readable form (400)."""


def body_read(request: HttpRequest) -> bytes:
    """The raw body (what the signature covers), at most ``MAX_INBOUND_BYTES``: a larger one
    is refused by its Content-Length before it is read, or once it runs past the bound."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_INBOUND_BYTES:
        raise TooLarge(_too_large())
    body = request.read(MAX_INBOUND_BYTES + 1)
    if len(body) > MAX_INBOUND_BYTES:
        raise TooLarge(_too_large())
    return body


def _too_large() -> str:
    return (
        f"The mail is larger than {MAX_INBOUND_BYTES // (1024 * 1024)} MB (attachments included)."
    )


def form_read(request: HttpRequest, body: bytes) -> tuple[QueryDict, MultiValueDict]:
    """The form's fields and files, from the body read (multipart or urlencoded). Raises
    BadForm (a malformed or overlong multipart, too many fields or files) or TooLarge."""
    content_type = request.META.get("CONTENT_TYPE", "")
    try:
        if content_type.startswith("multipart/form-data"):
            meta = {**request.META, "CONTENT_LENGTH": str(len(body))}
            fields, files = MultiPartParser(
                meta, BytesIO(body), request.upload_handlers, request.encoding
            ).parse()
            return fields, files
        if content_type.startswith("application/x-www-form-urlencoded"):
            return QueryDict(body, encoding=request.encoding), MultiValueDict()
    except RequestDataTooBig:
        raise TooLarge("The mail's text and headers are too large.") from None
    except (MultiPartParserError, TooManyFieldsSent, TooManyFilesSent) as exc:
        raise BadForm(f"The form cannot be read: {exc}"[:300]) from None
    raise BadForm("The body must be multipart/form-data or application/x-www-form-urlencoded.")


def attachments_of(
    files: Mapping[str, Any] | None,
) -> tuple[list[dict[str, Any]], int, list[Any]]:
    """What came attached: ``([{filename, contentType, size}], how many more were not
    listed, the listed ones' uploaded files)``, in the provider's order (``attachment1``,
    ``attachment2``, ...)."""
    if not files:
        return [], 0, []

    def order(key: str) -> tuple[int, str]:
        digits = re.sub(r"\D", "", key)
        return (int(digits) if digits else 0, key)

    listed: list[dict[str, Any]] = []
    uploads: list[Any] = []
    count = 0
    for key in sorted(files.keys(), key=order):
        getlist = getattr(files, "getlist", None)
        for upload in getlist(key) if getlist else [files[key]]:
            count += 1
            if len(listed) < MAX_ATTACHMENTS:
                content_type = str(getattr(upload, "content_type", "") or "")
                listed.append(
                    {
                        "filename": clean_name(str(getattr(upload, "name", "") or "")),
                        "contentType": " ".join(content_type.split())[:100]
                        or "application/octet-stream",
                        "size": int(getattr(upload, "size", 0) or 0),
                    }
                )
                uploads.append(upload)
    return listed, count - len(listed), uploads


def attachments_note(
    mail: InboundMail, entries: list[dict[str, Any]], kept: list[Attachment | str]
) -> str | None:
    """The private note that tells the people which attachments were not kept as files and why
    (``entries``: the message's list, a kept one with its ``id``; ``kept``: each one's file, or
    why it was refused), or None when every one was."""
    left = [(a, why) for a, why in zip(entries, kept, strict=True) if "id" not in a]
    if not left and not mail.attachments_unlisted:
        return None
    count = len(mail.attachments) + mail.attachments_unlisted
    named = [
        f"{a['filename']} ({a['contentType']}, {size_text(a['size'])}: {why})" for a, why in left
    ]
    if mail.attachments_unlisted:
        named.append(f"{mail.attachments_unlisted} more")
    listed = "; ".join(named)
    noun = "attachment" if count == 1 else "attachments"
    return (
        f"This e-mail came with {count} {noun}. Not kept as files: {listed}. Only their "
        "names and sizes are kept: ask the customer to paste what matters into their reply."
    )


def _files_kept(conversation: Conversation, mail: InboundMail) -> list[Attachment | str]:
    """The mail's attachments of a kind and size we keep, stored as files of
    ``conversation`` (before any transaction: storage is I/O); for the others, why not."""
    kept: list[Attachment | str] = []
    for upload in mail.uploads:
        try:
            taken: Attachment | str = attachment_take(
                conversation=conversation, upload=upload, sent_by=MessageRole.CUSTOMER
            )
        except Invalid as exc:
            taken = "; ".join(exc.fields.get("file") or [exc.message])
        kept.append(taken)
    return kept


def _files(kept: list[Attachment | str]) -> list[Attachment]:
    return [f for f in kept if isinstance(f, Attachment)]


def _ids(value: str) -> list[str]:
    return _MESSAGE_ID.findall(value or "")


def _first(form: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return ""


_QUOTE_HEAD = re.compile(
    r"^\s*(On\b.{0,300}\bwrote:|Le\b.{0,300}\ba écrit\s?:|Am\b.{0,300}\bschrieb.{0,100}:|"
    r"-{2,}\s*Original Message\s*-{2,}|-{2,}\s*Forwarded message\s*-{2,}|"
    r"_{10,}|From:\s.+|Sent from my \w+)\s*$",
    re.IGNORECASE,
)


def _html_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", "", markup)
    markup = re.sub(r"(?is)<blockquote\b.*?</blockquote>", "", markup)  # the quoted mail
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", markup)
    return html.unescape(strip_tags(markup))


def strip_quoted(text: str) -> str:
    """The new part of a reply: up to the quoted mail ("On ... wrote:", "-----Original
    Message-----", an Outlook "From:" block, "> " lines) or the signature ("-- ")."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if line.rstrip() == "--" and line.startswith("--"):
            break  # "-- " opens the signature
        head = line if index + 1 >= len(lines) else f"{line} {lines[index + 1]}"
        if _QUOTE_HEAD.match(line) or (
            line.strip().startswith("On ") and _QUOTE_HEAD.match(head.strip())
        ):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def mail_parse(form: Mapping[str, Any], files: Mapping[str, Any] | None = None) -> InboundMail:
    """The mail in an inbound-parse form (and its files); raises Invalid naming the field and
    the reason."""
    raw_headers = _first(form, "headers", "message-headers")
    parsed = HeaderParser().parsestr(raw_headers) if raw_headers else None

    def header(name: str) -> str:
        value = _first(form, name, name.lower(), name.title())
        if not value and parsed is not None:
            value = str(parsed.get(name) or "")
        return value

    problems: dict[str, str] = {}
    name, sender = parseaddr(_first(form, "from", "sender", "From"))
    try:
        validate_email(sender)
    except ValidationError:
        problems["from"] = "must be an e-mail address (Name <name@example.com>)"
    to = ", ".join(a for _, a in getaddresses([_first(form, "to", "recipient", "To")]) if a)
    # one line: a subject goes back out in our replies' headers
    subject = " ".join(_first(form, "subject", "Subject").split())[:255]
    ids = _ids(header("Message-ID") or header("Message-Id"))
    if not ids:
        problems["headers"] = "must carry the mail's Message-ID (<id@domain>)"
    body = _first(form, "text", "body-plain", "stripped-text")
    if not body.strip() and (markup := _first(form, "html", "body-html")):
        body = _html_text(markup)  # an HTML-only mail: its text
    attachments, unlisted, uploads = attachments_of(files)
    if not body.strip() and attachments:  # only files: the message says so
        body = without_text([a["filename"] for a in attachments], len(attachments) + unlisted)
    text = strip_quoted(body)
    if not body.strip():
        problems["text"] = "must not be empty (the mail's plain-text part)"
    elif not text:
        problems["text"] = "holds only quoted text: nothing new to take"
    elif len(text) > MAX_MESSAGE_TEXT:
        text = text[: MAX_MESSAGE_TEXT - 1].rstrip() + "…"
    if not problems:
        try:
            text = message_text(text)
        except Invalid as exc:
            reason = next(iter(exc.fields.values()), "is not acceptable")
            problems["text"] = reason[0] if isinstance(reason, list) else str(reason)
    if problems:
        raise Invalid(fields=problems)
    auto = header("Auto-Submitted").strip().lower()
    return InboundMail(
        sender=sender.lower(),
        sender_name=name.strip()[:200],
        to=to[:500],
        subject=subject,
        text=text,
        mail_id=ids[0],
        in_reply_to=_ids(header("In-Reply-To")),
        references=_ids(header("References")),
        auto_submitted=bool(auto) and auto != "no",
        attachments=attachments,
        attachments_unlisted=unlisted,
        uploads=uploads,
    )


# --- taking it in --------------------------------------------------------------------------------


BLOCKED = "blocked"  # a mail from a sender the team blocked (conversations.blocks)


@dataclass
class Taken:
    conversation_id: str | None
    message_id: int | None
    matched_by: str
    duplicate: bool = False


def _thread_conversation(tenant_id: int, mail: InboundMail) -> Conversation | None:
    ids = mail.answered_ids()
    if not ids:
        return None
    found: dict[str, Any] = {}
    for mail_id, conversation_id in Message.objects.filter(
        tenant_id=tenant_id, email_message_id__in=ids
    ).values_list("email_message_id", "conversation_id"):
        found.setdefault(mail_id, conversation_id)
    for mail_id, conversation_id in InboundEmail.objects.filter(
        tenant_id=tenant_id, mail_id__in=ids, conversation__isnull=False
    ).values_list("mail_id", "conversation_id"):
        found.setdefault(mail_id, conversation_id)
    for mail_id in ids:
        if mail_id in found:
            # an e-mail conversation, or a web chat whose customer asked for replies by e-mail
            conversation = (
                Conversation.objects.filter(tenant_id=tenant_id, pk=found[mail_id])
                .filter(Q(channel=Channel.EMAIL) | Q(channel=Channel.WEB, email_follow_up=True))
                .first()
            )
            # only the conversation's own customer answers into it (a Message-ID seen
            # elsewhere, forwarded or leaked, does not open someone else's conversation)
            if conversation and conversation.customer_email.lower() == mail.sender:
                return conversation
    return None


def _merged_into(conversation: Conversation, mail: InboundMail) -> Conversation | None:
    """The open conversation a resolved one was merged into (``handover.merge``), following
    a few merges on, when its replies go by e-mail to the sender: the thread goes on there."""
    for _ in range(5):
        if conversation.merged_into_id is None:
            return None
        found = (
            Conversation.objects.filter(
                tenant_id=conversation.tenant_id, pk=conversation.merged_into_id
            )
            .filter(Q(channel=Channel.EMAIL) | Q(channel=Channel.WEB, email_follow_up=True))
            .first()
        )
        if found is None or found.customer_email.lower() != mail.sender:
            return None
        if found.state != State.RESOLVED:
            return found
        conversation = found
    return None


def _open_conversation(tenant_id: int, mail: InboundMail) -> Conversation | None:
    return (
        Conversation.objects.filter(
            tenant_id=tenant_id, channel=Channel.EMAIL, customer_email__iexact=mail.sender
        )
        .exclude(state=State.RESOLVED)
        .order_by("-last_activity_at")
        .first()
    )


def entry_agent(tenant_id: int) -> Agent | None:
    """Where a new e-mail conversation starts: as a web chat, the tenant's top supervisor
    (one that reports to nobody), else its first agent."""
    agents = Agent.objects.filter(tenant_id=tenant_id).order_by("created_at", "pk")
    return (
        agents.filter(role=AgentRole.SUPERVISOR, supervisor__isnull=True).first() or agents.first()
    )


class NoAgent(Exception):
    """The tenant has no agent to start a conversation with (503)."""


def _new_conversation(channel: EmailChannel, mail: InboundMail, subject: str) -> Conversation:
    agent = entry_agent(channel.tenant_id)
    if agent is None:
        raise NoAgent("the tenant has no agent")
    conversation, _ = conversation_start(
        tenant=channel.tenant,
        agent=agent,
        channel=Channel.EMAIL,
        customer={
            "id": f"email:{mail.sender}"[:200],
            "name": mail.sender_name,
            "email": mail.sender,
        },
        workflow=chat_workflow(agent),
    )
    Conversation.objects.filter(pk=conversation.pk).update(email_subject=subject)
    conversation.email_subject = subject
    return conversation


def _subject(mail: InboundMail) -> str:
    subject = re.sub(r"^\s*((re|fwd?|aw|sv|wg)\s*:\s*)+", "", mail.subject, flags=re.IGNORECASE)
    return subject.strip()[:255]


def mail_take(channel: EmailChannel, mail: InboundMail) -> Taken:
    """Take one parsed, verified mail in (see the module). Idempotent by Message-ID."""
    tenant_id = channel.tenant_id
    try:
        with transaction.atomic():
            inbound = InboundEmail.objects.create(
                tenant_id=tenant_id, mail_id=mail.mail_id, sender=mail.sender
            )
    except IntegrityError:
        seen = InboundEmail.objects.filter(tenant_id=tenant_id, mail_id=mail.mail_id).first()
        return Taken(
            conversation_id=str(seen.conversation_id) if seen and seen.conversation_id else None,
            message_id=seen.message_id if seen else None,
            matched_by=seen.matched_by if seen else "",
            duplicate=True,
        )
    try:
        return _take(channel, mail, inbound)
    except BaseException:
        # not taken: forget it, so the provider's retry of the same mail is taken then
        InboundEmail.objects.filter(pk=inbound.pk, message__isnull=True).delete()
        raise


def _take(channel: EmailChannel, mail: InboundMail, inbound: InboundEmail) -> Taken:
    tenant_id = channel.tenant_id
    if blocked(tenant_id, email=mail.sender):  # the team blocked the sender: recorded, dropped
        InboundEmail.objects.filter(pk=inbound.pk).update(matched_by=BLOCKED)
        return Taken(conversation_id=None, message_id=None, matched_by=BLOCKED)
    subject = _subject(mail)
    conversation, matched_by = _thread_conversation(tenant_id, mail), "thread"
    if conversation is None:
        conversation, matched_by = _open_conversation(tenant_id, mail), "address"
    if conversation is not None and conversation.state == State.RESOLVED:
        merged = _merged_into(conversation, mail)
        if merged is not None:
            conversation, matched_by = merged, "thread (merged)"
        else:
            subject = conversation.email_subject or subject
            conversation, matched_by = None, "new (the thread was resolved)"
    if conversation is None:
        conversation = _new_conversation(channel, mail, subject)
        matched_by = matched_by if matched_by.startswith("new") else "new"
    elif not conversation.email_subject and subject:
        Conversation.objects.filter(pk=conversation.pk).update(email_subject=subject)
    InboundEmail.objects.filter(pk=inbound.pk).update(
        conversation=conversation, matched_by=matched_by
    )
    kept = _files_kept(conversation, mail)
    try:
        result = conversation_receive_message(
            conversation=conversation, text=mail.text, files=_files(kept)
        )
    except ConversationClosed:  # resolved meanwhile: a new conversation, as above
        attachment_discard(_files(kept))
        subject = conversation.email_subject or subject
        conversation, matched_by = _new_conversation(channel, mail, subject), "new (resolved)"
        InboundEmail.objects.filter(pk=inbound.pk).update(
            conversation=conversation, matched_by=matched_by
        )
        kept = _files_kept(conversation, mail)
        result = conversation_receive_message(
            conversation=conversation, text=mail.text, files=_files(kept)
        )
    message = result.message
    # in the mail's order: a kept file as the message lists it, the others by name
    entries = [
        attachment_entry(f) if isinstance(f, Attachment) else listed
        for f, listed in zip(kept, mail.attachments, strict=True)
    ]
    with transaction.atomic():
        Message.objects.filter(pk=message.pk, role=MessageRole.CUSTOMER).update(
            email_message_id=mail.mail_id, attachments=entries
        )
        InboundEmail.objects.filter(pk=inbound.pk).update(message=message)
        note = attachments_note(mail, entries, kept)
        if note:
            # for the people in the inbox only: a note, never e-mailed, never read by the AI
            message_post(
                conversation=conversation, role=MessageRole.NOTE, author="system", text=note
            )
    return Taken(conversation_id=str(conversation.pk), message_id=message.pk, matched_by=matched_by)
