"""``GET /api/v1/metrics``: the figures of SPEC 9 for the caller's tenant (an API key, or a
manager), over a time window and optionally one agent."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_auth import request_tenant
from insight.metrics.selectors import metrics_summary
from insight.metrics.window import (
    parse_window,
)


def _rate(help_text: str):
    return serializers.FloatField(allow_null=True, min_value=0, max_value=1, help_text=help_text)


def _seconds(help_text: str):
    return serializers.FloatField(allow_null=True, help_text=help_text)


MetricsShape = inline_serializer(
    "Metrics",
    {
        "from": serializers.DateTimeField(),
        "to": serializers.DateTimeField(),
        "agentId": serializers.CharField(allow_null=True),
        "conversations": serializers.IntegerField(
            help_text="Conversations started in the window (with agentId: those it took part in)."
        ),
        "escalated": serializers.IntegerField(),
        "escalationRate": _rate("Share of the conversations that were escalated."),
        "stalled": serializers.IntegerField(),
        "stallRate": _rate("Share of the conversations that stalled."),
        "rerouted": serializers.IntegerField(),
        "rerouteRate": _rate("Share of the conversations that were re-routed."),
        "handoffSuccessRate": _rate(
            "Handoffs claimed within the first-response target of their priority and resolved "
            "afterwards, over the handoffs opened in the window."
        ),
        "handoffs": inline_serializer(
            "MetricsHandoffs",
            {
                "total": serializers.IntegerField(),
                "claimed": serializers.IntegerField(),
                "claimedWithinTarget": serializers.IntegerField(),
                "resolvedAfterHandoff": serializers.IntegerField(),
                "successful": serializers.IntegerField(),
                "unclaimed": serializers.IntegerField(),
                "meanSecondsToClaim": _seconds("Mean seconds from opening to claim."),
                "responseTargets": serializers.DictField(
                    child=serializers.DictField(child=serializers.IntegerField()),
                    help_text="Seconds by priority band: firstResponse and resolution.",
                ),
            },
        ),
        "meanTimeToResolution": inline_serializer(
            "MetricsResolution",
            {
                "seconds": _seconds("Mean seconds from start to resolution."),
                "resolved": serializers.IntegerField(),
                "byAgent": inline_serializer(
                    "MetricsResolutionByAgent",
                    {
                        "agentId": serializers.CharField(),
                        "name": serializers.CharField(),
                        "seconds": serializers.FloatField(),
                        "resolved": serializers.IntegerField(),
                    },
                    many=True,
                ),
                "byWorkflow": inline_serializer(
                    "MetricsResolutionByWorkflow",
                    {
                        "workflowId": serializers.IntegerField(),
                        "name": serializers.CharField(),
                        "seconds": serializers.FloatField(),
                        "resolved": serializers.IntegerField(),
                    },
                    many=True,
                ),
            },
        ),
        "actionFailureRate": _rate("Share of the finished action executions that failed."),
        "actionRetryRate": _rate("Share of the finished executions that needed a retry."),
        "actions": inline_serializer(
            "MetricsActions",
            {
                "finished": serializers.IntegerField(),
                "failed": serializers.IntegerField(),
                "retried": serializers.IntegerField(),
            },
        ),
        "approvalTurnaround": inline_serializer(
            "MetricsApprovals",
            {
                "requested": serializers.IntegerField(),
                "decided": serializers.IntegerField(),
                "pending": serializers.IntegerField(),
                "expired": serializers.IntegerField(),
                "meanSeconds": _seconds("Mean seconds from request to decision."),
                "p50Seconds": _seconds("Median seconds from request to decision."),
                "p90Seconds": _seconds("90th percentile seconds from request to decision."),
            },
        ),
        "guardrails": inline_serializer(
            "MetricsGuardrails",
            {
                "triggers": serializers.IntegerField(
                    help_text="guardrail.blocked and guardrail.redacted events in the window."
                ),
                "blocked": serializers.IntegerField(),
                "redacted": serializers.IntegerField(),
                "budgetExceeded": serializers.IntegerField(
                    help_text="Conversations stopped by a step, token or cost budget."
                ),
                "byRule": inline_serializer(
                    "MetricsGuardrailsByRule",
                    {
                        "rule": serializers.CharField(
                            help_text="pii.card, claim.issue_refund, tool_access..."
                        ),
                        "blocked": serializers.IntegerField(),
                        "redacted": serializers.IntegerField(),
                        "total": serializers.IntegerField(),
                    },
                    many=True,
                ),
                "byAgent": inline_serializer(
                    "MetricsGuardrailsByAgent",
                    {
                        "agentId": serializers.CharField(),
                        "blocked": serializers.IntegerField(),
                        "redacted": serializers.IntegerField(),
                        "total": serializers.IntegerField(),
                    },
                    many=True,
                ),
            },
        ),
        "people": inline_serializer(
            "MetricsPeople",
            {
                "username": serializers.CharField(),
                "name": serializers.CharField(),
                "handled": serializers.IntegerField(help_text="Handoffs they claimed."),
                "meanFirstResponseSeconds": _seconds(
                    "Mean seconds from the handover to their first message."
                ),
                "meanResolutionSeconds": _seconds(
                    "Mean seconds from the handover to closing it (resolved or handed back)."
                ),
                "breached": serializers.IntegerField(help_text="Handoffs past a target."),
                "csatRatings": serializers.IntegerField(),
                "csatMean": serializers.FloatField(allow_null=True),
            },
            many=True,
        ),
        "groups": inline_serializer(
            "MetricsGroups",
            {
                "id": serializers.IntegerField(),
                "name": serializers.CharField(),
                "handoffs": serializers.IntegerField(help_text="Handoffs that went to it."),
                "claimed": serializers.IntegerField(),
                "claimedByMembers": serializers.IntegerField(
                    help_text="Claimed by one of its members (the rest by anyone else)."
                ),
                "overflowed": serializers.IntegerField(
                    help_text="Opened to every human agent (the group's overflowAfter)."
                ),
                "meanSecondsToClaim": _seconds("Mean seconds from the handover to a claim."),
                "meanFirstResponseSeconds": _seconds(
                    "Mean seconds from the handover to a person's first message."
                ),
                "breached": serializers.IntegerField(help_text="Handoffs past a target."),
                "csatRatings": serializers.IntegerField(
                    help_text="Ratings given in the window to conversations whose last handoff "
                    "to a group went to this one."
                ),
                "csatMean": serializers.FloatField(allow_null=True),
            },
            many=True,
        ),
        "taskCompletionRate": _rate(
            "End-to-end task completion: share of the conversations started in the window "
            "that were resolved."
        ),
        "tasks": inline_serializer(
            "MetricsTasks",
            {
                "started": serializers.IntegerField(),
                "resolved": serializers.IntegerField(),
                "resolvedByAI": serializers.IntegerField(
                    help_text="Resolved without ever being handed to people."
                ),
            },
        ),
        "agentHandoffSuccessRate": _rate(
            "Handoff success between agents: share of the agent-to-agent transfers after "
            "which the receiving agent answered."
        ),
        "agentHandoffs": inline_serializer(
            "MetricsAgentHandoffs",
            {"transfers": serializers.IntegerField(), "answered": serializers.IntegerField()},
        ),
        "agentCallFailureRate": _rate(
            "Share of the network runtimes' agent calls (openai, webhook) that failed."
        ),
        "agentCallRetryRate": _rate(
            "Share of the network runtimes' agent calls that needed a retry."
        ),
        "agentCalls": inline_serializer(
            "MetricsAgentCalls",
            {
                "runtime": serializers.CharField(help_text="builtin, openai, webhook"),
                "calls": serializers.IntegerField(),
                "failed": serializers.IntegerField(),
                "retried": serializers.IntegerField(),
                "failureRate": serializers.FloatField(allow_null=True),
                "retryRate": serializers.FloatField(allow_null=True),
            },
            many=True,
        ),
        "csat": inline_serializer(
            "MetricsCsat",
            {
                "ratings": serializers.IntegerField(),
                "mean": serializers.FloatField(allow_null=True),
                "byScore": serializers.DictField(
                    child=serializers.IntegerField(), help_text='"1" to "5": how many.'
                ),
                "comments": inline_serializer(
                    "MetricsCsatComment",
                    {
                        "conversationId": serializers.UUIDField(),
                        "score": serializers.IntegerField(),
                        "comment": serializers.CharField(),
                        "customer": serializers.CharField(),
                        "person": serializers.CharField(
                            allow_null=True, help_text="Who last had it (none: the AI alone)."
                        ),
                        "ratedAt": serializers.DateTimeField(),
                    },
                    many=True,
                    help_text="The latest words customers added to their rating, newest first.",
                ),
            },
        ),
    },
)


class MetricsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "from",
                str,
                description="Start of the window (ISO 8601; a date means its midnight in the "
                "tenant's time zone). Default: seven days before `to`.",
            ),
            OpenApiParameter(
                "to",
                str,
                description="End of the window, excluded (ISO 8601; a date means the end of "
                "that day). Default: now.",
            ),
            OpenApiParameter("agentId", str, description="Only this agent's figures."),
        ],
        responses=MetricsShape,
        description="The metrics of SPEC 9 for the caller's tenant.",
    )
    def get(self, request):
        tenant = request_tenant(request)
        window = parse_window(request.query_params, tenant=tenant)
        return Response(metrics_summary(window))


urlpatterns = [path("metrics", MetricsView.as_view(), name="api-metrics")]
