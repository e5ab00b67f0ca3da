"""API v1 for conversations: start one, send customer messages through the orchestrator, read
its messages and decision events (SPEC 6)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import Agent, RiskCategory, Workflow
from conversations import decisions
from conversations.attachments import attachment_send
from conversations.blocks import KEEP, block_made
from conversations.messages import message_json
from conversations.models import (
    INTERNAL_ROLES,
    BlockKind,
    Channel,
    Conversation,
    CustomerBlock,
    DecisionEvent,
    Message,
    MessageRole,
    State,
)
from conversations.search import BadFilter, conversations_found, filters_from
from conversations.services import UNCHANGED, conversation_start, customer_details_update
from conversations.tags import conversation_tag, conversation_untag
from core.api_auth import (
    request_principal,
    request_tenant,
)
from core.api_parsers import FILE_FORM, FileFormParser, one_file
from core.api_schema import ErrorSerializer
from core.errors import Invalid
from core.limits import MessageTextField
from core.scoping import scope_queryset
from handover.merge import conversation_merge, merge_target
from orchestration.reach import narrow_conversations
from orchestration.turns import (
    MAX_WAIT_SECONDS,
    ReplyStatus,
    TurnResult,
    conversation_receive_message,
    turn_wait,
)

MESSAGES_PAGE = 500
EVENTS_PAGE = 2000
"""The most messages and events one GET answers; ``?after=<last id>`` reads the next page."""


def tenant_conversations(request) -> QuerySet[Conversation]:
    return scope_queryset(Conversation.objects.all(), request_tenant(request))


def get_conversation(request, conversation_id) -> Conversation:
    """One conversation the caller reaches (a human agent: one handed to people; an approver:
    one with an approval request; see the permission matrix), else 404."""
    return get_object_or_404(
        narrow_conversations(tenant_conversations(request), request.reach)
        .select_related("current_agent", "assignee")
        .prefetch_related("handoffs__claimed_by", "tags"),
        pk=conversation_id,
    )


class CustomerSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=200)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    attributes = serializers.DictField(
        required=False,
        help_text="What the integration knows of the customer (their plan, their orders), "
        "shown to the people in the inbox. At most 50 names of 1 to 64 letters, digits, _, . or "
        "-; a value is a string, a number, a boolean or JSON of at most 2000 characters.",
    )


class StartSerializer(serializers.Serializer):
    agentId = serializers.CharField(max_length=63)
    channel = serializers.ChoiceField(choices=Channel.values)
    customer = CustomerSerializer()
    workflowId = serializers.IntegerField(required=False, allow_null=True)
    language = serializers.CharField(max_length=16, required=False, allow_blank=True)
    subject = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text="On the email channel: the thread's subject (the mails say Re: <subject>); "
        "without one, the customer's first message gives it.",
    )

    def validate_agentId(self, value):
        tenant = self.context["tenant"]
        agent = Agent.objects.filter(tenant=tenant, slug=value).first()
        if agent is None:
            raise serializers.ValidationError(f"unknown agent '{value}'")
        return agent

    def validate_workflowId(self, value):
        if value is None:
            return None
        workflow = Workflow.objects.filter(tenant=self.context["tenant"], pk=value).first()
        if workflow is None:
            raise serializers.ValidationError(f"unknown workflow {value}")
        return workflow


class SignalsSerializer(serializers.Serializer):
    intent = serializers.CharField(max_length=100, required=False, allow_null=True)
    sentiment = serializers.FloatField(min_value=-1, max_value=1, required=False)
    risk = serializers.ListField(
        child=serializers.ChoiceField(choices=RiskCategory.choices), required=False, max_length=10
    )


class MessageInSerializer(serializers.Serializer):
    text = MessageTextField()
    signals = SignalsSerializer(required=False)
    wait = serializers.FloatField(
        required=False,
        min_value=0,
        max_value=MAX_WAIT_SECONDS,
        help_text="Seconds (0 to 30) to wait for the agent's reply before answering; without "
        "it the answer comes at once and the reply arrives over the sockets.",
    )


def conversation_json(conversation: Conversation) -> dict:
    return {
        "id": str(conversation.pk),
        "state": conversation.state,
        "channel": conversation.channel,
        "subject": conversation.email_subject or None,
        "currentAgentId": conversation.current_agent.slug,
        "assignee": conversation.assignee.get_username() if conversation.assignee else None,
        "turns": conversation.turns,
        "attempts": conversation.attempts,
        "customer": {
            "id": conversation.customer_ref,
            "name": conversation.customer_name,
            "email": conversation.customer_email,
            "attributes": conversation.customer_attributes,
            "verified": conversation.customer_verified,
        },
        "workflowId": conversation.workflow_id,
        "tags": [tag.name for tag in conversation.tags.all()],
        "handoff": _latest_handoff(conversation),
        "mergedInto": str(conversation.merged_into_id) if conversation.merged_into_id else None,
        "createdAt": conversation.created_at,
        "updatedAt": conversation.updated_at,
    }


def _latest_handoff(conversation: Conversation) -> dict | None:
    handoffs = sorted(conversation.handoffs.all(), key=lambda h: h.pk)
    if not handoffs:
        return None
    latest = handoffs[-1]
    return {
        "id": latest.pk,
        "mode": latest.mode,
        "status": latest.status,
        "claimedBy": latest.claimed_by.get_username() if latest.claimed_by else None,
    }


def event_json(event: DecisionEvent) -> dict:
    """A decision event as the API shows it; its ``detail`` read through the typed event
    (``conversations.decisions``), so rows written before a shape's version show it too."""
    return {
        "id": event.pk,
        "type": event.type,
        "agentId": event.agent_slug or None,
        "rule": event.rule or None,
        "detail": decisions.read(event).to_detail(),
        "durationMs": event.duration_ms,
        "messageId": event.message_id,
        "createdAt": event.created_at,
    }


