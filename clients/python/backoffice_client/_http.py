"""What the sync and the async client share: building a request from the operations table,
reading an answer (JSON, or a typed exception), and the retry policy."""

from __future__ import annotations

import datetime as dt
import email.utils
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from .errors import ApiError, error_class
from .operations import OPERATIONS

__version__ = "0.1.0"

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_RETRY_WAIT = 60.0
RETRY_STATUSES = frozenset({429, 503})
"""The API answers these only when it did nothing with the request (over the rate limit; the
database away and the transaction rolled back), so any request may be sent again."""

BACKOFF_START = 0.5
BACKOFF_MAX = 8.0

_NO_BODY = object()


@dataclass(frozen=True)
class Call:
    """One request: the operation (its method and path come from OPERATIONS), the values of
    the path's placeholders, the query parameters (None values are left out) and the body."""

    operation: str
    path: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] | None = None
    body: Any = _NO_BODY
    # a multipart form instead of a JSON body: its files ({name: (filename, content, type)})
    # and its other fields
    files: Mapping[str, tuple[str, Any, str]] | None = None
    form: Mapping[str, str] | None = None


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class Base:
    """Configuration and the request/answer plumbing of both clients."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float,
        max_retries: int,
        max_retry_wait: float,
        headers: Mapping[str, str] | None,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL")
        if not api_key:
            raise ValueError("api_key is required (a tenant API key or a personal token)")
        if max_retries < 0 or max_retry_wait < 0:
            raise ValueError("max_retries and max_retry_wait must not be negative")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": f"backoffice-client-python/{__version__}",
            **dict(headers or {}),
        }

    def _build(self, http: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
        method, template, _ = OPERATIONS[call.operation]
        path = template.format(**{k: quote(str(v), safe="") for k, v in call.path.items()})
        params = {k: _query_value(v) for k, v in (call.params or {}).items() if v is not None}
        kwargs: dict[str, Any] = {"params": params, "headers": self._headers}
        if call.body is not _NO_BODY:
            kwargs["json"] = call.body
        elif call.files is not None:
            kwargs["files"] = dict(call.files)
            kwargs["data"] = dict(call.form or {})
        return http.build_request(method, self.base_url + path, timeout=self.timeout, **kwargs)

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before sending the request again, or None to answer now: only for
        429 and 503, at most ``max_retries`` times, honouring ``Retry-After`` (a wait longer
        than ``max_retry_wait`` is not waited for: the error is raised at once)."""
        if response.status_code not in RETRY_STATUSES or attempt >= self.max_retries:
            return None
        after = retry_after_seconds(response.headers.get("Retry-After"))
        delay = after if after is not None else min(BACKOFF_START * 2**attempt, BACKOFF_MAX)
        return delay if delay <= self.max_retry_wait else None


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value)
    return value


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def read_answer(response: httpx.Response) -> Any:
    """The answer's JSON (None for 204), or the typed exception of its status."""
    if response.is_success:
        if response.status_code == 204 or not response.content:
            return None
        return response.json()
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {
            "code": f"http_{response.status_code}",
            "message": (response.text or response.reason_phrase or "")[:500],
        }
    raise _error(response, error, body)


def _error(response: httpx.Response, error: dict[str, Any], body: Any) -> ApiError:
    fields = error.get("fields")
    return error_class(response.status_code)(
        response.status_code,
        str(error.get("code") or f"http_{response.status_code}"),
        str(error.get("message") or ""),
        fields=fields if isinstance(fields, dict) else None,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        body=body,
        method=response.request.method,
        url=str(response.request.url),
    )


def file_call(
    operation: str,
    path: Mapping[str, Any],
    content: Any,
    filename: str,
    content_type: str,
    text: str | None,
) -> Call:
    """The call that sends a file as a multipart form (``conversations.send_file``,
    ``handoffs.send_file``)."""
    return Call(
        operation,
        path,
        files={"file": (filename, content, content_type)},
        form={"text": text} if text else {},
    )
