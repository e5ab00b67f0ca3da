"""Pages of the handover (SPEC 8): the live inbox of human agents and the customer's web chat.

Thin edges: each view checks who may do what, reads through the selectors or calls one
service, and renders. The inbox page is server-rendered and then kept live by
``static/handover/inbox.js`` over ``/ws/inbox/``; the chat page by ``static/handover/chat.js``
over ``/ws/conversations/<id>/?token=``. Neither page ever holds an API key.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from agents.models import Agent, AgentRole
from agents.orchestrator_settings import chat_workflow
from config import ratelimit
from conversations.messages import message_json
from conversations.models import (
    Channel,
    Conversation,
    Message,
    State,
)
from conversations.services import conversation_start
from core.api_errors import domain_error_response, error_body
from core.errors import DomainError, Invalid
from core.json_input import (
    JsonRefused,
    loads,
    text_problem,
)
from core.limits import MAX_MESSAGE_TEXT, message_text
from core.models import Tenant
from core.permissions import page_door
from core.scoping import membership_of
from handover.limits import chat_start_address_refusal, chat_start_tenant_refusal, wait_text
from handover.models import OPEN_STATUSES, Handoff
from handover.presence import HEARTBEAT_SECONDS
from handover.selectors import (
    handoff_json,
    handoffs_for,
    open_handoffs,
)
from handover.services import (
    conversation_hand_back,
    conversation_resolve,
    handoff_claim,
)
from orchestration.activity import actions_done, activity_of
from orchestration.packs import pack_preview
from orchestration.reach import narrow_conversations
from orchestration.turns import conversation_receive_message

MAX_NAME = 100
MAX_START_BODY = 32 * 1024
TRANSCRIPT_LIMIT = 500


# --- the inbox ----------------------------------------------------------------------------------


def _url_or_none(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


@page_door
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    membership = membership_of(request.user)
    tenant = membership.tenant
    now = timezone.now()
    target = tenant.response_target
    me = request.user.get_username()
    rows = [handoff_json(h, now=now, target=target) for h in open_handoffs(tenant)]
    offers = [h for h in rows if h["status"] == "offered"]
    mine = [h for h in rows if h["status"] == "claimed" and h["claimedBy"] == me]
    queue = [h for h in rows if h["status"] == "queued"]
    return render(
        request,
        "handover/inbox.html",
        {
            "tenant": tenant,
            "offers": offers,
            "mine": mine,
            "queue": queue,
            "target_minutes": int(target.total_seconds() // 60),
            "config": {
                "me": me,
                "csrfToken": get_token(request),
                "myName": request.user.get_full_name() or me,
                "heartbeatSeconds": HEARTBEAT_SECONDS,
                "socketPath": "/ws/inbox/",
                "conversationUrl": reverse("inbox-conversation", args=[_UUID_SLOT]),
                "resolveUrl": reverse("inbox-resolve", args=[_UUID_SLOT]),
                "handBackUrl": reverse("inbox-hand-back", args=[_UUID_SLOT]),
                "claimUrl": reverse("inbox-claim", args=[0]),
                "approvalsUrl": _url_or_none("approvals"),
                "agents": _agent_names(tenant),
                "handoffs": [*offers, *mine, *queue],
            },
        },
    )


_UUID_SLOT = "00000000-0000-0000-0000-000000000000"  # replaced by the script


def _agent_names(tenant: Tenant) -> dict[str, str]:
    return dict(Agent.objects.filter(tenant=tenant).values_list("slug", "name"))


def _tenant_conversation(request: HttpRequest, tenant: Tenant, conversation_id) -> Conversation:
    """A conversation of the tenant within the page's reach (see the permission matrix)."""
    return get_object_or_404(
        narrow_conversations(
            Conversation.objects.select_related("assignee", "current_agent"), request.reach
        ),
        tenant=tenant,
        pk=conversation_id,
    )


