"""The admin's rule tester: a sample message with signals and customer attributes in; which
rules fire, in what order and why, out. It detects the signals and traces the rules exactly as
the orchestrator does: through the tenant's configuration snapshot (``tenant_config``: the
tenant's own intents, the specialists' domains, the agent's effective compiled rules) and the
one builder of the rule context (``rules.rule_context``), and writes nothing. For an action, the
running totals it is given stand for what came before (``totals.*``; 0 when left out) and
the amount is converted into the tenant's currency with its exchange rates, as the gate does.

Given a sample reply, it also shows what the agent's effective guardrail policy would do to it
(the same compiled engine as the orchestrator): the rules that fire, the action taken and the
resulting text. No action counts as executed, so any claim of a completed action fires.

Given a draft rules document (not saved; the API's shape, ``{escalation, handoffs,
approvals}``), it checks it as a save would (``validate_rules``: errors by path), lints it as a
save would (``rules_warnings``) and traces and dry-runs it in place of the agent's own rules
(``TenantConfig.with_draft_rules``), for the agent and the agents that inherit through it."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.db import transaction
from django.db.models import Q

from agents.action_registry import (
    ParamsError,
    action_names,
    get_action,
    totals_from,
    totals_names,
)
from agents.admin_fields import CommaListField, JSONObjectField
from agents.detectors import CATEGORIES
from agents.guardrails import action_allowed, compile_policy, effective_policy, evaluate
from agents.models import Agent, GuardrailPolicy
from agents.rule_engine import trace
from agents.rule_lint import effective_rules_warnings, rules_warnings
from agents.rule_sets import RulesInvalid, validate_rules
from approvals.totals import (
    NoRate,
    money_currency,
    money_of,
    params_for_rules,
)
from conversations.models import Conversation, DecisionEvent, State
from core.models import Tenant
from core.scoping import scope_queryset
from orchestration.pipeline import conversation_decide
from orchestration.tenant_config import TenantConfig, tenant_config
from rules import rule_context

CHANNELS = ["web", "voice", "email", "api"]
MAX_DRAFT_LENGTH = 100_000


class RuleTesterForm(forms.Form):
    agent = forms.ModelChoiceField(queryset=Agent.objects.none())
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        required=False,
        help_text="The customer's message; intent, sentiment and risk are detected from it "
        "unless given below.",
    )
    intent = forms.CharField(required=False, help_text="Overrides the detected intent.")
    sentiment = forms.FloatField(
        required=False, min_value=-1, max_value=1, help_text="Overrides: -1 to 1."
    )
    risk = CommaListField(
        help_text=f"Overrides the detected risk: any of {', '.join(CATEGORIES)}, or 'none'."
    )
    channel = forms.ChoiceField(choices=[(c, c) for c in CHANNELS], initial="web")
    attempts = forms.IntegerField(min_value=0, initial=0, help_text="Consecutive failed attempts.")
    turns = forms.IntegerField(min_value=0, initial=1)
    language = forms.CharField(initial="en", required=False)
    customer = JSONObjectField(label="Customer attributes", help_text='e.g. {"vip": true}')
    verified = forms.BooleanField(
        label="Signed in",
        required=False,
        help_text="The customer signed in on your website, which signed who they are "
        "(verified in conditions).",
    )
    action = forms.ChoiceField(
        choices=[("", "—"), *[(n, n) for n in action_names()]],
        required=False,
        help_text="Optionally, an action the agent proposes: does it need approval?",
    )
    params = JSONObjectField(
        label="Action parameters", help_text='e.g. {"orderId": "A1", "amount": 150}'
    )
    totals = JSONObjectField(
        label="Running totals",
        help_text="What the conversation and the customer already have, before this action "
        '(amounts in the tenant\'s currency), e.g. {"refunded_24h": 90, '
        '"count.issue_refund": 2}; a total left out is 0.',
    )
    sample_reply = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        required=False,
        max_length=50_000,
        help_text="Optionally, a reply of the agent: what would its guardrails do to it?",
    )
    draft = forms.CharField(
        label="Draft rules",
        widget=forms.Textarea(attrs={"rows": 10, "cols": 70, "spellcheck": "false"}),
        required=False,
        max_length=MAX_DRAFT_LENGTH,
        help_text="Optionally, a rule set to try instead of the agent's own (not saved): "
        '{"escalation": ..., "handoffs": [{"condition": "intent == \\"billing\\"", '
        '"targetAgentId": "agent-billing"}], "approvals": ...}. Its lint warnings are shown; '
        "empty: the saved rules.",
    )

    def __init__(self, *args, tenant: Tenant | None, **kwargs):
        super().__init__(*args, **kwargs)
        agents = Agent.objects.select_related("tenant")
        if tenant is not None:
            agents = scope_queryset(agents, tenant)
        agent_field = self.fields["agent"]
        assert isinstance(agent_field, forms.ModelChoiceField)
        agent_field.queryset = agents

    def clean_risk(self):
        risk = self.cleaned_data["risk"]
        if risk == ["none"]:
            return []
        unknown = [r for r in risk if r not in CATEGORIES]
        if unknown:
            raise forms.ValidationError(f"unknown risk category '{unknown[0]}'")
        return risk or None

    def clean_draft(self):
        raw = self.cleaned_data.get("draft") or ""
        if not raw.strip():
            return None
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}.") from None
        if not isinstance(document, dict):
            raise forms.ValidationError(
                'Enter the rules as a JSON object, e.g. {"handoffs": [...]}.'
            )
        return document

    def clean_totals(self):
        given = self.cleaned_data["totals"]
        known = [name.removeprefix("totals.") for name in totals_names()]
        for name, value in given.items():
            if name not in known:
                raise forms.ValidationError(f"unknown total '{name}' (known: {', '.join(known)})")
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise forms.ValidationError(f"'{name}' must be a number of at least 0")
        return given

    def clean(self):
        cleaned = super().clean() or self.cleaned_data  # it is cleaned_data; typed Optional
        if cleaned.get("draft") is not None and cleaned.get("agent") is not None:
            try:
                cleaned["draft"] = validate_rules(cleaned["draft"], agent=cleaned["agent"]).document
            except RulesInvalid as exc:
                for where, found in exc.errors.items():
                    for message in found:
                        self.add_error("draft", f"{where}: {message}")
        action = cleaned.get("action")
        if action:
            spec = get_action(action)
            assert spec is not None  # the field's choices are the registered actions
            try:
                params = spec.validate_params(cleaned.get("params") or {})
            except ParamsError as exc:
                self.add_error("params", str(exc))
                return cleaned
            agent = cleaned.get("agent")
            if agent is not None:
                params = money_currency(spec, params, agent.tenant)
                try:
                    cleaned["money"] = money_of(spec, params, agent.tenant)
                except NoRate as exc:
                    self.add_error("params", f"currency: {exc}")
                cleaned["params"] = params
        elif cleaned.get("params"):
            self.add_error("action", "choose the action these parameters are for")
        return cleaned


def run_rule_test(data: dict[str, Any]) -> dict[str, Any]:
    """What the rules and the pipeline decide for the sample in ``data`` (the form's cleaned
    data), with the agent's saved rules or, given ``draft``, with the draft in their place;
    and the lint warnings of the rules tried (``lint``: ``{owner, draft, warnings}``)."""
    agent: Agent = data["agent"]
    draft = data.get("draft")
    config = tenant_config(agent.tenant)
    if draft is not None:
        config = config.with_draft_rules(agent, draft)
        lint = {
            "owner": agent.slug,
            "draft": True,
            "warnings": rules_warnings(agent, document=draft),
        }
    else:
        owner, warnings = effective_rules_warnings(agent)
        lint = {"owner": owner, "draft": False, "warnings": warnings}
    signals = config.detect(data.get("message") or "", agent)
    context = rule_context(
        intent=data.get("intent") or signals.intent,
        sentiment=data["sentiment"] if data.get("sentiment") is not None else signals.sentiment,
        risk=data["risk"] if data.get("risk") is not None else signals.risk,
        channel=data["channel"],
        attempts=data["attempts"],
        turns=data["turns"],
        language=data.get("language"),
        customer=data.get("customer"),
        verified=bool(data.get("verified")),
    )
    rules = config.rules_for(agent)
    action = data.get("action") or None
    totals = totals_from(data.get("totals") or {})
    result = trace(
        rules,
        rule_context(**context, totals=totals) if action else context,
        action=action,
        params=params_for_rules(data.get("params") or {}, data.get("money")),
    )
    guardrails = None
    if data.get("sample_reply"):
        guardrails = guardrail_test(agent, data["sample_reply"])
    allowed = agent.allowed_actions
    return {
        "pipeline": pipeline_dry_run(data, config=config),
        "draft": draft is not None,
        "lint": lint,
        "agent": agent,
        "rules": rules,
        "signals": signals,
        "context": context,
        "trace": result,
        "totals": totals if action else None,
        "money": data.get("money"),
        "guardrails": guardrails,
        "action_allowed": None if action is None else action_allowed(allowed, action),
    }


class _RolledBack(Exception):
    """Leaves the dry run's transaction: nothing it wrote stays."""


