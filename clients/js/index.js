// JavaScript client of the support back office's REST API v1: an ES module with no dependency
// beyond fetch (Node 18+, browsers, Deno, Bun). Types: index.d.ts.
//
//   import { Client } from 'backoffice-client';
//   const client = new Client({ baseUrl: 'https://support.example.com', apiKey: '...' });
//   const rules = await client.orchestration.createRules('agent-123', { handoffs: [...] });

import { OPERATIONS } from './operations.js';

export { OPERATIONS };
export const VERSION = '0.1.0';

const RETRY_STATUSES = new Set([429, 503]);
const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 8000;
const APPROVALS_PAGE = 50;
const APPROVALS_PAGE_MAX = 200;

// --- errors ---------------------------------------------------------------------------------

/** Anything this client throws. */
export class BackofficeError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The server could not be reached or did not answer in time (no HTTP answer at all). */
export class TransportError extends BackofficeError {}

/**
 * The API answered with an error status. `status`, `code` (invalid, not_found, rate_limited...),
 * `message`, `fields` (bad fields by path: {'handoffs[1].condition': ['...']}), `retryAfter`
 * (seconds, for 429 and 503) and the whole `body`.
 */
export class ApiError extends BackofficeError {
  constructor({ status, code, message, fields = {}, retryAfter = null, body = null, method = '', url = '' }) {
    let text = `${status} ${code}: ${message}`;
    for (const [path, messages] of Object.entries(fields)) text += `\n  ${path}: ${messages.join(' ')}`;
    super(text);
    Object.assign(this, { status, code, fields, retryAfter, body, method, url });
    this.apiMessage = message;
  }
}
/** 400: the request was refused; `fields` names each bad field by its path. */
export class ValidationError extends ApiError {}
/** 401: no credentials, or a key or token that is unknown, revoked or expired. */
export class AuthenticationError extends ApiError {}
/** 403: the key or person may not do this. */
export class PermissionDeniedError extends ApiError {}
/** 404: no such object in your tenant. */
export class NotFoundError extends ApiError {}
/** 409: the object is not in a state that allows it (already decided, already claimed...). */
export class ConflictError extends ApiError {}
/** 413: the request body is too large. */
export class PayloadTooLargeError extends ApiError {}
/** 429: too many requests, after the client's retries (or a wait longer than it may wait). */
export class RateLimitError extends ApiError {}
/** 503: the server could not do it now (nothing was written); retry later. */
export class ServiceUnavailableError extends ApiError {}
/** Any other 5xx. */
export class ServerError extends ApiError {}

const ERRORS = {
  400: ValidationError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  413: PayloadTooLargeError,
  429: RateLimitError,
  503: ServiceUnavailableError,
};

function errorClass(status) {
  return ERRORS[status] ?? (status >= 500 ? ServerError : ApiError);
}

/** `Retry-After` in seconds (a number of seconds or an HTTP date), or null. */
export function retryAfterSeconds(value) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, (when - Date.now()) / 1000);
}

// --- the client -----------------------------------------------------------------------------

/**
 * A client of the API v1 for one tenant. `apiKey` is a tenant API key, or a person's token
 * (acting as that person). 429 and 503 answers are retried up to `maxRetries` times, honouring
 * `Retry-After` up to `maxRetryWait` milliseconds; errors throw the classes above.
 */
// A file's multipart form (the server tells its kind by its bytes): a Blob, a Buffer or bytes.
function fileForm(content, filename, contentType, text) {
  const form = new FormData();
  const blob = content instanceof Blob ? content : new Blob([content], { type: contentType });
  form.append('file', blob, filename);
  if (text) form.append('text', text);
  return form;
}

