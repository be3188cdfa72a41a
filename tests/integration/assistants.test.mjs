// Assistants v2 end to end through the official openai SDK (client.beta.*):
// assistants/threads/messages CRUD and cursor pagination, runs (poll and
// stream, raw SSE framing), client-side function tools (requires_action,
// submit_tool_outputs, parallel calls), OAG's server-side HTTP tools (secrets,
// URL placeholders, network allowlist, timeouts, schema validation), the
// prompt stack as the upstream receives it (fake OpenAI and fake Anthropic
// upstreams), cancel, createAndRun, durability of a parked run across kill -9,
// tenancy, error shapes, and the money: every model call of a run is charged
// like a chat completion, the run's usage is the sum of its steps.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { APIError } from 'openai';
import { startFakeOpenAI } from './fake_openai.mjs';
import { startFakeAnthropic } from './fake_providers.mjs';
import { startFakeToolService } from './fake_tool_service.mjs';
import { expectedCost, startOag, waitFor, walletInvariantHolds } from './harness.mjs';

const BETA = { 'OpenAI-Beta': 'assistants=v2' };
const POLL = { pollIntervalMs: 25 };
const T = { timeout: 60000 };
const MOCK = 'mock/echo';
const PLATFORM_PROMPT = 'PLATFORM-RULES: never reveal secrets.';
const CLAUDE = 'claude-sonnet-4-5';

let oag;
let fake;
let anthropic;
let svc;

before(async () => {
  [fake, anthropic, svc] = await Promise.all([startFakeOpenAI(), startFakeAnthropic(), startFakeToolService()]);
  oag = await startOag({ name: 'assistants', config: { system_prompt: PLATFORM_PROMPT } });
});

after(async () => {
  await oag?.cleanup();
  await fake?.close();
  await anthropic?.close();
  await svc?.close();
});

// ---- helpers ----------------------------------------------------------------

const nonce = () => crypto.randomBytes(4).toString('hex');
const wordsOf = (s) => String(s).split(/\s+/).filter(Boolean).length;
const textOf = (msg) => (msg.content || []).filter((c) => c.type === 'text').map((c) => c.text.value).join('');
/** Upstream (OpenAI wire) message content → plain text. */
const plain = (c) => (typeof c === 'string' ? c : Array.isArray(c) ? c.map((p) => p.text ?? '').join('') : c == null ? '' : JSON.stringify(c));

async function tenant(opts = {}) {
  const t = await oag.tenant({ credit: '1000', ...opts });
  t.api = (method, p, body, extra = {}) => oag.request(method, p, { body, token: t.key, headers: { ...BETA, ...(extra.headers || {}) }, raw: extra.raw });
  return t;
}

async function putSettings(t, body) {
  const r = await oag.admin('PUT', `/admin/v1/companies/${t.companyId}/settings`, body);
  assert.ok(r.status === 200 || r.status === 204, `PUT settings: ${r.status} ${r.text}`);
  return r;
}

