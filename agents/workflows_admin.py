"""Admin for workflows (SPEC 4.4, 8): a workflow with its steps inline, in order.

The steps are checked by ``agents.workflows.workflow_validate``, the API's validator, from the
inline formset's ``clean()``: it reads the steps in position order and puts each error on the
field of the step it concerns (an unknown name in a condition shows at that step's condition).
Saving goes through ``workflow_replace``, which writes all the steps at once, numbered 1..n.
The workflow's own fields are checked by the main form with the same rules
(``step_budget_problem``; the name's uniqueness is the model's constraint, same message).
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib import messages as admin_messages
from django.core.exceptions import ValidationError
from django.db.models import Count

from agents.admin_fields import CommaListField
from agents.models import Workflow, WorkflowStep
from agents.rule_lint import workflow_warnings
from agents.workflows import (
    ALL,
    CONTEXT,
    CONVERSATION_NAMES,
    START,
    WorkflowInvalid,
    step_budget_problem,
    workflow_delete,
    workflow_replace,
    workflow_validate,
)
from core.admin_scoping import (
    TenantScopedAdmin,
    TenantScopedForm,
    TenantScopedInlineFormSet,
    TenantScopedTabularInline,
)

LAST = 2**31 - 1
"""Where a step whose position is left blank goes: after the others, in row order."""

_STEP_PATH = re.compile(r"steps\[(\d+)\](?:\.(\w+))?")
_STEP_FIELDS = {"agent", "condition", "inputs", "outputs"}


class WorkflowAdminForm(TenantScopedForm):
    def clean_step_budget(self):
        value = self.cleaned_data.get("step_budget")
        problem = step_budget_problem(value)
        if value is not None and problem:
            raise ValidationError(problem)
        return value


class WorkflowStepForm(TenantScopedForm):
    position = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="Order of the step; blank: after the others.",
        widget=forms.NumberInput(attrs={"style": "width: 4em"}),
    )
    inputs = CommaListField(
        required=False,
        help_text=f'"{ALL}", or names: "{CONTEXT}" (transcript, customer, signals), '
        f"{', '.join(CONVERSATION_NAMES)} and outputs of earlier steps, separated by commas.",
        widget=forms.TextInput(attrs={"size": 14}),
    )
    outputs = CommaListField(
        required=False,
        help_text="Names this step contributes, separated by commas.",
        widget=forms.TextInput(attrs={"size": 14}),
    )

    class Meta:
        model = WorkflowStep
        fields = ["position", "agent", "condition", "inputs", "outputs"]
        widgets = {"condition": forms.Textarea(attrs={"rows": 2, "cols": 34})}
        help_texts = {
            "condition": f'"{START}" for the first step; later steps, e.g. '
            'category == "technical" over the conversation and earlier outputs.'
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.initial["inputs"] = [ALL]
        # the steps' table fits a 1366 px window beside the admin's navigation (the select
        # sits inside the admin's related-field wrapper)
        select = self.fields["agent"].widget
        getattr(select, "widget", select).attrs["style"] = "max-width: 13em"

    def clean_position(self):
        position = self.cleaned_data.get("position")
        return LAST if position is None else position


class WorkflowStepFormSet(TenantScopedInlineFormSet):
    """Runs the workflow validator over the steps in order and keeps them for saving."""

    steps_data: list[dict[str, Any]] | None = None

    def ordered_forms(self) -> list[forms.Form]:
        kept = [
            (index, form)
            for index, form in enumerate(self.forms)
            if not self._should_delete_form(form)
            and not (form.empty_permitted and not form.has_changed())
        ]
        kept.sort(key=lambda pair: (pair[1].cleaned_data.get("position", LAST), pair[0]))
        return [form for _, form in kept]

    def clean(self):
        super().clean()
        self.steps_data = None
        if any(self.errors):
            return  # each step must be well-formed before the workflow can be checked
        workflow = self.instance
        if workflow.tenant_id is None:
            return  # the main form reports the missing tenant
        forms_in_order = self.ordered_forms()
        steps = [
            {
                "agent": form.cleaned_data.get("agent"),
                "condition": form.cleaned_data.get("condition"),
                "inputs": form.cleaned_data.get("inputs", []),
                "outputs": form.cleaned_data.get("outputs", []),
            }
            for form in forms_in_order
        ]
        document = {"name": workflow.name, "stepBudget": workflow.step_budget, "steps": steps}
        try:
            workflow_validate(
                tenant=workflow.tenant,
                data=document,
                workflow=workflow if workflow.pk else None,
            )
        except WorkflowInvalid as exc:
            self._place_errors(exc.errors, forms_in_order)
            return
        self.steps_data = steps

    def _place_errors(self, errors: dict[str, list[str]], forms_in_order: list) -> None:
        general: list[str] = []
        for path, messages in errors.items():
            if path in ("name", "stepBudget"):
                continue  # checked and shown by the workflow's own form
            match = _STEP_PATH.fullmatch(path)
            if match is None:
                general.extend(messages)
                continue
            form = forms_in_order[int(match.group(1))]
            field = match.group(2) if match.group(2) in _STEP_FIELDS else None
            for message in messages:
                form.add_error(field, message)
        if general:
            raise ValidationError(general)


class WorkflowStepInline(TenantScopedTabularInline):
    model = WorkflowStep
    form = WorkflowStepForm
    formset = WorkflowStepFormSet
    fields = ["position", "agent", "condition", "inputs", "outputs"]
    ordering = ["position", "id"]
    extra = 1
    verbose_name = "step"
    verbose_name_plural = "steps (in order; the first one's condition is “start”)"


@admin.register(Workflow)
class WorkflowAdmin(TenantScopedAdmin):
    form = WorkflowAdminForm
    inlines = [WorkflowStepInline]
    list_display = ["name", "steps_count", "step_budget", "updated_at"]
    search_fields = ["name"]
    ordering = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_steps_count=Count("steps"))

    @admin.display(description="steps", ordering="_steps_count")
    def steps_count(self, obj: Workflow) -> int:
        return obj._steps_count

    def save_related(self, request, form, formsets, change):
        form.save_m2m()
        for formset in formsets:
            if isinstance(formset, WorkflowStepFormSet):
                workflow = form.instance
                workflow_replace(
                    workflow=workflow,
                    data={
                        "name": workflow.name,
                        "stepBudget": workflow.step_budget,
                        "steps": formset.steps_data,
                    },
                )
                # The steps were written as a whole; tell the change message so.
                formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
                # saved, but say what may keep it from proceeding (the API's warnings)
                for warning in workflow_warnings(workflow):
                    self.message_user(
                        request,
                        f"Warning: {warning['path']}: {warning['message']}",
                        admin_messages.WARNING,
                    )
            else:
                self.save_formset(request, form, formset, change=change)

    def construct_change_message(self, request, form, formsets, add):
        message = super().construct_change_message(request, form, formsets, add)
        steps = [f for f in formsets if isinstance(f, WorkflowStepFormSet)]
        if not add and any(formset.has_changed() for formset in steps):
            message.append({"changed": {"fields": ["steps"]}})
        return message

    def delete_model(self, request, obj):
        workflow_delete(workflow=obj)

    def delete_queryset(self, request, queryset):
        for workflow in queryset:
            workflow_delete(workflow=workflow)
