"""Admin for approvals: approver groups; the tenant's exchange rates; approval requests
(read-only, with approve and deny actions that call the same service as the API and the
approvals page, so the admin user must be a listed approver who did not cause the request);
executions, the ledger and the audit log, read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from approvals.audit import client_address
from approvals.models import (
    ActionExecution,
    ApprovalDecision,
    ApprovalRequest,
    AuditLog,
    ExchangeRate,
    LedgerEntry,
    Verdict,
)
from approvals.selectors import approval_transcript, origin_text
from approvals.services import approval_decide
from core.admin_scoping import (
    ReadOnlyMixin,
    TenantScopedAdmin,
    TenantScopedTabularInline,
)
from core.errors import DomainError
from core.limits import MAX_REASON
from core.models import ApproverGroup
from core.services import person_access_changed


@admin.register(ApproverGroup)
class ApproverGroupAdmin(TenantScopedAdmin):
    list_display = ["name", "member_count"]
    filter_horizontal = ["members"]
    search_fields = ["name"]

    @admin.display(description="members")
    def member_count(self, group) -> int:
        return group.members.count()

    # A group makes its members approvers (the permission matrix): whoever leaves one has their
    # open sockets re-check who they are, and close if that was what let them in.

    def save_related(self, request, form, formsets, change):
        before = set(form.instance.members.all()) if change else set()
        super().save_related(request, form, formsets, change)
        for person in before - set(form.instance.members.all()):
            person_access_changed(user=person)

    def delete_model(self, request, obj):
        members = list(obj.members.all())
        super().delete_model(request, obj)
        for person in members:
            person_access_changed(user=person)

    def delete_queryset(self, request, queryset):
        members = {person for group in queryset for person in group.members.all()}
        super().delete_queryset(request, queryset)
        for person in members:
            person_access_changed(user=person)


@admin.register(ExchangeRate)
class ExchangeRateAdmin(TenantScopedAdmin):
    """Rates the tenant sets: an action's amount in another currency is converted with them
    for the approval rules (and refused in a currency without one)."""

    list_display = ["currency", "rate", "tenant_currency", "updated_at"]
    search_fields = ["currency"]
    list_select_related = ["tenant"]

    @admin.display(description="in")
    def tenant_currency(self, rate) -> str:
        return rate.tenant.currency


class ReadOnlyAdmin(ReadOnlyMixin, TenantScopedAdmin):
    """Rows written only by services: viewable, never added, changed or deleted here."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class DecisionInline(TenantScopedTabularInline):
    model = ApprovalDecision
    extra = 0
    can_delete = False
    fields = ["created_at", "approver_label", "verdict", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class DenyForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=MAX_REASON,
        help_text="Required: why the action must not be carried out.",
    )


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "action",
        "status",
        "conversation",
        "requested_by_label",
        "quorum",
        "created_at",
        "expires_at",
    ]
    list_filter = ["status", "action"]
    search_fields = ["action", "requested_by_label", "idempotency_key"]
    list_select_related = ["conversation"]
    date_hierarchy = "created_at"
    inlines = [DecisionInline]
    actions = ["approve_selected", "deny_selected"]
    fields = [
        "action",
        "params",
        "status",
        "conversation",
        "requested_by_label",
        "origin",
        "amount",
        "approvers",
        "quorum",
        "rule",
        "rule_detail",
        "reason",
        "decided_by",
        "created_at",
        "decided_at",
        "expires_at",
        "idempotency_key",
        "execution_link",
        "transcript",
    ]
    readonly_fields = fields

    @admin.display(description="who caused it")
    def origin(self, approval) -> str:
        return origin_text(approval)

    @admin.display(description="execution")
    def execution_link(self, approval):
        execution = ActionExecution.objects.filter(request=approval).first()
        if execution is None:
            return "-"
        return format_html(
            '<a href="{}">{} ({})</a>',
            reverse("admin:approvals_actionexecution_change", args=[execution.pk]),
            execution.execution_key,
            execution.status,
        )

    @admin.display(description="conversation so far")
    def transcript(self, approval):
        lines = approval_transcript(approval, limit=30)
        if not lines:
            return "-"
        return format_html(
            "<div>{}</div>",
            format_html_join(
                "",
                "<p><strong>{}</strong> ({}): {}</p>",
                ((m["role"], m["author"], m["text"]) for m in lines),
            ),
        )

    def _decide(self, request, queryset, verdict: str, reason: str = "") -> None:
        ip, user_agent = client_address(request)
        done, refused = [], []
        for approval in queryset.prefetch_related("causes"):
            try:
                approval_decide(
                    approval=approval,
                    user=request.user,
                    verdict=verdict,
                    reason=reason,
                    ip=ip,
                    user_agent=user_agent,
                )
            except DomainError as exc:
                refused.append(f"#{approval.pk}: {exc.message}")
            else:
                done.append(f"#{approval.pk}")
        verb = "Approved" if verdict == Verdict.APPROVE else "Denied"
        if done:
            self.message_user(request, f"{verb} {', '.join(done)}.", messages.SUCCESS)
        for problem in refused:
            self.message_user(request, problem, messages.ERROR)

    @admin.action(description="Approve the selected requests")
    def approve_selected(self, request, queryset):
        self._decide(request, queryset, Verdict.APPROVE)

    @admin.action(description="Deny the selected requests (with a reason)")
    def deny_selected(self, request, queryset):
        form = DenyForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._decide(request, queryset, Verdict.DENY, form.cleaned_data["reason"])
            return None
        return TemplateResponse(
            request,
            "admin/approvals/approvalrequest/deny_selected.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Deny approval requests",
                "queryset": queryset,
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )


@admin.register(ActionExecution)
class ActionExecutionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "action",
        "status",
        "attempts",
        "execution_key",
        "conversation",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "action"]
    search_fields = ["execution_key", "idempotency_key"]
    list_select_related = ["conversation"]
    readonly_fields = [
        "action",
        "params",
        "status",
        "attempts",
        "result",
        "error",
        "request",
        "conversation",
        "execution_key",
        "idempotency_key",
        "requested_by_label",
        "created_at",
        "updated_at",
        "finished_at",
    ]
    fields = readonly_fields


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "action", "execution_key", "conversation", "created_at"]
    list_filter = ["action"]
    search_fields = ["execution_key"]
    list_select_related = ["conversation"]
    readonly_fields = ["action", "params", "execution_key", "conversation", "created_at"]
    fields = readonly_fields


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "kind",
        "action",
        "actor_label",
        "ip",
        "approval_id",
        "execution_id",
    ]
    list_filter = ["kind", "action"]
    search_fields = ["actor_label", "action"]
    readonly_fields = [
        "created_at",
        "kind",
        "action",
        "actor_label",
        "actor_id",
        "ip",
        "user_agent",
        "approval_id",
        "execution_id",
        "conversation_id",
        "detail",
    ]
    fields = readonly_fields
