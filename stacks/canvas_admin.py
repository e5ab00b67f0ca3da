"""The stack canvas in the admin (issue 20): Stack templates -> Stack canvas.

- ``canvas/``: the tenant's stacks (a superuser picks the tenant with ``?tenant=<id>``); opens
  the first one's canvas.
- ``canvas/<agent id>/``: the stack topped by that agent as a server-rendered SVG, with a
  slide-out per node: the orchestrator's settings (value, where it comes from, edit, clear
  back to the inherited value) and each agent's rules (with links to its rule set). Another
  tenant's agent is a 404.
- ``canvas/<agent id>/settings/``: POST one setting (``setting``, ``value`` or ``clear``)
  through ``settings_update``, as the stack settings admin and the API do.
- ``canvas/<agent id>/export.svg``: the same SVG as a file (PNG is made in the browser from it).

Managers of the tenant (and superusers) see it; changing a setting needs the change permission
of the stack settings admin.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from agents.models import (
    Agent,
    HandoffMode,
    RiskCategory,
    SettingsLevel,
    StackOrchestratorSettings,
)
from agents.orchestrator_settings import (
    describe_risk_detection,
    risk_detection_rows,
    risk_detection_with,
    settings_overview,
    settings_update,
)
from core.models import Tenant
from core.scoping import managed_tenant, scope_queryset
from stacks.canvas import (
    CANVAS_SETTINGS,
    ORCHESTRATOR,
    TRAFFIC_DAYS,
    settings_rows,
    stack_canvas,
    tenant_stacks,
)
from stacks.canvas_svg import render_svg

LABELS = {
    "routingInstructions": "Routing instructions",
    "model": "Model",
    "checkInterval": "Check interval (seconds)",
    "stallThreshold": "Stall threshold (turns)",
    "riskAutoEscalation": "Risk auto-escalation",
    "riskCategories": "Risk categories (auto-escalate)",
    "riskDetection": "Risk detection (phrases and thresholds)",
    "handoffMode": "Handoff mode",
}
WHOLE_NUMBER = re.compile(r"^\s*\d{1,12}\s*$")
NUMBER = re.compile(r"^\s*-?\d{1,6}(?:\.\d{1,6})?\s*$")


def shown(value: Any) -> str:
    """A setting's value as the slide-out shows it."""
    if value is True:
        return "On"
    if value is False:
        return "Off"
    if isinstance(value, list):
        return ", ".join(value) or "(none)"
    return "(empty)" if value == "" else str(value)


def _risk_entry_from_post(post) -> dict[str, Any]:
    """One category's risk-detection entry as the slide-out sends it: phrases to add (one a
    line), built-in rules or inherited phrases to remove, a threshold (empty: inherited)."""
    entry: dict[str, Any] = {}
    added = [line.strip() for line in post.get("add", "").splitlines() if line.strip()]
    if added:
        entry["add"] = added
    removed = [name for name in post.getlist("remove") if name]
    if removed:
        entry["remove"] = removed
    raw = post.get("threshold", "").strip()
    if raw:
        entry["threshold"] = float(raw) if NUMBER.match(raw) else raw
    return entry


def _value_from_post(name: str, post) -> Any:
    """A setting's value as the form sends it, in the API's types (the validator checks it)."""
    if name == "riskCategories":
        return post.getlist("value")
    raw = post.get("value", "")
    if name in ("checkInterval", "stallThreshold"):
        return int(raw) if WHOLE_NUMBER.match(raw) else raw
    if name == "riskAutoEscalation":
        return {"true": True, "false": False}.get(raw, raw)
    return raw


