"""Pages of the handover (SPEC 8): the live inbox of human agents and the customer's web chat.

Thin edges: each view checks who may do what, reads through the selectors or calls one
service, and renders. The inbox page is server-rendered and then kept live by
``static/handover/inbox.js`` over ``/ws/inbox/``; the chat page by ``static/handover/chat.js``
over ``/ws/conversations/<id>/?token=``. Neither page ever holds an API key.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
    ValidationError,
)
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db.models import OuterRef, Subquery
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from agents.models import Agent, AgentRole
from agents.orchestrator_settings import BANDS, chat_workflow, priority_band
from config import ratelimit
from config.framing import policy_framed_by, same_origin_or_csrf
from conversations.attachments import (
    IMAGE_TYPES,
    attachment_by_link,
    attachment_send,
    only_files,
)
from conversations.attributes import attributes_shown, attributes_typed
from conversations.blocks import Blocked
from conversations.email import subject_from_text
from conversations.messages import files_shown, message_json
from conversations.models import (
    Channel,
    Conversation,
    Message,
    MessageRole,
    State,
)
from conversations.search import (
    BadFilter,
    Filters,
    conversations_found,
    customer_conversations,
    customer_conversations_count,
    filters_query,
)
from conversations.search import filters_from as search_filters
from conversations.selectors import last_shown
from conversations.services import (
    UNCHANGED,
    conversation_email_follow_up,
    conversation_start,
    customer_details_update,
    customer_token_matches,
    signed_in_customer_token,
)
from conversations.tags import conversation_tag, conversation_untag, tags_of, tenant_tag_names
from core.api_errors import domain_error_response, error_body
from core.api_parsers import FILE_FORM_OVERHEAD
from core.chat_look import chat_look
from core.csv_cells import csv_safe
from core.errors import DomainError, Invalid
from core.json_input import (
    JsonRefused,
    loads,
    text_problem,
)
from core.limits import MAX_MESSAGE_TEXT, message_text, size_text
from core.models import Membership, Tenant
from core.permissions import MANAGER, admin_allowed, page_door, page_reach, person_hats
from core.scoping import membership_of
from handover.assignment import handoff_give
from handover.blocking import customer_block
from handover.bulk import conversations_bulk
from handover.chat_history import (
    rating_of,
    signed_in_conversation,
    signed_in_conversations,
    theirs,
)
from handover.csat import CsatAlreadyRated, CsatNotYet, csat_comment, csat_record
from handover.identity import Visitor, claims_applied, visitor_identity
from handover.limits import (
    chat_identity_refusal,
    chat_message_refusal,
    chat_start_address_refusal,
    chat_start_tenant_refusal,
    chat_transcript_refusal,
    inbox_upload_refusal,
    wait_text,
)
from handover.mentions import mentionable
from handover.merge import conversation_merge, merge_target
from handover.models import (
    OPEN_STATUSES,
    AgentSetting,
    AgentStatus,
    CannedReply,
    CsatRating,
    Handoff,
    PeopleGroup,
    Presence,
    Status,
)
from handover.names import assistant_name
from handover.paging import page_number
from handover.presence import HEARTBEAT_SECONDS, online_agents
from handover.priority import handoff_prioritize
from handover.saved_searches import saved_searches_shown
from handover.selectors import (
    handoff_json,
    handoffs_for,
    open_handoffs,
)
from handover.services import (
    KEEP_GROUP,
    agent_limit,
    conversation_hand_back,
    conversation_requeue,
    conversation_resolve,
    conversation_transfer,
    handoff_claim,
    human_send_message,
    note_post,
    team_back,
)
from handover.targets import TargetBook, targets_text
from handover.transcripts import transcript_address, transcript_request
from handover.viewing import viewers_of
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
    if not membership.is_agent:  # a manager: the team's view, who holds what
        return redirect("inbox-team")
    tenant = membership.tenant
    now = timezone.now()
    targets = TargetBook(tenant)
    me = request.user.get_username()
    rows = [handoff_json(h, now=now, targets=targets) for h in open_handoffs(tenant)]
    offers = [h for h in rows if h["status"] == "offered"]
    mine = [h for h in rows if h["status"] == "claimed" and h["claimedBy"] == me]
    queue = [h for h in rows if h["status"] == "queued"]
    my_groups = list(request.user.people_groups.values_list("name", flat=True))
    return render(
        request,
        "handover/inbox.html",
        {
            "tenant": tenant,
            "offers": offers,
            "mine": mine,
            "queue": queue,
            "my_groups": my_groups,
            "targets_text": targets_text(targets.tenant_targets),
            "config": {
                "me": me,
                "meId": request.user.pk,
                "csrfToken": get_token(request),
                "myName": request.user.get_full_name() or me,
                "myFirstName": request.user.first_name or request.user.get_full_name() or me,
                "tenantName": tenant.name,  # a canned reply's {company}
                "heartbeatSeconds": HEARTBEAT_SECONDS,
                "socketPath": "/ws/inbox/",
                "conversationUrl": reverse("inbox-conversation", args=[_UUID_SLOT]),
                "resolveUrl": reverse("inbox-resolve", args=[_UUID_SLOT]),
                "handBackUrl": reverse("inbox-hand-back", args=[_UUID_SLOT]),
                "claimUrl": reverse("inbox-claim", args=[0]),
                "approvalsUrl": _url_or_none("approvals"),
                "transferUrl": reverse("inbox-transfer", args=[_UUID_SLOT]),
                "requeueUrl": reverse("inbox-requeue", args=[_UUID_SLOT]),
                "myGroups": my_groups,  # the queue's "only my groups" (handover.groups)
                # the groups a conversation can be put back in the queue for (handover.groups)
                "groups": [
                    {"id": g.pk, "name": g.name} for g in PeopleGroup.objects.filter(tenant=tenant)
                ],
                "filesUrl": reverse("inbox-files", args=[_UUID_SLOT]),
                "tagsUrl": reverse("inbox-tags", args=[_UUID_SLOT]),
                "customerUrl": reverse("inbox-customer", args=[_UUID_SLOT]),
                "blockUrl": reverse("inbox-block", args=[_UUID_SLOT]),
                "addressBlockDays": settings.CHAT_ADDRESS_BLOCK_DAYS,
                "transcriptUrl": reverse("inbox-transcript", args=[_UUID_SLOT]),
                "mergeUrl": reverse("inbox-merge", args=[_UUID_SLOT]),
                "priorityUrl": reverse("inbox-priority", args=[0]),
                "tagNames": tenant_tag_names(tenant.pk),
                "maxFileBytes": settings.ATTACHMENT_MAX_BYTES,
                "cannedReplies": [
                    {
                        "id": r.pk,
                        "shortcut": r.shortcut,
                        "title": r.title,
                        "text": r.text,
                        "tags": r.tags or [],
                        "then": r.then,
                    }
                    for r in CannedReply.objects.filter(tenant=tenant)[:500]
                ],
                "myStatus": AgentSetting.objects.filter(user=request.user)
                .values_list("status", flat=True)
                .first()
                or AgentStatus.ONLINE,
                "myLimit": agent_limit(request.user),
                "historyUrl": reverse("inbox-history"),
                "teamUrl": reverse("inbox-team") if membership.is_manager else None,
                "agents": _agent_names(tenant),
                # the colleagues a private note may name (``@username``): handover.mentions
                "people": [
                    {"username": p.get_username(), "name": p.get_full_name()}
                    for p in mentionable(tenant.pk).order_by("username")[:500]
                ],
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
        data = handoff_json(handoff, targets=TargetBook(tenant))
        if data["pack"] is None:
            data["pack"] = pack_preview(handoff, messages, activity)
        else:  # what was done is read now: a decision may have come since the pack was built
            data["pack"]["activity"] = activity
            if data["pack"]["brief"]:
                done = [item["text"] for item in actions_done(activity)]
                data["pack"]["brief"] = {**data["pack"]["brief"], "done": done}
    reachable = narrow_conversations(Conversation.objects.all(), request.reach)
    past = customer_conversations(conversation, base=reachable, limit=CUSTOMER_PANEL_MAX + 1)
    past_count = (
        len(past)
        if len(past) <= CUSTOMER_PANEL_MAX
        else customer_conversations_count(conversation, base=reachable)
    )
    return JsonResponse(
        {
            "conversation": {
                "id": str(conversation.pk),
                "state": conversation.state,
                "channel": conversation.channel,
                "customer": conversation.customer_display,
                "customerName": conversation.customer_name,
                "customerEmail": conversation.customer_email,
                # a signed-in visitor of the website, who it signed for (handover.identity)
                "customerVerified": conversation.customer_verified,
                "customerId": conversation.customer_ref,
                "emailFollowUp": conversation.email_follow_up,  # a web chat's replies by e-mail
                # the last message of ours the web chat's customer had on their screen
                "customerSeenMessageId": conversation.customer_seen_message_id,
                "tags": tags_of(conversation),
                # the web page the chat was opened on (embed.js), or an integrator's "page"
                "startedOn": _website_page(
                    (conversation.customer_attributes or {}).get("page"), None
                ),
                # what the integration tells of the customer (conversations.attributes)
                "attributes": attributes_shown(conversation.customer_attributes),
                "assignee": conversation.assignee.get_username()
                if conversation.assignee_id
                else None,
                "currentAgent": conversation.current_agent.name,
                "turns": conversation.turns,
                "createdAt": conversation.created_at.isoformat(),
                # merged into another of the customer's conversations (handover.merge)
                "mergedInto": str(conversation.merged_into_id)
                if conversation.merged_into_id
                else None,
            },
            "handoff": data,
            "messages": [message_json(m) for m in messages],
            "activity": activity,
            "viewUrl": reverse("inbox-conversation-page", args=[conversation.pk]),
            # the customer's other conversations the person reaches, for the customer panel
            "customerHistory": [
                {
                    "id": str(c.pk),
                    "state": c.state,
                    "channel": c.channel,
                    "createdAt": c.created_at.isoformat(),
                    "assignee": c.assignee.get_username() if c.assignee_id else None,
                    "url": reverse("inbox-conversation-page", args=[c.pk]),
                }
                for c in past[:CUSTOMER_PANEL_MAX]
            ],
            # past the latest ones listed: how many, and the history's search for them
            "customerHistoryCount": past_count,
            "customerHistoryUrl": _history_of(conversation)
            if past_count > CUSTOMER_PANEL_MAX
            else None,
            # the customer's page: what is known of them, all their conversations
            "customerUrl": f"{reverse('inbox-customer-page')}?"
            f"{urlencode({'id': conversation.customer_ref})}",
        }
    )


CUSTOMER_PANEL_MAX = 10  # the customer's other conversations the inbox's panel lists


def _history_of(conversation: Conversation) -> str:
    """The history searched for the conversation's customer: by their e-mail address when they
    gave one (it finds their mails and their chats), else by their customer id."""
    who = conversation.customer_email.strip() or conversation.customer_ref
    return f"{reverse('inbox-history')}?{urlencode({'customer': who})}"


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


@page_door
@require_POST
def inbox_priority(request: HttpRequest, handoff_id: int) -> JsonResponse:
    """Set an open handoff's priority band: JSON ``{"priority": "urgent"}`` (high, medium,
    low). 200 ``{"priority", "band"}``; 400 naming ``priority``; 409 once it is closed."""
    tenant = membership_of(request.user).tenant
    handoff = get_object_or_404(handoffs_for(tenant), pk=handoff_id)
    data = _chat_body(request)
    if isinstance(data, JsonResponse):
        return data
    who = request.user.get_full_name() or request.user.get_username()
    try:
        done = handoff_prioritize(handoff=handoff, band=data.get("priority"), by=who)
    except DomainError as exc:
        return domain_error_response(exc)
    return JsonResponse({"priority": done.priority, "band": priority_band(done.priority)})


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


@page_door
@require_POST
def inbox_transfer(request: HttpRequest, conversation_id) -> JsonResponse:
    """Pass a conversation you hold to a colleague (form or JSON field ``to``: a username)."""
    tenant = membership_of(request.user).tenant
    conversation = _tenant_conversation(request, tenant, conversation_id)
    to = request.POST.get("to", "")
    if request.content_type == "application/json":
        try:
            body = loads(request.body or b"{}")
        except JsonRefused as exc:
            return _json_error(400, "invalid", f"The body is not acceptable JSON: {exc.reason}.")
        to = body.get("to", "") if isinstance(body, dict) else ""
    if not isinstance(to, str) or not to.strip():
        return _json_error(400, "invalid", "Choose a colleague.", {"to": ["required"]})
    try:
        done = conversation_transfer(conversation=conversation, user=request.user, to_username=to)
    except DomainError as exc:
        return domain_error_response(exc)
    return JsonResponse({"ok": True, "conversationId": str(done.pk), "assignee": to})


@page_door
@require_POST
def inbox_files(request: HttpRequest, conversation_id) -> JsonResponse:
    """The person holding the conversation sends a file (a return label, a screenshot): a
    multipart form with ``file`` and an optional ``text``; it reaches the customer as their
    reply does (by e-mail too, attached, where replies are e-mailed). With ``note=1`` any human
    agent attaches it to a private note instead, for colleagues only. 201 ``{"messageId",
    "attachment"}``; 400 naming ``file`` or ``text``; 409 when they do not hold it (a reply);
    413 past ``ATTACHMENT_MAX_BYTES``."""
    tenant = membership_of(request.user).tenant
    conversation = _tenant_conversation(request, tenant, conversation_id)
    refused = inbox_upload_refusal(request.user.pk)
    if refused is not None:
        return _rate_limited(refused, "You are sending files too fast.")
    form = _upload_form(request)
    if isinstance(form, JsonResponse):
        return form
    data, upload = form
    as_note = data.get("note") in ("1", "true")
    write = note_post if as_note else human_send_message
    try:
        message = attachment_send(
            conversation=conversation,
            upload=upload,
            text=data.get("text"),
            sent_by=MessageRole.NOTE if as_note else MessageRole.HUMAN,
            send=lambda text, files: write(
                conversation=conversation, user=request.user, text=text, files=files
            ),
        )
    except DomainError as exc:  # a bad file or text; or not theirs (any more)
        return domain_error_response(exc)
    return _file_sent(message)


@page_door
@require_POST
def inbox_tags(request: HttpRequest, conversation_id) -> JsonResponse:
    """Put a tag on a conversation the person reaches, or take one off: JSON ``{"add":
    "damaged"}`` or ``{"remove": "damaged"}``. 200 ``{"tags": [...]}``; 400 naming ``tag``."""
    tenant = membership_of(request.user).tenant
    conversation = _tenant_conversation(request, tenant, conversation_id)
    data = _chat_body(request)
    if isinstance(data, JsonResponse):
        return data
    try:
        if "add" in data:
            tags = conversation_tag(conversation=conversation, name=data["add"], user=request.user)
        elif "remove" in data:
            tags = conversation_untag(conversation=conversation, name=data["remove"])
        else:
            raise Invalid(fields={"tag": "say add or remove"})
    except Invalid as exc:
        return domain_error_response(exc)
    return JsonResponse({"tags": tags})


@page_door
@require_POST
def inbox_customer(request: HttpRequest, conversation_id) -> JsonResponse:
    """Set the customer's name or e-mail address, as they told it, or what is known of them, on a
    conversation the person reaches: JSON ``{"name": "Kim Lee", "email": "kim@example.com",
    "attributes": {"plan": "pro", "orders": "4", "old": null}}`` (any of them; an empty name or
    address clears it, an empty or null attribute takes it off, a text keeps the kind of the
    value it replaces: ``conversations.attributes.attributes_typed``). 200 ``{"customer",
    "customerName", "customerEmail", "attributes"}``; 400 naming the field."""
    tenant = membership_of(request.user).tenant
    conversation = _tenant_conversation(request, tenant, conversation_id)
    data = _chat_body(request)
    if isinstance(data, JsonResponse):
        return data
    name = request.user.get_full_name() or request.user.get_username()
    try:
        attributes = (
            attributes_typed(conversation.customer_attributes, data["attributes"])
            if "attributes" in data
            else UNCHANGED
        )
        changed = customer_details_update(
            conversation=conversation,
            by=name,
            name=data.get("name", UNCHANGED),
            email=data.get("email", UNCHANGED),
            attributes=attributes,
        )
    except Invalid as exc:
        return domain_error_response(exc)
    return JsonResponse(
        {
            "customer": changed.customer_display,
            "customerName": changed.customer_name,
            "customerEmail": changed.customer_email,
            "attributes": attributes_shown(changed.customer_attributes),
        }
    )


@page_door
@require_POST
def inbox_transcript(request: HttpRequest, conversation_id) -> JsonResponse:
    """E-mail a copy of a conversation the person reaches (``handover.transcripts``): JSON
    ``{"to": "kim@example.com"}`` (empty: the customer's address). 202 ``{"to"}``; 400 naming
    ``to`` (a bad address, none known, or too many copies this hour)."""
    tenant = membership_of(request.user).tenant
    conversation = _tenant_conversation(request, tenant, conversation_id)
    data = _chat_body(request)
    if isinstance(data, JsonResponse):
        return data
    try:
        mail = transcript_request(conversation=conversation, to=data.get("to"), user=request.user)
    except Invalid as exc:
        return domain_error_response(exc)
    return JsonResponse({"to": mail.to}, status=202)


@page_door
@require_POST
def inbox_block(request: HttpRequest, conversation_id) -> JsonResponse:
    """Block the customer of a conversation the person reaches (spam, abuse) and resolve it:
    JSON ``{"reason": "..."}`` (optional). 200 ``{"state": "resolved", "blocked": [...]}``; 400
    naming ``reason``. A manager unblocks in the admin."""
    tenant = membership_of(request.user).tenant
    conversation = _tenant_conversation(request, tenant, conversation_id)
    data = _chat_body(request)
    if isinstance(data, JsonResponse):
        return data
    try:
        done, blocks = customer_block(
            conversation=conversation, user=request.user, reason=data.get("reason", "")
        )
    except Invalid as exc:
        return domain_error_response(exc)
    shown = sorted(str(block) for block in blocks)
    return JsonResponse({"state": done.state, "blocked": shown})


@page_door
@require_POST
def inbox_merge(request: HttpRequest, conversation_id) -> JsonResponse:
    """Merge a conversation the person reaches into another of the same customer they reach:
    JSON ``{"into": "<uuid>"}``. 200 ``{"into": id, "state": "resolved"}``; 400 naming
    ``into``; 409 when either is resolved (``handover.merge``)."""
    tenant = membership_of(request.user).tenant
    conversation = _tenant_conversation(request, tenant, conversation_id)
    data = _chat_body(request)
    if isinstance(data, JsonResponse):
        return data
    reachable = narrow_conversations(Conversation.objects.filter(tenant=tenant), request.reach)
    name = request.user.get_full_name() or request.user.get_username()
    try:
        into = merge_target(reachable, data.get("into"))
        merged = conversation_merge(source=conversation, into=into, by=name)
    except DomainError as exc:
        return domain_error_response(exc)
    return JsonResponse({"into": str(merged.pk), "state": "resolved"})


@page_door
@require_POST
def inbox_requeue(request: HttpRequest, conversation_id) -> JsonResponse:
    """Put a conversation you hold back in the queue (offered again): JSON ``{"group": id}``
    (optional) for one of the team's groups, ``null`` for everyone; without it, the group it
    had. 400 naming ``group``."""
    tenant = membership_of(request.user).tenant
    conversation = _tenant_conversation(request, tenant, conversation_id)
    data = _chat_body(request) if request.body else {}
    if isinstance(data, JsonResponse):
        return data
    group: Any = KEEP_GROUP
    if "group" in data:
        group = _tenant_group(tenant, data["group"])
        if group is KEEP_GROUP:
            return domain_error_response(
                Invalid(fields={"group": "must be the id of one of the team's groups, or null"})
            )
    try:
        handoff = conversation_requeue(conversation=conversation, user=request.user, group=group)
    except DomainError as exc:
        return domain_error_response(exc)
    return JsonResponse(
        {"ok": True, "conversationId": str(conversation.pk), "handoffId": handoff.pk}
    )


def _tenant_group(tenant: Tenant, value: Any) -> Any:
    """The tenant's group a body names by id (None for null), or ``KEEP_GROUP`` when it names
    none of them."""
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= 2**53:
        return KEEP_GROUP
    return PeopleGroup.objects.filter(tenant=tenant, pk=value).first() or KEEP_GROUP


# --- history, one conversation read-only, who holds what (issue 19, point 3) ------------------
# Reach comes from the permission table (``request.reach``: a human agent reaches the
# conversations handed to people, a manager all of them); each page answers in a number of
# queries that does not grow with the rows shown.

PAGE_SIZE = 25


@page_door
@require_GET
def inbox_history(request: HttpRequest) -> HttpResponse:
    """Every conversation the person reaches, newest first, filtered and searched; a page of
    PAGE_SIZE (one more is read to know whether there is a next page: no count)."""
    return history_page(request, request.GET)


def history_page(
    request: HttpRequest,
    params: QueryDict,
    *,
    save_problem: Invalid | None = None,
    save_name: str = "",
) -> HttpResponse:
    """The history's page for the search ``params`` (with the saved searches; a search that
    could not be saved shows why, as a 400)."""
    tenant = membership_of(request.user).tenant
    problem = None
    try:
        filters = search_filters(params)
    except BadFilter as exc:
        filters, problem = Filters(), exc
    page = page_number(request)
    # the history's own reach, whichever door renders it (a refused save renders it too)
    reach = page_reach(request.user, "inbox-history")
    found = conversations_found(
        tenant, filters, base=narrow_conversations(Conversation.objects.all(), reach)
    )
    rows = list(
        found.select_related("assignee")
        .prefetch_related("tags")
        .annotate(last_text=last_shown("text"))[(page - 1) * PAGE_SIZE : page * PAGE_SIZE + 1]
    )
    query = params.copy()
    query.pop("page", None)
    status = 400 if problem or save_problem else 200
    manager = MANAGER in person_hats(request.user)
    return render(
        request,
        "handover/history.html",
        {
            "saved_searches": saved_searches_shown(
                tenant_id=tenant.pk, user=request.user, manager=manager
            ),
            "search_query": "" if problem else filters_query(filters),
            "can_share": manager,
            "save_problem": save_problem,
            "save_name": save_name,
            "tenant": tenant,
            "rows": rows[:PAGE_SIZE],
            "filters": filters,
            "problem": problem,
            "page": page,
            "has_next": len(rows) > PAGE_SIZE,
            "query": query.urlencode(),
            "states": State.choices,
            "channels": Channel.choices,
            "people": _agent_usernames(tenant),
            "tag_names": tenant_tag_names(tenant.pk),
            "groups": list(PeopleGroup.objects.filter(tenant=tenant).values_list("pk", "name")),
            "can_supervise": bool(page_reach(request.user, "inbox-team")),
            "can_export": bool(page_reach(request.user, "inbox-history-export")),
            "can_bulk": bool(page_reach(request.user, "inbox-history-bulk")),
        },
        status=status,
    )


@page_door
@require_POST
def inbox_history_bulk(request: HttpRequest) -> JsonResponse:
    """Resolve, tag, untag or give out many conversations the manager reaches at once
    (``handover.bulk``): JSON ``{"ids": [...], "action": "resolve" | "tag" | "untag" |
    "assign", "tag": name, "to": username}``. 200 ``{"done": [ids], "left": {id: why}}``; 400
    naming ``ids``, ``action``, ``tag`` or ``to`` with nothing done."""
    tenant = membership_of(request.user).tenant
    data = _chat_body(request)
    if isinstance(data, JsonResponse):
        return data
    reachable = narrow_conversations(Conversation.objects.filter(tenant=tenant), request.reach)
    try:
        outcome = conversations_bulk(
            reachable=reachable,
            by=f"{request.user.get_username()} from the history",
            user=request.user,
            ids=data.get("ids"),
            action=data.get("action"),
            tag=data.get("tag"),
            to=data.get("to"),
            tenant_id=tenant.pk,
        )
    except DomainError as exc:
        return domain_error_response(exc)
    return JsonResponse({"done": outcome.done, "left": outcome.left})


EXPORT_MAX = 10_000  # conversations one export holds; narrow the filters for more


@page_door
@require_GET
def inbox_history_export(request: HttpRequest) -> HttpResponse:
    """The history's conversations under the same filters, as a CSV file for a spreadsheet
    (newest first, at most EXPORT_MAX; a last row says when there were more). Built whole
    before it is sent: no database connection waits on a slow download. Cells a spreadsheet
    would run as formulas are quoted (``core.csv_cells``)."""
    tenant = membership_of(request.user).tenant
    try:
        filters = search_filters(request.GET)
    except BadFilter as exc:
        return HttpResponse(
            f"{exc.field}: {exc.reason}", status=400, content_type="text/plain; charset=utf-8"
        )
    found = conversations_found(
        tenant, filters, base=narrow_conversations(Conversation.objects.all(), request.reach)
    )
    rating = Subquery(CsatRating.objects.filter(conversation=OuterRef("pk")).values("score")[:1])
    # the group of human agents its latest handoff went to (handover.groups)
    group = Subquery(
        Handoff.objects.filter(conversation=OuterRef("pk"))
        .order_by("-created_at", "-pk")
        .values("group__name")[:1]
    )
    rows = list(
        found.select_related("assignee", "entry_agent")
        .prefetch_related("tags")
        .annotate(rating=rating, group_name=group)[: EXPORT_MAX + 1]
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "conversation",
            "started",
            "resolved",
            "state",
            "channel",
            "customer",
            "customer id",
            "e-mail",
            "first agent",
            "person",
            "tags",
            "rating",
            "link",
            "group",
            "customer attributes",
        ]
    )
    tz = tenant.tzinfo
    for c in rows[:EXPORT_MAX]:
        writer.writerow(
            [
                csv_safe(cell)
                for cell in (
                    str(c.pk),
                    timezone.localtime(c.created_at, tz).strftime("%Y-%m-%d %H:%M"),
                    timezone.localtime(c.resolved_at, tz).strftime("%Y-%m-%d %H:%M")
                    if c.resolved_at
                    else "",
                    c.state,
                    c.channel,
                    c.customer_display,
                    c.customer_ref,
                    c.customer_email,
                    c.entry_agent.slug,
                    c.assignee.get_username() if c.assignee else "",
                    " ".join(t.name for t in c.tags.all()),
                    c.rating,
                    request.build_absolute_uri(reverse("inbox-conversation-page", args=[c.pk])),
                    c.group_name or "",
                    json.dumps(c.customer_attributes, ensure_ascii=False, sort_keys=True)
                    if c.customer_attributes
                    else "",
                )
            ]
        )
    if len(rows) > EXPORT_MAX:
        writer.writerow([f"more than {EXPORT_MAX} conversations: narrow the filters for the rest"])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    day = timezone.localdate(timezone=tz).isoformat()
    response["Content-Disposition"] = (
        f'attachment; filename="conversations-{tenant.slug}-{day}.csv"'
    )
    return response


def _agent_usernames(tenant) -> list[str]:
    return list(
        Membership.objects.filter(tenant=tenant, is_agent=True)
        .order_by("user__username")
        .values_list("user__username", flat=True)
    )


@page_door
@require_GET
def inbox_conversation_page(request: HttpRequest, conversation_id) -> HttpResponse:
    """One conversation, read-only: the transcript with what the AI did in time order, the
    private notes, who held it, and the customer's other conversations."""
    tenant = membership_of(request.user).tenant
    conversation = _tenant_conversation(request, tenant, conversation_id)
    agents = dict(Agent.objects.filter(tenant=tenant).values_list("slug", "name"))
    messages = list(Message.objects.filter(conversation=conversation).order_by("id")[:1000])
    for m in messages:
        m.who = {
            "customer": conversation.customer_display,
            "agent": agents.get(m.author, m.author or "AI"),
            "system": "System",
        }.get(m.role, m.author)
        m.shown_files = files_shown(m.attachments)
        m.only_files = only_files(m.text, m.shown_files)
    activity = activity_of(conversation, agents=agents)
    # in time order; at the same instant a message comes first
    timeline = sorted(
        [{"at": m.created_at.isoformat(), "order": 0, "message": m} for m in messages]
        + [{"at": str(step["at"]), "order": 1, "step": step} for step in activity],
        key=lambda item: (item["at"], item["order"]),
    )
    past = customer_conversations(
        conversation, base=narrow_conversations(Conversation.objects.all(), request.reach)
    )
    handoffs = list(
        Handoff.objects.filter(conversation=conversation)
        .select_related("claimed_by")
        .order_by("id")
    )
    open_handoff = next((h for h in handoffs if h.status in OPEN_STATUSES), None)
    rating = CsatRating.objects.filter(conversation=conversation).first()
    return render(
        request,
        "handover/conversation.html",
        {
            "tenant": tenant,
            "conversation": conversation,
            "timeline": timeline,
            "agents": agents,
            "past": past,
            "handoffs": handoffs,
            "open_handoff": open_handoff,
            "rating": rating,
            "open_band": priority_band(open_handoff.priority) if open_handoff else None,
            "bands": BANDS,
            "started_on": _website_page((conversation.customer_attributes or {}).get("page"), None),
            # what the integration tells of the customer (conversations.attributes)
            "attributes": attributes_shown(conversation.customer_attributes),
            "history_url": reverse("inbox-history"),
            **(_customer_data_urls(conversation) if admin_allowed(request.user) else {}),
        },
    )


