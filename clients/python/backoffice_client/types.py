"""The API's JSON shapes (camelCase, as the API writes them), as TypedDicts: the client returns
the decoded JSON itself, so ``rules["handoffs"]`` and a type checker both work."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# --- agents -------------------------------------------------------------------------------------


class KnowledgeEntry(TypedDict, total=False):
    question: str
    keywords: list[str]
    answer: str
    action: dict[str, Any] | None
    outputs: dict[str, Any]  # workflow outputs this answer sets, e.g. {"priority": "critical"}


class Agent(TypedDict, total=False):
    id: str
    name: str
    role: Literal["supervisor", "specialist"]
    supervisorId: str | None
    domains: list[str]
    pattern: Literal["handoff", "sequential"] | None
    runtime: dict[str, Any]
    prompt: str
    allowedActions: list[str] | None
    knowledge: list[KnowledgeEntry]


# --- orchestration rules ------------------------------------------------------------------------


class EscalationRule(TypedDict, total=False):
    maxAttempts: int | None
    intents: list[str]
    targetAgentId: str | None
    escalateToHuman: bool


class HandoffRule(TypedDict, total=False):
    condition: str
    targetAgentId: str  # an agent to transfer to, or
    workflow: str  # the name of a workflow the conversation then runs


class ApprovalAction(TypedDict):
    action: str
    when: str | None


class ApprovalRule(TypedDict, total=False):
    required: bool
    actions: list[str | ApprovalAction]
    approvers: list[str]
    quorum: int


class RulesInput(TypedDict, total=False):
    """What ``create_rules`` sends: the sections to set (``None`` clears one)."""

    escalation: EscalationRule | None
    handoffs: list[HandoffRule] | None
    approvals: ApprovalRule | None


class RuleWarning(TypedDict):
    """What the rule lint found; never a refusal. ``path`` as in a 400
    (``handoffs[1].condition``), ``code`` (``unknown_intent``, ``shadowed`` ...)."""

    path: str
    code: str
    message: str


class Rules(TypedDict):
    agentId: str
    source: Literal["own", "inherited", "default"]
    inheritedFrom: str | None
    version: int | None
    escalation: EscalationRule | None
    handoffs: list[HandoffRule]
    approvals: ApprovalRule | None
    updatedAt: str | None
    warnings: list[RuleWarning]


class RuleVersion(TypedDict):
    version: int
    createdAt: str
    createdBy: str | None
    via: str
    rules: dict[str, Any] | None


# --- orchestrator settings ----------------------------------------------------------------------


class Settings(TypedDict, total=False):
    effective: dict[str, Any]
    sources: dict[str, Literal["global", "tenant", "stack"]]
    levels: dict[str, dict[str, Any]]
    stack: str


# --- workflows ----------------------------------------------------------------------------------


class WorkflowStep(TypedDict, total=False):
    agent: str
    condition: str
    inputs: list[str]
    outputs: list[str]


class WorkflowInput(TypedDict, total=False):
    name: str
    stepBudget: int
    steps: list[WorkflowStep]


class Workflow(TypedDict):
    id: int
    name: str
    stepBudget: int
    steps: list[WorkflowStep]
    createdAt: str
    updatedAt: str
    warnings: list[RuleWarning]  # the rule lint's findings (saving is never refused)


# --- intents ------------------------------------------------------------------------------------


class IntentInput(TypedDict, total=False):
    keywords: list[str]
    phrases: list[str]
    enabled: bool


class Intent(TypedDict):
    name: str
    source: str  # "built-in" or "tenant"
    enabled: bool
    extended: bool
    keywords: list[str]
    phrases: list[str]


# --- conversations ------------------------------------------------------------------------------


class Customer(TypedDict, total=False):
    id: str
    name: str
    email: str
    attributes: dict[str, Any]
    verified: bool  # read only: a signed-in visitor of your website, who it signed for


class ConversationInput(TypedDict, total=False):
    agentId: str
    channel: Literal["web", "voice", "email", "api"]
    customer: Customer
    workflowId: int | None
    language: str


class HandoffSummary(TypedDict):
    id: int
    mode: str
    status: str
    claimedBy: str | None


class BulkOutcome(TypedDict):
    done: list[str]  # the conversations done
    left: dict[str, str]  # those left alone, each with why (not found, resolved already...)


class CustomerRow(TypedDict):
    """A customer in ``customers.list``: one each by their customer id."""

    id: str
    name: str  # their latest conversation's
    email: str
    verified: bool  # a website signed for them in a chat
    conversations: int
    open: int
    lastActivityAt: str


class CustomerPage(TypedDict):
    results: list[CustomerRow]
    next: int | None  # the next page's number; None on the last


class CustomerProfile(TypedDict):
    """``customers.get``: what is known of the customer and their conversations."""

    id: str
    name: str
    email: str
    verified: bool
    attributes: dict[str, Any]
    blocked: bool
    conversations: list[dict[str, Any]]  # id, state, channel, assignee, createdAt, ...
    more: bool


class Copy(TypedDict):
    """A copy of a conversation e-mailed (``conversations.send_copy``)."""

    id: int
    to: str
    askedBy: str  # a person, an integration, the customer
    createdAt: str
    status: str  # waiting, sending, sent, failed
    attempts: int
    sentAt: str | None
    failedAt: str | None
    error: str  # what the mail server said, when it refused


class Conversation(TypedDict, total=False):
    id: str
    state: str
    channel: str
    subject: str | None  # on e-mail: the thread's subject
    currentAgentId: str
    assignee: str | None
    turns: int
    attempts: int
    customer: Customer
    workflowId: int | None
    tags: list[str]  # the tags people put on it
    handoff: HandoffSummary | None
    mergedInto: str | None  # the conversation it was merged into (it goes on there)
    createdAt: str
    updatedAt: str
    customerToken: str  # only in the answer that creates it


class Signals(TypedDict, total=False):
    intent: str | None
    sentiment: float | None
    risk: list[str]


class FileRef(TypedDict):
    """A file sent with a message; ``url`` is its signed link (relative to the server), which
    expires. A mail's file of a kind that is not kept has no ``id`` and no ``url``."""

    id: NotRequired[str]
    filename: str
    contentType: str
    size: int
    url: NotRequired[str]


