"""Conversations, their messages and the orchestrator's decision events (SPEC 2, 3)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Upper

from core.models import Tenant, TenantOwned
from core.secret_store import SealedField
from core.states import StateGuarded


class Channel(models.TextChoices):
    WEB = "web", "Web chat"
    VOICE = "voice", "Voice"
    EMAIL = "email", "E-mail"
    API = "api", "API"


SYNCHRONOUS_CHANNELS = frozenset({Channel.WEB, Channel.VOICE})


class State(models.TextChoices):
    TRIAGED = "triaged", "Triaged"
    ACTIVE = "active", "Active"
    STALLED = "stalled", "Stalled"
    AT_RISK = "at_risk", "At risk"
    HANDING_OFF = "handing_off", "Handing off"
    WITH_HUMAN = "with_human", "With a human"
    RESOLVED = "resolved", "Resolved"


class Conversation(StateGuarded, TenantOwned):
    """One customer thread. Only ``conversations.lifecycle.conversation_transition`` writes
    ``state`` (a direct ``save()`` or ``update()`` of it is refused)."""

    state_field = "state"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # no index of its own: the Meta's indexes begin with the tenant (every conversation's
    # UPDATE would write one more index entry for nothing)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    customer_ref = models.CharField("customer id", max_length=200)
    customer_name = models.CharField(max_length=200, blank=True)
    customer_email = models.EmailField(blank=True)
    customer_attributes = models.JSONField(default=dict, blank=True)
    customer_verified = models.BooleanField(
        "signed in",
        default=False,
        help_text="Started on the tenant's website by a signed-in visitor: the website signed "
        "who they are (their customer id, name and e-mail address; handover/identity.py).",
    )
    language = models.CharField(max_length=16, blank=True)
    entry_agent = models.ForeignKey(
        "agents.Agent", on_delete=models.PROTECT, related_name="+", help_text="Where it began."
    )
    current_agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="+")
    workflow = models.ForeignKey(
        "agents.Workflow", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    workflow_state = models.JSONField(default=dict, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.TRIAGED)
    turns = models.PositiveIntegerField(default=0, help_text="Customer messages so far.")
    attempts = models.PositiveIntegerField(
        default=0, help_text="Consecutive failed attempts to answer."
    )
    runtime_failures = models.PositiveIntegerField(default=0)
    escalation_fallback = models.JSONField(
        default=dict,
        blank=True,
        help_text="A human fallback still pending: the agent an escalation rule with both a "
        "target agent and escalateToHuman sent the conversation to ({agent, maxAttempts, rule}).",
    )
    turns_without_progress = models.PositiveIntegerField(default=0)
    budget_used = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the AI has used of its budgets: steps, tokens, cost.",
    )
    customer_token_hash = models.CharField(max_length=64, editable=False)
    # who opened it (separation of duties: whoever opened a conversation never decides an
    # approval the AI asks for in it): a person (session or personal token), or an integration
    # key (whose creator stands behind it); neither for the public chat widget
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="The person who opened it (session or personal token).",
    )
    opened_by_key = models.ForeignKey(
        "core.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="The integration key it was opened with.",
    )
    email_subject = models.CharField(
        max_length=255, blank=True, help_text="On e-mail: the thread's subject (replies: Re: ...)."
    )
    email_follow_up = models.BooleanField(
        default=False,
        help_text="A web chat's customer left their e-mail address: a person's replies are "
        "e-mailed to it while the customer is not in the chat.",
    )
    # merged into another conversation of the same customer (handover.merge): it was resolved
    # then, and the thread goes on there
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="The conversation it was merged into (it goes on there).",
    )
    # the last message of ours (a person's, the AI's, a notice) the web chat's customer had on
    # their screen: the inbox shows "Seen" up to it (conversations.services.customer_saw)
    customer_seen_message_id = models.BigIntegerField(null=True, blank=True, editable=False)
    # a web chat's client address, as a keyed hash (never the address): what blocking the
    # visitor blocks (conversations.blocks)
    client_hash = models.CharField(max_length=64, blank=True, editable=False)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(auto_now_add=True)
    silence_checked_at = models.DateTimeField(null=True, blank=True)
    # The AI's turn (orchestration/turns.py): ``ai_turn`` is the number (the conversation's
    # ``turns`` then) of the last customer message an agent was asked to answer; while that
    # answer is pending, ``ai_turn_at`` says since when and ``ai_turn_message`` which message.
    # The run's outcome is applied only if these still name it (nothing moved meanwhile).
    ai_turn = models.PositiveIntegerField(
        default=0, help_text="The customer message (by its number) an agent last had to answer."
    )
    ai_turn_at = models.DateTimeField(
        null=True, blank=True, help_text="Since when an agent's answer is pending (none: empty)."
    )
    ai_turn_message = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ai_turn_detail = models.JSONField(
        default=dict,
        blank=True,
        help_text="The pending turn's rule context and sender, and the last turns' outcomes.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "orchestration_conversation"  # the table from before the model moved here
        ordering = ["-created_at"]
        indexes = [
            # id too: the metrics join a window's conversations from this index alone
            models.Index(fields=["tenant", "-created_at", "id"], name="conv_tenant_created"),
            # the silence sweep: open conversations by last activity
            models.Index(fields=["state", "last_activity_at"], name="conv_state_activity"),
            # metrics: time to resolution of the conversations resolved in a window, read from
            # the index alone (an index-only scan on PostgreSQL)
            models.Index(
                fields=["tenant", "resolved_at", "created_at", "current_agent", "workflow"],
                name="conv_tenant_resolved",
            ),
            # approvals: a customer's running totals, across their conversations
            models.Index(fields=["tenant", "customer_ref"], name="conv_tenant_customer"),
            # the same customer by their address in any case (customer_email__iexact: the
            # customer panel, merging, erasure, a mail's open conversation)
            models.Index(F("tenant"), Upper("customer_email"), name="conv_tenant_email"),
            # the sweep for AI turns that never came back
            models.Index(
                fields=["ai_turn_at"],
                name="conv_ai_turn_pending",
                condition=models.Q(ai_turn_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_name or self.customer_ref} via {self.channel} ({self.state})"

    @property
    def customer_display(self) -> str:
        """How people see the customer: their name, else their e-mail address; a nameless web
        visitor is "Visitor" and a short id ("Visitor ac87"), never ``web-ac87aab70ea6e7b0``."""
        if self.customer_name:
            return self.customer_name
        if self.customer_email:
            return self.customer_email
        ref = self.customer_ref or ""
        if ref.startswith("web-") or not ref:
            return f"Visitor {ref[4:8]}".strip()
        return ref


class MessageRole(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    AGENT = "agent", "AI agent"
    HUMAN = "human", "Human agent"
    SYSTEM = "system", "System"
    NOTE = "note", "Private note"


# Kinds of message the customer never gets (on their socket, in the API's transcript, by
# e-mail) and the AI never reads: a private note is for colleagues in the inbox.
INTERNAL_ROLES = frozenset({MessageRole.NOTE})


class EmailStatus(models.TextChoices):
    NONE = "", "Not e-mailed"
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Message(TenantOwned):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # no index of its own: message_conv_id (conversation, id) serves it
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    role = models.CharField(max_length=10, choices=MessageRole.choices)
    author = models.CharField(max_length=200, blank=True)
    # the person who wrote it (a human agent's reply, a private note): only they edit a note
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    edited_at = models.DateTimeField(null=True, blank=True, editable=False)
    text = models.TextField()
    intent = models.CharField(max_length=100, blank=True)
    sentiment = models.FloatField(null=True, blank=True)
    risk = models.JSONField(default=list, blank=True)
    # the e-mail channel (conversations/email.py): the mail's Message-ID (ours for a reply we
    # send, the customer's for a mail that came in) and, for ours, how its sending goes
    email_message_id = models.CharField("e-mail Message-ID", max_length=255, blank=True)
    email_status = models.CharField(
        max_length=10, choices=EmailStatus.choices, blank=True, default=EmailStatus.NONE
    )
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_attempted_at = models.DateTimeField(null=True, blank=True)
    # the files sent with it (conversations.attachments): [{"id", "filename", "contentType",
    # "size"}]; a mail's file of a kind that is not kept has no "id" (only its name is)
    attachments = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "orchestration_message"  # the table from before the model moved here
        ordering = ["conversation", "id"]
        indexes = [
            models.Index(fields=["conversation", "id"], name="message_conv_id"),
            # an inbound reply finds its conversation by the Message-IDs it answers
            models.Index(
                fields=["tenant", "email_message_id"],
                name="message_email_id",
                condition=~models.Q(email_message_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"


class MessageRevision(TenantOwned):
    """What a private note said before its author edited it (the inbox shows "edited")."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="revisions")
    text = models.TextField()
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    edited_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["message", "id"]

    def __str__(self) -> str:
        return f"revision of message {self.message_id}"


