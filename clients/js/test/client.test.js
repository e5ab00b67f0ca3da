// The JavaScript client against a live server, with Node's own test runner:
//
//   BACKOFFICE_URL=http://127.0.0.1:8000 BACKOFFICE_API_KEY=... node --test clients/js/test/
//
// tests/clients/test_js_client.py starts the server, prepares a tenant as the product docs'
// examples expect it (their agents and approvers), and sets BACKOFFICE_URL,
// BACKOFFICE_API_KEY, BACKOFFICE_APPROVER_TOKEN (a token of the approver user-admin-123),
// BACKOFFICE_AGENT_TOKEN (a token of the human agent docs-agent, whom a note names) and
// BACKOFFICE_LIMITED_API_KEY (a key of a tenant with a tiny rate limit). Without them every test
// is skipped.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import {
  AuthenticationError,
  Client,
  ConflictError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  ValidationError,
} from 'backoffice-client';

const env = process.env;
const live = env.BACKOFFICE_URL && env.BACKOFFICE_API_KEY
  ? {}
  : { skip: 'set BACKOFFICE_URL and BACKOFFICE_API_KEY (tests/clients/ starts a server and sets them)' };
const limitedKey = { skip: live.skip ?? (env.BACKOFFICE_LIMITED_API_KEY ? false : 'set BACKOFFICE_LIMITED_API_KEY') };
const agentToken = { skip: live.skip ?? (env.BACKOFFICE_AGENT_TOKEN ? false : 'set BACKOFFICE_AGENT_TOKEN') };
const approverToken = { skip: live.skip ?? (env.BACKOFFICE_APPROVER_TOKEN ? false : 'set BACKOFFICE_APPROVER_TOKEN') };

const DOCS_RULES = {
  escalation: {
    maxAttempts: 3,
    intents: ['billing_dispute', 'legal_question', 'security_incident'],
    targetAgentId: 'agent-supervisor',
    escalateToHuman: true,
  },
  handoffs: [
    { condition: 'intent == "technical_support"', targetAgentId: 'agent-tech-support' },
    { condition: 'intent == "billing"', targetAgentId: 'agent-billing' },
    { condition: 'sentiment < -0.5', targetAgentId: 'agent-retention' },
  ],
};
const REFUND = { orderId: 'A-1', amount: 20 };

/** Run examples/<name>.js as it is written, with `client` in scope; answer what it made. */
async function runExample(name, client) {
  const source = await readFile(new URL(`../examples/${name}.js`, import.meta.url), 'utf8');
  const AsyncFunction = (async () => {}).constructor;
  const run = new AsyncFunction('client', `${source}\nreturn typeof rules !== 'undefined' ? rules : workflow;`);
  return run(client);
}

/** A fetch that records every answer's status and time (and the request's body). */
function recordingFetch() {
  const seen = [];
  const fetch = async (url, init) => {
    const response = await globalThis.fetch(url, init);
    seen.push({
      url: new URL(url),
      status: response.status,
      retryAfter: response.headers.get('Retry-After'),
      body: init.body ? JSON.parse(init.body) : undefined,
      at: performance.now(),
    });
    return response;
  };
  return { fetch, seen };
}

function client(options = {}) {
  return new Client({ baseUrl: env.BACKOFFICE_URL, apiKey: env.BACKOFFICE_API_KEY, ...options });
}

