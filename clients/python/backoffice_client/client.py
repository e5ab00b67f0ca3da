"""The synchronous client: ``Client(base_url=..., api_key=...)`` and its resources."""

from __future__ import annotations

import builtins
import datetime as dt
import time
from collections.abc import Iterator, Mapping
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


class _Keep:
    """An argument not given: the field keeps what it had (where None means something)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


def _moment(value: Any) -> Any:
    """A date-time as the API takes it: a datetime or a date as ISO 8601, text and None as
    they are."""
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else value


APPROVALS_PAGE = 50
APPROVALS_PAGE_MAX = 200


class Client:
    """A client of the API v1 for one tenant.

    ``api_key`` is a tenant API key, or a person's token (acting as that person: deciding
    approvals, claiming handoffs). 429 and 503 answers are retried up to ``max_retries`` times,
    honouring ``Retry-After`` up to ``max_retry_wait`` seconds. Errors raise the typed
    exceptions of ``backoffice_client.errors``. Use it as a context manager, or ``close()`` it.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
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
        self._http = http_client or httpx.Client()
        self.agents = Agents(self)
        self.orchestration = Orchestration(self)
        self.settings = OrchestratorSettings(self)
        self.intents = Intents(self)
        self.workflows = Workflows(self)
        self.conversations = Conversations(self)
        self.approvals = Approvals(self)
        self.handoffs = Handoffs(self)
        self.canned_replies = CannedReplies(self)
        self.blocks = Blocks(self)
        self.groups = Groups(self)
        self.erasures = Erasures(self)
        self.customer_data = CustomerDataOf(self)
        self.webhooks = Webhooks(self)
        self.customers = Customers(self)
        self.mentions = MentionsOfMine(self)
        self.stacks = Stacks(self)
        self.metrics = Metrics(self)
        self.api_keys = ApiKeys(self)

    @property
    def base_url(self) -> str:
        return self._base.base_url

    def me(self) -> Me:
        """Who the key or token is: the tenant and the principal with its roles."""
        return self._call(Call("v1_me_retrieve"))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, call: Call) -> Any:
        request = self._base._build(self._http, call)
        attempt = 0
        while True:
            try:
                response = self._http.send(request)
            except httpx.HTTPError as exc:
                raise TransportError(f"{request.method} {request.url}: {exc}") from exc
            delay = self._base._retry_delay(response, attempt)
            if delay is None:
                return read_answer(response)
            response.close()
            time.sleep(delay)
            attempt += 1


class _Resource:
    def __init__(self, client: Client) -> None:
        self._client = client

    def _call(self, call: Call) -> Any:
        return self._client._call(call)


class Agents(_Resource):
    def list(self) -> builtins.list[Agent]:
        return self._call(Call("v1_agents_list"))

    def create(self, agent: Mapping[str, Any]) -> Agent:
        return self._call(Call("v1_agents_create", body=agent))

    def get(self, agent_id: str) -> Agent:
        return self._call(Call("v1_agents_retrieve", {"agent_id": agent_id}))

    def update(self, agent_id: str, changes: Mapping[str, Any]) -> Agent:
        """PATCH: the fields given change, the others stay."""
        return self._call(Call("v1_agents_partial_update", {"agent_id": agent_id}, body=changes))

    def delete(self, agent_id: str) -> None:
        self._call(Call("v1_agents_destroy", {"agent_id": agent_id}))


