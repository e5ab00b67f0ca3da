"""Websocket consumers (SPEC 6): the inbox of human agents and approvers, and the customer's
side of one conversation.

Close codes: 4401 not signed in / bad token, 4403 not allowed, 4404 no such conversation.
Events from the channel layer are small (type and ids); consumers re-read what they send, and a
reconnecting client gets a fresh snapshot from the database, so a dropped event loses nothing.

A frame a client sends is decoded in one place (``JsonConsumer.receive``): binary, empty,
too large, not JSON, nested too deep, holding a NUL or a lone surrogate, or not an object, it
is answered ``{"type": "error", "code": "bad_frame", "error": "..."}`` and the socket stays
open. Every error frame has a ``code`` (``bad_frame``, ``unknown_type``, ``invalid``,
``rate_limited`` with ``retryAfter`` in seconds) and a readable ``error``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder

from approvals.selectors import approver_tokens
from config import ratelimit
from handover import presence
from handover.limits import chat_message_refusal, wait_text
from handover.models import Handoff
from handover.selectors import inbox_snapshot, message_json
from handover.services import HandoffUnavailable, NotAllowed, handoff_claim, human_send_message
from orchestration.conversation_services import customer_token_matches
from orchestration.events import conversation_group, tenant_inbox_group
from orchestration.json_input import JsonRefused, loads
from orchestration.models import Conversation, Message
from orchestration.scoping import membership_of

log = logging.getLogger(__name__)

MAX_TEXT = 10_000
MAX_FRAME = 64 * 1024  # characters of one frame; a message of MAX_TEXT fits with room to spare
MAX_ID = 2**63 - 1  # the largest primary key PostgreSQL's bigint holds
# Presence changes within this window are told in one broadcast per process and tenant: 500
# agents connecting at once make a few broadcasts of the whole list, not 500 x 500 messages.
PRESENCE_COALESCE_SECONDS = 0.25
# Per event loop (one per ASGI process in production; tests make one per test): tenant id -> the
# broadcast already scheduled. Only a debounce; who is online is always read from the database.
_presence_pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Task]]
_presence_pending = weakref.WeakKeyDictionary()
_presence_tasks: set[asyncio.Task] = set()  # asyncio keeps only weak references to tasks


def _text(content: dict[str, Any]) -> str | None:
    text = content.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT or "\x00" in text:
        return None
    return text.strip()


class FrameRefused(ValueError):
    """A client frame that is not a JSON object we accept; the message says why."""


def error_frame(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "error": message, **extra}


def decode_frame(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
    """The object a client's frame holds, through the one JSON door; raises FrameRefused."""
    if text_data is None:
        raise FrameRefused("binary frames are not accepted: send a JSON object as text")
    if len(text_data) > MAX_FRAME:
        raise FrameRefused(f"the frame is over {MAX_FRAME} characters")
    if not text_data.strip():
        raise FrameRefused("the frame is empty: send a JSON object")
    try:
        content = loads(text_data)
    except JsonRefused as exc:
        raise FrameRefused(f"the frame is not acceptable JSON: {exc}") from None
    if not isinstance(content, dict):
        raise FrameRefused("a frame must be a JSON object with a type")
    return content


def _kind(content: dict[str, Any]) -> str | None:
    kind = content.get("type")
    return kind if isinstance(kind, str) else None


def _unknown(kind: str | None) -> dict[str, Any]:
    named = "no type" if kind is None else f"unknown message type {kind[:40]!r}"
    return error_frame("unknown_type", named)


def _positive_id(value: Any) -> int | None:
    """A row id as a client must send it: a JSON integer from 1 to MAX_ID (not a bool, a
    float, a string, NaN or Infinity)."""
    if type(value) is int and 1 <= value <= MAX_ID:
        return value
    return None


class JsonConsumer(AsyncJsonWebsocketConsumer):
    """Decodes every client frame through ``decode_frame`` (a bad one gets an error frame and
    the socket stays open) and sends dates and UUIDs as Django's JSON encoder writes them (ISO
    8601, strings)."""

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            content = decode_frame(text_data, bytes_data)
        except FrameRefused as exc:
            await self.send_json(error_frame("bad_frame", str(exc)))
            return
        await self.receive_json(content, **kwargs)

    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content, cls=DjangoJSONEncoder)