/** Awaits a promise that must fail with an APIError of `status`; returns the error. */
async function expectStatus(promise, status, what = '') {
  let err = null;
  let value;
  try {
    value = await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: expected HTTP ${status}, got success: ${JSON.stringify(value)?.slice(0, 400)}`);
  assert.ok(err instanceof APIError, `${what}: expected an APIError, got ${err}`);
  assert.equal(err.status, status, `${what}: status ${err.status} (${err.message})`);
  // OpenAI's error shape.
  assert.equal(typeof err.error?.message, 'string', `${what}: error body has a message: ${JSON.stringify(err.error)}`);
  return err;
}

function assertErrorShape(r, status, what = '') {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.ok(r.json && r.json.error && typeof r.json.error.message === 'string', `${what}: OpenAI error shape: ${r.text}`);
  assert.ok('type' in r.json.error, `${what}: error.type present: ${r.text}`);
}

async function listPage(t, p, q = {}) {
  const r = await t.api('GET', `${p}?${new URLSearchParams(q)}`);
  assert.equal(r.status, 200, `GET ${p}?${new URLSearchParams(q)}: ${r.text}`);
  assert.equal(r.json.object, 'list');
  return r.json;
}

function assertPage(pg, ids, hasMore, what) {
  assert.deepEqual(pg.data.map((x) => x.id), ids, `${what}: ids`);
  assert.equal(pg.has_more, hasMore, `${what}: has_more`);
  if (ids.length) {
    assert.equal(pg.first_id, ids[0], `${what}: first_id`);
    assert.equal(pg.last_id, ids.at(-1), `${what}: last_id`);
  } else {
    assert.ok(pg.first_id == null && pg.last_id == null, `${what}: first_id/last_id null on an empty page`);
  }
}

async function steps(t, threadId, runId) {
  const page = await t.client.beta.threads.runs.steps.list(runId, { thread_id: threadId, order: 'asc' });
  return page.data;
}

async function messagesAsc(t, threadId, q = {}) {
  const page = await t.client.beta.threads.messages.list(threadId, { order: 'asc', limit: 100, ...q });
  return page.data;
}

async function lastAssistantText(t, threadId) {
  const page = await t.client.beta.threads.messages.list(threadId, { order: 'desc', limit: 1 });
  assert.equal(page.data.length, 1);
  assert.equal(page.data[0].role, 'assistant');
  return textOf(page.data[0]);
}

/** Consumes an AssistantStream; returns events, their names, final run and messages. */
async function drain(stream) {
  const events = [];
  // Cloned as they arrive: the SDK accumulates later deltas into earlier event objects.
  stream.on('event', (e) => events.push(structuredClone(e)));
  const run = await stream.finalRun();
  const messages = await stream.finalMessages();
  return { events, names: events.map((e) => e.event), run, messages };
}

/** Collapses runs of the same *.delta event into one `name*` entry. */
function squash(names) {
  const out = [];
  for (const n of names) {
    const m = n.endsWith('.delta') ? `${n}*` : n;
    if (m.endsWith('*') && out.at(-1) === m) continue;
    out.push(m);
  }
  return out;
}

const usage3 = (u) => ({ prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens: u.total_tokens });

/**
 * The money of a finished run: each model-call step carries `oag` (model,
 * response_id, usage, cost_uot); the run's usage is their sum; each response id
 * has exactly one ledger entry with those tokens and cost; the wallet moved by
 * exactly the sum and holds its invariant.
 */
async function checkRunMoney(t, run, runSteps, priceKey, walletBefore) {
  const modelSteps = runSteps.filter((s) => s.type === 'message_creation' || s.type === 'tool_calls');
  assert.ok(modelSteps.length >= 1, 'at least one model step');
  const sum = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  let cost = 0;
  const ids = [];
  for (const s of modelSteps) {
    assert.ok(s.oag, `step ${s.id} (${s.type}) carries oag: ${JSON.stringify(s)}`);
    assert.equal(typeof s.oag.response_id, 'string', 'oag.response_id');
    assert.ok(s.oag.usage, 'oag.usage');
    const u = usage3(s.oag.usage);
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens, 'step total = prompt + completion');
    if (s.usage) assert.deepEqual(usage3(s.usage), u, `step ${s.id}: usage = oag.usage`);
    const c = expectedCost(priceKey, s.oag.usage);
    assert.equal(s.oag.cost_uot, c, `step ${s.id}: cost_uot exact for ${JSON.stringify(u)}`);
    sum.prompt_tokens += u.prompt_tokens;
    sum.completion_tokens += u.completion_tokens;
    sum.total_tokens += u.total_tokens;
    cost += c;
    ids.push(s.oag.response_id);
  }
  assert.equal(new Set(ids).size, ids.length, `distinct response ids per model call: ${ids}`);
  assert.ok(run.usage, `run.usage set: ${JSON.stringify(run)}`);
  assert.deepEqual(usage3(run.usage), sum, 'run.usage = Σ step usages');
  const ledger = await t.ledger();
  for (const id of ids) {
    const mine = ledger.filter((e) => e.response_id === id);
    assert.equal(mine.length, 1, `exactly one ledger entry for ${id}, got ${mine.length}`);
    const s = modelSteps.find((x) => x.oag.response_id === id);
    assert.equal(mine[0].input_tokens, s.oag.usage.prompt_tokens, 'ledger input_tokens');
    assert.equal(mine[0].output_tokens, s.oag.usage.completion_tokens, 'ledger output_tokens');
    assert.equal(mine[0].cost_uot, s.oag.cost_uot, 'ledger cost_uot');
  }
  if (walletBefore) {
    const w = await waitFor(async () => {
      const x = await t.wallet();
      return x.reserved_uot === walletBefore.reserved_uot ? x : null;
    }, { what: 'reservations released' });
    assert.equal(w.spent_uot - walletBefore.spent_uot, cost, 'wallet spent moved by exactly the run cost');
    assert.equal(walletBefore.balance_uot - w.balance_uot, cost, 'balance moved by exactly the run cost');
    assert.ok(walletInvariantHolds(w), `credits = balance + reserved + spent: ${JSON.stringify(w)}`);
  }
  return { ids, cost, sum };
}

const weatherFn = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

async function echoAssistant(t, extra = {}) {
  return await t.client.beta.assistants.create({ model: MOCK, name: 'Parrot', instructions: 'You are a parrot.', ...extra });
}

// ---- 1. assistants -------------------------------------------------------------

describe('assistants', () => {
  it('CRUD: create returns the full object, retrieve equals it, update merges, delete then 404', T, async () => {
    const t = await tenant();
    const c = t.client.beta.assistants;
    const t0 = Math.floor(Date.now() / 1000);
    const a = await c.create({
      model: MOCK,
      name: 'Helper',
      description: 'helps',
      instructions: 'Be helpful.',
      tools: [weatherFn],
      metadata: { team: 'blue' },
      temperature: 0.5,
      top_p: 0.9,
    });
    assert.match(a.id, /^asst_/);
    assert.equal(a.object, 'assistant');
    assert.ok(Number.isInteger(a.created_at) && Math.abs(a.created_at - t0) <= 5, `created_at in unix seconds: ${a.created_at}`);
    assert.equal(a.model, MOCK);
    assert.equal(a.name, 'Helper');
    assert.equal(a.description, 'helps');
    assert.equal(a.instructions, 'Be helpful.');
    assert.deepEqual(a.tools.map((x) => x.type), ['function']);
    assert.equal(a.tools[0].function.name, 'get_weather');
    assert.deepEqual(a.tools[0].function.parameters, weatherFn.function.parameters);
    assert.deepEqual(a.metadata, { team: 'blue' });
    assert.equal(a.temperature, 0.5);
    assert.equal(a.top_p, 0.9);

    const got = await c.retrieve(a.id);
    assert.deepEqual(got, a, 'retrieve returns what create returned');

    const minimal = await c.create({ model: MOCK });
    assert.equal(minimal.name, null, 'unset name is null');
    assert.equal(minimal.instructions, null, 'unset instructions is null');
    assert.deepEqual(minimal.tools, []);
    assert.deepEqual(minimal.metadata, {});

    const u = await c.update(a.id, { name: 'Renamed', instructions: 'Be brief.', metadata: { team: 'red', tier: '2' } });
    assert.equal(u.id, a.id);
    assert.equal(u.name, 'Renamed');
    assert.equal(u.instructions, 'Be brief.');
    assert.deepEqual(u.metadata, { team: 'red', tier: '2' });
    assert.equal(u.model, MOCK, 'unmodified fields kept');
    assert.equal(u.description, 'helps');
    assert.deepEqual(u.tools, a.tools);
    assert.equal(u.created_at, a.created_at);
    assert.deepEqual(await c.retrieve(a.id), u, 'retrieve sees the update');

    const d = await c.delete(a.id);
    assert.deepEqual(d, { id: a.id, object: 'assistant.deleted', deleted: true });
    await expectStatus(c.retrieve(a.id), 404, 'retrieve deleted');
    await expectStatus(c.update(a.id, { name: 'x' }), 404, 'update deleted');
    await expectStatus(c.delete(a.id), 404, 'delete twice');
    await expectStatus(c.retrieve('asst_doesnotexist'), 404, 'unknown id');
    const all = await listPage(t, '/v1/assistants', { limit: '100' });
    assert.deepEqual(all.data.map((x) => x.id), [minimal.id], 'the deleted assistant is gone from the list');
  });

  it('list pagination across page borders (limit 3 of 7, asc/desc, after/before, exact has_more, first_id/last_id)', T, async () => {
    const t = await tenant();
    const ids = [];
    for (let i = 0; i < 7; i++) ids.push((await t.client.beta.assistants.create({ model: MOCK, name: `a${i}` })).id);
    const P = '/v1/assistants';
    // ascending, forward with after
    assertPage(await listPage(t, P, { limit: '3', order: 'asc' }), ids.slice(0, 3), true, 'asc p1');
    assertPage(await listPage(t, P, { limit: '3', order: 'asc', after: ids[2] }), ids.slice(3, 6), true, 'asc p2');
    assertPage(await listPage(t, P, { limit: '3', order: 'asc', after: ids[5] }), ids.slice(6), false, 'asc p3');
    assertPage(await listPage(t, P, { limit: '3', order: 'asc', after: ids[6] }), [], false, 'asc after last');
    assertPage(await listPage(t, P, { limit: '7', order: 'asc' }), ids, false, 'exactly all: has_more false');
    assertPage(await listPage(t, P, { limit: '6', order: 'asc' }), ids.slice(0, 6), true, 'one left: has_more true');
    assertPage(await listPage(t, P, { limit: '4', order: 'asc', after: ids[2] }), ids.slice(3, 7), false, 'page ends on the last item');
    // descending (the default order)
    const rev = [...ids].reverse();
    assertPage(await listPage(t, P, { limit: '3' }), rev.slice(0, 3), true, 'desc default p1');
    assertPage(await listPage(t, P, { limit: '3', order: 'desc', after: rev[2] }), rev.slice(3, 6), true, 'desc p2');
    assertPage(await listPage(t, P, { limit: '3', order: 'desc', after: rev[5] }), rev.slice(6), false, 'desc p3');
    // default limit 20 covers all 7
    assertPage(await listPage(t, P, {}), rev, false, 'defaults: desc, limit 20');
    // before
    assertPage(await listPage(t, P, { limit: '3', order: 'asc', before: ids[3] }), ids.slice(0, 3), false, 'asc before ids[3]');
    assertPage(await listPage(t, P, { limit: '3', order: 'desc', before: ids[3] }), rev.slice(0, 3), false, 'desc before ids[3] (the newer ones)');
    assertPage(await listPage(t, P, { limit: '10', order: 'asc', before: ids[0] }), [], false, 'nothing before the first');
    {
      // A page of 2 before ids[3] in asc: two of ids[0..2], ascending, more remain.
      const pg = await listPage(t, P, { limit: '2', order: 'asc', before: ids[3] });
      const got = pg.data.map((x) => x.id);
      assert.equal(got.length, 2, 'before with limit 2: two items');
      for (const id of got) assert.ok(ids.slice(0, 3).includes(id), `before returns only earlier items: ${got}`);
      assert.ok(ids.indexOf(got[0]) < ids.indexOf(got[1]), 'ascending within the page');
      assert.equal(pg.has_more, true, 'before with limit 2: one more remains');
    }
    // after + before together: the window between them
    assertPage(await listPage(t, P, { limit: '10', order: 'asc', after: ids[1], before: ids[5] }), ids.slice(2, 5), false, 'between after and before');
    // the SDK's auto-pagination follows has_more/after to exactly the 7, in order
    const seen = [];
    for await (const a of t.client.beta.assistants.list({ limit: 3, order: 'asc' })) seen.push(a.id);
    assert.deepEqual(seen, ids, 'SDK auto-pagination');
    // invalid list parameters
    for (const q of [{ limit: '0' }, { limit: '101' }, { limit: 'abc' }, { order: 'sideways' }]) {
      const r = await t.api('GET', `${P}?${new URLSearchParams(q)}`);
      assertErrorShape(r, 400, `list ${JSON.stringify(q)}`);
    }
    assertPage(await listPage(t, P, { limit: '100' }), rev, false, 'limit 100 accepted');
    assertPage(await listPage(t, P, { limit: '1', order: 'asc' }), ids.slice(0, 1), true, 'limit 1 accepted');
  });

  it('validation: code_interpreter and file_search tools → 400, model missing → 400, metadata limits', T, async () => {
    const t = await tenant();
    const c = t.client.beta.assistants;
    await expectStatus(c.create({ model: MOCK, tools: [{ type: 'code_interpreter' }] }), 400, 'code_interpreter');
    await expectStatus(c.create({ model: MOCK, tools: [{ type: 'file_search' }] }), 400, 'file_search');
    await expectStatus(c.create({}), 400, 'missing model');
    const m16 = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'v']));
    const m17 = { ...m16, k16: 'v' };
    const ok = await c.create({ model: MOCK, metadata: m16 });
    assert.deepEqual(ok.metadata, m16, '16 metadata pairs accepted');
    await expectStatus(c.create({ model: MOCK, metadata: m17 }), 400, '17 metadata keys');
    await expectStatus(c.create({ model: MOCK, metadata: { ['k'.repeat(65)]: 'v' } }), 400, 'metadata key > 64');
    await expectStatus(c.create({ model: MOCK, metadata: { k: 'v'.repeat(513) } }), 400, 'metadata value > 512');
    await expectStatus(c.update(ok.id, { metadata: { ...m16, extra: 'x' } }), 400, 'update to 17 keys');
    // Nothing was created by the refused calls.
    const all = await listPage(t, '/v1/assistants', { limit: '100' });
    assert.deepEqual(all.data.map((x) => x.id), [ok.id]);
  });
});

// ---- 2. threads and messages ---------------------------------------------------

describe('threads and messages', () => {
  it('thread with initial messages; retrieve/update/delete', T, async () => {
    const t = await tenant();
    const th = await t.client.beta.threads.create({
      messages: [
        { role: 'user', content: 'hello one' },
        { role: 'assistant', content: 'reply two' },
        { role: 'user', content: [{ type: 'text', text: 'array three' }], metadata: { part: '3' } },
      ],
      metadata: { topic: 'x' },
    });
    assert.match(th.id, /^thread_/);
    assert.equal(th.object, 'thread');
    assert.deepEqual(th.metadata, { topic: 'x' });
    assert.ok(Number.isInteger(th.created_at));
    const msgs = await messagesAsc(t, th.id);
    assert.deepEqual(msgs.map((m) => [m.role, textOf(m)]), [['user', 'hello one'], ['assistant', 'reply two'], ['user', 'array three']]);
    for (const m of msgs) {
      assert.match(m.id, /^msg_/);
      assert.equal(m.object, 'thread.message');
      assert.equal(m.thread_id, th.id);
      assert.equal(m.status, 'completed');
      assert.equal(m.run_id, null);
      assert.equal(m.assistant_id, null);
      assert.equal(m.content[0].type, 'text');
      assert.deepEqual(m.content[0].text.annotations, []);
    }
    assert.deepEqual(msgs[2].metadata, { part: '3' });
    assert.deepEqual(await t.client.beta.threads.retrieve(th.id), th);
    const up = await t.client.beta.threads.update(th.id, { metadata: { topic: 'y', more: '1' } });
    assert.deepEqual(up.metadata, { topic: 'y', more: '1' });
    assert.equal(up.id, th.id);
    assert.deepEqual((await t.client.beta.threads.retrieve(th.id)).metadata, { topic: 'y', more: '1' });
    const d = await t.client.beta.threads.delete(th.id);
    assert.deepEqual(d, { id: th.id, object: 'thread.deleted', deleted: true });
    await expectStatus(t.client.beta.threads.retrieve(th.id), 404, 'deleted thread');
    await expectStatus(t.client.beta.threads.messages.list(th.id), 404, 'messages of a deleted thread');
    await expectStatus(t.client.beta.threads.messages.retrieve(msgs[0].id, { thread_id: th.id }), 404, 'message of a deleted thread');
    await expectStatus(t.client.beta.threads.retrieve('thread_doesnotexist'), 404, 'unknown thread');
    const empty = await t.client.beta.threads.create();
    assert.deepEqual((await t.client.beta.threads.messages.list(empty.id)).data, [], 'a thread without messages');
  });

  it('messages CRUD, order and pagination', T, async () => {
    const t = await tenant();
    const th = await t.client.beta.threads.create();
    const M = t.client.beta.threads.messages;
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await M.create(th.id, { role: 'user', content: `message number ${i}` })).id);
    const m = await M.create(th.id, { role: 'user', content: 'with metadata', metadata: { a: '1' } });
    ids.push(m.id);
    assert.equal(m.object, 'thread.message');
    assert.equal(m.role, 'user');
    assert.equal(textOf(m), 'with metadata');
    assert.deepEqual(m.metadata, { a: '1' });
    assert.deepEqual(await M.retrieve(m.id, { thread_id: th.id }), m);
    const u = await M.update(m.id, { thread_id: th.id, metadata: { a: '2' } });
    assert.deepEqual(u.metadata, { a: '2' });
    assert.equal(textOf(u), 'with metadata');
    // order: desc by default
    const desc = (await M.list(th.id)).data.map((x) => x.id);
    assert.deepEqual(desc, [...ids].reverse(), 'default order desc');
    const P = `/v1/threads/${th.id}/messages`;
    assertPage(await listPage(t, P, { limit: '2', order: 'asc' }), ids.slice(0, 2), true, 'msgs asc p1');
    assertPage(await listPage(t, P, { limit: '2', order: 'asc', after: ids[1] }), ids.slice(2, 4), true, 'msgs asc p2');
    assertPage(await listPage(t, P, { limit: '2', order: 'asc', after: ids[3] }), ids.slice(4, 6), false, 'msgs asc p3 (exact end)');
    assertPage(await listPage(t, P, { limit: '4', order: 'desc', after: ids[4] }), [ids[3], ids[2], ids[1], ids[0]], false, 'msgs desc after');
    // delete
    const d = await M.delete(ids[2], { thread_id: th.id });
    assert.deepEqual(d, { id: ids[2], object: 'thread.message.deleted', deleted: true });
    await expectStatus(M.retrieve(ids[2], { thread_id: th.id }), 404, 'deleted message');
    assert.deepEqual((await M.list(th.id, { order: 'asc' })).data.map((x) => x.id), ids.filter((_, i) => i !== 2));
    // a message id under another thread of the same company → 404
    const other = await t.client.beta.threads.create();
    await expectStatus(M.retrieve(ids[0], { thread_id: other.id }), 404, 'message under the wrong thread');
    // validation
    await expectStatus(M.create(th.id, { role: 'system', content: 'x' }), 400, 'role system');
    await expectStatus(M.create(th.id, { role: 'user' }), 400, 'no content');
    await expectStatus(M.create(th.id, { role: 'user', content: 'x', metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }), 400, '17 metadata keys on a message');
  });

  it('metadata validation on threads (17 keys → 400, 16 fine)', T, async () => {
    const t = await tenant();
    const m16 = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`key${i}`, `value${i}`]));
    const ok = await t.client.beta.threads.create({ metadata: m16 });
    assert.deepEqual(ok.metadata, m16);
    await expectStatus(t.client.beta.threads.create({ metadata: { ...m16, key16: 'v' } }), 400, 'create with 17 keys');
    await expectStatus(t.client.beta.threads.update(ok.id, { metadata: { ...m16, key16: 'v' } }), 400, 'update to 17 keys');
    await expectStatus(t.client.beta.threads.create({ metadata: { k: 7 } }), 400, 'non-string metadata value');
    assert.deepEqual((await t.client.beta.threads.retrieve(ok.id)).metadata, m16, 'refused update changed nothing');
  });

  it('messages list filtered by run_id', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t);
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `first ${nonce()}` }] });
    const r1 = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(r1.status, 'completed', JSON.stringify(r1.last_error));
    await t.client.beta.threads.messages.create(th.id, { role: 'user', content: `second ${nonce()}` });
    const r2 = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(r2.status, 'completed', JSON.stringify(r2.last_error));
    const all = await messagesAsc(t, th.id);
    assert.deepEqual(all.map((m) => m.role), ['user', 'assistant', 'user', 'assistant']);
    for (const [run, idx] of [[r1, 1], [r2, 3]]) {
      const got = (await t.client.beta.threads.messages.list(th.id, { run_id: run.id })).data;
      assert.deepEqual(got.map((m) => m.id), [all[idx].id], `run_id filter for ${run.id}`);
      assert.equal(got[0].run_id, run.id);
      assert.equal(got[0].assistant_id, a.id);
      assert.equal(textOf(got[0]), textOf(all[idx - 1]), 'the echo of the user message before it');
    }
    assert.deepEqual((await t.client.beta.threads.messages.list(th.id, { run_id: 'run_unknown' })).data, [], 'unknown run id filters everything out');
  });
});

// ---- 3. runs: poll -----------------------------------------------------------------

describe('runs on mock/echo', () => {
  it('createAndPoll completes; the echo message, steps with oag, usage = steps = ledger, wallet charged exactly', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t, { tools: [weatherFn] });
    const text = `Echo this sentence please ${nonce()}`;
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: text }] });
    const w0 = await t.wallet();
    const t0 = Math.floor(Date.now() / 1000);
    const created = await t.client.beta.threads.runs.create(th.id, { assistant_id: a.id });
    assert.match(created.id, /^run_/);
    assert.equal(created.object, 'thread.run');
    assert.equal(created.thread_id, th.id);
    assert.equal(created.assistant_id, a.id);
    assert.equal(created.model, MOCK);
    assert.equal(created.instructions, 'You are a parrot.');
    assert.deepEqual(created.tools, a.tools);
    assert.ok(Math.abs(created.created_at - t0) <= 5);
    if (['queued', 'in_progress'].includes(created.status)) assert.equal(created.expires_at, created.created_at + 600, 'expires_at = created_at + 600');
    else assert.fail(`a newly created run is queued or in_progress, got ${created.status}`);
    const run = await t.client.beta.threads.runs.poll(created.id, { thread_id: th.id }, POLL);
    assert.equal(run.status, 'completed', `last_error: ${JSON.stringify(run.last_error)}`);
    assert.equal(run.last_error, null);
    assert.ok(Number.isInteger(run.started_at) && Number.isInteger(run.completed_at), 'started_at, completed_at');
    assert.ok(run.completed_at >= run.started_at && run.started_at >= run.created_at);
    assert.equal(run.required_action, null);
    assert.equal(run.failed_at, null);
    assert.equal(run.cancelled_at, null);

    const msgs = await messagesAsc(t, th.id);
    assert.equal(msgs.length, 2);
    const reply = msgs[1];
    assert.equal(reply.role, 'assistant');
    assert.equal(textOf(reply), text, 'mock/echo echoes the last user message');
    assert.equal(reply.run_id, run.id);
    assert.equal(reply.assistant_id, a.id);
    assert.equal(reply.status, 'completed');

    const ss = await steps(t, th.id, run.id);
    assert.equal(ss.length, 1, `one step: ${JSON.stringify(ss)}`);
    const s = ss[0];
    assert.match(s.id, /^step_/);
    assert.equal(s.object, 'thread.run.step');
    assert.equal(s.type, 'message_creation');
    assert.equal(s.status, 'completed');
    assert.equal(s.run_id, run.id);
    assert.equal(s.thread_id, th.id);
    assert.equal(s.assistant_id, a.id);
    assert.deepEqual(s.step_details, { type: 'message_creation', message_creation: { message_id: reply.id } });
    assert.equal(s.oag.model, MOCK);
    assert.match(s.oag.response_id, /^chatcmpl-/);
    assert.equal(s.oag.usage.completion_tokens, wordsOf(text), 'completion tokens = words of the echo');
    // Empty layers (no company instructions set here) may be left out or empty.
    const stack = s.oag.prompt_stack.filter((l) => !(l.content == null || l.content === '' || (Array.isArray(l.content) && !l.content.length)));
    assert.deepEqual(stack, [
      { layer: 'system', content: PLATFORM_PROMPT },
      { layer: 'persona', content: 'You are a parrot.' },
      { layer: 'tools', content: ['get_weather'] },
    ], `prompt stack: ${JSON.stringify(s.oag.prompt_stack)}`);
    // Each text layer and the thread message are messages of the prompt.
    const minPrompt = wordsOf(PLATFORM_PROMPT) + wordsOf('You are a parrot.') + wordsOf(text);
    assert.ok(s.oag.usage.prompt_tokens >= minPrompt + 3 * 2, `prompt tokens ${s.oag.usage.prompt_tokens} cover the stack and the thread`);
    assert.deepEqual(await t.client.beta.threads.runs.steps.retrieve(s.id, { thread_id: th.id, run_id: run.id }), s, 'step retrieve = list entry');

    await checkRunMoney(t, run, ss, MOCK, w0);
    // The run shows up in the thread's runs.
    const runs = (await t.client.beta.threads.runs.list(th.id)).data;
    assert.deepEqual(runs.map((r) => r.id), [run.id]);
    assert.deepEqual(await t.client.beta.threads.runs.retrieve(run.id, { thread_id: th.id }), run);
    // metadata on a run can be modified
    const mod = await t.client.beta.threads.runs.update(run.id, { thread_id: th.id, metadata: { tag: 'x' } });
    assert.deepEqual(mod.metadata, { tag: 'x' });
  });
});

describe('runs and steps lists', () => {
  it('runs list and steps list paginate by creation order', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t, { tools: [weatherFn] });
    const th = await t.client.beta.threads.create();
    const runIds = [];
    for (let i = 0; i < 3; i++) {
      await t.client.beta.threads.messages.create(th.id, { role: 'user', content: `turn ${i} ${nonce()}` });
      const r = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
      assert.equal(r.status, 'completed');
      runIds.push(r.id);
    }
    const P = `/v1/threads/${th.id}/runs`;
    assertPage(await listPage(t, P, { limit: '2', order: 'asc' }), runIds.slice(0, 2), true, 'runs asc p1');
    assertPage(await listPage(t, P, { limit: '2', order: 'asc', after: runIds[1] }), runIds.slice(2), false, 'runs asc p2');
    assertPage(await listPage(t, P, {}), [...runIds].reverse(), false, 'runs default desc');
    // a run with two steps (tool call, then the answer)
    await t.client.beta.threads.messages.create(th.id, { role: 'user', content: `tool ${nonce()} #mock:tool=get_weather:{"city":"Oslo"}` });
    const r = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(r.status, 'requires_action');
    const fin = await t.client.beta.threads.runs.submitToolOutputsAndPoll(r.id, { thread_id: th.id, tool_outputs: [{ tool_call_id: r.required_action.submit_tool_outputs.tool_calls[0].id, output: 'ok' }] }, POLL);
    assert.equal(fin.status, 'completed');
    const S = `/v1/threads/${th.id}/runs/${r.id}/steps`;
    const all = await listPage(t, S, { order: 'asc' });
    assert.deepEqual(all.data.map((s) => s.type), ['tool_calls', 'message_creation']);
    const ids = all.data.map((s) => s.id);
    assertPage(await listPage(t, S, { limit: '1', order: 'asc' }), ids.slice(0, 1), true, 'steps asc p1');
    assertPage(await listPage(t, S, { limit: '1', order: 'asc', after: ids[0] }), ids.slice(1), false, 'steps asc p2');
    assertPage(await listPage(t, S, {}), [...ids].reverse(), false, 'steps default desc');
    // steps of another run of the same thread are not listed
    await expectStatus(t.client.beta.threads.runs.steps.retrieve(ids[0], { thread_id: th.id, run_id: runIds[0] }), 404, 'step under the wrong run');
  });
});