class CustomerShape(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField()
    attributes = serializers.DictField()
    verified = serializers.BooleanField(
        help_text="Started on your website by a signed-in visitor whose identity your website "
        "signed (the chat's identity secret): their id, name and e-mail address are its word."
    )


class ConversationShape(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.CharField()
    channel = serializers.CharField()
    subject = serializers.CharField(
        allow_null=True, help_text="On e-mail: the thread's subject (null until it has one)."
    )
    currentAgentId = serializers.CharField()
    assignee = serializers.CharField(allow_null=True)
    turns = serializers.IntegerField()
    attempts = serializers.IntegerField()
    customer = CustomerShape()
    tags = serializers.ListField(
        child=serializers.CharField(), help_text="The tags people put on it (a-z, 0-9, - and _)."
    )
    handoff = serializers.DictField(allow_null=True)
    mergedInto = serializers.UUIDField(
        allow_null=True,
        help_text="The conversation this one was merged into (it was resolved then and goes on "
        "there); null when it was not.",
    )


class FileShape(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    filename = serializers.CharField()
    contentType = serializers.CharField()
    size = serializers.IntegerField()
    url = serializers.CharField(
        required=False,
        help_text="The file's signed link, relative to this server; it expires after "
        "ATTACHMENT_LINK_SECONDS (read the messages again for a fresh one). A mail's file of a "
        "kind that is not kept has no id and no url.",
    )


class MessageShape(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.CharField()
    author = serializers.CharField()
    text = serializers.CharField()
    signals = serializers.DictField()
    createdAt = serializers.DateTimeField()
    attachments = FileShape(
        many=True,
        required=False,
        help_text="Files sent with the message (a photo, a PDF); absent when there are none.",
    )


class ConversationListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Words said in the conversation."),
            OpenApiParameter("state", str, enum=State.values),
            OpenApiParameter("channel", str, enum=Channel.values),
            OpenApiParameter("assignee", str, description="A username, or none."),
            OpenApiParameter("customer", str, description="The customer's id, name or e-mail."),
            OpenApiParameter("since", OpenApiTypes.DATE, description="Started on or after."),
            OpenApiParameter("until", OpenApiTypes.DATE, description="Started on or before."),
            OpenApiParameter("tag", str, description="Only conversations with this tag."),
            OpenApiParameter(
                "group",
                int,
                description="Only conversations handed to this group of human agents (its id).",
            ),
            OpenApiParameter("limit", int),
        ],
        responses=ConversationShape(many=True),
    )
    def get(self, request):
        """The conversations the caller reaches, newest first, found as the inbox's history
        finds them (``conversations.search``: full-text on PostgreSQL)."""
        try:
            filters = filters_from(request.query_params)
        except BadFilter as exc:
            raise serializers.ValidationError({exc.field: [exc.reason]}) from None
        tenant = request_tenant(request)
        conversations = (
            conversations_found(
                tenant,
                filters,
                base=narrow_conversations(tenant_conversations(request), request.reach),
            )
            .select_related("current_agent", "assignee")
            .prefetch_related("handoffs__claimed_by", "tags")
        )
        limit = _bounded_int(request.query_params.get("limit"), "limit", default=50, top=200)
        return Response([conversation_json(c) for c in conversations[:limit]])

    @extend_schema(
        request=StartSerializer,
        responses={
            201: inline_serializer(
                "ConversationStarted",
                {
                    "id": serializers.UUIDField(),
                    "state": serializers.CharField(),
                    "currentAgentId": serializers.CharField(),
                    "customerToken": serializers.CharField(),
                },
            ),
            403: OpenApiResponse(
                ErrorSerializer,
                description="``blocked``: the team blocked this customer (their id or e-mail "
                "address); no conversation starts for them.",
            ),
        },
    )
    def post(self, request):
        tenant = request_tenant(request)
        assert tenant is not None  # MatrixPermission let in only callers of a tenant
        serializer = StartSerializer(data=request.data, context={"tenant": tenant})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        conversation, token = conversation_start(
            tenant=tenant,
            agent=data["agentId"],
            channel=data["channel"],
            customer=data["customer"],
            workflow=data.get("workflowId"),
            language=data.get("language") or "",
            opened_by=request_principal(request),
            subject=data.get("subject") or "",
        )
        body = {**conversation_json(conversation), "customerToken": token}
        return Response(body, status=status.HTTP_201_CREATED)


class CustomerChange(serializers.Serializer):
    name = serializers.CharField(
        required=False, allow_blank=True, help_text="Empty clears it; at most 200 characters."
    )
    email = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Empty clears it. An e-mail conversation's address cannot change.",
    )
    attributes = serializers.DictField(
        required=False,
        help_text="What the integration knows of the customer (their plan, their orders): the "
        "names given are set, a null takes one off, the others stay. At most 50 names of 1 to "
        "64 letters, digits, _, . or -; a value at most 2000 characters once written.",
    )


class ConversationChange(serializers.Serializer):
    customer = CustomerChange(
        help_text="The customer's name, e-mail address or attributes, set on every "
        "conversation of theirs (the same customer id)."
    )


def _who(principal) -> str:
    """Who made a change, as the colleagues' note names them."""
    if principal.key is not None:
        return f"The integration “{principal.key.name}”"
    return principal.user.get_full_name() or principal.user.get_username()


class ConversationDetailView(APIView):
    @extend_schema(responses=ConversationShape)
    def get(self, request, conversation_id):
        return Response(conversation_json(get_conversation(request, conversation_id)))

    @extend_schema(request=ConversationChange, responses=ConversationShape)
    def patch(self, request, conversation_id):
        conversation = get_conversation(request, conversation_id)
        customer = request.data.get("customer") if isinstance(request.data, dict) else None
        if not isinstance(customer, dict):
            raise Invalid(fields={"customer": "must be an object with name, email or attributes"})
        unknown = sorted(set(customer) - {"name", "email", "attributes"})
        if unknown:
            raise Invalid(fields={f"customer.{unknown[0]}": "cannot be changed here"})
        try:
            customer_details_update(
                conversation=conversation,
                by=_who(request_principal(request)),
                name=customer.get("name", UNCHANGED),
                email=customer.get("email", UNCHANGED),
                attributes=customer.get("attributes", UNCHANGED),
            )
        except Invalid as exc:
            raise Invalid(
                fields={
                    (f"customer.{k}" if k in ("name", "email") else k): v
                    for k, v in exc.fields.items()
                }
            ) from None
        return Response(conversation_json(get_conversation(request, conversation_id)))


class MergeIn(serializers.Serializer):
    into = serializers.UUIDField(
        help_text="The conversation to merge this one into: open, of the same customer (the "
        "same customer id or e-mail address)."
    )


class MergeView(APIView):
    @extend_schema(
        request=MergeIn,
        responses={200: ConversationShape, 409: ErrorSerializer},
        description="Merge this conversation into another of the same customer (a second chat, "
        "or the e-mail about the same order): the other gets a private note of what was said "
        "here and its tags; this one's customer is told that it goes on there, and it is "
        "resolved with mergedInto set. Answers the conversation merged into. A bad into is a "
        "400 naming into; a resolved one (either) a 409 merge_refused.",
        examples=[
            OpenApiExample(
                "Kim's chat merged into her e-mail about the same parcel",
                value={"into": "3f2b9c4e-8a1d-4e5f-9b7a-2c6d8e0f1a3b"},
                request_only=True,
            )
        ],
    )
    def post(self, request, conversation_id):
        source = get_conversation(request, conversation_id)
        data = request.data if isinstance(request.data, dict) else {}
        into = merge_target(
            narrow_conversations(tenant_conversations(request), request.reach), data.get("into")
        )
        merged = conversation_merge(source=source, into=into, by=_who(request_principal(request)))
        return Response(conversation_json(get_conversation(request, merged.pk)))


MESSAGE_RESULT = inline_serializer(
    "MessageResult",
    {
        "message": MessageShape(),
        "reply": MessageShape(allow_null=True),
        "replyStatus": serializers.ChoiceField(
            choices=[s.value for s in ReplyStatus],
            help_text="none: no agent answers this message (people have it); "
            "pending: an agent is answering, the reply arrives over the sockets "
            "(message.created) and in the messages; answered: reply holds it; "
            "silent: the agent gave no reply (it failed, was blocked, or handed "
            "over: see notices); dropped: the conversation moved on while the "
            "agent was thinking (a newer message, a person claimed it, resolved), "
            "so its answer was not sent.",
        ),
        "notices": MessageShape(many=True),
        "state": serializers.CharField(),
        "currentAgentId": serializers.CharField(),
        "handoff": serializers.DictField(allow_null=True),
        "approval": serializers.DictField(allow_null=True),
        "proposedActions": serializers.ListField(child=serializers.DictField()),
    },
)


class MessagesView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="Only messages after this id.")],
        responses=MessageShape(many=True),
    )
    def get(self, request, conversation_id):
        conversation = get_conversation(request, conversation_id)
        # the transcript a channel relays to the customer: never a private note
        messages = (
            Message.objects.filter(conversation=conversation)
            .exclude(role__in=INTERNAL_ROLES)
            .order_by("id")
        )
        after = request.query_params.get("after")
        if after not in (None, ""):
            messages = messages.filter(id__gt=_bounded_int(after, "after", default=0))
        return Response([message_json(m) for m in messages[:MESSAGES_PAGE]])

    @extend_schema(
        request=MessageInSerializer,
        responses={201: MESSAGE_RESULT},
        description="Stores the message and answers at once with the orchestrator's decisions "
        "(routing, rules, escalation, a handoff). When an agent must reply, its reply is "
        "produced outside the request: replyStatus is pending and the reply arrives over the "
        "conversation's socket (agent.typing, then message.created). With wait (seconds, 0 to "
        "30) the answer waits for the reply (holding no database connection meanwhile); when "
        "it does not come in time, replyStatus is still pending.",
    )
    def post(self, request, conversation_id):
        tenant = request_tenant(request)
        serializer = MessageInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if tenant is None:
            raise Http404
        try:
            # the tenant check is folded into the turn's lock query: no query of its own
            result = conversation_receive_message(
                conversation=Conversation(pk=conversation_id, tenant=tenant),
                text=data["text"],
                signals=data.get("signals"),
                sent_by=request_principal(request),
            )
        except Conversation.DoesNotExist:
            raise Http404 from None
        return _answered(result, data.get("wait"))


