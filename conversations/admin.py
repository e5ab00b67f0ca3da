"""Admin for tenant intents and a read-only view of conversations with their messages and
decision events."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
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
from core.models import Tenant


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