def _customer_data_urls(conversation: Conversation) -> dict[str, str]:
    """For a manager: where the conversation's customer is erased at their request (the
    admin's form, which says what would go before it is done) and their data downloaded
    (orchestration.erasure, orchestration.customer_export)."""
    named = {"kind": "conversation", "value": str(conversation.pk)}
    return {
        "erase_url": f"{reverse('admin:conversations_erasure_add')}?{urlencode(named)}",
        "export_url": f"{reverse('api-customer-data')}?{urlencode({**named, 'download': '1'})}",
    }


@page_door
@require_GET
def inbox_team(request: HttpRequest) -> HttpResponse:
    """Who holds what: every human agent of the tenant, online or not, their status and limit,
    and the conversations each holds; and what waits in the queue. Read-only; kept live by
    ``/ws/team/`` (a nudge, then ``?fragment=1`` re-reads the table here)."""
    tenant = membership_of(request.user).tenant
    people = list(
        Membership.objects.filter(tenant=tenant, is_agent=True)
        .select_related("user")
        .order_by("user__username")
    )
    online = set(online_agents(tenant).values_list("user_id", flat=True))
    # when each was last seen with the inbox open (the offline ones' "seen 3 hours ago")
    seen = dict(Presence.objects.filter(tenant=tenant).values_list("user_id", "last_seen"))
    settings = {s.user_id: s for s in AgentSetting.objects.filter(tenant=tenant)}
    groups: dict[int, list[str]] = {}  # each person's groups (handover.groups)
    for user_id, name in (
        PeopleGroup.members.through.objects.filter(peoplegroup__tenant=tenant)
        .order_by("peoplegroup__name")
        .values_list("user_id", "peoplegroup__name")
    ):
        groups.setdefault(user_id, []).append(name)
    held: dict[int, list[Conversation]] = {}
    now = timezone.now()
    snoozed = Handoff.objects.filter(
        conversation=OuterRef("pk"), status=Status.CLAIMED, snoozed_until__gt=now
    ).values("snoozed_until")[:1]
    for conversation in (
        Conversation.objects.filter(tenant=tenant, state=State.WITH_HUMAN, assignee__isnull=False)
        .annotate(snoozed_until=Subquery(snoozed))
        .order_by("updated_at")
    ):
        held.setdefault(conversation.assignee_id, []).append(conversation)
    waiting = list(
        Handoff.objects.filter(tenant=tenant, status__in=["offered", "queued"])
        .select_related("conversation", "group")
        .order_by("-priority", "created_at")[:200]
    )
    # who has which conversation open in the inbox now (handover.viewing)
    viewing = viewers_of(tenant.pk)
    for handoff in waiting:
        handoff.viewers = viewing.get(str(handoff.conversation_id), [])
    open_by: dict[str, list[Conversation]] = {}
    opened = Conversation.objects.filter(tenant=tenant, pk__in=list(viewing)).only(
        "pk", "customer_name", "customer_ref", "customer_email"
    )
    for conversation in opened:
        for person in viewing[str(conversation.pk)]:
            open_by.setdefault(person["username"], []).append(conversation)
    rows = []
    for membership in people:
        setting = settings.get(membership.user_id)
        rows.append(
            {
                "user": membership.user,
                "online": membership.user_id in online,
                "last_seen": seen.get(membership.user_id),
                "groups": groups.get(membership.user_id, []),
                "status": setting.status if setting else AgentStatus.ONLINE,
                "limit": setting.max_conversations if setting else 5,
                "held": held.get(membership.user_id, []),
                "has_open": open_by.get(membership.user.get_username(), []),
            }
        )
    context = {"tenant": tenant, "rows": rows, "waiting": waiting}
    if request.GET.get("fragment") == "1":  # team.js re-reads this when the socket nudges it
        return render(request, "handover/_team_live.html", context)
    return render(request, "handover/team.html", context)


