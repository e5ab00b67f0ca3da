"""Writes for stack templates: import a stack document into a tenant (one transaction, all or
nothing), publish a template, delete one.

The import creates the agents with ``agents.services.agent_create``, their rules with
``agents.rule_sets.rules_replace``, the stack's settings with
``agents.orchestrator_settings.settings_update`` and the workflows with
``agents.workflows.workflow_create``: the validators the API and the admin use. Each refusal is
collected under its JSON path in the document instead of stopping the import, and the whole
import is rolled back when there is any; a dry run (the preview) does the same and always rolls
back, so it reports exactly what a real import would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from agents.models import Agent, SettingsLevel
from agents.orchestrator_settings import settings_update
from agents.rule_lint import LintScope, rules_findings, workflow_findings
from agents.rule_sets import RulesInvalid, rules_replace
from agents.runtime_config import split_runtime
from agents.serializers import KnowledgeSerializer
from agents.services import agent_create, guardrail_policy_set
from agents.workflows import WorkflowInvalid, workflow_create
from core.config_version import config_changed
from core.models import Tenant
from stacks.documents import (
    Errors,
    StackInvalid,
    prefix_problem,
    remapped,
    secret_paths,
    shape_errors,
    static_errors,
)
from stacks.models import StackTemplate

NAME_MAX_LENGTH = StackTemplate._meta.get_field("name").max_length


class _Rollback(Exception):
    pass


def _approvers_problem(approvers: Any) -> str | None:
    if approvers is None:
        return None
    if not isinstance(approvers, list) or not all(isinstance(a, str) and a for a in approvers):
        return "must be a list of usernames or group:<name>"
    return None


def _with_approvers(rules: Any, approvers: list[str] | None) -> Any:
    if approvers is None or not isinstance(rules, Mapping):
        return rules
    if not isinstance(rules.get("approvals"), Mapping):
        return rules
    return {**rules, "approvals": {**rules["approvals"], "approvers": list(approvers)}}


def stack_plan(document: Mapping[str, Any], *, approvers: list[str] | None = None) -> dict:
    """What importing a (remapped, shape-checked) document creates, for the preview."""
    agents = []
    used: list[str] = []
    for agent in document["agents"]:
        rules = _with_approvers(agent.get("rules"), approvers)
        summary = None
        if isinstance(rules, Mapping):
            approvals = (
                rules.get("approvals") if isinstance(rules.get("approvals"), Mapping) else {}
            )
            actions = [
                a if isinstance(a, str) else a.get("action") if isinstance(a, Mapping) else a
                for a in approvals.get("actions") or []
            ]
            for approver in approvals.get("approvers") or []:
                if approver not in used:
                    used.append(approver)
            summary = {
                "escalation": rules.get("escalation") is not None,
                "handoffs": len(rules.get("handoffs") or []),
                "approvalActions": actions,
            }
        agents.append(
            {
                "id": agent.get("id"),
                "name": agent.get("name"),
                "role": agent.get("role"),
                "supervisorId": agent.get("supervisorId"),
                "domains": agent.get("domains") or [],
                "knowledge": len(agent.get("knowledge") or []),
                "rules": summary,
            }
        )
    return {
        "agents": agents,
        "workflows": [
            {"name": w.get("name"), "steps": len(w.get("steps") or [])}
            for w in document.get("workflows") or []
        ],
        "settings": dict(document.get("settings") or {}),
        "approvers": used,
    }


def _creation_order(agents: list[Mapping]) -> list[int]:
    """Indexes of the agents, each after its supervisor (those naming an unknown or circular
    supervisor last; they are reported)."""
    placed: list[int] = []
    done: set[str] = set()
    pending = list(range(len(agents)))
    while pending:
        ready = [i for i in pending if agents[i].get("supervisorId") in (None, *done)]
        if not ready:
            placed.extend(pending)
            break
        for i in ready:
            placed.append(i)
            done.add(agents[i]["id"])
            pending.remove(i)
    return placed


def _create_agents(tenant: Tenant, agents: list[Mapping], errors: Errors) -> dict[int, Agent]:

    created: dict[int, Agent] = {}
    by_id: dict[str, Agent] = {}
    for index in _creation_order(agents):
        data = agents[index]
        where = f"agents[{index}]"
        knowledge = KnowledgeSerializer(data=data.get("knowledge") or [], many=True)
        runtime = data.get("runtime") if isinstance(data.get("runtime"), Mapping) else {}
        runtime_type = runtime.get("type", "builtin")
        config, secret = split_runtime(runtime_type, runtime)
        try:
            agent = agent_create(
                tenant=tenant,
                slug=data["id"],
                name=data.get("name") if isinstance(data.get("name"), str) else "",
                role=data.get("role") if isinstance(data.get("role"), str) else "",
                supervisor=by_id.get(data.get("supervisorId")),
                domains=data.get("domains") or [],
                pattern=data.get("pattern") or "handoff",
                runtime=runtime_type,
                runtime_config=config,
                runtime_secret=secret,
                prompt=data.get("prompt") if isinstance(data.get("prompt"), str) else "",
                knowledge=knowledge.validated_data if knowledge.is_valid() else None,
                allowed_actions=data.get("allowedActions"),
            )
            if data.get("guardrails"):
                guardrail_policy_set(agent=agent, document=data["guardrails"])
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                for message in messages:
                    if key == "id" and "already exists" in message:
                        message = (
                            f"An agent with the id '{data['id']}' already exists in this "
                            "tenant; choose another prefix."
                        )
                    errors.add(f"{where}.{key}", message)
            continue
        except IntegrityError:  # created by someone else meanwhile
            errors.add(f"{where}.id", f"An agent with the id '{data['id']}' already exists.")
            continue
        created[index] = agent
        by_id[data["id"]] = agent
    return created


@transaction.atomic
def _import(
    *,
    tenant: Tenant,
    document: dict[str, Any],
    approvers: list[str] | None,
    user,
    errors: Errors,
) -> Agent | None:
    # One import at a time per tenant: the ids checked free stay free until it commits.
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    agents: list[Mapping] = document["agents"]
    created = _create_agents(tenant, agents, errors)
    # the workflows before the rules: a handoff rule may start one
    for index, workflow in enumerate(document.get("workflows") or []):
        try:
            workflow_create(tenant=tenant, data=workflow)
        except WorkflowInvalid as exc:
            errors.extend(f"workflows[{index}]", exc.errors)
    for index, data in enumerate(agents):
        rules = data.get("rules")
        if rules is None or index not in created:
            continue
        try:
            rules_replace(
                agent=created[index],
                document=_with_approvers(rules, approvers),
                user=user,
                via="template",
            )
        except RulesInvalid as exc:
            errors.extend(f"agents[{index}].rules", exc.errors)
    root = next(
        (created.get(i) for i, a in enumerate(agents) if a.get("supervisorId") is None), None
    )
    settings = document.get("settings") or {}
    if settings and root is not None:
        try:
            settings_update(level=SettingsLevel.STACK, stack=root, changes=settings)
        except ValidationError as exc:
            errors.extend("settings", exc.message_dict)
    # An agent that could not be created is reported where it is defined, not again as an
    # unknown agent everywhere it is named.
    missing = {f"unknown agent '{a['id']}'" for i, a in enumerate(agents) if i not in created}
    for path in list(errors):
        errors[path] = [m for m in errors[path] if m not in missing]
        if not errors[path]:
            del errors[path]
    return root


def stack_import(
    *,
    tenant: Tenant,
    document: Any,
    prefix: str = "",
    approvers: list[str] | None = None,
    user=None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Create the stack ``document`` describes in ``tenant``, its agent ids prefixed with
    ``prefix`` and, when given, ``approvers`` in place of every approval rule's approvers.

    Returns the plan (what was, or with ``dry_run`` would be, created) with ``rootAgentId``.
    Raises ``StackInvalid`` listing every problem by its path in the document; then nothing
    is written.
    """
    errors = Errors()
    problem = prefix_problem(prefix)
    if problem:
        errors.add("prefix", problem)
    problem = _approvers_problem(approvers)
    if problem:
        errors.add("approvers", problem)
        approvers = None
    shape = shape_errors(document)
    if shape:
        errors.extend("template", shape)
        raise StackInvalid(errors)
    for path, messages in static_errors(document).items():
        for message in messages:
            errors.add(f"template.{path}", message)
    doc = remapped(document, prefix or "")
    deep = Errors()
    root = None
    warnings: list[dict[str, str]] = []
    try:
        with transaction.atomic():
            root = _import(tenant=tenant, document=doc, approvers=approvers, user=user, errors=deep)
            if not errors and not deep:
                warnings = _lint_imported(tenant, doc)
            if errors or deep or dry_run:
                raise _Rollback
            config_changed(tenant.pk)
    except _Rollback:
        pass
    for path, messages in deep.items():
        # a problem the template has whatever the tenant is already listed at its path (or
        # below it: a runtime's bad baseUrl, not the agent's runtime as a whole, again)
        where = f"template.{path}"
        if any(known == where or known.startswith((f"{where}.", f"{where}[")) for known in errors):
            continue
        for message in messages:
            errors.add(where, message)
    if errors:
        raise StackInvalid(dict(errors))
    plan = stack_plan(doc, approvers=approvers)
    plan["prefix"] = prefix or ""
    plan["rootAgentId"] = root.slug if root is not None else None
    plan["created"] = not dry_run
    plan["warnings"] = warnings
    return plan