test('the docs examples run as written: the three createRules calls leave all three sections in force', live, async () => {
  const { fetch, seen } = recordingFetch();
  const realFetch = globalThis.fetch;
  globalThis.fetch = fetch; // the docs' client is made with the default fetch
  let docsClient;
  try {
    ({ default: docsClient } = await import('../examples/client.js'));
  } finally {
    globalThis.fetch = realFetch;
  }

  const escalation = await runExample('escalation', docsClient);
  const handoffs = await runExample('handoffs', docsClient);
  const approvals = await runExample('approvals', docsClient);
  const workflow = await runExample('workflow', docsClient);

  assert.deepEqual(seen.map((s) => s.status), [201, 201, 201, 201]);
  assert.deepEqual(escalation.escalation, DOCS_RULES.escalation);
  assert.deepEqual(handoffs.escalation, DOCS_RULES.escalation);
  assert.deepEqual(handoffs.handoffs, DOCS_RULES.handoffs);
  const rules = await docsClient.orchestration.getRules('agent-123');
  assert.deepEqual(rules.escalation, DOCS_RULES.escalation);
  assert.deepEqual(rules.handoffs, DOCS_RULES.handoffs);
  assert.deepEqual(rules.approvals.approvers, ['user-admin-123', 'user-manager-456']);
  assert.deepEqual(rules.approvals.actions.map((a) => a.action), ['issue_refund', 'modify_account', 'access_sensitive_data']);
  assert.deepEqual(approvals, rules);
  assert.deepEqual((await docsClient.orchestration.versions('agent-123')).map((v) => v.version), [3, 2, 1]);
  assert.equal(workflow.name, 'Support Escalation');
  assert.deepEqual(workflow.steps.map((s) => s.inputs), [['all'], ['category', 'context'], ['all']]);
  assert.deepEqual(await docsClient.workflows.get(workflow.id), workflow);
});

test('bad input rejects with a ValidationError naming the field path', live, async () => {
  const bad = {
    handoffs: [
      { condition: 'intent == "billing"', targetAgentId: 'agent-billing' },
      { condition: 'intent ==', targetAgentId: 'agent-billing' },
    ],
  };

  const error = await client().orchestration.createRules('agent-123', bad).then(
    () => assert.fail('the rules were accepted'),
    (e) => e,
  );

  assert.ok(error instanceof ValidationError);
  assert.equal(error.status, 400);
  assert.equal(error.code, 'invalid');
  assert.deepEqual(Object.keys(error.fields), ['handoffs[1].condition']);
  assert.match(error.fields['handoffs[1].condition'][0], /expected a value after '=='/);
  assert.match(error.message, /handoffs\[1\]\.condition: column 10/);
});

test('other errors are typed too', live, async () => {
  await assert.rejects(client().agents.get('agent-nobody'), NotFoundError);
  await assert.rejects(client({ apiKey: 'not-a-key' }).agents.list(), AuthenticationError);
});

test('a 429 is retried after the wait the server asks for', limitedKey, async () => {
  const { fetch, seen } = recordingFetch();
  const limited = client({ apiKey: env.BACKOFFICE_LIMITED_API_KEY, fetch });

  const answers = [];
  while (!seen.some((s) => s.status === 429) && answers.length < 10) answers.push(await limited.agents.list());

  assert.ok(seen.some((s) => s.status === 429));
  assert.ok(answers.every((agents) => agents.length === 7));
  seen.slice(0, -1).forEach((s, i) => {
    if (s.status === 429) assert.ok(seen[i + 1].at - s.at >= Number(s.retryAfter) * 1000 - 50);
  });
});

test('a wait longer than the client may wait rejects at once with a RateLimitError', limitedKey, async () => {
  const { fetch, seen } = recordingFetch();
  const limited = client({ apiKey: env.BACKOFFICE_LIMITED_API_KEY, fetch, maxRetryWait: 100 });

  const error = await (async () => {
    for (let i = 0; i < 10; i += 1) await limited.agents.list();
  })().then(() => assert.fail('never limited'), (e) => e);

  assert.ok(error instanceof RateLimitError);
  assert.ok(error.retryAfter >= 1);
  assert.equal(seen.filter((s) => s.status === 429).length, 1);
});

test('actions carry an idempotency key: the same key answers the same execution', live, async () => {
  const api = client();
  const conversation = await api.conversations.create({ agentId: 'agent-billing', channel: 'api', customer: { id: 'js-1' } });

  const first = await api.conversations.proposeAction(conversation.id, 'issue_refund', REFUND, { idempotencyKey: 'js-refund-1' });
  const again = await api.conversations.proposeAction(conversation.id, 'issue_refund', REFUND, { idempotencyKey: 'js-refund-1' });
  const other = await api.conversations.proposeAction(conversation.id, 'issue_refund', REFUND);
  await assert.rejects(
    api.conversations.proposeAction(conversation.id, 'issue_refund', { ...REFUND, amount: 99 }, { idempotencyKey: 'js-refund-1' }),
    ConflictError,
  );

  assert.equal(first.execution.id, again.execution.id);
  assert.notEqual(other.execution.id, first.execution.id);
  assert.match(other.execution.idempotencyKey, /^[0-9a-f-]{36}$/);
});

