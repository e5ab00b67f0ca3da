"""At most ``REQUEST_MAX_BYTES`` of an HTTP request's body, counted as it arrives (ASGI).

Django's ASGI handler reads a request's whole body, spooling it to a temporary file past
``FILE_UPLOAD_MAX_MEMORY_SIZE``, before any middleware runs; so the Content-Length check of
``config.security.RequestSizeLimitMiddleware`` (the door under WSGI and the test client) came
after a huge body had been written to disk, and a body sent in chunks, with no Content-Length,
was never bounded. Here a declared length over the limit is answered 413 before a byte is read,
and a body that grows past it while it arrives is answered 413 at that moment: Django is told the
client left (``http.disconnect``, so it stops reading and answers nothing), and the rest of the
body is never read.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from core.api_errors import error_body
from core.limits import size_text


def too_large(path: str, limit: int) -> tuple[str, bytes]:
    """The 413's content type and body: the API's error shape under /api/, words elsewhere."""
    message = f"The request is larger than {size_text(limit)}."
    if path.startswith("/api/"):
        return "application/json", json.dumps(error_body("payload_too_large", message)).encode()
    return "text/plain; charset=utf-8", message.encode()


def _declared(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    """ASGI middleware around the HTTP application (``config/asgi.py``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = settings.REQUEST_MAX_BYTES
        declared = _declared(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, limit)
            return
        seen = 0
        refused = False

        async def bounded_receive():
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    await _refuse(scope, send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not refused:  # after the 413, nothing of the application's own
                await send(message)

        await self.app(scope, bounded_receive, guarded_send)


async def _refuse(scope, send, limit: int) -> None:
    content_type, body = too_large(scope.get("path", ""), limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