// ---- 4. streaming -----------------------------------------------------------------

const TEXT_EVENTS = [
  'thread.run.created',
  'thread.run.queued',
  'thread.run.in_progress',
  'thread.run.step.created',
  'thread.run.step.in_progress',
  'thread.message.created',
  'thread.message.in_progress',
  'thread.message.delta*',
  'thread.message.completed',
  'thread.run.step.completed',
  'thread.run.completed',
];

describe('streaming runs', () => {
  it('runs.stream: exact event order for a text answer; finalMessages/finalRun', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t);
    const text = `stream me word by word ${nonce()}`;
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: text }] });
    const w0 = await t.wallet();
    const { events, names, run, messages } = await drain(t.client.beta.threads.runs.stream(th.id, { assistant_id: a.id }));
    assert.deepEqual(squash(names), TEXT_EVENTS, `event order: ${names.join(' ')}`);
    const deltas = events.filter((e) => e.event === 'thread.message.delta');
    assert.ok(deltas.length >= 1);
    assert.equal(deltas.length, wordsOf(text), 'one delta per word of the mock stream');
    const runIds = new Set(events.filter((e) => e.event.startsWith('thread.run.') && !e.event.startsWith('thread.run.step')).map((e) => e.data.id));
    assert.equal(runIds.size, 1, 'one run id throughout');
    for (const e of events) {
      if (/^thread\.run\.[a-z_]+$/.test(e.event)) assert.equal(e.data.object, 'thread.run', e.event);
      else if (/^thread\.run\.step\.(created|in_progress|completed)$/.test(e.event)) {
        assert.equal(e.data.object, 'thread.run.step', e.event);
        assert.equal(e.data.type, 'message_creation');
      } else if (e.event === 'thread.message.delta') {
        assert.equal(e.data.object, 'thread.message.delta');
        assert.equal(e.data.delta.content[0].type, 'text');
        assert.equal(e.data.delta.content[0].index, 0);
        assert.equal(typeof e.data.delta.content[0].text.value, 'string');
      } else if (e.event.startsWith('thread.message.')) assert.equal(e.data.object, 'thread.message', e.event);
    }
    const msgId = events.find((e) => e.event === 'thread.message.created').data.id;
    for (const d of deltas) assert.equal(d.data.id, msgId, 'deltas carry the message id');
    assert.equal(run.status, 'completed');
    assert.ok(run.usage);
    assert.equal(messages.length, 1);
    assert.equal(messages[0].id, msgId);
    assert.equal(textOf(messages[0]), text, 'finalMessages text = echo');
    assert.equal(await lastAssistantText(t, th.id), text, 'the stored message equals the streamed one');
    const stepDone = events.find((e) => e.event === 'thread.run.step.completed').data;
    assert.deepEqual(stepDone.step_details.message_creation, { message_id: msgId });
    const retrieved = await t.client.beta.threads.runs.retrieve(run.id, { thread_id: th.id });
    assert.equal(retrieved.status, 'completed');
    assert.deepEqual(retrieved.usage, run.usage, 'stored usage = streamed usage');
    await checkRunMoney(t, retrieved, await steps(t, th.id, run.id), MOCK, w0);
  });

  it('raw SSE: event: lines on every frame, ends with event: done / data: [DONE]', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t);
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `raw frames ${nonce()}` }] });
    const r = await oag.stream(`/v1/threads/${th.id}/runs`, { assistant_id: a.id, stream: true }, { token: t.key, headers: BETA });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') || '', /^text\/event-stream/);
    assert.equal(r.error, null);
    assert.ok(r.events.length > 5, `frames: ${r.text.slice(0, 500)}`);
    for (const e of r.events) assert.ok(e.event, `every frame has an event: line: ${JSON.stringify(e)}`);
    const last = r.events.at(-1);
    assert.equal(last.event, 'done');
    assert.equal(last.data, '[DONE]');
    assert.equal(r.events.filter((e) => e.data === '[DONE]').length, 1);
    for (const e of r.events.slice(0, -1)) {
      assert.ok(e.json, `data is JSON for ${e.event}`);
      assert.match(e.event, /^thread\./);
    }
    assert.deepEqual(squash(r.events.slice(0, -1).map((e) => e.event)), TEXT_EVENTS);
    assert.ok(/(^|\n)event: thread\.run\.created\ndata: \{/.test(r.text), 'event line directly followed by its data line');
    assert.ok(r.text.endsWith('event: done\ndata: [DONE]\n\n'), `ends with the done frame: ${JSON.stringify(r.text.slice(-60))}`);
  });
});

// ---- 5. client-side function tools ---------------------------------------------------

describe('function tools (client-side)', () => {
  it('requires_action with the tool call; busy thread refuses; wrong id 400; submitToolOutputsStream completes', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t, { tools: [weatherFn] });
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `Weather please ${nonce()} #mock:tool=get_weather:{"city":"Oslo"}` }] });
    const w0 = await t.wallet();
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'requires_action', JSON.stringify(run.last_error));
    assert.equal(run.expires_at, run.created_at + 600, 'expires_at = created_at + 600 while parked');
    assert.equal(run.required_action.type, 'submit_tool_outputs');
    const calls = run.required_action.submit_tool_outputs.tool_calls;
    assert.equal(calls.length, 1);
    assert.match(calls[0].id, /^call_/);
    assert.equal(calls[0].type, 'function');
    assert.equal(calls[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(calls[0].function.arguments), { city: 'Oslo' });
    const parked = await steps(t, th.id, run.id);
    assert.equal(parked.length, 1);
    assert.equal(parked[0].type, 'tool_calls');
    assert.equal(parked[0].status, 'in_progress');
    assert.equal(parked[0].step_details.tool_calls[0].id, calls[0].id);
    assert.equal(parked[0].step_details.tool_calls[0].function.name, 'get_weather');
    assert.equal(parked[0].step_details.tool_calls[0].function.output, null);

    // A thread with an active run refuses new messages and runs.
    await expectStatus(t.client.beta.threads.messages.create(th.id, { role: 'user', content: 'more' }), 400, 'message on a busy thread');
    await expectStatus(t.client.beta.threads.runs.create(th.id, { assistant_id: a.id }), 400, 'run on a busy thread');
    // A wrong tool_call_id is refused and leaves the run parked.
    await expectStatus(
      t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: th.id, tool_outputs: [{ tool_call_id: 'call_nope', output: 'x' }] }),
      400,
      'wrong tool_call_id',
    );
    await expectStatus(t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: th.id, tool_outputs: [] }), 400, 'no outputs');
    assert.equal((await t.client.beta.threads.runs.retrieve(run.id, { thread_id: th.id })).status, 'requires_action');

    const output = 'Sunny and 21C in Oslo';
    const { names, run: fin, messages } = await drain(
      t.client.beta.threads.runs.submitToolOutputsStream(run.id, { thread_id: th.id, tool_outputs: [{ tool_call_id: calls[0].id, output }] }),
    );
    assert.equal(fin.status, 'completed', `events: ${names.join(' ')}`);
    assert.equal(fin.id, run.id);
    assert.deepEqual(
      squash(names),
      ['thread.run.step.completed', 'thread.run.queued', 'thread.run.in_progress', ...TEXT_EVENTS.slice(3)],
      `events after submit: ${names.join(' ')}`,
    );
    assert.equal(messages.length, 1);
    assert.equal(textOf(messages[0]), output, 'mock answers with the tool output');
    assert.equal(await lastAssistantText(t, th.id), output);
    const ss = await steps(t, th.id, run.id);
    assert.deepEqual(ss.map((s) => [s.type, s.status]), [['tool_calls', 'completed'], ['message_creation', 'completed']]);
    assert.equal(ss[0].step_details.tool_calls[0].function.output, output, 'the tool step shows the output');
    assert.deepEqual(JSON.parse(ss[0].step_details.tool_calls[0].function.arguments), { city: 'Oslo' });
    const stored = await t.client.beta.threads.runs.retrieve(run.id, { thread_id: th.id });
    await checkRunMoney(t, stored, ss, MOCK, w0);
    // Submitting again to a completed run → 400.
    await expectStatus(
      t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: th.id, tool_outputs: [{ tool_call_id: calls[0].id, output }] }),
      400,
      'submit to a completed run',
    );
    // The thread takes messages again.
    await t.client.beta.threads.messages.create(th.id, { role: 'user', content: 'thanks' });
  });

  it('parallel tool calls need all outputs in one submit (submitToolOutputsAndPoll)', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t, { tools: [weatherFn] });
    const th = await t.client.beta.threads.create({
      messages: [{ role: 'user', content: `two cities ${nonce()} #mock:tool=get_weather:{"city":"Oslo"} #mock:tool=get_weather:{"city":"Paris"}` }],
    });
    const w0 = await t.wallet();
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'requires_action', JSON.stringify(run.last_error));
    const calls = run.required_action.submit_tool_outputs.tool_calls;
    assert.equal(calls.length, 2);
    assert.notEqual(calls[0].id, calls[1].id);
    assert.deepEqual(calls.map((c) => JSON.parse(c.function.arguments).city), ['Oslo', 'Paris']);
    await expectStatus(
      t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: th.id, tool_outputs: [{ tool_call_id: calls[0].id, output: 'rain' }] }),
      400,
      'only one of two outputs',
    );
    assert.equal((await t.client.beta.threads.runs.retrieve(run.id, { thread_id: th.id })).status, 'requires_action');
    const fin = await t.client.beta.threads.runs.submitToolOutputsAndPoll(
      run.id,
      { thread_id: th.id, tool_outputs: [{ tool_call_id: calls[1].id, output: 'Paris: sun' }, { tool_call_id: calls[0].id, output: 'Oslo: rain' }] },
      POLL,
    );
    assert.equal(fin.status, 'completed', JSON.stringify(fin.last_error));
    const reply = await lastAssistantText(t, th.id);
    assert.ok(reply.includes('Oslo: rain') && reply.includes('Paris: sun'), `both outputs reached the model: ${reply}`);
    assert.equal(reply, 'Oslo: rain\nParis: sun', 'tool messages go upstream in call order');
    const ss = await steps(t, th.id, run.id);
    assert.deepEqual(ss.map((s) => s.type), ['tool_calls', 'message_creation']);
    assert.deepEqual(ss[0].step_details.tool_calls.map((c) => c.function.output), ['Oslo: rain', 'Paris: sun']);
    await checkRunMoney(t, fin, ss, MOCK, w0);
  });

  it('runs.stream with a function call: tool_calls step, step deltas, ends at requires_action', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t, { tools: [weatherFn] });
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `stream a call ${nonce()} #mock:tool=get_weather:{"city":"Bergen"}` }] });
    const { events, names, run } = await drain(t.client.beta.threads.runs.stream(th.id, { assistant_id: a.id }));
    assert.equal(run.status, 'requires_action', names.join(' '));
    assert.deepEqual(
      squash(names),
      ['thread.run.created', 'thread.run.queued', 'thread.run.in_progress', 'thread.run.step.created', 'thread.run.step.in_progress', 'thread.run.step.delta*', 'thread.run.requires_action'],
      `events: ${names.join(' ')}`,
    );
    assert.equal(events.find((e) => e.event === 'thread.run.step.created').data.type, 'tool_calls');
    const firstDelta = events.find((e) => e.event === 'thread.run.step.delta').data;
    assert.equal(firstDelta.object, 'thread.run.step.delta');
    assert.equal(firstDelta.delta.step_details.type, 'tool_calls');
    assert.equal(firstDelta.delta.step_details.tool_calls[0].function.name, 'get_weather');
    const args = events
      .filter((e) => e.event === 'thread.run.step.delta')
      .map((e) => e.data.delta.step_details.tool_calls[0].function?.arguments ?? '')
      .join('');
    assert.deepEqual(JSON.parse(args), { city: 'Bergen' }, 'argument fragments concatenate to the arguments');
    const call = run.required_action.submit_tool_outputs.tool_calls[0];
    const fin = await t.client.beta.threads.runs.submitToolOutputsAndPoll(run.id, { thread_id: th.id, tool_outputs: [{ tool_call_id: call.id, output: 'fog' }] }, POLL);
    assert.equal(fin.status, 'completed');
    assert.equal(await lastAssistantText(t, th.id), 'fog');
  });
});