class EventType(models.TextChoices):
    MESSAGE_CLASSIFIED = "message.classified"
    AGENT_ROUTED = "agent.routed"
    AGENT_REROUTED = "agent.rerouted"
    RULE_FIRED = "rule.fired"
    ESCALATED = "escalated"
    STATE_CHANGED = "state.changed"
    STALL_DETECTED = "stall.detected"
    HANDOFF_OFFERED = "handoff.offered"
    HANDOFF_CLAIMED = "handoff.claimed"
    HANDOFF_EXPIRED = "handoff.expired"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_DECIDED = "approval.decided"
    ACTION_PROPOSED = "action.proposed"
    ACTION_EXECUTED = "action.executed"
    ACTION_FAILED = "action.failed"
    AGENT_REPLIED = "agent.replied"
    AGENT_ERROR = "agent.error"
    WORKFLOW_STEP = "workflow.step"
    GUARDRAIL_BLOCKED = "guardrail.blocked"
    GUARDRAIL_REDACTED = "guardrail.redacted"
    BUDGET_EXCEEDED = "budget.exceeded"
    TURN_DROPPED = "turn.dropped"
    ORCHESTRATOR_DECIDED = "orchestrator.decided"
    EMAIL_FAILED = "email.failed"


class DecisionEvent(TenantOwned):
    """One orchestration decision, with the rule or reason and the time the step took."""

    # no index of their own: event_tenant_type_time and event_conv_id begin with them (a
    # message writes several events: each index more is several entries more)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    type = models.CharField(max_length=40, choices=EventType.choices)
    agent_slug = models.CharField(max_length=63, blank=True)
    rule = models.CharField(
        max_length=200, blank=True, help_text="The rule (with its version) behind the decision."
    )
    detail = models.JSONField(default=dict, blank=True)
    duration_ms = models.FloatField(default=0)
    trace_id = models.CharField(
        max_length=32, blank=True, help_text="The OpenTelemetry trace it was decided in, if traced."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "orchestration_decisionevent"  # the table from before the model moved here
        ordering = ["conversation", "id"]
        indexes = [
            models.Index(fields=["conversation", "id"], name="event_conv_id"),
            # metrics: conversation too, so the counts of conversations with an event of a
            # kind in a window read the index alone (an index-only scan on PostgreSQL)
            models.Index(
                fields=["tenant", "type", "created_at", "conversation"],
                name="event_tenant_type_time",
            ),
            # the same, for one agent
            models.Index(
                fields=["tenant", "agent_slug", "type", "created_at", "conversation"],
                name="event_tenant_agent_type_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.rule}".strip()


class EmailChannel(TenantOwned):
    """A tenant's e-mail channel (conversations/email.py, README "E-mail"): the address replies
    come from, and the inbound-parse endpoint's address (a URL token) and signing secret."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="email_channel")
    from_address = models.EmailField(
        blank=True, help_text="Replies come from this address (default: DEFAULT_FROM_EMAIL)."
    )
    from_name = models.CharField(
        max_length=100, blank=True, help_text="The sender's name (default: the tenant's name)."
    )
    inbound_token = models.CharField(
        max_length=64,
        unique=True,
        editable=False,
        help_text="The inbound endpoint is /email/inbound/<token>.",
    )
    signing_secret = SealedField(help_text="Signs the inbound posts (shown once).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "e-mail channel"

    def __str__(self) -> str:
        return f"E-mail channel of {self.tenant}"


class InboundEmail(TenantOwned):
    """One mail that came in, by its Message-ID: the same mail posted twice is taken once."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    mail_id = models.CharField("Message-ID", max_length=255)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sender = models.CharField(max_length=254)
    matched_by = models.CharField(max_length=20, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "mail_id"], name="inbound_email_once")
        ]

    def __str__(self) -> str:
        return f"{self.sender}: {self.mail_id}"


def attachment_path(attachment: Attachment, filename: str) -> str:
    """Where a file is stored: by tenant and the attachment's random id, never by the name
    it came with (the name is kept on the row, for its link and its download)."""
    return stored_name(attachment.tenant_id, attachment.pk)


def stored_name(tenant_id: int, attachment_id: uuid.UUID | str) -> str:
    """The storage name of a tenant's file, from its id alone (no row to read)."""
    return f"attachments/{tenant_id}/{uuid.UUID(str(attachment_id)).hex}"


class Attachment(TenantOwned):
    """A file a customer or a person sent in a conversation (``conversations.attachments``):
    stored in ``default_storage`` (``MEDIA_ROOT`` on the embedded default) and reached only by a
    signed link that the doors which show the conversation hand out. ``message`` is set once
    the message that carries it is written; one left without a message is swept."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="attachments"
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="files"
    )
    file = models.FileField(upload_to=attachment_path, max_length=200)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    # who sent it: "customer", or the role of the person's message ("human")
    sent_by = models.CharField(max_length=10, choices=MessageRole.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # the sweep of files whose message was never written
            models.Index(
                fields=["created_at"],
                name="attachment_unsent",
                condition=models.Q(message__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.content_type}, {self.size} B)"


class ConversationTag(TenantOwned):
    """A word people put on a conversation to find and count it later ("damaged", "vip"):
    free-form, the tenant's names suggested as they type (``conversations.tags``)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=40)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "name"], name="conversation_tag_once")
        ]
        indexes = [models.Index(fields=["tenant", "name"], name="conversation_tag_name")]

    def __str__(self) -> str:
        return self.name


