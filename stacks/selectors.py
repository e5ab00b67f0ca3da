"""Reads of stack templates: the built-in ones shipped as JSON files in ``stacks/builtin/``, the
global ones superusers publish, and a tenant's own. A tenant sees the built-in and global
templates and its own, never another tenant's (it reads as not found)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.models import Q

from core.models import Tenant
from core.scoping import scope_queryset
from stacks.documents import document_summary
from stacks.models import StackTemplate

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
BUILTIN_PREFIX = "builtin-"


class Scope:
    BUILTIN = "builtin"
    GLOBAL = "global"
    TENANT = "tenant"


@dataclass(frozen=True)
class TemplateEntry:
    key: str  # "builtin-customer-support" or a row's id
    name: str
    description: str
    document: dict[str, Any]
    scope: str
    row: StackTemplate | None = None

    @property
    def read_only(self) -> bool:
        return self.scope == Scope.BUILTIN

    @property
    def summary(self) -> dict[str, Any]:
        return document_summary(self.document)


@functools.cache
def _builtin() -> tuple[TemplateEntry, ...]:
    entries = []
    for path in sorted(BUILTIN_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        entries.append(
            TemplateEntry(
                key=BUILTIN_PREFIX + path.stem,
                name=document["name"],
                description=document.get("description", ""),
                document=document,
                scope=Scope.BUILTIN,
            )
        )
    return tuple(entries)


def builtin_templates() -> list[TemplateEntry]:
    return list(_builtin())


def builtin_template(stem: str) -> TemplateEntry:
    """A built-in template by its file name (``customer-support``); KeyError if none."""
    for entry in _builtin():
        if entry.key == BUILTIN_PREFIX + stem:
            return entry
    raise KeyError(stem)


def _entry(row: StackTemplate) -> TemplateEntry:
    return TemplateEntry(
        key=str(row.pk),
        name=row.name,
        description=row.description,
        document=row.document,
        scope=Scope.GLOBAL if row.tenant_id is None else Scope.TENANT,
        row=row,
    )


def template_rows(*, tenant: Tenant | None, everything: bool = False):
    """The published templates ``tenant`` may use: the global ones and its own (``everything``:
    a superuser's view, every tenant's too)."""
    rows = StackTemplate.objects.select_related("tenant", "published_by")
    if everything:
        return rows.order_by("tenant_id", "name", "id")
    own = scope_queryset(StackTemplate.objects.all(), tenant).values("pk")
    return rows.filter(Q(tenant__isnull=True) | Q(pk__in=own)).order_by("name", "id")


def templates_for(*, tenant: Tenant | None, everything: bool = False) -> list[TemplateEntry]:
    """The gallery: built-in templates, then global ones, then the tenant's own."""
    rows = [_entry(row) for row in template_rows(tenant=tenant, everything=everything)]
    order = {Scope.GLOBAL: 0, Scope.TENANT: 1}
    rows.sort(key=lambda e: (order[e.scope], e.name.lower()))
    return builtin_templates() + rows


def template_get(
    *, tenant: Tenant | None, key: Any, everything: bool = False
) -> TemplateEntry | None:
    """One template ``tenant`` may use, by key, or None (also for another tenant's)."""
    key = str(key)
    if key.startswith(BUILTIN_PREFIX):
        return next((e for e in _builtin() if e.key == key), None)
    if not key.isdigit():
        return None
    row = template_rows(tenant=tenant, everything=everything).filter(pk=int(key)).first()
    return _entry(row) if row else None