describe('races and limits', () => {
  it('concurrent runs on one thread: exactly one is accepted, the others 400', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t, { tools: [weatherFn] });
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `race ${nonce()} #mock:tool=get_weather:{"city":"Oslo"}` }] });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => t.client.beta.threads.runs.create(th.id, { assistant_id: a.id })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const bad = results.filter((r) => r.status === 'rejected');
    assert.equal(ok.length, 1, `exactly one run accepted: ${results.map((r) => (r.status === 'fulfilled' ? r.value.id : r.reason.status)).join(',')}`);
    for (const r of bad) assert.equal(r.reason.status, 400, String(r.reason));
    const runs = (await t.client.beta.threads.runs.list(th.id)).data;
    assert.deepEqual(runs.map((r) => r.id), [ok[0].value.id], 'only the accepted run exists');
    const parked = await t.client.beta.threads.runs.poll(ok[0].value.id, { thread_id: th.id }, POLL);
    assert.equal(parked.status, 'requires_action');
    assert.equal((await t.ledger()).length, 1, 'one model call charged');
  });

  it('concurrent submit_tool_outputs: one wins, the others 400; the continuation runs once', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t, { tools: [weatherFn] });
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `double submit ${nonce()} #mock:tool=get_weather:{"city":"Oslo"}` }] });
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'requires_action');
    const id = run.required_action.submit_tool_outputs.tool_calls[0].id;
    const results = await Promise.allSettled(
      ['first', 'second', 'third'].map((o) => t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: th.id, tool_outputs: [{ tool_call_id: id, output: o }] })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    assert.equal(ok.length, 1, `exactly one submit accepted: ${results.map((r) => (r.status === 'fulfilled' ? 'ok' : r.reason.status)).join(',')}`);
    for (const r of results.filter((x) => x.status === 'rejected')) assert.equal(r.reason.status, 400);
    const fin = await t.client.beta.threads.runs.poll(run.id, { thread_id: th.id }, POLL);
    assert.equal(fin.status, 'completed');
    const msgs = await messagesAsc(t, th.id);
    assert.equal(msgs.filter((m) => m.role === 'assistant').length, 1, 'one answer');
    assert.ok(['first', 'second', 'third'].includes(textOf(msgs.at(-1))));
    assert.equal((await t.ledger()).length, 2, 'two model calls charged, not more');
  });

  it('no credit: the run fails (or is refused with 402) with a clear quota error; nothing charged', T, async () => {
    const t = await tenant({ credit: '0' });
    const a = await echoAssistant(t);
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'broke' }] });
    let run = null;
    try {
      run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    } catch (e) {
      assert.ok(e instanceof APIError && e.status === 402, `refused with 402: ${e}`);
    }
    if (run) {
      assert.equal(run.status, 'failed', JSON.stringify(run));
      assert.match(`${run.last_error?.code} ${run.last_error?.message}`, /quota|insufficient|balance|credit|funds/i, JSON.stringify(run.last_error));
    }
    assert.deepEqual(await t.ledger(), []);
    const w = await t.wallet();
    assert.equal(w.spent_uot, 0);
    assert.equal(w.reserved_uot, 0);
  });

  it('a streaming client that disconnects does not stop the run: it completes and is stored', T, async () => {
    const t = await tenant({ fake });
    const a = await t.client.beta.assistants.create({ model: 'fake/gpt-4o-mini' });
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'long answer please' }] });
    fake.reset();
    const text = 'one two three four five six seven eight nine ten';
    fake.next({ text, usage: { prompt_tokens: 10, completion_tokens: 10 }, split: 40, writeDelayMs: 30 });
    const controller = new AbortController();
    const stream = t.client.beta.threads.runs.stream(th.id, { assistant_id: a.id }, { signal: controller.signal });
    let runId = null;
    let gotDelta = false;
    stream.on('event', (e) => {
      if (e.event === 'thread.run.created') runId = e.data.id;
      if (e.event === 'thread.message.delta' && !gotDelta) {
        gotDelta = true;
        controller.abort();
      }
    });
    await stream.done().catch(() => {});
    assert.ok(runId && gotDelta, 'the stream started before the disconnect');
    const fin = await waitFor(async () => {
      const r = await t.client.beta.threads.runs.retrieve(runId, { thread_id: th.id });
      return ['completed', 'failed', 'cancelled', 'incomplete', 'expired'].includes(r.status) ? r : null;
    }, { what: 'the run to finish after the disconnect', timeoutMs: 10000 });
    assert.equal(fin.status, 'completed', JSON.stringify(fin.last_error));
    assert.equal(await lastAssistantText(t, th.id), text);
    assert.equal((await t.ledger()).length, 1);
  });
});

// ---- 6. server-side HTTP tools ---------------------------------------------------

const weatherParams = {
  type: 'object',
  properties: { city: { type: 'string' }, units: { type: 'string', enum: ['metric', 'imperial'] } },
  required: ['city'],
  additionalProperties: false,
};

async function createTool(t, spec) {
  const r = await t.post('/v1/tools', spec);
  assert.ok(r.status === 200 || r.status === 201, `POST /v1/tools ${spec.name}: ${r.status} ${r.text}`);
  return r.json;
}