class InboxConsumer(JsonConsumer):
    """``/ws/inbox/``: human agents and approvers of one tenant."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        membership = await database_sync_to_async(membership_of)(user)
        approves = bool(membership) and bool(await database_sync_to_async(approver_tokens)(user))
        if membership is None or not (membership.is_agent or approves):
            await self.close(code=4403)
            return
        self.user = user
        self.tenant = membership.tenant
        self.is_agent = membership.is_agent
        self.group = tenant_inbox_group(self.tenant.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        if self.is_agent:
            await database_sync_to_async(presence.presence_join)(user=user, tenant=self.tenant)
            await self._broadcast_presence()
        await self.send_json(await database_sync_to_async(inbox_snapshot)(user, self.tenant))

    async def disconnect(self, code):
        if not hasattr(self, "group"):
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.is_agent:
            await database_sync_to_async(presence.presence_leave)(user=self.user)
            await self._broadcast_presence()

    async def _broadcast_presence(self):
        """Tell the tenant's inboxes who is online, once for every change in the coalescing
        window. A change made before the broadcast reads the list is in it; a later one
        schedules the next broadcast."""
        pending = _presence_pending.setdefault(asyncio.get_running_loop(), {})
        if self.tenant.pk in pending:
            return
        task = asyncio.ensure_future(
            _presence_broadcast_later(self.channel_layer, self.tenant, self.group, pending)
        )
        pending[self.tenant.pk] = task
        _presence_tasks.add(task)
        task.add_done_callback(_presence_tasks.discard)

    async def receive_json(self, content, **kwargs):
        kind = _kind(content)
        if kind == "heartbeat":
            if self.is_agent:
                await database_sync_to_async(presence.presence_beat)(user=self.user)
            await self.send_json({"type": "heartbeat.ack"})
        elif kind == "resync":
            await self.send_json(
                await database_sync_to_async(inbox_snapshot)(self.user, self.tenant)
            )
        elif kind == "handoff.claim":
            handoff_id = _positive_id(content.get("handoffId"))
            if handoff_id is None:
                await self.send_json(
                    error_frame(
                        "invalid", "handoffId must be a positive integer", field="handoffId"
                    )
                )
            else:
                await self.send_json(await self._claim(handoff_id))
        elif kind == "message.send":
            await self.send_json(await self._send(content))
        else:
            await self.send_json(_unknown(kind))

    @database_sync_to_async
    def _claim(self, handoff_id: int) -> dict[str, Any]:
        result = {"type": "handoff.claim.result", "handoffId": handoff_id, "ok": False}
        handoff = Handoff.objects.filter(tenant=self.tenant, pk=handoff_id).first()
        if handoff is None:
            return {**result, "error": "no such handoff"}
        try:
            handoff_claim(handoff=handoff, user=self.user)
        except (HandoffUnavailable, NotAllowed) as exc:
            return {**result, "error": str(exc)}
        return {**result, "ok": True, "conversationId": str(handoff.conversation_id)}

    @database_sync_to_async
    def _send(self, content) -> dict[str, Any]:
        result = {"type": "message.send.result", "ok": False}
        text = _text(content)
        conversation = _conversation(self.tenant, content.get("conversationId"))
        if conversation is None:
            return {**result, "error": "no such conversation"}
        if text is None:
            return {**result, "error": f"text must be 1 to {MAX_TEXT} characters, without NUL"}
        try:
            message = human_send_message(conversation=conversation, user=self.user, text=text)
        except NotAllowed as exc:
            return {**result, "error": str(exc)}
        return {**result, "ok": True, "messageId": message.pk}

    async def broadcast(self, message):
        event = dict(message["event"])
        if event.get("type") == "message.created" and "message" not in event:
            found = await database_sync_to_async(_message)(self.tenant.pk, event.get("messageId"))
            if found is None:
                return
            event["message"] = found
        elif event.get("type") == "presence" and "online" not in event:
            event["online"] = await database_sync_to_async(_online)(self.tenant)
        await self.send_json(event)


class CustomerConsumer(JsonConsumer):
    """``/ws/conversations/<id>/?token=<customerToken>``: the customer's side of one thread."""

    async def connect(self):
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [""])[0]
        conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        conversation = await database_sync_to_async(
            lambda: Conversation.objects.filter(pk=conversation_id).first()
        )()
        if conversation is None:
            await self.close(code=4404)
            return
        if not customer_token_matches(conversation, token):
            await self.close(code=4401)
            return
        self.conversation_id = conversation.pk
        self.tenant_id = conversation.tenant_id
        self.address = ratelimit.socket_client_ip(self.scope)
        self.group = conversation_group(conversation.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(await database_sync_to_async(self._snapshot)())

    def _snapshot(self) -> dict[str, Any]:
        conversation = Conversation.objects.get(pk=self.conversation_id)
        messages = Message.objects.filter(conversation_id=self.conversation_id).order_by("id")
        return {
            "type": "conversation.snapshot",
            "state": conversation.state,
            "messages": [message_json(m) for m in messages],
        }

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        kind = _kind(content)
        if kind == "resync":
            await self.send_json(await database_sync_to_async(self._snapshot)())
            return
        if kind != "message.send":
            await self.send_json(_unknown(kind))
            return
        # Counted before anything else is done for it, invalid ones too (handover.limits).
        refused = await sync_to_async(chat_message_refusal, thread_sensitive=False)(
            self.conversation_id, self.address
        )
        if refused is not None:
            await self.send_json(
                error_frame(
                    "rate_limited",
                    "You are sending messages too fast. "
                    f"Try again in {wait_text(refused.retry_after)}.",
                    retryAfter=refused.retry_after,
                )
            )
            return
        text = _text(content)
        if text is None:
            await self.send_json(
                error_frame("invalid", f"text must be 1 to {MAX_TEXT} characters, without NUL")
            )
            return
        # The whole pipeline runs for this message (detection, rules, the agent's runtime, maybe
        # a network call): in a worker thread of its own, as an HTTP request's view would, not
        # in the one thread the process's sockets share for their short reads and writes, where
        # it would hold up every other socket's deliveries behind it.
        problem = await database_sync_to_async(self._customer_says, thread_sensitive=False)(text)
        if problem:
            await self.send_json(error_frame("conversation_closed", problem))

    def _customer_says(self, text: str) -> str | None:
        from orchestration.pipeline import ConversationClosed, conversation_receive_message

        conversation = Conversation.objects.get(pk=self.conversation_id)
        try:
            conversation_receive_message(conversation=conversation, text=text)
        except ConversationClosed as exc:
            return str(exc)
        return None

    async def broadcast(self, message):
        event = dict(message["event"])
        if event.get("type") == "message.created" and "message" not in event:
            found = await database_sync_to_async(_message)(self.tenant_id, event.get("messageId"))
            if found is None:
                return
            event["message"] = found
        await self.send_json(event)


async def _presence_broadcast_later(layer, tenant, group: str, pending: dict) -> None:
    await asyncio.sleep(PRESENCE_COALESCE_SECONDS)
    pending.pop(tenant.pk, None)  # before the read: a change after this schedules its own
    try:
        online = await database_sync_to_async(_online)(tenant)
        await layer.group_send(
            group, {"type": "broadcast", "event": {"type": "presence", "online": online}}
        )
    except Exception:  # the layer may be down; the next change or a resync tells it again
        log.warning("presence broadcast failed", exc_info=True)


def _conversation(tenant, conversation_id) -> Conversation | None:
    if not isinstance(conversation_id, str):
        return None
    try:
        return Conversation.objects.filter(tenant=tenant, pk=conversation_id).first()
    except (ValidationError, ValueError, TypeError):  # not a UUID
        return None


def _message(tenant_id: int, message_id) -> dict[str, Any] | None:
    message = Message.objects.filter(tenant_id=tenant_id, pk=message_id).first()
    return message_json(message) if message else None


def _online(tenant) -> list[str]:
    return sorted(
        p.user.get_username() for p in presence.online_agents(tenant).select_related("user")
    )