@page_door
@require_POST
def inbox_team_give(request: HttpRequest, handoff_id: int) -> HttpResponse:
    """A manager gives a waiting conversation to a human agent (the form's ``to``); back to the
    team view, which says what happened."""
    tenant = membership_of(request.user).tenant
    handoff = get_object_or_404(
        Handoff.objects.select_related("conversation"), tenant=tenant, pk=handoff_id
    )
    try:
        handoff_give(handoff=handoff, manager=request.user, to_username=request.POST.get("to"))
    except DomainError as exc:
        fields = getattr(exc, "fields", None) or {}
        reason = "; ".join(f"{k}: {v}" for k, v in fields.items()) if fields else str(exc)
        messages.error(request, f"{handoff.conversation.customer_display} was not given: {reason}")
    else:
        messages.success(
            request,
            f"{handoff.conversation.customer_display} was given to {request.POST.get('to')}.",
        )
    return redirect("inbox-team")


# --- the customer's web chat --------------------------------------------------------------------


def entry_agent(tenant: Tenant) -> Agent | None:
    """Where a web chat starts: the tenant's top supervisor (one that reports to nobody),
    else its first agent."""
    agents = Agent.objects.filter(tenant=tenant).order_by("created_at", "pk")
    return (
        agents.filter(role=AgentRole.SUPERVISOR, supervisor__isnull=True).first() or agents.first()
    )