def _answered(result: TurnResult, wait: float | None) -> Response:
    """201 with the message taken, the orchestrator's decisions and the reply's status (the
    reply itself when ``wait`` saw it come)."""
    conv = result.conversation
    body = {
        "message": message_json(result.message),
        "reply": message_json(result.reply) if result.reply else None,
        "replyStatus": str(result.reply_status),
        "notices": [message_json(m) for m in result.notices],
        "state": conv.state,
        "currentAgentId": conv.current_agent.slug,
        "handoff": result.handoff,
        "approval": result.approval,
        "proposedActions": result.proposed_actions,
    }
    if wait and result.ai_turn is not None and result.reply_status == ReplyStatus.PENDING:
        outcome = turn_wait(conversation_id=conv.pk, ai_turn=result.ai_turn, seconds=wait)
        if outcome is not None:
            body.update(_waited(conv.pk, outcome, body))
    return Response(body, status=status.HTTP_201_CREATED)


TAGS = inline_serializer("Tags", {"tags": serializers.ListField(child=serializers.CharField())})


class TagView(APIView):
    @extend_schema(
        request=None,
        responses={200: TAGS},
        description="Put a tag on the conversation (free-form; lower case, a-z, 0-9, - and _, a "
        "space becomes -, at most 40 characters, 20 a conversation). Putting one it has changes "
        "nothing. Answers the conversation's tags.",
    )
    def put(self, request, conversation_id, name):
        conversation = get_conversation(request, conversation_id)
        try:
            tags = conversation_tag(
                conversation=conversation, name=name, user=request_principal(request).user
            )
        except Invalid as exc:
            raise serializers.ValidationError(exc.fields) from None
        return Response({"tags": tags})

    @extend_schema(
        responses={200: TAGS},
        description="Take a tag off the conversation (one it has not changes nothing). Answers "
        "the conversation's tags.",
    )
    def delete(self, request, conversation_id, name):
        conversation = get_conversation(request, conversation_id)
        try:
            tags = conversation_untag(conversation=conversation, name=name)
        except Invalid as exc:
            raise serializers.ValidationError(exc.fields) from None
        return Response({"tags": tags})


