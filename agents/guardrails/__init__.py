"""Guardrails: a policy check before every AI reply and every proposed action (issue 9).

- ``detectors``: personal data found with real validation (card numbers with the Luhn check
  and a known issuer prefix, US SSN, UK NI number, Dutch BSN with the 11-check), e-mail, phone.
- ``engine``: a policy document (plain JSON) compiled once into regular expressions and
  evaluated on a reply: pure functions, no database.
- ``policy``: the effective policy of an agent (built-in defaults -> tenant -> agent) and the
  parsing and validation of what managers type in the admin.
- ``access``: the allow-list of actions an agent may propose.

The services that write the ``guardrail.*`` decision events live with their callers (the
orchestrator pipeline, the approvals gate).
"""

from agents.guardrails.access import action_allowed, allowed_actions_problem
from agents.guardrails.engine import Fired, Verdict, compile_policy, evaluate
from agents.guardrails.policy import DEFAULT_POLICY, effective_policy

__all__ = [
    "DEFAULT_POLICY",
    "Fired",
    "Verdict",
    "action_allowed",
    "allowed_actions_problem",
    "compile_policy",
    "effective_policy",
    "evaluate",
]