def _chat_session_key(tenant: Tenant) -> str:
    return f"chat:{tenant.slug}"


def _resume(request: HttpRequest, tenant: Tenant) -> dict[str, str] | None:
    """The visitor's open conversation with the tenant, kept in their session by the start,
    so another tab or a reload (even with the browser's storage cleared) carries on with it.
    ``who``: the signed-in customer it is theirs alone (the page shows it to them only)."""
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
    resume = {"conversationId": kept["conversationId"], "token": kept["token"]}
    if kept.get("who"):
        resume["who"] = kept["who"]  # the signed-in customer it belongs to
    return resume


MAX_PAGE_URL = 500


def _framers(request: HttpRequest, tenant: Tenant) -> list[str]:
    """The origins whose pages may show the tenant's chat in a frame: its websites, and ours."""
    return [*tenant.chat_origins, f"{request.scheme}://{request.get_host()}"]


def _website_page(value: Any, origins: list[str] | None) -> str | None:
    """``value`` when it is the address of a web page (http or https, at most
    ``MAX_PAGE_URL`` characters) on one of ``origins`` (None: anywhere), else None."""
    if not isinstance(value, str) or not value or len(value) > MAX_PAGE_URL:
        return None
    try:
        parts = urlsplit(value)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or text_problem(value):
        return None
    if origins is not None and origin not in origins:
        return None
    return value


