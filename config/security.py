"""The Content-Security-Policy header (Django 5.2 has none built in; the other security headers
come from Django's SecurityMiddleware and XFrameOptionsMiddleware, configured in settings), the
refusal of NUL characters in URLs, and of bodies larger than any door takes."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse

from config.body_limit import too_large
from core.api_errors import error_body

NUL = "\x00"


class ContentSecurityPolicyMiddleware:
    """Adds ``settings.CONTENT_SECURITY_POLICY`` to every response that has none of its own."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response


class RequestSizeLimitMiddleware:
    """413 for a request whose Content-Length is larger than ``REQUEST_MAX_BYTES``, before
    anything reads its body: Django's CSRF check parses a multipart form (its files spooled to
    disk) before any view could look at the size, and no door of ours takes more (the mail
    provider's post is at most 25 MiB, a file in a conversation ``ATTACHMENT_MAX_BYTES``). Each
    door keeps its own, smaller limit. Under ASGI ``config.body_limit`` answers first, before
    Django reads the body, and bounds a chunked body too; this is the door under WSGI."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        limit = settings.REQUEST_MAX_BYTES
        if declared > limit:
            content_type, body = too_large(request.path_info, limit)
            return HttpResponse(body, status=413, content_type=content_type)
        return self.get_response(request)


class RejectNulCharactersMiddleware:
    """400 for a request whose path, query string or cookies hold a NUL character (``%00``).

    PostgreSQL text cannot hold NUL: such a value reaching a query (an agent id in the path, a
    filter in the query string, a session key in the cookie) would fail there, a 500. No URL or
    cookie of ours holds one. (JSON bodies are checked by the API's parser, form fields by
    Django's and DRF's fields.)
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            NUL in request.path_info
            or NUL in request.META.get("HTTP_COOKIE", "")
            or any(
                NUL in key or any(NUL in value for value in values)
                for key, values in request.GET.lists()
            )
        ):
            message = "The request contains a NUL character (%00), which is never valid here."
            if request.path_info.startswith("/api/"):
                return JsonResponse(error_body("invalid", message), status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class WebsocketNulRefusal:
    """For websockets, what ``RejectNulCharactersMiddleware`` is for HTTP: a socket whose path,
    query string or cookie holds a NUL character is refused before the session is looked up
    (on PostgreSQL that lookup would raise instead of failing)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and _scope_holds_nul(scope):
            from channels.security.websocket import WebsocketDenier

            return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)


def _scope_holds_nul(scope) -> bool:
    from urllib.parse import unquote_to_bytes

    if NUL in scope.get("path", "") or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
        return True
    return any(
        name.lower() == b"cookie" and b"\x00" in value for name, value in scope.get("headers", [])
    )
