"""Reply guardrail policies: one per tenant (``agent`` empty) and at most one per agent.

Every field may be left empty ("inherit"): the agent's policy overrides its tenant's, which
overrides the built-in defaults, field by field; blocked topics and phrases add up instead
(``agents.guardrails.policy``). The orchestrator reads the effective document from the
tenant's cached configuration.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from agents.guardrails.policy import (
    MAX_REPLY_LENGTH,
    parse_phrases,
    parse_topics,
)
from agents.models.agents import Agent
from core.models import (
    Tenant,
    TenantOwned,
)


class GuardrailAction(models.TextChoices):
    REDACT = "redact", "Redact: cut out what fired and send the rest"
    FALLBACK = "fallback", "Rewrite: send the fallback text instead"
    BLOCK = "block", "Block: send nothing and hand over to a human"


def _switch(label: str, help_text: str) -> models.BooleanField:
    return models.BooleanField(label, null=True, blank=True, help_text=help_text)


def _action(label: str) -> models.CharField:
    return models.CharField(
        label,
        max_length=10,
        choices=GuardrailAction.choices,
        blank=True,
        help_text="Empty: inherit.",
    )


class GuardrailPolicy(TenantOwned):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="guardrail_policies")
    agent = models.OneToOneField(
        Agent,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="guardrails",
        help_text="Empty: the tenant's policy, for every agent. Set: this agent's own, over "
        "the tenant's.",
    )
    redact_cards = _switch("card numbers", "Luhn-checked card numbers (default on).")
    redact_national_ids = _switch(
        "national id numbers", "US SSN, UK NI number, Dutch BSN with its 11-check (default on)."
    )
    redact_emails = _switch("e-mail addresses", "Default off.")
    redact_phones = _switch("phone numbers", "Default off.")
    personal_data_action = _action("personal data: action")
    blocked_topics = models.TextField(
        blank=True,
        help_text="One topic per line: 'name: keyword, another keyword'. Added to the tenant's.",
    )
    blocked_phrases = models.TextField(
        blank=True,
        help_text="One phrase per line (whole words, any case); /.../ for a regular "
        "expression. Added to the tenant's.",
    )
    blocked_action = _action("blocked topics and phrases: action")
    unperformed_claims = _switch(
        "claims of actions that have not run",
        "'I've refunded you' while the refund waits for approval (default on).",
    )
    claims_action = _action("claims: action")
    max_length = models.PositiveIntegerField(
        "maximum length (characters)",
        null=True,
        blank=True,
        help_text="Default 4000. Redact shortens the reply.",
    )
    length_action = _action("maximum length: action")
    fallback_text = models.TextField(
        blank=True, help_text="What a rewritten reply says. Empty: inherit."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "guardrail policy"
        verbose_name_plural = "guardrail policies"
        ordering = ["tenant_id", "agent_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"],
                condition=Q(agent__isnull=True),
                name="guardrail_policy_one_per_tenant",
                violation_error_message="This tenant already has its guardrail policy.",
            ),
            models.CheckConstraint(
                condition=Q(max_length__isnull=True)
                | Q(max_length__gte=1, max_length__lte=MAX_REPLY_LENGTH),
                name="guardrail_policy_max_length_range",
                violation_error_message=f"Enter a length from 1 to {MAX_REPLY_LENGTH}.",
            ),
        ]

    def __str__(self) -> str:
        if self.agent_id is None:
            return f"Guardrails of {self.tenant}"
        return f"Guardrails of {self.agent}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if (
            self.agent_id is not None
            and self.tenant_id is not None
            and self.agent.tenant_id != self.tenant_id
        ):
            errors["agent"] = "This agent belongs to another tenant."
        problems = parse_phrases(self.blocked_phrases)[1]
        if problems:
            errors["blocked_phrases"] = "; ".join(problems)
        problems = parse_topics(self.blocked_topics)[1]
        if problems:
            errors["blocked_topics"] = "; ".join(problems)
        if self.max_length is not None and not 1 <= self.max_length <= MAX_REPLY_LENGTH:
            errors["max_length"] = f"Enter a length from 1 to {MAX_REPLY_LENGTH}."
        if errors:
            raise ValidationError(errors)

    def as_document(self) -> dict[str, Any]:
        """This level's policy document (only what it sets)."""
        values = {
            "cards": self.redact_cards,
            "nationalIds": self.redact_national_ids,
            "emails": self.redact_emails,
            "phones": self.redact_phones,
            "personalDataAction": self.personal_data_action or None,
            "blockedAction": self.blocked_action or None,
            "claims": self.unperformed_claims,
            "claimsAction": self.claims_action or None,
            "maxLength": self.max_length,
            "lengthAction": self.length_action or None,
            "fallbackText": self.fallback_text.strip() or None,
        }
        document = {k: v for k, v in values.items() if v is not None}
        topics = parse_topics(self.blocked_topics)[0]
        phrases = parse_phrases(self.blocked_phrases)[0]
        if topics:
            document["topics"] = topics
        if phrases:
            document["phrases"] = phrases
        return document


# model field -> document key, for imports (stack templates)
DOCUMENT_FIELDS = {
    "cards": "redact_cards",
    "nationalIds": "redact_national_ids",
    "emails": "redact_emails",
    "phones": "redact_phones",
    "personalDataAction": "personal_data_action",
    "blockedAction": "blocked_action",
    "claims": "unperformed_claims",
    "claimsAction": "claims_action",
    "maxLength": "max_length",
    "lengthAction": "length_action",
    "fallbackText": "fallback_text",
}