class Orchestration(_Resource):
    """An agent's orchestration rules: escalation, handoffs, approvals."""

    def create_rules(self, agent_id: str, rules: RulesInput | Mapping[str, Any]) -> Rules:
        """Set the sections ``rules`` names and keep the agent's others (``None`` clears a
        section); each call is one rule version."""
        path = {"agent_id": agent_id}
        return self._call(Call("v1_agents_orchestration_rules_create", path, body=rules))

    def get_rules(self, agent_id: str) -> Rules:
        return self._call(Call("v1_agents_orchestration_rules_retrieve", {"agent_id": agent_id}))

    def delete_rules(self, agent_id: str) -> None:
        """Clear the agent's own rules: it falls back to inherited ones."""
        self._call(Call("v1_agents_orchestration_rules_destroy", {"agent_id": agent_id}))

    def test_rules(self, agent_id: str, sample: Mapping[str, Any]) -> dict[str, Any]:
        """What the rules (or ``sample["draft"]``, a rules document not saved) and the pipeline
        decide for a sample message, with the lint warnings of the rules tried."""
        path = {"agent_id": agent_id}
        return self._call(Call("v1_agents_orchestration_rules_test_create", path, body=sample))

    def versions(self, agent_id: str) -> list[RuleVersion]:
        path = {"agent_id": agent_id}
        return self._call(Call("v1_agents_orchestration_rules_versions_list", path))

    def restore(self, agent_id: str, version: int) -> Rules:
        path = {"agent_id": agent_id, "version": version}
        return self._call(Call("v1_agents_orchestration_rules_versions_restore_create", path))


class OrchestratorSettings(_Resource):
    """Orchestrator settings, inherited global -> tenant -> stack; ``None`` clears a name."""

    def get(self) -> Settings:
        return self._call(Call("v1_orchestrator_settings_retrieve"))

    def update(self, changes: Mapping[str, Any]) -> Settings:
        return self._call(Call("v1_orchestrator_settings_partial_update", body=changes))

    def get_for_agent(self, agent_id: str) -> Settings:
        path = {"agent_id": agent_id}
        return self._call(Call("v1_agents_orchestrator_settings_retrieve", path))

    def update_for_agent(self, agent_id: str, changes: Mapping[str, Any]) -> Settings:
        path = {"agent_id": agent_id}
        operation = "v1_agents_orchestrator_settings_partial_update"
        return self._call(Call(operation, path, body=changes))


class Intents(_Resource):
    """The intents the detector uses: the built-in ones, extended or switched off by the
    tenant, and the tenant's own."""

    def list(self) -> builtins.list[Intent]:
        return self._call(Call("intents_list"))

    def set(self, name: str, intent: IntentInput | Mapping[str, Any]) -> Intent:
        """Add an intent, extend a built-in one, or switch one off (``{"enabled": False}``)."""
        return self._call(Call("intents_set", {"name": name}, body=intent))

    def delete(self, name: str) -> None:
        self._call(Call("intents_destroy", {"name": name}))


class Workflows(_Resource):
    def create(self, workflow: WorkflowInput | Mapping[str, Any]) -> Workflow:
        return self._call(Call("workflows_create", body=workflow))

    def list(self) -> builtins.list[Workflow]:
        return self._call(Call("workflows_list"))

    def get(self, workflow_id: int) -> Workflow:
        return self._call(Call("workflows_retrieve", {"workflow_id": workflow_id}))

    def update(self, workflow_id: int, workflow: WorkflowInput | Mapping[str, Any]) -> Workflow:
        """Replace the workflow: its name, budget and all its steps."""
        return self._call(Call("workflows_replace", {"workflow_id": workflow_id}, body=workflow))

    def delete(self, workflow_id: int) -> None:
        self._call(Call("workflows_destroy", {"workflow_id": workflow_id}))