@require_GET
def chat(request: HttpRequest, slug: str) -> HttpResponse:
    """The customer's web chat. The tenant's websites (``chat_website_origins``) may show it in
    a frame (``static/handover/embed.js`` puts it there); no other site may."""
    tenant = get_object_or_404(Tenant, slug=slug)
    if entry_agent(tenant) is None:
        return render(request, "handover/chat_unavailable.html", {"tenant": tenant}, status=503)
    embedding = request.GET.get("embed", "").rstrip("/")
    framers = _framers(request, tenant)
    look = chat_look(tenant)
    framed_by = embedding if embedding in framers else None
    response = render(
        request,
        "handover/chat.html",
        {
            "tenant": tenant,
            "csat_scores": range(1, 6),
            "look": look,
            "config": {
                "tenant": tenant.slug,
                "tenantName": tenant.name,
                "assistantName": assistant_name(tenant),
                "replyTime": look.reply_time,
                "startUrl": reverse("chat-start", args=[tenant.slug]),
                "resumeUrl": reverse("chat-resume", args=[tenant.slug]),
                "conversationsUrl": reverse("chat-conversations", args=[tenant.slug]),
                # the chat starts only for a visitor the tenant's website signed for
                "signedInOnly": tenant.chat_signed_in_only,
                # the start form asks for an e-mail address: "no", "optional" or "required"
                "askEmail": tenant.chat_ask_email,
                "rateUrl": reverse("chat-rate", args=[tenant.slug]),
                "rateCommentUrl": reverse("chat-rate-comment", args=[tenant.slug]),
                "transcriptUrl": reverse("chat-transcript", args=[tenant.slug]),
                "emailUrl": reverse("chat-email", args=[tenant.slug]),
                "filesUrl": reverse("chat-files", args=[tenant.slug]),
                "maxFileBytes": settings.ATTACHMENT_MAX_BYTES,
                "socketPath": "/ws/conversations/",
                "maxText": MAX_MESSAGE_TEXT,
                "resume": _resume(request, tenant),
                "teamBack": team_back(tenant),  # None while the team is in
                # framed by embed.js on a website the tenant lists: the page tells it of the
                # conversation (it keeps it: a framed page may have no lasting storage)
                "parentOrigin": framed_by,
                # the website's page it was opened on, told to the start (the team sees it)
                "page": _website_page(request.GET.get("page"), [framed_by] if framed_by else []),
            },
        },
    )
    # our own pages may frame it (the preview below); the tenant's websites too
    response["Content-Security-Policy"] = policy_framed_by(tenant.chat_origins)
    if tenant.chat_origins:
        response.xframe_options_exempt = True  # type: ignore[attr-defined]
    else:
        response["X-Frame-Options"] = "SAMEORIGIN"
    return response


