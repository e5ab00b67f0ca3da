// Types of the JavaScript client (index.js). The shapes are the API's JSON, camelCase.

export const VERSION: string;
export const OPERATIONS: Readonly<Record<string, readonly [method: string, path: string, clientMethod: string]>>;

// --- errors -----------------------------------------------------------------------------------

export class BackofficeError extends Error {}
export class TransportError extends BackofficeError {}
export class ApiError extends BackofficeError {
  /** HTTP status. */
  status: number;
  /** The API's error code: invalid, not_found, rate_limited, conflict... */
  code: string;
  /** The API's own sentence (`message` holds it with the status, code and fields). */
  apiMessage: string;
  /** Bad fields by path: { 'handoffs[1].condition': ["column 11: ..."] }. */
  fields: Record<string, string[]>;
  /** Seconds the server asked to wait (429, 503), or null. */
  retryAfter: number | null;
  body: unknown;
  method: string;
  url: string;
}
export class ValidationError extends ApiError {}
export class AuthenticationError extends ApiError {}
export class PermissionDeniedError extends ApiError {}
export class NotFoundError extends ApiError {}
export class ConflictError extends ApiError {}
export class PayloadTooLargeError extends ApiError {}
export class RateLimitError extends ApiError {}
export class ServiceUnavailableError extends ApiError {}
export class ServerError extends ApiError {}

export function retryAfterSeconds(value: string | null | undefined): number | null;

// --- shapes -----------------------------------------------------------------------------------

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface KnowledgeEntry {
  question: string;
  keywords?: string[];
  answer: string;
  action?: { name: string; params?: Record<string, Json> } | null;
  /** Workflow outputs this answer sets, e.g. { priority: 'critical' }. */
  outputs?: Record<string, string | number | boolean | null>;
}

export interface Agent {
  id: string;
  name: string;
  role: 'supervisor' | 'specialist';
  supervisorId?: string | null;
  domains?: string[];
  pattern?: 'handoff' | 'sequential' | null;
  runtime?: Record<string, Json>;
  prompt?: string;
  allowedActions?: string[] | null;
  knowledge?: KnowledgeEntry[];
}

export interface EscalationRule {
  maxAttempts?: number | null;
  intents?: string[];
  targetAgentId?: string | null;
  /** With targetAgentId: a human is the fallback when that agent cannot resolve it. */
  escalateToHuman?: boolean;
}

export interface HandoffRule {
  condition: string;
  /** The agent to transfer to; or, instead, */
  targetAgentId?: string;
  /** the name of a workflow the conversation then runs. */
  workflow?: string;
}

export interface ApprovalRule {
  required?: boolean;
  actions: Array<string | { action: string; when?: string | null }>;
  approvers: string[];
  quorum?: number;
}

/** What createRules sends: the sections to set (null clears one; the others are kept). */
export interface RulesInput {
  escalation?: EscalationRule | null;
  handoffs?: HandoffRule[] | null;
  approvals?: ApprovalRule | null;
}

export interface Rules {
  agentId: string;
  source: 'own' | 'inherited' | 'default';
  inheritedFrom: string | null;
  version: number | null;
  escalation: Required<EscalationRule> | null;
  handoffs: HandoffRule[];
  approvals: (Required<Omit<ApprovalRule, 'actions'>> & { actions: Array<{ action: string; when: string | null }> }) | null;
  updatedAt: string | null;
  /** What the rule lint found (unknown intents, shadowed rules, ...): never a refusal. */
  warnings: RuleWarning[];
}

export interface RuleWarning {
  /** Where, as in a 400: handoffs[1].condition */
  path: string;
  /** unknown_intent, unknown_risk_category, unknown_channel, agent_in_condition, never_holds, shadowed, escalation_loop */
  code: string;
  message: string;
}

export interface RuleVersion {
  version: number;
  createdAt: string;
  createdBy: string | null;
  via: string;
  rules: Omit<Rules, 'agentId' | 'source' | 'inheritedFrom' | 'version' | 'updatedAt' | 'warnings'> | null;
}

