"""The append-only audit log of approvals (SPEC 7): one row per request, decision, execution
and expiry, with the actor, the time, the address and the user agent.

Services call :func:`audit_record` inside the transaction that made the change, so a change and
its audit row commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from approvals.models import ActionExecution, ApprovalRequest, AuditLog

MAX_USER_AGENT = 500


@dataclass(frozen=True)
class Actor:
    """Who acted: a person (``user``), an agent, an integration key, or the system."""

    label: str
    user: Any = None
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(label=label)

    @property
    def user_id(self) -> int | None:
        return getattr(self.user, "pk", None)


def audit_record(
    *,
    tenant_id: int,
    kind: str,
    actor: Actor,
    approval: ApprovalRequest | None = None,
    execution: ActionExecution | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    subject = approval or execution
    return AuditLog.objects.create(
        tenant_id=tenant_id,
        kind=kind,
        approval_id=approval.pk if approval else (execution.request_id if execution else None),
        execution_id=execution.pk if execution else None,
        conversation_id=subject.conversation_id if subject else None,
        action=subject.action if subject else "",
        actor_label=actor.label[:200],
        actor_id=actor.user_id,
        ip=actor.ip or None,
        user_agent=(actor.user_agent or "")[:MAX_USER_AGENT],
        detail=detail or {},
    )


def client_address(request) -> tuple[str | None, str]:
    """``(ip, user agent)`` of an HTTP request (``REMOTE_ADDR``: the server's view of the peer;
    behind a proxy, set it from the forwarded header in the proxy, not here)."""
    meta = getattr(request, "META", {}) or {}
    return meta.get("REMOTE_ADDR") or None, (meta.get("HTTP_USER_AGENT") or "")[:MAX_USER_AGENT]
