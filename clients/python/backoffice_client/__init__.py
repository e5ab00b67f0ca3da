"""Python client of the support back office's REST API v1.

    from backoffice_client import Client

    client = Client(base_url="https://support.example.com", api_key="...")
    rules = client.orchestration.create_rules("agent-123", {"handoffs": [...]})

``AsyncClient`` is the same with ``await``. Errors raise the typed exceptions below, carrying
the API's ``{"error": {"code", "message", "fields"}}``.
"""

from ._http import __version__
from .aio import AsyncClient
from .client import Client
from .errors import (
    ApiError,
    AuthenticationError,
    BackofficeError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    TransportError,
    ValidationError,
)
from .operations import OPERATIONS, Operation

__all__ = [
    "OPERATIONS",
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "BackofficeError",
    "Client",
    "ConflictError",
    "NotFoundError",
    "Operation",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "ServiceUnavailableError",
    "TransportError",
    "ValidationError",
    "__version__",
]
