"""Admin views of handoffs with their packs, and of who is in the inbox (read-only: people act
in the inbox, where the services run)."""

from __future__ import annotations

from django.contrib import admin

from core.admin_scoping import (
    TenantScopedAdmin,
    TenantScopedStackedInline,
)
from handover.models import CsatRating, Handoff, HandoffPack, Presence


class ReadOnlyMixin:
    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class PackInline(ReadOnlyMixin, TenantScopedStackedInline):
    model = HandoffPack
    fields = [
        "summary",
        "brief",
        "key_details",
        "sentiment",
        "suggestions",
        "transcript",
        "activity",
        "built_at",
    ]
    readonly_fields = fields


@admin.register(Handoff)
class HandoffAdmin(ReadOnlyMixin, TenantScopedAdmin):
    list_display = ["id", "conversation", "mode", "status", "priority", "claimed_by", "created_at"]
    list_filter = ["mode", "status"]
    list_select_related = ["conversation", "claimed_by"]
    inlines = [PackInline]


@admin.register(Presence)
class PresenceAdmin(ReadOnlyMixin, TenantScopedAdmin):
    list_display = ["user", "sockets", "last_seen"]
    list_select_related = ["user"]


@admin.register(CsatRating)
class CsatRatingAdmin(ReadOnlyMixin, TenantScopedAdmin):
    """The customers' ratings as they gave them (never edited: the dashboard counts them)."""

    list_display = ["created_at", "conversation", "score", "person"]
    list_filter = ["score"]
    list_select_related = ["conversation", "person"]
