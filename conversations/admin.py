"""Admin for tenant intents and a read-only view of conversations with their messages and
decision events."""

from __future__ import annotations

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from agents.admin_fields import CommaListField
from agents.models import Intent
from conversations.models import (
    Conversation,
    DecisionEvent,
    Message,
)
from core.admin_scoping import (
    TenantScopedAdmin,
    TenantScopedForm,
    TenantScopedTabularInline,
)


class IntentForm(TenantScopedForm):
    keywords = CommaListField(help_text="Words that signal the intent, e.g. invoice, charge")
    phrases = CommaListField(help_text="Phrases, e.g. charged twice, money back")

    class Meta:
        model = Intent
        fields = "__all__"


@admin.register(Intent)
class IntentAdmin(TenantScopedAdmin):
    form = IntentForm
    list_display = ["name", "keywords", "phrases"]
    search_fields = ["name"]


class ReadOnlyInline(TenantScopedTabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ("created_at", "role", "author", "text", "intent", "sentiment", "risk")
    readonly_fields = fields


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
    inlines = [MessageInline, DecisionEventInline]
    exclude = ["customer_token_hash", "workflow_state", "ai_turn_message", "ai_turn_detail"]
    readonly_fields = ["timeline", "opened_by", "opened_by_key"]

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
