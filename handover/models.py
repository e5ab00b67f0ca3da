"""Handoffs to people (SPEC 4.5): hot offers to the online human agents, cold packs in a queue,
and who is online in the inbox."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from conversations.models import Conversation
from core.models import (
    OPENS_BEFORE_CLOSES,
    OpeningInterval,
    Tenant,
    TenantOwned,
)
from core.states import StateGuarded, StateTable


class Mode(models.TextChoices):
    HOT = "hot", "Hot (live offer)"
    COLD = "cold", "Cold (queued with a pack)"


class Status(models.TextChoices):
    OFFERED = "offered", "Offered"
    QUEUED = "queued", "Queued"
    CLAIMED = "claimed", "Claimed"
    RESOLVED = "resolved", "Resolved"
    EXPIRED = "expired", "Expired"


OPEN_STATUSES = (Status.OFFERED, Status.QUEUED, Status.CLAIMED)

# A hot handoff is offered and, unclaimed in time (or undeliverable), is queued cold: the same
# handoff, as SPEC 4.5 says ("it becomes cold"), so the inbox and API clients follow it by id.
# One person claims it and it is resolved (or handed back) with its conversation. A handoff
# nobody claimed when its conversation closed expires.
HANDOFF_STATES = StateTable(
    "handoff",
    {
        Status.OFFERED: {Status.QUEUED, Status.CLAIMED, Status.EXPIRED},
        Status.QUEUED: {Status.CLAIMED, Status.EXPIRED},
        Status.CLAIMED: {Status.RESOLVED},
        Status.RESOLVED: set(),
        Status.EXPIRED: set(),
    },
)


OVERFLOW_AFTER_MAX = 7 * 24 * 60  # a group's overflow_after, in minutes: a week at the most


class PeopleGroup(TenantOwned):
    """A group of the tenant's human agents (the billing people, the tech people), as Zendesk's
    groups and Intercom's teams: the handoffs of the AI agents it takes go to its members
    (``handover.groups``). A conversation whose AI agent no group takes, or a group with no
    member, goes to everyone."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="people_groups",
        limit_choices_to={"membership__is_agent": True},
        help_text="The human agents who get its live offers and its share of the queue.",
    )
    ai_agents = models.ManyToManyField(
        "agents.Agent",
        blank=True,
        related_name="+",
        verbose_name="AI agents",
        help_text="The AI agents whose handoffs it takes (an AI agent's go to one group).",
    )
    overflow_after = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(OVERFLOW_AFTER_MAX)],
        verbose_name="open to everyone after (minutes)",
        help_text="When nobody of the group has taken a conversation after this many minutes in "
        "the queue, every human agent is asked. 0: at once, when nobody of the group is "
        "available for a live offer. Empty: never (the queue still lets anyone claim).",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "group of human agents"
        verbose_name_plural = "groups of human agents"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                name="people_group_name_once",
                violation_error_message="The team has a group of this name already.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class GroupHours(OpeningInterval):
    """One opening interval of a group of human agents' own hours (the billing people work
    9-17 while the front desk is open around the clock), in the tenant's time zone; the
    tenant's holidays close it too. A group with none keeps the tenant's business hours."""

    group = models.ForeignKey(PeopleGroup, on_delete=models.CASCADE, related_name="hours")

    class Meta:
        ordering = ["weekday", "opens"]
        verbose_name = "hours of the group"
        verbose_name_plural = "hours of the group (empty: the team's business hours)"
        constraints = [
            models.CheckConstraint(
                condition=OPENS_BEFORE_CLOSES,
                name="group_hours_opens_before_closes",
                violation_error_message="Opening time must be before closing time.",
            ),
        ]

    def save(self, *args, **kwargs):
        if self.tenant_id is None and self.group_id is not None:  # the admin's inline row
            self.tenant_id = self.group.tenant_id
        super().save(*args, **kwargs)


