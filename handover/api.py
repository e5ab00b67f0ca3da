"""API v1 for handoffs: the queue with packs, claim, messages, hand back, resolve (SPEC 6)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.orchestrator_settings import BANDS
from conversations.api import get_conversation
from conversations.attachments import attachment_send
from conversations.messages import message_json
from conversations.models import Conversation, Message, MessageRole
from core.api_auth import request_principal, request_tenant
from core.api_parsers import FILE_FORM, FileFormParser, one_file
from core.errors import Invalid
from core.limits import MessageTextField
from core.scoping import scope_queryset
from handover.bulk import ACTIONS, BULK_MAX, conversations_bulk
from handover.canned import (
    CANNED_TAGS_MAX,
    canned_reply_save,
    canned_reply_send,
    tenant_canned_reply,
)
from handover.groups import group_json, group_save
from handover.mentions import MENTIONS_SHOWN, mention_json, mentions_of, mentions_read
from handover.models import OVERFLOW_AFTER_MAX, CannedReply, CannedThen, Mode, PeopleGroup, Status
from handover.priority import handoff_prioritize
from handover.selectors import (
    handoff_json,
    handoffs_for,
)
from handover.services import (
    conversation_hand_back,
    conversation_resolve,
    handoff_claim,
    human_send_message,
    note_edit,
)
from handover.snooze import handoff_snooze
from handover.targets import TargetBook
from handover.transcripts import COPIES_LISTED, copy_json, transcript_request
from orchestration.reach import narrow_conversations


class HandoffShape(serializers.Serializer):
    id = serializers.IntegerField()
    conversationId = serializers.UUIDField()
    mode = serializers.ChoiceField(choices=Mode.values)
    status = serializers.ChoiceField(choices=Status.values)
    priority = serializers.IntegerField()
    claimedBy = serializers.CharField(allow_null=True)
    group = serializers.CharField(
        allow_null=True,
        help_text="The group of human agents it went to (its live offer rang for them); null: "
        "everyone.",
    )
    overflowedAt = serializers.DateTimeField(
        allow_null=True,
        help_text="When nobody of its group took it and it was opened to every human agent "
        "(the group's overflowAfter); null: not opened.",
    )
    waitingMinutes = serializers.IntegerField()
    responseTargetMinutes = serializers.IntegerField(help_text="The first-response target.")
    breached = serializers.BooleanField(help_text="A response target was missed.")
    priorityBand = serializers.ChoiceField(choices=BANDS)
    firstResponseDueAt = serializers.DateTimeField()
    firstRespondedAt = serializers.DateTimeField(
        allow_null=True, help_text="A person's first message after the handover."
    )
    resolutionDueAt = serializers.DateTimeField(
        help_text="Later by the time snoozes held it (resolutionPausedSeconds)."
    )
    resolutionPausedSeconds = serializers.IntegerField(
        help_text="How long snoozes paused the resolution target, the one on to its end."
    )
    breaches = serializers.ListField(
        child=serializers.ChoiceField(choices=["firstResponse", "resolution"])
    )
    pack = serializers.DictField(allow_null=True)
    createdAt = serializers.DateTimeField()


def _handoff(request, handoff_id: int):
    return get_object_or_404(handoffs_for(request_tenant(request)), pk=handoff_id)


def _answer(request, handoff) -> Response:
    handoff.refresh_from_db()
    return Response(handoff_json(handoff, targets=TargetBook(request_tenant(request))))


class HandoffListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("mode", str, enum=Mode.values),
            OpenApiParameter("status", str, enum=Status.values),
        ],
        responses=HandoffShape(many=True),
    )
    def get(self, request):
        tenant = request_tenant(request)
        handoffs = handoffs_for(tenant)
        for name, choices in (("mode", Mode.values), ("status", Status.values)):
            value = request.query_params.get(name)
            if value:
                if value not in choices:
                    raise serializers.ValidationError(
                        {name: [f"must be one of {', '.join(choices)}"]}
                    )
                handoffs = handoffs.filter(**{name: value})
        targets = TargetBook(tenant)
        return Response([handoff_json(h, targets=targets) for h in handoffs[:500]])


class HandoffDetailView(APIView):
    @extend_schema(responses=HandoffShape)
    def get(self, request, handoff_id: int):
        return _answer(request, _handoff(request, handoff_id))


class HandoffClaimView(APIView):
    @extend_schema(request=None, responses=HandoffShape)
    def post(self, request, handoff_id: int):
        handoff = _handoff(request, handoff_id)
        handoff_claim(handoff=handoff, user=request.user)
        return _answer(request, handoff)


class _ConversationAction(APIView):
    service = None

    @extend_schema(request=None, responses=HandoffShape)
    def post(self, request, handoff_id: int):
        handoff = _handoff(request, handoff_id)
        type(self).service(conversation=handoff.conversation, user=request.user)
        return _answer(request, handoff)


class HandoffResolveView(_ConversationAction):
    service = staticmethod(conversation_resolve)


class HandoffHandBackView(_ConversationAction):
    service = staticmethod(conversation_hand_back)


class SnoozeSerializer(serializers.Serializer):
    until = serializers.CharField(
        allow_null=True,
        help_text="An ISO 8601 date-time within 30 days (the conversation comes back then, or "
        "when the customer writes first); null wakes it now.",
    )


class HandoffSnoozeView(APIView):
    """The claimer puts the conversation aside until a time, or until the customer writes."""

    @extend_schema(request=SnoozeSerializer, responses=HandoffShape)
    def post(self, request, handoff_id: int):
        handoff = _handoff(request, handoff_id)
        if not isinstance(request.data, dict) or "until" not in request.data:
            raise Invalid(fields={"until": "give a date-time, or null to wake it"})
        handoff_snooze(handoff=handoff, user=request.user, until=request.data["until"])
        return _answer(request, handoff)


class PrioritySerializer(serializers.Serializer):
    priority = serializers.ChoiceField(
        choices=BANDS,
        help_text="The band: the queue's order and the response targets follow it.",
    )


class HandoffPriorityView(APIView):
    """Set an open handoff's priority by hand (a VIP, a complaint the press picked up): the
    queue's order and the response targets follow; the colleagues read who changed it."""

    @extend_schema(request=PrioritySerializer, responses=HandoffShape)
    def post(self, request, handoff_id: int):
        handoff = _handoff(request, handoff_id)
        band = request.data.get("priority") if isinstance(request.data, dict) else None
        handoff_prioritize(handoff=handoff, band=band, by=request_principal(request).spoken)
        return _answer(request, handoff)