@page_door
@require_GET
def inbox_conversation(request: HttpRequest, conversation_id) -> JsonResponse:
    """One conversation of the agent's tenant as the inbox shows it: its latest handoff (with
    its pack, or a preview of one), the transcript, and who has it. Only a conversation that
    was handed to people: any other is a 404."""
    tenant = membership_of(request.user).tenant
    conversation = _tenant_conversation(request, tenant, conversation_id)
    handoffs = list(handoffs_for(tenant).filter(conversation=conversation).order_by("-id")[:5])
    handoff = next((h for h in handoffs if h.status in OPEN_STATUSES), None) or (
        handoffs[0] if handoffs else None
    )
    messages = list(
        Message.objects.filter(conversation=conversation).order_by("-id")[:TRANSCRIPT_LIMIT]
    )[::-1]
    agents = _agent_names(tenant)
    activity = activity_of(conversation, agents=agents)
    data = None
    if handoff is not None:
        data = handoff_json(handoff, target=tenant.response_target)
        if data["pack"] is None:
            data["pack"] = pack_preview(handoff, messages, activity)
        else:  # what was done is read now: a decision may have come since the pack was built
            data["pack"]["activity"] = activity
            if data["pack"]["brief"]:
                done = [item["text"] for item in actions_done(activity)]
                data["pack"]["brief"] = {**data["pack"]["brief"], "done": done}
    return JsonResponse(
        {
            "conversation": {
                "id": str(conversation.pk),
                "state": conversation.state,
                "channel": conversation.channel,
                "customer": conversation.customer_display,
                "customerEmail": conversation.customer_email,
                "assignee": conversation.assignee.get_username()
                if conversation.assignee_id
                else None,
                "currentAgent": conversation.current_agent.name,
                "turns": conversation.turns,
                "createdAt": conversation.created_at.isoformat(),
            },
            "handoff": data,
            "messages": [message_json(m) for m in messages],
            "activity": activity,
        }
    )


def _json_error(status: int, code: str, message: str, fields=None) -> JsonResponse:
    return JsonResponse(error_body(code, message, fields), status=status)


@page_door
@require_POST
def inbox_claim(request: HttpRequest, handoff_id: int) -> JsonResponse:
    """Claim without the socket (the page falls back to it while reconnecting)."""
    handoff = get_object_or_404(Handoff, tenant=membership_of(request.user).tenant, pk=handoff_id)
    try:
        handoff_claim(handoff=handoff, user=request.user)
    except DomainError as exc:
        return domain_error_response(exc)
    return JsonResponse({"ok": True, "conversationId": str(handoff.conversation_id)})


def _conversation_action(request: HttpRequest, conversation_id, service) -> JsonResponse:
    tenant = membership_of(request.user).tenant
    conversation = _tenant_conversation(request, tenant, conversation_id)
    try:
        done = service(conversation=conversation, user=request.user)
    except DomainError as exc:
        return domain_error_response(exc)
    return JsonResponse({"ok": True, "conversationId": str(done.pk), "state": done.state})


@page_door
@require_POST
def inbox_resolve(request: HttpRequest, conversation_id) -> JsonResponse:
    return _conversation_action(request, conversation_id, conversation_resolve)


@page_door
@require_POST
def inbox_hand_back(request: HttpRequest, conversation_id) -> JsonResponse:
    return _conversation_action(request, conversation_id, conversation_hand_back)


# --- the customer's web chat --------------------------------------------------------------------


def entry_agent(tenant: Tenant) -> Agent | None:
    """Where a web chat starts: the tenant's top supervisor (one that reports to nobody),
    else its first agent."""
    agents = Agent.objects.filter(tenant=tenant).order_by("created_at", "pk")
    return (
        agents.filter(role=AgentRole.SUPERVISOR, supervisor__isnull=True).first() or agents.first()
    )


def assistant_name(tenant: Tenant) -> str:
    """The one name the AI has in the tenant's chat, whichever agent answers (issue 19,
    point 10): the customer talks to the tenant's assistant, not to its org chart."""
    return f"{tenant.name} \u00b7 AI assistant"


def _chat_session_key(tenant: Tenant) -> str:
    return f"chat:{tenant.slug}"


def _resume(request: HttpRequest, tenant: Tenant) -> dict[str, str] | None:
    """The visitor's open conversation with the tenant, kept in their session by the start,
    so another tab or a reload (even with the browser's storage cleared) carries on with it."""
    kept = request.session.get(_chat_session_key(tenant))
    if not isinstance(kept, dict) or not kept.get("conversationId") or not kept.get("token"):
        return None
    try:
        open_ = (
            Conversation.objects.filter(tenant=tenant, pk=kept["conversationId"])
            .exclude(state=State.RESOLVED)
            .exists()
        )
    except (ValidationError, ValueError, TypeError):  # not a UUID: not ours to resume
        open_ = False
    if not open_:
        request.session.pop(_chat_session_key(tenant), None)
        return None
    return {"conversationId": kept["conversationId"], "token": kept["token"]}


