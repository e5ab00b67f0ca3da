"""Admin views of handoffs with their packs, and of who is in the inbox (read-only: people act
in the inbox, where the services run)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from core.admin_scoping import (
    ReadOnlyMixin,
    TenantScopedAdmin,
    TenantScopedForm,
    TenantScopedStackedInline,
    TenantScopedTabularInline,
)
from core.errors import Invalid
from handover.canned import CANNED_TAGS_MAX, canned_tags
from handover.groups import ai_agent_taken, ai_agent_taken_text, overflow_text
from handover.models import (
    AgentSetting,
    CannedReply,
    CsatRating,
    GroupHours,
    Handoff,
    HandoffPack,
    PeopleGroup,
    Presence,
    SavedSearch,
    TranscriptMail,
)
from handover.services import agent_limit_set


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


class TagsField(forms.CharField):
    """Tags typed apart by commas ("damaged, carrier-late"), kept as a list."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [part.strip() for part in text.split(",") if part.strip()]


class CannedReplyForm(TenantScopedForm):
    tags = TagsField(
        required=False,
        help_text=f"Put on the conversation when it is sent as a reply: at most "
        f"{CANNED_TAGS_MAX}, apart by commas (e.g. damaged, carrier-late).",
    )

    class Meta:
        model = CannedReply
        fields = ["shortcut", "title", "text", "tags", "then"]

    def clean_tags(self):
        try:
            return canned_tags(self.cleaned_data.get("tags"))
        except Invalid as exc:
            raise forms.ValidationError(" ".join(exc.fields["tags"])) from None


@admin.register(CannedReply)
class CannedReplyAdmin(TenantScopedAdmin):
    """The team's canned replies, inserted in the inbox with / and the shortcut; sent as a
    reply, one may also tag the conversation and resolve, snooze or hand it back (a macro)."""

    form = CannedReplyForm
    list_display = ["shortcut", "title", "shown_tags", "then", "updated_at"]
    search_fields = ["shortcut", "title", "text"]
    fields = ["shortcut", "title", "text", "tags", "then"]

    @admin.display(description="tags")
    def shown_tags(self, reply: CannedReply) -> str:
        return ", ".join(reply.tags or [])


class PeopleGroupForm(TenantScopedForm):
    class Meta:
        model = PeopleGroup
        fields = ["name", "members", "ai_agents", "overflow_after"]

    def clean_ai_agents(self):
        """An AI agent's handoffs go to one group: one taken by another group is a form
        error naming both."""
        chosen = self.cleaned_data.get("ai_agents")
        if not chosen:
            return chosen
        taken = ai_agent_taken([a.pk for a in chosen], besides=self.instance.pk)
        if taken is not None:
            raise forms.ValidationError(ai_agent_taken_text(taken))
        return chosen


class GroupHoursInline(TenantScopedTabularInline):
    """A group's own hours: empty, it works by the team's business hours."""

    model = GroupHours
    extra = 0


@admin.register(PeopleGroup)
class PeopleGroupAdmin(TenantScopedAdmin):
    """Groups of human agents (the billing people, the tech people): the handoffs of the AI
    agents a group takes ring for its members first (handover.groups)."""

    form = PeopleGroupForm
    list_display = ["name", "shown_members", "shown_agents", "shown_hours", "shown_overflow"]
    fields = ["name", "members", "ai_agents", "overflow_after"]
    filter_horizontal = ["members", "ai_agents"]
    inlines = [GroupHoursInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("members", "ai_agents", "hours")

    @admin.display(description="members")
    def shown_members(self, group: PeopleGroup) -> str:
        return ", ".join(sorted(u.get_username() for u in group.members.all())) or "—"

    @admin.display(description="AI agents")
    def shown_agents(self, group: PeopleGroup) -> str:
        return ", ".join(sorted(a.name for a in group.ai_agents.all())) or "—"

    @admin.display(description="hours")
    def shown_hours(self, group: PeopleGroup) -> str:
        return ", ".join(str(h) for h in group.hours.all()) or "the team's business hours"

    @admin.display(description="open to everyone")
    def shown_overflow(self, group: PeopleGroup) -> str:
        return overflow_text(group.overflow_after)


@admin.register(AgentSetting)
class AgentSettingAdmin(TenantScopedAdmin):
    """Each human agent's limit of conversations at once; the status is theirs to set in the
    inbox."""

    list_display = ["user", "status", "max_conversations", "status_changed_at"]
    list_select_related = ["user"]
    fields = ["user", "status", "max_conversations"]
    readonly_fields = ["user", "status"]

    def has_add_permission(self, request) -> bool:
        return False  # made with the defaults the first time a person claims or sets a status

    def save_model(self, request, obj, form, change):
        # through the service: a raised limit offers the person the hot offers still open
        agent_limit_set(setting=obj, max_conversations=obj.max_conversations)


class SavedSearchForm(TenantScopedForm):
    class Meta:
        model = SavedSearch
        fields = ["name", "shared"]

    def clean_name(self):
        """A person's searches have a name each (the database's constraint, said as a form
        error rather than found at the save)."""
        name = (self.cleaned_data.get("name") or "").strip()
        taken = SavedSearch.objects.filter(
            tenant_id=self.instance.tenant_id, owner_id=self.instance.owner_id, name=name
        ).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(f"{self.instance.owner} already has a search named so.")
        return name


@admin.register(SavedSearch)
class SavedSearchAdmin(TenantScopedAdmin):
    """The history's saved searches of the team (handover/saved_searches.py): a manager renames
    one, shares it with the team or stops sharing it, or removes it. They are saved from the
    history's page, where the search is on screen."""

    form = SavedSearchForm
    list_display = ["name", "owner", "shared", "query", "created_at"]
    list_select_related = ["owner"]
    list_filter = ["shared"]
    search_fields = ["name", "query"]
    fields = ["name", "owner", "query", "shared"]
    readonly_fields = ["owner", "query"]

    def has_add_permission(self, request, *args) -> bool:
        return False  # saved from the history's page, with the search on screen


@admin.register(CsatRating)
class CsatRatingAdmin(ReadOnlyMixin, TenantScopedAdmin):
    """The customers' ratings as they gave them (never edited: the dashboard counts them)."""

    list_display = ["created_at", "conversation", "score", "comment", "person"]
    list_filter = ["score"]
    list_select_related = ["conversation", "person"]


@admin.register(TranscriptMail)
class TranscriptMailAdmin(ReadOnlyMixin, TenantScopedAdmin):
    """The copies of conversations people e-mailed, where to and whether they went (people send
    them from the inbox; handover.transcripts)."""

    list_display = ["created_at", "conversation", "to", "by_name", "sent_at", "failed_at"]
    list_filter = [
        ("sent_at", admin.EmptyFieldListFilter),
        ("failed_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["to"]
    list_select_related = ["conversation"]
