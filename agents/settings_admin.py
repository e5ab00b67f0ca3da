"""Admin for orchestrator settings: the global defaults (superusers only), and the tenant and
stack levels (managers, for their tenant), where an empty field inherits from the level above.

Each field says what it inherits and from where, and a read-only table shows the effective
values and their sources. Saving goes through ``settings_update``, as the API does.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from agents.admin_fields import WriteOnlySecretField
from agents.models import (
    GlobalOrchestratorSettings,
    HandoffMode,
    OrchestratorSettings,
    RiskCategory,
    SettingsLevel,
    StackOrchestratorSettings,
    TenantOrchestratorSettings,
)
from agents.orchestrator_settings import (
    API_KEY_NAME,
    BY_NAME,
    LEVEL_ORDER,
    MAX_SECONDS,
    MAX_STEPS,
    MAX_TOKENS,
    MAX_TURNS,
    SETTINGS,
    check_chat_workflow,
    describe_risk_detection,
    risk_detection_rows,
    settings_overview,
    settings_update,
    validate_changes,
)
from core.admin_scoping import (
    TenantScopedAdmin,
    TenantScopedForm,
)
from core.scoping import (
    managed_tenant,
    scope_queryset,
)

LIMITS = {
    "check_interval": MAX_SECONDS,
    "stall_threshold": MAX_TURNS,
    "hot_claim_timeout": MAX_SECONDS,
    "step_budget": MAX_STEPS,
    "token_budget": MAX_TOKENS,
}
FIELD_TO_NAME = {setting.field: setting.name for setting in SETTINGS}
SETTING_FORM_FIELDS = [
    "model",
    "check_interval",
    "stall_threshold",
    "risk_auto_escalation",
    "override_risk_categories",
    "risk_categories",
    "risk_detection",
    "handoff_mode",
    "hot_claim_timeout",
    "routing_instructions",
    "orchestrator_endpoint",
    "orchestrator_api_key_input",
    "clear_orchestrator_api_key",
    "step_budget",
    "token_budget",
    "cost_budget",
    "response_targets",
    "chat_workflow",
]


def shown(value: Any) -> str:
    """A setting's value as the admin shows it."""
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    if isinstance(value, list):
        return ", ".join(value) if value else "(none)"
    if isinstance(value, dict) and value and set(value) <= set(RiskCategory.values):
        # risk detection: what each category adds, removes and its threshold
        return describe_risk_detection(
            risk_detection_rows({"global": {"riskDetection": value}}, level="global")
        )
    if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
        # response targets: "urgent 300 s / 14400 s, ..."
        return ", ".join(
            f"{band}: first response {t.get('firstResponse')} s, resolution {t.get('resolution')} s"
            for band, t in value.items()
        )
    if value == "":
        return "(empty)"
    return str(value)


class InheritBooleanSelect(forms.NullBooleanSelect):
    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("unknown", "Inherit"), ("true", "Yes"), ("false", "No")]


