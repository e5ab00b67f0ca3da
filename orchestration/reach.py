"""What part of the tenant's conversations a person's roles reach (the permission table's
``reach`` column, ``core.permissions``): human agents the conversations handed to people,
approvers those under an approval request. Read by the API and the pages that list or open
conversations."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, OuterRef, Q, QuerySet

from approvals.models import ApprovalRequest
from core.permissions import ALL, HANDED_TO_PEOPLE, UNDER_APPROVAL
from handover.models import Handoff


def narrow_conversations(queryset: QuerySet, reach: Iterable[str]) -> QuerySet:
    """The conversations of ``queryset`` that ``reach`` (from ``Grant.reaches``) covers."""
    reach = set(reach)
    if ALL in reach:
        return queryset
    condition = Q(pk__in=[])
    if HANDED_TO_PEOPLE in reach:
        condition |= Q(Exists(Handoff.objects.filter(conversation=OuterRef("pk"))))
    if UNDER_APPROVAL in reach:
        condition |= Q(Exists(ApprovalRequest.objects.filter(conversation=OuterRef("pk"))))
    return queryset.filter(condition)
