"""The asyncio client: ``AsyncClient(base_url=..., api_key=...)``, the same resources and
methods as ``Client``, awaited (paginated lists are async iterators)."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Mapping
from typing import Any, BinaryIO

import httpx

from ._http import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_WAIT,
    DEFAULT_TIMEOUT,
    Base,
    Call,
    file_call,
    new_idempotency_key,
    read_answer,
)
from .client import (
    APPROVALS_PAGE,
    APPROVALS_PAGE_MAX,
    KEEP,
    _group_body,
    _instantiate_body,
    _moment,
    _publish_body,
)
from .errors import TransportError
from .types import (
    ActionResult,
    Agent,
    ApiKey,
    Approval,
    Block,
    BulkOutcome,
    CannedReply,
    Conversation,
    ConversationInput,
    Copy,
    CustomerData,
    CustomerPage,
    CustomerProfile,
    DecisionEvent,
    Erasure,
    Group,
    Handoff,
    Intent,
    IntentInput,
    Me,
    Mentions,
    Message,
    MessageResult,
    Rules,
    RulesInput,
    RuleVersion,
    Settings,
    Signals,
    StackPlan,
    StackTemplate,
    WebhookDelivery,
    WebhookEndpoint,
    Workflow,
    WorkflowInput,
)


class AsyncClient:
    """The asyncio twin of ``Client`` (same arguments, same resources; ``await`` the calls,
    ``async for`` the paginated lists). Use it as an async context manager, or ``aclose()``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._base = Base(
            base_url,
            api_key,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_wait=max_retry_wait,
            headers=headers,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient()
        self.agents = AsyncAgents(self)
        self.orchestration = AsyncOrchestration(self)
        self.settings = AsyncOrchestratorSettings(self)
        self.intents = AsyncIntents(self)
        self.workflows = AsyncWorkflows(self)
        self.conversations = AsyncConversations(self)
        self.approvals = AsyncApprovals(self)
        self.handoffs = AsyncHandoffs(self)
        self.canned_replies = AsyncCannedReplies(self)
        self.blocks = AsyncBlocks(self)
        self.groups = AsyncGroups(self)
        self.erasures = AsyncErasures(self)
        self.customer_data = AsyncCustomerDataOf(self)
        self.webhooks = AsyncWebhooks(self)
        self.customers = AsyncCustomers(self)
        self.mentions = AsyncMentionsOfMine(self)
        self.stacks = AsyncStacks(self)
        self.metrics = AsyncMetrics(self)
        self.api_keys = AsyncApiKeys(self)

    @property
    def base_url(self) -> str:
        return self._base.base_url

    async def me(self) -> Me:
        """Who the key or token is: the tenant and the principal with its roles."""
        return await self._call(Call("v1_me_retrieve"))

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _call(self, call: Call) -> Any:
        request = self._base._build(self._http, call)
        attempt = 0
        while True:
            try:
                response = await self._http.send(request)
            except httpx.HTTPError as exc:
                raise TransportError(f"{request.method} {request.url}: {exc}") from exc
            delay = self._base._retry_delay(response, attempt)
            if delay is None:
                return read_answer(response)
            await response.aclose()
            await asyncio.sleep(delay)
            attempt += 1


class _AsyncResource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _call(self, call: Call) -> Any:
        return await self._client._call(call)


async def _after_pages(
    resource: _AsyncResource, operation: str, path: dict[str, Any], after: int | None
) -> AsyncIterator[Any]:
    while True:
        page = await resource._call(Call(operation, path, params={"after": after}))
        if not page:
            return
        for item in page:
            yield item
        after = page[-1]["id"]


class AsyncAgents(_AsyncResource):
    async def list(self) -> builtins.list[Agent]:
        return await self._call(Call("v1_agents_list"))

    async def create(self, agent: Mapping[str, Any]) -> Agent:
        return await self._call(Call("v1_agents_create", body=agent))

    async def get(self, agent_id: str) -> Agent:
        return await self._call(Call("v1_agents_retrieve", {"agent_id": agent_id}))

    async def update(self, agent_id: str, changes: Mapping[str, Any]) -> Agent:
        """PATCH: the fields given change, the others stay."""
        return await self._call(
            Call("v1_agents_partial_update", {"agent_id": agent_id}, body=changes)
        )

    async def delete(self, agent_id: str) -> None:
        await self._call(Call("v1_agents_destroy", {"agent_id": agent_id}))


class AsyncOrchestration(_AsyncResource):
    """An agent's orchestration rules: escalation, handoffs, approvals."""

    async def create_rules(self, agent_id: str, rules: RulesInput | Mapping[str, Any]) -> Rules:
        """Set the sections ``rules`` names and keep the agent's others (``None`` clears a
        section); each call is one rule version."""
        path = {"agent_id": agent_id}
        return await self._call(Call("v1_agents_orchestration_rules_create", path, body=rules))

    async def get_rules(self, agent_id: str) -> Rules:
        return await self._call(
            Call("v1_agents_orchestration_rules_retrieve", {"agent_id": agent_id})
        )

    async def delete_rules(self, agent_id: str) -> None:
        """Clear the agent's own rules: it falls back to inherited ones."""
        await self._call(Call("v1_agents_orchestration_rules_destroy", {"agent_id": agent_id}))

    async def test_rules(self, agent_id: str, sample: Mapping[str, Any]) -> dict[str, Any]:
        """What the rules (or ``sample["draft"]``, a rules document not saved) and the pipeline
        decide for a sample message, with the lint warnings of the rules tried."""
        path = {"agent_id": agent_id}
        return await self._call(
            Call("v1_agents_orchestration_rules_test_create", path, body=sample)
        )

    async def versions(self, agent_id: str) -> list[RuleVersion]:
        path = {"agent_id": agent_id}
        return await self._call(Call("v1_agents_orchestration_rules_versions_list", path))

    async def restore(self, agent_id: str, version: int) -> Rules:
        path = {"agent_id": agent_id, "version": version}
        return await self._call(Call("v1_agents_orchestration_rules_versions_restore_create", path))


class AsyncOrchestratorSettings(_AsyncResource):
    """Orchestrator settings, inherited global -> tenant -> stack; ``None`` clears a name."""

    async def get(self) -> Settings:
        return await self._call(Call("v1_orchestrator_settings_retrieve"))

    async def update(self, changes: Mapping[str, Any]) -> Settings:
        return await self._call(Call("v1_orchestrator_settings_partial_update", body=changes))

    async def get_for_agent(self, agent_id: str) -> Settings:
        path = {"agent_id": agent_id}
        return await self._call(Call("v1_agents_orchestrator_settings_retrieve", path))

    async def update_for_agent(self, agent_id: str, changes: Mapping[str, Any]) -> Settings:
        path = {"agent_id": agent_id}
        operation = "v1_agents_orchestrator_settings_partial_update"
        return await self._call(Call(operation, path, body=changes))


class AsyncIntents(_AsyncResource):
    """The intents the detector uses: the built-in ones, extended or switched off by the
    tenant, and the tenant's own."""

    async def list(self) -> builtins.list[Intent]:
        return await self._call(Call("intents_list"))

    async def set(self, name: str, intent: IntentInput | Mapping[str, Any]) -> Intent:
        """Add an intent, extend a built-in one, or switch one off (``{"enabled": False}``)."""
        return await self._call(Call("intents_set", {"name": name}, body=intent))

    async def delete(self, name: str) -> None:
        await self._call(Call("intents_destroy", {"name": name}))


class AsyncWorkflows(_AsyncResource):
    async def create(self, workflow: WorkflowInput | Mapping[str, Any]) -> Workflow:
        return await self._call(Call("workflows_create", body=workflow))

    async def list(self) -> builtins.list[Workflow]:
        return await self._call(Call("workflows_list"))

    async def get(self, workflow_id: int) -> Workflow:
        return await self._call(Call("workflows_retrieve", {"workflow_id": workflow_id}))

    async def update(
        self, workflow_id: int, workflow: WorkflowInput | Mapping[str, Any]
    ) -> Workflow:
        """Replace the workflow: its name, budget and all its steps."""
        return await self._call(
            Call("workflows_replace", {"workflow_id": workflow_id}, body=workflow)
        )

    async def delete(self, workflow_id: int) -> None:
        await self._call(Call("workflows_destroy", {"workflow_id": workflow_id}))


class AsyncConversations(_AsyncResource):
    async def create(self, conversation: ConversationInput | Mapping[str, Any]) -> Conversation:
        """Start a conversation; the answer holds the ``customerToken`` (only this once)."""
        return await self._call(Call("v1_conversations_create", body=conversation))

    async def edit_note(self, note_id: int, text: str) -> dict[str, Any]:
        """Edit a private note (only its author may; the old text is kept, the customer never
        hears of it). Needs a person's token, not an integration key."""
        return await self._call(
            Call("v1_notes_partial_update", {"note_id": note_id}, body={"text": text})
        )

    async def list(
        self,
        *,
        state: str | None = None,
        limit: int | None = None,
        q: str | None = None,
        channel: str | None = None,
        assignee: str | None = None,
        customer: str | None = None,
        since: str | None = None,
        until: str | None = None,
        tag: str | None = None,
        group: int | None = None,
    ) -> builtins.list[Conversation]:
        """The most recent conversations (``limit``: at most 200, default 50), found by words
        said in them (``q``), state, channel, the person who held them (``assignee``, or
        "none"), the customer, the dates they started (``since``, ``until``: YYYY-MM-DD) and a
        tag people put on them (``tag``), or a group of human agents they were handed to
        (``group``, its id)."""
        params = {
            "state": state,
            "limit": limit,
            "q": q,
            "channel": channel,
            "assignee": assignee,
            "customer": customer,
            "since": since,
            "until": until,
            "tag": tag,
            "group": group,
        }
        return await self._call(Call("v1_conversations_list", params=params))

    async def get(self, conversation_id: str) -> Conversation:
        return await self._call(
            Call("v1_conversations_retrieve", {"conversation_id": conversation_id})
        )

    async def send(
        self,
        conversation_id: str,
        text: str,
        *,
        signals: Signals | None = None,
        wait: float | None = None,
    ) -> MessageResult:
        """A customer message: the orchestrator's answer (state, handoff, replyStatus). The
        agent's reply comes later over the sockets (``replyStatus`` pending), unless ``wait``
        (seconds, 0 to 30) asks the server to wait for it (then ``reply``)."""
        body: dict[str, Any] = {"text": text}
        if signals is not None:
            body["signals"] = signals
        if wait is not None:
            body["wait"] = wait
        path = {"conversation_id": conversation_id}
        return await self._call(Call("v1_conversations_messages_create", path, body=body))

    async def tag(self, conversation_id: str, name: str) -> builtins.list[str]:
        """Put the tag ``name`` on the conversation; its tags."""
        path = {"conversation_id": conversation_id, "name": name}
        return (await self._call(Call("v1_conversations_tags_update", path)))["tags"]

    async def update_customer(self, conversation_id: str, **details: Any) -> Conversation:
        """Set the customer's ``name`` or ``email`` (an empty string clears it), or
        ``attributes`` (a dict: the names given are set, a None takes one off) on every
        conversation of theirs; an e-mail conversation's address does not change."""
        path = {"conversation_id": conversation_id}
        return await self._call(
            Call("v1_conversations_partial_update", path, body={"customer": details})
        )

    async def bulk(
        self,
        ids: builtins.list[str],
        action: str,
        *,
        tag: str | None = None,
        to: str | None = None,
    ) -> BulkOutcome:
        """Resolve (``action="resolve"``), tag or untag (``action="tag"`` / ``"untag"``,
        ``tag=``), or give to a human agent (``action="assign"``, ``to=`` their username: the
        ones waiting for a person) many conversations at once, at most 100: each is done on its
        own; ``left`` says which were left alone and why."""
        body: dict[str, Any] = {"ids": ids, "action": action}
        if tag is not None:
            body["tag"] = tag
        if to is not None:
            body["to"] = to
        return await self._call(Call("v1_conversations_bulk_create", body=body))

    async def merge(self, conversation_id: str, into: str) -> Conversation:
        """Merge the conversation into ``into``, another open one of the same customer: it is
        resolved and goes on there. The conversation merged into."""
        path = {"conversation_id": conversation_id}
        return await self._call(Call("v1_conversations_merge_create", path, body={"into": into}))

    async def send_copy(self, conversation_id: str, to: str | None = None) -> Copy:
        """E-mail a copy of the conversation (what the customer saw, never a private note) to
        the customer's address, or to ``to``; a task sends it. The copy, with its status."""
        path = {"conversation_id": conversation_id}
        body = {"to": to} if to is not None else {}
        return await self._call(Call("v1_conversations_copies_create", path, body=body))

    async def copies(self, conversation_id: str) -> builtins.list[Copy]:
        """The copies of the conversation e-mailed so far, the newest first, and where each
        stands (waiting, sending, sent, failed)."""
        path = {"conversation_id": conversation_id}
        return await self._call(Call("v1_conversations_copies_list", path))

    async def untag(self, conversation_id: str, name: str) -> builtins.list[str]:
        """Take the tag ``name`` off the conversation; its tags."""
        path = {"conversation_id": conversation_id, "name": name}
        return (await self._call(Call("v1_conversations_tags_destroy", path)))["tags"]

    async def send_file(
        self,
        conversation_id: str,
        content: bytes | BinaryIO,
        filename: str,
        *,
        content_type: str = "application/octet-stream",
        text: str | None = None,
    ) -> MessageResult:
        """The customer's file (a photo, a PDF, a text file), as a message with it attached
        and ``text`` beside it: the orchestrator's answer, as ``send`` gives it. The server
        tells the file's kind by its bytes; the message's ``attachments`` carry its link."""
        path = {"conversation_id": conversation_id}
        return await self._call(
            file_call("v1_conversations_files_create", path, content, filename, content_type, text)
        )

    def messages(self, conversation_id: str, *, after: int | None = None) -> AsyncIterator[Message]:
        """Every message in order (after the message id ``after``), page by page:
        ``async for message in client.conversations.messages(id)``."""
        return _after_pages(
            self, "v1_conversations_messages_list", {"conversation_id": conversation_id}, after
        )

    def events(
        self, conversation_id: str, *, after: int | None = None
    ) -> AsyncIterator[DecisionEvent]:
        """Every decision event in order (after the event id ``after``), page by page."""
        return _after_pages(
            self, "v1_conversations_events_list", {"conversation_id": conversation_id}, after
        )

    async def propose_action(
        self,
        conversation_id: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> ActionResult:
        """Propose an action: it runs at once (``execution``) or waits for approvers
        (``approval``). The same ``idempotency_key`` answers with the same execution or
        approval, never a second one; one is generated when not given, and kept for retries."""
        body = {
            "action": action,
            "params": dict(params or {}),
            "idempotencyKey": idempotency_key or new_idempotency_key(),
        }
        path = {"conversation_id": conversation_id}
        return await self._call(Call("v1_conversations_actions_create", path, body=body))


class AsyncApprovals(_AsyncResource):
    def list(
        self,
        *,
        status: str | builtins.list[str] | None = None,
        conversation_id: str | None = None,
        action: str | None = None,
        mine: bool = False,
        page_size: int = APPROVALS_PAGE,
    ) -> AsyncIterator[Approval]:
        """Approval requests, newest first, every page (``mine``: the pending ones you may
        decide, one page): ``async for approval in client.approvals.list()``."""
        params = {
            "status": status,
            "conversationId": conversation_id,
            "action": action,
            "mine": mine or None,
            "limit": min(max(page_size, 1), APPROVALS_PAGE_MAX),
        }
        return self._pages(params)

    async def _pages(self, params: dict[str, Any]) -> AsyncIterator[Approval]:
        before = None
        while True:
            page = await self._call(Call("v1_approvals_list", params={**params, "before": before}))
            for approval in page:
                yield approval
            if params["mine"] or len(page) < params["limit"]:
                return
            before = page[-1]["id"]

    async def get(self, approval_id: int) -> Approval:
        return await self._call(Call("v1_approvals_retrieve", {"approval_id": approval_id}))

    async def approve(self, approval_id: int, *, reason: str | None = None) -> Approval:
        body = {"reason": reason} if reason is not None else {}
        return await self._call(
            Call("v1_approvals_approve_create", {"approval_id": approval_id}, body=body)
        )

    async def deny(self, approval_id: int, *, reason: str) -> Approval:
        body = {"reason": reason}
        return await self._call(
            Call("v1_approvals_deny_create", {"approval_id": approval_id}, body=body)
        )


class AsyncHandoffs(_AsyncResource):
    async def list(
        self, *, mode: str | None = None, status: str | None = None
    ) -> builtins.list[Handoff]:
        return await self._call(Call("v1_handoffs_list", params={"mode": mode, "status": status}))

    async def get(self, handoff_id: int) -> Handoff:
        return await self._call(Call("v1_handoffs_retrieve", {"handoff_id": handoff_id}))

    async def claim(self, handoff_id: int) -> Handoff:
        return await self._call(Call("v1_handoffs_claim_create", {"handoff_id": handoff_id}))

    async def resolve(self, handoff_id: int) -> Handoff:
        return await self._call(Call("v1_handoffs_resolve_create", {"handoff_id": handoff_id}))

    async def snooze(self, handoff_id: int, until: str | None) -> Handoff:
        """Put a conversation you hold aside until ``until`` (an ISO 8601 date-time within 30
        days) or the customer's next message; ``None`` wakes it."""
        path = {"handoff_id": handoff_id}
        return await self._call(Call("v1_handoffs_snooze_create", path, body={"until": until}))

    async def set_priority(self, handoff_id: int, priority: str) -> Handoff:
        """Set an open handoff's priority band (``urgent``, ``high``, ``medium``, ``low``): the
        queue's order and the response targets follow."""
        path = {"handoff_id": handoff_id}
        body = {"priority": priority}
        return await self._call(Call("v1_handoffs_priority_create", path, body=body))

    async def hand_back(self, handoff_id: int) -> Handoff:
        return await self._call(Call("v1_handoffs_hand_back_create", {"handoff_id": handoff_id}))

    async def send(
        self, handoff_id: int, text: str, *, canned_reply_id: int | None = None
    ) -> Message:
        """A human agent's message to the customer of a claimed handoff; with
        ``canned_reply_id``, that canned reply's actions too (its tags, then resolve, snooze or
        hand back), all or nothing."""
        path = {"handoff_id": handoff_id}
        body: dict[str, Any] = {"text": text}
        if canned_reply_id is not None:
            body["cannedReplyId"] = canned_reply_id
        return await self._call(Call("v1_handoffs_messages_create", path, body=body))

    async def send_file(
        self,
        handoff_id: int,
        content: bytes | BinaryIO,
        filename: str,
        *,
        content_type: str = "application/octet-stream",
        text: str | None = None,
    ) -> Message:
        """A human agent's file to the customer of a claimed handoff (a return label), with
        ``text`` beside it: by e-mail too, attached, where replies are e-mailed."""
        path = {"handoff_id": handoff_id}
        return await self._call(
            file_call("v1_handoffs_files_create", path, content, filename, content_type, text)
        )


class AsyncStacks(_AsyncResource):
    """Stack templates: export an agent's stack, import a document, the template gallery."""

    async def export(self, agent_id: str) -> dict[str, Any]:
        return await self._call(Call("stack_export", {"agent_id": agent_id}))

    async def import_(
        self,
        template: Mapping[str, Any],
        *,
        prefix: str | None = None,
        approvers: list[str] | None = None,
        dry_run: bool = False,
    ) -> StackPlan:
        body = _instantiate_body(prefix, approvers, dry_run)
        return await self._call(Call("stack_import", body={"template": template, **body}))

    async def templates(self) -> list[StackTemplate]:
        return await self._call(Call("stack_templates_list"))

    async def get_template(self, template_id: str | int) -> StackTemplate:
        return await self._call(Call("stack_templates_retrieve", {"template_id": template_id}))

    async def publish_template(
        self,
        name: str,
        *,
        agent_id: str | None = None,
        document: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> StackTemplate:
        """Publish a template for your tenant: an agent's stack as it is now, or a document."""
        body = _publish_body(name, agent_id, document, description)
        return await self._call(Call("stack_templates_create", body=body))

    async def delete_template(self, template_id: str | int) -> None:
        await self._call(Call("stack_templates_destroy", {"template_id": template_id}))

    async def instantiate(
        self,
        template_id: str | int,
        *,
        prefix: str | None = None,
        approvers: list[str] | None = None,
        dry_run: bool = False,
    ) -> StackPlan:
        body = _instantiate_body(prefix, approvers, dry_run)
        path = {"template_id": template_id}
        return await self._call(Call("stack_templates_instantiate", path, body=body))


class AsyncMetrics(_AsyncResource):
    async def get(
        self, *, from_: Any = None, to: Any = None, agent_id: str | None = None
    ) -> dict[str, Any]:
        """The figures of a window (``from_``/``to``: dates, datetimes or ISO 8601 text)."""
        params = {"from": from_, "to": to, "agentId": agent_id}
        return await self._call(Call("v1_metrics_retrieve", params=params))


class AsyncApiKeys(_AsyncResource):
    """The tenant's API keys (managers)."""

    async def list(self) -> builtins.list[ApiKey]:
        return await self._call(Call("v1_api_keys_list"))

    async def create(self, name: str) -> ApiKey:
        """A new key; the answer's ``key`` is the only time the secret is shown."""
        return await self._call(Call("v1_api_keys_create", body={"name": name}))

    async def get(self, key_id: int) -> ApiKey:
        return await self._call(Call("v1_api_keys_retrieve", {"key_id": key_id}))

    async def revoke(self, key_id: int) -> ApiKey:
        return await self._call(Call("v1_api_keys_revoke_create", {"key_id": key_id}))


class AsyncCustomers(_AsyncResource):
    """The customers of the conversations you reach, one each by their customer id."""

    async def list(self, *, q: str | None = None, page: int | None = None) -> CustomerPage:
        """``{"results": [...], "next": n}``: the latest activity first, 50 a page; ``q``
        searches their name, e-mail address and id."""
        params = {k: v for k, v in {"q": q, "page": page}.items() if v is not None}
        return await self._call(Call("v1_customers_list", params=params or None))

    async def get(self, customer_id: str) -> CustomerProfile:
        """What is known of the customer and their conversations you reach, the latest
        first."""
        return await self._call(Call("v1_customers_retrieve", {"customer_id": customer_id}))


class AsyncMentionsOfMine(_AsyncResource):
    """Your mentions: the private notes in which a colleague named you (``@you``). Needs a
    human agent's personal token, not an integration key."""

    async def list(self, *, unread: bool = False) -> Mentions:
        """``{"unread": n, "results": [...]}``, newest first (the 50 newest)."""
        params = {"unread": "true"} if unread else None
        return await self._call(Call("v1_mentions_retrieve", params=params))

    async def read(
        self, *, ids: builtins.list[int] | None = None, conversation_id: str | None = None
    ) -> builtins.list[int]:
        """Mark mentions read: ``ids``, or a conversation's, or (neither) all; answers the ids
        that were unread."""
        body: dict[str, Any] = {}
        if ids is not None:
            body["ids"] = ids
        if conversation_id is not None:
            body["conversationId"] = conversation_id
        return (await self._call(Call("v1_mentions_read_create", body=body)))["read"]


class AsyncBlocks(_AsyncResource):
    """Who the team blocked (spam, abuse): no new conversation starts for them."""

    async def list(self) -> builtins.list[Block]:
        return await self._call(Call("v1_blocks_list"))

    async def create(
        self, *, kind: str, value: str, reason: str = "", expires_at: Any = KEEP
    ) -> Block:
        """Block an e-mail address (``kind="email"``) or a customer id (``"customer"``), for
        good or until ``expires_at`` (an ISO 8601 date-time or a datetime; None: for good)."""
        body: dict[str, Any] = {"kind": kind, "value": value, "reason": reason}
        if expires_at is not KEEP:
            body["expiresAt"] = _moment(expires_at)
        return await self._call(Call("v1_blocks_create", body=body))

    async def delete(self, block_id: int) -> None:
        """Unblock."""
        await self._call(Call("v1_blocks_destroy", {"block_id": block_id}))


class AsyncGroups(_AsyncResource):
    """Groups of human agents: the handoffs of the AI agents a group takes go to its members."""

    async def list(self) -> builtins.list[Group]:
        return await self._call(Call("v1_groups_list"))

    async def create(
        self,
        *,
        name: str,
        members: builtins.list[str] | None = None,
        ai_agents: builtins.list[str] | None = None,
        overflow_after: int | None = None,
        hours: builtins.list[dict[str, Any]] | None = None,
    ) -> Group:
        """A group named ``name`` with these human agents (usernames), taking the handoffs of
        these AI agents (slugs); ``overflow_after``: minutes in the queue before everyone is
        asked (0: at once when nobody of it is available; None: never); ``hours``: its own
        (``[{"weekday": 0, "opens": "09:00", "closes": "17:00"}]``), else the team's."""
        body = _group_body(name, members, ai_agents, overflow_after, hours)
        return await self._call(Call("v1_groups_create", body=body))

    async def update(
        self,
        group_id: int,
        *,
        name: str | None = None,
        members: builtins.list[str] | None = None,
        ai_agents: builtins.list[str] | None = None,
        overflow_after: int | None = KEEP,
        hours: builtins.list[dict[str, Any]] | None = None,
    ) -> Group:
        """Change what is given (a list replaces the one it had, ``hours=[]`` the team's hours
        again; ``overflow_after=None``: never)."""
        body = _group_body(name, members, ai_agents, overflow_after, hours)
        return await self._call(Call("v1_groups_partial_update", {"group_id": group_id}, body=body))

    async def delete(self, group_id: int) -> None:
        await self._call(Call("v1_groups_destroy", {"group_id": group_id}))


class AsyncErasures(_AsyncResource):
    """Erasing a customer's data at their request: every conversation of theirs, for good."""

    async def list(self) -> builtins.list[Erasure]:
        return await self._call(Call("v1_erasures_list"))

    async def create(self, *, kind: str, value: str) -> Erasure:
        """Erase the customer named by an e-mail address (``kind="email"``), a customer id
        (``"customer"``) or a conversation's id (``"conversation"``: its customer)."""
        return await self._call(Call("v1_erasures_create", body={"kind": kind, "value": value}))


class AsyncWebhooks(_AsyncResource):
    """The team's webhook endpoints: where its events go (README "Webhooks")."""

    async def list(self) -> builtins.list[WebhookEndpoint]:
        return await self._call(Call("v1_webhooks_list"))

    async def create(
        self, *, url: str, events: builtins.list[str], description: str = ""
    ) -> WebhookEndpoint:
        """Add an endpoint; the answer's ``secret`` (whsec_...) is shown this once."""
        body = {"url": url, "events": events, "description": description}
        return await self._call(Call("v1_webhooks_create", body=body))

    async def update(self, endpoint_id: int, **changes: Any) -> WebhookEndpoint:
        """Change ``url``, ``events``, ``description`` or ``active``."""
        call = Call("v1_webhooks_partial_update", {"endpoint_id": endpoint_id}, body=changes)
        return await self._call(call)

    async def delete(self, endpoint_id: int) -> None:
        await self._call(Call("v1_webhooks_destroy", {"endpoint_id": endpoint_id}))

    async def test(self, endpoint_id: int) -> WebhookDelivery:
        """Send it a webhook.test event."""
        return await self._call(Call("v1_webhooks_test_create", {"endpoint_id": endpoint_id}))

    async def deliveries(self, endpoint_id: int) -> builtins.list[WebhookDelivery]:
        """Its latest deliveries (100), newest first."""
        return await self._call(Call("v1_webhooks_deliveries_list", {"endpoint_id": endpoint_id}))


class AsyncCustomerDataOf(_AsyncResource):
    """Everything kept about a customer, to send them at their request."""

    async def get(self, *, kind: str, value: str) -> CustomerData:
        """The customer named by an e-mail address (``kind="email"``), a customer id
        (``"customer"``) or a conversation's id (``"conversation"``: its customer)."""
        return await self._call(
            Call("v1_customer_data_retrieve", params={"kind": kind, "value": value})
        )


class AsyncCannedReplies(_AsyncResource):
    """The team's canned replies (inserted in the inbox with / and the shortcut)."""

    async def list(self) -> builtins.list[CannedReply]:
        return await self._call(Call("v1_canned_replies_list"))

    async def create(
        self,
        *,
        shortcut: str,
        text: str,
        title: str = "",
        tags: builtins.list[str] | None = None,
        then: str | None = None,
    ) -> CannedReply:
        """A canned reply; sent, it may also put ``tags`` on the conversation and ``then``
        resolve, snooze or hand_back it."""
        body: dict[str, Any] = {"shortcut": shortcut, "text": text, "title": title}
        if tags is not None:
            body["tags"] = tags
        if then is not None:
            body["then"] = then
        return await self._call(Call("v1_canned_replies_create", body=body))

    async def get(self, reply_id: int) -> CannedReply:
        return await self._call(Call("v1_canned_replies_retrieve", {"reply_id": reply_id}))

    async def update(self, reply_id: int, **changes: Any) -> CannedReply:
        """Change some of shortcut, title, text, tags, then."""
        path = {"reply_id": reply_id}
        return await self._call(Call("v1_canned_replies_partial_update", path, body=changes))

    async def delete(self, reply_id: int) -> None:
        await self._call(Call("v1_canned_replies_destroy", {"reply_id": reply_id}))
