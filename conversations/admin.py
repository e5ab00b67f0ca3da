"""Admin for tenant intents and a read-only view of conversations with their messages and
decision events."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html

from agents.admin_fields import CommaListField
from agents.intents import (
    BUILTIN,
    IntentInvalid,
    effective_intent_list,
    intent_rows,
    intent_validate,
)
from agents.models import Intent
from conversations.attachments import attachment_entry, attachment_link
from conversations.blocks import block_value
from conversations.email import email_channel_setup, email_secret_rotate
from conversations.models import (
    Attachment,
    BlockKind,
    Conversation,
    CustomerBlock,
    DecisionEvent,
    EmailChannel,
    Erasure,
    Message,
)
from core.admin_scoping import (
    TenantScopedAdmin,
    TenantScopedForm,
    TenantScopedTabularInline,
)
from core.errors import DomainError, Invalid
from core.models import Tenant
from core.principals import Principal
from orchestration.erasure import customer_erase, erasure_preview


class IntentForm(TenantScopedForm):
    keywords = CommaListField(help_text="Words that signal the intent, e.g. invoice, charge")
    phrases = CommaListField(help_text="Phrases, e.g. charged twice, money back")

    class Meta:
        model = Intent
        fields = "__all__"
        help_texts = {
            "name": "A new intent (billing_dispute), or a built-in one's name to add keywords "
            f"to it or switch it off: {', '.join(BUILTIN)}."
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            intent_validate(
                cleaned.get("name"),
                {
                    "keywords": cleaned.get("keywords") or [],
                    "phrases": cleaned.get("phrases") or [],
                    "enabled": cleaned.get("enabled", True),
                },
            )
        except IntentInvalid as exc:
            for field, messages in exc.errors.items():
                self.add_error(field if field in self.fields else None, " ".join(messages))
        return cleaned


@admin.register(Intent)
class IntentAdmin(TenantScopedAdmin):
    """The tenant's intents; the list page also shows the effective ones (the built-ins,
    extended or switched off by these rows, then the tenant's own), as the detector uses
    them."""

    form = IntentForm
    list_display = ["name", "source", "enabled", "keywords", "phrases"]
    list_filter = ["enabled"]
    search_fields = ["name"]
    change_list_template = "admin/agents/intent/change_list.html"

    @admin.display(description="kind")
    def source(self, intent: Intent) -> str:
        if intent.name in BUILTIN:
            return "built-in, switched off" if not intent.enabled else "built-in, extended"
        return "tenant"

    def changelist_view(self, request, extra_context=None):
        tenant = self._manager_tenant(request)
        if tenant is None and request.user.is_superuser:
            tenant_id = request.GET.get("tenant__id__exact")
            tenant = Tenant.objects.filter(pk=tenant_id).first() if tenant_id else None
        extra: dict[str, Any] = {"effective_intents": None, "intents_tenant": tenant}
        if tenant is not None:
            extra["effective_intents"] = effective_intent_list(intent_rows(tenant=tenant))
        return super().changelist_view(request, {**(extra_context or {}), **extra})


class ReadOnlyInline(TenantScopedTabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = (
        "created_at",
        "role",
        "author",
        "text",
        "intent",
        "sentiment",
        "risk",
        "email_message_id",
        "email_status",
    )
    readonly_fields = fields


class AttachmentInline(ReadOnlyInline):
    """The files sent in the conversation, each opened by a signed link (as the pages do)."""

    model = Attachment
    fields = ("created_at", "sent_by", "open", "content_type", "size")
    readonly_fields = fields
    verbose_name_plural = "files"

    @admin.display(description="file")
    def open(self, attachment) -> str:
        url = attachment_link(attachment_entry(attachment))
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>', url, attachment.filename
        )


class DecisionEventInline(ReadOnlyInline):
    model = DecisionEvent
    fields = ("created_at", "type", "agent_slug", "rule", "detail", "duration_ms")
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(TenantScopedAdmin):
    list_display = [
        "id",
        "customer_name",
        "channel",
        "state",
        "current_agent",
        "turns",
        "last_activity_at",
        "timeline",
    ]
    list_filter = ["state", "channel"]
    search_fields = ["customer_ref", "customer_name", "customer_email"]
    list_select_related = ["current_agent"]
    inlines = [MessageInline, AttachmentInline, DecisionEventInline]
    exclude = ["customer_token_hash", "workflow_state", "ai_turn_message", "ai_turn_detail"]
    readonly_fields = ["timeline", "tags_shown", "opened_by", "opened_by_key"]

    @admin.display(description="tags")
    def tags_shown(self, conversation) -> str:
        return ", ".join(tag.name for tag in conversation.tags.all()) or "—"

    @admin.display(description="timeline")
    def timeline(self, conversation) -> str:
        try:  # the page lives in insight.admin
            url = reverse("admin:insight_timeline", args=[conversation.pk])
        except NoReverseMatch:
            return "—"
        return format_html('<a href="{}">Timeline</a>', url)

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _inbound_url(request, channel: EmailChannel) -> str:
    return request.build_absolute_uri(reverse("email-inbound", args=[channel.inbound_token]))


def _show_email_secret(request, channel: EmailChannel, raw: str):
    return TemplateResponse(
        request,
        "admin/conversations/email_secret.html",
        {
            **admin.site.each_context(request),
            "title": "E-mail channel: inbound address and signing secret",
            "object": channel,
            "raw": raw,
            "inbound_url": _inbound_url(request, channel),
        },
    )


@admin.register(EmailChannel)
class EmailChannelAdmin(TenantScopedAdmin):
    """The tenant's e-mail channel: the from-address of its replies, and the inbound-parse
    address and signing secret (the secret shown once, when made or rotated)."""

    list_display = ["tenant", "from_address", "from_name", "inbound_address", "updated_at"]
    actions = ["rotate_secret"]

    def get_fields(self, request, obj=None):
        fields = ["from_address", "from_name"]
        if obj is None and request.user.is_superuser:
            fields.insert(0, "tenant")
        if obj is not None:
            fields += ["inbound_address", "created_at", "updated_at"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["inbound_address", "created_at", "updated_at"]

    @admin.display(description="inbound address")
    def inbound_address(self, channel: EmailChannel) -> str:
        try:
            return reverse("email-inbound", args=[channel.inbound_token])
        except NoReverseMatch:
            return "—"

    def has_add_permission(self, request, *args) -> bool:
        if not super().has_add_permission(request, *args):
            return False
        tenant = self._manager_tenant(request)
        return tenant is None or not EmailChannel.objects.filter(tenant=tenant).exists()

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["from_address", "from_name", "updated_at"])
            return
        tenant = obj.tenant if request.user.is_superuser else self._manager_tenant(request)
        assert tenant is not None  # the admin lets in only superusers and managers of a tenant
        channel, raw = email_channel_setup(
            tenant=tenant, from_address=obj.from_address, from_name=obj.from_name
        )
        obj.pk, obj._raw_secret = channel.pk, raw
        obj.inbound_token, obj.tenant = channel.inbound_token, tenant

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(obj, "_raw_secret", None)
        if raw is None:  # it existed already: its secret is not shown again
            self.message_user(
                request, "The tenant's e-mail channel exists already.", messages.WARNING
            )
            return super().response_add(request, obj, post_url_continue)
        return _show_email_secret(request, EmailChannel.objects.get(pk=obj.pk), raw)

    @admin.action(description="Rotate the signing secret (shown once)")
    def rotate_secret(self, request, queryset):
        channels = list(queryset[:2])
        if len(channels) != 1:
            self.message_user(request, "Rotate one channel at a time.", messages.ERROR)
            return None
        raw = email_secret_rotate(channel=channels[0])
        return _show_email_secret(request, channels[0], raw)


class CustomerBlockForm(TenantScopedForm):
    """A block a manager adds by hand (a spammer's address, a customer id): a web chat
    visitor's network address is blocked only from their conversation, in the inbox."""

    kind = forms.ChoiceField(
        choices=[
            (BlockKind.EMAIL, BlockKind.EMAIL.label),
            (BlockKind.CUSTOMER, BlockKind.CUSTOMER.label),
        ]
    )

    class Meta:
        model = CustomerBlock
        fields = ["kind", "value", "reason", "expires_at"]
        help_texts = {
            "value": "The e-mail address (any case), or the customer id your channel sends "
            "(POST /api/v1/conversations: customer.id).",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # a block made: what it blocks stays (its reason and end change)
            self.fields.pop("kind", None)

    def clean(self):
        cleaned = super().clean()
        if "value" not in self.fields:  # a block made: only its reason and end change
            return cleaned
        try:
            value = block_value(cleaned.get("kind"), cleaned.get("value") or "")
        except Invalid as exc:
            for field, problems in exc.fields.items():
                self.add_error(field if field in self.fields else None, " ".join(problems))
            return cleaned
        cleaned["value"] = value
        self.instance.value = value
        return cleaned


@admin.register(CustomerBlock)
class CustomerBlockAdmin(TenantScopedAdmin):
    """Who the tenant's people blocked (conversations.blocks): no new conversation starts for
    them. Deleting a row unblocks."""

    form = CustomerBlockForm
    list_display = [
        "__str__",
        "reason",
        "blocked_by",
        "conversation_link",
        "created_at",
        "holds",
    ]
    list_filter = ["kind"]
    search_fields = ["value", "reason"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["kind", "value", "reason", "expires_at"]
        return ["shown", "reason", "expires_at", "blocked_by", "conversation_link", "created_at"]

    @admin.display(description="holds")
    def holds(self, block: CustomerBlock) -> str:
        if block.expires_at is None:
            return "for good"
        if block.expires_at <= timezone.now():
            return f"ended {block.expires_at:%Y-%m-%d}"
        return f"until {block.expires_at:%Y-%m-%d %H:%M}"

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["shown", "blocked_by", "conversation_link", "created_at"]

    @admin.display(description="blocked")
    def shown(self, block: CustomerBlock) -> str:
        return str(block)

    @admin.display(description="blocked from")
    def conversation_link(self, block: CustomerBlock) -> str:
        if block.conversation_id is None:
            return "—"
        url = reverse("inbox-conversation-page", args=[block.conversation_id])
        return format_html('<a href="{}">the conversation</a>', url)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.blocked_by = request.user
        super().save_model(request, obj, form, change)


class ErasureForm(TenantScopedForm):
    """Erase a customer's data at their request: what would go is shown first, and done only
    once the manager confirms it (orchestration.erasure)."""

    value = forms.CharField(
        max_length=254,
        help_text="The e-mail address (any case), the customer id your channel sends, or a "
        "conversation's id (its customer: their customer id and e-mail address).",
    )
    confirm = forms.BooleanField(
        required=False,
        label="Erase for good",
        help_text="Every conversation of this customer is deleted with its messages, files, "
        "notes and approvals. It cannot be undone.",
    )

    class Meta:
        model = Erasure
        fields = ["kind"]

    def clean(self):
        cleaned = super().clean()
        chosen = cleaned.get("tenant")  # a superuser's choice; a manager's is set already
        tenant_id = chosen.pk if chosen is not None else self.instance.tenant_id
        if self.errors or tenant_id is None:
            return cleaned
        try:
            found = erasure_preview(
                tenant_id=tenant_id, kind=cleaned.get("kind"), value=cleaned.get("value")
            )
        except Invalid as exc:
            for field, problems in exc.fields.items():
                self.add_error(field if field in self.fields else None, " ".join(problems))
            return cleaned
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None
        if not cleaned.get("confirm"):
            self.add_error(
                "confirm",
                f"This erases {found['conversations']} conversation(s), "
                f"{found['messages']} message(s) and {found['files']} file(s) for good: "
                "tick to confirm.",
            )
        return cleaned


@admin.register(Erasure)
class ErasureAdmin(TenantScopedAdmin):
    """Customers' data erased at their request. A row is the proof it was done (the customer
    only as a keyed hash); it is never changed or deleted."""

    form = ErasureForm
    list_display = ["__str__", "kind", "erased_by", "conversations", "messages", "files"]
    list_filter = ["kind"]
    readonly_fields = [
        "kind",
        "value_hash",
        "erased_by",
        "conversations",
        "messages",
        "files",
        "created_at",
    ]

    def get_fields(self, request, obj=None):
        if obj is not None:
            return self.readonly_fields
        return (["tenant"] if request.user.is_superuser else []) + ["kind", "value", "confirm"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        erasure = customer_erase(
            tenant_id=obj.tenant_id,
            kind=form.cleaned_data["kind"],
            value=form.cleaned_data["value"],
            by=Principal(user=request.user),
        )
        # the admin's form object becomes the row the service wrote (its history, its answer)
        obj.__dict__.update(erasure.__dict__)

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request,
            f"Erased {obj.conversations} conversation(s), {obj.messages} message(s) and "
            f"{obj.files} file(s).",
            messages.SUCCESS,
        )
        return self.response_post_save_add(request, obj)
