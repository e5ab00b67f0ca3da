"""Typed exceptions. Every error answer of the API has one shape,
``{"error": {"code", "message", "fields"?}}``; the client raises the exception class of its
status with those parts as attributes, so a caller never parses a body or a stack trace."""

from __future__ import annotations

from typing import Any


class BackofficeError(Exception):
    """Anything this client raises."""


class TransportError(BackofficeError):
    """The server could not be reached or did not answer in time (no HTTP answer at all)."""


class ApiError(BackofficeError):
    """The API answered with an error status.

    ``status`` is the HTTP status, ``code`` the API's error code (``invalid``, ``not_found``,
    ``rate_limited``...), ``message`` its sentence, ``fields`` the bad fields by path
    (``{"handoffs[1].condition": ["column 11: expected a value after '=='"]}``),
    ``retry_after`` the seconds the server asked to wait (429, 503), ``body`` the whole answer.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        retry_after: float | None = None,
        body: Any = None,
        method: str = "",
        url: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.fields: dict[str, list[str]] = dict(fields or {})
        self.retry_after = retry_after
        self.body = body
        self.method = method
        self.url = url
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.status} {self.code}: {self.message}"
        for path, messages in self.fields.items():
            text += f"\n  {path}: {' '.join(messages)}"
        return text


class ValidationError(ApiError):
    """400: the request was refused; ``fields`` names each bad field by its path."""


class AuthenticationError(ApiError):
    """401: no credentials, or a key or token that is unknown, revoked or expired."""


class PermissionDeniedError(ApiError):
    """403: the key or person may not do this."""


class NotFoundError(ApiError):
    """404: no such object in your tenant (another tenant's objects are not found either)."""


class ConflictError(ApiError):
    """409: the object is not in a state that allows it (already decided, already claimed...)."""


class PayloadTooLargeError(ApiError):
    """413: the request body is larger than the server accepts."""


class RateLimitError(ApiError):
    """429: too many requests; ``retry_after`` says when to try again. Raised once the
    client's retries are spent, or when the wait asked for is longer than it may wait."""


class ServiceUnavailableError(ApiError):
    """503: the server could not do it now (nothing was written); retry later."""


class ServerError(ApiError):
    """Any other 5xx."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def error_class(status: int) -> type[ApiError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else ApiError