@require_GET
def chat_preview(request: HttpRequest, slug: str) -> HttpResponse:
    """A sample page with the chat's website button (``embed.js``), as the tenant's website
    would show it: the tag to paste, and the button to try."""
    tenant = get_object_or_404(Tenant, slug=slug)
    return render(
        request, "handover/chat_preview.html", {"tenant": tenant, "look": chat_look(tenant)}
    )


# How long a browser keeps the website button's colour before asking again: a colour the
# manager changes reaches their website's pages within this (embed.js shows the colour it kept
# meanwhile, so the button never flashes the old one first).
LOOK_MAX_AGE = 60


@require_GET
def chat_look_json(request: HttpRequest, slug: str) -> JsonResponse:
    """The chat's colour for the button on the tenant's websites (``embed.js`` asks for it, so
    a colour changed in the admin reaches a tag pasted long before). Readable by the tenant's
    websites (CORS, their origins only) and our own pages; it holds nothing private."""
    tenant = _chat_tenant(slug)
    look = chat_look(tenant)
    response = JsonResponse({"color": look.color, "onColor": look.on_color})
    origin = request.headers.get("Origin", "").rstrip("/")
    if origin and origin in _framers(request, tenant):
        response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    response["Cache-Control"] = f"max-age={LOOK_MAX_AGE}"
    return response


def _start_input(request: HttpRequest) -> dict[str, Any]:
    """The start's fields, from a JSON body (through the one JSON door: raises JsonRefused)
    or a form."""
    if request.content_type == "application/json":
        data = loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise JsonRefused("the body must be a JSON object")
        return data
    return request.POST.dict()


def _chat_tenant(slug: str) -> Tenant:
    """The tenant whose chat ``slug`` names (404 when there is none)."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Http404("No such chat.")
    return tenant


def _chat_body(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    """A chat view's fields (``_start_input``), or the 413 / 400 that refuses the body."""
    if len(request.body) > MAX_START_BODY:
        return _json_error(413, "too_large", "The request is too large.")
    try:
        return _start_input(request)
    except JsonRefused as exc:
        return _json_refused(exc)


def _json_refused(exc: JsonRefused) -> JsonResponse:
    """400 for a chat body the one JSON door refused, naming the field when it knows it."""
    if exc.path:
        return _json_error(400, "invalid", "Please check the form.", {exc.path: [exc.reason]})
    return _json_error(400, "invalid", f"The body is not acceptable JSON: {exc.reason}.")


def _rate_limited(verdict: ratelimit.Verdict, message: str) -> JsonResponse:
    response = _json_error(
        429, "rate_limited", f"{message} Try again in {wait_text(verdict.retry_after)}."
    )
    response["Retry-After"] = str(verdict.retry_after)
    return response


@require_POST
@same_origin_or_csrf
def chat_start(request: HttpRequest, slug: str) -> JsonResponse:
    """Start a web conversation with the tenant's entry agent (in the workflow its
    ``chatWorkflow`` setting names, if any) and run the customer's first
    message through the orchestrator. Answers the conversation id and the customer token the
    page keeps to open its socket. CSRF-protected (by its Origin when it comes from our own chat
    page, which may be framed on the tenant's website; else by Django's token); no API key is
    involved. Rate-limited per client address and per tenant (``handover.limits``); nothing is
    written unless every check passed. With ``identity`` (a token the tenant's website signed,
    ``handover.identity``) it starts as that signed-in customer: their id, name, e-mail address
    and attributes, marked verified; a token that does not check out is a 400 naming it."""
    tenant = _chat_tenant(slug)
    refused = chat_start_address_refusal(ratelimit.client_ip(request))
    if refused is not None:
        return _rate_limited(refused, "Too many chats started from your address.")
    agent = entry_agent(tenant)
    if agent is None:
        return _json_error(503, "unavailable", "Chat is not available right now.")
    data = _chat_body(request)
    if isinstance(data, JsonResponse):
        return data
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
    visitor = None
    if data.get("identity") is not None:  # a signed-in visitor of the website
        try:
            visitor = visitor_identity(tenant, data["identity"])
        except Invalid as exc:
            fields.update(exc.fields)
    # the pre-chat form's address (the tenant's chat_ask_email): replies follow them by e-mail
    email = None
    given = data.get("email")
    if given is not None and not (isinstance(given, str) and not given.strip()):
        email = _chat_address(given)
        if email is None:
            fields["email"] = [NOT_A_CHAT_ADDRESS]
    elif tenant.chat_ask_email == "required" and not (visitor and visitor.email):
        fields["email"] = ["Give your e-mail address: we answer there if you are away."]
    if fields:
        return _json_error(400, "invalid", "Please check the form.", fields)
    if visitor is None and tenant.chat_signed_in_only:
        return _json_error(
            403, "sign_in_required", "Please sign in on our website to chat with us."
        )
    refused = chat_start_tenant_refusal(tenant.pk)
    if refused is not None:
        return _rate_limited(refused, "This chat is very busy right now.")
    page = _website_page(data.get("page"), _framers(request, tenant))
    customer: dict[str, Any] = {"id": f"web-{secrets.token_hex(8)}", "name": name.strip()}
    if visitor is not None:
        customer = {
            "id": visitor.customer_id,
            "name": visitor.name or name.strip(),
            "email": visitor.email,
            "attributes": visitor.attributes,
        }
    customer["attributes"] = {**customer.get("attributes", {}), **({"page": page} if page else {})}
    try:
        conversation, token = conversation_start(
            tenant=tenant,
            agent=agent,
            channel=Channel.WEB,
            customer=customer,
            workflow=chat_workflow(agent),  # the chatWorkflow setting (issue 18 point 5)
            client=ratelimit.client_ip(request),
            verified=visitor is not None,
            # a person's replies by e-mail while they are away go under this subject
            subject=subject_from_text(text) if visitor is not None and visitor.email else "",
        )
    except Blocked:  # the team blocked this visitor (conversations.blocks)
        return _json_error(403, "blocked", "You cannot start a chat here.")
    try:
        conversation_receive_message(conversation=conversation, text=text.strip())
    except DomainError as exc:  # closed: cannot happen to a new conversation; be plain anyway
        return domain_error_response(exc)
    if email is not None:  # as if left in the chat (chat_email), under their first message
        conversation = conversation_email_follow_up(conversation=conversation, email=email)
    who = visitor.customer_id if visitor is not None else None
    return JsonResponse(_chat_held(request, tenant, conversation, token, who), status=201)


