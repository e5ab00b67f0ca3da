"""Every API error has one JSON shape: ``{"error": {"code", "message", "fields"?}}``.

The DRF exception handler and the 404/500 handlers for API paths that no view matched answer in
it; the body parser (``api_parsers``) raises errors that come out the same way. The services'
error vocabulary (``core.errors``) is mapped to HTTP here, once: ``Invalid`` 400 (with its
fields), ``Forbidden`` 403, ``NotFound`` 404, ``Conflict`` 409, with the exception's own code
and message; views raise them (or let them through) and never translate them by hand."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core.api_parsers import PayloadTooLarge
from core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, first_problem

API_PREFIX = "/api/"

# the HTTP status of each kind of refusal (the first that matches)
DOMAIN_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (Invalid, status.HTTP_400_BAD_REQUEST),
    (Forbidden, status.HTTP_403_FORBIDDEN),
    (NotFound, status.HTTP_404_NOT_FOUND),
    (Conflict, status.HTTP_409_CONFLICT),
)


def domain_status(exc: DomainError) -> int:
    return next(
        (code for kind, code in DOMAIN_STATUS if isinstance(exc, kind)),
        status.HTTP_400_BAD_REQUEST,
    )


def domain_error_body(exc: DomainError) -> dict:
    fields = getattr(exc, "fields", None)
    if fields:  # as every 400 of the API says it
        return error_body(exc.code, first_problem(fields), fields)
    return error_body(exc.code, exc.message)


def domain_error_response(exc: DomainError) -> JsonResponse:
    """A refusal as a page's JSON endpoint answers it (the same status and body as the API)."""
    return JsonResponse(domain_error_body(exc), status=domain_status(exc))


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def flatten_errors(detail: Any, path: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{"handoffs[1].condition": ["..."]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                child = path
            elif isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                child = f"{path}[{key}]"
            else:
                child = f"{path}.{key}" if path else str(key)
            out.update(flatten_errors(value, child))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            if detail:
                out.setdefault(path or "non_field_errors", []).extend(str(m) for m in detail)
        else:
            for index, item in enumerate(detail):
                if item:
                    out.update(flatten_errors(item, f"{path}[{index}]"))
    else:
        out.setdefault(path or "non_field_errors", []).append(str(detail))
    return out


def _code_of(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def exception_handler(exc: Exception, context: dict) -> Any:
    if isinstance(exc, DomainError):
        set_rollback()
        return Response(domain_error_body(exc), status=domain_status(exc))
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.Throttled):
        wait = f" in {exc.wait} s" if exc.wait is not None else " later"
        response.data = error_body(
            "rate_limited",
            f"Too many requests for this API key, token or person; try again{wait}.",
        )
    elif isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        response.data = error_body("invalid", first_problem(fields), fields)
    else:
        response.data = error_body(_code_of(exc), str(exc.detail))
    return response


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", f"No API endpoint at {request.path}."), status=404)


def api_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        error_body("server_error", "Something went wrong on our side; it has been logged."),
        status=500,
    )
