"""Websocket consumers (SPEC 6): the inbox of human agents and approvers, and the customer's
side of one conversation.

Close codes: 4401 not signed in / bad token, 4403 not allowed, 4404 no such conversation.
Events from the channel layer are small (type and ids); consumers re-read what they send, and a
reconnecting client gets a fresh snapshot from the database, so a dropped event loses nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder

from approvals.selectors import approver_tokens
from handover import presence
from handover.models import Handoff
from handover.selectors import inbox_snapshot, message_json
from handover.services import HandoffUnavailable, NotAllowed, handoff_claim, human_send_message
from orchestration.conversation_services import customer_token_matches
from orchestration.events import conversation_group, tenant_inbox_group
from orchestration.models import Conversation, Message
from orchestration.scoping import membership_of

log = logging.getLogger(__name__)

MAX_TEXT = 10_000
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


class JsonConsumer(AsyncJsonWebsocketConsumer):
    """Sends dates and UUIDs as Django's JSON encoder writes them (ISO 8601, strings)."""

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
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "heartbeat":
            if self.is_agent:
                await database_sync_to_async(presence.presence_beat)(user=self.user)
            await self.send_json({"type": "heartbeat.ack"})
        elif kind == "resync":
            await self.send_json(
                await database_sync_to_async(inbox_snapshot)(self.user, self.tenant)
            )
        elif kind == "handoff.claim":
            await self.send_json(await self._claim(content.get("handoffId")))
        elif kind == "message.send":
            await self.send_json(await self._send(content))
        else:
            await self.send_json({"type": "error", "error": f"unknown message type {kind!r}"})

    @database_sync_to_async
    def _claim(self, handoff_id) -> dict[str, Any]:
        result = {"type": "handoff.claim.result", "handoffId": handoff_id, "ok": False}
        handoff = Handoff.objects.filter(
            tenant=self.tenant, pk=handoff_id if isinstance(handoff_id, int) else None
        ).first()
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
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "resync":
            await self.send_json(await database_sync_to_async(self._snapshot)())
            return
        if kind != "message.send":
            await self.send_json({"type": "error", "error": f"unknown message type {kind!r}"})
            return
        text = _text(content)
        if text is None:
            await self.send_json(
                {"type": "error", "error": f"text must be 1 to {MAX_TEXT} characters, without NUL"}
            )
            return
        # The whole pipeline runs for this message (detection, rules, the agent's runtime, maybe
        # a network call): in a worker thread of its own, as an HTTP request's view would, not
        # in the one thread the process's sockets share for their short reads and writes, where
        # it would hold up every other socket's deliveries behind it.
        problem = await database_sync_to_async(self._customer_says, thread_sensitive=False)(text)
        if problem:
            await self.send_json({"type": "error", "error": problem})

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
