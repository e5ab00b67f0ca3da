"""The webhook runtime: the tenant's own HTTP endpoint answers for the agent.

Configuration (``runtime_config``): ``url``; the signing ``secret`` (at least 16 characters) is
stored encrypted (``AgentSpec.runtime_secret``) and unsealed here right before the request.

Request: ``POST <url>`` with the JSON body (UTF-8, compact)::

    {"conversation": {"id": "...", "channel": "web", "customer": {"id", "name", "email",
                      "attributes", "verified"}},
     "agent": {"id": "agent-billing", "name": "Billing"},
     "message": "Why was I charged twice?",
     "signals": {"intent": "billing", "sentiment": -0.4, "risk": []},
     "transcript": [{"role": "customer|agent|human|system", "author": "...", "text": "..."}],
     "consultation": [{"agent": "...", "text": "..."}],   # only for a sequential supervisor
     "files": [{"filename", "contentType", "size", "url"}]}  # only when the message has any

(a workflow step also gets ``"workflow": {"name", "step", "inputs": {...}, "outputs":
["category", ...]}``: exactly the inputs the step names, and the outputs it should set) and the
headers of the Standard Webhooks specification (``agents.runtimes.signing``):

- ``Content-Type: application/json``
- ``webhook-id: msg_<32 hex>``: the same on every retry of one turn, so the endpoint can
  recognise a retry;
- ``webhook-timestamp: <unix time in seconds>``;
- ``webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">``, keyed with
  the secret's key (a ``whsec_<base64>`` secret: its decoded bytes; another secret: its UTF-8
  bytes, i.e. ``"whsec_" + base64(secret)`` for the libraries).

Verify with a ``standardwebhooks`` library (``Webhook(secret).verify(body, headers)``): it
checks the signature in constant time and refuses timestamps more than 5 minutes away. Each
retry is signed again with a fresh timestamp. With ``WEBHOOK_LEGACY_SIGNATURE`` on (the default
for this release; deprecated) the old headers come too: ``X-Timestamp``, ``X-Signature:
sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<raw body>")>`` and ``X-Delivery-Id``.

Response (2xx, JSON object)::

    {"reply": "text" | null,            # required
     "answered": true,                   # optional; default: a reply or an action was given
     "signals": {"intent": "billing" | null, "sentiment": -1..1, "risk": ["churn_risk"]},
                                         # optional; as a caller's signals: the orchestrator
                                         # feeds them to risk auto-escalation and the rules
     "actions": [{"name": "issue_refund", "params": {"orderId": "A1", "amount": 20}}],
     "outputs": {"category": "billing"},  # a workflow step's outputs (the names it declares)
     "usage": {"tokens": 812, "cost": 0.0031}}  # optional: counted against the budgets

Every field is checked; a malformed response is an error naming the field (``signals.sentiment
must be a number between -1 and 1``), like a timeout or a 5xx after the retries. Unknown
top-level keys are ignored (listed in ``detail["ignoredKeys"]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings

from agents.action_registry import (
    ParamsError,
    get_action,
)
from agents.detectors import CATEGORIES as RISK_CATEGORIES
from agents.runtimes.base import (
    AgentReply,
    ProposedAction,
    TurnContext,
    default_outputs,
    failed,
    plain_signals,
    recent_transcript,
)
from agents.runtimes.http import HttpPolicy, endpoint, post_json
from agents.runtimes.signing import new_message_id, signer
from core.secret_store import (
    SecretUnreadable,
    unseal,
)

RESPONSE_KEYS = {"reply", "answered", "signals", "actions", "outputs", "usage"}
MAX_INTENT_LENGTH = 100


def _plain(value: Any) -> Any:
    """Mappings and sequences as JSON-ready dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def payload(ctx: TurnContext) -> dict[str, Any]:
    customer = ctx.customer or {}
    body: dict[str, Any] = {
        "conversation": {
            "id": str(ctx.conversation_id),
            "channel": ctx.channel,
            "customer": {
                "id": customer.get("id"),
                "name": customer.get("name"),
                "email": customer.get("email"),
                "attributes": _plain(customer.get("attributes") or {}),
                # signed in on the tenant's website, which vouched for the id, name and e-mail
                "verified": bool(customer.get("verified")),
            },
        },
        "agent": {"id": ctx.agent.slug, "name": ctx.agent.name},
        "message": ctx.message,
        "signals": plain_signals(ctx),
        "transcript": [
            {"role": m.get("role"), "author": m.get("author"), "text": m.get("text")}
            for m in recent_transcript(ctx)
        ],
    }
    consultation = [
        {"agent": item.get("agent"), "text": item.get("text")}
        for item in ctx.consultation
        if isinstance(item, Mapping)
    ]
    if consultation:
        body["consultation"] = consultation
    if ctx.files:  # the files sent with the message, each by its signed link
        body["files"] = [
            {key: item.get(key) for key in ("filename", "contentType", "size", "url")}
            for item in ctx.files
        ]
    if ctx.step is not None:
        body["workflow"] = _plain(ctx.step.as_json())
    return body


