"""Admin for guardrail policies: one per tenant (no agent) and one per agent, every field
"Inherit" by default. Bad phrases (an invalid regular expression) and topics are form errors
naming the line."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from agents.guardrails.policy import DEFAULT_POLICY
from agents.models import GuardrailAction, GuardrailPolicy
from core.admin_scoping import (
    TenantScopedAdmin,
    TenantScopedForm,
)

SWITCH_FIELDS = {
    "redact_cards": "cards",
    "redact_national_ids": "nationalIds",
    "redact_emails": "emails",
    "redact_phones": "phones",
    "unperformed_claims": "claims",
}
ACTION_FIELDS = {
    "personal_data_action": "personalDataAction",
    "blocked_action": "blockedAction",
    "claims_action": "claimsAction",
    "length_action": "lengthAction",
}


class InheritSelect(forms.NullBooleanSelect):
    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("unknown", "Inherit"), ("true", "On"), ("false", "Off")]


def _default(key: str) -> str:
    value = DEFAULT_POLICY[key]
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


class GuardrailPolicyForm(TenantScopedForm):
    class Meta:
        model = GuardrailPolicy
        fields = "__all__"
        widgets = {
            "blocked_topics": forms.Textarea(attrs={"rows": 3, "cols": 70}),
            "blocked_phrases": forms.Textarea(attrs={"rows": 4, "cols": 70}),
            "fallback_text": forms.Textarea(attrs={"rows": 2, "cols": 70}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, key in SWITCH_FIELDS.items():
            field = self.fields[name]
            self.fields[name] = forms.NullBooleanField(
                required=False,
                widget=InheritSelect,
                label=field.label,
                help_text=f"{field.help_text} Built-in default: {_default(key)}.",
            )
        for name, key in ACTION_FIELDS.items():
            field = self.fields[name]
            self.fields[name] = forms.ChoiceField(
                choices=[("", "Inherit"), *GuardrailAction.choices],
                required=False,
                label=field.label,
                help_text=f"Built-in default: {_default(key)}.",
            )


@admin.register(GuardrailPolicy)
class GuardrailPolicyAdmin(TenantScopedAdmin):
    form = GuardrailPolicyForm
    list_display = ["__str__", "agent", "updated_at"]
    list_select_related = ["tenant", "agent"]
    fieldsets = [
        (
            None,
            {
                "fields": ["tenant", "agent"],
                "description": "Levels: built-in defaults, then the tenant's policy (no "
                "agent), then an agent's own. A set value overrides the level above; blocked "
                "topics and phrases add up. Try a policy on a sample reply in the rule tester.",
            },
        ),
        (
            "Personal data",
            {
                "fields": [
                    "redact_cards",
                    "redact_national_ids",
                    "redact_emails",
                    "redact_phones",
                    "personal_data_action",
                ]
            },
        ),
        (
            "Blocked topics and phrases",
            {"fields": ["blocked_topics", "blocked_phrases", "blocked_action"]},
        ),
        (
            "Claims of actions that have not run",
            {"fields": ["unperformed_claims", "claims_action"]},
        ),
        ("Length", {"fields": ["max_length", "length_action"]}),
        ("Fallback", {"fields": ["fallback_text"]}),
    ]
