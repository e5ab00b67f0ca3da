"""API v1: the rule tester (issue 20 point 5) on an agent's saved rules or on a draft.

``POST /api/v1/agents/{agentId}/orchestration/rules/test`` runs what the admin's rule tester
runs (``orchestration.rule_tester``: the signals detected with the stack's settings, the trace
of the rules, the pipeline's own decide step in a transaction that is rolled back) and answers
with the lint warnings of the rules tried. A ``draft`` (a rules document in the shape of
``POST .../orchestration/rules``) is checked as a save would check it (400 naming each bad
field, ``draft.handoffs[1].condition``), never saved. The body is validated by the admin
tester's form, so both doors accept and refuse the same things.
"""

from __future__ import annotations

import json
from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import Agent
from agents.rule_sets import RulesInvalid, validate_rules
from core.api_auth import request_tenant, tenant_get_or_404
from orchestration.rule_tester import RuleTesterForm, run_rule_test

# the form's fields by the API's names
API_NAMES = {
    "message": "message",
    "intent": "signals.intent",
    "sentiment": "signals.sentiment",
    "risk": "signals.risk",
    "channel": "channel",
    "attempts": "attempts",
    "turns": "turns",
    "language": "language",
    "customer": "customer",
    "verified": "verified",
    "action": "action",
    "params": "params",
    "totals": "totals",
    "draft": "draft",
    "agent": "agentId",
}
BODY_KEYS = {
    "message",
    "signals",
    "channel",
    "attempts",
    "turns",
    "language",
    "customer",
    "verified",
    "action",
    "params",
    "totals",
    "draft",
}

TestInput = inline_serializer(
    "RuleTestInput",
    {
        "message": serializers.CharField(required=False, allow_blank=True),
        "signals": inline_serializer(
            "RuleTestSignals",
            {
                "intent": serializers.CharField(required=False, allow_null=True),
                "sentiment": serializers.FloatField(required=False, allow_null=True),
                "risk": serializers.ListField(
                    child=serializers.CharField(), required=False, allow_null=True
                ),
            },
            required=False,
            help_text="Override the detected signals (risk [] means none).",
        ),
        "channel": serializers.ChoiceField(
            choices=["web", "voice", "email", "api"], required=False
        ),
        "attempts": serializers.IntegerField(min_value=0, required=False),
        "turns": serializers.IntegerField(min_value=0, required=False),
        "language": serializers.CharField(required=False),
        "customer": serializers.DictField(required=False, help_text="Customer attributes."),
        "verified": serializers.BooleanField(
            required=False,
            help_text="The customer signed in on your website (verified in conditions).",
        ),
        "action": serializers.CharField(required=False),
        "params": serializers.DictField(required=False),
        "totals": serializers.DictField(required=False),
        "draft": serializers.DictField(
            required=False,
            allow_null=True,
            help_text="A rules document to try instead of the agent's own (not saved).",
        ),
    },
)
TestAnswer = inline_serializer(
    "RuleTestResult",
    {
        "agentId": serializers.CharField(),
        "rules": serializers.DictField(help_text="{owner, version, draft}"),
        "detected": serializers.DictField(help_text="{intent, sentiment, risk} as detected"),
        "context": serializers.DictField(help_text="What the rules saw."),
        "decision": serializers.CharField(),
        "trace": serializers.ListField(child=serializers.DictField()),
        "approvalNeeded": serializers.BooleanField(allow_null=True),
        "pipeline": serializers.DictField(
            help_text="{state, agentId, agentAnswers, modelAsked, handoff, notices, events}"
        ),
        "warnings": serializers.ListField(child=serializers.DictField()),
    },
)