class StackCanvasAdminMixin:
    """Canvas pages on a ModelAdmin whose view permission is the manager's (Stack templates)."""

    def canvas_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("canvas/", view(self.canvas_index_view), name="stacks_canvas"),
            path("canvas/<int:agent_id>/", view(self.canvas_view), name="stacks_canvas_stack"),
            path(
                "canvas/<int:agent_id>/settings/",
                view(require_POST(self.canvas_settings_view)),
                name="stacks_canvas_settings",
            ),
            path(
                "canvas/<int:agent_id>/export.svg",
                view(self.canvas_export_view),
                name="stacks_canvas_export",
            ),
        ]

    # --- who sees what ---

    def _canvas_check(self, request) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def _canvas_root(self, request, agent_id: int) -> Agent:
        agents = Agent.objects.select_related("tenant")
        if not request.user.is_superuser:
            agents = scope_queryset(agents, managed_tenant(request.user))
        return get_object_or_404(agents, pk=agent_id)

    def _may_change_settings(self, request) -> bool:
        settings_admin = self.admin_site._registry.get(StackOrchestratorSettings)
        return settings_admin is not None and settings_admin.has_change_permission(request)

    # --- pages ---

    def canvas_index_view(self, request):
        self._canvas_check(request)
        if request.user.is_superuser:
            tenants = Tenant.objects.order_by("name", "pk")
            chosen = request.GET.get("tenant")
            tenant = tenants.filter(pk=chosen).first() if chosen else tenants.first()
            if chosen and tenant is None:
                raise Http404("No such tenant.")
        else:
            tenant = managed_tenant(request.user)
        stacks = tenant_stacks(tenant) if tenant is not None else []
        if stacks:
            return HttpResponseRedirect(reverse("admin:stacks_canvas_stack", args=[stacks[0].pk]))
        return TemplateResponse(
            request,
            "admin/stacks/canvas.html",
            {**self.admin_site.each_context(request), "opts": self.opts, "title": "Stack canvas"},
        )

    def canvas_view(
        self, request, agent_id: int, *, errors=None, status: int = 200, typed_risk=None
    ):
        """The canvas page; after a refused save, ``errors`` by setting and, for a refused risk
        category, ``typed_risk`` (what the manager typed in its form, shown again beside the
        error instead of the saved values)."""
        self._canvas_check(request)
        agent = self._canvas_root(request, agent_id)
        if agent.supervisor_id is not None:
            root = agent
            while root.supervisor_id is not None:
                root = root.supervisor
            return HttpResponseRedirect(reverse("admin:stacks_canvas_stack", args=[root.pk]))
        canvas = stack_canvas(root=agent)
        panel = ORCHESTRATOR if errors else request.GET.get("panel", "")
        rows = settings_rows(canvas)
        risk_rows = risk_detection_rows(canvas.settings.levels)
        for row in rows:
            row["label"] = LABELS[row["name"]]
            row["shown"] = shown(row["value"])
            row["inherited_shown"] = shown(row["inherited_value"])
            row["errors"] = (errors or {}).get(row["name"], [])
            if row["name"] == "riskDetection":
                row["shown"] = describe_risk_detection(risk_rows)
                row["inherited_shown"] = "the tenant's or global phrases and thresholds"
                if typed_risk:  # the error goes beside the category's form, with what was typed
                    for risk in risk_rows:
                        if risk["category"] == typed_risk["category"]:
                            risk["errors"], risk["typed"] = row["errors"], typed_risk
                            row["errors"] = []
        agent_panels = []
        for node in canvas.nodes:
            if node.agent is None:
                continue
            owner, document = canvas.rules.get(node.agent.slug, (None, None))
            agent_panels.append(
                {
                    "node": node,
                    "agent": node.agent,
                    "owner": owner,
                    "document": document,
                    "warnings": canvas.warnings.get(node.agent.slug, []),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Stack canvas: {agent.name}",
            "is_nav_sidebar_enabled": False,  # the drawing needs the width
            "canvas": canvas,
            "svg": render_svg(canvas),
            "stacks": tenant_stacks(agent.tenant),
            "settings_rows": rows,
            "risk_rows": risk_rows,
            "agent_panels": agent_panels,
            "open_panel": f"panel-{panel}" if panel else "",
            "panel_errors": [
                message
                for key, found in (errors or {}).items()
                if key not in CANVAS_SETTINGS
                for message in found
            ],
            "may_change": self._may_change_settings(request),
            "handoff_modes": HandoffMode.choices,
            "risk_categories": RiskCategory.choices,
            "traffic_days": TRAFFIC_DAYS,
            "all_warnings": [
                (key, finding) for key, found in canvas.warnings.items() for finding in found
            ],
        }
        return TemplateResponse(request, "admin/stacks/canvas.html", context, status=status)

    def canvas_settings_view(self, request, agent_id: int):
        self._canvas_check(request)
        if not self._may_change_settings(request):
            raise PermissionDenied
        root = self._canvas_root(request, agent_id)
        if root.supervisor_id is not None:
            raise Http404("Settings belong to the top of a stack.")
        name = request.POST.get("setting", "")
        if name not in CANVAS_SETTINGS:
            return self.canvas_view(
                request, agent_id, errors={"": [f"Unknown setting {name!r}."]}, status=400
            )
        if name == "riskDetection" and "clear_all" not in request.POST:
            category = request.POST.get("category", "")
            if category not in RiskCategory.values:
                errors = {name: [f"Unknown risk category {category!r}."]}
                return self.canvas_view(request, agent_id, errors=errors, status=400)
            own = settings_overview(tenant=root.tenant, agent=root).levels.get("stack", {})
            entry = None if "clear" in request.POST else _risk_entry_from_post(request.POST)
            value = risk_detection_with(own.get(name), category, entry)
            changes = {name: value}
        elif "clear" in request.POST or "clear_all" in request.POST:
            changes = {name: None}
        else:
            changes = {name: _value_from_post(name, request.POST)}
        try:
            settings_update(level=SettingsLevel.STACK, stack=root, changes=changes)
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {name: exc.messages}
            typed = None
            if name == "riskDetection" and "category" in request.POST:
                typed = {
                    "category": request.POST["category"],
                    "add": request.POST.get("add", ""),
                    "remove": request.POST.getlist("remove"),
                    "threshold": request.POST.get("threshold", ""),
                }
            return self.canvas_view(request, agent_id, errors=errors, status=400, typed_risk=typed)
        cleared = changes[name] is None or "clear" in request.POST
        done = "cleared: it inherits again" if cleared else "saved"
        messages.success(request, f"{LABELS[name]} {done}.")
        url = reverse("admin:stacks_canvas_stack", args=[root.pk])
        return HttpResponseRedirect(f"{url}?panel={ORCHESTRATOR}")

    def canvas_export_view(self, request, agent_id: int):
        self._canvas_check(request)
        root = self._canvas_root(request, agent_id)
        if root.supervisor_id is not None:
            raise Http404("Not the top of a stack.")
        svg = render_svg(stack_canvas(root=root), interactive=False)
        response = HttpResponse(
            '<?xml version="1.0" encoding="UTF-8"?>\n' + svg,
            content_type="image/svg+xml; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{root.slug}-stack.svg"'
        return response