def pipeline_dry_run(data: dict[str, Any], *, config: TenantConfig | None = None) -> dict[str, Any]:
    """The pipeline's decide step itself (``pipeline.conversation_decide``: risk
    auto-escalation, escalation and handoff rules, the router, stall detection, whether an agent
    answers and whether the model-driven orchestrator would be asked) on a conversation made for
    the test with the sample's channel, attempts, turns and customer, inside a transaction that
    is rolled back: nothing is kept, no notification or task leaves (they wait for a commit
    that never comes), no agent runtime nor model is called (that is the run phase)."""
    agent: Agent = data["agent"]
    given = {
        "intent": data.get("intent") or None,
        "sentiment": data.get("sentiment"),
        "risk": data.get("risk"),
    }
    signals = {name: value for name, value in given.items() if value is not None}
    outcome: dict[str, Any] = {}
    try:
        with transaction.atomic():
            conv = Conversation.objects.create(
                tenant=agent.tenant,
                channel=data["channel"],
                customer_ref="rule-tester",
                customer_attributes=data.get("customer") or {},
                customer_verified=bool(data.get("verified")),
                language=data.get("language") or "",
                entry_agent=agent,
                current_agent=agent,
                state=State.ACTIVE,
                attempts=data["attempts"],
                turns=max(int(data["turns"]) - 1, 0),
            )
            result = conversation_decide(
                conversation=conv, text=data.get("message") or "", signals=signals, config=config
            )
            conv = result.conversation
            outcome = {
                "events": [
                    {"type": e.type, "agent": e.agent_slug, "rule": e.rule, "detail": e.detail}
                    for e in DecisionEvent.objects.filter(conversation=conv).order_by("id")
                    if e.type != "message.classified"
                ],
                "state": str(conv.state),
                "agent": conv.current_agent.slug,
                "agent_answers": result.ai_turn is not None,
                "model_asked": bool((conv.ai_turn_detail or {}).get("orchestrator"))
                and result.ai_turn is not None,
                "handoff": result.handoff,
                "notices": [m.text for m in result.notices],
            }
            raise _RolledBack
    except _RolledBack:
        pass
    return outcome


def agent_policy(agent: Agent) -> dict[str, Any]:
    """The agent's effective guardrail policy, read from the database (two rows at most)."""
    levels = {
        p.agent_id: p.as_document()
        for p in GuardrailPolicy.objects.filter(tenant_id=agent.tenant_id).filter(
            Q(agent__isnull=True) | Q(agent=agent)
        )
    }
    return effective_policy(levels.get(None), levels.get(agent.pk))


def guardrail_test(agent: Agent, reply: str) -> dict[str, Any]:
    verdict = evaluate(compile_policy(agent_policy(agent)), reply, done_actions=())
    return {
        "outcome": verdict.outcome,
        "text": verdict.text,
        "fired": [f.as_dict() for f in verdict.fired],
        "handover": verdict.blocked,
    }