class Handoff(StateGuarded, TenantOwned):
    """A transfer of one conversation to people. A handoff row exists before any socket hears
    of it; an offer that nobody claims in time, or whose live delivery fails, is queued cold.
    Only ``handover.services`` writes ``status``, through ``HANDOFF_STATES``."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="handoffs")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="handoffs"
    )
    mode = models.CharField(max_length=10, choices=Mode.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.CharField(max_length=200, blank=True)
    priority = models.IntegerField(default=0, help_text="Higher is more urgent.")
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="claimed_handoffs",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(
        null=True, blank=True, help_text="A person's first message after the handover."
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    customer_emailed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the e-mail customer was told someone will follow up."
    )
    snoozed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The claimer put the conversation aside until then (or until the customer "
        "writes); it is still theirs.",
    )
    snoozed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the snooze that is on (or last ran out) began."
    )
    paused = models.DurationField(
        default=dt.timedelta(0),
        help_text="How long snoozes that ended held the resolution target (handover.snooze).",
    )
    # the group of human agents it went to (handover.groups); none: everyone
    group = models.ForeignKey(
        PeopleGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # when nobody of its group took it and it was opened to everyone (its group's
    # overflow_after); the group stays, for the history and the figures
    overflowed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-priority", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["offered", "queued", "claimed"]),
                name="one_open_handoff_per_conversation",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "-priority"], name="handoff_queue"),
            models.Index(fields=["status", "offer_expires_at"], name="handoff_offer_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.mode} handoff of {self.conversation_id} ({self.status})"


class HandoffPack(models.Model):
    """What a person needs to pick the conversation up cold."""

    tenant_path = "handoff__tenant"

    handoff = models.OneToOneField(Handoff, on_delete=models.CASCADE, related_name="pack")
    summary = models.TextField()
    brief = models.JSONField(
        default=dict,
        blank=True,
        help_text="Why it came to a person (the trigger quoted), what the customer wants, "
        "what was already done, the next steps.",
    )
    key_details = models.JSONField(default=dict)
    sentiment = models.JSONField(default=dict)
    suggestions = models.JSONField(default=list)
    transcript = models.JSONField(default=list)
    activity = models.JSONField(
        default=list,
        blank=True,
        help_text="What the AI did (actions, approvals, executions, guardrails), one step each "
        "with its time, to read in time order with the transcript.",
    )
    built_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"pack of {self.handoff}"


class Presence(TenantOwned):
    """Whether a person has the inbox open: counted sockets and a heartbeat. A closed laptop
    sends no goodbye; its heartbeat stops and it stops counting after PRESENCE_TTL."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_presence"
    )
    sockets = models.PositiveIntegerField(default=0)
    last_seen = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["tenant", "last_seen"], name="presence_tenant_seen")]

    def __str__(self) -> str:
        return f"{self.user} ({self.sockets} sockets, seen {self.last_seen:%H:%M:%S})"


class Viewing(TenantOwned):
    """An inbox socket that has a conversation open (``conversation.watch``), so colleagues see
    who else is reading it (``handover.viewing``). One row a socket, by its channel name; a
    socket that died without a goodbye stops counting once its heartbeat is older than
    PRESENCE_TTL, and the viewers' sweep deletes it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "conversation"], name="viewing_tenant_conv"),
            models.Index(fields=["seen_at"], name="viewing_seen"),
        ]

    def __str__(self) -> str:
        return f"{self.user} viewing {self.conversation_id}"


class AgentStatus(models.TextChoices):
    ONLINE = "online", "Online"
    AWAY = "away", "Away"
    BUSY = "busy", "Busy"


DEFAULT_MAX_CONVERSATIONS = 5


class AgentSetting(TenantOwned):
    """A human agent's availability, set in the inbox (online, away, busy), and how many
    conversations they hold at once (set by a manager in the admin). Away or busy agents, and
    agents at their limit, get no live offers, and a claim past the limit is refused."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_setting"
    )
    status = models.CharField(
        max_length=10, choices=AgentStatus.choices, default=AgentStatus.ONLINE
    )
    max_conversations = models.PositiveIntegerField(
        default=DEFAULT_MAX_CONVERSATIONS,
        help_text="Conversations this person may hold at once (claimed and not yet closed).",
    )
    status_changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.status}, up to {self.max_conversations})"


class CannedThen(models.TextChoices):
    NOTHING = "", "Nothing more"
    RESOLVE = "resolve", "Resolve the conversation"
    SNOOZE = "snooze", "Snooze it until the customer writes"
    HAND_BACK = "hand_back", "Hand it back to the AI"


