"""Key rotation for the secret store (``core.secret_store``): re-encrypt every sealed
secret under the newest key of ``SECRETS_KEYS``.

The procedure (README, "Tenants never name server settings"): put a new key first in
SECRETS_KEYS and keep the old ones, restart, run ``manage.py reseal_secrets``, then remove
the old keys and restart again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from core.config_version import config_changed
from core.scoping import tenant_lookup
from core.secret_store import (
    SecretUnreadable,
    is_current,
    reseal,
    sealed_columns,
)


@dataclass
class ResealReport:
    resealed: int = 0
    current: int = 0
    # (model label, primary key) of the secrets no key in SECRETS_KEYS decrypts
    unreadable: list[tuple[str, object]] = field(default_factory=list)


def secrets_reseal() -> ResealReport:
    """Re-encrypt each sealed secret that is not under the newest key yet, one row at a time
    (a conditional update: a secret changed meanwhile is already sealed anew and is left
    alone), and drop the cached configuration of the tenants whose secrets moved."""
    report = ResealReport()
    for model, name in sealed_columns():
        lookup = tenant_lookup(model)
        rows = model._default_manager.exclude(**{name: ""}).values_list("pk", name, lookup)
        for pk, token, tenant_id in list(rows):
            if is_current(token):
                report.current += 1
                continue
            try:
                fresh = reseal(token)
            except SecretUnreadable:
                report.unreadable.append((model._meta.label, pk))
                continue
            with transaction.atomic():
                moved = model._default_manager.filter(pk=pk, **{name: token}).update(
                    **{name: fresh}
                )
                if moved:
                    report.resealed += 1
                    config_changed(tenant_id)
    return report
