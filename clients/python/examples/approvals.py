rules = client.orchestration.create_rules(
    "agent-123",
    {
        "approvals": {
            "required": True,
            "actions": ["issue_refund", "modify_account", "access_sensitive_data"],
            "approvers": ["user-admin-123", "user-manager-456"],
        }
    },
)