class HumanMessageSerializer(serializers.Serializer):
    text = MessageTextField()
    cannedReplyId = serializers.IntegerField(
        required=False,
        help_text="The canned reply this text came from: its actions (tags, then resolve, "
        "snooze or hand back) are done with the reply, all or nothing.",
    )


class HandoffMessageView(APIView):
    @extend_schema(
        request=HumanMessageSerializer,
        responses={201: inline_serializer("HumanMessage", {"id": serializers.IntegerField()})},
    )
    def post(self, request, handoff_id: int):
        handoff = _handoff(request, handoff_id)
        serializer = HumanMessageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        text = serializer.validated_data["text"]
        canned = tenant_canned_reply(handoff.tenant_id, request.data.get("cannedReplyId"))
        if canned is None:
            message = human_send_message(
                conversation=handoff.conversation, user=request.user, text=text
            )
        else:
            message = canned_reply_send(
                conversation=handoff.conversation, user=request.user, text=text, reply=canned
            )
        return Response(message_json(message), status=201)


class HandoffFileView(APIView):
    parser_classes = [FileFormParser]

    @extend_schema(
        request=FILE_FORM,
        responses={201: inline_serializer("HumanFile", {"id": serializers.IntegerField()})},
        description="The claimer sends the customer a file (a return label, a screenshot), as "
        "a reply with it attached: by e-mail too, attached, where replies are e-mailed. At "
        "most ATTACHMENT_MAX_BYTES (413 past it); a kind the pages do not show is a 400 "
        "naming file. The message's attachments carry the file's signed url.",
    )
    def post(self, request, handoff_id: int):
        handoff = _handoff(request, handoff_id)
        try:
            message = attachment_send(
                conversation=handoff.conversation,
                upload=one_file(request),
                text=request.data.get("text"),
                sent_by=MessageRole.HUMAN,
                send=lambda text, files: human_send_message(
                    conversation=handoff.conversation, user=request.user, text=text, files=files
                ),
            )
        except Invalid as exc:
            raise serializers.ValidationError(exc.fields) from None
        return Response(message_json(message), status=201)