async function toolTenant({ allow = true } = {}) {
  const t = await tenant();
  if (allow) await putSettings(t, { tool_network_allowlist: ['127.0.0.1'] });
  const secret = `sekrit-${nonce()}-${nonce()}`;
  const s = await t.api('PUT', '/v1/secrets/weather_key', { value: secret });
  assert.ok(s.status === 200 || s.status === 201, `PUT secret: ${s.status} ${s.text}`);
  const weather = await createTool(t, {
    name: 'lookup_weather',
    description: 'Weather from the weather service',
    parameters: weatherParams,
    endpoint: { method: 'POST', url: `${svc.origin}/weather/{city}`, headers: { 'X-Api-Key': '{{secret:weather_key}}' }, timeout_ms: 3000 },
  });
  const time = await createTool(t, {
    name: 'lookup_time',
    description: 'Local time',
    parameters: { type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'] },
    endpoint: { method: 'GET', url: `${svc.origin}/time`, timeout_ms: 3000 },
  });
  const fnOf = (name, parameters) => ({ type: 'function', function: { name, parameters } });
  const a = await t.client.beta.assistants.create({
    model: MOCK,
    instructions: 'Use tools.',
    tools: [fnOf('lookup_weather', weatherParams), fnOf('lookup_time', time.parameters)],
  });
  return { t, a, secret, weather, time };
}

describe('server-side tools', () => {
  it('tools and secrets CRUD: value never returned; validation', T, async () => {
    const t = await tenant();
    const secret = `value-${nonce()}`;
    const s = await t.api('PUT', '/v1/secrets/api_token', { value: secret });
    assert.ok(s.status === 200 || s.status === 201, `${s.status} ${s.text}`);
    assert.equal(s.json.object, 'secret');
    assert.equal(s.json.name, 'api_token');
    assert.ok(Number.isInteger(s.json.created_at));
    assert.ok(!('value' in s.json) && !s.text.includes(secret), 'the value is never returned');
    const s2 = await t.api('PUT', '/v1/secrets/api_token', { value: `${secret}-rotated` });
    assert.ok(s2.status === 200 || s2.status === 201, 'a secret can be overwritten');
    const ls = await t.api('GET', '/v1/secrets');
    assert.equal(ls.status, 200, ls.text);
    assert.deepEqual(ls.json.data.map((x) => x.name), ['api_token']);
    assert.ok(!ls.text.includes(secret), 'the list shows no values');
    {
      // An invalid name: refused as invalid (400) or as an unknown path (404), never stored.
      const r = await t.api('PUT', '/v1/secrets/bad%20name', { value: 'x' });
      assert.ok(r.status === 400 || r.status === 404, `secret name with a space: ${r.status} ${r.text}`);
    }
    assertErrorShape(await t.api('PUT', '/v1/secrets/novalue', {}), 400, 'secret without value');

    const spec = {
      name: 'lookup_weather',
      description: 'Weather',
      parameters: weatherParams,
      endpoint: { method: 'POST', url: `${svc.origin}/weather/{city}`, headers: { 'X-Api-Key': '{{secret:api_token}}' }, timeout_ms: 1500 },
    };
    const tool = await createTool(t, spec);
    assert.match(tool.id, /^tool_/);
    assert.equal(tool.object, 'tool');
    assert.equal(tool.name, spec.name);
    assert.equal(tool.description, spec.description);
    assert.deepEqual(tool.parameters, spec.parameters);
    assert.equal(tool.endpoint.url, spec.endpoint.url);
    assert.equal(tool.endpoint.method, 'POST');
    assert.deepEqual(tool.endpoint.headers, spec.endpoint.headers, 'the header template, not the resolved secret');
    assert.ok(Number.isInteger(tool.created_at));
    const got = await t.get(`/v1/tools/${tool.id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.json, tool);
    assert.ok(!got.text.includes(secret));
    const list = await t.get('/v1/tools');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.data.map((x) => x.id), [tool.id]);
    const upd = await t.post(`/v1/tools/${tool.id}`, { description: 'Weather, updated' });
    assert.equal(upd.status, 200, upd.text);
    assert.equal(upd.json.description, 'Weather, updated');
    assert.equal(upd.json.endpoint.url, spec.endpoint.url, 'update keeps the other fields');
    // validation
    for (const [what, bad] of [
      ['no name', { ...spec, name: undefined }],
      ['bad name', { ...spec, name: 'bad name!' }],
      ['no endpoint', { ...spec, name: 'x1', endpoint: undefined }],
      ['bad url', { ...spec, name: 'x2', endpoint: { ...spec.endpoint, url: 'not a url' } }],
      ['bad method', { ...spec, name: 'x3', endpoint: { ...spec.endpoint, method: 'FETCH' } }],
      ['parameters not an object schema', { ...spec, name: 'x4', parameters: 'string' }],
    ]) {
      assertErrorShape(await t.post('/v1/tools', bad), 400, what);
    }
    const del = await t.api('DELETE', `/v1/tools/${tool.id}`);
    assert.equal(del.status, 200, del.text);
    assert.equal((await t.get(`/v1/tools/${tool.id}`)).status, 404);
    assert.deepEqual((await t.get('/v1/tools')).json.data, []);
    const ds = await t.api('DELETE', '/v1/secrets/api_token');
    assert.equal(ds.status, 200, ds.text);
    assert.deepEqual((await t.api('GET', '/v1/secrets')).json.data, []);
    assert.equal((await t.api('DELETE', '/v1/secrets/api_token')).status, 404, 'delete twice');
  });

  it('executes a registered tool: secret header, URL placeholder, body args; no requires_action; tool step with output', T, async () => {
    const { t, a, secret } = await toolTenant();
    const city = `Oslo${nonce()}`;
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `weather? #mock:tool=lookup_weather:{"city":"${city}","units":"metric"}` }] });
    svc.reset();
    const w0 = await t.wallet();
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'completed', `status ${run.status}, last_error ${JSON.stringify(run.last_error)}`);
    const got = svc.matching('/weather/');
    assert.equal(got.length, 1, 'the service was called once');
    assert.equal(got[0].method, 'POST');
    assert.equal(got[0].path, `/weather/${city}`, 'URL placeholder filled');
    assert.equal(got[0].headers['x-api-key'], secret, 'secret resolved into the header');
    assert.deepEqual(got[0].body, { units: 'metric' }, 'the other arguments as the JSON body');
    assert.match(got[0].headers['content-type'] || '', /application\/json/);
    const ss = await steps(t, th.id, run.id);
    assert.deepEqual(ss.map((s) => [s.type, s.status]), [['tool_calls', 'completed'], ['message_creation', 'completed']]);
    const call = ss[0].step_details.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'lookup_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city, units: 'metric' });
    assert.equal(typeof call.function.output, 'string');
    assert.ok(call.function.output.includes('21.5') && call.function.output.includes(city), `output holds the service answer: ${call.function.output}`);
    const reply = await lastAssistantText(t, th.id);
    assert.ok(reply.includes('21.5'), `the model got the tool result: ${reply}`);
    for (const s of ss) assert.ok(!JSON.stringify(s).includes(secret), 'no secret in the steps');
    assert.ok(!JSON.stringify(await messagesAsc(t, th.id)).includes(secret), 'no secret in the messages');
    assert.ok(!oag.logTail(400).includes(secret), 'no secret in the log');
    await checkRunMoney(t, run, ss, MOCK, w0);
  });

  it('streamed server-tool run: no requires_action, the tool step completes with its output, then the answer', T, async () => {
    const { t, a } = await toolTenant();
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `stream tool ${nonce()} #mock:tool=lookup_weather:{"city":"Turku"}` }] });
    svc.reset();
    const { events, names, run, messages } = await drain(t.client.beta.threads.runs.stream(th.id, { assistant_id: a.id }));
    assert.equal(run.status, 'completed', names.join(' '));
    assert.ok(!names.includes('thread.run.requires_action'), 'never requires_action');
    const stepDone = events.filter((e) => e.event === 'thread.run.step.completed').map((e) => e.data);
    assert.deepEqual(stepDone.map((s) => s.type), ['tool_calls', 'message_creation'], names.join(' '));
    assert.ok(stepDone[0].step_details.tool_calls[0].function.output.includes('Turku'), 'output in the completed tool step');
    const iTool = names.indexOf('thread.run.step.completed');
    const iMsg = names.indexOf('thread.message.created');
    assert.ok(iTool >= 0 && iMsg > iTool, 'the tool step completes before the answer message starts');
    assert.equal(names.at(-1), 'thread.run.completed');
    assert.ok(textOf(messages.at(-1)).includes('21.5'));
    assert.deepEqual(svc.requests.map((r) => r.path), ['/weather/Turku']);
  });

  it("secrets are per company: B's tool naming A's secret never gets A's value", T, async () => {
    const A = await toolTenant();
    const B = await tenant();
    await putSettings(B, { tool_network_allowlist: ['127.0.0.1'] });
    await createTool(B, {
      name: 'lookup_weather',
      description: 'same name, same template, other company',
      parameters: weatherParams,
      endpoint: { method: 'POST', url: `${svc.origin}/weather/{city}`, headers: { 'X-Api-Key': '{{secret:weather_key}}' }, timeout_ms: 2000 },
    });
    assert.deepEqual((await B.api('GET', '/v1/secrets')).json.data, [], "B lists none of A's secrets");
    const a = await B.client.beta.assistants.create({ model: MOCK, tools: [{ type: 'function', function: { name: 'lookup_weather', parameters: weatherParams } }] });
    const th = await B.client.beta.threads.create({ messages: [{ role: 'user', content: `steal ${nonce()} #mock:tool=lookup_weather:{"city":"Heist"}` }] });
    svc.reset();
    const run = await B.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
    for (const r of svc.requests) assert.notEqual(r.headers['x-api-key'], A.secret, "A's secret sent for B");
    assert.ok(!JSON.stringify(svc.requests).includes(A.secret), "A's secret nowhere in what the service got");
    const out = (await steps(B, th.id, run.id))[0].step_details.tool_calls[0].function.output;
    if (svc.requests.length === 0) assert.match(out, /secret|weather_key|error/i, `a missing secret is an error result: ${out}`);
    assert.ok(!out.includes(A.secret));
  });

  it('GET tool: arguments go to the query string', T, async () => {
    const { t, a } = await toolTenant();
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `time? ${nonce()} #mock:tool=lookup_time:{"tz":"Europe/Oslo"}` }] });
    svc.reset();
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
    const got = svc.matching('/time');
    assert.equal(got.length, 1);
    assert.equal(got[0].method, 'GET');
    assert.deepEqual(got[0].query, { tz: 'Europe/Oslo' });
    assert.equal(got[0].raw, '', 'no body on GET');
    const ss = await steps(t, th.id, run.id);
    assert.ok(ss[0].step_details.tool_calls[0].function.output.includes('12:34'));
    assert.ok((await lastAssistantText(t, th.id)).includes('12:34'));
  });

  it('parallel server tools: both executed, one tool step with both outputs', T, async () => {
    const { t, a } = await toolTenant();
    const th = await t.client.beta.threads.create({
      messages: [{ role: 'user', content: `both ${nonce()} #mock:tool=lookup_weather:{"city":"Rome"} #mock:tool=lookup_time:{"tz":"Europe/Rome"}` }],
    });
    svc.reset();
    const w0 = await t.wallet();
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
    assert.deepEqual(svc.requests.map((r) => r.path).sort(), ['/time', '/weather/Rome']);
    const ss = await steps(t, th.id, run.id);
    assert.deepEqual(ss.map((s) => s.type), ['tool_calls', 'message_creation']);
    const calls = ss[0].step_details.tool_calls;
    assert.deepEqual(calls.map((c) => c.function.name), ['lookup_weather', 'lookup_time']);
    assert.ok(calls[0].function.output.includes('Rome') && calls[0].function.output.includes('21.5'));
    assert.ok(calls[1].function.output.includes('12:34'));
    const reply = await lastAssistantText(t, th.id);
    assert.ok(reply.includes('21.5') && reply.includes('12:34'), reply);
    await checkRunMoney(t, run, ss, MOCK, w0);
  });

  it('a server tool and a client tool in one turn: the server one runs, the client one requires_action', T, async () => {
    const { t } = await toolTenant();
    const a = await t.client.beta.assistants.create({
      model: MOCK,
      tools: [{ type: 'function', function: { name: 'lookup_weather', parameters: weatherParams } }, weatherFn],
    });
    const th = await t.client.beta.threads.create({
      messages: [{ role: 'user', content: `mixed ${nonce()} #mock:tool=lookup_weather:{"city":"Lima"} #mock:tool=get_weather:{"city":"Quito"}` }],
    });
    svc.reset();
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'requires_action', JSON.stringify(run.last_error));
    const pending = run.required_action.submit_tool_outputs.tool_calls;
    assert.deepEqual(pending.map((c) => c.function.name), ['get_weather'], 'only the client tool is left to the client');
    assert.deepEqual(svc.requests.map((r) => r.path), ['/weather/Lima']);
    const fin = await t.client.beta.threads.runs.submitToolOutputsAndPoll(run.id, { thread_id: th.id, tool_outputs: [{ tool_call_id: pending[0].id, output: 'Quito: hail' }] }, POLL);
    assert.equal(fin.status, 'completed', JSON.stringify(fin.last_error));
    const reply = await lastAssistantText(t, th.id);
    assert.ok(reply.includes('Lima') && reply.includes('Quito: hail'), reply);
  });

  it('invalid arguments (schema): the model gets an error result, the service nothing, the run completes', T, async () => {
    const { t, a } = await toolTenant();
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `bad args ${nonce()} #mock:tool=lookup_weather:{"units":"kelvin"}` }] });
    svc.reset();
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
    assert.equal(svc.requests.length, 0, 'invalid arguments are not sent');
    const out = (await steps(t, th.id, run.id))[0].step_details.tool_calls[0].function.output;
    assert.match(out, /error|invalid/i, `error result: ${out}`);
    assert.match(out, /city|required|units|enum|kelvin/i, `the error says what is wrong: ${out}`);
    assert.ok((await lastAssistantText(t, th.id)).length > 0);
  });

  it('refused without the company allowlist: error result mentioning the refusal, nothing sent', T, async () => {
    const { t, a } = await toolTenant({ allow: false });
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `refuse ${nonce()} #mock:tool=lookup_weather:{"city":"Refusedville"}` }] });
    svc.reset();
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
    assert.equal(svc.requests.length, 0, 'the service received nothing');
    const out = (await steps(t, th.id, run.id))[0].step_details.tool_calls[0].function.output;
    assert.match(out, /refus|not allowed|allowlist|forbidden|blocked|denied|private|loopback/i, `refusal: ${out}`);
    assert.ok(!out.includes('21.5'));
    // With the allowlist the same call goes through.
    await putSettings(t, { tool_network_allowlist: ['127.0.0.1'] });
    await t.client.beta.threads.messages.create(th.id, { role: 'user', content: `again ${nonce()} #mock:tool=lookup_weather:{"city":"Allowedville"}` });
    const run2 = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run2.status, 'completed');
    assert.deepEqual(svc.requests.map((r) => r.path), ['/weather/Allowedville']);
  });

  it('URL placeholder values are percent-encoded into one path segment (no path/query injection)', T, async () => {
    const { t, a } = await toolTenant();
    const city = 'New York/../admin?x=1#f';
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `inject ${nonce()} #mock:tool=lookup_weather:${JSON.stringify({ city })}` }] });
    svc.reset();
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
    assert.equal(svc.requests.length, 1, JSON.stringify(svc.requests.map((r) => r.url)));
    const got = svc.requests[0];
    assert.match(got.path, /^\/weather\/[^/]+$/, `one path segment: ${got.url}`);
    assert.deepEqual(got.query, {}, `no injected query: ${got.url}`);
    assert.equal(decodeURIComponent(got.path.slice('/weather/'.length)), city, 'the value arrives intact');
  });

  it('non-allowlisted destinations are refused, also behind a redirect from an allowed one', T, async () => {
    const other = await startFakeToolService({ host: '127.0.0.2' });
    try {
      const { t } = await toolTenant(); // allowlist: 127.0.0.1 only
      await createTool(t, {
        name: 'direct_other',
        description: 'not allowlisted',
        parameters: { type: 'object', properties: {} },
        endpoint: { method: 'GET', url: `${other.origin}/weather/Direct`, timeout_ms: 2000 },
      });
      await createTool(t, {
        name: 'via_redirect',
        description: 'allowed host redirecting to a non-allowlisted one',
        parameters: { type: 'object', properties: {} },
        endpoint: { method: 'GET', url: `${svc.origin}/redirect?to=${encodeURIComponent(`${other.origin}/weather/Redirected`)}`, timeout_ms: 2000 },
      });
      const a = await t.client.beta.assistants.create({
        model: MOCK,
        tools: ['direct_other', 'via_redirect'].map((name) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } })),
      });
      const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `ssrf ${nonce()} #mock:tool=direct_other:{} #mock:tool=via_redirect:{}` }] });
      svc.reset();
      const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
      assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
      assert.equal(svc.matching('/redirect').length, 1, 'the allowed host was called and answered with the redirect');
      assert.deepEqual(other.requests.map((r) => r.url), [], '127.0.0.2 (not allowlisted) received nothing');
      const outs = (await steps(t, th.id, run.id))[0].step_details.tool_calls.map((c) => c.function.output);
      for (const out of outs) assert.match(out, /error/i, `error results: ${outs}`);
      assert.match(outs[0], /refus|not allowed|allowlist|forbidden|blocked|denied|private|loopback/i, `direct refusal: ${outs[0]}`);
      assert.ok(!outs.join(' ').includes('21.5'), 'no data from the refused host');
    } finally {
      await other.close();
    }
  });

  it('timeout and HTTP failure: error results, run completed, hung connection closed', T, async () => {
    const { t } = await toolTenant();
    await createTool(t, {
      name: 'slow_lookup',
      description: 'hangs',
      parameters: { type: 'object', properties: { q: { type: 'string' } } },
      endpoint: { method: 'POST', url: `${svc.origin}/hang/{q}`, timeout_ms: 300 },
    });
    await createTool(t, {
      name: 'broken_lookup',
      description: 'fails',
      parameters: { type: 'object', properties: {} },
      endpoint: { method: 'GET', url: `${svc.origin}/status/500`, timeout_ms: 2000 },
    });
    const a = await t.client.beta.assistants.create({
      model: MOCK,
      tools: ['slow_lookup', 'broken_lookup'].map((name) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } })),
    });
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `slow ${nonce()} #mock:tool=slow_lookup:{"q":"x"}` }] });
    svc.reset();
    const t0 = Date.now();
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    const took = Date.now() - t0;
    assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
    assert.ok(took < 10000, `the 300 ms timeout bounded the run (${took} ms)`);
    assert.equal(svc.matching('/hang/').length, 1, 'the request was made');
    const out = (await steps(t, th.id, run.id))[0].step_details.tool_calls[0].function.output;
    assert.match(out, /error/i, `an error result: ${out}`);
    assert.match(out, /time[d ]?\s?out|timeout|deadline|did not complete within 300 ?ms/i, `the result says it timed out: ${out}`);
    await waitFor(() => svc.hanging() === 0, { what: 'OAG to close the timed-out connection', timeoutMs: 5000 });

    await t.client.beta.threads.messages.create(th.id, { role: 'user', content: `broken ${nonce()} #mock:tool=broken_lookup:{}` });
    const run2 = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run2.status, 'completed', JSON.stringify(run2.last_error));
    const out2 = (await steps(t, th.id, run2.id))[0].step_details.tool_calls[0].function.output;
    assert.match(out2, /500|error|fail/i, `failure result: ${out2}`);
  });
});

