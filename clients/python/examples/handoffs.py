rules = client.orchestration.create_rules(
    "agent-123",
    {
        "handoffs": [
            {
                "condition": 'intent == "technical_support"',
                "targetAgentId": "agent-tech-support",
            },
            {
                "condition": 'intent == "billing"',
                "targetAgentId": "agent-billing",
            },
            {
                "condition": "sentiment < -0.5",
                "targetAgentId": "agent-retention",
            },
        ]
    },
)