class NoteEditSerializer(serializers.Serializer):
    text = MessageTextField()


class NoteDetailView(APIView):
    """A private note: its author changes its text (what it said before is kept)."""

    @extend_schema(
        request=NoteEditSerializer,
        responses=inline_serializer(
            "Note",
            {
                "id": serializers.IntegerField(),
                "text": serializers.CharField(),
                "authorId": serializers.IntegerField(),
                "editedAt": serializers.DateTimeField(),
            },
        ),
    )
    def patch(self, request, note_id: int):
        note = get_object_or_404(
            Message.objects.filter(tenant=request_tenant(request), role=MessageRole.NOTE),
            pk=note_id,
        )
        serializer = NoteEditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        edited = note_edit(note=note, user=request.user, text=serializer.validated_data["text"])
        return Response(message_json(edited))


class MentionShape(serializers.Serializer):
    id = serializers.IntegerField()
    conversationId = serializers.UUIDField()
    messageId = serializers.IntegerField(help_text="The private note that names you.")
    customer = serializers.CharField()
    by = serializers.CharField(help_text="Who wrote the note.")
    excerpt = serializers.CharField(help_text="The note's text (its first 200 characters).")
    createdAt = serializers.DateTimeField()
    readAt = serializers.DateTimeField(allow_null=True)


class MentionsRead(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        max_length=500,
        required=False,
        help_text="The mentions you read; left out, all of them (or a conversation's).",
    )
    conversationId = serializers.UUIDField(
        required=False, help_text="All of your mentions in this conversation."
    )


class MentionListView(APIView):
    """Your mentions: the private notes in which a colleague named you (``@you``)."""

    @extend_schema(
        parameters=[OpenApiParameter("unread", bool, description="Only the unread ones.")],
        responses=inline_serializer(
            "Mentions",
            {"unread": serializers.IntegerField(), "results": MentionShape(many=True)},
        ),
    )
    def get(self, request):
        unread = request.query_params.get("unread")
        if unread not in (None, "true", "false", "1", "0"):
            raise Invalid(fields={"unread": "must be true or false"})
        rows = mentions_of(request.user, unread=unread in ("true", "1"))
        return Response(
            {
                "unread": mentions_of(request.user, unread=True).count(),
                "results": [mention_json(m) for m in rows[:MENTIONS_SHOWN]],
            }
        )


class MentionReadView(APIView):
    """Mark mentions read: the ones named, a conversation's, or all."""

    @extend_schema(
        request=MentionsRead,
        responses=inline_serializer("MentionsMarked", {"read": serializers.ListField()}),
    )
    def post(self, request):
        if not isinstance(request.data, dict):
            raise Invalid(fields={"body": "must be a JSON object"})
        data = MentionsRead(data=request.data)
        data.is_valid(raise_exception=True)
        read = mentions_read(
            request.user,
            ids=data.validated_data.get("ids"),
            conversation_id=data.validated_data.get("conversationId"),
        )
        return Response({"read": read})


def canned_reply_json(reply: CannedReply) -> dict:
    return {
        "id": reply.pk,
        "shortcut": reply.shortcut,
        "title": reply.title,
        "text": reply.text,
        "tags": list(reply.tags or []),
        "then": reply.then,
        "updatedAt": reply.updated_at,
    }


class CannedReplyShape(serializers.Serializer):
    id = serializers.IntegerField()
    shortcut = serializers.CharField()
    title = serializers.CharField()
    text = serializers.CharField()
    tags = serializers.ListField(
        child=serializers.CharField(), help_text="Put on the conversation when it is sent."
    )
    then = serializers.ChoiceField(
        choices=CannedThen.values,
        help_text="Done once it is sent as a reply: '' nothing, resolve, snooze (until the "
        "customer writes), hand_back (to the AI).",
    )
    updatedAt = serializers.DateTimeField()


