// Every operation of the API (/api/schema/'s operationId): its HTTP method, its path, and the
// client method that calls it. The client builds its requests from this table, and the test
// suite checks it against the server's schema both ways (tests/clients/test_schema_coverage.py).

export const OPERATIONS = Object.freeze({
  // agents
  v1_agents_list: ['GET', '/api/v1/agents', 'agents.list'],
  v1_agents_create: ['POST', '/api/v1/agents', 'agents.create'],
  v1_agents_retrieve: ['GET', '/api/v1/agents/{agent_id}', 'agents.get'],
  v1_agents_partial_update: ['PATCH', '/api/v1/agents/{agent_id}', 'agents.update'],
  v1_agents_destroy: ['DELETE', '/api/v1/agents/{agent_id}', 'agents.delete'],
  // orchestration rules
  v1_agents_orchestration_rules_retrieve: ['GET', '/api/v1/agents/{agent_id}/orchestration/rules', 'orchestration.getRules'],
  v1_agents_orchestration_rules_create: ['POST', '/api/v1/agents/{agent_id}/orchestration/rules', 'orchestration.createRules'],
  v1_agents_orchestration_rules_destroy: ['DELETE', '/api/v1/agents/{agent_id}/orchestration/rules', 'orchestration.deleteRules'],
  v1_agents_orchestration_rules_test_create: ['POST', '/api/v1/agents/{agent_id}/orchestration/rules/test', 'orchestration.testRules'],
  v1_agents_orchestration_rules_versions_list: ['GET', '/api/v1/agents/{agent_id}/orchestration/rules/versions', 'orchestration.versions'],
  v1_agents_orchestration_rules_versions_restore_create: ['POST', '/api/v1/agents/{agent_id}/orchestration/rules/versions/{version}/restore', 'orchestration.restore'],
  // orchestrator settings
  v1_orchestrator_settings_retrieve: ['GET', '/api/v1/orchestrator-settings', 'settings.get'],
  v1_orchestrator_settings_partial_update: ['PATCH', '/api/v1/orchestrator-settings', 'settings.update'],
  v1_agents_orchestrator_settings_retrieve: ['GET', '/api/v1/agents/{agent_id}/orchestrator-settings', 'settings.getForAgent'],
  v1_agents_orchestrator_settings_partial_update: ['PATCH', '/api/v1/agents/{agent_id}/orchestrator-settings', 'settings.updateForAgent'],
  // intents
  intents_list: ['GET', '/api/v1/intents', 'intents.list'],
  intents_set: ['PUT', '/api/v1/intents/{name}', 'intents.set'],
  intents_destroy: ['DELETE', '/api/v1/intents/{name}', 'intents.delete'],
  // workflows
  workflows_list: ['GET', '/api/v1/workflows', 'workflows.list'],
  workflows_create: ['POST', '/api/v1/workflows', 'workflows.create'],
  workflows_retrieve: ['GET', '/api/v1/workflows/{workflow_id}', 'workflows.get'],
  workflows_replace: ['PUT', '/api/v1/workflows/{workflow_id}', 'workflows.update'],
  workflows_destroy: ['DELETE', '/api/v1/workflows/{workflow_id}', 'workflows.delete'],
  // conversations
  v1_conversations_list: ['GET', '/api/v1/conversations', 'conversations.list'],
  v1_conversations_bulk_create: ['POST', '/api/v1/conversations/bulk', 'conversations.bulk'],
  v1_conversations_create: ['POST', '/api/v1/conversations', 'conversations.create'],
  v1_notes_partial_update: ['PATCH', '/api/v1/notes/{note_id}', 'conversations.editNote'],
  v1_conversations_retrieve: ['GET', '/api/v1/conversations/{conversation_id}', 'conversations.get'],
  v1_conversations_messages_list: ['GET', '/api/v1/conversations/{conversation_id}/messages', 'conversations.messages'],
  v1_conversations_messages_create: ['POST', '/api/v1/conversations/{conversation_id}/messages', 'conversations.send'],
  v1_conversations_partial_update: ['PATCH', '/api/v1/conversations/{conversation_id}', 'conversations.updateCustomer'],
  v1_conversations_merge_create: ['POST', '/api/v1/conversations/{conversation_id}/merge', 'conversations.merge'],
  v1_conversations_copies_list: ['GET', '/api/v1/conversations/{conversation_id}/copies', 'conversations.copies'],
  v1_conversations_copies_create: ['POST', '/api/v1/conversations/{conversation_id}/copies', 'conversations.sendCopy'],
  v1_conversations_tags_update: ['PUT', '/api/v1/conversations/{conversation_id}/tags/{name}', 'conversations.tag'],
  v1_conversations_tags_destroy: ['DELETE', '/api/v1/conversations/{conversation_id}/tags/{name}', 'conversations.untag'],
  v1_conversations_files_create: ['POST', '/api/v1/conversations/{conversation_id}/files', 'conversations.sendFile'],
  v1_conversations_events_list: ['GET', '/api/v1/conversations/{conversation_id}/events', 'conversations.events'],
  v1_conversations_actions_create: ['POST', '/api/v1/conversations/{conversation_id}/actions', 'conversations.proposeAction'],
  // approvals
  v1_approvals_list: ['GET', '/api/v1/approvals', 'approvals.list'],
  v1_approvals_retrieve: ['GET', '/api/v1/approvals/{approval_id}', 'approvals.get'],
  v1_approvals_approve_create: ['POST', '/api/v1/approvals/{approval_id}/approve', 'approvals.approve'],
  v1_approvals_deny_create: ['POST', '/api/v1/approvals/{approval_id}/deny', 'approvals.deny'],
  // handoffs
  v1_handoffs_list: ['GET', '/api/v1/handoffs', 'handoffs.list'],
  v1_handoffs_retrieve: ['GET', '/api/v1/handoffs/{handoff_id}', 'handoffs.get'],
  v1_handoffs_claim_create: ['POST', '/api/v1/handoffs/{handoff_id}/claim', 'handoffs.claim'],
  v1_handoffs_resolve_create: ['POST', '/api/v1/handoffs/{handoff_id}/resolve', 'handoffs.resolve'],
  v1_handoffs_snooze_create: ['POST', '/api/v1/handoffs/{handoff_id}/snooze', 'handoffs.snooze'],
  v1_handoffs_priority_create: ['POST', '/api/v1/handoffs/{handoff_id}/priority', 'handoffs.setPriority'],
  v1_handoffs_hand_back_create: ['POST', '/api/v1/handoffs/{handoff_id}/hand-back', 'handoffs.handBack'],
  v1_handoffs_messages_create: ['POST', '/api/v1/handoffs/{handoff_id}/messages', 'handoffs.send'],
  v1_handoffs_files_create: ['POST', '/api/v1/handoffs/{handoff_id}/files', 'handoffs.sendFile'],
  // mentions (a person's token)
  v1_mentions_retrieve: ['GET', '/api/v1/mentions', 'mentions.list'],
  v1_mentions_read_create: ['POST', '/api/v1/mentions/read', 'mentions.read'],
  // blocked customers
  v1_groups_list: ['GET', '/api/v1/groups', 'groups.list'],
  v1_groups_create: ['POST', '/api/v1/groups', 'groups.create'],
  v1_groups_partial_update: ['PATCH', '/api/v1/groups/{group_id}', 'groups.update'],
  v1_groups_destroy: ['DELETE', '/api/v1/groups/{group_id}', 'groups.delete'],
  v1_blocks_list: ['GET', '/api/v1/blocks', 'blocks.list'],
  v1_blocks_create: ['POST', '/api/v1/blocks', 'blocks.create'],
  v1_blocks_destroy: ['DELETE', '/api/v1/blocks/{block_id}', 'blocks.delete'],
  // customers' data erased at their request
  v1_erasures_list: ['GET', '/api/v1/erasures', 'erasures.list'],
  v1_erasures_create: ['POST', '/api/v1/erasures', 'erasures.create'],
  v1_customer_data_retrieve: ['GET', '/api/v1/customer-data', 'customerData.get'],
  // webhook endpoints
  v1_webhooks_list: ['GET', '/api/v1/webhooks', 'webhooks.list'],
  v1_webhooks_create: ['POST', '/api/v1/webhooks', 'webhooks.create'],
  v1_webhooks_partial_update: ['PATCH', '/api/v1/webhooks/{endpoint_id}', 'webhooks.update'],
  v1_webhooks_destroy: ['DELETE', '/api/v1/webhooks/{endpoint_id}', 'webhooks.delete'],
  v1_webhooks_test_create: ['POST', '/api/v1/webhooks/{endpoint_id}/test', 'webhooks.test'],
  v1_webhooks_deliveries_list: ['GET', '/api/v1/webhooks/{endpoint_id}/deliveries', 'webhooks.deliveries'],
  // canned replies
  v1_canned_replies_list: ['GET', '/api/v1/canned-replies', 'cannedReplies.list'],
  v1_canned_replies_create: ['POST', '/api/v1/canned-replies', 'cannedReplies.create'],
  v1_canned_replies_retrieve: ['GET', '/api/v1/canned-replies/{reply_id}', 'cannedReplies.get'],
  v1_canned_replies_partial_update: ['PATCH', '/api/v1/canned-replies/{reply_id}', 'cannedReplies.update'],
  v1_canned_replies_destroy: ['DELETE', '/api/v1/canned-replies/{reply_id}', 'cannedReplies.delete'],
  // stacks and templates
  stack_export: ['GET', '/api/v1/agents/{agent_id}/stack/export', 'stacks.export'],
  stack_import: ['POST', '/api/v1/stacks/import', 'stacks.import'],
  stack_templates_list: ['GET', '/api/v1/stack-templates', 'stacks.templates'],
  stack_templates_create: ['POST', '/api/v1/stack-templates', 'stacks.publishTemplate'],
  stack_templates_retrieve: ['GET', '/api/v1/stack-templates/{template_id}', 'stacks.getTemplate'],
  stack_templates_destroy: ['DELETE', '/api/v1/stack-templates/{template_id}', 'stacks.deleteTemplate'],
  stack_templates_instantiate: ['POST', '/api/v1/stack-templates/{template_id}/instantiate', 'stacks.instantiate'],
  // metrics, who am I, API keys
  v1_metrics_retrieve: ['GET', '/api/v1/metrics', 'metrics.get'],
  v1_me_retrieve: ['GET', '/api/v1/me', 'me'],
  v1_api_keys_list: ['GET', '/api/v1/api-keys', 'apiKeys.list'],
  v1_api_keys_create: ['POST', '/api/v1/api-keys', 'apiKeys.create'],
  v1_api_keys_retrieve: ['GET', '/api/v1/api-keys/{key_id}', 'apiKeys.get'],
  v1_api_keys_revoke_create: ['POST', '/api/v1/api-keys/{key_id}/revoke', 'apiKeys.revoke'],
});