class Conversations(_Resource):
    def create(self, conversation: ConversationInput | Mapping[str, Any]) -> Conversation:
        """Start a conversation; the answer holds the ``customerToken`` (only this once)."""
        return self._call(Call("v1_conversations_create", body=conversation))

    def edit_note(self, note_id: int, text: str) -> dict[str, Any]:
        """Edit a private note (only its author may; the old text is kept, the customer never
        hears of it). Needs a person's token, not an integration key."""
        return self._call(
            Call("v1_notes_partial_update", {"note_id": note_id}, body={"text": text})
        )

    def list(
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
        return self._call(Call("v1_conversations_list", params=params))

    def get(self, conversation_id: str) -> Conversation:
        return self._call(Call("v1_conversations_retrieve", {"conversation_id": conversation_id}))

    def send(
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
        return self._call(Call("v1_conversations_messages_create", path, body=body))

    def tag(self, conversation_id: str, name: str) -> builtins.list[str]:
        """Put the tag ``name`` on the conversation; its tags."""
        path = {"conversation_id": conversation_id, "name": name}
        return (self._call(Call("v1_conversations_tags_update", path)))["tags"]

    def update_customer(self, conversation_id: str, **details: Any) -> Conversation:
        """Set the customer's ``name`` or ``email`` (an empty string clears it), or
        ``attributes`` (a dict: the names given are set, a None takes one off) on every
        conversation of theirs; an e-mail conversation's address does not change."""
        path = {"conversation_id": conversation_id}
        return self._call(Call("v1_conversations_partial_update", path, body={"customer": details}))

    def bulk(
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
        return self._call(Call("v1_conversations_bulk_create", body=body))

    def merge(self, conversation_id: str, into: str) -> Conversation:
        """Merge the conversation into ``into``, another open one of the same customer: it is
        resolved and goes on there. The conversation merged into."""
        path = {"conversation_id": conversation_id}
        return self._call(Call("v1_conversations_merge_create", path, body={"into": into}))

    def send_copy(self, conversation_id: str, to: str | None = None) -> Copy:
        """E-mail a copy of the conversation (what the customer saw, never a private note) to
        the customer's address, or to ``to``; a task sends it. The copy, with its status."""
        path = {"conversation_id": conversation_id}
        body = {"to": to} if to is not None else {}
        return self._call(Call("v1_conversations_copies_create", path, body=body))

    def copies(self, conversation_id: str) -> builtins.list[Copy]:
        """The copies of the conversation e-mailed so far, the newest first, and where each
        stands (waiting, sending, sent, failed)."""
        path = {"conversation_id": conversation_id}
        return self._call(Call("v1_conversations_copies_list", path))

    def untag(self, conversation_id: str, name: str) -> builtins.list[str]:
        """Take the tag ``name`` off the conversation; its tags."""
        path = {"conversation_id": conversation_id, "name": name}
        return (self._call(Call("v1_conversations_tags_destroy", path)))["tags"]

    def send_file(
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
        return self._call(
            file_call("v1_conversations_files_create", path, content, filename, content_type, text)
        )

    def messages(self, conversation_id: str, *, after: int | None = None) -> Iterator[Message]:
        """Every message in order (after the message id ``after``), page by page."""
        return _after_pages(
            self, "v1_conversations_messages_list", {"conversation_id": conversation_id}, after
        )

    def events(self, conversation_id: str, *, after: int | None = None) -> Iterator[DecisionEvent]:
        """Every decision event in order (after the event id ``after``), page by page."""
        return _after_pages(
            self, "v1_conversations_events_list", {"conversation_id": conversation_id}, after
        )

    def propose_action(
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
        return self._call(Call("v1_conversations_actions_create", path, body=body))


def _after_pages(
    resource: _Resource, operation: str, path: dict[str, Any], after: int | None
) -> Iterator[Any]:
    while True:
        page = resource._call(Call(operation, path, params={"after": after}))
        if not page:
            return
        yield from page
        after = page[-1]["id"]


class Approvals(_Resource):
    def list(
        self,
        *,
        status: str | builtins.list[str] | None = None,
        conversation_id: str | None = None,
        action: str | None = None,
        mine: bool = False,
        page_size: int = APPROVALS_PAGE,
    ) -> Iterator[Approval]:
        """Approval requests, newest first, every page (``mine``: the pending ones you may
        decide, one page)."""
        params = {
            "status": status,
            "conversationId": conversation_id,
            "action": action,
            "mine": mine or None,
            "limit": min(max(page_size, 1), APPROVALS_PAGE_MAX),
        }
        return self._pages(params)

    def _pages(self, params: dict[str, Any]) -> Iterator[Approval]:
        before = None
        while True:
            page = self._call(Call("v1_approvals_list", params={**params, "before": before}))
            yield from page
            if params["mine"] or len(page) < params["limit"]:
                return
            before = page[-1]["id"]

    def get(self, approval_id: int) -> Approval:
        return self._call(Call("v1_approvals_retrieve", {"approval_id": approval_id}))

    def approve(self, approval_id: int, *, reason: str | None = None) -> Approval:
        body = {"reason": reason} if reason is not None else {}
        return self._call(
            Call("v1_approvals_approve_create", {"approval_id": approval_id}, body=body)
        )

    def deny(self, approval_id: int, *, reason: str) -> Approval:
        body = {"reason": reason}
        return self._call(Call("v1_approvals_deny_create", {"approval_id": approval_id}, body=body))


class Handoffs(_Resource):
    def list(self, *, mode: str | None = None, status: str | None = None) -> builtins.list[Handoff]:
        return self._call(Call("v1_handoffs_list", params={"mode": mode, "status": status}))

    def get(self, handoff_id: int) -> Handoff:
        return self._call(Call("v1_handoffs_retrieve", {"handoff_id": handoff_id}))

    def claim(self, handoff_id: int) -> Handoff:
        return self._call(Call("v1_handoffs_claim_create", {"handoff_id": handoff_id}))

    def resolve(self, handoff_id: int) -> Handoff:
        return self._call(Call("v1_handoffs_resolve_create", {"handoff_id": handoff_id}))

    def snooze(self, handoff_id: int, until: str | None) -> Handoff:
        """Put a conversation you hold aside until ``until`` (an ISO 8601 date-time within 30
        days) or the customer's next message; ``None`` wakes it."""
        path = {"handoff_id": handoff_id}
        return self._call(Call("v1_handoffs_snooze_create", path, body={"until": until}))

    def set_priority(self, handoff_id: int, priority: str) -> Handoff:
        """Set an open handoff's priority band (``urgent``, ``high``, ``medium``, ``low``): the
        queue's order and the response targets follow."""
        path = {"handoff_id": handoff_id}
        return self._call(Call("v1_handoffs_priority_create", path, body={"priority": priority}))

    def hand_back(self, handoff_id: int) -> Handoff:
        return self._call(Call("v1_handoffs_hand_back_create", {"handoff_id": handoff_id}))

    def send(self, handoff_id: int, text: str, *, canned_reply_id: int | None = None) -> Message:
        """A human agent's message to the customer of a claimed handoff; with
        ``canned_reply_id``, that canned reply's actions too (its tags, then resolve, snooze or
        hand back), all or nothing."""
        path = {"handoff_id": handoff_id}
        body: dict[str, Any] = {"text": text}
        if canned_reply_id is not None:
            body["cannedReplyId"] = canned_reply_id
        return self._call(Call("v1_handoffs_messages_create", path, body=body))

    def send_file(
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
        return self._call(
            file_call("v1_handoffs_files_create", path, content, filename, content_type, text)
        )


class Stacks(_Resource):
    """Stack templates: export an agent's stack, import a document, the template gallery."""

    def export(self, agent_id: str) -> dict[str, Any]:
        return self._call(Call("stack_export", {"agent_id": agent_id}))

    def import_(
        self,
        template: Mapping[str, Any],
        *,
        prefix: str | None = None,
        approvers: list[str] | None = None,
        dry_run: bool = False,
    ) -> StackPlan:
        body = _instantiate_body(prefix, approvers, dry_run)
        return self._call(Call("stack_import", body={"template": template, **body}))

    def templates(self) -> list[StackTemplate]:
        return self._call(Call("stack_templates_list"))

    def get_template(self, template_id: str | int) -> StackTemplate:
        return self._call(Call("stack_templates_retrieve", {"template_id": template_id}))

    def publish_template(
        self,
        name: str,
        *,
        agent_id: str | None = None,
        document: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> StackTemplate:
        """Publish a template for your tenant: an agent's stack as it is now, or a document."""
        body = _publish_body(name, agent_id, document, description)
        return self._call(Call("stack_templates_create", body=body))

    def delete_template(self, template_id: str | int) -> None:
        self._call(Call("stack_templates_destroy", {"template_id": template_id}))

    def instantiate(
        self,
        template_id: str | int,
        *,
        prefix: str | None = None,
        approvers: list[str] | None = None,
        dry_run: bool = False,
    ) -> StackPlan:
        body = _instantiate_body(prefix, approvers, dry_run)
        path = {"template_id": template_id}
        return self._call(Call("stack_templates_instantiate", path, body=body))


def _instantiate_body(
    prefix: str | None, approvers: builtins.list[str] | None, dry_run: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {"dryRun": dry_run}
    if prefix is not None:
        body["prefix"] = prefix
    if approvers is not None:
        body["approvers"] = approvers
    return body


def _publish_body(
    name: str,
    agent_id: str | None,
    document: Mapping[str, Any] | None,
    description: str | None,
) -> dict[str, Any]:
    if (agent_id is None) == (document is None):
        raise ValueError("give agent_id or document")
    body: dict[str, Any] = {"name": name}
    if agent_id is not None:
        body["agentId"] = agent_id
    else:
        body["document"] = document
    if description is not None:
        body["description"] = description
    return body


class Metrics(_Resource):
    def get(
        self, *, from_: Any = None, to: Any = None, agent_id: str | None = None
    ) -> dict[str, Any]:
        """The figures of a window (``from_``/``to``: dates, datetimes or ISO 8601 text)."""
        params = {"from": from_, "to": to, "agentId": agent_id}
        return self._call(Call("v1_metrics_retrieve", params=params))


class ApiKeys(_Resource):
    """The tenant's API keys (managers)."""

    def list(self) -> builtins.list[ApiKey]:
        return self._call(Call("v1_api_keys_list"))

    def create(self, name: str) -> ApiKey:
        """A new key; the answer's ``key`` is the only time the secret is shown."""
        return self._call(Call("v1_api_keys_create", body={"name": name}))

    def get(self, key_id: int) -> ApiKey:
        return self._call(Call("v1_api_keys_retrieve", {"key_id": key_id}))

    def revoke(self, key_id: int) -> ApiKey:
        return self._call(Call("v1_api_keys_revoke_create", {"key_id": key_id}))


class Customers(_Resource):
    """The customers of the conversations you reach, one each by their customer id."""

    def list(self, *, q: str | None = None, page: int | None = None) -> CustomerPage:
        """``{"results": [...], "next": n}``: the latest activity first, 50 a page; ``q``
        searches their name, e-mail address and id."""
        params = {k: v for k, v in {"q": q, "page": page}.items() if v is not None}
        return self._call(Call("v1_customers_list", params=params or None))

    def get(self, customer_id: str) -> CustomerProfile:
        """What is known of the customer and their conversations you reach, the latest
        first."""
        return self._call(Call("v1_customers_retrieve", {"customer_id": customer_id}))


class MentionsOfMine(_Resource):
    """Your mentions: the private notes in which a colleague named you (``@you``). Needs a
    human agent's personal token, not an integration key."""

    def list(self, *, unread: bool = False) -> Mentions:
        """``{"unread": n, "results": [...]}``, newest first (the 50 newest)."""
        params = {"unread": "true"} if unread else None
        return self._call(Call("v1_mentions_retrieve", params=params))

    def read(
        self, *, ids: builtins.list[int] | None = None, conversation_id: str | None = None
    ) -> builtins.list[int]:
        """Mark mentions read: ``ids``, or a conversation's, or (neither) all; answers the ids
        that were unread."""
        body: dict[str, Any] = {}
        if ids is not None:
            body["ids"] = ids
        if conversation_id is not None:
            body["conversationId"] = conversation_id
        return (self._call(Call("v1_mentions_read_create", body=body)))["read"]


class Blocks(_Resource):
    """Who the team blocked (spam, abuse): no new conversation starts for them."""

    def list(self) -> builtins.list[Block]:
        return self._call(Call("v1_blocks_list"))

    def create(self, *, kind: str, value: str, reason: str = "", expires_at: Any = KEEP) -> Block:
        """Block an e-mail address (``kind="email"``) or a customer id (``"customer"``), for
        good or until ``expires_at`` (an ISO 8601 date-time or a datetime; None: for good)."""
        body: dict[str, Any] = {"kind": kind, "value": value, "reason": reason}
        if expires_at is not KEEP:
            body["expiresAt"] = _moment(expires_at)
        return self._call(Call("v1_blocks_create", body=body))

    def delete(self, block_id: int) -> None:
        """Unblock."""
        self._call(Call("v1_blocks_destroy", {"block_id": block_id}))


def _group_body(
    name: str | None,
    members: builtins.list[str] | None,
    ai_agents: builtins.list[str] | None,
    overflow_after: int | None = KEEP,
    hours: builtins.list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A group's fields as the API takes them (what is None is left out, but an
    ``overflow_after`` of None is sent: never)."""
    given = {"name": name, "members": members, "aiAgents": ai_agents, "hours": hours}
    body = {key: value for key, value in given.items() if value is not None}
    if overflow_after is not KEEP:
        body["overflowAfter"] = overflow_after
    return body


class Groups(_Resource):
    """Groups of human agents: the handoffs of the AI agents a group takes go to its members."""

    def list(self) -> builtins.list[Group]:
        return self._call(Call("v1_groups_list"))

    def create(
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
        return self._call(Call("v1_groups_create", body=body))

    def update(
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
        return self._call(Call("v1_groups_partial_update", {"group_id": group_id}, body=body))

    def delete(self, group_id: int) -> None:
        self._call(Call("v1_groups_destroy", {"group_id": group_id}))


class Erasures(_Resource):
    """Erasing a customer's data at their request: every conversation of theirs, for good."""

    def list(self) -> builtins.list[Erasure]:
        return self._call(Call("v1_erasures_list"))

    def create(self, *, kind: str, value: str) -> Erasure:
        """Erase the customer named by an e-mail address (``kind="email"``), a customer id
        (``"customer"``) or a conversation's id (``"conversation"``: its customer)."""
        return self._call(Call("v1_erasures_create", body={"kind": kind, "value": value}))


class Webhooks(_Resource):
    """The team's webhook endpoints: where its events go (README "Webhooks")."""

    def list(self) -> builtins.list[WebhookEndpoint]:
        return self._call(Call("v1_webhooks_list"))

    def create(
        self, *, url: str, events: builtins.list[str], description: str = ""
    ) -> WebhookEndpoint:
        """Add an endpoint; the answer's ``secret`` (whsec_...) is shown this once."""
        body = {"url": url, "events": events, "description": description}
        return self._call(Call("v1_webhooks_create", body=body))

    def update(self, endpoint_id: int, **changes: Any) -> WebhookEndpoint:
        """Change ``url``, ``events``, ``description`` or ``active``."""
        call = Call("v1_webhooks_partial_update", {"endpoint_id": endpoint_id}, body=changes)
        return self._call(call)

    def delete(self, endpoint_id: int) -> None:
        self._call(Call("v1_webhooks_destroy", {"endpoint_id": endpoint_id}))

    def test(self, endpoint_id: int) -> WebhookDelivery:
        """Send it a webhook.test event."""
        return self._call(Call("v1_webhooks_test_create", {"endpoint_id": endpoint_id}))

    def deliveries(self, endpoint_id: int) -> builtins.list[WebhookDelivery]:
        """Its latest deliveries (100), newest first."""
        return self._call(Call("v1_webhooks_deliveries_list", {"endpoint_id": endpoint_id}))


class CustomerDataOf(_Resource):
    """Everything kept about a customer, to send them at their request."""

    def get(self, *, kind: str, value: str) -> CustomerData:
        """The customer named by an e-mail address (``kind="email"``), a customer id
        (``"customer"``) or a conversation's id (``"conversation"``: its customer)."""
        return self._call(Call("v1_customer_data_retrieve", params={"kind": kind, "value": value}))


class CannedReplies(_Resource):
    """The team's canned replies (inserted in the inbox with / and the shortcut)."""

    def list(self) -> builtins.list[CannedReply]:
        return self._call(Call("v1_canned_replies_list"))

    def create(
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
        return self._call(Call("v1_canned_replies_create", body=body))

    def get(self, reply_id: int) -> CannedReply:
        return self._call(Call("v1_canned_replies_retrieve", {"reply_id": reply_id}))

    def update(self, reply_id: int, **changes: Any) -> CannedReply:
        """Change some of shortcut, title, text, tags, then."""
        path = {"reply_id": reply_id}
        return self._call(Call("v1_canned_replies_partial_update", path, body=changes))

    def delete(self, reply_id: int) -> None:
        self._call(Call("v1_canned_replies_destroy", {"reply_id": reply_id}))