export interface Settings {
  effective: Record<string, Json>;
  sources: Record<string, 'global' | 'tenant' | 'stack'>;
  levels: Record<string, Record<string, Json>>;
  stack?: string;
}

export interface WorkflowStep {
  agent: string;
  condition: string;
  /** ["all"] (the default), or "context" and conversation names and earlier steps' outputs. */
  inputs?: string[];
  outputs?: string[];
}

export interface WorkflowInput {
  name: string;
  stepBudget?: number;
  steps: WorkflowStep[];
}

export interface Workflow extends Required<WorkflowInput> {
  id: number;
  steps: Required<WorkflowStep>[];
  createdAt: string;
  updatedAt: string;
  /** The rule lint's findings, as the rules' (saving is never refused for them). */
  warnings: RuleWarning[];
}

export interface IntentInput {
  keywords?: string[];
  phrases?: string[];
  /** false switches the intent off (for a built-in's name: the built-in). */
  enabled?: boolean;
}

export interface Intent {
  name: string;
  source: 'built-in' | 'tenant';
  enabled: boolean;
  extended: boolean;
  keywords: string[];
  phrases: string[];
}

export interface Customer {
  id: string;
  name?: string;
  email?: string;
  attributes?: Record<string, Json>;
  /** Read only: a signed-in visitor of your website, who it signed for (the chat's identity secret). */
  readonly verified?: boolean;
}

/** A customer in `customers.list`: one each by their customer id. */
export interface CustomerRow {
  id: string;
  /** their latest conversation's */
  name: string;
  email: string;
  /** a website signed for them in a chat */
  verified: boolean;
  conversations: number;
  open: number;
  lastActivityAt: string;
}

/** `customers.get`: what is known of the customer and their conversations. */
export interface CustomerProfile {
  id: string;
  name: string;
  email: string;
  verified: boolean;
  attributes: Record<string, Json>;
  blocked: boolean;
  conversations: { id: string; state: string; channel: string; assignee: string | null; createdAt: string; lastActivityAt: string; lastMessage: string }[];
  /** more than these 100 */
  more: boolean;
}

/** A copy of a conversation e-mailed (`conversations.sendCopy`). */
export interface Copy {
  id: number;
  to: string;
  /** a person, an integration, the customer */
  askedBy: string;
  createdAt: string;
  status: 'waiting' | 'sending' | 'sent' | 'failed';
  attempts: number;
  sentAt: string | null;
  failedAt: string | null;
  /** what the mail server said, when it refused */
  error: string;
}

export interface ConversationInput {
  agentId: string;
  channel: 'web' | 'voice' | 'email' | 'api';
  customer: Customer;
  workflowId?: number | null;
  language?: string;
}

export interface Conversation {
  id: string;
  state: string;
  channel: string;
  /** On e-mail: the thread's subject (null until it has one). */
  subject: string | null;
  currentAgentId: string;
  assignee: string | null;
  turns: number;
  attempts: number;
  customer: Customer;
  workflowId: number | null;
  /** The tags people put on it. */
  tags: string[];
  handoff: { id: number; mode: string; status: string; claimedBy: string | null } | null;
  /** The conversation it was merged into (it goes on there); null when it was not. */
  mergedInto: string | null;
  createdAt: string;
  updatedAt: string;
  /** Only in the answer that creates the conversation. */
  customerToken?: string;
}

export interface Signals {
  intent?: string | null;
  sentiment?: number | null;
  risk?: string[];
}

/** A file sent with a message; `url` is its signed link (relative to the server), which expires. */
export interface FileRef {
  id?: string;
  filename: string;
  contentType: string;
  size: number;
  url?: string;
}

export interface Message {
  id: number;
  role: 'customer' | 'agent' | 'human' | 'system';
  author: string;
  text: string;
  signals: Signals;
  createdAt: string;
  attachments?: FileRef[];
}

export interface MessageResult {
  message: Message;
  reply: Message | null;
  replyStatus: 'none' | 'pending' | 'answered' | 'silent' | 'dropped';
  notices: Message[];
  state: string;
  currentAgentId: string;
  handoff: Record<string, Json> | null;
  approval: Approval | null;
  proposedActions: Array<Record<string, Json>>;
}

