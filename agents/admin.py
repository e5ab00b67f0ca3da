"""Admin for agents, their knowledge and their orchestration rules (with history and the rule
tester). Everything goes through the tenant-scoped base classes."""

from __future__ import annotations

import difflib
import json

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from agents import (  # noqa: F401  (registers Workflow, GuardrailPolicy, the settings)
    guardrails_admin,
    rule_sets,
    settings_admin,
    workflows_admin,
)
from agents.action_registry import action_names
from agents.admin_fields import CommaListField, JSONObjectField, WriteOnlySecretField
from agents.models import Agent, ApprovalAction, HandoffRule, KnowledgeEntry, RuleSet
from agents.rule_lint import rules_warnings
from agents.runtime_config import SECRET_NAMES, runtime_secret_after, secret_problem
from agents.services import AgentInUse, agent_delete
from core.admin_scoping import (
    TenantScopedAdmin,
    TenantScopedForm,
    TenantScopedStackedInline,
    TenantScopedTabularInline,
)
from core.scoping import (
    managed_tenant,
    scope_queryset,
)
from insight.backtests import SYNC_LIMIT, backtest_start
from insight.models import BACKTEST_MAX_CONVERSATIONS
from orchestration.rule_tester import (
    RuleTesterForm,
    run_rule_test,
)

# --- agents ----------------------------------------------------------------------------------


class KnowledgeEntryForm(TenantScopedForm):
    keywords = CommaListField(help_text="Words or phrases, separated by commas.")
    action = forms.ChoiceField(
        choices=[("", "—"), *[(name, name) for name in action_names()]], required=False
    )
    action_params = JSONObjectField(label="Action parameters")
    outputs = JSONObjectField(
        label="Workflow outputs",
        help_text="Set when this answer is given, for later workflow steps, e.g. "
        '{"priority": "critical"}.',
    )

    class Meta:
        model = KnowledgeEntry
        fields = [
            "position",
            "question",
            "keywords",
            "answer",
            "action",
            "action_params",
            "outputs",
        ]
        widgets = {"answer": forms.Textarea(attrs={"rows": 3, "cols": 50})}


class KnowledgeEntryInline(TenantScopedStackedInline):
    model = KnowledgeEntry
    form = KnowledgeEntryForm
    extra = 0


