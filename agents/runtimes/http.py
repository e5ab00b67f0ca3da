"""JSON over HTTP for the network runtimes: timeouts, bounded retries with backoff, capped bodies.

:func:`post_json` POSTs a JSON body and returns an :class:`HttpResult`; it never raises.

- Timeouts: connect :data:`CONNECT_TIMEOUT` s, read :data:`READ_TIMEOUT` s (between bytes), and
  the whole response must arrive within connect + read timeout.
- Retries: :data:`MAX_ATTEMPTS` attempts in all, waiting :data:`BACKOFF` seconds between them
  (0.2 s, then 0.4 s), on connection errors, timeouts, 429 and 5xx. A 429's numeric
  ``Retry-After`` is honoured up to :data:`MAX_RETRY_AFTER` s. Other statuses (3xx, 4xx) are
  final: redirects are not followed.
- Bodies over :data:`MAX_BODY_BYTES` are refused; JSON with NaN or Infinity is refused.
- A host that resolves to a private or local address is refused before any attempt, unless
  private networks are allowed (:mod:`agents.runtimes.addresses`).

The defaults are the module constants, overridden by the ``AGENT_RUNTIME_HTTP`` setting
(``{"connect_timeout": 1, "read_timeout": 5, "attempts": 2, "backoff": [0.1], "max_body_bytes":
...}``); a caller may also pass its own :class:`HttpPolicy` (the tests do, with short delays).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from agents.runtimes.addresses import destination_problem
from core.json_input import (
    JsonRefused,
    loads,
)
from core.observability import tracing

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 15.0
MAX_ATTEMPTS = 3
BACKOFF: tuple[float, ...] = (0.2, 0.4)
MAX_BODY_BYTES = 1024 * 1024
MAX_RETRY_AFTER = 2.0
USER_AGENT = "ai-support-backoffice-agent-runtime/1"

_SNIPPET = 200


@dataclass(frozen=True)
class HttpPolicy:
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    attempts: int = MAX_ATTEMPTS
    backoff: tuple[float, ...] = BACKOFF
    max_body_bytes: int = MAX_BODY_BYTES
    max_retry_after: float = MAX_RETRY_AFTER
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        if not self.backoff:
            return 0.0
        return float(self.backoff[min(retry, len(self.backoff)) - 1])


_SETTING_KEYS = {
    "connect_timeout": float,
    "read_timeout": float,
    "attempts": int,
    "backoff": lambda v: tuple(float(x) for x in v),
    "max_body_bytes": int,
    "max_retry_after": float,
}


def current_policy() -> HttpPolicy:
    """The policy from the module constants (read now) and the ``AGENT_RUNTIME_HTTP`` setting."""
    values: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "attempts": MAX_ATTEMPTS,
        "backoff": tuple(BACKOFF),
        "max_body_bytes": MAX_BODY_BYTES,
        "max_retry_after": MAX_RETRY_AFTER,
    }
    try:
        from django.conf import settings

        overrides = getattr(settings, "AGENT_RUNTIME_HTTP", None) if settings.configured else None
    except ImportError:  # pragma: no cover - Django is always installed here
        overrides = None
    if isinstance(overrides, Mapping):
        for key, convert in _SETTING_KEYS.items():
            if key in overrides:
                values[key] = convert(overrides[key])
    values["attempts"] = max(1, values["attempts"])
    return HttpPolicy(**values)


@dataclass
class HttpResult:
    """``status`` is the last HTTP status (None when no response came); ``data`` the decoded
    JSON of a 2xx response (and of an error response when it was JSON); ``error`` says what
    went wrong, or is None for a 2xx JSON response."""

    status: int | None
    data: Any
    attempts: int
    error: str | None
    duration_ms: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


class _Failure(Exception):
    def __init__(self, message: str, *, status: int | None = None, wait: float = 0.0):
        super().__init__(message)
        self.status = status
        self.wait = wait  # for a retry: the server-requested minimum delay


class _Final(_Failure):
    """A failure not worth retrying."""


class _Retry(_Failure):
    """A failure worth retrying."""


def endpoint(url: str) -> str:
    """``url`` without credentials, query or fragment: safe to record in a decision event."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:
        return "(invalid URL)"


def decode_json(raw: bytes) -> Any:
    """Strict JSON through the one JSON door (UTF-8, no NaN or Infinity, bounded nesting, no
    NUL or lone surrogate that PostgreSQL would refuse later). Raises ValueError."""
    return loads(raw)


def _one_line(raw: bytes) -> str:
    text = raw[: _SNIPPET * 4].decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else "")


def _error_message(data: Any, raw: bytes) -> str:
    """The message of an error response: OpenAI's ``{"error": {"message"}}``, a top-level
    ``error``/``detail``/``message`` string, or the start of the body."""
    if isinstance(data, Mapping):
        error = data.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return error["message"][:_SNIPPET]
        for key in ("error", "detail", "message"):
            if isinstance(data.get(key), str):
                return data[key][:_SNIPPET]
    return _one_line(raw)


