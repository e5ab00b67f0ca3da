workflow = client.workflows.create(
    {
        "name": "Support Escalation",
        "steps": [
            {
                "agent": "agent-triage",
                "condition": "start",
                "outputs": ["category", "priority"],
            },
            {
                "agent": "agent-specialist",
                "condition": 'category == "technical"',
                "inputs": ["category", "context"],
            },
            {
                "agent": "agent-supervisor",
                "condition": 'priority == "critical"',
                "inputs": ["all"],
            },
        ],
    }
)
