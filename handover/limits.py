"""Rate limits of the public chat: anyone may start a conversation at ``/chat/<tenant>/`` and
talk on its socket, and every message runs the orchestrator's pipeline (with a network runtime,
at the tenant's expense). Counted by ``config.ratelimit`` (Redis, failing open; in process on
the embedded default):

- ``CHAT_START_RATE_LIMIT``: chat starts per client address, every attempt;
- ``CHAT_START_TENANT_RATE_LIMIT``: chat starts per tenant, those that would start one (a
  refused or invalid request does not use the tenant's allowance);
- ``CHAT_MESSAGE_RATE_LIMIT``: customer messages per conversation on its socket;
- ``CHAT_MESSAGE_IP_RATE_LIMIT``: customer messages per client address, across conversations;
- ``INBOX_UPLOAD_RATE_LIMIT``: files a signed-in person sends from the inbox (a reply's or a
  note's), whatever the conversation: each is stored and counts towards the tenant's storage;
- ``CHAT_IDENTITY_RATE_LIMIT``: a signed-in visitor's identity checked, per client address
  (their conversations listed, one of them opened on this device): each checks a signature;
- ``CHAT_TRANSCRIPT_RATE_LIMIT``: copies of their conversation customers have e-mailed, per
  client address, whatever the conversation (a mail to an address they type: never a relay).
"""

from __future__ import annotations

from uuid import UUID

from django.conf import settings

from config import ratelimit

START_ADDRESS_SCOPE = "chat-start-ip"
START_TENANT_SCOPE = "chat-start-tenant"
MESSAGE_SCOPE = "chat-message"
MESSAGE_ADDRESS_SCOPE = "chat-message-ip"
INBOX_UPLOAD_SCOPE = "inbox-upload"
TRANSCRIPT_ADDRESS_SCOPE = "chat-transcript-ip"
IDENTITY_ADDRESS_SCOPE = "chat-identity-ip"


def _first_refusal(counts: list[tuple[str, str, str]]) -> ratelimit.Verdict | None:
    """Count each ``(setting, scope, ident)`` in turn; the first verdict that refuses (the
    later ones are then not counted)."""
    for setting, scope, ident in counts:
        rate = ratelimit.parse_rate(getattr(settings, setting), setting=setting)
        if rate is None:
            continue
        verdict = ratelimit.hit(scope, ident, rate)
        if not verdict.allowed:
            return verdict
    return None


def chat_start_address_refusal(address: str) -> ratelimit.Verdict | None:
    return _first_refusal([("CHAT_START_RATE_LIMIT", START_ADDRESS_SCOPE, address)])


def chat_start_tenant_refusal(tenant_id: int) -> ratelimit.Verdict | None:
    return _first_refusal([("CHAT_START_TENANT_RATE_LIMIT", START_TENANT_SCOPE, str(tenant_id))])


def chat_message_refusal(conversation_id: UUID, address: str) -> ratelimit.Verdict | None:
    return _first_refusal(
        [
            ("CHAT_MESSAGE_RATE_LIMIT", MESSAGE_SCOPE, str(conversation_id)),
            ("CHAT_MESSAGE_IP_RATE_LIMIT", MESSAGE_ADDRESS_SCOPE, address),
        ]
    )


def inbox_upload_refusal(user_id: int) -> ratelimit.Verdict | None:
    return _first_refusal([("INBOX_UPLOAD_RATE_LIMIT", INBOX_UPLOAD_SCOPE, str(user_id))])


def chat_transcript_refusal(address: str) -> ratelimit.Verdict | None:
    return _first_refusal([("CHAT_TRANSCRIPT_RATE_LIMIT", TRANSCRIPT_ADDRESS_SCOPE, address)])


def chat_identity_refusal(address: str) -> ratelimit.Verdict | None:
    return _first_refusal([("CHAT_IDENTITY_RATE_LIMIT", IDENTITY_ADDRESS_SCOPE, address)])


def wait_text(seconds: int) -> str:
    return f"{seconds} second{'s' if seconds != 1 else ''}"