class OrchestratorSettingsForm(TenantScopedForm):
    """One level's values. At the global level every value is required; at the tenant and
    stack levels an empty field (``Inherit``, or risk categories not overridden) inherits."""

    override_risk_categories = forms.BooleanField(
        required=False,
        label="Set risk categories here",
        help_text="Unchecked: inherit the risk categories from the level above.",
    )
    risk_categories = forms.MultipleChoiceField(
        choices=RiskCategory.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    orchestrator_api_key_input = WriteOnlySecretField(label="Orchestrator API key")
    clear_orchestrator_api_key = forms.BooleanField(
        required=False,
        label="Clear the orchestrator API key",
        help_text="Remove the key stored at this level (a key set above applies again).",
    )

    level: str = SettingsLevel.TENANT
    # {field name: (value, source)} that an empty field inherits; None when not known yet.
    inherited: dict[str, tuple[Any, str]] | None = None
    # the level above this one that stores an orchestrator key ("" when none does)
    inherited_key_source: str = ""

    class Meta:
        model = OrchestratorSettings
        fields = ["model"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.level = self.level
        self.settings_changes: dict[str, Any] = {}
        for name, maximum in LIMITS.items():
            if name in self.fields:
                self.fields[name].widget.attrs.update({"min": 1, "max": maximum})
        if self.level == SettingsLevel.GLOBAL:
            self._global_fields()
        else:
            self._inheriting_fields()
        self._key_fields()

    def _key_fields(self) -> None:
        """The orchestrator endpoint's key: write-only (never rendered back), stored sealed
        on this level's row through ``settings_update``; the form only says whether one is
        set."""
        if "orchestrator_api_key_input" not in self.fields:
            return
        stored = bool(self.instance.pk and self.instance.orchestrator_api_key)
        if stored:
            state = "Set at this level (stored encrypted, never shown)."
        elif self.inherited_key_source:
            state = (
                f"Not set at this level; the key set for the {self.inherited_key_source} applies."
            )
        else:
            state = "Not set."
        self.fields["orchestrator_api_key_input"].help_text = (
            f"{state} Type a key to store it (replacing any stored here); leave empty to keep "
            "what is stored. The key of the OpenAI-compatible orchestrator endpoint above."
        )
        if not stored and "clear_orchestrator_api_key" in self.fields:
            self.fields["clear_orchestrator_api_key"].help_text = "No key stored at this level."

    def _global_fields(self) -> None:
        self.fields.pop("override_risk_categories", None)
        # a key is a tenant's secret: the global level stores none (operators use the env)
        self.fields.pop("orchestrator_api_key_input", None)
        self.fields.pop("clear_orchestrator_api_key", None)
        self.fields.pop("chat_workflow", None)  # workflows belong to a tenant
        fields = self.fields
        if "risk_auto_escalation" in fields:
            fields["risk_auto_escalation"] = forms.BooleanField(
                required=False,
                label=fields["risk_auto_escalation"].label,
                help_text=fields["risk_auto_escalation"].help_text,
            )
        if "handoff_mode" in fields:
            fields["handoff_mode"] = forms.ChoiceField(
                choices=HandoffMode.choices, label=fields["handoff_mode"].label
            )
        required = (
            "model",
            "check_interval",
            "stall_threshold",
            "hot_claim_timeout",
            "response_targets",
        )
        for name in (*required, "step_budget", "token_budget", "cost_budget"):
            if name in fields:
                fields[name].required = True
        for name in ("routing_instructions", "orchestrator_endpoint"):
            if name in fields:
                fields[name].empty_value = ""
                fields[name].required = False

    def _inheriting_fields(self) -> None:
        fields = self.fields
        if "risk_auto_escalation" in fields:
            fields["risk_auto_escalation"] = forms.NullBooleanField(
                required=False,
                widget=InheritBooleanSelect,
                label=fields["risk_auto_escalation"].label,
                help_text=fields["risk_auto_escalation"].help_text,
            )
        if "handoff_mode" in fields:
            fields["handoff_mode"] = forms.TypedChoiceField(
                choices=[("", "Inherit"), *HandoffMode.choices],
                required=False,
                empty_value=None,
                label=fields["handoff_mode"].label,
            )
        for name in ("routing_instructions", "orchestrator_endpoint", "chat_workflow"):
            if name in fields:
                # Empty inherits; an empty override is set through the API ("").
                fields[name].empty_value = None
        if "override_risk_categories" in fields:
            fields["override_risk_categories"].initial = self.instance.risk_categories is not None
        for name, field in fields.items():
            if name in FIELD_TO_NAME:
                field.required = False
                field.help_text = " ".join(filter(None, [field.help_text, self._inherits(name)]))

    def _inherits(self, name: str) -> str:
        empty = "Not overridden" if name == "risk_categories" else "Empty"
        if self.inherited is None:
            return f"{empty}: inherits from the tenant or the global defaults."
        value, source = self.inherited[FIELD_TO_NAME[name]]
        return f"{empty}: inherits {shown(value)} (from {source})."

    def clean(self):
        stack = self.cleaned_data.get("stack")
        if stack is not None and self.instance.tenant_id is None:
            self.instance.tenant = stack.tenant  # a superuser's choice: the stack decides
        cleaned = super().clean()
        overriding = self.level == SettingsLevel.GLOBAL or cleaned.get("override_risk_categories")
        if "risk_categories" in cleaned and not overriding:
            cleaned["risk_categories"] = None
        changes = {
            setting.name: cleaned[setting.field]
            for setting in SETTINGS
            if setting.field in self.fields and setting.field in cleaned
        }
        if self.level == SettingsLevel.GLOBAL and changes.get("riskDetection") is None:
            changes.pop("riskDetection", None)  # left empty: the stored defaults stay
        typed_key = cleaned.get("orchestrator_api_key_input") or ""
        if typed_key and cleaned.get("clear_orchestrator_api_key"):
            self.add_error(
                "orchestrator_api_key_input", "Either type a new key or clear it, not both."
            )
        elif typed_key:
            changes[API_KEY_NAME] = typed_key
        elif cleaned.get("clear_orchestrator_api_key"):
            changes[API_KEY_NAME] = None
        try:
            self.settings_changes = validate_changes(level=self.level, changes=changes)
            tenant = self.instance.tenant if self.instance.tenant_id else None
            if tenant is not None:
                check_chat_workflow(self.level, tenant, self.settings_changes.get("chatWorkflow"))
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                field = BY_NAME[name].field if name in BY_NAME else None
                if name == API_KEY_NAME:
                    field = "orchestrator_api_key_input"
                self.add_error(field, errors)
        return cleaned

    def _get_validation_exclusions(self):
        # The level is fixed per admin, not a form field: keep it in the constraint checks so
        # "one row per tenant / per stack" is a form error, not an IntegrityError.
        exclude = super()._get_validation_exclusions()
        exclude.discard("level")
        return exclude


class _LevelAdmin(TenantScopedAdmin):
    form = OrchestratorSettingsForm
    list_select_related = ["tenant", "stack"]

    @property
    def level(self) -> str:
        return self.model.LEVEL

    def _owner_fields(self, request, obj) -> list[str]:
        return []

    def get_fieldsets(self, request, obj=None):
        if self.level == SettingsLevel.GLOBAL:
            tenant_only = (
                "override_risk_categories",
                "chat_workflow",
                "orchestrator_api_key_input",
                "clear_orchestrator_api_key",
            )
            fields = [f for f in SETTING_FORM_FIELDS if f not in tenant_only]
            return [(None, {"fields": fields})]
        owner = self._owner_fields(request, obj)
        return [
            *([(None, {"fields": owner})] if owner else []),
            (
                "Settings",
                {
                    "fields": SETTING_FORM_FIELDS,
                    "description": "Leave a field empty to inherit it from the level above.",
                },
            ),
            ("Effective settings", {"fields": ["effective"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if self.level == SettingsLevel.GLOBAL else ["effective"]

    def _overview(self, request, obj):
        """The overview the form's help texts and the effective table are drawn from."""
        if self.level == SettingsLevel.GLOBAL:
            return None
        tenant = obj.tenant if obj is not None else self._manager_tenant(request)
        agent = obj.stack if obj is not None and self.level == SettingsLevel.STACK else None
        if tenant is None and self.level == SettingsLevel.STACK:
            return None
        return settings_overview(tenant=tenant, agent=agent)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        overview = self._overview(request, obj)
        inherited = overview.inherited(self.level) if overview is not None else None
        key_source = ""
        if overview is not None:
            above = LEVEL_ORDER[: LEVEL_ORDER.index(SettingsLevel(self.level))]
            key_source = next(
                (str(lvl) for lvl in reversed(above) if overview.sealed_keys.get(str(lvl))), ""
            )
        return type(
            form.__name__,
            (form,),
            {"level": self.level, "inherited": inherited, "inherited_key_source": key_source},
        )

    def get_list_filter(self, request):
        return [] if self.level == SettingsLevel.GLOBAL else super().get_list_filter(request)

    def save_model(self, request, obj, form, change):
        owner: dict[str, Any] = {}
        if self.level != SettingsLevel.GLOBAL:
            owner["tenant"] = obj.tenant
        if self.level == SettingsLevel.STACK:
            owner["stack"] = obj.stack
        row = settings_update(level=self.level, changes=form.settings_changes, **owner)
        obj.pk, obj.updated_at = row.pk, row.updated_at
        obj._state.adding = False

    @admin.display(description="set at this level")
    def overrides(self, obj) -> str:
        values = [
            f"{setting.name}={shown(getattr(obj, setting.field))}"
            for setting in SETTINGS
            if getattr(obj, setting.field) is not None
        ]
        return "; ".join(values) or "nothing (inherits everything)"

    @admin.display(description="effective settings")
    def effective(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "Shown once saved."
        overview = self._overview(None, obj)
        # risk detection adds up over the levels: each part says where it comes from
        risk = describe_risk_detection(risk_detection_rows(overview.levels, level=self.level))
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>from {}</td></tr>",
            (
                (name, risk if name == "riskDetection" else shown(value), overview.sources[name])
                for name, value in overview.effective.items()
            ),
        )
        key_level = next(
            (lvl for lvl in reversed(LEVEL_ORDER) if overview.sealed_keys.get(str(lvl))), None
        )
        key = format_html(
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            API_KEY_NAME,
            "set" if key_level else "not set",
            f"from {key_level}" if key_level else "",
        )
        return format_html("<table>{}{}</table>", rows, key)


@admin.register(GlobalOrchestratorSettings)
class GlobalSettingsAdmin(_LevelAdmin):
    """The defaults every tenant inherits: superusers only; never added or deleted."""

    list_display = ["__str__", "overrides", "updated_at"]

    def _superuser(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request) -> bool:
        return self._superuser(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._superuser(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._superuser(request)

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if self._superuser(request) else queryset.none()


@admin.register(TenantOrchestratorSettings)
class TenantSettingsAdmin(_LevelAdmin):
    list_display = ["__str__", "overrides", "updated_at"]

    def _owner_fields(self, request, obj) -> list[str]:
        return ["tenant"] if request.user.is_superuser else []

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, "tenant"] if obj is not None and request.user.is_superuser else readonly

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "tenant" and field is not None:
            field.required = True
        return field

    def has_add_permission(self, request, *args) -> bool:
        if not super().has_add_permission(request, *args):
            return False
        if request.user.is_superuser:
            return True
        # A manager's tenant has one row: once it exists, it is changed, not added again.
        mine = scope_queryset(self.model.objects.all(), managed_tenant(request.user))
        return not mine.exists()


@admin.register(StackOrchestratorSettings)
class StackSettingsAdmin(_LevelAdmin):
    list_display = ["__str__", "stack", "overrides", "updated_at"]

    def get_list_display(self, request):
        display = super().get_list_display(request)
        return [*display[:2], "tenant", *display[2:]] if request.user.is_superuser else display

    def _owner_fields(self, request, obj) -> list[str]:
        return ["stack"]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, "stack"] if obj is not None else readonly

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "stack" and field is not None:
            field.queryset = field.queryset.filter(supervisor__isnull=True)
            field.required = True
            field.label = "Stack"
            field.help_text = "The agent at the top of the stack (an agent without a supervisor)."
        return field