test('approvals iterate page by page and an approver decides', approverToken, async () => {
  const { fetch, seen } = recordingFetch();
  const api = client({ fetch });
  const approver = client({ apiKey: env.BACKOFFICE_APPROVER_TOKEN });
  await api.orchestration.createRules('agent-triage', {
    approvals: { required: true, actions: ['issue_refund'], approvers: ['user-admin-123'] },
  });
  const conversation = await api.conversations.create({ agentId: 'agent-triage', channel: 'api', customer: { id: 'js-2' } });
  const proposed = [];
  for (let n = 0; n < 5; n += 1) {
    const result = await api.conversations.proposeAction(conversation.id, 'issue_refund', { orderId: `J-${n}`, amount: 10 + n });
    proposed.push(result.approval.id);
  }
  seen.length = 0;

  const listed = (await api.approvals.list({ status: 'pending', conversationId: conversation.id, pageSize: 2 }).toArray()).map((a) => a.id);
  const approved = await approver.approvals.approve(proposed[0], { reason: 'fine' });
  const denied = await approver.approvals.deny(proposed[1], { reason: 'duplicate' });

  assert.deepEqual(listed, [...proposed].reverse());
  assert.deepEqual(seen.map((s) => s.url.searchParams.get('before')), [null, String(proposed[3]), String(proposed[1])]);
  assert.ok(['approved', 'executed'].includes(approved.status));
  assert.equal(approved.decidedBy, 'user-admin-123');
  assert.equal(denied.status, 'denied');
  await assert.rejects(approver.approvals.approve(proposed[1]), ConflictError);
  await assert.rejects(api.approvals.approve(proposed[2]), PermissionDeniedError);
});

test('messages and events iterate in order', live, async () => {
  const api = client();
  const conversation = await api.conversations.create({ agentId: 'agent-supervisor', channel: 'web', customer: { id: 'js-3' } });
  const answer = await api.conversations.send(conversation.id, 'I was charged twice on my bill');
  await api.conversations.send(conversation.id, 'Can you check?', { signals: { sentiment: -0.2 } });

  const messages = [];
  for await (const message of api.conversations.messages(conversation.id)) messages.push(message);
  const events = await api.conversations.events(conversation.id).toArray();
  const later = await api.conversations.events(conversation.id, { after: events[1].id }).toArray();

  assert.equal(answer.currentAgentId, 'agent-billing');
  assert.equal(messages[0].text, 'I was charged twice on my bill');
  assert.deepEqual(later, events.slice(2));
  assert.equal((await api.conversations.get(conversation.id)).turns, 2);
});

test('a customer\'s file is sent and opens by its link', live, async () => {
  const api = client();
  const conversation = await api.conversations.create({ agentId: 'agent-supervisor', channel: 'web', customer: { id: 'js-file' } });
  const pdf = new TextEncoder().encode('%PDF-1.4\n%%EOF\n');

  const answer = await api.conversations.sendFile(conversation.id, pdf, 'receipt.pdf', { contentType: 'application/pdf', text: 'My receipt' });
  await assert.rejects(
    api.conversations.sendFile(conversation.id, new Uint8Array([0x4d, 0x5a, 0x90, 0]), 'setup.exe'),
    (error) => error instanceof ValidationError && 'file' in error.fields,
  );

  const [sent] = answer.message.attachments;
  assert.equal(answer.message.text, 'My receipt');
  assert.equal(sent.filename, 'receipt.pdf');
  const opened = await fetch(env.BACKOFFICE_URL + sent.url);
  assert.deepEqual(new Uint8Array(await opened.arrayBuffer()), pdf);
});

test('a conversation is tagged and found by its tag', live, async () => {
  const api = client();
  const conversation = await api.conversations.create({ agentId: 'agent-supervisor', channel: 'web', customer: { id: 'js-tag' } });

  assert.deepEqual(await api.conversations.tag(conversation.id, 'Carrier late'), ['carrier-late']);
  const found = await api.conversations.list({ tag: 'carrier-late' });
  assert.deepEqual(found.map((c) => c.id), [conversation.id]);
  assert.deepEqual(await api.conversations.untag(conversation.id, 'carrier-late'), []);
});

