"""Small real HTTP servers speaking the runtimes' protocols, and contexts to send them.

Each server answers from a plan (responses consumed in order, then its default) and records
every request it received, including the ones it rejected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

from agents.runtimes import AgentSpec, HttpPolicy, KnowledgeItem, TurnContext
from config.origins import url_origin
from core.secret_store import seal

API_KEY = "sk-test-0123456789"
KEY_ENV = "RUNTIME_TEST_LLM_KEY"
WEBHOOK_SECRET = "webhook-secret-0123456789"


def lend_key(settings, value: str | None, *urls: str, name: str = KEY_ENV) -> None:
    """What the operator's ``RUNTIME_KEY_ENVS=<name>@<url>,...`` and ``<name>=<value>`` make of
    the settings (``value`` None: the variable is not set)."""
    settings.RUNTIME_KEY_ENVS = [*settings.RUNTIME_KEY_ENVS, name]
    settings.RUNTIME_KEY_ORIGINS = {
        **settings.RUNTIME_KEY_ORIGINS,
        name: [url_origin(url) for url in urls],
    }
    settings.RUNTIME_KEYS_FROM_ENV = {**settings.RUNTIME_KEYS_FROM_ENV, name: value or ""}


def sealed(secret: str) -> str:
    """A runtime secret as the secret store keeps it (``Agent.runtime_secret``)."""
    return seal(secret)


# Short timeouts and backoff so the whole folder stays fast.
FAST = HttpPolicy(connect_timeout=1.0, read_timeout=0.3, attempts=3, backoff=(0.01, 0.02))


@dataclass
class Respond:
    """One planned response: JSON (``body``) or raw bytes (``raw``), after ``sleep`` seconds."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    sleep: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class FakeServer:
    """A ThreadingHTTPServer whose ``check`` may reject a request before the plan answers."""

    def __init__(
        self,
        default: Callable[[Seen], Respond],
        check: Callable[[Seen], Respond | None] = lambda seen: None,
    ):
        self.default = default
        self.check = check
        self.plan: list[Respond | Callable[[Seen], Respond]] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.path, dict(self.headers.items()), self.rfile.read(length))
                with server.lock:
                    server.seen.append(seen)
                    rejection = server.check(seen)
                    planned = server.plan.pop(0) if server.plan and rejection is None else None
                response = rejection or planned or server.default
                if callable(response):
                    response = response(seen)
                if response.sleep:
                    time.sleep(response.sleep)
                raw = response.raw
                if raw is None:
                    raw = json.dumps(response.body).encode()
                try:
                    self.send_response(response.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, format, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def then(self, *responses: Respond | Callable[[Seen], Respond]) -> FakeServer:
        self.plan.extend(responses)
        return self

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- OpenAI-compatible chat completions ---------------------------------------------------------


def completion(content: str | None = None, tool_calls: list | None = None, **extra) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "test-model-2024",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        **extra,
    }


def tool_call(name: str, arguments: Any, call_id: str = "call_1") -> dict:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _openai_error(status: int, message: str) -> Respond:
    return Respond(status, {"error": {"message": message, "type": "invalid_request_error"}})


def _content_ok(content: Any) -> bool:
    """A message's content as the API takes it: text, or parts (text, and images by URL)."""
    if isinstance(content, str):
        return True
    return isinstance(content, list) and all(
        (part.get("type") == "text" and isinstance(part.get("text"), str))
        or (
            part.get("type") == "image_url"
            and isinstance((part.get("image_url") or {}).get("url"), str)
        )
        for part in content
    )