class Malformed(ValueError):
    """The endpoint's response does not follow the protocol."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_signals(value: Any) -> dict[str, Any]:
    """The signals a webhook returned, checked as a caller's ``signals`` are: ``intent`` text
    (at most 100 characters) or null, ``sentiment`` a number in [-1, 1], ``risk`` a list of
    known risk categories. The orchestrator feeds them to risk auto-escalation and the rules
    (``merge_signals``)."""
    if not isinstance(value, Mapping):
        raise Malformed("signals must be an object")
    signals: dict[str, Any] = {}
    if "intent" in value:
        intent = value["intent"]
        if intent is not None and not isinstance(intent, str):
            raise Malformed("signals.intent must be a string or null")
        if isinstance(intent, str) and len(intent.strip()) > MAX_INTENT_LENGTH:
            raise Malformed(f"signals.intent must be at most {MAX_INTENT_LENGTH} characters")
        signals["intent"] = (intent or "").strip() or None
    if "sentiment" in value:
        sentiment = value["sentiment"]
        if not _number(sentiment) or not -1 <= sentiment <= 1:
            raise Malformed("signals.sentiment must be a number between -1 and 1")
        signals["sentiment"] = float(sentiment)
    if "risk" in value:
        risk = value["risk"]
        if not isinstance(risk, list):
            raise Malformed("signals.risk must be a list of strings")
        for i, category in enumerate(risk):
            if not isinstance(category, str) or not category.strip():
                raise Malformed(f"signals.risk[{i}] must be a non-empty string")
            if category not in RISK_CATEGORIES:
                raise Malformed(
                    f"signals.risk[{i}]: '{category[:50]}' is not a risk category "
                    f"(known: {', '.join(RISK_CATEGORIES)})"
                )
        signals["risk"] = sorted(set(risk))
    return signals


def parse_actions(value: Any) -> list[ProposedAction]:
    if not isinstance(value, list):
        raise Malformed("actions must be a list")
    actions = []
    for i, item in enumerate(value):
        where = f"actions[{i}]"
        if not isinstance(item, Mapping):
            raise Malformed(f"{where} must be an object with name and params")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise Malformed(f"{where}.name must be a string")
        spec = get_action(name)
        if spec is None:
            raise Malformed(f"{where}.name: '{name}' is not a registered action")
        params = item.get("params", {})
        if not isinstance(params, Mapping):
            raise Malformed(f"{where}.params must be an object")
        try:
            checked = spec.validate_params(dict(params))
        except ParamsError as exc:
            problems = "; ".join(f"{where}.params.{k}: {v}" for k, v in exc.errors.items())
            raise Malformed(problems) from None
        actions.append(ProposedAction(name=name, params=checked))
    return actions


def parse_usage(value: Any) -> tuple[int, float]:
    """``(tokens, cost)`` from ``{"tokens"?: int >= 0, "cost"?: number >= 0}``."""
    if not isinstance(value, Mapping):
        raise Malformed("usage must be an object")
    tokens = value.get("tokens", 0)
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise Malformed("usage.tokens must be a whole number >= 0")
    cost = value.get("cost", 0)
    if not _number(cost) or cost < 0:
        raise Malformed("usage.cost must be a number >= 0")
    return tokens, float(cost)


def parse_response(data: Any) -> dict[str, Any]:
    """The checked response: ``reply``, ``answered``, ``signals``, ``actions``, ``outputs``,
    ``ignored``. Raises :class:`Malformed` naming the first problem."""
    if not isinstance(data, Mapping):
        raise Malformed("the response must be a JSON object")
    if "reply" not in data:
        raise Malformed("reply is missing (use null for no reply)")
    reply = data["reply"]
    if reply is not None and not isinstance(reply, str):
        raise Malformed("reply must be a string or null")
    if reply is not None:
        reply = reply.strip() or None
    signals = parse_signals(data["signals"]) if data.get("signals") is not None else None
    actions = parse_actions(data["actions"]) if data.get("actions") is not None else []
    outputs = data.get("outputs")
    if outputs is None:
        outputs = {}
    elif not isinstance(outputs, Mapping):
        raise Malformed("outputs must be an object")
    usage = parse_usage(data["usage"]) if data.get("usage") is not None else (0, 0.0)
    answered = data.get("answered")
    if answered is None:
        answered = bool(reply) or bool(actions)
    elif not isinstance(answered, bool):
        raise Malformed("answered must be true or false")
    return {
        "reply": reply,
        "answered": answered,
        "signals": signals,
        "actions": actions,
        "outputs": dict(outputs),
        "usage": usage,
        "ignored": sorted(str(k) for k in data if k not in RESPONSE_KEYS),
    }


def run(ctx: TurnContext, *, policy: HttpPolicy | None = None) -> AgentReply:
    config = ctx.agent.runtime_config or {}
    url = config.get("url")
    detail: dict[str, Any] = {"runtime": "webhook"}
    if not isinstance(url, str) or not url.strip():
        return failed("the webhook runtime has no url", detail=detail)
    detail["endpoint"] = endpoint(url)
    if not ctx.agent.runtime_secret:
        return failed("the webhook runtime has no secret", detail=detail)
    try:
        secret = unseal(ctx.agent.runtime_secret)
        sign = signer(
            secret, (delivery := new_message_id()), legacy=settings.WEBHOOK_LEGACY_SIGNATURE
        )
    except SecretUnreadable as exc:
        return failed(f"the stored secret is unreadable: {exc}; set it again", detail=detail)
    except ValueError as exc:
        return failed(f"the stored secret cannot sign: {exc}; set it again", detail=detail)
    detail["deliveryId"] = delivery
    response = post_json(url.strip(), payload(ctx), sign=sign, policy=policy)
    detail.update(status=response.status, httpMs=response.duration_ms)
    if response.failures:
        detail["retried"] = response.failures
    if response.error:
        return failed(response.error, attempts=response.attempts, detail=detail)
    try:
        parsed = parse_response(response.data)
    except Malformed as exc:
        return failed(f"bad webhook response: {exc}", attempts=response.attempts, detail=detail)
    if parsed["ignored"]:
        detail["ignoredKeys"] = parsed["ignored"]
    if parsed["actions"]:
        detail["actions"] = [{"name": a.name, "params": a.params} for a in parsed["actions"]]
    tokens, cost = parsed["usage"]
    if tokens or cost:
        detail["usage"] = {"tokens": tokens, "cost": cost}
    text, answered = parsed["reply"], parsed["answered"]
    return AgentReply(
        text=text,
        answered=answered,
        proposed_actions=parsed["actions"],
        signals=parsed["signals"],
        outputs={**default_outputs(ctx, text, answered), **parsed["outputs"]},
        attempts=response.attempts,
        detail=detail,
        tokens=tokens,
        cost=cost,
    )