class FilesView(APIView):
    parser_classes = [FileFormParser]

    @extend_schema(
        request=FILE_FORM,
        responses={201: MESSAGE_RESULT},
        description="The customer sends a file (a photo, a PDF, a text file) through the "
        "channel, as a message with it attached: taken as POST .../messages takes one (the "
        "orchestrator decides it, an agent may answer). At most ATTACHMENT_MAX_BYTES (413 "
        "past it); a kind the pages do not show is a 400 naming file. The message's "
        "attachments carry each file's signed url.",
    )
    def post(self, request, conversation_id):
        tenant = request_tenant(request)
        conversation = (
            Conversation.objects.filter(tenant=tenant, pk=conversation_id).first()
            if tenant is not None
            else None
        )
        if conversation is None:
            raise Http404
        try:
            result = attachment_send(
                conversation=conversation,
                upload=one_file(request),
                text=request.data.get("text"),
                sent_by=MessageRole.CUSTOMER,
                send=lambda text, files: conversation_receive_message(
                    conversation=Conversation(pk=conversation.pk, tenant=tenant),
                    text=text,
                    files=files,
                    sent_by=request_principal(request),
                ),
            )
        except Invalid as exc:
            raise serializers.ValidationError(exc.fields) from None
        return _answered(result, None)