export interface DecisionEvent {
  id: number;
  type: string;
  agentId: string | null;
  rule: string | null;
  detail: Record<string, Json>;
  durationMs: number;
  messageId: number | null;
  createdAt: string;
}

export interface Execution {
  id: number;
  conversationId: string;
  approvalId: number | null;
  action: string;
  params: Record<string, Json>;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  attempts: number;
  result: Json;
  error: string | null;
  executionKey: string;
  idempotencyKey: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface Approval {
  id: number;
  conversationId: string;
  action: string;
  params: Record<string, Json>;
  status: 'pending' | 'approved' | 'denied' | 'expired' | 'executed' | 'failed';
  requestedBy: string;
  approvers: string[];
  quorum: number;
  approvals: number;
  decisions: Array<{ approver: string; verdict: string; reason: string | null; createdAt: string }>;
  decidedBy: string | null;
  reason: string | null;
  rule: string | null;
  why: string[];
  idempotencyKey: string;
  execution: Execution | null;
  createdAt: string;
  decidedAt: string | null;
  expiresAt: string;
}

/** `execution` when the action ran (or is queued to), `approval` while it waits. */
export interface ActionResult {
  execution?: Execution;
  approval?: Approval;
}

/** A private note in which a colleague named you (`@you`). */
export interface Mention {
  id: number;
  conversationId: string;
  messageId: number;
  customer: string;
  by: string;
  excerpt: string;
  createdAt: string;
  readAt: string | null;
}

export interface Group {
  id: number;
  name: string;
  /** the usernames of its human agents */
  members: string[];
  /** the slugs of the AI agents whose handoffs it takes */
  aiAgents: string[];
  /** minutes in the queue before every human agent is asked (0: at once when nobody of it is available); null: never */
  overflowAfter: number | null;
  /** its own hours, in the team's time zone; empty: the team's business hours */
  hours: { weekday: number; opens: string; closes: string }[];
}

export interface Block {
  id: number;
  kind: 'email' | 'customer' | 'address';
  /** null for a web chat visitor's network address, kept only hashed */
  value: string | null;
  reason: string;
  blockedBy: string | null;
  conversationId: string | null;
  createdAt: string;
  /** when it ends; null: for good (a web chat visitor's address: CHAT_ADDRESS_BLOCK_DAYS) */
  expiresAt: string | null;
}

export type WebhookEventType =
  | 'conversation.created' | 'conversation.resolved' | 'message.created' | 'handoff.created'
  | 'handoff.claimed' | 'approval.requested' | 'approval.decided' | 'csat.rated';

export interface WebhookEndpoint {
  id: number;
  url: string;
  description: string;
  events: WebhookEventType[];
  active: boolean;
  createdAt: string;
  /** every attempt since then failed; null: it delivers */
  failingSince: string | null;
  /** attempts failed since failingSince */
  failures: number;
  /** switched off by itself after failing for days (PATCH active: true again); null: it was not */
  disabledAt: string | null;
  /** whsec_...: in the answer that made it, alone */
  secret?: string;
}

export interface WebhookDelivery {
  id: number;
  /** the webhook-id header of every attempt */
  webhookId: string;
  event: WebhookEventType | 'webhook.test';
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  responseStatus: number | null;
  lastError: string;
  createdAt: string;
  attemptedAt: string | null;
  deliveredAt: string | null;
}

export interface CustomerData {
  exportedAt: string;
  named: { kind: string; value: string };
  /** more conversations than one export holds (500) */
  truncated: boolean;
  conversations: Array<{ id: string; channel: string; state: string; createdAt: string; resolvedAt: string | null; customer: { id: string; name: string; email: string; attributes: Record<string, Json> }; messages: Message[]; approvals: Array<{ action: string; params: Record<string, Json>; status: string; createdAt: string; decidedAt: string | null }>; rating: { score: number; comment: string } | null; copies: Array<{ to: string; askedBy: string; createdAt: string; sentAt: string | null }> }>;
}

export interface Erasure {
  id: number;
  kind: 'email' | 'customer' | 'conversation';
  /** a keyed hash of how the customer was named: never the name */
  valueHash: string;
  erasedBy: string;
  conversations: number;
  messages: number;
  files: number;
  createdAt: string;
}

export interface CannedReply {
  id: number;
  shortcut: string;
  title: string;
  text: string;
  /** put on the conversation when it is sent as a reply */
  tags: string[];
  /** done once it is sent as a reply: '' nothing, then resolve, snooze (until the customer writes) or hand_back */
  then: '' | 'resolve' | 'snooze' | 'hand_back';
  updatedAt: string;
}

export interface Handoff {
  id: number;
  conversationId: string;
  mode: 'hot' | 'cold';
  status: 'offered' | 'queued' | 'claimed' | 'resolved' | 'expired';
  priority: number;
  reason: string;
  claimedBy: string | null;
  /** the group of human agents it went to (its live offer rang for them); null: everyone */
  group: string | null;
  /** when nobody of its group took it and every human agent was asked; null: not */
  overflowedAt: string | null;
  customer: string;
  channel: string;
  waitingMinutes: number;
  offerExpiresAt: string | null;
  snoozedUntil?: string | null;
  pack: { summary: string; brief: { why?: string; trigger?: { messageId: number; text: string; at: string } | null; wants?: string; done?: string[]; next?: string[] }; keyDetails: Record<string, Json>; sentiment: Json; suggestions: string[]; transcript: Json[]; activity: Json[] } | null;
  createdAt: string;
  responseTargetMinutes?: number;
  breached?: boolean;
  priorityBand?: "urgent" | "high" | "medium" | "low";
  firstResponseDueAt?: string;
  firstRespondedAt?: string | null;
  resolutionDueAt?: string; // later by the time snoozes paused it
  resolutionPausedSeconds?: number;
  breaches?: Array<"firstResponse" | "resolution">;
}

export interface StackPlan {
  created: boolean;
  prefix: string;
  rootAgentId: string | null;
  agents: Array<Record<string, Json>>;
  workflows: Array<Record<string, Json>>;
  settings: Record<string, Json>;
  approvers: string[];
}

export interface StackTemplate {
  id: string;
  name: string;
  description: string;
  scope: 'builtin' | 'global' | 'tenant';
  readOnly: boolean;
  agents: number;
  workflows: string[];
  createdAt: string | null;
  document?: Record<string, Json>;
}

export interface InstantiateOptions {
  prefix?: string;
  approvers?: string[];
  dryRun?: boolean;
}

export interface ApiKey {
  id: number;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** Only in the answer that creates the key. */
  key?: string;
}

export interface Me {
  tenant: { slug: string; name: string; timeZone: string };
  principal: { type: 'apiKey' | 'user'; name: string; roles: string[] };
}

// --- the client -------------------------------------------------------------------------------

/** A list read page by page as you iterate (`for await`), or all at once with `toArray()`. */
export class Paginator<T> implements AsyncIterable<T> {
  [Symbol.asyncIterator](): AsyncIterator<T>;
  toArray(): Promise<T[]>;
}

export interface ClientOptions {
  /** Where the back office runs, e.g. https://support.example.com */
  baseUrl: string;
  /** A tenant API key, or a person's token (acting as that person). */
  apiKey: string;
  /** Milliseconds per request; default 30000. */
  timeout?: number;
  /** Retries of a 429 or 503 answer; default 3. */
  maxRetries?: number;
  /** The longest Retry-After (milliseconds) the client waits; longer throws at once. Default 60000. */
  maxRetryWait?: number;
  headers?: Record<string, string>;
  fetch?: typeof globalThis.fetch;
}

export class Client {
  constructor(options: ClientOptions);
  readonly baseUrl: string;
  me(): Promise<Me>;
  agents: {
    list(): Promise<Agent[]>;
    create(agent: Agent): Promise<Agent>;
    get(agentId: string): Promise<Agent>;
    update(agentId: string, changes: Partial<Agent>): Promise<Agent>;
    delete(agentId: string): Promise<void>;
  };
  orchestration: {
    createRules(agentId: string, rules: RulesInput): Promise<Rules>;
    getRules(agentId: string): Promise<Rules>;
    deleteRules(agentId: string): Promise<void>;
    testRules(agentId: string, sample: Record<string, unknown>): Promise<Record<string, unknown>>;
    versions(agentId: string): Promise<RuleVersion[]>;
    restore(agentId: string, version: number): Promise<Rules>;
  };
  settings: {
    get(): Promise<Settings>;
    update(changes: Record<string, Json>): Promise<Settings>;
    getForAgent(agentId: string): Promise<Settings>;
    updateForAgent(agentId: string, changes: Record<string, Json>): Promise<Settings>;
  };
  intents: {
    list(): Promise<Intent[]>;
    set(name: string, intent: IntentInput): Promise<Intent>;
    delete(name: string): Promise<void>;
  };
  workflows: {
    create(workflow: WorkflowInput): Promise<Workflow>;
    list(): Promise<Workflow[]>;
    get(workflowId: number): Promise<Workflow>;
    update(workflowId: number, workflow: WorkflowInput): Promise<Workflow>;
    delete(workflowId: number): Promise<void>;
  };
  conversations: {
    create(conversation: ConversationInput): Promise<Conversation>;
    editNote(noteId: number, text: string): Promise<Message>;
    list(options?: {
      state?: string; limit?: number; q?: string; channel?: string; assignee?: string;
      customer?: string; since?: string; until?: string; tag?: string; group?: number;
    }): Promise<Conversation[]>;
    get(conversationId: string): Promise<Conversation>;
    send(conversationId: string, text: string, options?: { signals?: Signals; wait?: number }): Promise<MessageResult>;
    tag(conversationId: string, name: string): Promise<string[]>;
    /** `attributes`: the names given are set, a null takes one off */
    updateCustomer(conversationId: string, details: { name?: string; email?: string; attributes?: Record<string, unknown> }): Promise<Conversation>;
    /** merged into `into` (another open one of the same customer): resolved, it goes on there */
    merge(conversationId: string, into: string): Promise<Conversation>;
    /** e-mail a copy (what the customer saw) to the customer's address, or to `to` */
    sendCopy(conversationId: string, options?: { to?: string }): Promise<Copy>;
    /** the copies e-mailed so far, the newest first, and where each stands */
    copies(conversationId: string): Promise<Copy[]>;
    /** resolve, tag, untag or give to a human agent (`to`: their username; the ones waiting for a person) many at once (at most 100): `left` says which were left alone and why */
    bulk(ids: string[], options: { action: 'resolve' | 'tag' | 'untag' | 'assign'; tag?: string; to?: string }): Promise<{ done: string[]; left: Record<string, string> }>;
    untag(conversationId: string, name: string): Promise<string[]>;
    sendFile(
      conversationId: string,
      content: Blob | ArrayBuffer | Uint8Array,
      filename: string,
      options?: { contentType?: string; text?: string },
    ): Promise<MessageResult>;
    messages(conversationId: string, options?: { after?: number }): Paginator<Message>;
    events(conversationId: string, options?: { after?: number }): Paginator<DecisionEvent>;
    proposeAction(
      conversationId: string,
      action: string,
      params?: Record<string, Json>,
      options?: { idempotencyKey?: string },
    ): Promise<ActionResult>;
  };
  approvals: {
    list(options?: {
      status?: string | string[];
      conversationId?: string;
      action?: string;
      mine?: boolean;
      pageSize?: number;
    }): Paginator<Approval>;
    get(approvalId: number): Promise<Approval>;
    approve(approvalId: number, options?: { reason?: string }): Promise<Approval>;
    deny(approvalId: number, options: { reason: string }): Promise<Approval>;
  };
  handoffs: {
    list(options?: { mode?: 'hot' | 'cold'; status?: Handoff['status'] }): Promise<Handoff[]>;
    get(handoffId: number): Promise<Handoff>;
    claim(handoffId: number): Promise<Handoff>;
    resolve(handoffId: number): Promise<Handoff>;
    snooze(handoffId: number, until: string | Date | null): Promise<Handoff>;
    setPriority(handoffId: number, priority: 'urgent' | 'high' | 'medium' | 'low'): Promise<Handoff>;
    handBack(handoffId: number): Promise<Handoff>;
    send(handoffId: number, text: string, options?: { cannedReplyId?: number }): Promise<Message>;
    sendFile(
      handoffId: number,
      content: Blob | ArrayBuffer | Uint8Array,
      filename: string,
      options?: { contentType?: string; text?: string },
    ): Promise<Message>;
  };
  mentions: {
    list(options?: { unread?: boolean }): Promise<{ unread: number; results: Mention[] }>;
    read(options?: { ids?: number[]; conversationId?: string }): Promise<number[]>;
  };
  groups: {
    list(): Promise<Group[]>;
    create(group: { name: string; members?: string[]; aiAgents?: string[]; overflowAfter?: number | null; hours?: { weekday: number; opens: string; closes: string }[] }): Promise<Group>;
    update(groupId: number, changes: { name?: string; members?: string[]; aiAgents?: string[]; overflowAfter?: number | null; hours?: { weekday: number; opens: string; closes: string }[] }): Promise<Group>;
    delete(groupId: number): Promise<void>;
  };
  blocks: {
    list(): Promise<Block[]>;
    create(block: { kind: 'email' | 'customer'; value: string; reason?: string; expiresAt?: string | Date | null }): Promise<Block>;
    delete(blockId: number): Promise<void>;
  };
  webhooks: {
    list(): Promise<WebhookEndpoint[]>;
    create(endpoint: { url: string; events: WebhookEventType[]; description?: string }): Promise<WebhookEndpoint>;
    update(endpointId: number, changes: { url?: string; events?: WebhookEventType[]; description?: string; active?: boolean }): Promise<WebhookEndpoint>;
    delete(endpointId: number): Promise<void>;
    test(endpointId: number): Promise<WebhookDelivery>;
    deliveries(endpointId: number): Promise<WebhookDelivery[]>;
  };
  customers: {
    /** the latest activity first, 50 a page; `q` searches name, e-mail address and id */
    list(options?: { q?: string; page?: number }): Promise<{ results: CustomerRow[]; next: number | null }>;
    /** what is known of the customer and their conversations you reach */
    get(customerId: string): Promise<CustomerProfile>;
  };
  customerData: {
    get(customer: { kind: 'email' | 'customer' | 'conversation'; value: string }): Promise<CustomerData>;
  };
  erasures: {
    list(): Promise<Erasure[]>;
    create(erasure: { kind: 'email' | 'customer' | 'conversation'; value: string }): Promise<Erasure>;
  };
  cannedReplies: {
    list(): Promise<CannedReply[]>;
    create(reply: { shortcut: string; text: string; title?: string; tags?: string[]; then?: '' | 'resolve' | 'snooze' | 'hand_back' | null }): Promise<CannedReply>;
    get(replyId: number): Promise<CannedReply>;
    update(replyId: number, changes: { shortcut?: string; text?: string; title?: string; tags?: string[]; then?: '' | 'resolve' | 'snooze' | 'hand_back' | null }): Promise<CannedReply>;
    delete(replyId: number): Promise<void>;
  };
  stacks: {
    export(agentId: string): Promise<Record<string, Json>>;
    import(template: Record<string, Json>, options?: InstantiateOptions): Promise<StackPlan>;
    templates(): Promise<StackTemplate[]>;
    getTemplate(templateId: string | number): Promise<StackTemplate>;
    publishTemplate(options: {
      name: string;
      agentId?: string;
      document?: Record<string, Json>;
      description?: string;
    }): Promise<StackTemplate>;
    deleteTemplate(templateId: string | number): Promise<void>;
    instantiate(templateId: string | number, options?: InstantiateOptions): Promise<StackPlan>;
  };
  metrics: {
    get(options?: { from?: string | Date; to?: string | Date; agentId?: string }): Promise<Record<string, Json>>;
  };
  apiKeys: {
    list(): Promise<ApiKey[]>;
    create(name: string): Promise<ApiKey>;
    get(keyId: number): Promise<ApiKey>;
    revoke(keyId: number): Promise<ApiKey>;
  };
}