test("the customer's details are set as they told them", live, async () => {
  const api = client();
  const conversation = await api.conversations.create({ agentId: 'agent-supervisor', channel: 'web', customer: { id: 'js-crm' } });

  const changed = await api.conversations.updateCustomer(conversation.id, { name: 'Kim Lee', email: 'kim@example.com' });
  assert.deepEqual([changed.customer.name, changed.customer.email], ['Kim Lee', 'kim@example.com']);
  const cleared = await api.conversations.updateCustomer(conversation.id, { email: '' });
  assert.deepEqual([cleared.customer.name, cleared.customer.email], ['Kim Lee', '']);
  const upgraded = await api.conversations.updateCustomer(conversation.id, { attributes: { plan: 'pro', orders: 4 } });
  assert.deepEqual(upgraded.customer.attributes, { plan: 'pro', orders: 4 });
  const trimmed = await api.conversations.updateCustomer(conversation.id, { attributes: { orders: null } });
  assert.deepEqual(trimmed.customer.attributes, { plan: 'pro' });
  await assert.rejects(api.conversations.updateCustomer(conversation.id, { email: 'nope' }), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(Object.keys(error.fields), ['customer.email']);
    return true;
  });
});

test('a canned reply that tags and resolves is kept by an integration', live, async () => {
  const api = client();
  const made = await api.cannedReplies.create({ shortcut: 'js-sorted', text: 'All sorted!', tags: ['solved-fast'], then: 'resolve' });
  assert.deepEqual([made.tags, made.then], [['solved-fast'], 'resolve']);
  const changed = await api.cannedReplies.update(made.id, { then: null });
  assert.equal(changed.then, ''); // a text reply only, once more
  await assert.rejects(api.cannedReplies.create({ shortcut: 'js-bad', text: 'x', then: 'delete' }), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(Object.keys(error.fields), ['then']);
    return true;
  });
  await api.cannedReplies.delete(made.id);
});

test('many conversations are tagged and resolved at once', live, async () => {
  const api = client();
  const ids = [];
  for (const n of [1, 2]) {
    ids.push((await api.conversations.create({ agentId: 'agent-supervisor', channel: 'web', customer: { id: `js-bulk-${n}` } })).id);
  }
  assert.deepEqual(await api.conversations.bulk(ids, { action: 'tag', tag: 'spam-wave' }), { done: ids, left: {} });
  assert.deepEqual(await api.conversations.bulk(ids.slice(0, 1), { action: 'untag', tag: 'spam-wave' }), { done: ids.slice(0, 1), left: {} });
  await assert.rejects(api.conversations.bulk(ids, { action: 'assign', to: 'nobody' }), (error) => {
    assert.deepEqual(error.fields, { to: ['no human agent of this team has that username'] });
    return true;
  });
  assert.deepEqual(await api.conversations.bulk(ids, { action: 'resolve' }), { done: ids, left: {} });
  assert.deepEqual(await api.conversations.bulk(ids.slice(0, 1), { action: 'resolve' }), { done: [], left: { [ids[0]]: 'resolved already' } });
  await assert.rejects(api.conversations.bulk(ids, { action: 'archive' }), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(Object.keys(error.fields), ['action']);
    return true;
  });
});

test('groups are made, changed and deleted', live, async () => {
  const api = client();
  const made = await api.groups.create({ name: 'JS front', aiAgents: ['agent-supervisor'], overflowAfter: 5 });
  assert.equal(made.overflowAfter, 5);
  await assert.rejects(api.groups.create({ name: 'JS desk', aiAgents: ['agent-supervisor'] }), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(Object.keys(error.fields), ['aiAgents']);
    return true;
  });
  const changed = await api.groups.update(made.id, { name: 'JS front desk', aiAgents: [] });
  assert.deepEqual([changed.name, changed.aiAgents, changed.overflowAfter], ['JS front desk', [], 5]);
  const never = await api.groups.update(made.id, { overflowAfter: null, hours: [{ weekday: 5, opens: '10:00', closes: '16:00' }] });
  assert.equal(never.overflowAfter, null);
  assert.deepEqual(never.hours, [{ weekday: 5, opens: '10:00', closes: '16:00' }]);
  await api.groups.delete(made.id);
  assert.ok(!(await api.groups.list()).some((g) => g.id === made.id));
});