def _waited(conversation_id, outcome: dict, body: dict) -> dict:
    """The answer's fields once the agent's turn is over (read afresh)."""
    conv = Conversation.objects.select_related("current_agent").get(pk=conversation_id)
    ids = [i for i in [outcome.get("reply"), *(outcome.get("notices") or [])] if i]
    found = {m.pk: m for m in Message.objects.filter(conversation_id=conversation_id, pk__in=ids)}
    reply = found.get(outcome["reply"]) if outcome.get("reply") else None
    return {
        "reply": message_json(reply) if reply else None,
        "replyStatus": outcome["status"],
        "notices": body["notices"]
        + [message_json(found[i]) for i in outcome.get("notices") or [] if i in found],
        "state": conv.state,
        "currentAgentId": conv.current_agent.slug,
        "handoff": outcome.get("handoff") or body["handoff"],
        "approval": outcome.get("approval"),
        "proposedActions": outcome.get("proposedActions") or [],
    }


class EventsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="Only events after this id (the next page).")
        ],
        responses=inline_serializer(
            "DecisionEvent",
            {
                "id": serializers.IntegerField(),
                "type": serializers.CharField(),
                "agentId": serializers.CharField(allow_null=True),
                "rule": serializers.CharField(allow_null=True),
                "detail": serializers.DictField(),
                "durationMs": serializers.FloatField(),
                "createdAt": serializers.DateTimeField(),
            },
            many=True,
        ),
    )
    def get(self, request, conversation_id):
        conversation = get_conversation(request, conversation_id)
        events = DecisionEvent.objects.filter(conversation=conversation).order_by("id")
        after = request.query_params.get("after")
        if after not in (None, ""):
            events = events.filter(id__gt=_bounded_int(after, "after", default=0))
        return Response([event_json(e) for e in events[:EVENTS_PAGE]])


