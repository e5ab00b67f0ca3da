const rules = await client.orchestration.createRules('agent-123', {
  approvals: {
    required: true,
    actions: [
      'issue_refund',
      'modify_account',
      'access_sensitive_data'
    ],
    approvers: ['user-admin-123', 'user-manager-456']
  }
});