class BlockKind(models.TextChoices):
    CUSTOMER = "customer", "Customer id"
    EMAIL = "email", "E-mail address"
    ADDRESS = "address", "Web chat visitor (their network address, hashed)"


class CustomerBlock(TenantOwned):
    """Someone the tenant's people blocked (spam, abuse): no new conversation starts for them
    (``conversations.blocks``), by their customer id, their e-mail address or, for a web chat's
    visitor, their network address (kept only as a keyed hash). Deleting it unblocks."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=BlockKind.choices)
    value = models.CharField(max_length=254)
    reason = models.CharField(max_length=500, blank=True)
    # where they were blocked from, and by whom (none: added in the admin by hand)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    blocked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Empty: for good. A web chat visitor's network address is blocked for "
        "CHAT_ADDRESS_BLOCK_DAYS days (an address changes hands, and a whole office or mobile "
        "network may share one); blocking them again starts that time again.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind", "value"], name="customer_block_once")
        ]

    def __str__(self) -> str:
        shown = "a web chat visitor" if self.kind == BlockKind.ADDRESS else self.value
        until = f", until {self.expires_at:%Y-%m-%d}" if self.expires_at else ""
        return f"{self.get_kind_display()}: {shown}{until}"


class ErasureKind(models.TextChoices):
    CUSTOMER = "customer", "Customer id"
    EMAIL = "email", "E-mail address"
    CONVERSATION = "conversation", "The customer of a conversation"


class Erasure(TenantOwned):
    """A customer's data erased at their request (``orchestration.erasure``): their
    conversations deleted with everything in them. The row is what is left to show it was done:
    who asked for it, when, and how much went, with the customer only as a keyed hash of what
    named them (the same name gives the same hash, so "was kim@example.com erased?" can be
    answered, but the row does not say who it was)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=ErasureKind.choices)
    value_hash = models.CharField(max_length=64)
    erased_by = models.CharField(max_length=200, help_text="The person or integration.")
    conversations = models.PositiveIntegerField(default=0)
    messages = models.PositiveIntegerField(default=0)
    files = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "value_hash"], name="erasure_by_hash")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} erased on {self.created_at:%Y-%m-%d}"
