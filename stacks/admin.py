"""Admin for stack templates (issue 10): the gallery, publishing, export, import.

- Stack templates (the changelist) is the gallery: the built-in templates, the global ones
  superusers publish, and the manager's tenant's own (another tenant's read as not found).
- "Use" on a template asks for a name prefix (and, optionally, approvers of the tenant in place
  of the template's), previews what will be created (a dry run of the very import, so its
  errors are the import's), then creates it in one transaction.
- Add publishes a template for the manager's tenant (superusers: global when no tenant is
  chosen), from one of the tenant's stacks as it is now or from a JSON document.
- Export downloads a stack as JSON; Import takes a JSON document through the same preview.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import slugify

from agents.admin_fields import CommaListField
from agents.models import Agent, AgentRole
from core.admin_scoping import (
    TenantScopedAdmin,
    TenantScopedForm,
)
from core.json_input import (
    JsonRefused,
    StrictJSONField,
    loads,
)
from core.models import Tenant
from core.scoping import (
    managed_tenant,
    scope_queryset,
)
from stacks.canvas_admin import StackCanvasAdminMixin
from stacks.documents import PREFIX_MAX_LENGTH, StackInvalid, stack_export
from stacks.models import StackTemplate
from stacks.selectors import TemplateEntry, template_get, template_rows, templates_for
from stacks.services import (
    stack_import,
    template_errors,
    template_publish,
    template_update,
)


def _stacks(request, tenant: Tenant | None):
    """The top supervisors the person may export or publish."""
    agents = Agent.objects.filter(role=AgentRole.SUPERVISOR, supervisor__isnull=True)
    agents = agents.select_related("tenant").order_by("tenant__name", "slug")
    if request.user.is_superuser and tenant is None:
        return agents
    return scope_queryset(agents, tenant)


def _error_lines(errors: dict[str, list[str]]) -> list[str]:
    return [f"{path}: {message}" for path, messages in errors.items() for message in messages]


class StackTemplateForm(TenantScopedForm):
    stack = forms.ModelChoiceField(
        queryset=Agent.objects.none(),
        required=False,
        help_text="Publish this stack as it is now (its supervisor, specialists, knowledge, "
        "rules, stack settings and workflows)...",
    )
    document = StrictJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 90}),
        help_text="...or paste a stack template document (JSON, format stack-template).",
    )

    class Meta:
        model = StackTemplate
        fields = ["tenant", "name", "description", "stack", "document"]

    request = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = self.request.user
        self.fields["stack"].queryset = _stacks(
            self.request, None if user.is_superuser else managed_tenant(user)
        )
        if "tenant" in self.fields:
            self.fields["tenant"].required = False
            self.fields["tenant"].help_text = "Empty: a global template, for every tenant."

    def clean(self):
        cleaned = super().clean()
        stack, document = cleaned.get("stack"), cleaned.get("document")
        if stack is not None:
            document = stack_export(root=stack)
        elif not document and self.instance.pk:
            document = self.instance.document
        if not document:
            self.add_error("stack", "Choose a stack or paste a document.")
            return cleaned
        tenant = cleaned.get("tenant") if "tenant" in self.fields else self.instance.tenant
        if self.instance.pk is None and "tenant" not in self.fields:
            tenant = self.scoped_tenant
        errors = template_errors(
            tenant=tenant,
            name=cleaned.get("name"),
            document=document,
            template=self.instance if self.instance.pk else None,
        )
        for message in errors.pop("name", []):
            self.add_error("name", message)
        for line in _error_lines(errors):
            self.add_error("document" if stack is None else "stack", line)
        cleaned["document"] = document
        cleaned["tenant"] = tenant
        return cleaned


class UseForm(forms.Form):
    prefix = forms.CharField(
        required=False,
        max_length=PREFIX_MAX_LENGTH,
        help_text="Put before every agent id (eu → eu-agent-billing) and workflow name, so a "
        "template can be used more than once. Empty: the template's own ids.",
    )
    approvers = CommaListField(
        required=False,
        help_text="Optional: your approvers (usernames or group:<name>, separated by commas) "
        "in place of the approvers the template's approval rules name.",
    )

    def __init__(self, *args, tenants=None, **kwargs):
        super().__init__(*args, **kwargs)
        if tenants is not None:
            self.fields["tenant"] = forms.ModelChoiceField(
                queryset=tenants, help_text="The tenant to create the stack in."
            )
            self.order_fields(["tenant", "prefix", "approvers"])


class ImportForm(UseForm):
    template = StrictJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "cols": 90}),
        help_text="A stack template document (JSON), e.g. one exported here...",
    )
    upload = forms.FileField(required=False, help_text="...or its .json file.")

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if upload is not None:
            try:
                cleaned["template"] = loads(upload.read())
            except JsonRefused as exc:
                self.add_error("upload", f"Not a usable JSON document. {exc.sentence()}")
                return cleaned
            # shown in the text area, so the preview's "Create" sends it again
            self.data = self.data.copy()
            self.data["template"] = json.dumps(cleaned["template"], indent=2)
        elif cleaned.get("template") in (None, ""):
            self.add_error("template", "Paste a stack template document or upload its file.")
        return cleaned


class ExportForm(forms.Form):
    stack = forms.ModelChoiceField(queryset=Agent.objects.none(), help_text="Its supervisor.")


@admin.register(StackTemplate)
class StackTemplateAdmin(StackCanvasAdminMixin, TenantScopedAdmin):
    form = StackTemplateForm
    list_display = ["name", "tenant", "created_at"]

    # --- who sees and changes what ---

    def _tenant(self, request) -> Tenant | None:
        return None if request.user.is_superuser else managed_tenant(request.user)

    def get_queryset(self, request):
        return template_rows(tenant=self._tenant(request), everything=request.user.is_superuser)

    def _own(self, request, obj) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        tenant = self._tenant(request)
        return tenant is not None and obj.tenant_id == tenant.pk

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._own(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self._own(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def get_fields(self, request, obj=None):
        fields = ["tenant", "name", "description", "stack", "document"]
        if not request.user.is_superuser or obj is not None:
            fields.remove("tenant")
        return fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            template_update(
                template=obj,
                name=data["name"],
                description=data.get("description", ""),
                document=data["document"],
            )
            return
        saved = template_publish(
            tenant=data["tenant"],
            name=data["name"],
            description=data.get("description", ""),
            document=data["document"],
            user=request.user,
        )
        form.instance = saved
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        pass  # nothing related, and publishing changes no tenant configuration

    # --- the gallery and its pages ---

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="stacks_stacktemplate_import"),
            path("export/", view(self.export_view), name="stacks_stacktemplate_export"),
            path("<str:key>/use/", view(self.use_view), name="stacks_stacktemplate_use"),
            *self.canvas_urls(),
            *super().get_urls(),
        ]

    def _context(self, request, **extra) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.opts, **extra}

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise Http404
        entries = templates_for(tenant=self._tenant(request), everything=request.user.is_superuser)
        rows = [
            {
                "entry": entry,
                "can_change": entry.row is not None
                and self._own(request, entry.row)
                and (request.user.is_superuser or entry.row.tenant_id is not None),
            }
            for entry in entries
        ]
        return TemplateResponse(
            request,
            "admin/stacks/gallery.html",
            self._context(request, title="Stack templates", rows=rows),
        )

    def _entry(self, request, key: str) -> TemplateEntry:
        entry = template_get(
            tenant=self._tenant(request), key=key, everything=request.user.is_superuser
        )
        if entry is None:
            raise Http404("No such template.")
        return entry

    def _run(self, request, form, document, *, title: str, entry: TemplateEntry | None):
        """Preview (a dry run) or create, as the button pressed says."""
        plan, errors = None, None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            tenant = data.get("tenant") or self._tenant(request)
            document = data.get("template", document)
            create = "create" in request.POST
            try:
                plan = stack_import(
                    tenant=tenant,
                    document=document,
                    prefix=data.get("prefix") or "",
                    approvers=data.get("approvers") or None,
                    user=request.user,
                    dry_run=not create,
                )
            except StackInvalid as exc:
                errors = _error_lines(exc.errors)
            else:
                if create:
                    self.message_user(
                        request,
                        f"Created the stack {plan['rootAgentId']}: {len(plan['agents'])} "
                        f"agent(s), {len(plan['workflows'])} workflow(s).",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:agents_agent_changelist"))
        return TemplateResponse(
            request,
            "admin/stacks/use.html",
            self._context(request, title=title, form=form, entry=entry, plan=plan, errors=errors),
        )

    def _tenants(self, request):
        return Tenant.objects.order_by("name") if request.user.is_superuser else None

    def use_view(self, request, key: str):
        if not self.has_view_permission(request):
            raise Http404
        entry = self._entry(request, key)
        form = UseForm(request.POST or None, tenants=self._tenants(request))
        return self._run(
            request, form, entry.document, title=f"Use the template “{entry.name}”", entry=entry
        )

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise Http404
        form = ImportForm(
            request.POST or None, request.FILES or None, tenants=self._tenants(request)
        )
        return self._run(request, form, None, title="Import a stack", entry=None)

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise Http404
        form = ExportForm(request.POST or None)
        form.fields["stack"].queryset = _stacks(request, self._tenant(request))
        if request.method == "POST" and form.is_valid():
            root = form.cleaned_data["stack"]
            document = stack_export(root=root)
            response = HttpResponse(
                json.dumps(document, indent=2, ensure_ascii=False),
                content_type="application/json",
            )
            name = slugify(root.slug) or "stack"
            response["Content-Disposition"] = f'attachment; filename="{name}-stack.json"'
            return response
        return TemplateResponse(
            request,
            "admin/stacks/export.html",
            self._context(request, title="Export a stack", form=form),
        )
