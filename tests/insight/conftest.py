from __future__ import annotations

import pytest

from tests.insight.support import say, start


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


@pytest.fixture
def history(key_client, team):
    """Six conversations through the real pipeline, oldest first: billing, technical,
    billing then technical, technical, billing, and a greeting."""
    script = [
        [("Where is my invoice?", "billing")],
        [("The app crashes", "technical")],
        [("Where is my invoice?", "billing"), ("The app crashes", "technical")],
        [("The app crashes again", "technical")],
        [("Where is my invoice?", "billing"), ("Where is my invoice, again?", "billing")],
        [("Hello there", None)],
    ]
    ids = []
    for turns in script:
        conv = start(key_client)
        for text, intent in turns:
            say(key_client, conv["id"], text, **({"intent": intent} if intent else {}))
        ids.append(conv["id"])
    return ids
