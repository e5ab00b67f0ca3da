"""Who made a call: a person (signed in, or with a personal token) or an integration key.

Carried from the edges (the API, pages) to the services that record who caused what: who
opened a conversation, who sent a customer message, who proposed an action. The approvals gate
turns it into the people who may not decide a request (an integration key stands for the
person who created it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.models import ApiKey


@dataclass(frozen=True)
class Principal:
    user: Any = None  # a person (AUTH_USER_MODEL), or None
    key: ApiKey | None = None  # an integration key, or None

    @property
    def label(self) -> str:
        if self.key is not None:
            return f"api-key:{self.key.name}"
        if self.user is not None:
            return self.user.get_username()
        return ""

    @property
    def spoken(self) -> str:
        """Who it was, as a note for people says it: a person's name, or the integration."""
        if self.key is not None:
            return f"The integration “{self.key.name}”"
        if self.user is not None:
            return self.user.get_full_name() or self.user.get_username()
        return "The system"


NOBODY = Principal()
"""The public chat widget, the customer's socket, the system."""
