"""Every operation of the API (``/api/schema/``'s operationId), the HTTP method and path it is,
and the client method that calls it. The client builds its requests from this table, and the
test suite checks it against the server's schema both ways: an operation without a method, or
a method for an operation the server no longer has, fails the tests."""

from __future__ import annotations

from typing import NamedTuple


class Operation(NamedTuple):
    method: str
    path: str
    client_method: str  # attribute path on Client and AsyncClient


OPERATIONS: dict[str, Operation] = {
    # agents
    "v1_agents_list": Operation("GET", "/api/v1/agents", "agents.list"),
    "v1_agents_create": Operation("POST", "/api/v1/agents", "agents.create"),
    "v1_agents_retrieve": Operation("GET", "/api/v1/agents/{agent_id}", "agents.get"),
    "v1_agents_partial_update": Operation("PATCH", "/api/v1/agents/{agent_id}", "agents.update"),
    "v1_agents_destroy": Operation("DELETE", "/api/v1/agents/{agent_id}", "agents.delete"),
    # orchestration rules
    "v1_agents_orchestration_rules_retrieve": Operation(
        "GET", "/api/v1/agents/{agent_id}/orchestration/rules", "orchestration.get_rules"
    ),
    "v1_agents_orchestration_rules_create": Operation(
        "POST", "/api/v1/agents/{agent_id}/orchestration/rules", "orchestration.create_rules"
    ),
    "v1_agents_orchestration_rules_destroy": Operation(
        "DELETE", "/api/v1/agents/{agent_id}/orchestration/rules", "orchestration.delete_rules"
    ),
    "v1_agents_orchestration_rules_test_create": Operation(
        "POST", "/api/v1/agents/{agent_id}/orchestration/rules/test", "orchestration.test_rules"
    ),
    "v1_agents_orchestration_rules_versions_list": Operation(
        "GET", "/api/v1/agents/{agent_id}/orchestration/rules/versions", "orchestration.versions"
    ),
    "v1_agents_orchestration_rules_versions_restore_create": Operation(
        "POST",
        "/api/v1/agents/{agent_id}/orchestration/rules/versions/{version}/restore",
        "orchestration.restore",
    ),
    # orchestrator settings
    "v1_orchestrator_settings_retrieve": Operation(
        "GET", "/api/v1/orchestrator-settings", "settings.get"
    ),
    "v1_orchestrator_settings_partial_update": Operation(
        "PATCH", "/api/v1/orchestrator-settings", "settings.update"
    ),
    "v1_agents_orchestrator_settings_retrieve": Operation(
        "GET", "/api/v1/agents/{agent_id}/orchestrator-settings", "settings.get_for_agent"
    ),
    "v1_agents_orchestrator_settings_partial_update": Operation(
        "PATCH", "/api/v1/agents/{agent_id}/orchestrator-settings", "settings.update_for_agent"
    ),
    # intents
    "intents_list": Operation("GET", "/api/v1/intents", "intents.list"),
    "intents_set": Operation("PUT", "/api/v1/intents/{name}", "intents.set"),
    "intents_destroy": Operation("DELETE", "/api/v1/intents/{name}", "intents.delete"),
    # workflows
    "workflows_list": Operation("GET", "/api/v1/workflows", "workflows.list"),
    "workflows_create": Operation("POST", "/api/v1/workflows", "workflows.create"),
    "workflows_retrieve": Operation("GET", "/api/v1/workflows/{workflow_id}", "workflows.get"),
    "workflows_replace": Operation("PUT", "/api/v1/workflows/{workflow_id}", "workflows.update"),
    "workflows_destroy": Operation("DELETE", "/api/v1/workflows/{workflow_id}", "workflows.delete"),
    # conversations
    "v1_conversations_list": Operation("GET", "/api/v1/conversations", "conversations.list"),
    "v1_conversations_create": Operation("POST", "/api/v1/conversations", "conversations.create"),
    "v1_conversations_bulk_create": Operation(
        "POST", "/api/v1/conversations/bulk", "conversations.bulk"
    ),
    "v1_notes_partial_update": Operation(
        "PATCH", "/api/v1/notes/{note_id}", "conversations.edit_note"
    ),
    "v1_conversations_retrieve": Operation(
        "GET", "/api/v1/conversations/{conversation_id}", "conversations.get"
    ),
    "v1_conversations_messages_list": Operation(
        "GET", "/api/v1/conversations/{conversation_id}/messages", "conversations.messages"
    ),
    "v1_conversations_messages_create": Operation(
        "POST", "/api/v1/conversations/{conversation_id}/messages", "conversations.send"
    ),
    "v1_conversations_partial_update": Operation(
        "PATCH", "/api/v1/conversations/{conversation_id}", "conversations.update_customer"
    ),
    "v1_conversations_merge_create": Operation(
        "POST", "/api/v1/conversations/{conversation_id}/merge", "conversations.merge"
    ),
    "v1_conversations_copies_list": Operation(
        "GET", "/api/v1/conversations/{conversation_id}/copies", "conversations.copies"
    ),
    "v1_conversations_copies_create": Operation(
        "POST", "/api/v1/conversations/{conversation_id}/copies", "conversations.send_copy"
    ),
    "v1_conversations_tags_update": Operation(
        "PUT", "/api/v1/conversations/{conversation_id}/tags/{name}", "conversations.tag"
    ),
    "v1_conversations_tags_destroy": Operation(
        "DELETE", "/api/v1/conversations/{conversation_id}/tags/{name}", "conversations.untag"
    ),
    "v1_conversations_files_create": Operation(
        "POST", "/api/v1/conversations/{conversation_id}/files", "conversations.send_file"
    ),
    "v1_conversations_events_list": Operation(
        "GET", "/api/v1/conversations/{conversation_id}/events", "conversations.events"
    ),
    "v1_conversations_actions_create": Operation(
        "POST", "/api/v1/conversations/{conversation_id}/actions", "conversations.propose_action"
    ),
    # approvals
    "v1_approvals_list": Operation("GET", "/api/v1/approvals", "approvals.list"),
    "v1_approvals_retrieve": Operation("GET", "/api/v1/approvals/{approval_id}", "approvals.get"),
    "v1_approvals_approve_create": Operation(
        "POST", "/api/v1/approvals/{approval_id}/approve", "approvals.approve"
    ),
    "v1_approvals_deny_create": Operation(
        "POST", "/api/v1/approvals/{approval_id}/deny", "approvals.deny"
    ),
    # handoffs
    "v1_handoffs_list": Operation("GET", "/api/v1/handoffs", "handoffs.list"),
    "v1_handoffs_retrieve": Operation("GET", "/api/v1/handoffs/{handoff_id}", "handoffs.get"),
    "v1_handoffs_claim_create": Operation(
        "POST", "/api/v1/handoffs/{handoff_id}/claim", "handoffs.claim"
    ),
    "v1_handoffs_resolve_create": Operation(
        "POST", "/api/v1/handoffs/{handoff_id}/resolve", "handoffs.resolve"
    ),
    "v1_handoffs_snooze_create": Operation(
        "POST", "/api/v1/handoffs/{handoff_id}/snooze", "handoffs.snooze"
    ),
    "v1_handoffs_priority_create": Operation(
        "POST", "/api/v1/handoffs/{handoff_id}/priority", "handoffs.set_priority"
    ),
    "v1_handoffs_hand_back_create": Operation(
        "POST", "/api/v1/handoffs/{handoff_id}/hand-back", "handoffs.hand_back"
    ),
    "v1_handoffs_files_create": Operation(
        "POST", "/api/v1/handoffs/{handoff_id}/files", "handoffs.send_file"
    ),
    "v1_handoffs_messages_create": Operation(
        "POST", "/api/v1/handoffs/{handoff_id}/messages", "handoffs.send"
    ),
    # mentions (a person's token)
    "v1_customers_list": Operation("GET", "/api/v1/customers", "customers.list"),
    "v1_customers_retrieve": Operation("GET", "/api/v1/customers/{customer_id}", "customers.get"),
    "v1_mentions_retrieve": Operation("GET", "/api/v1/mentions", "mentions.list"),
    "v1_mentions_read_create": Operation("POST", "/api/v1/mentions/read", "mentions.read"),
    # blocked customers
    "v1_groups_list": Operation("GET", "/api/v1/groups", "groups.list"),
    "v1_groups_create": Operation("POST", "/api/v1/groups", "groups.create"),
    "v1_groups_partial_update": Operation("PATCH", "/api/v1/groups/{group_id}", "groups.update"),
    "v1_groups_destroy": Operation("DELETE", "/api/v1/groups/{group_id}", "groups.delete"),
    "v1_blocks_list": Operation("GET", "/api/v1/blocks", "blocks.list"),
    "v1_blocks_create": Operation("POST", "/api/v1/blocks", "blocks.create"),
    "v1_blocks_destroy": Operation("DELETE", "/api/v1/blocks/{block_id}", "blocks.delete"),
    # customers' data erased at their request
    "v1_erasures_list": Operation("GET", "/api/v1/erasures", "erasures.list"),
    "v1_erasures_create": Operation("POST", "/api/v1/erasures", "erasures.create"),
    "v1_customer_data_retrieve": Operation("GET", "/api/v1/customer-data", "customer_data.get"),
    # webhook endpoints
    "v1_webhooks_list": Operation("GET", "/api/v1/webhooks", "webhooks.list"),
    "v1_webhooks_create": Operation("POST", "/api/v1/webhooks", "webhooks.create"),
    "v1_webhooks_partial_update": Operation(
        "PATCH", "/api/v1/webhooks/{endpoint_id}", "webhooks.update"
    ),
    "v1_webhooks_destroy": Operation("DELETE", "/api/v1/webhooks/{endpoint_id}", "webhooks.delete"),
    "v1_webhooks_test_create": Operation(
        "POST", "/api/v1/webhooks/{endpoint_id}/test", "webhooks.test"
    ),
    "v1_webhooks_deliveries_list": Operation(
        "GET", "/api/v1/webhooks/{endpoint_id}/deliveries", "webhooks.deliveries"
    ),
    # canned replies
    "v1_canned_replies_list": Operation("GET", "/api/v1/canned-replies", "canned_replies.list"),
    "v1_canned_replies_create": Operation(
        "POST", "/api/v1/canned-replies", "canned_replies.create"
    ),
    "v1_canned_replies_retrieve": Operation(
        "GET", "/api/v1/canned-replies/{reply_id}", "canned_replies.get"
    ),
    "v1_canned_replies_partial_update": Operation(
        "PATCH", "/api/v1/canned-replies/{reply_id}", "canned_replies.update"
    ),
    "v1_canned_replies_destroy": Operation(
        "DELETE", "/api/v1/canned-replies/{reply_id}", "canned_replies.delete"
    ),
    # stacks and templates
    "stack_export": Operation("GET", "/api/v1/agents/{agent_id}/stack/export", "stacks.export"),
    "stack_import": Operation("POST", "/api/v1/stacks/import", "stacks.import_"),
    "stack_templates_list": Operation("GET", "/api/v1/stack-templates", "stacks.templates"),
    "stack_templates_create": Operation(
        "POST", "/api/v1/stack-templates", "stacks.publish_template"
    ),
    "stack_templates_retrieve": Operation(
        "GET", "/api/v1/stack-templates/{template_id}", "stacks.get_template"
    ),
    "stack_templates_destroy": Operation(
        "DELETE", "/api/v1/stack-templates/{template_id}", "stacks.delete_template"
    ),
    "stack_templates_instantiate": Operation(
        "POST", "/api/v1/stack-templates/{template_id}/instantiate", "stacks.instantiate"
    ),
    # metrics, who am I, API keys
    "v1_metrics_retrieve": Operation("GET", "/api/v1/metrics", "metrics.get"),
    "v1_me_retrieve": Operation("GET", "/api/v1/me", "me"),
    "v1_api_keys_list": Operation("GET", "/api/v1/api-keys", "api_keys.list"),
    "v1_api_keys_create": Operation("POST", "/api/v1/api-keys", "api_keys.create"),
    "v1_api_keys_retrieve": Operation("GET", "/api/v1/api-keys/{key_id}", "api_keys.get"),
    "v1_api_keys_revoke_create": Operation(
        "POST", "/api/v1/api-keys/{key_id}/revoke", "api_keys.revoke"
    ),
}