// ---- 7. prompt stack upstream ---------------------------------------------------------

describe('prompt stack', () => {
  it('upstream receives platform → company → persona system messages, then the thread; overrides; oag.prompt_stack', T, async () => {
    const t = await tenant({ fake });
    const COMPANY = 'COMPANY-STYLE: answer like Acme.';
    await putSettings(t, { instructions: COMPANY, tool_network_allowlist: ['127.0.0.1'] });
    const gs = await oag.admin('GET', `/admin/v1/companies/${t.companyId}/settings`);
    assert.equal(gs.status, 200, gs.text);
    assert.equal(gs.json.instructions, COMPANY);
    assert.deepEqual(gs.json.tool_network_allowlist, ['127.0.0.1']);
    const PERSONA = 'PERSONA: You are Bob.';
    const a = await t.client.beta.assistants.create({ model: 'fake/gpt-4o-mini', instructions: PERSONA, tools: [weatherFn], temperature: 0.3 });
    const th = await t.client.beta.threads.create({
      messages: [
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'first answer' },
        { role: 'user', content: 'second question' },
      ],
    });
    fake.reset();
    fake.setDefault({ text: 'default fake answer' });
    fake.next({ text: 'Upstream says hi', usage: { prompt_tokens: 31, completion_tokens: 4 } });
    const w0 = await t.wallet();
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
    assert.equal(await lastAssistantText(t, th.id), 'Upstream says hi');
    const ups = fake.chatRequests();
    assert.equal(ups.length, 1, 'one upstream call');
    const body = ups[0].body;
    assert.equal(body.model, 'gpt-4o-mini');
    assert.equal(body.temperature, 0.3, "the assistant's temperature");
    assert.deepEqual((body.tools || []).map((x) => x.function?.name), ['get_weather'], 'tools go upstream');
    const sys = [];
    let i = 0;
    while (i < body.messages.length && body.messages[i].role === 'system') sys.push(plain(body.messages[i++].content));
    const rest = body.messages.slice(i);
    const sysText = sys.join('\n');
    const at = (s) => sysText.indexOf(s);
    assert.ok(at(PLATFORM_PROMPT) >= 0, `platform prompt sent: ${JSON.stringify(sys)}`);
    assert.ok(at(COMPANY) > at(PLATFORM_PROMPT), `company after platform: ${JSON.stringify(sys)}`);
    assert.ok(at(PERSONA) > at(COMPANY), `persona after company: ${JSON.stringify(sys)}`);
    assert.equal(sys.length, 3, `one system message per layer: ${JSON.stringify(sys)}`);
    assert.deepEqual(rest.map((m) => [m.role, plain(m.content)]), [['user', 'first question'], ['assistant', 'first answer'], ['user', 'second question']], 'then the thread, nothing else');
    for (const m of rest) assert.notEqual(m.role, 'system');
    const ss = await steps(t, th.id, run.id);
    assert.equal(ss.length, 1);
    assert.equal(ss[0].oag.model, 'fake/gpt-4o-mini');
    assert.deepEqual(ss[0].oag.prompt_stack, [
      { layer: 'system', content: PLATFORM_PROMPT },
      { layer: 'company', content: COMPANY },
      { layer: 'persona', content: PERSONA },
      { layer: 'tools', content: ['get_weather'] },
    ]);
    assert.deepEqual(usage3(run.usage), { prompt_tokens: 31, completion_tokens: 4, total_tokens: 35 }, 'run usage = upstream usage');
    await checkRunMoney(t, run, ss, 'openai/gpt-4o-mini', w0);

    // Run overrides: instructions, additional_instructions, model, temperature, additional_messages.
    fake.reset();
    fake.next({ text: 'Override answer', usage: { prompt_tokens: 50, completion_tokens: 2 } });
    const OVERRIDE = 'OVERRIDE: You are Alice.';
    const ADDITIONAL = 'ADDITIONAL: answer in French.';
    const w1 = await t.wallet();
    const run2 = await t.client.beta.threads.runs.createAndPoll(
      th.id,
      {
        assistant_id: a.id,
        instructions: OVERRIDE,
        additional_instructions: ADDITIONAL,
        model: 'fake/gpt-4.1',
        temperature: 0.9,
        additional_messages: [{ role: 'user', content: 'third question' }],
      },
      POLL,
    );
    assert.equal(run2.status, 'completed', JSON.stringify(run2.last_error));
    assert.equal(run2.model, 'fake/gpt-4.1');
    assert.equal(run2.temperature, 0.9);
    assert.ok(String(run2.instructions).startsWith(OVERRIDE), `run.instructions is the override: ${run2.instructions}`);
    const b2 = fake.chatRequests()[0].body;
    assert.equal(b2.model, 'gpt-4.1');
    assert.equal(b2.temperature, 0.9);
    const sys2 = b2.messages.filter((m) => m.role === 'system').map((m) => plain(m.content)).join('\n');
    assert.ok(!sys2.includes(PERSONA), 'the override replaces the persona');
    assert.ok(sys2.indexOf(COMPANY) < sys2.indexOf(OVERRIDE), 'company before the override');
    assert.ok(sys2.indexOf(OVERRIDE) >= 0 && sys2.indexOf(ADDITIONAL) > sys2.indexOf(OVERRIDE), `additional after the override: ${sys2}`);
    const rest2 = b2.messages.filter((m) => m.role !== 'system').map((m) => [m.role, plain(m.content)]);
    assert.deepEqual(rest2, [
      ['user', 'first question'],
      ['assistant', 'first answer'],
      ['user', 'second question'],
      ['assistant', 'Upstream says hi'],
      ['user', 'third question'],
    ]);
    const ss2 = await steps(t, th.id, run2.id);
    const persona2 = ss2[0].oag.prompt_stack.find((l) => l.layer === 'persona').content;
    assert.ok(persona2.includes(OVERRIDE) && persona2.includes(ADDITIONAL) && !persona2.includes(PERSONA), `persona layer: ${persona2}`);
    assert.equal(ss2[0].oag.model, 'fake/gpt-4.1');
    await checkRunMoney(t, run2, ss2, 'openai/gpt-4.1', w1);
    const msgs = await messagesAsc(t, th.id);
    assert.deepEqual(msgs.map((m) => textOf(m)).slice(-2), ['third question', 'Override answer'], 'additional_messages are stored in the thread');

    // A run with tools: [] sends no tools upstream; the stack has no tool names.
    fake.reset();
    fake.next({ text: 'No tools', usage: { prompt_tokens: 5, completion_tokens: 2 } });
    await t.client.beta.threads.messages.create(th.id, { role: 'user', content: 'fourth' });
    const run3 = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id, tools: [] }, POLL);
    assert.equal(run3.status, 'completed');
    const b3 = fake.chatRequests()[0].body;
    assert.ok(!b3.tools || b3.tools.length === 0, `no tools upstream: ${JSON.stringify(b3.tools)}`);
    fake.setDefault({});
  });

  it('run options go upstream: tool_choice, parallel_tool_calls, response_format, top_p, max_completion_tokens; image content; truncation_strategy', T, async () => {
    const t = await tenant({ fake });
    const a = await t.client.beta.assistants.create({ model: 'fake/gpt-4o-mini', instructions: 'P.', tools: [weatherFn], top_p: 0.7 });
    const th = await t.client.beta.threads.create({
      messages: [
        { role: 'user', content: 'old one' },
        { role: 'assistant', content: 'old two' },
        { role: 'user', content: [{ type: 'text', text: 'look at this' }, { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } }] },
      ],
    });
    fake.reset();
    fake.next({ text: '{"ok":true}', usage: { prompt_tokens: 20, completion_tokens: 3 } });
    const run = await t.client.beta.threads.runs.createAndPoll(
      th.id,
      {
        assistant_id: a.id,
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        parallel_tool_calls: false,
        response_format: { type: 'json_object' },
        max_completion_tokens: 300,
      },
      POLL,
    );
    assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
    assert.deepEqual(run.tool_choice, { type: 'function', function: { name: 'get_weather' } });
    assert.equal(run.parallel_tool_calls, false);
    assert.deepEqual(run.response_format, { type: 'json_object' });
    assert.equal(run.max_completion_tokens, 300);
    const b = fake.chatRequests()[0].body;
    assert.deepEqual(b.tool_choice, { type: 'function', function: { name: 'get_weather' } }, 'tool_choice upstream');
    assert.equal(b.parallel_tool_calls, false, 'parallel_tool_calls upstream');
    assert.deepEqual(b.response_format, { type: 'json_object' }, 'response_format upstream');
    assert.equal(b.top_p, 0.7, "the assistant's top_p upstream");
    assert.equal(b.max_completion_tokens ?? b.max_tokens, 300, 'the output limit upstream');
    const img = b.messages.find((m) => Array.isArray(m.content) && m.content.some((p) => p.type === 'image_url'));
    assert.ok(img, `the image part goes upstream: ${JSON.stringify(b.messages)}`);
    assert.equal(img.role, 'user');
    assert.equal(img.content.find((p) => p.type === 'image_url').image_url.url, 'https://example.com/cat.png');
    assert.equal(img.content.find((p) => p.type === 'text').text, 'look at this');

    // truncation_strategy last_messages: 1 → only the last thread message after the system layers.
    await t.client.beta.threads.messages.create(th.id, { role: 'user', content: 'only this one' });
    fake.reset();
    fake.next({ text: 'short', usage: { prompt_tokens: 5, completion_tokens: 1 } });
    const r2 = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id, truncation_strategy: { type: 'last_messages', last_messages: 1 } }, POLL);
    assert.equal(r2.status, 'completed', JSON.stringify(r2.last_error));
    assert.deepEqual(r2.truncation_strategy, { type: 'last_messages', last_messages: 1 });
    const b2 = fake.chatRequests()[0].body;
    assert.deepEqual(b2.messages.filter((m) => m.role !== 'system').map((m) => [m.role, plain(m.content)]), [['user', 'only this one']], 'truncated to the last message');
  });

  it('max_completion_tokens cuts the answer: run incomplete with incomplete_details', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t);
    const long = Array.from({ length: 300 }, (_, i) => `w${i}`).join(' ');
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: long }] });
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id, max_completion_tokens: 256 }, POLL);
    assert.equal(run.status, 'incomplete', JSON.stringify(run));
    assert.equal(run.incomplete_details?.reason, 'max_completion_tokens');
    assert.equal(run.usage.completion_tokens, 256);
    const msg = (await t.client.beta.threads.messages.list(th.id, { limit: 1 })).data[0];
    assert.equal(msg.role, 'assistant');
    assert.equal(textOf(msg), long.split(' ').slice(0, 256).join(' '));
    // The cut message is incomplete too (OpenAI: status incomplete, incomplete_details.reason max_tokens).
    const msgFacts = { status: msg.status, incomplete_details: msg.incomplete_details };
    // CreateRunRequest: max_completion_tokens / max_prompt_tokens have minimum 256 (openapi).
    let low = null;
    try {
      low = await t.client.beta.threads.runs.create(th.id, { assistant_id: a.id, max_completion_tokens: 10 });
    } catch (e) {
      assert.equal(e.status, 400, String(e));
    }
    const problems = [];
    if (msg.status !== 'incomplete' || !msg.incomplete_details?.reason) problems.push(`the cut message should be incomplete with incomplete_details, got ${JSON.stringify(msgFacts)}`);
    if (low) problems.push(`max_completion_tokens 10 (< 256) should be refused with 400, got run ${low.id} status ${low.status}`);
    assert.deepEqual(problems, []);
  });

  it('streamed run to the fake upstream (upstream streamed text reaches message deltas)', T, async () => {
    const t = await tenant({ fake });
    const a = await t.client.beta.assistants.create({ model: 'fake/gpt-4o-mini' });
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'hello' }] });
    fake.reset();
    fake.next({ text: 'One two three four', usage: { prompt_tokens: 9, completion_tokens: 4 } });
    const { names, run, messages } = await drain(t.client.beta.threads.runs.stream(th.id, { assistant_id: a.id }));
    assert.deepEqual(squash(names), TEXT_EVENTS);
    assert.equal(run.status, 'completed');
    assert.equal(textOf(messages[0]), 'One two three four');
    assert.deepEqual(usage3(run.usage), { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });
  });
});

// ---- 8. cancel -------------------------------------------------------------------------

describe('cancel', () => {
  it('cancel a run parked in requires_action → cancelled; cancel a completed run → 400', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t, { tools: [weatherFn] });
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `cancel me ${nonce()} #mock:tool=get_weather:{"city":"Oslo"}` }] });
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'requires_action');
    const c = await t.client.beta.threads.runs.cancel(run.id, { thread_id: th.id });
    assert.equal(c.id, run.id);
    assert.ok(['cancelling', 'cancelled'].includes(c.status), `cancel answers cancelling or cancelled: ${c.status}`);
    const done = await waitFor(async () => {
      const r = await t.client.beta.threads.runs.retrieve(run.id, { thread_id: th.id });
      return r.status === 'cancelled' ? r : null;
    }, { what: 'run cancelled' });
    assert.ok(Number.isInteger(done.cancelled_at), 'cancelled_at');
    assert.equal(done.required_action, null);
    await expectStatus(
      t.client.beta.threads.runs.submitToolOutputs(run.id, { thread_id: th.id, tool_outputs: [{ tool_call_id: run.required_action.submit_tool_outputs.tool_calls[0].id, output: 'late' }] }),
      400,
      'submit after cancel',
    );
    await expectStatus(t.client.beta.threads.runs.cancel(run.id, { thread_id: th.id }), 400, 'cancel a cancelled run');
    // The thread is free again: a new run completes; cancelling it afterwards → 400.
    await t.client.beta.threads.messages.create(th.id, { role: 'user', content: `plain ${nonce()}` });
    const r2 = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(r2.status, 'completed');
    await expectStatus(t.client.beta.threads.runs.cancel(r2.id, { thread_id: th.id }), 400, 'cancel a completed run');
    assert.equal((await t.client.beta.threads.runs.retrieve(r2.id, { thread_id: th.id })).status, 'completed');
    await expectStatus(t.client.beta.threads.runs.cancel('run_nope', { thread_id: th.id }), 404, 'cancel unknown run');
    // The parked tool_calls step closes with the run.
    const ss = await steps(t, th.id, run.id);
    assert.equal(ss[0].type, 'tool_calls');
    assert.equal(ss[0].status, 'cancelled', `the pending tool step is cancelled with its run: ${JSON.stringify(ss[0])}`);
    assert.ok(Number.isInteger(ss[0].cancelled_at), 'step cancelled_at');
  });
});

