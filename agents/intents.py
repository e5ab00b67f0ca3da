"""A tenant's intents (SPEC 4.1 step 2): the built-in ones, extended by the tenant's own.

The detector knows a set of built-in intents (``agents.detectors.DEFAULT_INTENTS``:
``refund``, ``returns``, ``billing``, ``shipping``, ``technical``, ``cancellation``,
``account``, ``human_agent``, ``thanks``, ``greeting``). A tenant's ``Intent`` rows add to
them, never replace them:

- a row with a new name is one more intent (``billing_dispute``, ``legal_question``);
- a row named like a built-in adds its keywords and phrases to the built-in's;
- a row with ``enabled`` off switches that intent off: a built-in (``greeting``) or one of the
  tenant's own, which then is not detected until it is switched on again.

:func:`effective_intents` is what the detector runs with (the pipeline and the rule tester read
it through the tenant's configuration snapshot, so they agree); :func:`effective_intent_list`
is what the admin and ``GET /api/v1/intents`` show. The writes are :func:`intent_set` and
:func:`intent_delete`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from agents.detectors import DEFAULT_INTENTS, IntentSpec
from agents.models import Intent
from core.config_version import config_changed
from core.models import Tenant

BUILTIN = {spec.name: spec for spec in DEFAULT_INTENTS}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
MAX_TERMS = 200
MAX_TERM_LENGTH = 100


class IntentInvalid(ValueError):
    """``errors`` maps a field (``keywords``) to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


def _row(item: Any) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return {
            "name": item["name"],
            "keywords": list(item.get("keywords") or ()),
            "phrases": list(item.get("phrases") or ()),
            "enabled": item.get("enabled", True),
        }
    return {
        "name": item.name,
        "keywords": list(item.keywords or ()),
        "phrases": list(item.phrases or ()),
        "enabled": item.enabled,
    }


def effective_intents(rows: Iterable[Any]) -> tuple[IntentSpec, ...]:
    """The intents the detector runs with for a tenant whose ``Intent`` rows (or their
    ``values()`` dicts) are ``rows``: the built-ins in their order, each extended by a row of
    its name and left out when that row is switched off, then the tenant's own enabled
    intents by name."""
    own = {row["name"]: row for row in map(_row, rows)}
    specs: list[IntentSpec] = []
    for spec in DEFAULT_INTENTS:
        row = own.get(spec.name)
        if row is None:
            specs.append(spec)
        elif row["enabled"]:
            specs.append(
                IntentSpec(
                    spec.name,
                    spec.keywords + tuple(k for k in row["keywords"] if k not in spec.keywords),
                    spec.phrases + tuple(p for p in row["phrases"] if p not in spec.phrases),
                    spec.weight,
                )
            )
    for name in sorted(set(own) - set(BUILTIN)):
        row = own[name]
        if row["enabled"]:
            specs.append(IntentSpec(name, tuple(row["keywords"]), tuple(row["phrases"])))
    return tuple(specs)


def effective_intent_list(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Every intent a tenant has, built-in or its own, switched off ones included, as the API
    and the admin show it: ``{name, source ("built-in" | "tenant"), enabled, extended,
    keywords, phrases}`` (the keywords and phrases the detector uses, or would use)."""
    own = {row["name"]: row for row in map(_row, rows)}
    listed: list[dict[str, Any]] = []
    for spec in DEFAULT_INTENTS:
        row = own.get(spec.name)
        extra_keywords = [k for k in (row or {}).get("keywords", []) if k not in spec.keywords]
        extra_phrases = [p for p in (row or {}).get("phrases", []) if p not in spec.phrases]
        listed.append(
            {
                "name": spec.name,
                "source": "built-in",
                "enabled": row is None or bool(row["enabled"]),
                "extended": bool(extra_keywords or extra_phrases),
                "keywords": [*spec.keywords, *extra_keywords],
                "phrases": [*spec.phrases, *extra_phrases],
            }
        )
    for name in sorted(set(own) - set(BUILTIN)):
        row = own[name]
        listed.append(
            {
                "name": name,
                "source": "tenant",
                "enabled": bool(row["enabled"]),
                "extended": False,
                "keywords": list(row["keywords"]),
                "phrases": list(row["phrases"]),
            }
        )
    return listed


def intent_rows(*, tenant: Tenant) -> list[dict[str, Any]]:
    """The tenant's own intent rows as plain dicts (one query)."""
    return list(
        Intent.objects.filter(tenant=tenant).values("name", "keywords", "phrases", "enabled")
    )


def _terms(errors: dict[str, list[str]], field: str, value: Any, *, phrase: bool) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.setdefault(field, []).append("must be a list of text")
        return []
    terms = [v.strip() for v in value if v.strip()]
    if len(terms) > MAX_TERMS:
        errors.setdefault(field, []).append(f"at most {MAX_TERMS} entries")
    for term in terms:
        if len(term) > MAX_TERM_LENGTH:
            errors.setdefault(field, []).append(
                f"'{term[:20]}...' is longer than {MAX_TERM_LENGTH} characters"
            )
        elif not phrase and len(term.split()) > 1:
            errors.setdefault(field, []).append(f"'{term}' has several words: put it under phrases")
    return list(dict.fromkeys(terms))


def intent_validate(name: Any, data: Any) -> tuple[list[str], list[str], bool]:
    """``(keywords, phrases, enabled)`` of a valid intent document ``{keywords?, phrases?,
    enabled?}`` named ``name``; raises IntentInvalid. The API and the admin's form share it."""
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not NAME.fullmatch(name):
        errors["name"] = [
            "must be letters, digits, _ and -, starting with a letter or digit, "
            "at most 63 characters"
        ]
    if not isinstance(data, Mapping):
        raise IntentInvalid({**errors, "non_field_errors": ["Expected a JSON object."]})
    for key in sorted(set(data) - {"name", "keywords", "phrases", "enabled"}):
        errors.setdefault(key, []).append("unknown field (expected keywords, phrases, enabled)")
    if "name" in data and data["name"] != name:
        errors.setdefault("name", []).append("must be the name in the URL (or left out)")
    keywords = _terms(errors, "keywords", data.get("keywords"), phrase=False)
    phrases = _terms(errors, "phrases", data.get("phrases"), phrase=True)
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.setdefault("enabled", []).append("must be true or false")
    if not errors and enabled and name not in BUILTIN and not (keywords or phrases):
        errors["keywords"] = ["a new intent needs at least one keyword or phrase"]
    if errors:
        raise IntentInvalid(errors)
    return keywords, phrases, enabled


@transaction.atomic
def intent_set(*, tenant: Tenant, name: Any, data: Any) -> tuple[Intent, bool]:
    """Create or replace the tenant's intent ``name`` from ``{keywords?, phrases?, enabled?}``
    (a built-in's name extends or switches off that built-in). Returns ``(intent, created)``;
    raises IntentInvalid."""
    keywords, phrases, enabled = intent_validate(name, data)
    intent, created = Intent.objects.select_for_update().get_or_create(
        tenant=tenant, name=name, defaults={"keywords": keywords, "phrases": phrases}
    )
    intent.keywords, intent.phrases, intent.enabled = keywords, phrases, enabled
    intent.save()
    config_changed(tenant.pk)
    return intent, created


@transaction.atomic
def intent_delete(*, tenant: Tenant, name: str) -> bool:
    """Remove the tenant's own row for ``name`` (a built-in is then detected as it comes).
    False when there was none."""
    deleted, _ = Intent.objects.filter(tenant=tenant, name=name).delete()
    if deleted:
        config_changed(tenant.pk)
    return bool(deleted)