def _lint_imported(tenant: Tenant, doc: dict[str, Any]) -> list[dict[str, str]]:
    """The rule lint's warnings on a stack just imported (inside the import's transaction, so
    a dry run shows them too), at their paths in the document."""
    scope = LintScope.of(tenant.pk)
    found: list[dict[str, str]] = []
    for index, entry in enumerate(doc.get("agents") or []):
        agent = scope.agents.get(entry.get("id"))
        if agent is None or not entry.get("rules"):
            continue
        for finding in rules_findings(agent=agent, scope=scope):
            where = f"template.agents[{index}].rules.{finding.path}"
            found.append({**finding.as_dict(), "path": where})
    for index, workflow in enumerate(doc.get("workflows") or []):
        prefix = f"template.workflows[{index}]."
        found.extend(f.as_dict() for f in workflow_findings(workflow, scope, prefix=prefix))
    return found


# --- templates ------------------------------------------------------------------------------------


def template_errors(
    *, tenant: Tenant | None, name: Any, document: Any, template: StackTemplate | None = None
) -> Errors:
    errors = Errors()
    if not isinstance(name, str) or not name.strip():
        errors.add("name", "A template needs a name.")
    elif len(name.strip()) > NAME_MAX_LENGTH:
        errors.add("name", f"At most {NAME_MAX_LENGTH} characters.")
    else:
        same = StackTemplate.objects.filter(tenant=tenant, name=name.strip())
        if template is not None:
            same = same.exclude(pk=template.pk)
        if same.exists():
            errors.add("name", "A template with this name already exists.")
    errors.extend("document", static_errors(document, secrets_later=True))
    for where in secret_paths(document):
        errors.add(
            f"document.{where}",
            "a template never holds secrets (it is stored as it is, and may be shared); leave "
            "it out and give it in the document you import",
        )
    return errors


