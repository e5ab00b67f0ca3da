"""The JavaScript client's own tests (``node --test clients/js/test/``) against the live
server, on a tenant made as the docs' examples expect it; then what they left behind is read
back from the database."""

from __future__ import annotations

import re
import subprocess

import pytest

from agents.models import Workflow
from agents.rule_sets import rules_document, ruleset_with_children
from agents.rules_api import DOCS_EXAMPLES
from tests.clients.conftest import JS_CLIENT, ROOT, client_env, mention_docs_agent

pytestmark = pytest.mark.clients

NODE_TIMEOUT = 300


def test_the_javascript_client_passes_its_tests_against_the_live_server(
    node, docs_tenant, limited_tenant, server_url
):
    mention_docs_agent(docs_tenant)  # for the test of mentions (docs-agent's token)
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", str(JS_CLIENT / "test")],
        cwd=ROOT,
        env=client_env(server_url, docs_tenant, limited_tenant),
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    counts = dict(re.findall(r"^# (tests|pass|fail|skipped) (\d+)$", result.stdout, re.M))
    assert counts["fail"] == "0" and counts["skipped"] == "0", output
    assert int(counts["pass"]) == int(counts["tests"]) >= 8, output
    # what the docs' examples made, through the JavaScript client, as the server stored it
    agent = docs_tenant.tenant.agents.get(slug="agent-123")
    rules = rules_document(ruleset_with_children(agent))
    assert rules["escalation"] == DOCS_EXAMPLES["escalation"]["escalation"]
    assert rules["handoffs"] == DOCS_EXAMPLES["handoffs"]["handoffs"]
    assert rules["approvals"]["approvers"] == ["user-admin-123", "user-manager-456"]
    workflow = Workflow.objects.get(tenant=docs_tenant.tenant, name="Support Escalation")
    assert [step.inputs for step in workflow.steps.order_by("position")] == [
        ["all"],
        ["category", "context"],
        ["all"],
    ]
