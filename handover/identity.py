"""Signed-in visitors of the web chat: the tenant's website says who its visitor is, and signs
it, so the chat starts as that customer (their customer id, name, e-mail address and what the
website knows of them) and the team can trust it, as Intercom's identity verification and
Zendesk's authenticated visitors do.

The website's server makes, for each page, a JSON Web Token signed with HS256 and the
tenant's identity secret (``core.chat_identity``, made in the admin):

    {"sub": "<the visitor's id in the website>", "exp": <a time soon>,
     "name": "Lee", "email": "lee@example.com", "attributes": {"plan": "pro"}}

``sub`` and ``exp`` are required; the rest is optional. The page hands the token to the chat
(``data-identity`` on embed.js's tag, or ``SupportChat.identify(token)``), and the chat's
start carries it. :func:`visitor_identity` checks it with the tenant's secret and answers what
it says, or raises Invalid naming ``identity`` (or the claim at fault) with the reason. An
unsigned claim of identity does not exist: a visitor without a valid token is anonymous.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jwt

from conversations.attributes import attributes_checked
from conversations.models import Conversation, State
from conversations.services import UNCHANGED, customer_details_update, email_checked
from core.errors import Invalid
from core.json_input import text_problem
from core.models import Tenant
from core.secret_store import unseal

TOKEN_MAX = 8192  # characters: a token with a few attributes is well under 2,000
SUBJECT_MAX = 200  # a customer id (Conversation.customer_ref)
NAME_MAX = 200
LEEWAY_SECONDS = 60  # the website's clock and ours may differ by this much

_REASONS: list[tuple[type[Exception], str]] = [
    (jwt.exceptions.ExpiredSignatureError, "has expired: make a new one for each page (exp)"),
    (jwt.exceptions.ImmatureSignatureError, "is not valid yet (nbf or iat is in the future)"),
    (jwt.exceptions.InvalidAlgorithmError, "must be signed with HS256"),
    (jwt.exceptions.InvalidSignatureError, "is not signed with this chat's identity secret"),
    (jwt.exceptions.InvalidSubjectError, "must say who the visitor is in sub, as text"),
    (jwt.exceptions.DecodeError, "is not a JSON Web Token signed with HS256"),
]


@dataclass(frozen=True)
class Visitor:
    """Who the website says its visitor is."""

    customer_id: str
    name: str = ""
    email: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)


def _refused(reason: str, claim: str = "") -> Invalid:
    return Invalid(fields={f"identity.{claim}" if claim else "identity": reason})


def visitor_identity(tenant: Tenant, token: Any) -> Visitor:
    """The visitor ``token`` names, once its signature with ``tenant``'s identity secret and
    its claims are checked; Invalid naming ``identity`` or ``identity.<claim>`` otherwise."""
    if not isinstance(token, str) or not token.strip():
        raise _refused("must be the identity token your website signed, as text")
    if len(token) > TOKEN_MAX:
        raise _refused(f"is longer than {TOKEN_MAX} characters")
    if not tenant.chat_identity_secret:
        raise _refused("this chat verifies no identity: its manager has made no identity secret")
    secret = unseal(tenant.chat_identity_secret)
    try:
        claims = jwt.decode(
            token.strip(),
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "sub"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.exceptions.MissingRequiredClaimError as exc:
        raise _refused(f"must have the claim {exc.claim}") from None
    except jwt.exceptions.PyJWTError as exc:
        reason = next((why for kind, why in _REASONS if isinstance(exc, kind)), None)
        raise _refused(reason or "is not acceptable") from None
    except (ValueError, TypeError, RecursionError):  # a header or body no JSON reader takes
        raise _refused("is not a JSON Web Token signed with HS256") from None
    return _visitor(claims)


def _visitor(claims: dict[str, Any]) -> Visitor:
    """What signed claims say, checked as the API checks a customer (a website's server can
    be wrong too)."""
    subject = claims["sub"].strip()
    if not subject or len(subject) > SUBJECT_MAX or text_problem(subject):
        raise _refused(f"must be the visitor's id: 1 to {SUBJECT_MAX} characters", "sub")
    name = claims.get("name") or ""
    if not isinstance(name, str) or len(name.strip()) > NAME_MAX or text_problem(name):
        raise _refused(f"must be text of at most {NAME_MAX} characters", "name")
    email = email_checked(claims.get("email") or "", field="identity.email")
    attributes = attributes_checked(claims.get("attributes") or {}, field="identity.attributes")
    return Visitor(customer_id=subject, name=name.strip(), email=email, attributes=attributes)


def claims_applied(conversation: Conversation, visitor: Visitor) -> bool:
    """What a later page's token says of the visitor, on their open ``conversation`` (and, as
    any change of a customer, on the tenant's other conversations with this customer id): a new
    name or e-mail address, attributes set or changed (the token's only; none taken off). The
    colleagues read what changed in a note, signed "Your website", and the inboxes hear
    ``customer.updated``. Nothing is written when the token says nothing new, so a page view
    costs no write. Answers whether anything changed."""
    if conversation.state == State.RESOLVED:
        return False
    name = visitor.name if visitor.name and visitor.name != conversation.customer_name else None
    email = (
        visitor.email
        if visitor.email and visitor.email.lower() != conversation.customer_email.lower()
        else None
    )
    known = conversation.customer_attributes or {}
    attributes = {k: v for k, v in visitor.attributes.items() if known.get(k) != v}
    if name is None and email is None and not attributes:
        return False
    try:
        customer_details_update(
            conversation=conversation,
            by="Your website",
            name=UNCHANGED if name is None else name,
            email=UNCHANGED if email is None else email,
            attributes=attributes or UNCHANGED,
        )
    except Invalid:  # e.g. more attributes than a customer may have: the page still chats
        return False
    return True