def _bad(field: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({field: [message]})


def _json(value: Any) -> str:
    return "" if value in (None, {}) else json.dumps(value)


def form_data(agent: Agent, body: Any) -> dict[str, Any]:
    """The admin tester's form data from the API's body; type errors are 400s by field."""
    if not isinstance(body, dict):
        raise exceptions.ValidationError("Expected a JSON object.")
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise _bad(unknown[0], f"unknown field (known: {', '.join(sorted(BODY_KEYS))})")
    signals = body.get("signals") or {}
    if not isinstance(signals, dict):
        raise _bad("signals", "must be an object with intent, sentiment and/or risk")
    for name in ("message", "channel", "language", "action"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise _bad(name, "must be a string")
    for name in ("customer", "params", "totals", "draft"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise _bad(name, "must be an object")
    if body.get("verified") is not None and not isinstance(body["verified"], bool):
        raise _bad("verified", "must be true or false")
    for name in ("attempts", "turns"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _bad(name, "must be a whole number")
    intent, sentiment, risk = (signals.get(k) for k in ("intent", "sentiment", "risk"))
    if intent is not None and not isinstance(intent, str):
        raise _bad("signals.intent", "must be a string")
    if sentiment is not None and (
        isinstance(sentiment, bool) or not isinstance(sentiment, int | float)
    ):
        raise _bad("signals.sentiment", "must be a number from -1 to 1")
    if risk is not None and (
        not isinstance(risk, list) or not all(isinstance(r, str) and r for r in risk)
    ):
        raise _bad("signals.risk", "must be a list of risk categories")
    return {
        "agent": agent.pk,
        "message": body.get("message") or "",
        "intent": intent or "",
        "sentiment": "" if sentiment is None else str(sentiment),
        "risk": "" if risk is None else (",".join(risk) or "none"),
        "channel": body.get("channel") or "web",
        "attempts": str(body.get("attempts") or 0),
        "turns": str(body["turns"] if body.get("turns") is not None else 1),
        "language": body.get("language") or "en",
        "customer": _json(body.get("customer")),
        **({"verified": "on"} if body.get("verified") else {}),
        "action": body.get("action") or "",
        "params": _json(body.get("params")),
        "totals": _json(body.get("totals")),
        "draft": "" if body.get("draft") is None else json.dumps(body["draft"]),
    }


def _draft_errors(agent: Agent, draft: Any) -> None:
    if draft is None or not isinstance(draft, dict):
        return
    try:
        validate_rules(draft, agent=agent)
    except RulesInvalid as exc:
        raise exceptions.ValidationError(
            {f"draft.{where}": messages for where, messages in exc.errors.items()}
        ) from None


def result_json(result: dict[str, Any]) -> dict[str, Any]:
    rules, signals, found = result["rules"], result["signals"], result["trace"]
    pipeline = result["pipeline"]
    return {
        "agentId": result["agent"].slug,
        "rules": {"owner": rules.owner, "version": rules.version, "draft": result["draft"]},
        "detected": signals.as_dict(),
        "context": result["context"],
        "decision": found.decision,
        "trace": [
            {
                "kind": outcome.kind,
                "label": outcome.label,
                "fired": outcome.fired,
                "destination": outcome.destination,
                "fallback": outcome.fallback,
                "why": outcome.why,
            }
            for outcome in found.outcomes
        ],
        "approvalNeeded": found.approval_needed,
        "pipeline": {
            "state": pipeline.get("state"),
            "agentId": pipeline.get("agent"),
            "agentAnswers": pipeline.get("agent_answers"),
            "modelAsked": pipeline.get("model_asked"),
            "handoff": pipeline.get("handoff"),
            "notices": pipeline.get("notices", []),
            "events": [
                {"type": e["type"], "agentId": e["agent"], "rule": e["rule"], "detail": e["detail"]}
                for e in pipeline.get("events", [])
            ],
        },
        "warnings": result["lint"]["warnings"],
    }


class RuleTestView(APIView):
    @extend_schema(
        summary="Test an agent's rules, or a draft, on a sample message",
        description="Detects the signals (with the stack's risk-detection settings), traces "
        "the rules and runs the pipeline's decide step on a throwaway conversation (rolled "
        "back: nothing is kept, no model or runtime is called). With `draft`, the draft is "
        "checked (400 naming each bad field), linted and tried in place of the agent's own "
        "rules without being saved; `warnings` are the lint's findings on the rules tried.",
        request=TestInput,
        responses={200: TestAnswer},
        examples=[
            OpenApiExample(
                "A draft with a misspelt intent",
                value={
                    "message": "I will contact my lawyer and sue you",
                    "draft": {
                        "handoffs": [
                            {"condition": 'intent == "biling"', "targetAgentId": "agent-billing"}
                        ]
                    },
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, agent_id: str) -> Response:
        tenant = request_tenant(request)
        agent = tenant_get_or_404(request, Agent, slug=agent_id)
        data = form_data(agent, request.data)
        _draft_errors(agent, request.data.get("draft"))
        form = RuleTesterForm(data, tenant=tenant)
        if not form.is_valid():
            raise exceptions.ValidationError(
                {
                    API_NAMES.get(name, name): [str(m) for m in messages]
                    for name, messages in form.errors.items()
                }
            )
        return Response(result_json(run_rule_test(form.cleaned_data)))


urlpatterns = [
    path(
        "agents/<str:agent_id>/orchestration/rules/test",
        RuleTestView.as_view(),
        name="api-rule-test",
    ),
]
