"""The demo tenant: what ``manage.py seed_demo`` loads. Idempotent: a second run adds only
what is missing and never changes a password someone has set."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model

from orchestration import services
from orchestration.models import ApiKey, BusinessHours, Tenant

DEMO_SLUG = "demo"
DEMO_PEOPLE = [
    # username, password, roles, full name
    ("manager", "demo-manager", ["manager"], "Maria Manager"),
    ("agent1", "demo-agent1", ["agent"], "Ada Agent"),
    ("agent2", "demo-agent2", ["agent"], "Alan Agent"),
    ("approver", "demo-approver", ["approver"], "Priya Approver"),
]


def seed_demo() -> list[str]:
    report: list[str] = []
    tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
    if tenant is None:
        tenant = services.tenant_create(
            slug=DEMO_SLUG, name="Demo Outfitters", time_zone="Europe/London"
        )
        for weekday in range(5):
            BusinessHours.objects.create(
                tenant=tenant, weekday=weekday, opens=dt.time(8), closes=dt.time(20)
            )
        BusinessHours.objects.create(
            tenant=tenant, weekday=5, opens=dt.time(10), closes=dt.time(16)
        )
        report.append(f"Created tenant {tenant.slug} ({tenant.name}).")
    else:
        report.append(f"Tenant {tenant.slug} already there.")

    user_model = get_user_model()
    for username, password, roles, full_name in DEMO_PEOPLE:
        if user_model.objects.filter(username=username).exists():
            continue
        first, last = full_name.split(" ", 1)
        services.user_create(
            username=username,
            tenant=tenant,
            roles=roles,
            password=password,
            email=f"{username}@demo.example",
            first_name=first,
            last_name=last,
        )

    report.extend(seed_demo_team(tenant))

    if not ApiKey.objects.filter(tenant=tenant, name="demo").exists():
        _, raw = services.api_key_create(tenant=tenant, name="demo")
        report.append(f"Demo API key (shown once): {raw}")

    report.append("Demo logins (username / password):")
    report.extend(
        f"  {username:<9} / {password:<14} {', '.join(roles)}"
        for username, password, roles, _ in DEMO_PEOPLE
    )
    return report


DEMO_AGENTS = [
    # id, name, role, domains, knowledge: (question, keywords, answer, action or None)
    ("agent-supervisor", "Front desk", "supervisor", [], []),
    (
        "agent-billing",
        "Billing",
        "specialist",
        ["billing", "refund"],
        [
            (
                "Why was I charged twice?",
                ["charged twice", "double charge", "duplicate charge"],
                "I'm sorry about the double charge. I can refund the duplicate payment for you.",
                ("issue_refund", {"orderId": "ORDER-1001", "amount": 49.0, "currency": "EUR"}),
            ),
            (
                "Where can I find my invoice?",
                ["invoice", "receipt", "bill"],
                "Your invoices are under Account > Billing; each can be downloaded as a PDF.",
                None,
            ),
        ],
    ),
    (
        "agent-tech",
        "Tech support",
        "specialist",
        ["technical"],
        [
            (
                "The app keeps crashing",
                ["crash", "crashing", "freezes", "error"],
                "Please update to the latest version and restart your device; "
                "if it still crashes, tell me the error message you see.",
                None,
            ),
        ],
    ),
    (
        "agent-returns",
        "Returns",
        "specialist",
        ["returns", "shipping"],
        [
            (
                "How do I return an item?",
                ["return", "send back", "exchange"],
                "You can return any item within 30 days from Orders > Return an item; "
                "the label is free.",
                None,
            ),
        ],
    ),
    (
        "agent-retention",
        "Retention",
        "specialist",
        ["cancellation"],
        [
            (
                "I want to cancel my subscription",
                ["cancel", "unsubscribe", "close my account"],
                "I'm sorry to see you go. Before you cancel, may I offer you two months at "
                "half price?",
                None,
            ),
        ],
    ),
]

DEMO_RULES = {
    "escalation": {
        "maxAttempts": 3,
        "intents": ["human_agent"],
        "targetAgentId": None,
        "escalateToHuman": True,
    },
    "handoffs": [
        {
            "condition": 'intent == "billing" or intent == "refund"',
            "targetAgentId": "agent-billing",
        },
        {"condition": 'intent == "technical"', "targetAgentId": "agent-tech"},
        {"condition": 'intent in ["returns", "shipping"]', "targetAgentId": "agent-returns"},
        {
            "condition": '"churn_risk" in risk or intent == "cancellation"',
            "targetAgentId": "agent-retention",
        },
    ],
    "approvals": {
        "required": True,
        "actions": [
            {"action": "issue_refund", "when": "params.amount > 100"},
            "modify_account",
            "access_sensitive_data",
        ],
        "approvers": ["approver", "group:finance"],
    },
}

DEMO_WORKFLOW = {
    "name": "Technical triage",
    "stepBudget": 6,
    "steps": [
        {"agent": "agent-supervisor", "condition": "start", "outputs": ["category"]},
        {"agent": "agent-tech", "condition": 'category == "technical"', "outputs": ["resolution"]},
        {"agent": "agent-billing", "condition": 'category == "billing"', "outputs": ["resolution"]},
    ],
}


def seed_demo_team(tenant: Tenant) -> list[str]:
    """The demo's AI team: a supervisor and four specialists with knowledge, the seeds' rules
    and a workflow. Added only when the tenant has no agents yet."""
    from agents.models import Agent
    from agents.rule_sets import rules_replace
    from agents.services import agent_create
    from agents.workflows import workflow_create
    from approvals.models import ApproverGroup

    if Agent.objects.filter(tenant=tenant).exists():
        return []
    supervisor = None
    for slug, name, role, domains, knowledge in DEMO_AGENTS:
        agent = agent_create(
            tenant=tenant,
            slug=slug,
            name=name,
            role=role,
            supervisor=supervisor,
            domains=domains,
            knowledge=[
                {
                    "question": question,
                    "keywords": keywords,
                    "answer": answer,
                    "action": {"name": action[0], "params": action[1]} if action else None,
                }
                for question, keywords, answer, action in knowledge
            ],
        )
        supervisor = supervisor or agent
    finance, _ = ApproverGroup.objects.get_or_create(tenant=tenant, name="finance")
    finance.members.add(*get_user_model().objects.filter(username="approver"))
    rules_replace(agent=supervisor, document=DEMO_RULES, via="seed")
    workflow_create(tenant=tenant, data=DEMO_WORKFLOW)
    return [f"Created the demo AI team: {', '.join(a[0] for a in DEMO_AGENTS)}, with rules."]