@transaction.atomic
def template_publish(
    *,
    tenant: Tenant | None,
    name: str,
    document: Any,
    description: str = "",
    user=None,
) -> StackTemplate:
    """Publish a stack document as a template of ``tenant`` (``None``: global, for every
    tenant; superusers only, which the callers check). Raises ``StackInvalid`` naming every
    problem of the document that needs no tenant to see."""
    errors = template_errors(tenant=tenant, name=name, document=document)
    if errors:
        raise StackInvalid(dict(errors))
    document = {**document, "name": name.strip(), "description": description or ""}
    try:
        with transaction.atomic():
            return StackTemplate.objects.create(
                tenant=tenant,
                name=name.strip(),
                description=description or "",
                document=document,
                published_by=user if getattr(user, "pk", None) else None,
            )
    except IntegrityError:
        raise StackInvalid({"name": ["A template with this name already exists."]}) from None


@transaction.atomic
def template_update(
    *, template: StackTemplate, name: str, description: str = "", document: Any
) -> StackTemplate:
    errors = template_errors(
        tenant=template.tenant, name=name, document=document, template=template
    )
    if errors:
        raise StackInvalid(dict(errors))
    template.name = name.strip()
    template.description = description or ""
    template.document = {**document, "name": template.name, "description": template.description}
    template.save()
    return template


@transaction.atomic
def template_delete(*, template: StackTemplate) -> None:
    template.delete()
