"""A database that goes away mid-request (a cut connection, a restart, a failover) is a 503 the
client may retry, never a 500: the request's transaction was rolled back, so nothing of it was
written, and a retry with the same idempotency key is safe."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.api_errors import (
    error_body,
    is_api_request,
)

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
MESSAGE = "The database is unavailable for a moment; nothing was saved. Please try again."


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.warning(
            "database unavailable during %s %s: %s", request.method, request.path, exception
        )
        if is_api_request(request):
            response: HttpResponse = JsonResponse(
                error_body("database_unavailable", MESSAGE), status=503
            )
        else:
            response = HttpResponse(
                f"<!doctype html><title>Try again</title><p>{MESSAGE}</p>",
                status=503,
                content_type="text/html; charset=utf-8",
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
