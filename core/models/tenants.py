"""Tenants, their business hours and holidays, and people's membership and roles."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from core.chat_look import GREETING_MAX, INTRO_MAX, REPLY_TIMES, validate_chat_color
from core.currencies import (
    DEFAULT_CURRENCY,
    validate_currency,
)
from core.secret_store import SealedField


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            "%(value)s is not a known time zone (use an IANA name such as Europe/Paris).",
            params={"value": value},
            code="invalid_time_zone",
        )


def website_origins(value: str) -> list[str]:
    """The origins of a tenant's ``chat_website_origins`` (one a line, blank lines skipped),
    without a trailing slash, in lower case (as browsers write an ``Origin``)."""
    return [line.strip().rstrip("/").lower() for line in (value or "").splitlines() if line.strip()]


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _host_name(host: str) -> bool:
    """A host as a browser's ``Origin`` names it: ASCII labels of at most 63 characters
    (an international name in its ``xn--`` form), at most 253 in all; or an IP address."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return len(host) <= 253 and all(_LABEL.match(label) for label in host.split("."))


def validate_website_origins(value: str) -> None:
    """Each line an origin: ``https://`` (or ``http://``), a host, an optional port; no path,
    query or wildcard (a framing site is named exactly)."""
    from urllib.parse import urlsplit

    for origin in website_origins(value):
        try:
            parts = urlsplit(origin)
            port = parts.port  # ValueError when it is not a number
        except ValueError:
            parts, port = None, None
        if (
            parts is None
            or parts.scheme not in ("https", "http")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username
            or "*" in origin
            or any(c.isspace() or c in "'\";," for c in origin)
            or (port is not None and not 0 < port < 65536)
            or not _host_name(parts.hostname)
        ):
            raise ValidationError(
                "%(value)s is not a website origin: write the scheme and the host, and a port "
                "if any, e.g. https://www.example.com (no path, no wildcard).",
                params={"value": origin[:200]},
                code="invalid_origin",
            )


class Tenant(models.Model):
    """A company using the back office. Every row of business data belongs to one tenant."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    approval_timeout = models.DurationField(
        default=dt.timedelta(hours=24),
        help_text="Pending approval requests expire after this long (e.g. 1 00:00:00).",
    )
    currency = models.CharField(
        max_length=3,
        default=DEFAULT_CURRENCY,
        validators=[validate_currency],
        help_text="ISO 4217 code (EUR, USD, GBP...). Approval thresholds and running totals "
        "are in this currency; an amount in another currency is converted with the tenant's "
        "exchange rates, and refused when there is no rate for it.",
    )
    chat_website_origins = models.TextField(
        "websites that show the chat",
        blank=True,
        default="",
        validators=[validate_website_origins],
        help_text="Your websites that may show the chat in a frame (the snippet below), one "
        "origin a line, e.g. https://www.example.com. Other sites cannot frame it.",
    )
    chat_identity_secret = SealedField(
        help_text="The secret the tenant's website signs its signed-in visitors' identity "
        "tokens with (HS256, handover/identity.py); sealed, shown once when made."
    )
    chat_identity_since = models.DateTimeField(
        "identity secret made", null=True, blank=True, editable=False
    )
    chat_signed_in_only = models.BooleanField(
        "only signed-in visitors may chat",
        default=False,
        help_text="The chat starts only for a visitor your website signed for (the identity "
        "secret below); anyone else is asked to sign in on your website first.",
    )
    chat_color = models.CharField(
        "the chat's colour",
        max_length=7,
        default="#2f5bea",
        validators=[validate_chat_color],
        help_text="The chat's header, buttons and the visitor's messages; the text on it is "
        "white or dark, whichever reads better. The website button's tag below carries it too.",
    )
    chat_greeting = models.CharField(
        "greeting",
        max_length=GREETING_MAX,
        blank=True,
        help_text="The chat's first words to a visitor. Empty: “Hi there, how can we help?”",
    )
    chat_intro = models.CharField(
        "line under the greeting",
        max_length=INTRO_MAX,
        blank=True,
        help_text="Empty: “Our assistant answers right away, and a person from the <your "
        "name> team joins whenever you need one.”",
    )
    chat_reply_time = models.CharField(
        "the team usually replies",
        max_length=10,
        default="minutes",
        choices=[(key, words) for key, words in REPLY_TIMES.items()],
        help_text="Shown under your name in the chat while the team is in (out of hours, the "
        "chat says when it is back).",
    )
    chat_ask_email = models.CharField(
        "ask for their e-mail address",
        max_length=10,
        default="no",
        choices=[
            ("no", "no: they may leave it later, when a person is to answer"),
            ("optional", "at the start, optional"),
            ("required", "at the start, required"),
        ],
        help_text="The chat's start form asks for the visitor's e-mail address, so a person's "
        "replies follow them by e-mail while they are away (Chatwoot's pre-chat form). A "
        "signed-in visitor whose identity carries one is not asked.",
    )
    assign_queue = models.BooleanField(
        "give the queue out automatically",
        default=False,
        help_text="Each conversation waiting in the queue goes at once to an available human "
        "agent (online, not away or busy, under their limit), the one holding the fewest, "
        "highest priority first; otherwise people claim from the queue themselves.",
    )
    resolve_quiet_after = models.DurationField(
        "resolve quiet conversations after",
        null=True,
        blank=True,
        validators=[
            MinValueValidator(dt.timedelta(minutes=10)),
            MaxValueValidator(dt.timedelta(days=999)),
        ],
        help_text="A conversation in which we answered last and nobody has written since (the "
        "customer, the AI or a person) is resolved after this long, e.g. 2 00:00:00 for two "
        "days; the person holding it gets their seat back. One where the customer waits for "
        "an answer, or that its holder snoozed, stays open. Empty: conversations stay open "
        "until a person resolves them.",
    )
    file_retention_days = models.PositiveIntegerField(
        "keep files for (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Files sent in a conversation (photos, PDFs) are deleted this many days after "
        "it is resolved; their names stay in the transcript. Empty: kept as long as the "
        "conversation.",
    )
    conversation_retention_days = models.PositiveIntegerField(
        "delete resolved conversations after (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(7), MaxValueValidator(3650)],
        help_text="A conversation is deleted with everything in it (messages, files, notes, "
        "approvals) this many days after it was resolved, e.g. 730 for two years. One whose "
        "approval or action is still under way waits for it. Empty: kept for ever.",
    )
    files_limit_mb = models.PositiveIntegerField(
        "file storage limit (MB)",
        null=True,
        blank=True,
        help_text="How much the tenant's files may take in all; a file past it is refused. "
        "Empty: the server's default (TENANT_FILES_MAX_MB). Set by the server's operator.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "orchestration_tenant"  # the table from before the model moved here
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def files_limit_bytes(self) -> int:
        """What the tenant's files may take in all: its own limit, or the server's default."""
        mb = settings.TENANT_FILES_MAX_MB if self.files_limit_mb is None else self.files_limit_mb
        return mb * 1024 * 1024

    @property
    def chat_origins(self) -> list[str]:
        return website_origins(self.chat_website_origins)


class FileUsage(models.Model):
    """How many bytes a tenant's files take (``conversations.file_quota``): added to before a
    file is stored, by one conditional UPDATE that refuses a file past the tenant's limit (so
    two uploads at once cannot both pass it), and taken from as a file's row is deleted."""

    tenant = models.OneToOneField(
        Tenant, primary_key=True, on_delete=models.CASCADE, related_name="file_usage"
    )
    bytes = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.bytes} B"