def _chat_held(
    request: HttpRequest, tenant: Tenant, conversation: Conversation, token: str, who: str | None
) -> dict[str, str]:
    """The visitor now holds ``conversation`` (a start, or a signed-in visitor's resume): kept in
    their session (``_resume``), and the answer that hands it to the page. ``who``: the
    signed-in customer it belongs to; the chat shows it again only to them."""
    request.session[_chat_session_key(tenant)] = {
        "conversationId": str(conversation.pk),
        "token": token,
        "who": who,
    }
    held = {
        "conversationId": str(conversation.pk),
        "token": token,
        "name": conversation.customer_name,
    }
    if who is not None:
        held["who"] = who
    return held


def _signed_in(
    request: HttpRequest, slug: str
) -> tuple[Tenant, Visitor, dict[str, Any]] | JsonResponse:
    """The tenant, the signed-in visitor and the body of a chat door that needs one (the list
    of their conversations, the resume): or the 429, 413 or 400 that refuses the request."""
    tenant = _chat_tenant(slug)
    refused = chat_identity_refusal(ratelimit.client_ip(request))
    if refused is not None:
        return _rate_limited(refused, "Too many requests from your address.")
    data = _chat_body(request)
    if isinstance(data, JsonResponse):
        return data
    try:
        visitor = visitor_identity(tenant, data.get("identity"))
    except Invalid as exc:
        return _json_error(400, "invalid", "Please check the form.", exc.fields)
    return tenant, visitor, data


@require_POST
@same_origin_or_csrf
def chat_resume(request: HttpRequest, slug: str) -> JsonResponse:
    """A signed-in visitor's conversation, on whatever device they are: JSON ``{"identity"}``
    (the token their website signed, ``handover.identity``) for their latest open web
    conversation, or with ``conversationId`` for that one of theirs, open or resolved (from
    "Your conversations"; the chat also asks for the one it holds on each page, so that what
    this page's token says of them reaches an open conversation: ``claims_applied``). 200
    ``{"conversationId", "token", "name", "who"}``, and ``rating`` (``{"score", "commented"}``
    or null) for a resolved one; ``{"conversationId": null}`` when they have no open one; 404
    for a conversation that is not theirs; 400 naming ``identity`` when the token does not
    check out, or ``conversationId``. At most ``CHAT_IDENTITY_RATE_LIMIT`` from one address."""
    checked = _signed_in(request, slug)
    if isinstance(checked, JsonResponse):
        return checked
    tenant, visitor, data = checked
    if data.get("conversationId") is not None:
        try:
            conversation = signed_in_conversation(
                tenant, visitor.customer_id, data["conversationId"]
            )
        except Invalid as exc:
            return _json_error(400, "invalid", "Please check the form.", exc.fields)
        except Conversation.DoesNotExist:
            return _json_error(404, "not_found", "No such conversation.")
    else:
        conversation = (
            theirs(tenant, visitor.customer_id)
            .exclude(state=State.RESOLVED)
            .order_by("-created_at")
            .first()
        )
        if conversation is None:
            return JsonResponse({"conversationId": None})
    if claims_applied(conversation, visitor):  # this page's token says something new
        conversation.refresh_from_db()
    token = signed_in_customer_token(conversation.pk)
    held: dict[str, Any] = _chat_held(request, tenant, conversation, token, visitor.customer_id)
    if conversation.state == State.RESOLVED:
        held["rating"] = rating_of(conversation)
    return JsonResponse(held)


@require_POST
@same_origin_or_csrf
def chat_conversations(request: HttpRequest, slug: str) -> JsonResponse:
    """A signed-in visitor's conversations ("Your conversations" in the chat,
    ``handover.chat_history``): JSON ``{"identity"}``. 200 ``{"who", "conversations": [...]}``,
    the latest activity first, at most 20; 400 naming ``identity`` when the token does not
    check out. At most ``CHAT_IDENTITY_RATE_LIMIT`` from one address."""
    checked = _signed_in(request, slug)
    if isinstance(checked, JsonResponse):
        return checked
    tenant, visitor, _ = checked
    return JsonResponse(
        {
            "who": visitor.customer_id,
            "conversations": signed_in_conversations(tenant, visitor.customer_id),
        }
    )


@require_POST
@same_origin_or_csrf
def chat_email(request: HttpRequest, slug: str) -> JsonResponse:
    """The customer of a web chat leaves their e-mail address: JSON ``{"conversationId",
    "token", "email"}``, with the customer token the start answered. A person's replies then
    follow them by e-mail while they are not in the chat. 200 ``{"email"}``; 400 naming the
    field; 404 for a conversation the token does not open; 409 once it is resolved."""
    tenant = _chat_tenant(slug)
    data = _chat_body(request)
    if isinstance(data, JsonResponse):
        return data
    email = _chat_address(data.get("email"))
    if email is None:
        return _json_error(
            400, "invalid", "Please check the address.", {"email": [NOT_A_CHAT_ADDRESS]}
        )
    conversation = _customer_conversation(tenant, data)
    if conversation is None or conversation.channel != Channel.WEB:
        return _json_error(404, "not_found", "No such conversation.")
    if conversation.state == State.RESOLVED:
        return _json_error(409, "conflict", "This conversation is resolved.")
    conversation_email_follow_up(conversation=conversation, email=email)
    return JsonResponse({"email": email})


NOT_A_CHAT_ADDRESS = "must be an e-mail address, e.g. kim@example.com"


def _chat_address(value: Any) -> str | None:
    """The e-mail address a chat's visitor typed, or None when it is none."""
    email = value.strip() if isinstance(value, str) else ""
    try:
        if len(email) > 254 or text_problem(email):
            raise ValidationError("too long")
        validate_email(email)
    except ValidationError:
        return None
    return email


def _customer_conversation(tenant: Tenant, data: dict[str, Any]) -> Conversation | None:
    """The tenant's conversation ``data`` names, if its customer token opens it."""
    conversation_id, token = data.get("conversationId"), data.get("token")
    if not isinstance(conversation_id, str) or not isinstance(token, str):
        return None
    try:
        conversation = Conversation.objects.filter(tenant=tenant, pk=conversation_id).first()
    except (ValidationError, ValueError):
        return None
    if conversation is None or not customer_token_matches(conversation, token):
        return None
    return conversation