class CannedReply(TenantOwned):
    """A reply the tenant's human agents insert by typing ``/`` and its shortcut."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="canned_replies")
    shortcut = models.CharField(
        max_length=40,
        validators=[
            RegexValidator(
                r"^[a-z0-9][a-z0-9-]*$", "Lowercase letters, digits and dashes (not first)."
            )
        ],
        help_text="Typed after / in the inbox's composer (lowercase letters, digits, -).",
    )
    title = models.CharField(max_length=100, blank=True)
    text = models.TextField(
        max_length=5000,
        help_text="Filled in when inserted: {first_name} (the customer's first name, or "
        "'there' when they gave none), {agent} (the first name of the person replying), "
        "{company} (your company's name).",
    )
    # what sending it as a reply also does (Zendesk's and Intercom's macros;
    # handover.canned_actions): tags put on the conversation, then one step
    tags = models.JSONField(
        default=list, blank=True, help_text="Tags put on the conversation when it is sent."
    )
    then = models.CharField(
        max_length=10,
        choices=CannedThen.choices,
        default=CannedThen.NOTHING,
        blank=True,
        help_text="What is done once it is sent as a reply.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut"]
        verbose_name_plural = "canned replies"  # not Django's "replys"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "shortcut"], name="canned_reply_shortcut")
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class CsatRating(TenantOwned):
    """The customer's rating of a resolved conversation (1 to 5), asked by the chat widget.
    One per conversation: a second rating is refused, so the figure counts each conversation
    once and a rating cannot be changed after the dashboard has shown it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="csat")
    score = models.PositiveSmallIntegerField()
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The human agent who last had the conversation (none: the AI alone).",
    )
    comment = models.TextField(
        blank=True,
        help_text="What the customer added to their rating (once, after it; at most "
        "1000 characters).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "CSAT rating"
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1, score__lte=5), name="csat_score_1_to_5"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "created_at"], name="csat_tenant_created")]

    def __str__(self) -> str:
        return f"{self.score}/5 for {self.conversation_id}"


class Mention(TenantOwned):
    """A human agent named in a colleague's private note ("@ada, can you check the label?").
    They hear of it in their inbox's mentions (and by e-mail when they have no inbox open); it
    stays unread until they open it. One per note and person: editing the note keeps it, and a
    name taken out of the note takes the mention away."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(
        "conversations.Message", on_delete=models.CASCADE, related_name="mentions"
    )
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="mentions",
        help_text="The person named.",
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The note's author.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the person was e-mailed about it (at most once)."
    )
    # the mark of the task sending the e-mail (handover.mentions.mention_email_send), taken by
    # a conditional UPDATE before the mail server is called; one older than EMAIL_LEASE was
    # left by a worker that died mid-send
    email_sending_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="mention_once_a_note"),
        ]
        indexes = [
            models.Index(fields=["user", "read_at", "-created_at"], name="mention_user_unread"),
        ]

    def __str__(self) -> str:
        return f"@{self.user} in note {self.message_id}"


class TranscriptMail(TenantOwned):
    """A copy of a conversation e-mailed at a person's request (``handover.transcripts``): to the
    customer, or to an address the person gave. Sent by a task once the request commits; the
    mark ``sending_at`` is taken by a conditional UPDATE before the mail server is called, so two
    workers never send one twice, and given back when the send fails."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="transcript_mails"
    )
    to = models.EmailField(max_length=254)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    by_name = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    sending_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["conversation", "-created_at"], name="transcript_conv_recent"),
        ]

    def __str__(self) -> str:
        return f"transcript of {self.conversation_id} to {self.to}"


class SavedSearch(TenantOwned):
    """A search of the history a person named, to open again in one click (Zendesk's views,
    Chatwoot's saved filters): their own, or one a manager shares with the whole team
    (``handover.saved_searches``)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", editable=False
    )
    name = models.CharField(max_length=60)
    # the history's query string, its filters only, in one order (conversations.search)
    query = models.CharField(max_length=1000, editable=False)
    shared = models.BooleanField(
        "shared with the team", default=False, help_text="Every person of the team sees it."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "saved searches"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "owner", "name"], name="saved_search_name_per_owner"
            )
        ]

    def __str__(self) -> str:
        return self.name