test('a conversation is merged into another of its customer', live, async () => {
  const api = client();
  const customer = { id: 'js-merge', name: 'Kim' };
  const kept = await api.conversations.create({ agentId: 'agent-supervisor', channel: 'web', customer });
  const second = await api.conversations.create({ agentId: 'agent-supervisor', channel: 'web', customer });

  await assert.rejects(api.conversations.merge(second.id, second.id), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(Object.keys(error.fields), ['into']);
    return true;
  });
  const into = await api.conversations.merge(second.id, kept.id);
  assert.equal(into.id, kept.id);
  await assert.rejects(api.conversations.merge(second.id, kept.id), ConflictError);
  const merged = await api.conversations.get(second.id);
  assert.deepEqual([merged.state, merged.mergedInto], ['resolved', kept.id]);
});

test('a copy of a conversation is e-mailed and listed', live, async () => {
  const api = client();
  const conversation = await api.conversations.create({ agentId: 'agent-supervisor', channel: 'web', customer: { id: 'js-copy', email: 'kim@example.com' } });

  const sent = await api.conversations.sendCopy(conversation.id);
  const other = await api.conversations.sendCopy(conversation.id, { to: 'desk@example.com' });
  await assert.rejects(api.conversations.sendCopy(conversation.id, { to: 'not an address' }), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(Object.keys(error.fields), ['to']);
    return true;
  });

  assert.deepEqual([sent.to, other.to], ['kim@example.com', 'desk@example.com']);
  const listed = await api.conversations.copies(conversation.id);
  assert.deepEqual(listed.map((c) => c.id), [other.id, sent.id]);
});

test('the customers are listed, searched and read', live, async () => {
  const api = client();
  await api.conversations.create({ agentId: 'agent-supervisor', channel: 'web', customer: { id: 'crm/js-42', name: 'Ada Byron', email: 'ada.byron@example.com' } });

  const found = await api.customers.list({ q: 'ada.byron@' });
  assert.deepEqual(found.results.map((c) => c.id), ['crm/js-42']);
  const ada = await api.customers.get('crm/js-42');
  assert.deepEqual([ada.name, ada.email, ada.conversations.length], ['Ada Byron', 'ada.byron@example.com', 1]);
  await assert.rejects(api.customers.get('nobody-at-all'), NotFoundError);
});

test('snoozing a handoff that is not there is a 404, and a key may not snooze', agentToken, async () => {
  const agent = new Client({ baseUrl: env.BACKOFFICE_URL, apiKey: env.BACKOFFICE_AGENT_TOKEN });
  await assert.rejects(agent.handoffs.snooze(987654321, new Date(Date.now() + 3600e3)), NotFoundError);
  await assert.rejects(client().handoffs.snooze(987654321, null), PermissionDeniedError);
});

test('setting the priority of a handoff that is not there is a 404; a bad band is named', agentToken, async () => {
  const agent = new Client({ baseUrl: env.BACKOFFICE_URL, apiKey: env.BACKOFFICE_AGENT_TOKEN });
  await assert.rejects(agent.handoffs.setPriority(987654321, 'urgent'), NotFoundError);
  await assert.rejects(client().handoffs.setPriority(987654321, 'urgent'), NotFoundError);
});

test('an integration blocks a spammer, is refused a bad address, and unblocks', live, async () => {
  const made = await client().blocks.create({ kind: 'email', value: 'JS-Spam@Example.com', reason: 'spam' });
  assert.equal(made.value, 'js-spam@example.com');
  assert.ok((await client().blocks.list()).some((b) => b.id === made.id));
  await assert.rejects(client().blocks.create({ kind: 'email', value: 'nope' }), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(Object.keys(error.fields), ['value']);
    return true;
  });
  await client().blocks.delete(made.id);
  assert.ok(!(await client().blocks.list()).some((b) => b.id === made.id));
  const week = new Date(Math.floor(Date.now() / 1000) * 1000 + 7 * 24 * 3600 * 1000);
  const forAWeek = await client().blocks.create({ kind: 'email', value: 'js-spam@example.com', expiresAt: week });
  assert.equal(new Date(forAWeek.expiresAt).getTime(), week.getTime());
  const forGood = await client().blocks.create({ kind: 'email', value: 'js-spam@example.com', expiresAt: null });
  assert.deepEqual([forGood.id, forGood.expiresAt], [forAWeek.id, null]);
  await client().blocks.delete(forGood.id);
});