@require_GET
def chat(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_object_or_404(Tenant, slug=slug)
    if entry_agent(tenant) is None:
        return render(request, "handover/chat_unavailable.html", {"tenant": tenant}, status=503)
    return render(
        request,
        "handover/chat.html",
        {
            "tenant": tenant,
            "config": {
                "tenant": tenant.slug,
                "tenantName": tenant.name,
                "assistantName": assistant_name(tenant),
                "startUrl": reverse("chat-start", args=[tenant.slug]),
                "socketPath": "/ws/conversations/",
                "maxText": MAX_MESSAGE_TEXT,
                "resume": _resume(request, tenant),
            },
        },
    )


def _start_input(request: HttpRequest) -> dict[str, Any]:
    """The start's fields, from a JSON body (through the one JSON door: raises JsonRefused)
    or a form."""
    if request.content_type == "application/json":
        data = loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise JsonRefused("the body must be a JSON object")
        return data
    return request.POST.dict()


def _rate_limited(verdict: ratelimit.Verdict, message: str) -> JsonResponse:
    response = _json_error(
        429, "rate_limited", f"{message} Try again in {wait_text(verdict.retry_after)}."
    )
    response["Retry-After"] = str(verdict.retry_after)
    return response


@require_POST
def chat_start(request: HttpRequest, slug: str) -> JsonResponse:
    """Start a web conversation with the tenant's entry agent (in the workflow its
    ``chatWorkflow`` setting names, if any) and run the customer's first
    message through the orchestrator. Answers the conversation id and the customer token the
    page keeps to open its socket. CSRF-protected; no API key is involved. Rate-limited per
    client address and per tenant (``handover.limits``); nothing is written unless every
    check passed."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Http404("No such chat.")
    refused = chat_start_address_refusal(ratelimit.client_ip(request))
    if refused is not None:
        return _rate_limited(refused, "Too many chats started from your address.")
    agent = entry_agent(tenant)
    if agent is None:
        return _json_error(503, "unavailable", "Chat is not available right now.")
    if len(request.body) > MAX_START_BODY:
        return _json_error(413, "too_large", "The request is too large.")
    try:
        data = _start_input(request)
    except JsonRefused as exc:
        if exc.path:
            return _json_error(400, "invalid", "Please check the form.", {exc.path: [exc.reason]})
        return _json_error(400, "invalid", f"The body is not acceptable JSON: {exc.reason}.")
    fields: dict[str, list[str]] = {}
    name, text = data.get("name", ""), data.get("text", "")
    if name is None:
        name = ""
    if not isinstance(name, str) or len(name.strip()) > MAX_NAME:
        fields["name"] = [f"must be text of at most {MAX_NAME} characters"]
    elif problem := text_problem(name):
        fields["name"] = [problem]
    if not isinstance(text, str) or not text.strip():
        fields["text"] = ["Write your message to start the conversation."]
    else:
        try:
            text = message_text(text)
        except Invalid as exc:
            fields.update(exc.fields)
    if fields:
        return _json_error(400, "invalid", "Please check the form.", fields)
    refused = chat_start_tenant_refusal(tenant.pk)
    if refused is not None:
        return _rate_limited(refused, "This chat is very busy right now.")
    conversation, token = conversation_start(
        tenant=tenant,
        agent=agent,
        channel=Channel.WEB,
        customer={"id": f"web-{secrets.token_hex(8)}", "name": name.strip()},
        workflow=chat_workflow(agent),  # the chatWorkflow setting (issue 18 point 5)
    )
    try:
        conversation_receive_message(conversation=conversation, text=text.strip())
    except DomainError as exc:  # closed: cannot happen to a new conversation; be plain anyway
        return domain_error_response(exc)
    request.session[_chat_session_key(tenant)] = {
        "conversationId": str(conversation.pk),
        "token": token,
    }
    return JsonResponse(
        {"conversationId": str(conversation.pk), "token": token, "name": name.strip()},
        status=201,
    )