describe('cancel in progress', () => {
  it('cancel a run while its server tool hangs: cancelled promptly, the tool connection dropped, thread free', T, async () => {
    const { t } = await toolTenant();
    await createTool(t, {
      name: 'very_slow',
      description: 'hangs for long',
      parameters: { type: 'object', properties: {} },
      endpoint: { method: 'POST', url: `${svc.origin}/hang-long`, timeout_ms: 30000 },
    });
    const a = await t.client.beta.assistants.create({ model: MOCK, tools: [{ type: 'function', function: { name: 'very_slow', parameters: { type: 'object', properties: {} } } }] });
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `hang ${nonce()} #mock:tool=very_slow:{}` }] });
    svc.reset();
    const run = await t.client.beta.threads.runs.create(th.id, { assistant_id: a.id });
    await waitFor(() => svc.hanging() === 1, { what: 'the tool call to reach the service', timeoutMs: 10000 });
    const mid = await t.client.beta.threads.runs.retrieve(run.id, { thread_id: th.id });
    assert.equal(mid.status, 'in_progress', 'in progress while the tool runs');
    const c = await t.client.beta.threads.runs.cancel(run.id, { thread_id: th.id });
    const done = await waitFor(async () => {
      const r = await t.client.beta.threads.runs.retrieve(run.id, { thread_id: th.id });
      return r.status === 'cancelled' ? r : null;
    }, { what: 'run cancelled', timeoutMs: 5000 });
    assert.ok(Number.isInteger(done.cancelled_at));
    const w = await t.wallet();
    assert.equal(w.reserved_uot, 0);
    assert.ok(walletInvariantHolds(w));
    await t.client.beta.threads.messages.create(th.id, { role: 'user', content: `after cancel ${nonce()}` });
    const r2 = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id, tools: [] }, POLL);
    assert.equal(r2.status, 'completed');
    const problems = [];
    // The cancel answer is the run object (status cancelling or cancelled).
    if (!(c && !Array.isArray(c) && c.object === 'thread.run' && ['cancelling', 'cancelled'].includes(c.status)))
      problems.push(`cancel answers a run object (cancelling|cancelled), got: ${JSON.stringify(c).slice(0, 120)}`);
    // The tool's HTTP exchange is dropped with the run (its own timeout is 30 s).
    try {
      await waitFor(() => svc.hanging() === 0, { what: 'the hung tool connection to be closed after cancel', timeoutMs: 5000 });
    } catch (e) {
      problems.push(e.message);
    }
    assert.deepEqual(problems, []);
  });

  it('cancel a run while its upstream model call hangs: cancelled, nothing left reserved', T, async () => {
    const t = await tenant({ fake });
    const a = await t.client.beta.assistants.create({ model: 'fake/gpt-4o-mini' });
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'hang upstream' }] });
    fake.reset();
    fake.next({ hang: true });
    const run = await t.client.beta.threads.runs.create(th.id, { assistant_id: a.id });
    await waitFor(() => fake.chatRequests().length === 1, { what: 'the upstream call', timeoutMs: 10000 });
    await t.client.beta.threads.runs.cancel(run.id, { thread_id: th.id });
    const done = await waitFor(async () => {
      const r = await t.client.beta.threads.runs.retrieve(run.id, { thread_id: th.id });
      return r.status === 'cancelled' ? r : null;
    }, { what: 'run cancelled', timeoutMs: 5000 });
    assert.equal(done.status, 'cancelled');
    const w = await waitFor(async () => {
      const x = await t.wallet();
      return x.reserved_uot === 0 ? x : null;
    }, { what: 'reservation released' });
    assert.ok(walletInvariantHolds(w));
  });
});

// ---- 9. createAndRun ---------------------------------------------------------------------

describe('createAndRun', () => {
  it('createAndRunStream: thread.created first, then the run events; the thread holds both messages', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t);
    const text = `created and run ${nonce()}`;
    const { events, names, run, messages } = await drain(
      t.client.beta.threads.createAndRunStream({ assistant_id: a.id, thread: { messages: [{ role: 'user', content: text }], metadata: { via: 'stream' } } }),
    );
    assert.equal(names[0], 'thread.created');
    const thread = events[0].data;
    assert.equal(thread.object, 'thread');
    assert.match(thread.id, /^thread_/);
    assert.deepEqual(thread.metadata, { via: 'stream' });
    assert.deepEqual(squash(names.slice(1)), TEXT_EVENTS);
    assert.equal(run.thread_id, thread.id);
    assert.equal(run.status, 'completed');
    assert.equal(textOf(messages[0]), text);
    const msgs = await messagesAsc(t, thread.id);
    assert.deepEqual(msgs.map((m) => [m.role, textOf(m)]), [['user', text], ['assistant', text]]);
  });

  it('createAndRunPoll (non-streamed) and createAndRun with instructions', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t);
    const text = `poll created ${nonce()}`;
    const run = await t.client.beta.threads.createAndRunPoll({ assistant_id: a.id, instructions: 'Run-level persona.', thread: { messages: [{ role: 'user', content: text }] } }, POLL);
    assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
    assert.match(run.thread_id, /^thread_/);
    assert.equal(run.instructions, 'Run-level persona.');
    assert.equal(await lastAssistantText(t, run.thread_id), text);
    const ss = await steps(t, run.thread_id, run.id);
    assert.equal(ss[0].oag.prompt_stack.find((l) => l.layer === 'persona').content, 'Run-level persona.');
    await expectStatus(t.client.beta.threads.createAndRun({ thread: { messages: [{ role: 'user', content: 'x' }] } }), 400, 'createAndRun without assistant_id');
  });
});

// ---- 10. durability ------------------------------------------------------------------------

describe('durability', () => {
  it('a run parked in requires_action survives kill -9 and completes after submit; charged once per model call', { timeout: 90000 }, async () => {
    const inst = await startOag({ name: 'assistants-restart' });
    try {
      const t = await inst.tenant({ credit: '1000' });
      const a = await t.client.beta.assistants.create({ model: MOCK, instructions: 'Durable.', tools: [weatherFn] });
      const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `survive ${nonce()} #mock:tool=get_weather:{"city":"Tromso"}` }] });
      const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
      assert.equal(run.status, 'requires_action', JSON.stringify(run.last_error));
      const ledger0 = await t.ledger();
      assert.equal(ledger0.length, 1, 'the tool-call model call is charged');
      const w0 = await t.wallet();

      await inst.kill9();
      await inst.restart();
      const c = inst.client(t.key);
      const after = await c.beta.threads.runs.retrieve(run.id, { thread_id: th.id });
      assert.equal(after.status, 'requires_action', 'still parked after kill -9');
      assert.deepEqual(after.required_action, run.required_action, 'same tool calls');
      assert.equal(after.expires_at, run.expires_at);
      assert.deepEqual((await inst.ledgerAll(t.key)).map((e) => e.id), ledger0.map((e) => e.id), 'nothing charged by the restart');
      const wr = (await inst.request('GET', '/v1/wallet', { token: t.key })).json;
      assert.equal(wr.spent_uot, w0.spent_uot);
      assert.equal(wr.reserved_uot, 0, 'no reservation left after restart');
      assert.ok(walletInvariantHolds(wr));
      assert.equal((await c.beta.assistants.retrieve(a.id)).instructions, 'Durable.', 'assistant survived');
      assert.equal((await c.beta.threads.messages.list(th.id)).data.length, 1, 'thread messages survived');

      const call = after.required_action.submit_tool_outputs.tool_calls[0];
      const fin = await c.beta.threads.runs.submitToolOutputsAndPoll(run.id, { thread_id: th.id, tool_outputs: [{ tool_call_id: call.id, output: 'Tromso: snow' }] }, POLL);
      assert.equal(fin.status, 'completed', JSON.stringify(fin.last_error));
      const msgs = (await c.beta.threads.messages.list(th.id, { order: 'asc' })).data;
      assert.equal(textOf(msgs.at(-1)), 'Tromso: snow');
      const ss = (await c.beta.threads.runs.steps.list(run.id, { thread_id: th.id, order: 'asc' })).data;
      assert.deepEqual(ss.map((s) => [s.type, s.status]), [['tool_calls', 'completed'], ['message_creation', 'completed']]);
      const ledger = await inst.ledgerAll(t.key);
      assert.equal(ledger.length, 2, `one ledger entry per model call: ${JSON.stringify(ledger.map((e) => e.response_id))}`);
      assert.deepEqual(ledger.map((e) => e.response_id).sort(), ss.map((s) => s.oag.response_id).sort());
      const w = (await inst.request('GET', '/v1/wallet', { token: t.key })).json;
      assert.equal(w.spent_uot, ledger.reduce((s, e) => s + e.cost_uot, 0), 'spent = Σ ledger');
      assert.equal(w.reserved_uot, 0);
      assert.ok(walletInvariantHolds(w));
      assert.deepEqual(usage3(fin.usage), {
        prompt_tokens: ss[0].oag.usage.prompt_tokens + ss[1].oag.usage.prompt_tokens,
        completion_tokens: ss[0].oag.usage.completion_tokens + ss[1].oag.usage.completion_tokens,
        total_tokens: ss[0].oag.usage.total_tokens + ss[1].oag.usage.total_tokens,
      }, 'usage spans the restart');
    } finally {
      await inst.cleanup();
    }
  });
});

describe('durability of an in-flight run', () => {
  it('kill -9 while a server tool call hangs: after restart the run ends (not stuck), nothing reserved, thread usable', { timeout: 90000 }, async () => {
    const inst = await startOag({ name: 'assistants-restart2' });
    try {
      const t = await inst.tenant({ credit: '1000' });
      const r0 = await inst.admin('PUT', `/admin/v1/companies/${t.companyId}/settings`, { tool_network_allowlist: ['127.0.0.1'] });
      assert.equal(r0.status, 200, r0.text);
      const tr = await t.post('/v1/tools', {
        name: 'stuck_tool',
        description: 'hangs',
        parameters: { type: 'object', properties: {} },
        endpoint: { method: 'POST', url: `${svc.origin}/hang-restart`, timeout_ms: 30000 },
      });
      assert.ok(tr.status === 200 || tr.status === 201, tr.text);
      const secret = `durable-${nonce()}`;
      const sr = await inst.request('PUT', '/v1/secrets/k', { body: { value: secret }, token: t.key });
      assert.ok(sr.status === 200 || sr.status === 201, sr.text);
      const tr2 = await t.post('/v1/tools', {
        name: 'after_tool',
        description: 'used after the restart',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        endpoint: { method: 'POST', url: `${svc.origin}/weather/{city}`, headers: { 'X-Api-Key': '{{secret:k}}' }, timeout_ms: 3000 },
      });
      assert.ok(tr2.status === 200 || tr2.status === 201, tr2.text);
      const a = await t.client.beta.assistants.create({
        model: MOCK,
        tools: ['stuck_tool', 'after_tool'].map((name) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } })),
      });
      const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: `stuck ${nonce()} #mock:tool=stuck_tool:{}` }] });
      svc.reset();
      const run = await t.client.beta.threads.runs.create(th.id, { assistant_id: a.id });
      await waitFor(() => svc.matching('/hang-restart').length === 1, { what: 'the tool call to reach the service', timeoutMs: 10000 });
      await inst.kill9();
      await inst.restart();
      const c = inst.client(t.key);
      const end = await waitFor(async () => {
        const r = await c.beta.threads.runs.retrieve(run.id, { thread_id: th.id });
        return ['completed', 'failed', 'cancelled', 'expired', 'incomplete'].includes(r.status) ? r : null;
      }, { what: 'the interrupted run to reach a terminal status', timeoutMs: 20000 });
      assert.ok(['completed', 'failed'].includes(end.status), `ended ${end.status}`);
      const ss = (await c.beta.threads.runs.steps.list(run.id, { thread_id: th.id, order: 'asc' })).data;
      for (const s of ss) assert.notEqual(s.status, 'in_progress', `no step left in progress: ${JSON.stringify(s)}`);
      const w = (await inst.request('GET', '/v1/wallet', { token: t.key })).json;
      assert.equal(w.reserved_uot, 0);
      assert.ok(walletInvariantHolds(w));
      const ledger = await inst.ledgerAll(t.key);
      assert.equal(w.spent_uot, ledger.reduce((s, e) => s + e.cost_uot, 0), 'spent = Σ ledger');
      assert.equal(new Set(ledger.map((e) => e.response_id)).size, ledger.length, 'no model call charged twice');
      await c.beta.threads.messages.create(th.id, { role: 'user', content: `after restart ${nonce()}` });
      const r2 = await c.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
      assert.equal(r2.status, 'completed');
      // Tools, secrets (sealed in the vault) and settings survived: a server tool with a secret header works.
      await c.beta.threads.messages.create(th.id, { role: 'user', content: `post-restart tool ${nonce()} #mock:tool=after_tool:{"city":"Phoenix"}` });
      svc.reset();
      const r3 = await c.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
      assert.equal(r3.status, 'completed', JSON.stringify(r3.last_error));
      assert.equal(svc.requests.length, 1, 'the tool ran after the restart');
      assert.equal(svc.requests[0].path, '/weather/Phoenix');
      assert.equal(svc.requests[0].headers['x-api-key'], secret, 'the secret unsealed after the restart');
    } finally {
      await inst.cleanup();
    }
  });
});