def _bounded_int(raw, name: str, *, default: int, top: int | None = None) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise serializers.ValidationError({name: ["must be a whole number"]}) from None
    if value < 0:
        raise serializers.ValidationError({name: ["must not be negative"]})
    return min(value, top) if top else value


def block_json(block: CustomerBlock) -> dict:
    return {
        "id": block.pk,
        "kind": block.kind,
        # a web chat visitor's network address is kept only as a keyed hash: never shown
        "value": None if block.kind == BlockKind.ADDRESS else block.value,
        "reason": block.reason,
        "blockedBy": block.blocked_by.get_username() if block.blocked_by else None,
        "conversationId": str(block.conversation_id) if block.conversation_id else None,
        "createdAt": block.created_at,
        "expiresAt": block.expires_at,  # None: for good
    }


class BlockShape(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=BlockKind.choices)
    value = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    blockedBy = serializers.CharField(allow_null=True)
    conversationId = serializers.UUIDField(allow_null=True)
    createdAt = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField(
        allow_null=True,
        help_text="When it ends; null: for good (a web chat visitor's address "
        "is blocked for CHAT_ADDRESS_BLOCK_DAYS).",
    )


class BlockIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[BlockKind.EMAIL, BlockKind.CUSTOMER])
    value = serializers.CharField(help_text="The e-mail address (any case), or the customer id.")
    reason = serializers.CharField(required=False, allow_blank=True)
    expiresAt = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When the block ends (in the future; a date alone: its midnight, UTC); null "
        "or left out: for good. Given for a block that exists, it becomes that block's end.",
    )


class BlockListView(APIView):
    """The customers the team blocked (spam, abuse): no new conversation starts for them."""

    @extend_schema(responses=BlockShape(many=True))
    def get(self, request):
        blocks = CustomerBlock.objects.filter(tenant=request_tenant(request)).select_related(
            "blocked_by"
        )[:1000]
        return Response([block_json(b) for b in blocks])

    @extend_schema(
        request=BlockIn,
        responses={201: BlockShape, 200: OpenApiResponse(BlockShape, "Blocked already.")},
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        tenant = request_tenant(request)
        assert tenant is not None  # MatrixPermission let in only callers of a tenant
        block, created = block_made(
            tenant.pk,
            kind=data.get("kind"),
            value=data.get("value"),
            reason=data.get("reason", ""),
            by=request_principal(request).user,
            until=data.get("expiresAt", KEEP),
        )
        return Response(block_json(block), status=201 if created else 200)


class BlockDetailView(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, block_id: int):
        """Unblock: new conversations start for them again."""
        get_object_or_404(
            CustomerBlock.objects.filter(tenant=request_tenant(request)), pk=block_id
        ).delete()
        return Response(status=204)


urlpatterns = [
    path("blocks", BlockListView.as_view(), name="api-blocks"),
    path("blocks/<int:block_id>", BlockDetailView.as_view(), name="api-block"),
    path("conversations", ConversationListView.as_view(), name="api-conversations"),
    path(
        "conversations/<uuid:conversation_id>",
        ConversationDetailView.as_view(),
        name="api-conversation",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages",
        MessagesView.as_view(),
        name="api-conversation-messages",
    ),
    path(
        "conversations/<uuid:conversation_id>/merge",
        MergeView.as_view(),
        name="api-conversation-merge",
    ),
    path(
        "conversations/<uuid:conversation_id>/tags/<str:name>",
        TagView.as_view(),
        name="api-conversation-tag",
    ),
    path(
        "conversations/<uuid:conversation_id>/files",
        FilesView.as_view(),
        name="api-conversation-files",
    ),
    path(
        "conversations/<uuid:conversation_id>/events",
        EventsView.as_view(),
        name="api-conversation-events",
    ),
]