def _http_error(status: int, data: Any, raw: bytes) -> str:
    message = _error_message(data, raw)
    return f"HTTP {status}: {message}" if message else f"HTTP {status}"


def _retry_after(response: requests.Response, policy: HttpPolicy) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        return 0.0
    return max(0.0, min(seconds, policy.max_retry_after))


def _read_body(response: requests.Response, policy: HttpPolicy, deadline: float) -> bytes:
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > policy.max_body_bytes:
        raise _Final(f"response body is larger than {policy.max_body_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=64 * 1024):
            size += len(chunk)
            if size > policy.max_body_bytes:
                raise _Final(f"response body is larger than {policy.max_body_bytes} bytes")
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise _Retry("timed out reading the response")
    except requests.RequestException as exc:
        raise _Retry(f"connection lost while reading the response ({_cause(exc)})") from exc
    return b"".join(chunks)


def _attempt(
    session: requests.Session,
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: HttpPolicy,
) -> tuple[int, Any, str | None]:
    """One POST: ``(status, data, error)`` for a final outcome; raises _Retry or _Final."""
    deadline = time.monotonic() + policy.connect_timeout + policy.read_timeout
    try:
        response = session.post(
            url,
            data=body,
            headers=headers,
            timeout=(policy.connect_timeout, policy.read_timeout),
            stream=True,
            allow_redirects=False,
        )
    except requests.Timeout as exc:
        kind = "connecting" if isinstance(exc, requests.ConnectTimeout) else "waiting for a reply"
        raise _Retry(f"timed out {kind}") from exc
    except requests.ConnectionError as exc:
        raise _Retry(f"connection failed ({_cause(exc)})") from exc
    except requests.RequestException as exc:
        raise _Final(f"request failed: {type(exc).__name__}: {exc}") from exc
    with response:
        status = response.status_code
        try:
            raw = _read_body(response, policy, deadline)
        except _Failure as exc:
            exc.status = status
            raise
        try:
            data = decode_json(raw) if raw else None
            bad_json = None
        except JsonRefused as exc:
            data, bad_json = None, exc
        if status == 429 or 500 <= status <= 599:
            raise _Retry(
                _http_error(status, data, raw),
                status=status,
                wait=_retry_after(response, policy),
            )
        if not 200 <= status <= 299:
            return status, data, _http_error(status, data, raw)
        if bad_json is not None and not bad_json.syntax:  # JSON, but not what we can store
            return status, None, f"response JSON is refused: {bad_json}"
        if bad_json is not None or raw.strip() == b"":
            return status, None, f"response is not JSON: {_one_line(raw) or '(empty body)'}"
        return status, data, None


def _cause(exc: BaseException) -> str:
    """A connection error, briefly: "connection refused", "ReadTimeoutError"..."""
    text = str(exc).lower()
    for known in ("connection refused", "name or service not known", "connection reset"):
        if known in text:
            return known
    reason = exc
    seen = set()
    while reason.__context__ is not None and id(reason) not in seen:
        seen.add(id(reason))
        reason = reason.__context__
    return type(reason).__name__


def post_json(
    url: str,
    payload: Any,
    *,
    headers: Mapping[str, str] | None = None,
    sign: Callable[[bytes], Mapping[str, str]] | None = None,
    policy: HttpPolicy | None = None,
) -> HttpResult:
    """POST ``payload`` as JSON to ``url``; retry as the policy says. Never raises.

    ``sign(body)`` is called before every attempt and its headers are added (so a signature's
    timestamp is fresh on a retry).
    """
    policy = policy or current_policy()
    started = time.perf_counter()

    def result(status, data, attempts, error, failures) -> HttpResult:
        return HttpResult(
            status=status,
            data=data,
            attempts=attempts,
            error=error,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            failures=failures,
        )

    refused = destination_problem(url)
    if refused is not None:
        return result(None, None, 0, f"refused: {refused}", [])
    try:
        body = json.dumps(
            payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:
        return result(None, None, 0, f"the request could not be encoded as JSON: {exc}", [])
    base_headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        **tracing.headers(),  # traceparent: the turn's trace goes on at the webhook / LLM
        **(headers or {}),
    }
    failures: list[str] = []
    status: int | None = None
    attempts = max(1, policy.attempts)
    with requests.Session() as session:
        for attempt in range(1, attempts + 1):
            try:
                request_headers = dict(base_headers)
                if sign is not None:
                    request_headers.update(sign(body))
                status, data, error = _attempt(session, url, body, request_headers, policy)
                return result(status, data, attempt, error, failures)
            except _Final as exc:
                return result(exc.status, None, attempt, str(exc), failures)
            except _Retry as exc:
                status = exc.status
                failures.append(str(exc))
                if attempt < attempts:
                    policy.sleep(max(policy.delay(attempt), exc.wait))
    last = failures[-1] if failures else "request failed"
    plural = "s" if attempts > 1 else ""
    return result(status, None, attempts, f"{last} (after {attempts} attempt{plural})", failures)