// ---- 11. tenancy -----------------------------------------------------------------------------

describe('tenancy', () => {
  it("company B gets 404 for A's assistant, thread, message, run, step and tool ids", T, async () => {
    const A = await tenant({ name: 'AsstA' });
    const B = await tenant({ name: 'AsstB' });
    const a = await echoAssistant(A);
    const th = await A.client.beta.threads.create({ messages: [{ role: 'user', content: `secret plans ${nonce()}` }] });
    const run = await A.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'completed');
    const msg = (await A.client.beta.threads.messages.list(th.id)).data[0];
    const step = (await steps(A, th.id, run.id))[0];
    await putSettings(A, { tool_network_allowlist: ['127.0.0.1'] });
    const tool = await createTool(A, { name: 'a_tool', description: 'x', parameters: { type: 'object', properties: {} }, endpoint: { method: 'GET', url: `${svc.origin}/echo` } });
    const bA = await echoAssistant(B);
    const bTh = await B.client.beta.threads.create();
    const c = B.client.beta;
    const cases = [
      ['assistants.retrieve', () => c.assistants.retrieve(a.id)],
      ['assistants.update', () => c.assistants.update(a.id, { name: 'pwned' })],
      ['assistants.delete', () => c.assistants.delete(a.id)],
      ['threads.retrieve', () => c.threads.retrieve(th.id)],
      ['threads.update', () => c.threads.update(th.id, { metadata: { x: 'y' } })],
      ['threads.delete', () => c.threads.delete(th.id)],
      ['messages.list', () => c.threads.messages.list(th.id)],
      ['messages.create', () => c.threads.messages.create(th.id, { role: 'user', content: 'inject' })],
      ['messages.retrieve', () => c.threads.messages.retrieve(msg.id, { thread_id: th.id })],
      ['messages.retrieve under B thread', () => c.threads.messages.retrieve(msg.id, { thread_id: bTh.id })],
      ['messages.update', () => c.threads.messages.update(msg.id, { thread_id: th.id, metadata: { x: 'y' } })],
      ['messages.delete', () => c.threads.messages.delete(msg.id, { thread_id: th.id })],
      ['runs.list', () => c.threads.runs.list(th.id)],
      ['runs.retrieve', () => c.threads.runs.retrieve(run.id, { thread_id: th.id })],
      ['runs.retrieve under B thread', () => c.threads.runs.retrieve(run.id, { thread_id: bTh.id })],
      ['runs.update', () => c.threads.runs.update(run.id, { thread_id: th.id, metadata: { x: 'y' } })],
      ['runs.cancel', () => c.threads.runs.cancel(run.id, { thread_id: th.id })],
      ['runs.create on A thread', () => c.threads.runs.create(th.id, { assistant_id: bA.id })],
      ['runs.create with A assistant', () => c.threads.runs.create(bTh.id, { assistant_id: a.id })],
      ['createAndRun with A assistant', () => c.threads.createAndRun({ assistant_id: a.id, thread: { messages: [{ role: 'user', content: 'x' }] } })],
      ['steps.list', () => c.threads.runs.steps.list(run.id, { thread_id: th.id })],
      ['steps.retrieve', () => c.threads.runs.steps.retrieve(step.id, { thread_id: th.id, run_id: run.id })],
    ];
    for (const [what, fn] of cases) await expectStatus(fn(), 404, what);
    assert.equal((await B.get(`/v1/tools/${tool.id}`)).status, 404, 'tool retrieve');
    assert.equal((await B.api('DELETE', `/v1/tools/${tool.id}`)).status, 404, 'tool delete');
    assert.deepEqual((await B.get('/v1/tools')).json.data, [], "B lists none of A's tools");
    assert.deepEqual((await c.assistants.list()).data.map((x) => x.id), [bA.id], "B lists only its assistant");
    // A's objects are untouched.
    assert.equal((await A.client.beta.assistants.retrieve(a.id)).name, 'Parrot');
    assert.equal((await A.client.beta.threads.messages.list(th.id)).data.length, 2);
    assert.deepEqual((await A.client.beta.threads.runs.retrieve(run.id, { thread_id: th.id })).metadata, {});
    assert.equal((await A.get(`/v1/tools/${tool.id}`)).status, 200);
  });
});

// ---- 12. Anthropic-kind provider --------------------------------------------------------------

describe('anthropic provider', () => {
  it('a run on an Anthropic-kind provider completes with the right text; persona in system; tool round trip', T, async () => {
    const t = await tenant();
    await oag.putProvider(t.companyId, 'claude', { kind: 'anthropic', base_url: anthropic.origin, api_key: `sk-ant-${nonce()}` });
    const a = await t.client.beta.assistants.create({ model: `claude/${CLAUDE}`, instructions: 'PERSONA-CLAUDE: be kind.', tools: [weatherFn] });
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'Hello Claude' }] });
    anthropic.reset();
    anthropic.next({ text: 'Bonjour from Claude', usage: { input_tokens: 20, output_tokens: 5 } });
    const w0 = await t.wallet();
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'completed', JSON.stringify(run.last_error));
    assert.equal(await lastAssistantText(t, th.id), 'Bonjour from Claude');
    assert.equal(anthropic.requests.length, 1);
    const req = anthropic.requests[0];
    assert.ok(req.path.endsWith('/v1/messages'));
    assert.equal(req.body.model, CLAUDE);
    const system = typeof req.body.system === 'string' ? req.body.system : (req.body.system || []).map((b) => b.text).join('\n');
    assert.ok(system.indexOf(PLATFORM_PROMPT) >= 0 && system.indexOf('PERSONA-CLAUDE: be kind.') > system.indexOf(PLATFORM_PROMPT), `system: ${system}`);
    assert.deepEqual(req.body.messages.map((m) => m.role), ['user']);
    assert.deepEqual((req.body.tools || []).map((x) => x.name), ['get_weather']);
    assert.deepEqual(usage3(run.usage), { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 });
    const ss = await steps(t, th.id, run.id);
    await checkRunMoney(t, run, ss, `anthropic/${CLAUDE}`, w0);

    // tool round trip
    await t.client.beta.threads.messages.create(th.id, { role: 'user', content: 'Weather in Oslo?' });
    anthropic.reset();
    anthropic.next({ toolCalls: [{ id: 'toolu_oslo1', name: 'get_weather', input: { city: 'Oslo' } }], usage: { input_tokens: 40, output_tokens: 12 } });
    const r2 = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(r2.status, 'requires_action', JSON.stringify(r2.last_error));
    const call = r2.required_action.submit_tool_outputs.tool_calls[0];
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Oslo' });
    anthropic.next({ text: 'It is cloudy in Oslo.', usage: { input_tokens: 60, output_tokens: 6 } });
    const fin = await t.client.beta.threads.runs.submitToolOutputsAndPoll(r2.id, { thread_id: th.id, tool_outputs: [{ tool_call_id: call.id, output: 'Cloudy, 8C' }] }, POLL);
    assert.equal(fin.status, 'completed', JSON.stringify(fin.last_error));
    assert.equal(await lastAssistantText(t, th.id), 'It is cloudy in Oslo.');
    assert.equal(anthropic.requests.length, 2);
    const msgs2 = anthropic.requests[1].body.messages;
    const toolUse = msgs2.flatMap((m) => (Array.isArray(m.content) ? m.content : [])).find((b) => b.type === 'tool_use');
    const toolResult = msgs2.flatMap((m) => (Array.isArray(m.content) ? m.content : [])).find((b) => b.type === 'tool_result');
    assert.ok(toolUse && toolResult, `tool_use and tool_result sent back: ${JSON.stringify(msgs2)}`);
    assert.equal(toolResult.tool_use_id, toolUse.id, 'tool_result answers the tool_use');
    assert.deepEqual(toolUse.input, { city: 'Oslo' });
    assert.ok(JSON.stringify(toolResult.content).includes('Cloudy, 8C'));
    assert.deepEqual(usage3(fin.usage), { prompt_tokens: 100, completion_tokens: 18, total_tokens: 118 });
  });
});

// ---- 13. errors ---------------------------------------------------------------------------------

describe('errors', () => {
  it('missing assistant_id → 400, unknown assistant/thread → 404, malformed JSON → 400', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t);
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'x' }] });
    const e1 = await expectStatus(t.client.beta.threads.runs.create(th.id, {}), 400, 'missing assistant_id');
    assert.equal(e1.error.param, 'assistant_id');
    await expectStatus(t.client.beta.threads.runs.create(th.id, { assistant_id: 'asst_doesnotexist' }), 404, 'unknown assistant');
    await expectStatus(t.client.beta.threads.runs.create('thread_doesnotexist', { assistant_id: a.id }), 404, 'unknown thread');
    await expectStatus(t.client.beta.threads.runs.retrieve('run_doesnotexist', { thread_id: th.id }), 404, 'unknown run');
    await expectStatus(t.client.beta.threads.runs.create(th.id, { assistant_id: a.id, tools: [{ type: 'code_interpreter' }] }), 400, 'run with code_interpreter');
    await expectStatus(
      t.client.beta.threads.runs.create(th.id, { assistant_id: a.id, metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }),
      400,
      'run with 17 metadata keys',
    );
    await expectStatus(t.client.beta.threads.runs.create(th.id, { assistant_id: a.id, temperature: 5 }), 400, 'temperature out of range');
    assert.deepEqual((await t.client.beta.threads.runs.list(th.id)).data, [], 'refused runs were not created');
    for (const [p, raw] of [
      ['/v1/assistants', '{"model":'],
      ['/v1/threads', 'not json'],
      [`/v1/threads/${th.id}/messages`, '{"role":"user","content":'],
      [`/v1/threads/${th.id}/runs`, '{"assistant_id":'],
      ['/v1/threads/runs', '['],
    ]) {
      const r = await t.api('POST', p, undefined, { raw, headers: { 'content-type': 'application/json' } });
      assertErrorShape(r, 400, `malformed JSON to ${p}`);
    }
    assertErrorShape(await t.api('POST', '/v1/assistants', ['model']), 400, 'a JSON array body');
    assertErrorShape(await t.api('POST', '/v1/assistants', { model: 42 }), 400, 'model not a string');
    // No key → 401.
    const r = await oag.request('GET', '/v1/assistants', { headers: BETA });
    assert.equal(r.status, 401);
    // The thread is still usable after all that.
    const ok = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(ok.status, 'completed');
  });

  it('a model that does not exist: a clear error at create, or a failed run with last_error; nothing charged', T, async () => {
    const t = await tenant();
    const w0 = await t.wallet();
    let assistant = null;
    try {
      assistant = await t.client.beta.assistants.create({ model: 'nosuch/model-x' });
    } catch (e) {
      assert.ok(e instanceof APIError && [400, 404].includes(e.status), `create refused with 400/404: ${e}`);
      assert.match(e.message, /model/i);
    }
    assert.equal(assistant, null, 'OAG checks the model when the assistant is created');
    const a = assistant ?? (await echoAssistant(t));
    // Modifying to a model that does not exist is refused and changes nothing.
    await assert.rejects(t.client.beta.assistants.update(a.id, { model: 'nosuch/model-y', name: 'renamed' }),
      (e) => e instanceof APIError && e.status === 404 && /model/i.test(e.message));
    const kept = await t.client.beta.assistants.retrieve(a.id);
    assert.equal(kept.model, a.model);
    assert.equal(kept.name, a.name);
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'anyone there?' }] });
    const body = { assistant_id: a.id, ...(assistant ? {} : { model: 'nosuch/model-x' }) };
    let run = null;
    try {
      run = await t.client.beta.threads.runs.createAndPoll(th.id, body, POLL);
    } catch (e) {
      assert.ok(e instanceof APIError && [400, 404].includes(e.status), `run refused with 400/404: ${e}`);
      assert.match(e.message, /model/i);
    }
    if (run) {
      assert.equal(run.status, 'failed');
      assert.ok(run.last_error && typeof run.last_error.code === 'string', `last_error: ${JSON.stringify(run.last_error)}`);
      assert.match(run.last_error.message, /model|not found/i);
      assert.ok(Number.isInteger(run.failed_at));
    }
    assert.deepEqual(await t.ledger(), [], 'nothing charged');
    const w = await t.wallet();
    assert.equal(w.spent_uot, w0.spent_uot);
    assert.equal(w.reserved_uot, 0);
  });

  it('an upstream error during a run: failed with last_error, nothing charged, thread free again', T, async () => {
    const t = await tenant();
    const a = await echoAssistant(t);
    const th = await t.client.beta.threads.create({ messages: [{ role: 'user', content: 'boom #mock:error=500' }] });
    const run = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(run.status, 'failed');
    assert.equal(run.last_error?.code, 'server_error', JSON.stringify(run.last_error));
    assert.equal(typeof run.last_error.message, 'string');
    assert.ok(Number.isInteger(run.failed_at));
    const ss = await steps(t, th.id, run.id);
    for (const s of ss) assert.equal(s.status, 'failed');
    assert.deepEqual(await t.ledger(), [], 'a failed call is not charged');
    const w = await t.wallet();
    assert.equal(w.spent_uot, 0);
    assert.equal(w.reserved_uot, 0);
    await t.client.beta.threads.messages.create(th.id, { role: 'user', content: 'fine now' });
    const ok = await t.client.beta.threads.runs.createAndPoll(th.id, { assistant_id: a.id }, POLL);
    assert.equal(ok.status, 'completed');
    assert.equal(await lastAssistantText(t, th.id), 'fine now');
  });
});