class Message(TypedDict):
    id: int
    role: Literal["customer", "agent", "human", "system"]
    author: str
    text: str
    signals: Signals
    createdAt: str
    attachments: NotRequired[list[FileRef]]


class MessageResult(TypedDict):
    message: Message
    reply: Message | None
    replyStatus: str  # none | pending | answered | silent | dropped
    notices: list[Message]
    state: str
    currentAgentId: str
    handoff: dict[str, Any] | None
    approval: dict[str, Any] | None
    proposedActions: list[dict[str, Any]]


class DecisionEvent(TypedDict):
    id: int
    type: str
    agentId: str | None
    rule: str | None
    detail: dict[str, Any]
    durationMs: float
    messageId: int | None
    createdAt: str


# --- approvals and actions ----------------------------------------------------------------------


class Execution(TypedDict, total=False):
    id: int
    conversationId: str
    approvalId: int | None
    action: str
    params: dict[str, Any]
    status: Literal["queued", "running", "succeeded", "failed"]
    attempts: int
    result: Any
    error: str | None
    executionKey: str
    idempotencyKey: str | None
    createdAt: str
    finishedAt: str | None


class Approval(TypedDict, total=False):
    id: int
    conversationId: str
    action: str
    params: dict[str, Any]
    status: Literal["pending", "approved", "denied", "expired", "executed", "failed"]
    requestedBy: str
    approvers: list[str]
    quorum: int
    approvals: int
    decisions: list[dict[str, Any]]
    decidedBy: str | None
    reason: str | None
    rule: str | None
    why: list[str]
    idempotencyKey: str
    execution: Execution | None
    createdAt: str
    decidedAt: str | None
    expiresAt: str


class ActionResult(TypedDict, total=False):
    """``execution`` when the action ran (or is queued to), ``approval`` while it waits."""

    execution: Execution
    approval: Approval


# --- handoffs -----------------------------------------------------------------------------------


class HandoffPack(TypedDict, total=False):
    summary: str
    brief: dict[str, Any]  # why (the trigger quoted), wants, done, next
    keyDetails: dict[str, Any]
    sentiment: Any
    suggestions: list[str]
    transcript: list[dict[str, Any]]
    activity: list[dict[str, Any]]  # what the AI did, one step each, to merge by time