test('a human agent reads the notes that named them', agentToken, async () => {
  const agent = new Client({ baseUrl: env.BACKOFFICE_URL, apiKey: env.BACKOFFICE_AGENT_TOKEN });

  const listed = await agent.mentions.list();
  assert.equal(listed.unread, 1);
  const [mention] = listed.results;
  assert.equal(mention.excerpt, '@docs-agent can you check this?');
  assert.deepEqual(await agent.mentions.read({ ids: [mention.id] }), [mention.id]);
  assert.deepEqual(await agent.mentions.list({ unread: true }), { unread: 0, results: [] });
  await assert.rejects(agent.mentions.read({ ids: [0] }), ValidationError);
  await assert.rejects(client().mentions.list(), PermissionDeniedError); // a key is no person
});

test('intents extend the built-in ones and a built-in may be switched off', live, async () => {
  const client = new Client({ baseUrl: env.BACKOFFICE_URL, apiKey: env.BACKOFFICE_API_KEY });

  const added = await client.intents.set('security_incident', { keywords: ['breach', 'hacked'] });
  const off = await client.intents.set('thanks', { enabled: false });
  const listed = Object.fromEntries((await client.intents.list()).map((i) => [i.name, i]));
  await assert.rejects(client.intents.set('vague', {}), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(Object.keys(error.fields), ['keywords']);
    return true;
  });
  await client.intents.delete('thanks');
  await client.intents.delete('security_incident');

  assert.equal(added.source, 'tenant');
  assert.equal(off.source, 'built-in');
  assert.equal(off.enabled, false);
  assert.equal(listed.thanks.enabled, false);
  assert.equal(listed.technical.enabled, true);
  const after = Object.fromEntries((await client.intents.list()).map((i) => [i.name, i]));
  assert.equal(after.thanks.enabled, true);
  assert.equal(after.security_incident, undefined);
});

test('an integration exports then erases a customer at their request, and is refused a bad kind', live, async () => {
  await client().conversations.create({ agentId: 'agent-billing', channel: 'api', customer: { id: 'js-erase' } });
  const exported = await client().customerData.get({ kind: 'customer', value: 'js-erase' });
  assert.equal(exported.conversations.length, 1);
  assert.equal(exported.conversations[0].customer.id, 'js-erase');
  const erased = await client().erasures.create({ kind: 'customer', value: 'js-erase' });
  assert.equal(erased.conversations, 1);
  assert.ok(!JSON.stringify(erased).includes('js-erase'));
  assert.ok((await client().erasures.list()).some((e) => e.id === erased.id));
  await assert.rejects(client().erasures.create({ kind: 'phone', value: '+44' }), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(Object.keys(error.fields), ['kind']);
    return true;
  });
});

test('an integration sets up its webhook, tests it and removes it', live, async () => {
  const made = await client().webhooks.create({ url: 'https://crm.example.com/js-hooks', events: ['conversation.resolved'] });
  assert.ok(made.secret.startsWith('whsec_'));
  await assert.rejects(client().webhooks.create({ url: 'ftp://x', events: ['message.created'] }), (error) => {
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(Object.keys(error.fields), ['url']);
    return true;
  });
  const changed = await client().webhooks.update(made.id, { active: false });
  assert.equal(changed.active, false);
  const test = await client().webhooks.test(made.id);
  assert.equal(test.event, 'webhook.test');
  assert.equal((await client().webhooks.deliveries(made.id))[0].webhookId, test.webhookId);
  await client().webhooks.delete(made.id);
  assert.ok(!(await client().webhooks.list()).some((w) => w.id === made.id));
});