class AgentForm(TenantScopedForm):
    domains = CommaListField(help_text="e.g. billing, refunds")
    runtime_config = JSONObjectField(
        label="Runtime configuration",
        help_text='openai: {"baseUrl", "model", "apiKeyEnv"?, "inputCostPer1k"?, '
        '"outputCostPer1k"?, "images"?} (apiKeyEnv: a variable the operator allows, instead of '
        "a key of your own; images: true sends the customer's photos to a model that reads "
        'them); webhook: {"url"}; builtin: leave empty. Keys and secrets go in the field '
        "below, never here.",
    )
    runtime_secret_input = WriteOnlySecretField(label="API key / signing secret")
    restrict_actions = forms.BooleanField(
        required=False,
        label="Restrict actions",
        help_text="Unchecked: the agent may propose every registered action. Checked: only "
        "the actions ticked below (none ticked: no action at all).",
    )
    allowed_actions = forms.MultipleChoiceField(
        choices=[(name, name) for name in action_names()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Allowed actions",
    )

    class Meta:
        model = Agent
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = self.instance.allowed_actions if self.instance.pk else None
        self.fields["restrict_actions"].initial = allowed is not None
        self.fields["allowed_actions"].initial = list(allowed or [])
        stored = bool(self.instance.pk and self.instance.runtime_secret)
        self.fields["runtime_secret_input"].help_text = (
            "A secret is stored (encrypted, never shown). Leave this empty to keep it; type a "
            "new one to replace it."
            if stored
            else "None stored. openai: the API key (or name apiKeyEnv above instead); "
            "webhook: the signing secret, at least 16 characters. Stored encrypted."
        )

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("restrict_actions"):
            cleaned["allowed_actions"] = None
        else:
            cleaned["allowed_actions"] = list(cleaned.get("allowed_actions") or [])
        self.instance.allowed_actions = cleaned["allowed_actions"]
        self._clean_runtime(cleaned)
        return cleaned

    def _clean_runtime(self, cleaned) -> None:
        """The runtime's secret: the typed one is checked and sealed onto the instance, else
        the stored one stays while the runtime stays (and, for openai, names no apiKeyEnv).
        The model's clean then checks the settings with it, as for the API."""
        runtime, config = cleaned.get("runtime"), cleaned.get("runtime_config")
        if not runtime or not isinstance(config, dict):
            return
        for secret_name in SECRET_NAMES.values():
            if secret_name in config:
                self.add_error(
                    "runtime_config",
                    f"{secret_name}: put it in the “API key / signing secret” field below "
                    "(stored encrypted, never shown), not in the configuration.",
                )
                return
        name = SECRET_NAMES.get(runtime)
        given = cleaned.get("runtime_secret_input") or None
        if given is not None:
            problem = (
                f"The {runtime} runtime takes no secret."
                if name is None
                else secret_problem(runtime, given)
            )
            if problem:
                self.add_error("runtime_secret_input", problem)
                return
        self.instance.runtime_secret = runtime_secret_after(
            runtime=runtime,
            config=config,
            given=given,
            stored=self.instance.runtime_secret,
            same_runtime=self.instance.pk is not None and self.instance.runtime == runtime,
        )


@admin.register(Agent)
class AgentAdmin(TenantScopedAdmin):
    form = AgentForm
    list_display = [
        "slug",
        "name",
        "role",
        "supervisor_name",
        "runtime_name",
        "rules_link",
        "canvas_link",
    ]
    list_filter = ["role", "runtime"]
    search_fields = ["slug", "name"]
    list_select_related = ["supervisor", "rules"]
    inlines = [KnowledgeEntryInline]
    fieldsets = [
        (None, {"fields": ["tenant", "slug", "name", "role", "supervisor", "domains"]}),
        (
            "Behaviour",
            {"fields": ["pattern", "runtime", "runtime_config", "runtime_secret_input", "prompt"]},
        ),
        ("Tool access", {"fields": ["restrict_actions", "allowed_actions"]}),
    ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "supervisor" and field is not None:
            field.queryset = field.queryset.filter(role="supervisor")
        return field

    # Short cells keep each agent on one line: the supervisor by name (its id is a column of
    # its own row), the runtime by the first words of its label ("Built-in").
    @admin.display(description="supervisor", ordering="supervisor__name")
    def supervisor_name(self, agent) -> str:
        return agent.supervisor.name if agent.supervisor_id else "-"

    @admin.display(description="runtime", ordering="runtime")
    def runtime_name(self, agent) -> str:
        return agent.get_runtime_display().split(" (")[0]

    @admin.display(description="rules")
    def rules_link(self, agent) -> str:
        ruleset = getattr(agent, "rules", None)
        if ruleset is None:
            return "inherited" if agent.supervisor_id else "none"
        url = reverse("admin:agents_ruleset_change", args=[ruleset.pk])
        return format_html('<a href="{}">own (v{})</a>', url, ruleset.version)

    @admin.display(description="canvas")
    def canvas_link(self, agent) -> str:
        if agent.supervisor_id is not None:
            return ""
        url = reverse("admin:stacks_canvas_stack", args=[agent.pk])
        return format_html('<a href="{}">stack canvas</a>', url)

    def delete_model(self, request, obj):

        try:
            agent_delete(agent=obj)
        except AgentInUse as exc:
            self.message_user(request, str(exc), messages.ERROR)

    def delete_queryset(self, request, queryset):
        for agent in queryset:
            self.delete_model(request, agent)


# --- rules -----------------------------------------------------------------------------------


class HandoffRuleForm(TenantScopedForm):
    class Meta:
        model = HandoffRule
        fields = ["position", "condition", "target", "workflow"]
        # two lines as a workflow step's condition: the rules form then fits 1366 px
        widgets = {"condition": forms.Textarea(attrs={"rows": 2, "cols": 40})}
        labels = {"target": "to agent", "workflow": "or start workflow"}

    def clean(self):
        cleaned = super().clean()
        if not self.errors and (cleaned.get("target") is None) == (cleaned.get("workflow") is None):
            raise forms.ValidationError(
                "Choose an agent to transfer to, or a workflow to start (one of the two)."
            )
        return cleaned

    def clean_condition(self):
        condition = self.cleaned_data["condition"]
        problem = rule_sets.handoff_condition_problem(condition)
        if problem:
            raise forms.ValidationError(problem)
        return condition


class HandoffRuleInline(TenantScopedTabularInline):
    model = HandoffRule
    form = HandoffRuleForm
    extra = 1
    verbose_name = "handoff rule"
    verbose_name_plural = "handoff rules (first match wins)"


class ApprovalActionForm(TenantScopedForm):
    action = forms.ChoiceField(choices=[(name, name) for name in action_names()])

    class Meta:
        model = ApprovalAction
        fields = ["position", "action", "when"]
        widgets = {"when": forms.TextInput(attrs={"size": 50})}

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action"):
            problem = rule_sets.approval_when_problem(cleaned["action"], cleaned.get("when"))
            if problem:
                self.add_error("when", problem)
        return cleaned


class ApprovalActionInline(TenantScopedTabularInline):
    model = ApprovalAction
    form = ApprovalActionForm
    extra = 0
    verbose_name = "action that needs approval"
    verbose_name_plural = "actions that need approval"


class RuleSetForm(TenantScopedForm):
    escalation_intents = CommaListField(label="Escalate on intents")
    approvers = CommaListField(help_text="Usernames or group:<name>, separated by commas.")

    class Meta:
        model = RuleSet
        fields = "__all__"
        help_texts = {
            "escalate_to_human": "Alone: escalate straight to people. With an agent to escalate "
            "to: that agent first, and people when it cannot resolve it (it escalates again, "
            "fails max attempts, or is unavailable).",
        }

    def clean(self):
        cleaned = super().clean()
        agent = cleaned.get("agent") or getattr(self.instance, "agent", None)
        if agent is None:
            return cleaned
        if cleaned.get("has_escalation"):
            names = {
                "maxAttempts": "max_attempts",
                "intents": "escalation_intents",
                "targetAgentId": "escalation_target",
                "escalateToHuman": "escalate_to_human",
            }
            target = cleaned.get("escalation_target")
            if target is not None and target.pk == agent.pk:
                self.add_error("escalation_target", "an agent cannot escalate to itself")
            for key, message in rule_sets.escalation_problem(
                max_attempts=cleaned.get("max_attempts"),
                intents=cleaned.get("escalation_intents", []),
                has_target=target is not None,
                to_human=cleaned.get("escalate_to_human", False),
            ).items():
                self.add_error(names[key], message)
        if cleaned.get("has_approvals"):
            check = rule_sets.approvers_problem(cleaned.get("approvers", []), agent.tenant_id)
            if check.problem:
                self.add_error("approvers", check.problem)
            elif cleaned.get("quorum", 1) > max(len(check.people), 1):
                self.add_error(
                    "quorum", f"only {len(check.people)} distinct people are listed as approvers"
                )
        return cleaned


BACKTEST_BUTTON = "_backtest"


@admin.register(RuleSet)
class RuleSetAdmin(TenantScopedAdmin):
    form = RuleSetForm
    inlines = [HandoffRuleInline, ApprovalActionInline]
    list_display = ["agent", "version", "handoff_count", "has_escalation", "has_approvals"]
    list_select_related = ["agent"]
    search_fields = ["agent__slug", "agent__name"]
    actions = ["clear_rules"]
    change_form_template = "admin/agents/ruleset/change_form.html"
    change_list_template = "admin/agents/ruleset/change_list.html"
    fieldsets = [
        (None, {"fields": ["agent"]}),
        (
            "Escalation",
            {
                "fields": [
                    "has_escalation",
                    "max_attempts",
                    "escalation_intents",
                    "escalation_target",
                    "escalate_to_human",
                ]
            },
        ),
        (
            "Approvals",
            {"fields": ["has_approvals", "approvals_required", "approvers", "quorum"]},
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(handoff_total=Count("handoffs"))

    @admin.display(description="handoff rules")
    def handoff_count(self, ruleset) -> int:
        return ruleset.handoff_total

    def get_readonly_fields(self, request, obj=None):
        return ["agent"] if obj else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "agent" and field is not None:
            field.queryset = field.queryset.filter(rules__isnull=True)
        return field

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if BACKTEST_BUTTON in request.POST:
            # "Backtest these edits": keep the edited rules as a draft; the caller rolls the
            # save back (_backtest_edits)
            ruleset = rule_sets.ruleset_with_children(form.instance.agent)
            request.rules_draft = (form.instance.agent, rule_sets.rules_document(ruleset))
            return
        rule_sets.rules_version_record(agent=form.instance.agent, user=request.user, via="admin")
        for warning in rules_warnings(form.instance.agent):
            self.message_user(
                request, f"Warning: {warning['path']}: {warning['message']}", messages.WARNING
            )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        ruleset = self.get_object(request, object_id)
        warnings = rules_warnings(ruleset.agent) if ruleset is not None else []
        extra = {**(extra_context or {}), "lint_warnings": warnings}
        return super().change_view(request, object_id, form_url, extra_context=extra)

    # --- backtesting the edits in the form ---

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "backtest_size": SYNC_LIMIT,
            "backtest_max": BACKTEST_MAX_CONVERSATIONS,
        }
        if request.method == "POST" and BACKTEST_BUTTON in request.POST:
            return self._backtest_edits(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _backtest_edits(self, request, object_id, form_url, extra_context):
        """Validate and apply the edited form exactly as Save does, read the rules document
        it makes, roll it all back, and backtest that document as a draft. Invalid edits
        show the form with its errors, as Save would."""
        try:
            size = int(request.POST.get("backtest_size") or SYNC_LIMIT)
        except ValueError:
            size = SYNC_LIMIT
        size = min(max(size, 1), BACKTEST_MAX_CONVERSATIONS)
        with transaction.atomic():
            response = super().changeform_view(request, object_id, form_url, extra_context)
            transaction.set_rollback(True)
        draft = getattr(request, "rules_draft", None)
        if draft is None:
            return response  # the form with its errors
        agent, document = draft
        backtest = backtest_start(
            agent=agent, draft=document or rule_sets.EMPTY_DOCUMENT, size=size, user=request.user
        )
        return HttpResponseRedirect(reverse("admin:insight_backtest_change", args=[backtest.pk]))

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "rules_draft", None) is not None:
            return HttpResponse(status=204)  # replaced by _backtest_edits' redirect
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "rules_draft", None) is not None:
            return HttpResponse(status=204)  # replaced by _backtest_edits' redirect
        return super().response_change(request, obj)

    def delete_model(self, request, obj):
        rule_sets.rules_clear(agent=obj.agent, user=request.user, via="admin")

    def delete_queryset(self, request, queryset):
        for ruleset in queryset.select_related("agent"):
            rule_sets.rules_clear(agent=ruleset.agent, user=request.user, via="admin")

    @admin.action(description="Clear rules (the agents fall back to inherited rules)")
    def clear_rules(self, request, queryset):
        count = 0
        for ruleset in queryset.select_related("agent"):
            count += rule_sets.rules_clear(agent=ruleset.agent, user=request.user, via="admin")
        self.message_user(request, f"Cleared the rules of {count} agent(s).", messages.SUCCESS)

    # --- history and restore ---

    def get_urls(self):
        extra = [
            path(
                "tester/",
                self.admin_site.admin_view(self.tester_view),
                name="agents_ruleset_tester",
            ),
            path(
                "agent/<int:agent_id>/history/",
                self.admin_site.admin_view(self.rules_history_view),
                name="agents_ruleset_rules_history",
            ),
        ]
        return extra + super().get_urls()

    def _scoped_agent(self, request, agent_id: int) -> Agent:
        agents = Agent.objects.all()
        if not request.user.is_superuser:
            agents = scope_queryset(agents, managed_tenant(request.user))
        return get_object_or_404(agents, pk=agent_id)

    def rules_history_view(self, request, agent_id: int):
        if not self.has_view_permission(request):
            raise Http404
        agent = self._scoped_agent(request, agent_id)
        if request.method == "POST":
            if not self.has_change_permission(request):
                raise Http404
            version = get_object_or_404(agent.rule_versions, version=request.POST.get("version"))
            try:
                rule_sets.rules_restore(agent=agent, version=version, user=request.user)
            except rule_sets.RulesInvalid as exc:
                self.message_user(
                    request, f"Version {version.version} cannot be restored: {exc}", messages.ERROR
                )
            else:
                self.message_user(request, f"Version {version.version} restored.", messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        versions = list(agent.rule_versions.select_related("created_by"))
        rows = []
        for index, version in enumerate(versions):
            previous = versions[index + 1].document if index + 1 < len(versions) else None
            rows.append({"version": version, "diff": _diff(previous, version.document)})
        return TemplateResponse(
            request,
            "admin/agents/ruleset/history.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Rule history of {agent}",
                "agent": agent,
                "rows": rows,
                "opts": self.opts,
            },
        )

    def _tester_initial(self, request, tenant) -> dict:
        """``?agent=<id>&draft=current``: the tester opened on that agent, its draft filled
        with the rules that apply to it now, to edit and try before saving."""
        agent_id = request.GET.get("agent", "")
        if request.method != "GET" or not agent_id.isdigit():
            return {}
        agents = Agent.objects.all()
        if tenant is not None:
            agents = scope_queryset(agents, tenant)
        agent = agents.filter(pk=int(agent_id)).first()
        if agent is None:
            return {}
        initial: dict = {"agent": agent.pk}
        if request.GET.get("draft") == "current":
            ruleset, _ = rule_sets.effective_ruleset(agent)
            document = rule_sets.rules_document(ruleset) or rule_sets.EMPTY_DOCUMENT
            initial["draft"] = json.dumps(document, indent=2)
        return initial

    def tester_view(self, request):
        if not self.has_view_permission(request):
            raise Http404
        tenant = None if request.user.is_superuser else managed_tenant(request.user)
        form = RuleTesterForm(
            request.POST or None, tenant=tenant, initial=self._tester_initial(request, tenant)
        )
        result = None
        lint = None
        if request.method == "POST" and form.is_valid():
            result = run_rule_test(form.cleaned_data)
            lint = result["lint"]
        return TemplateResponse(
            request,
            "admin/agents/ruleset/tester.html",
            {
                **self.admin_site.each_context(request),
                "title": "Rule tester",
                "form": form,
                "result": result,
                "lint": lint,
                "opts": self.opts,
            },
        )


def _lines(document) -> list[str]:
    if document is None:
        return ["(no rules: inherited)"]
    return json.dumps(document, indent=2, sort_keys=True).splitlines()


def _diff(before, after) -> list[tuple[str, str]]:
    """(css class, line) pairs of a unified diff between two documents."""
    out = []
    for line in difflib.unified_diff(_lines(before), _lines(after), lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "added", "-": "removed", "@": "hunk"}.get(line[:1], "same")
        out.append((kind, line))
    return out
