"""The names the customer reads for who speaks to them: the chat and the copies by e-mail say
the same."""

from __future__ import annotations

from core.models import Tenant


def assistant_name(tenant: Tenant) -> str:
    """The one name the AI has in the tenant's chat, whichever agent answers (issue 19,
    point 10): the customer talks to the tenant's assistant, not to its org chart."""
    return f"{tenant.name} \u00b7 AI assistant"