@require_POST
@same_origin_or_csrf
def chat_files(request: HttpRequest, slug: str) -> JsonResponse:
    """The customer of a web chat sends a file (a photo of what came broken, a receipt): a
    multipart form with ``conversationId``, ``token`` (the customer token), ``file`` and an
    optional ``text``. The message is taken as one typed in the chat (counted by the same rate
    limit, decided by the orchestrator); 201 ``{"messageId", "attachment"}``. 400 naming
    ``file`` or ``text``; 404 for a conversation the token does not open; 409 once resolved;
    413 past ``ATTACHMENT_MAX_BYTES``; 429 too fast."""
    tenant = _chat_tenant(slug)
    form = _upload_form(request)
    if isinstance(form, JsonResponse):
        return form
    data, upload = form
    conversation = _customer_conversation(tenant, data)
    if conversation is None or conversation.channel != Channel.WEB:
        return _json_error(404, "not_found", "No such conversation.")
    refused = chat_message_refusal(conversation.pk, ratelimit.client_ip(request))
    if refused is not None:
        return _rate_limited(refused, "You are sending messages too fast.")
    if conversation.state == State.RESOLVED:
        return _json_error(409, "conflict", "This conversation is resolved.")
    try:
        result = attachment_send(
            conversation=conversation,
            upload=upload,
            text=data.get("text"),
            sent_by=MessageRole.CUSTOMER,
            send=lambda text, files: conversation_receive_message(
                conversation=conversation, text=text, files=files
            ),
        )
    except DomainError as exc:  # a bad file or text; or resolved meanwhile
        return domain_error_response(exc)
    return _file_sent(result.message)


def _file_sent(message: Message) -> JsonResponse:
    """201 for a file sent: its message's id and the file as the message lists it (its link)."""
    shown = message_json(message)
    return JsonResponse(
        {"messageId": message.pk, "attachment": shown["attachments"][0]}, status=201
    )


def _upload_form(request: HttpRequest) -> tuple[QueryDict, UploadedFile] | JsonResponse:
    """A file's form: its fields and its one ``file``; or the 413 / 400 that refuses it
    (larger than ``ATTACHMENT_MAX_BYTES`` by its Content-Length before anything is read, not
    multipart, unreadable, no file or more than one)."""
    limit = settings.ATTACHMENT_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit + FILE_FORM_OVERHEAD:
        return _json_error(
            413,
            "too_large",
            f"The file is too large: at most {size_text(limit)}.",
            {"file": [f"at most {size_text(limit)}"]},
        )
    if request.content_type != "multipart/form-data":
        return _json_error(
            400, "invalid", "Send the file as multipart/form-data.", {"file": ["missing"]}
        )
    try:
        data, files = request.POST, request.FILES
    except (MultiPartParserError, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent) as exc:
        return _json_error(400, "invalid", f"The form cannot be read: {exc}"[:300])
    uploads = files.getlist("file")
    if len(uploads) != 1:
        return _json_error(400, "invalid", "Send one file.", {"file": ["send exactly one file"]})
    return data, uploads[0]


@require_GET
def attachment(request: HttpRequest, signed: str, name: str) -> HttpResponse:
    """A file of a conversation, by the signed link the doors that show the conversation hand
    out (``conversations.attachments.attachment_link``). An image shows in the page; any other
    kind is downloaded. 404 for a link that is forged, altered or expired."""
    found = attachment_by_link(signed)
    if found is None:
        raise Http404("This link has expired or is not valid.")
    try:
        handle = found.file.open("rb")
    except OSError:
        raise Http404("This file is no longer stored.") from None
    response = FileResponse(
        handle,
        content_type=found.content_type
        + ("; charset=utf-8" if found.content_type == "text/plain" else ""),
        as_attachment=found.content_type not in IMAGE_TYPES,
        filename=found.filename,
    )
    response["X-Content-Type-Options"] = "nosniff"
    # shown alone: no script, no plugin, no frame of ours
    response["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self'; frame-ancestors 'none'; sandbox"
    )
    response["Cache-Control"] = "private, max-age=3600"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_POST
@same_origin_or_csrf
def chat_transcript(request: HttpRequest, slug: str) -> JsonResponse:
    """The web chat's customer asks for a copy of their conversation by e-mail: JSON
    ``{"conversationId", "token", "email"}`` (``handover.transcripts``). 202 ``{"email"}``; 400
    naming ``email``; 404 for a conversation the token does not open; 429 past
    ``CHAT_TRANSCRIPT_RATE_LIMIT`` from one address."""
    tenant = _chat_tenant(slug)
    data = _chat_body(request)
    if isinstance(data, JsonResponse):
        return data
    conversation = _customer_conversation(tenant, data)
    if conversation is None or conversation.channel != Channel.WEB:
        return _json_error(404, "not_found", "No such conversation.")
    email = data.get("email")
    try:
        if not isinstance(email, str) or not email.strip():
            raise Invalid(fields={"to": "give your e-mail address"})
        transcript_address(email, conversation)  # a typo does not count against the limit
        refused = chat_transcript_refusal(ratelimit.client_ip(request))
        if refused is not None:
            return _rate_limited(refused, "Too many copies asked for.")
        mail = transcript_request(conversation=conversation, to=email)
    except Invalid as exc:  # the copy's "to" is the chat's "email"
        return _json_error(400, "invalid", "Please check the address.", {"email": exc.fields["to"]})
    return JsonResponse({"email": mail.to}, status=202)


@require_POST
@same_origin_or_csrf
def chat_rate(request: HttpRequest, slug: str) -> JsonResponse:
    """The customer's rating of their resolved conversation: JSON ``{"conversationId",
    "token", "score"}`` (``score`` 1 to 5), with the customer token the start answered.
    CSRF-protected like the start. 201 when kept; 409 when the conversation is not resolved
    or was rated already (one rating per conversation, never replaced)."""
    tenant = _chat_tenant(slug)
    data = _chat_body(request)
    if isinstance(data, JsonResponse):
        return data
    score = data.get("score")
    if isinstance(score, str) and score.isdigit():
        score = int(score)
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        return _json_error(
            400, "invalid", "Please check the rating.", {"score": ["must be 1 to 5"]}
        )
    conversation = _customer_conversation(tenant, data)
    if conversation is None:
        return _json_error(404, "not_found", "No such conversation.")
    try:
        rating = csat_record(conversation=conversation, score=score)
    except (CsatNotYet, CsatAlreadyRated) as exc:
        return _json_error(409, "conflict", str(exc))
    return JsonResponse({"score": rating.score, "ratedAt": rating.created_at}, status=201)


@require_POST
@same_origin_or_csrf
def chat_rate_comment(request: HttpRequest, slug: str) -> JsonResponse:
    """The customer's words after their rating ("Tell us more"): JSON ``{"conversationId",
    "token", "comment"}``, once. 200 when kept; 400 naming ``comment``; 409 when there is no
    rating yet or it has its comment already."""
    tenant = _chat_tenant(slug)
    data = _chat_body(request)
    if isinstance(data, JsonResponse):
        return data
    conversation = _customer_conversation(tenant, data)
    if conversation is None:
        return _json_error(404, "not_found", "No such conversation.")
    try:
        rating = csat_comment(conversation=conversation, comment=data.get("comment"))
    except DomainError as exc:
        return domain_error_response(exc)
    return JsonResponse({"score": rating.score, "comment": rating.comment})