export class Client {
  constructor({
    baseUrl,
    apiKey,
    timeout = 30_000,
    maxRetries = 3,
    maxRetryWait = 60_000,
    headers = {},
    fetch = globalThis.fetch,
  } = {}) {
    if (!/^https?:\/\//.test(baseUrl ?? '')) throw new TypeError('baseUrl must be an http:// or https:// URL');
    if (!apiKey) throw new TypeError('apiKey is required (a tenant API key or a personal token)');
    if (typeof fetch !== 'function') throw new TypeError('no fetch: pass { fetch } or use Node 18+');
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.timeout = timeout;
    this.maxRetries = maxRetries;
    this.maxRetryWait = maxRetryWait;
    this._fetch = fetch;
    this._headers = {
      Authorization: `Bearer ${apiKey}`,
      Accept: 'application/json',
      ...headers,
    };
    this.agents = new Agents(this);
    this.orchestration = new Orchestration(this);
    this.settings = new OrchestratorSettings(this);
    this.intents = new Intents(this);
    this.workflows = new Workflows(this);
    this.conversations = new Conversations(this);
    this.approvals = new Approvals(this);
    this.handoffs = new Handoffs(this);
    this.cannedReplies = new CannedReplies(this);
    this.blocks = new Blocks(this);
    this.groups = new Groups(this);
    this.erasures = new Erasures(this);
    this.customerData = new CustomerDataOf(this);
    this.webhooks = new Webhooks(this);
    this.customers = new Customers(this);
    this.mentions = new Mentions(this);
    this.stacks = new Stacks(this);
    this.metrics = new Metrics(this);
    this.apiKeys = new ApiKeys(this);
  }

  /** Who the key or token is: the tenant and the principal with its roles. */
  me() {
    return this._call('v1_me_retrieve');
  }

  async _call(operation, { path = {}, query = {}, body, form } = {}) {
    const [method, template] = OPERATIONS[operation];
    const url = new URL(this.baseUrl + template.replace(/\{(\w+)\}/g, (_, name) => {
      if (path[name] === undefined || path[name] === null) throw new TypeError(`${name} is required`);
      return encodeURIComponent(String(path[name]));
    }));
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined || value === null) continue;
      url.searchParams.set(name, queryValue(value));
    }
    const headers = { ...this._headers };
    const init = { method, headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    } else if (form !== undefined) {
      init.body = form; // a FormData: fetch writes its multipart Content-Type
    }
    for (let attempt = 0; ; attempt += 1) {
      let response;
      try {
        response = await this._fetch(url, { ...init, signal: AbortSignal.timeout(this.timeout) });
      } catch (error) {
        throw new TransportError(`${method} ${url}: ${error.message}`, { cause: error });
      }
      const delay = this._retryDelay(response, attempt);
      if (delay === null) return readAnswer(response, method, url);
      await response.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  _retryDelay(response, attempt) {
    if (!RETRY_STATUSES.has(response.status) || attempt >= this.maxRetries) return null;
    const after = retryAfterSeconds(response.headers.get('Retry-After'));
    const delay = after !== null ? after * 1000 : Math.min(BACKOFF_START_MS * 2 ** attempt, BACKOFF_MAX_MS);
    return delay <= this.maxRetryWait ? delay : null;
  }
}

function queryValue(value) {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

async function readAnswer(response, method, url) {
  const text = await response.text();
  if (response.ok) return text ? JSON.parse(text) : null;
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  const error = body && typeof body.error === 'object' && body.error !== null
    ? body.error
    : { code: `http_${response.status}`, message: text.slice(0, 500) || response.statusText };
  const ErrorClass = errorClass(response.status);
  throw new ErrorClass({
    status: response.status,
    code: String(error.code ?? `http_${response.status}`),
    message: String(error.message ?? ''),
    fields: error.fields && typeof error.fields === 'object' ? error.fields : {},
    retryAfter: retryAfterSeconds(response.headers.get('Retry-After')),
    body,
    method,
    url: String(url),
  });
}

/**
 * A list read page by page as you iterate: `for await (const item of paginator)`, or
 * `await paginator.toArray()`.
 */
export class Paginator {
  constructor(nextPage) {
    this._nextPage = nextPage; // (cursor) => Promise<{ items, cursor }>; cursor null: the end
  }

  async *[Symbol.asyncIterator]() {
    let cursor;
    do {
      const page = await this._nextPage(cursor);
      yield* page.items;
      cursor = page.cursor;
    } while (cursor !== null);
  }

  async toArray() {
    const items = [];
    for await (const item of this) items.push(item);
    return items;
  }
}

function afterPages(client, operation, path, after) {
  return new Paginator(async (cursor = after) => {
    const items = await client._call(operation, { path, query: { after: cursor } });
    return { items, cursor: items.length ? items[items.length - 1].id : null };
  });
}

function newIdempotencyKey() {
  return globalThis.crypto.randomUUID();
}

// --- resources ------------------------------------------------------------------------------

class Resource {
  constructor(client) {
    this._client = client;
  }

  _call(operation, options) {
    return this._client._call(operation, options);
  }
}

class Agents extends Resource {
  list() { return this._call('v1_agents_list'); }
  create(agent) { return this._call('v1_agents_create', { body: agent }); }
  get(agentId) { return this._call('v1_agents_retrieve', { path: { agent_id: agentId } }); }
  /** PATCH: the fields given change, the others stay. */
  update(agentId, changes) { return this._call('v1_agents_partial_update', { path: { agent_id: agentId }, body: changes }); }
  async delete(agentId) { await this._call('v1_agents_destroy', { path: { agent_id: agentId } }); }
}

class Orchestration extends Resource {
  /** Set the sections `rules` names and keep the agent's others (null clears a section). */
  createRules(agentId, rules) {
    return this._call('v1_agents_orchestration_rules_create', { path: { agent_id: agentId }, body: rules });
  }
  getRules(agentId) { return this._call('v1_agents_orchestration_rules_retrieve', { path: { agent_id: agentId } }); }
  /** Clear the agent's own rules: it falls back to inherited ones. */
  async deleteRules(agentId) { await this._call('v1_agents_orchestration_rules_destroy', { path: { agent_id: agentId } }); }
  /** What the rules (or `sample.draft`, a rules document not saved) and the pipeline decide for a sample message, with the lint warnings. */
  testRules(agentId, sample) {
    return this._call('v1_agents_orchestration_rules_test_create', { path: { agent_id: agentId }, body: sample });
  }
  versions(agentId) { return this._call('v1_agents_orchestration_rules_versions_list', { path: { agent_id: agentId } }); }
  restore(agentId, version) {
    return this._call('v1_agents_orchestration_rules_versions_restore_create', { path: { agent_id: agentId, version } });
  }
}

class OrchestratorSettings extends Resource {
  get() { return this._call('v1_orchestrator_settings_retrieve'); }
  update(changes) { return this._call('v1_orchestrator_settings_partial_update', { body: changes }); }
  getForAgent(agentId) { return this._call('v1_agents_orchestrator_settings_retrieve', { path: { agent_id: agentId } }); }
  updateForAgent(agentId, changes) {
    return this._call('v1_agents_orchestrator_settings_partial_update', { path: { agent_id: agentId }, body: changes });
  }
}

class Intents extends Resource {
  list() { return this._call('intents_list'); }
  set(name, intent) { return this._call('intents_set', { path: { name }, body: intent }); }
  async delete(name) { await this._call('intents_destroy', { path: { name } }); }
}

class Workflows extends Resource {
  create(workflow) { return this._call('workflows_create', { body: workflow }); }
  list() { return this._call('workflows_list'); }
  get(workflowId) { return this._call('workflows_retrieve', { path: { workflow_id: workflowId } }); }
  /** Replace the workflow: its name, budget and all its steps. */
  update(workflowId, workflow) { return this._call('workflows_replace', { path: { workflow_id: workflowId }, body: workflow }); }
  async delete(workflowId) { await this._call('workflows_destroy', { path: { workflow_id: workflowId } }); }
}

class Conversations extends Resource {
  /** Start a conversation; the answer holds the customerToken (only this once). */
  create(conversation) { return this._call('v1_conversations_create', { body: conversation }); }
  /** Edit a private note (only its author may; the old text is kept). Needs a person's token. */
  editNote(noteId, text) { return this._call('v1_notes_partial_update', { path: { note_id: noteId }, body: { text } }); }
  /** The most recent conversations (limit: at most 200, default 50). */
  /** Newest first; found by words said (q), state, channel, assignee ("none"), customer, since/until (YYYY-MM-DD), tag. */
  list({ state, limit, q, channel, assignee, customer, since, until, tag, group } = {}) {
    return this._call('v1_conversations_list', { query: { state, limit, q, channel, assignee, customer, since, until, tag, group } });
  }
  get(conversationId) { return this._call('v1_conversations_retrieve', { path: { conversation_id: conversationId } }); }
  /** A customer message: the orchestrator's answer (state, handoff, replyStatus); the agent's
   * reply comes over the sockets, or in the answer when `wait` (seconds, 0 to 30) is given. */
  send(conversationId, text, { signals, wait } = {}) {
    const body = { text };
    if (signals !== undefined) body.signals = signals;
    if (wait !== undefined) body.wait = wait;
    return this._call('v1_conversations_messages_create', { path: { conversation_id: conversationId }, body });
  }
  /** Put the tag `name` on the conversation; resolves to its tags. */
  async tag(conversationId, name) {
    return (await this._call('v1_conversations_tags_update', { path: { conversation_id: conversationId, name } })).tags;
  }
  /** Take the tag `name` off the conversation; resolves to its tags. */
  /** Set the customer's `name` or `email` (an empty string clears it) on every conversation of
   * theirs; an e-mail conversation's address does not change. */
  updateCustomer(conversationId, { name, email, attributes } = {}) {
    const customer = {};
    if (name !== undefined) customer.name = name;
    if (email !== undefined) customer.email = email;
    if (attributes !== undefined) customer.attributes = attributes;
    return this._call('v1_conversations_partial_update', { path: { conversation_id: conversationId }, body: { customer } });
  }

  /** Resolve (`action: 'resolve'`) or tag (`action: 'tag'`, `tag`) many conversations at once,
   * at most 100; resolves to `{done, left}`: `left` says which were left alone and why. */
  bulk(ids, { action, tag, to } = {}) {
    return this._call('v1_conversations_bulk_create', { body: { ids, action, tag, to } });
  }
  /** Merge the conversation into `into`, another open one of the same customer: it is
   * resolved and goes on there. Resolves to the conversation merged into. */
  merge(conversationId, into) {
    return this._call('v1_conversations_merge_create', { path: { conversation_id: conversationId }, body: { into } });
  }

  /** E-mail a copy of the conversation (what the customer saw, never a private note) to the
   * customer's address, or to `to`; a task sends it. Resolves to the copy, with its status. */
  sendCopy(conversationId, { to } = {}) {
    return this._call('v1_conversations_copies_create', { path: { conversation_id: conversationId }, body: to === undefined ? {} : { to } });
  }
  /** The copies of the conversation e-mailed so far, the newest first, and where each stands. */
  copies(conversationId) {
    return this._call('v1_conversations_copies_list', { path: { conversation_id: conversationId } });
  }

  async untag(conversationId, name) {
    return (await this._call('v1_conversations_tags_destroy', { path: { conversation_id: conversationId, name } })).tags;
  }
  /** The customer's file (a photo, a PDF, a text file: a Blob, a Buffer or bytes) as a
   * message with it attached and `text` beside it: the orchestrator's answer, as `send` gives it. */
  sendFile(conversationId, content, filename, { contentType = 'application/octet-stream', text } = {}) {
    const form = fileForm(content, filename, contentType, text);
    return this._call('v1_conversations_files_create', { path: { conversation_id: conversationId }, form });
  }
  /** Every message in order (after the message id `after`), page by page. */
  messages(conversationId, { after } = {}) {
    return afterPages(this._client, 'v1_conversations_messages_list', { conversation_id: conversationId }, after);
  }
  /** Every decision event in order (after the event id `after`), page by page. */
  events(conversationId, { after } = {}) {
    return afterPages(this._client, 'v1_conversations_events_list', { conversation_id: conversationId }, after);
  }
  /**
   * Propose an action: it runs at once ({execution}) or waits for approvers ({approval}). The
   * same idempotencyKey answers with the same execution or approval; one is generated when not
   * given, and kept for retries.
   */
  proposeAction(conversationId, action, params = {}, { idempotencyKey } = {}) {
    const body = { action, params, idempotencyKey: idempotencyKey ?? newIdempotencyKey() };
    return this._call('v1_conversations_actions_create', { path: { conversation_id: conversationId }, body });
  }
}

class Approvals extends Resource {
  /** Approval requests, newest first, every page (mine: the pending ones you may decide, one page). */
  list({ status, conversationId, action, mine = false, pageSize = APPROVALS_PAGE } = {}) {
    const limit = Math.min(Math.max(pageSize, 1), APPROVALS_PAGE_MAX);
    const query = { status, conversationId, action, mine: mine || undefined, limit };
    return new Paginator(async (before) => {
      const items = await this._call('v1_approvals_list', { query: { ...query, before } });
      const last = mine || items.length < limit;
      return { items, cursor: last ? null : items[items.length - 1].id };
    });
  }
  get(approvalId) { return this._call('v1_approvals_retrieve', { path: { approval_id: approvalId } }); }
  approve(approvalId, { reason } = {}) {
    return this._call('v1_approvals_approve_create', { path: { approval_id: approvalId }, body: reason === undefined ? {} : { reason } });
  }
  deny(approvalId, { reason } = {}) {
    return this._call('v1_approvals_deny_create', { path: { approval_id: approvalId }, body: { reason } });
  }
}

class Handoffs extends Resource {
  list({ mode, status } = {}) { return this._call('v1_handoffs_list', { query: { mode, status } }); }
  get(handoffId) { return this._call('v1_handoffs_retrieve', { path: { handoff_id: handoffId } }); }
  claim(handoffId) { return this._call('v1_handoffs_claim_create', { path: { handoff_id: handoffId } }); }
  resolve(handoffId) { return this._call('v1_handoffs_resolve_create', { path: { handoff_id: handoffId } }); }
  /** Put a conversation you hold aside until `until` (an ISO 8601 date-time, or a Date, within
   * 30 days) or the customer's next message; `null` wakes it. */
  snooze(handoffId, until) {
    const when = until instanceof Date ? until.toISOString() : until;
    return this._call('v1_handoffs_snooze_create', { path: { handoff_id: handoffId }, body: { until: when } });
  }
  /** Set an open handoff's priority band ('urgent', 'high', 'medium', 'low'): the queue's order
   * and the response targets follow. */
  setPriority(handoffId, priority) {
    return this._call('v1_handoffs_priority_create', { path: { handoff_id: handoffId }, body: { priority } });
  }
  handBack(handoffId) { return this._call('v1_handoffs_hand_back_create', { path: { handoff_id: handoffId } }); }
  /** A human agent's message to the customer of a claimed handoff. */
  /** With `cannedReplyId`, that canned reply's actions too (its tags, then resolve, snooze or hand back), all or nothing. */
  send(handoffId, text, { cannedReplyId } = {}) {
    return this._call('v1_handoffs_messages_create', { path: { handoff_id: handoffId }, body: { text, cannedReplyId } });
  }
  /** A human agent's file to the customer of a claimed handoff (a return label), with `text`
   * beside it: by e-mail too, attached, where replies are e-mailed. */
  sendFile(handoffId, content, filename, { contentType = 'application/octet-stream', text } = {}) {
    const form = fileForm(content, filename, contentType, text);
    return this._call('v1_handoffs_files_create', { path: { handoff_id: handoffId }, form });
  }
}

/** The customers of the conversations you reach, one each by their customer id. */
class Customers extends Resource {
  /** `{ results, next }`: the latest activity first, 50 a page; `q` searches their name,
   * e-mail address and id. */
  list({ q, page } = {}) { return this._call('v1_customers_list', { query: { q, page } }); }
  /** What is known of the customer and their conversations you reach, the latest first. */
  get(customerId) { return this._call('v1_customers_retrieve', { path: { customer_id: customerId } }); }
}

/** Your mentions: the private notes in which a colleague named you (`@you`). Needs a human
 * agent's personal token, not an integration key. */
class Mentions extends Resource {
  /** `{ unread, results }`, newest first (the 50 newest); `unread: true` for the unread only. */
  list({ unread = false } = {}) { return this._call('v1_mentions_retrieve', { query: { unread: unread ? 'true' : undefined } }); }
  /** Mark mentions read: `ids`, or a conversation's, or (neither) all; resolves to the ids that
   * were unread. */
  async read({ ids, conversationId } = {}) {
    const body = {};
    if (ids !== undefined) body.ids = ids;
    if (conversationId !== undefined) body.conversationId = conversationId;
    return (await this._call('v1_mentions_read_create', { body })).read;
  }
}

/** Who the team blocked (spam, abuse): no new conversation starts for them. */
class Blocks extends Resource {
  list() { return this._call('v1_blocks_list'); }
  /** Block an e-mail address (`kind: 'email'`) or a customer id (`'customer'`), for good or
   * until `expiresAt` (an ISO 8601 date-time or a Date; null: for good). */
  create({ kind, value, reason, expiresAt }) {
    const body = { kind, value, reason };
    if (expiresAt !== undefined) body.expiresAt = expiresAt instanceof Date ? expiresAt.toISOString() : expiresAt;
    return this._call('v1_blocks_create', { body });
  }
  /** Unblock. */
  delete(blockId) { return this._call('v1_blocks_destroy', { path: { block_id: blockId } }); }
}

/** Groups of human agents: the handoffs of the AI agents a group takes go to its members. */
class Groups extends Resource {
  list() { return this._call('v1_groups_list'); }
  /** A group with these human agents (usernames), taking the handoffs of these AI agents (slugs). */
  create({ name, members, aiAgents, overflowAfter, hours }) { return this._call('v1_groups_create', { body: { name, members, aiAgents, overflowAfter, hours } }); }
  /** Change what is given (a list replaces the one it had). */
  update(groupId, { name, members, aiAgents, overflowAfter, hours } = {}) {
    return this._call('v1_groups_partial_update', { path: { group_id: groupId }, body: { name, members, aiAgents, overflowAfter, hours } });
  }
  delete(groupId) { return this._call('v1_groups_destroy', { path: { group_id: groupId } }); }
}

/** Erasing a customer's data at their request: every conversation of theirs, for good. */
class Erasures extends Resource {
  list() { return this._call('v1_erasures_list'); }
  /** Erase the customer named by an e-mail address (`kind: 'email'`), a customer id (`'customer'`) or a conversation's id (`'conversation'`: its customer). */
  create({ kind, value }) { return this._call('v1_erasures_create', { body: { kind, value } }); }
}

/** The team's webhook endpoints: where its events go (README "Webhooks"). */
class Webhooks extends Resource {
  list() { return this._call('v1_webhooks_list'); }
  /** Add an endpoint; the answer's `secret` (whsec_...) is shown this once. */
  create({ url, events, description }) { return this._call('v1_webhooks_create', { body: { url, events, description } }); }
  /** Change `url`, `events`, `description` or `active`. */
  update(endpointId, changes) { return this._call('v1_webhooks_partial_update', { path: { endpoint_id: endpointId }, body: changes }); }
  delete(endpointId) { return this._call('v1_webhooks_destroy', { path: { endpoint_id: endpointId } }); }
  /** Send it a webhook.test event. */
  test(endpointId) { return this._call('v1_webhooks_test_create', { path: { endpoint_id: endpointId } }); }
  /** Its latest deliveries (100), newest first. */
  deliveries(endpointId) { return this._call('v1_webhooks_deliveries_list', { path: { endpoint_id: endpointId } }); }
}

/** Everything kept about a customer, to send them at their request. */
class CustomerDataOf extends Resource {
  /** The customer named by an e-mail address (`kind: 'email'`), a customer id (`'customer'`) or a conversation's id (`'conversation'`: its customer). */
  get({ kind, value }) { return this._call('v1_customer_data_retrieve', { query: { kind, value } }); }
}

class CannedReplies extends Resource {
  list() { return this._call('v1_canned_replies_list'); }
  /** With `tags` and `then` (resolve, snooze, hand_back): what sending it also does. */
  create({ shortcut, text, title, tags, then }) { return this._call('v1_canned_replies_create', { body: { shortcut, text, title, tags, then } }); }
  get(replyId) { return this._call('v1_canned_replies_retrieve', { path: { reply_id: replyId } }); }
  /** Change some of shortcut, title, text, tags, then. */
  update(replyId, changes) { return this._call('v1_canned_replies_partial_update', { path: { reply_id: replyId }, body: changes }); }
  delete(replyId) { return this._call('v1_canned_replies_destroy', { path: { reply_id: replyId } }); }
}

function instantiateBody({ prefix, approvers, dryRun = false } = {}) {
  const body = { dryRun };
  if (prefix !== undefined) body.prefix = prefix;
  if (approvers !== undefined) body.approvers = approvers;
  return body;
}

class Stacks extends Resource {
  export(agentId) { return this._call('stack_export', { path: { agent_id: agentId } }); }
  import(template, options) { return this._call('stack_import', { body: { template, ...instantiateBody(options) } }); }
  templates() { return this._call('stack_templates_list'); }
  getTemplate(templateId) { return this._call('stack_templates_retrieve', { path: { template_id: templateId } }); }
  /** Publish a template for your tenant: an agent's stack as it is now ({agentId}) or a document. */
  publishTemplate({ name, agentId, document, description }) {
    if ((agentId === undefined) === (document === undefined)) throw new TypeError('give agentId or document');
    const body = agentId !== undefined ? { name, agentId } : { name, document };
    if (description !== undefined) body.description = description;
    return this._call('stack_templates_create', { body });
  }
  async deleteTemplate(templateId) { await this._call('stack_templates_destroy', { path: { template_id: templateId } }); }
  instantiate(templateId, options) {
    return this._call('stack_templates_instantiate', { path: { template_id: templateId }, body: instantiateBody(options) });
  }
}

class Metrics extends Resource {
  /** The figures of a window (from, to: Dates or ISO 8601 text). */
  get({ from, to, agentId } = {}) { return this._call('v1_metrics_retrieve', { query: { from, to, agentId } }); }
}

class ApiKeys extends Resource {
  list() { return this._call('v1_api_keys_list'); }
  /** A new key; the answer's `key` is the only time the secret is shown. */
  create(name) { return this._call('v1_api_keys_create', { body: { name } }); }
  get(keyId) { return this._call('v1_api_keys_retrieve', { path: { key_id: keyId } }); }
  revoke(keyId) { return this._call('v1_api_keys_revoke_create', { path: { key_id: keyId } }); }
}