class Mention(TypedDict):
    """A private note in which a colleague named you (``@you``)."""

    id: int
    conversationId: str
    messageId: int
    customer: str
    by: str
    excerpt: str
    createdAt: str
    readAt: str | None


class Mentions(TypedDict):
    unread: int
    results: list[Mention]


class Group(TypedDict):
    id: int
    name: str
    members: list[str]  # the usernames of its human agents
    aiAgents: list[str]  # the slugs of the AI agents whose handoffs it takes
    overflowAfter: int | None  # minutes in the queue before everyone is asked; None: never
    hours: list[dict[str, Any]]  # its own [{weekday, opens, closes}]; empty: the team's hours


class Block(TypedDict):
    id: int
    kind: str  # email, customer, or address (a web chat visitor's, kept hashed: value None)
    value: str | None
    reason: str
    blockedBy: str | None
    conversationId: str | None  # where they were blocked from
    createdAt: str
    expiresAt: str | None  # when it ends; None: for good


class WebhookEndpoint(TypedDict):
    id: int
    url: str
    description: str
    events: list[str]  # conversation.created, message.created, ... (README "Webhooks")
    active: bool
    createdAt: str
    failingSince: str | None  # every attempt since then failed; None: it delivers
    failures: int  # attempts failed since failingSince
    disabledAt: str | None  # switched off by itself after failing for days; None: it was not
    secret: NotRequired[str]  # whsec_...: in the answer that made it, alone


class WebhookDelivery(TypedDict):
    id: int
    webhookId: str  # the webhook-id header of every attempt
    event: str
    status: str  # pending, delivered, failed
    attempts: int
    responseStatus: int | None
    lastError: str
    createdAt: str
    attemptedAt: str | None
    deliveredAt: str | None


class CustomerData(TypedDict):
    exportedAt: str
    named: dict[str, str]  # {kind, value}: how the customer was named
    truncated: bool  # more conversations than one export holds (500)
    conversations: list[dict[str, Any]]  # each: customer, messages, approvals, rating, copies


class Erasure(TypedDict):
    id: int
    kind: str  # email, customer or conversation
    valueHash: str  # a keyed hash of how the customer was named: never the name
    erasedBy: str
    conversations: int
    messages: int
    files: int
    createdAt: str


class CannedReply(TypedDict):
    id: int
    shortcut: str
    title: str
    text: str
    tags: list[str]  # put on the conversation when it is sent as a reply
    then: str  # "", resolve, snooze (until the customer writes), hand_back: done once sent
    updatedAt: str


class Handoff(TypedDict, total=False):
    id: int
    conversationId: str
    mode: Literal["hot", "cold"]
    status: Literal["offered", "queued", "claimed", "resolved", "expired"]
    priority: int
    reason: str
    claimedBy: str | None
    group: str | None  # the group of human agents it went to; None: everyone
    overflowedAt: str | None  # when nobody of its group took it and everyone was asked
    customer: str
    channel: str
    waitingMinutes: float
    offerExpiresAt: str | None
    snoozedUntil: str | None  # put aside by its claimer until then, or the customer's message
    pack: HandoffPack | None
    createdAt: str
    responseTargetMinutes: int
    breached: bool
    priorityBand: str  # urgent, high, medium, low
    firstResponseDueAt: str
    firstRespondedAt: str | None
    resolutionDueAt: str  # later by the time snoozes paused it
    resolutionPausedSeconds: int
    breaches: list[str]  # firstResponse, resolution


# --- stacks, metrics, keys ----------------------------------------------------------------------


class StackPlan(TypedDict):
    created: bool
    prefix: str
    rootAgentId: str | None
    agents: list[dict[str, Any]]
    workflows: list[dict[str, Any]]
    settings: dict[str, Any]
    approvers: list[str]


class StackTemplate(TypedDict, total=False):
    id: str
    name: str
    description: str
    scope: Literal["builtin", "global", "tenant"]
    readOnly: bool
    agents: int
    workflows: list[str]
    createdAt: str | None
    document: dict[str, Any]


class ApiKey(TypedDict, total=False):
    id: int
    name: str
    prefix: str
    createdAt: str
    lastUsedAt: str | None
    revokedAt: str | None
    key: str  # only in the answer that creates it


class Me(TypedDict):
    tenant: dict[str, Any]
    principal: dict[str, Any]