class CannedReplyIn(serializers.Serializer):
    shortcut = serializers.CharField(help_text="Lowercase letters, digits and dashes.")
    title = serializers.CharField(required=False, allow_blank=True)
    text = serializers.CharField()
    tags = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        max_length=CANNED_TAGS_MAX,
        help_text="Tags put on the conversation when it is sent as a reply (at most 5).",
    )
    then = serializers.ChoiceField(
        choices=CannedThen.values,
        required=False,
        allow_blank=True,
        help_text="What is done once it is sent as a reply: resolve, snooze (until the "
        "customer writes), hand_back (to the AI); empty, nothing more.",
    )


def _canned_save(request, reply=None) -> CannedReply:
    if not isinstance(request.data, dict):
        raise serializers.ValidationError({"body": ["must be a JSON object"]})
    return canned_reply_save(tenant=request_tenant(request), data=request.data, reply=reply)


class CannedReplyListView(APIView):
    @extend_schema(responses=CannedReplyShape(many=True))
    def get(self, request):
        replies = CannedReply.objects.filter(tenant=request_tenant(request))[:500]
        return Response([canned_reply_json(r) for r in replies])

    @extend_schema(request=CannedReplyIn, responses={201: CannedReplyShape})
    def post(self, request):
        return Response(canned_reply_json(_canned_save(request)), status=201)


class CannedReplyDetailView(APIView):
    def _reply(self, request, reply_id: int) -> CannedReply:
        return get_object_or_404(
            CannedReply.objects.filter(tenant=request_tenant(request)), pk=reply_id
        )

    @extend_schema(responses=CannedReplyShape)
    def get(self, request, reply_id: int):
        return Response(canned_reply_json(self._reply(request, reply_id)))

    @extend_schema(request=CannedReplyIn(partial=True), responses=CannedReplyShape)
    def patch(self, request, reply_id: int):
        reply = _canned_save(request, self._reply(request, reply_id))
        return Response(canned_reply_json(reply))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, reply_id: int):
        self._reply(request, reply_id).delete()
        return Response(status=204)