def openai_check(seen: Seen) -> Respond | None:
    """What a real endpoint would refuse: wrong path, wrong key, a body without model,
    messages (system first, user last) and function tools."""
    if seen.path != "/v1/chat/completions":
        return _openai_error(404, f"Unknown path {seen.path}")
    if seen.headers.get("Authorization") != f"Bearer {API_KEY}":
        return _openai_error(401, "Incorrect API key provided")
    if seen.headers.get("Content-Type") != "application/json":
        return _openai_error(415, "Content-Type must be application/json")
    try:
        body = seen.json
    except ValueError:
        return _openai_error(400, "body is not JSON")
    messages = body.get("messages")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return _openai_error(400, "model is required")
    if not isinstance(messages, list) or not messages:
        return _openai_error(400, "messages is required")
    roles = [m.get("role") for m in messages]
    if roles[0] != "system" or roles[-1] != "user":
        return _openai_error(400, f"unexpected roles {roles}")
    if any(r not in {"system", "user", "assistant"} for r in roles):
        return _openai_error(400, f"unknown role in {roles}")
    if any(not _content_ok(m.get("content")) for m in messages):
        return _openai_error(400, "every message needs a string content, or content parts")
    tools = body.get("tools", [])  # an agent allowed no action is offered no tools
    if not isinstance(tools, list) or not all(
        t.get("type") == "function" and t["function"].get("parameters", {}).get("type") == "object"
        for t in tools
    ):
        return _openai_error(400, "tools must be function tools with object parameters")
    return None


# --- webhook ------------------------------------------------------------------------------------


def whsec(secret: str = WEBHOOK_SECRET) -> str:
    """A secret that is not ``whsec_<base64>`` written as the Standard Webhooks libraries take
    it (agents/runtimes/signing.py)."""
    if secret.startswith("whsec_"):
        return secret
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def verify_signature(seen: Seen, secret: str = WEBHOOK_SECRET) -> bool:
    """How a tenant's endpoint checks a delivery: with the maintained ``standardwebhooks``
    package, as the README tells integrators (it also refuses timestamps more than 5 minutes
    away)."""
    try:
        Webhook(whsec(secret)).verify(seen.raw, seen.headers)
    except WebhookVerificationError:
        return False
    return True


def verify_legacy_signature(seen: Seen, secret: str = WEBHOOK_SECRET, max_age: int = 300) -> bool:
    """The deprecated scheme (``WEBHOOK_LEGACY_SIGNATURE``), as integrators verified it."""
    timestamp = seen.headers.get("X-Timestamp", "")
    given = seen.headers.get("X-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > max_age:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + seen.raw, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(given, f"sha256={expected}")


def webhook_check(seen: Seen) -> Respond | None:
    if not verify_signature(seen):
        return Respond(401, {"error": "bad signature"})
    if seen.headers.get("Content-Type") != "application/json":
        return Respond(415, {"error": "expected JSON"})
    return None


# --- contexts -----------------------------------------------------------------------------------

BILLING_KNOWLEDGE = (
    KnowledgeItem(
        question="Why was I charged twice?",
        keywords=("charged twice", "double charge", "duplicate charge"),
        answer="I'm sorry about the double charge. I can refund the duplicate payment for you.",
        action="issue_refund",
        action_params={"orderId": "ORDER-1001", "amount": 49.0, "currency": "EUR"},
    ),
    KnowledgeItem(
        question="Where can I find my invoice?",
        keywords=("invoice", "receipt"),
        answer="Your invoices are under Account > Billing; each can be downloaded as a PDF.",
    ),
    KnowledgeItem(
        question="How do I get a refund for a late delivery?",
        keywords=("refund",),
        answer="Late deliveries are refunded automatically within 5 days.",
    ),
    KnowledgeItem(
        question="How do I close my account?",
        keywords=("close my account",),
        answer="You can close your account under Settings > Privacy.",
    ),
)


def make_agent(**changes) -> AgentSpec:
    values = {
        "slug": "agent-billing",
        "name": "Billing",
        "role": "specialist",
        "domains": ("billing", "refunds"),
        "runtime": "builtin",
        "runtime_config": {},
        "prompt": "",
        "knowledge": BILLING_KNOWLEDGE,
    }
    values.update(changes)
    return AgentSpec(**values)


def make_context(message: str = "Hello", **changes) -> TurnContext:
    values = {
        "tenant_name": "Acme",
        "agent": make_agent(),
        "conversation_id": "conv-1",
        "channel": "web",
        "message": message,
        "signals": {"intent": None, "sentiment": 0.0, "risk": []},
        "customer": {"id": "cust-1", "name": "Dana", "email": "dana@example.com", "attributes": {}},
        "transcript": (),
        "routing_instructions": "",
        "model": "default-model",
    }
    values.update(changes)
    return TurnContext(**values)