class TenantOwned(models.Model):
    """Base for every row of business data: it belongs to exactly one tenant.

    The admin base (``core.admin_scoping``), the API and the selectors rely on the
    ``tenant`` field to scope every query.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


MIDNIGHT = dt.time(0, 0)


class OpeningInterval(TenantOwned):
    """One opening interval on a weekday, in the tenant's time zone: the tenant's business
    hours, and a group of human agents' own (``handover.GroupHours``). Several rows on the same
    day make a split day (09:00-12:00, 13:00-17:00); ``closes`` at 00:00 means the interval
    runs to the end of the day."""

    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField(help_text="00:00 means until midnight.")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        closes = "24:00" if self.closes == MIDNIGHT else self.closes.strftime("%H:%M")
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{closes}"

    def contains(self, local_time: dt.time) -> bool:
        return self.opens <= local_time and (self.closes == MIDNIGHT or local_time < self.closes)


OPENS_BEFORE_CLOSES = Q(opens__lt=F("closes")) | Q(closes=MIDNIGHT)


class BusinessHours(OpeningInterval):
    """One opening interval of the tenant's business hours."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="business_hours")

    class Meta:
        db_table = "orchestration_businesshours"  # the table from before the model moved here
        ordering = ["weekday", "opens"]
        verbose_name_plural = "business hours"
        constraints = [
            models.CheckConstraint(
                condition=OPENS_BEFORE_CLOSES,
                name="business_hours_opens_before_closes",
                violation_error_message="Opening time must be before closing time.",
            ),
        ]


class Holiday(TenantOwned):
    """A date on which the tenant is closed all day, whatever its business hours say."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        db_table = "orchestration_holiday"  # the table from before the model moved here
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "date"],
                name="holiday_unique_per_tenant_date",
                violation_error_message="This date is already a holiday.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}".strip()


class Role(models.TextChoices):
    MANAGER = "manager", "Manager"
    AGENT = "agent", "Human agent"
    APPROVER = "approver", "Approver"


class Membership(TenantOwned):
    """A person's place in one tenant and the roles they hold there.

    A person belongs to at most one tenant: every page, socket and API call they make is
    scoped to it. Managers are staff (they use the admin); the service keeps that in step.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    is_manager = models.BooleanField("manager", default=False)
    is_agent = models.BooleanField("human agent", default=False)
    is_approver = models.BooleanField("approver", default=False)

    class Meta:
        db_table = "orchestration_membership"  # the table from before the model moved here
        ordering = ["tenant", "user__username"]

    def __str__(self) -> str:
        roles = ", ".join(self.roles) or "no role"
        return f"{self.user} in {self.tenant} ({roles})"

    @property
    def roles(self) -> list[str]:
        flags = {
            Role.MANAGER: self.is_manager,
            Role.AGENT: self.is_agent,
            Role.APPROVER: self.is_approver,
        }
        return [str(role) for role, held in flags.items() if held]

    def has_role(self, role: str) -> bool:
        return role in self.roles
