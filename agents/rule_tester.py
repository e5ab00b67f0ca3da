"""The admin's rule tester: a sample message with signals and customer attributes in; which
rules fire, in what order and why, out. It runs the same compiled rules as the orchestrator
(``agents.rule_engine``) and the same detectors, and writes nothing.

Given a sample reply, it also shows what the agent's effective guardrail policy would do to it
(the same compiled engine as the orchestrator): the rules that fire, the action taken and the
resulting text. No action counts as executed, so any claim of a completed action fires."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q

from agents.admin_fields import CommaListField, JSONObjectField
from agents.detectors import CATEGORIES, detect
from agents.guardrails import action_allowed, compile_policy, effective_policy, evaluate
from agents.models import Agent, GuardrailPolicy
from agents.rule_engine import rules_for, trace
from approvals.registry import ParamsError, action_names, get_action
from orchestration.models import Tenant
from orchestration.scoping import scope_queryset

CHANNELS = ["web", "voice", "email", "api"]


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
    action = forms.ChoiceField(
        choices=[("", "—"), *[(n, n) for n in action_names()]],
        required=False,
        help_text="Optionally, an action the agent proposes: does it need approval?",
    )
    params = JSONObjectField(
        label="Action parameters", help_text='e.g. {"orderId": "A1", "amount": 150}'
    )
    sample_reply = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        required=False,
        max_length=50_000,
        help_text="Optionally, a reply of the agent: what would its guardrails do to it?",
    )

    def __init__(self, *args, tenant: Tenant | None, **kwargs):
        super().__init__(*args, **kwargs)
        agents = Agent.objects.select_related("tenant")
        if tenant is not None:
            agents = scope_queryset(agents, tenant)
        self.fields["agent"].queryset = agents

    def clean_risk(self):
        risk = self.cleaned_data["risk"]
        if risk == ["none"]:
            return []
        unknown = [r for r in risk if r not in CATEGORIES]
        if unknown:
            raise forms.ValidationError(f"unknown risk category '{unknown[0]}'")
        return risk or None

    def clean(self):
        cleaned = super().clean()
        action = cleaned.get("action")
        if action:
            try:
                get_action(action).validate_params(cleaned.get("params") or {})
            except ParamsError as exc:
                self.add_error("params", str(exc))
        elif cleaned.get("params"):
            self.add_error("action", "choose the action these parameters are for")
        return cleaned


def run_rule_test(data: dict[str, Any]) -> dict[str, Any]:
    agent: Agent = data["agent"]
    domains = sorted(
        {
            d
            for domains in Agent.objects.filter(tenant=agent.tenant).values_list(
                "domains", flat=True
            )
            for d in domains
        }
    )
    signals = detect(data.get("message") or "", domains=domains)
    context = {
        "intent": data.get("intent") or signals.intent,
        "sentiment": data["sentiment"] if data.get("sentiment") is not None else signals.sentiment,
        "risk": data["risk"] if data.get("risk") is not None else list(signals.risk),
        "channel": data["channel"],
        "attempts": data["attempts"],
        "turns": data["turns"],
        "language": data.get("language") or None,
        "customer": data.get("customer") or {},
    }
    rules = rules_for(agent)
    result = trace(rules, context, action=data.get("action") or None, params=data.get("params"))
    guardrails = None
    if data.get("sample_reply"):
        guardrails = guardrail_test(agent, data["sample_reply"])
    allowed = agent.allowed_actions
    action = data.get("action") or None
    return {
        "agent": agent,
        "rules": rules,
        "signals": signals,
        "context": context,
        "trace": result,
        "guardrails": guardrails,
        "action_allowed": None if action is None else action_allowed(allowed, action),
    }


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
