"""Websocket consumers (SPEC 6): the inbox of human agents and approvers, and the customer's
side of one conversation.

Close codes: 4401 not signed in / bad token (also: deactivated, signed out everywhere, deleted,
while the socket is open), 4403 not allowed (also: a role the socket needs was taken away),
4404 no such conversation.
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

from handover import presence
from handover.models import Handoff
from handover.selectors import inbox_snapshot, message_json
from handover.services import HandoffUnavailable, NotAllowed, handoff_claim, human_send_message
from orchestration.conversation_services import customer_token_matches
from orchestration.events import conversation_group, person_group, tenant_inbox_group
from orchestration.models import Conversation, Message
from orchestration.permissions import (
    AGENT,
    SOCKET_ACTIONS,
    SOCKET_EVENTS,
    access_of,
    forget_hats,
)
from orchestration.scoping import membership_of

log = logging.getLogger(__name__)

MAX_TEXT = 10_000
_CLOSE_CODES = {4401: "signed_out", 4403: "forbidden"}
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
    """``/ws/inbox/``: human agents and approvers of one tenant.

    Who may do what comes from the permission matrix (``orchestration/permissions.py``): the
    socket opens for the hats of its ``connect`` row, each client action needs its row, and an
    event reaches the socket only when its row lets the socket's hats through (handoffs and
    messages: agents; approval requests: approvers). Every client frame re-reads who is there
    in one query (active, still signed in with this session, same tenant, the roles the socket
    was opened with): a person deactivated, signed out everywhere or deleted gets an error frame
    and the close code 4401; one who lost a role the socket was opened with, or left the
    tenant, 4403. The same check runs when the person's group hears ``access.changed`` (sent
    after commit by the services that change people), so a socket closes without waiting for
    its next frame."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.session_key = getattr(self.scope.get("session"), "session_key", None)
        self.closing = False
        now = await database_sync_to_async(access_of)(user.pk, self.session_key)
        if now.close_code:
            await self.close(code=now.close_code)
            return
        if now.tenant_id is None or not SOCKET_ACTIONS["connect"].allows(now.hats):
            await self.close(code=4403)
            return
        membership = await database_sync_to_async(membership_of)(user)
        self.user = user
        self.tenant = membership.tenant
        self.hats = now.hats
        self.is_agent = AGENT in now.hats
        self.group = tenant_inbox_group(self.tenant.pk)
        self.own_group = person_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(self.own_group, self.channel_name)
        await self.accept()
        if self.is_agent:
            await database_sync_to_async(presence.presence_join)(user=user, tenant=self.tenant)
            await self._broadcast_presence()
        await self.send_json(await database_sync_to_async(self._snapshot)())

    def _snapshot(self) -> dict[str, Any]:
        return inbox_snapshot(
            self.user,
            self.tenant,
            handoffs=SOCKET_EVENTS["handoff.offered"].allows(self.hats),
            approvals=SOCKET_EVENTS["approval.requested"].allows(self.hats),
        )

    async def disconnect(self, code):
        if not hasattr(self, "group"):
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.channel_layer.group_discard(self.own_group, self.channel_name)
        if self.is_agent:
            await database_sync_to_async(presence.presence_leave)(user=self.user)
            await self._broadcast_presence()

    async def _still_there(self) -> frozenset[str] | None:
        """Re-read who is behind the socket; close it (after an error frame) when they are
        gone or lost what it was opened with. The hats both still hold, or None (closed)."""
        if self.closing:
            return None
        now = await database_sync_to_async(access_of)(self.user.pk, self.session_key)
        if now.close_code:
            code, error = now.close_code, "You are signed out."
        elif now.tenant_id != self.tenant.pk or not self.hats <= now.hats:
            code, error = 4403, "Your roles changed; reconnect to see what they allow."
        else:
            forget_hats(self.user)  # the services read the membership afresh
            return self.hats & now.hats
        self.closing = True
        await self.send_json({"type": "error", "code": _CLOSE_CODES[code], "error": error})
        await self.close(code=code)
        return None

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
        hats = await self._still_there()  # every frame: who is there, from the database
        if hats is None:
            return
        kind = content.get("type") if isinstance(content, dict) else None
        grant = SOCKET_ACTIONS.get(kind) if isinstance(kind, str) and kind != "connect" else None
        if grant is None:
            await self.send_json({"type": "error", "error": f"unknown message type {kind!r}"})
            return
        if not grant.allows(hats):
            await self.send_json(
                {
                    "type": "error",
                    "code": "forbidden",
                    "action": kind,
                    "error": f"This needs {grant.needs()}.",
                }
            )
            return
        if kind == "heartbeat":
            if self.is_agent:
                await database_sync_to_async(presence.presence_beat)(user=self.user)
            await self.send_json({"type": "heartbeat.ack"})
        elif kind == "resync":
            await self.send_json(await database_sync_to_async(self._snapshot)())
        elif kind == "handoff.claim":
            await self.send_json(await self._claim(content.get("handoffId")))
        elif kind == "message.send":
            await self.send_json(await self._send(content))

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
        kind = event.get("type")
        if kind == "access.changed":  # to this person's sockets: check again now
            await self._still_there()
            return
        grant = SOCKET_EVENTS.get(kind)
        if grant is None or not grant.allows(self.hats):
            return
        if kind == "message.created" and "message" not in event:
            found = await database_sync_to_async(_message)(self.tenant.pk, event.get("messageId"))
            if found is None:
                return
            event["message"] = found
        elif kind == "presence" and "online" not in event:
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
