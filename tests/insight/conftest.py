from __future__ import annotations

import pytest


@pytest.fixture
def team_options():
    """The shared ``team`` (a front desk, billing and tech with their knowledge) with the
    front desk's rules: billing goes to the billing specialist, a request for a human to
    people."""
    return {
        "rules": {
            "escalation": {"intents": ["human_agent"], "escalateToHuman": True},
            "handoffs": [{"condition": 'intent == "billing"', "targetAgentId": "agent-billing"}],
        }
    }
