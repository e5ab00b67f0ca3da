from backoffice_client import ValidationError

try:
    client.orchestration.create_rules(
        "agent-123", {"handoffs": [{"condition": "intent ==", "targetAgentId": "agent-billing"}]}
    )
except ValidationError as error:
    print(error.fields)  # {'handoffs[0].condition': ["column 10: expected a value after '=='"]}
