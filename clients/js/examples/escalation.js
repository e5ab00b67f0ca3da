const rules = await client.orchestration.createRules('agent-123', {
  escalation: {
    // Escalate after 3 failed attempts
    maxAttempts: 3,

    // Escalate for specific intents
    intents: ['billing_dispute', 'legal_question', 'security_incident'],

    // Target agent for escalation
    targetAgentId: 'agent-supervisor',

    // Or escalate to human
    escalateToHuman: true
  }
});
