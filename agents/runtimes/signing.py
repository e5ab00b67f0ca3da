"""How the webhook runtime signs its requests: the Standard Webhooks specification
(https://www.standardwebhooks.com/), so integrators verify them with the maintained
``standardwebhooks`` libraries (Python, JavaScript, Go, ...), plus the scheme we used before,
kept for one release behind ``WEBHOOK_LEGACY_SIGNATURE`` (deprecated).

Standard Webhooks headers, on every attempt:

- ``webhook-id``: the delivery's id (``msg_<32 hex>``), the same on every retry of one turn;
- ``webhook-timestamp``: the attempt's time in whole seconds since the epoch;
- ``webhook-signature``: ``v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>``.

The key is the secret's: a ``whsec_<base64>`` secret is its decoded bytes (24 to 64); any other
secret (at least 16 characters, as stored before) is its UTF-8 bytes, which the libraries take
written as ``"whsec_" + base64(secret)``.

The legacy headers (deprecated): ``X-Timestamp`` and ``X-Signature: sha256=<hex of
HMAC-SHA256(secret as UTF-8, "<timestamp>.<body>")>``, and ``X-Delivery-Id`` (the id without
``msg_``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable

WHSEC_PREFIX = "whsec_"
WHSEC_MIN_BYTES, WHSEC_MAX_BYTES = 24, 64  # the key sizes the specification allows

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
LEGACY_SIGNATURE_HEADER = "X-Signature"
LEGACY_TIMESTAMP_HEADER = "X-Timestamp"
LEGACY_DELIVERY_HEADER = "X-Delivery-Id"


def webhook_signing_key(secret: str) -> bytes:
    """The HMAC key of a webhook secret (see the module). Raises ValueError for a malformed
    ``whsec_`` secret (the runtime's settings refuse one on save)."""
    if not secret.startswith(WHSEC_PREFIX):
        return secret.encode("utf-8")
    encoded = secret[len(WHSEC_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a whsec_ secret is whsec_ followed by base64") from None
    if not WHSEC_MIN_BYTES <= len(key) <= WHSEC_MAX_BYTES:
        raise ValueError(
            f"a whsec_ secret's key must be {WHSEC_MIN_BYTES} to {WHSEC_MAX_BYTES} bytes "
            f"(this one has {len(key)})"
        )
    return key


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def standard_signature(key: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    """``v1,<base64>`` over ``"<id>.<timestamp>.<body>"``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(digest).decode('ascii')}"


def legacy_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Deprecated: ``sha256=<hex>`` of ``timestamp + "." + body``, keyed with ``secret``."""
    signed = timestamp.encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def signer(
    secret: str, message_id: str, *, legacy: bool, clock: Callable[[], float] = time.time
) -> Callable[[bytes], dict[str, str]]:
    """Headers signing ``body`` now (called again on every retry: a fresh timestamp, the same
    id). ``legacy`` adds the deprecated headers too."""
    key = webhook_signing_key(secret)

    def sign(body: bytes) -> dict[str, str]:
        timestamp = str(int(clock()))
        headers = {
            ID_HEADER: message_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: standard_signature(key, message_id, timestamp, body),
        }
        if legacy:
            headers[LEGACY_TIMESTAMP_HEADER] = timestamp
            headers[LEGACY_SIGNATURE_HEADER] = legacy_signature(secret, timestamp, body)
            headers[LEGACY_DELIVERY_HEADER] = message_id.removeprefix("msg_")
        return headers

    return sign