class OpeningShape(serializers.Serializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 Monday to 6 Sunday")
    opens = serializers.CharField(help_text="HH:MM, in the team's time zone")
    closes = serializers.CharField(help_text='HH:MM; "00:00": until midnight')


class GroupShape(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    members = serializers.ListField(
        child=serializers.CharField(), help_text="The usernames of its human agents."
    )
    aiAgents = serializers.ListField(
        child=serializers.CharField(),
        help_text="The slugs of the AI agents whose handoffs it takes (an AI agent's go to one "
        "group).",
    )
    overflowAfter = serializers.IntegerField(
        allow_null=True,
        help_text="Minutes a handoff waits in the queue for the group before every human agent "
        "is asked; 0: at once, when nobody of the group is available for a live offer; null: "
        "never.",
    )
    hours = OpeningShape(
        many=True, help_text="Its own hours, by which it works; empty: the team's business hours."
    )


class GroupIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    members = serializers.ListField(child=serializers.CharField(), required=False)
    aiAgents = serializers.ListField(child=serializers.CharField(), required=False)
    overflowAfter = serializers.IntegerField(
        allow_null=True, required=False, min_value=0, max_value=OVERFLOW_AFTER_MAX
    )
    hours = OpeningShape(
        many=True,
        required=False,
        help_text="Its own hours (a list replaces the one it had); empty: the team's.",
    )


def _groups(request):
    return PeopleGroup.objects.filter(tenant=request_tenant(request)).prefetch_related(
        "members", "ai_agents", "hours"
    )


def _group_data(request) -> dict:
    if not isinstance(request.data, dict):
        raise Invalid(fields={"body": "must be a JSON object"})
    return request.data


class GroupListView(APIView):
    """The team's groups of human agents (handover.groups)."""

    @extend_schema(responses=GroupShape(many=True))
    def get(self, request):
        return Response([group_json(g) for g in _groups(request)[:500]])

    @extend_schema(
        request=GroupIn,
        responses={201: GroupShape},
        examples=[
            OpenApiExample(
                "The billing people take the Billing agent's handoffs",
                value={"name": "Billing", "members": ["ada", "bob"], "aiAgents": ["billing"]},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        tenant = request_tenant(request)
        assert tenant is not None  # MatrixPermission let in only callers of a tenant
        made = group_save(tenant_id=tenant.pk, data=_group_data(request))
        return Response(group_json(_groups(request).get(pk=made.pk)), status=201)


class GroupDetailView(APIView):
    def _group(self, request, group_id: int) -> PeopleGroup:
        return get_object_or_404(_groups(request), pk=group_id)

    @extend_schema(request=GroupIn(partial=True), responses=GroupShape)
    def patch(self, request, group_id: int):
        """Change its name, members or AI agents (a list given replaces the one it had)."""
        group = self._group(request, group_id)
        group_save(tenant_id=group.tenant_id, data=_group_data(request), group=group)
        return Response(group_json(self._group(request, group_id)))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, group_id: int):
        """Delete it: its AI agents' handoffs go to everyone again (open ones keep no group)."""
        self._group(request, group_id).delete()
        return Response(status=204)


class CopyShape(serializers.Serializer):
    id = serializers.IntegerField()
    to = serializers.EmailField()
    askedBy = serializers.CharField(help_text="Who asked: a person, an integration, the customer.")
    createdAt = serializers.DateTimeField()
    status = serializers.ChoiceField(
        choices=["waiting", "sending", "sent", "failed"],
        help_text="waiting: for its task, or for a retry after the mail server refused "
        "(4 attempts in all); sending: a worker holds it; sent; failed: for good (the "
        "colleagues read why in a note).",
    )
    attempts = serializers.IntegerField()
    sentAt = serializers.DateTimeField(allow_null=True)
    failedAt = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(help_text="What the mail server said, when it refused.")


class CopyIn(serializers.Serializer):
    to = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Where the copy goes; left out or empty: the customer's e-mail address.",
    )


class ConversationCopiesView(APIView):
    @extend_schema(
        responses=CopyShape(many=True),
        description=f"The copies of the conversation e-mailed so far, the newest first (at most "
        f"{COPIES_LISTED}), and where each stands.",
    )
    def get(self, request, conversation_id):
        conversation = get_conversation(request, conversation_id)
        mails = conversation.transcript_mails.order_by("-created_at", "-pk")[:COPIES_LISTED]
        return Response([copy_json(mail) for mail in mails])

    @extend_schema(
        request=CopyIn,
        responses={202: CopyShape},
        description="E-mail a copy of the conversation, as the customer saw it (their messages, "
        "the AI's, the people's, the notices and the files' names; never a private note), from "
        "the tenant, to the customer's address or to the one given (Chatwoot's send "
        "transcript). Answers 202 with the copy: a task sends it (retried when the mail server "
        "refuses); GET lists where it stands. The colleagues read in a note who sent it where. "
        "A bad address, none known, or more than 5 copies of the conversation in an hour is a "
        "400 naming to.",
        examples=[
            OpenApiExample("To the customer's address", value={}, request_only=True),
            OpenApiExample(
                "To another address", value={"to": "kim.lee@example.com"}, request_only=True
            ),
        ],
    )
    def post(self, request, conversation_id):
        conversation = get_conversation(request, conversation_id)
        serializer = CopyIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        principal = request_principal(request)
        mail = transcript_request(
            conversation=conversation,
            to=serializer.validated_data.get("to"),
            user=None if principal.key is not None else principal.user,
            by_name=f"The integration “{principal.key.name}”" if principal.key is not None else "",
        )
        return Response(copy_json(mail), status=202)


class BulkIn(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.UUIDField(), help_text=f"The conversations, at most {BULK_MAX}."
    )
    action = serializers.ChoiceField(choices=ACTIONS)
    tag = serializers.CharField(required=False, help_text="With tag and untag: the tag's name.")
    to = serializers.CharField(
        required=False,
        help_text="With assign: the username of the human agent who gets the conversations "
        "waiting for a person (each claimed for them, within their limit).",
    )


class BulkOut(serializers.Serializer):
    done = serializers.ListField(child=serializers.UUIDField())
    left = serializers.DictField(
        child=serializers.CharField(),
        help_text="The conversations left alone, each with why (not found, resolved already, "
        "a tag too many, not tagged so, someone holds it, not waiting for a person, at their "
        "limit).",
    )


class ConversationBulkView(APIView):
    @extend_schema(
        request=BulkIn,
        responses=BulkOut,
        description="Resolve, tag, take a tag off, or give to a human agent many "
        "conversations at once (a spam wave, a carrier's late parcels, the backlog shared "
        "out). Each is done on its own: one that cannot be is left alone with why, and the "
        "others are done. A bad ids, action, tag or to is a 400 naming it, nothing done.",
        examples=[
            OpenApiExample(
                "A spam wave resolved",
                value={
                    "ids": [
                        "3f2b9c4e-8a1d-4e5f-9b7a-2c6d8e0f1a3b",
                        "9a7c1e2d-4b3f-4c5d-8e6f-0a1b2c3d4e5f",
                    ],
                    "action": "resolve",
                },
                request_only=True,
            ),
            OpenApiExample(
                "The queue given to Bob",
                value={
                    "ids": ["3f2b9c4e-8a1d-4e5f-9b7a-2c6d8e0f1a3b"],
                    "action": "assign",
                    "to": "bob",
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        principal = request_principal(request)
        by = (
            f"the integration “{principal.key.name}”"
            if principal.key is not None
            else principal.user.get_username()
        )
        outcome = conversations_bulk(
            reachable=narrow_conversations(
                scope_queryset(Conversation.objects.all(), request_tenant(request)),
                request.reach,
            ),
            by=by,
            user=principal.user,
            ids=data.get("ids"),
            action=data.get("action"),
            tag=data.get("tag"),
            to=data.get("to"),
            tenant_id=request_tenant(request).pk,
        )
        return Response({"done": outcome.done, "left": outcome.left})


urlpatterns = [
    path("conversations/bulk", ConversationBulkView.as_view(), name="api-conversations-bulk"),
    path(
        "conversations/<uuid:conversation_id>/copies",
        ConversationCopiesView.as_view(),
        name="api-conversation-copies",
    ),
    path("groups", GroupListView.as_view(), name="api-groups"),
    path("groups/<int:group_id>", GroupDetailView.as_view(), name="api-group"),
    path("canned-replies", CannedReplyListView.as_view(), name="api-canned-replies"),
    path("canned-replies/<int:reply_id>", CannedReplyDetailView.as_view(), name="api-canned-reply"),
    path("notes/<int:note_id>", NoteDetailView.as_view(), name="api-note"),
    path("mentions", MentionListView.as_view(), name="api-mentions"),
    path("mentions/read", MentionReadView.as_view(), name="api-mentions-read"),
    path("handoffs", HandoffListView.as_view(), name="api-handoffs"),
    path("handoffs/<int:handoff_id>", HandoffDetailView.as_view(), name="api-handoff"),
    path("handoffs/<int:handoff_id>/claim", HandoffClaimView.as_view(), name="api-handoff-claim"),
    path(
        "handoffs/<int:handoff_id>/resolve",
        HandoffResolveView.as_view(),
        name="api-handoff-resolve",
    ),
    path(
        "handoffs/<int:handoff_id>/snooze",
        HandoffSnoozeView.as_view(),
        name="api-handoff-snooze",
    ),
    path(
        "handoffs/<int:handoff_id>/priority",
        HandoffPriorityView.as_view(),
        name="api-handoff-priority",
    ),
    path(
        "handoffs/<int:handoff_id>/hand-back",
        HandoffHandBackView.as_view(),
        name="api-handoff-hand-back",
    ),
    path(
        "handoffs/<int:handoff_id>/messages",
        HandoffMessageView.as_view(),
        name="api-handoff-messages",
    ),
    path(
        "handoffs/<int:handoff_id>/files",
        HandoffFileView.as_view(),
        name="api-handoff-files",
    ),
]
