// Autonomous agents (issue 5) end to end against a real oag process: the
// agents API (CRUD, validation, pagination), cron triggers on the test clock
// (one run per scheduled time, restarts, catch-up after an outage), signed
// webhooks (signature, replay, idempotency), topics (glob matching,
// per-subscriber dedup, durable delivery across kill -9, the built-in
// publish tool), delegation (5 children, one failing, budget envelope, depth
// and fan-out caps), human approval gates through the API and through a fake
// Telegram Bot API server (restart while parked, duplicate callbacks, forged
// buttons, expiry), tenancy, and the money (ledger, wallet invariant, the
// per-day budget).
//
// One oag instance (test clock on, Telegram base URL at the fake) is shared by
// every test; tests that restart it leave it running.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startFakeOpenAI } from './fake_openai.mjs';
import { startFakeTelegram } from './fake_telegram.mjs';
import { startFakeToolService } from './fake_tool_service.mjs';
import { startOag, waitFor, walletInvariantHolds } from './harness.mjs';

const T = { timeout: 60000 };
const MOCK = 'mock/echo';
const FAKE = 'fake/gpt-4o-mini';

let oag;
let fake;
let svc;
let tg;

before(async () => {
  [fake, svc, tg] = await Promise.all([startFakeOpenAI(), startFakeToolService(), startFakeTelegram()]);
  oag = await startOag({ name: 'agents', env: { OAG_TEST_CLOCK: '1' }, config: { telegram_api_base: tg.origin } });
});

after(async () => {
  await oag?.cleanup();
  await fake?.close();
  await svc?.close();
  await tg?.close();
});

// ---- helpers ----------------------------------------------------------------

const nonce = () => crypto.randomBytes(4).toString('hex');
const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'expired', 'incomplete']);
/** Upstream (OpenAI wire) message content → plain text. */
const plain = (c) => (typeof c === 'string' ? c : Array.isArray(c) ? c.map((p) => p.text ?? '').join('') : c == null ? '' : JSON.stringify(c));
const lastUser = (body) => plain([...(body?.messages || [])].reverse().find((m) => m.role === 'user')?.content);
const hasToolMessage = (body) => (body?.messages || []).some((m) => m.role === 'tool');
const uot = (ot) => {
  // "0.0014" → 1400 (µO₮), exact.
  const [i, f = ''] = String(ot).split('.');
  return Number(i) * 1e6 + Number((f + '000000').slice(0, 6));
};

async function tenant(opts = {}) {
  const t = await oag.tenant({ credit: '1000', fake, ...opts });
  t.api = (method, p, body, extra = {}) => oag.request(method, p, { body, token: t.key, ...extra });
  return t;
}

function assertError(r, status, what = '', code) {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.ok(r.json && r.json.error && typeof r.json.error.message === 'string', `${what}: OpenAI error shape: ${r.text}`);
  if (code !== undefined) assert.equal(r.json.error.code, code, `${what}: error code: ${r.text}`);
  return r.json.error;
}

async function createAgent(t, body) {
  const r = await t.api('POST', '/v1/agents', { name: `agent-${nonce()}`, ...body });
  assert.ok(r.status === 200 || r.status === 201, `POST /v1/agents: ${r.status} ${r.text}`);
  assert.match(r.json.id, /^agt_/);
  return r.json;
}

async function fire(t, agentId, input) {
  const r = await t.api('POST', `/v1/agents/${agentId}/runs`, input === undefined ? {} : { input });
  assert.equal(r.status, 201, `fire ${agentId}: ${r.text}`);
  assert.match(r.json.id, /^arun_/);
  return r.json;
}

async function getRun(t, id) {
  const r = await t.api('GET', `/v1/agent-runs/${id}`);
  assert.equal(r.status, 200, `GET agent run ${id}: ${r.text}`);
  return r.json;
}

/** Waits until the agent run is terminal (or has `status`) and returns it. */
async function waitRun(t, id, { status, timeoutMs = 15000 } = {}) {
  let last;
  try {
    return await waitFor(
      async () => {
        last = await getRun(t, id);
        if (status ? last.status === status : TERMINAL.has(last.status) && last.finished_at != null) return last;
        return null;
      },
      { what: `agent run ${id} ${status || 'to end'}`, timeoutMs, intervalMs: 30 },
    );
  } catch (e) {
    throw new Error(`${e.message}; last: ${JSON.stringify(last)?.slice(0, 1500)}\n${oag.logTail(30)}`);
  }
}

/** Every run of an agent (newest first). */
async function runsOf(t, agentId) {
  const all = [];
  let after = null;
  for (;;) {
    const q = new URLSearchParams({ limit: '100' });
    if (after) q.set('after', after);
    const r = await t.api('GET', `/v1/agents/${agentId}/runs?${q}`);
    assert.equal(r.status, 200, `runs of ${agentId}: ${r.text}`);
    all.push(...r.json.data);
    if (!r.json.has_more) return all;
    after = r.json.last_id;
  }
}

async function clockNow() {
  const r = await oag.admin('GET', '/admin/v1/clock');
  assert.equal(r.status, 200, r.text);
  return r.json.now;
}
async function setClock(now) {
  const r = await oag.admin('POST', '/admin/v1/clock', { set_now: now });
  assert.equal(r.status, 200, r.text);
  return r.json.now;
}
async function advance(s) {
  const r = await oag.admin('POST', '/admin/v1/clock', { advance_s: s });
  assert.equal(r.status, 200, r.text);
  return r.json.now;
}

const sign = (secret, ts, body) => `sha256=${crypto.createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`;

/** POSTs a signed webhook delivery (no API key). */
async function deliver(hook, body, { ts, secret = hook.secret, eventId, signature, headers = {} } = {}) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const t = ts ?? (await clockNow());
  const h = { 'content-type': 'application/json', 'x-oag-timestamp': String(t), 'x-oag-signature': signature ?? sign(secret, t, raw), ...headers };
  if (eventId !== undefined) h['x-oag-event-id'] = eventId;
  return oag.request('POST', hook.url_path, { raw, headers: h });
}

function webhookOf(agent, i = 0) {
  const w = agent.triggers.filter((x) => x.type === 'webhook')[i];
  assert.ok(w, 'the agent has a webhook trigger');
  return w;
}

async function putSettings(t, body) {
  const r = await oag.admin('PUT', `/admin/v1/companies/${t.companyId}/settings`, body);
  assert.ok(r.status === 200 || r.status === 204, `PUT settings: ${r.status} ${r.text}`);
}

/** Registers a server-side tool `name` that POSTs to the fake tool service's /echo?tag=<tag>. */
async function payTool(t, name = 'pay') {
  await putSettings(t, { tool_network_allowlist: ['127.0.0.1'] });
  const tag = `${name}-${nonce()}`;
  const r = await t.api('POST', '/v1/tools', {
    name,
    description: 'Pays an amount',
    parameters: { type: 'object', properties: { amount: { type: 'number' }, to: { type: 'string' } }, required: ['amount'] },
    endpoint: { method: 'POST', url: `${svc.origin}/echo?tag=${tag}`, timeout_ms: 3000 },
  });
  assert.ok(r.status === 200 || r.status === 201, `POST /v1/tools: ${r.status} ${r.text}`);
  return { tool: r.json, calls: () => svc.requests.filter((x) => x.path === '/echo' && x.query.tag === tag) };
}

// ---- 1. CRUD, validation, pagination ------------------------------------------------------

describe('agents API', () => {
  it('create, retrieve, modify, list, delete; defaults; secrets shown once', T, async () => {
    const t = await tenant();
    const a = await createAgent(t, {
      name: 'crud',
      description: 'does things',
      model: MOCK,
      instructions: 'be brief',
      tools: [{ type: 'publish' }, { type: 'delegate' }],
      triggers: [{ type: 'webhook' }, { type: 'cron', schedule: '0 9 * * 1-5', timezone: 'Europe/Berlin' }, { type: 'topic', pattern: 'orders.*.created' }],
      budget: { per_run_ot: '5', per_day_ot: 100 },
      metadata: { team: 'ops' },
    });
    assert.equal(a.object, 'agent');
    assert.equal(a.name, 'crud');
    assert.equal(a.description, 'does things');
    assert.equal(a.model, MOCK);
    assert.equal(a.assistant_id, null);
    assert.equal(a.enabled, true);
    assert.deepEqual(a.metadata, { team: 'ops' });
    assert.deepEqual(a.budget, { per_run_ot: '5', per_day_ot: '100' }, 'budget amounts as decimal strings');
    assert.deepEqual(a.limits, { max_delegation_depth: 2, max_parallel_children: 5, max_steps: null });
    assert.deepEqual(a.approval, { expires_in_s: 86400, telegram: true, tools: {} });
    assert.ok(Number.isInteger(a.created_at));
    const [wh, cr, tp] = a.triggers;
    assert.equal(wh.type, 'webhook');
    assert.match(wh.hook_id, /^hook_/);
    assert.match(wh.secret, /^whsec_/);
    assert.equal(wh.url_path, `/hooks/${wh.hook_id}`);
    assert.equal(wh.tolerance_s, 300);
    assert.equal(wh.input, '{{body}}');
    assert.deepEqual(cr, { type: 'cron', schedule: '0 9 * * 1-5', timezone: 'Europe/Berlin', catch_up: 'latest', catch_up_max: 10, input: '{{trigger}}' });
    assert.deepEqual(tp, { type: 'topic', pattern: 'orders.*.created', input: '{{payload}}' });

    const got = await t.api('GET', `/v1/agents/${a.id}`);
    assert.equal(got.status, 200, got.text);
    assert.ok(!got.text.includes(wh.secret), 'the webhook secret is shown once, not on retrieve');
    assert.ok(!('_sealed' in got.json), 'sealed secrets stay inside');
    assert.equal(got.json.triggers[0].hook_id, wh.hook_id);
    assert.ok(!('secret' in got.json.triggers[0]));

    // Modify: name, budget; the webhook keeps its hook id (named) and its secret.
    const m = await t.api('POST', `/v1/agents/${a.id}`, {
      name: 'crud2',
      budget: { per_run_ot: '2.5' },
      triggers: [{ type: 'webhook', hook_id: wh.hook_id }, { type: 'topic', pattern: 'tax.**' }],
    });
    assert.equal(m.status, 200, m.text);
    assert.equal(m.json.name, 'crud2');
    assert.equal(m.json.budget.per_run_ot, '2.5');
    assert.equal(m.json.triggers.length, 2);
    assert.equal(m.json.triggers[0].hook_id, wh.hook_id, 'the hook keeps its id');
    assert.ok(!('secret' in m.json.triggers[0]), 'a kept hook does not show its secret again');
    assert.equal(m.json.model, MOCK, 'unchanged fields stay');
    const r1 = await deliver(wh, { kept: true });
    assert.equal(r1.status, 202, `the kept hook still verifies with its secret: ${r1.text}`);

    const list = await t.api('GET', '/v1/agents');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.data.map((x) => x.id), [a.id]);
    assert.ok(!list.text.includes('_sealed') && !list.text.includes(wh.secret));

    const del = await t.api('DELETE', `/v1/agents/${a.id}`);
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.json, { id: a.id, object: 'agent.deleted', deleted: true });
    assertError(await t.api('GET', `/v1/agents/${a.id}`), 404, 'deleted agent');
    assertError(await t.api('DELETE', `/v1/agents/${a.id}`), 404, 'deleted twice');
    assertError(await t.api('POST', `/v1/agents/${a.id}/runs`, { input: 'x' }), 404, 'fire a deleted agent');
    assertError(await deliver(wh, { after: 'delete' }), 404, 'its hook is gone');
    // Its runs stay readable.
    const runs = await t.api('GET', `/v1/agent-runs/${r1.json.agent_run_id}`);
    assert.equal(runs.status, 200, runs.text);
  });

  it('validation: bad cron, timezone, topic pattern, unknown field, missing model, unknown assistant', T, async () => {
    const t = await tenant();
    const bad = async (body, status, param, what) => {
      const r = await t.api('POST', '/v1/agents', { name: 'v', ...body });
      const e = assertError(r, status, what);
      if (param) assert.equal(e.param, param, `${what}: param: ${r.text}`);
      return e;
    };
    await bad({ model: MOCK, triggers: [{ type: 'cron', schedule: '61 * * * *' }] }, 400, 'triggers[0].schedule', 'minute 61');
    await bad({ model: MOCK, triggers: [{ type: 'cron', schedule: '* * * *' }] }, 400, 'triggers[0].schedule', 'four fields');
    await bad({ model: MOCK, triggers: [{ type: 'webhook' }, { type: 'cron', schedule: '*/5 * * * *', timezone: 'Mars/Olympus' }] }, 400, 'triggers[1].timezone', 'bad timezone');
    await bad({ model: MOCK, triggers: [{ type: 'topic', pattern: 'orders.a*' }] }, 400, 'triggers[0].pattern', 'partial wildcard');
    await bad({ model: MOCK, triggers: [{ type: 'topic', pattern: 'orders..x' }] }, 400, 'triggers[0].pattern', 'empty segment');
    await bad({ model: MOCK, triggers: [{ type: 'cron', schedule: '* * * * *', catch_up: 'sometimes' }] }, 400, 'triggers[0].catch_up', 'bad catch_up');
    await bad({ model: MOCK, triggers: [{ type: 'sms' }] }, 400, 'triggers[0].type', 'unknown trigger type');
    const u = await bad({ model: MOCK, colour: 'blue' }, 400, undefined, 'unknown field');
    assert.match(u.message, /colour/, 'names the unknown field');
    await bad({ name: 'no model' }, 400, 'model', 'neither model nor assistant_id');
    assertError(await t.api('POST', '/v1/agents', { model: MOCK }), 400, 'no name');
    await bad({ model: MOCK, budget: { per_run_ot: 'lots' } }, 400, 'budget.per_run_ot', 'bad amount');
    await bad({ model: MOCK, limits: { max_parallel_children: 1000 } }, 400, 'limits.max_parallel_children', 'fan-out above the cap');
    await bad({ model: MOCK, approval: { tools: { pay: { when: { path: 'amount', op: '=~', value: 1 } } } } }, 400, undefined, 'bad approval op');
    await bad({ model: MOCK, triggers: [{ type: 'webhook', hook_id: 'hook_mine' }] }, 400, undefined, 'a hook id chosen by the caller');
    const na = await bad({ assistant_id: 'asst_doesnotexist' }, 404, 'assistant_id', 'unknown assistant');
    assert.match(na.message, /asst_doesnotexist/);
    const nm = await bad({ model: 'nope/nope' }, 404, 'model', 'a model the company cannot call');
    assert.equal(nm.code, 'model_not_found');
    assertError(await t.api('POST', '/v1/agents', [1, 2]), 400, 'a non-object body');
    // Nothing was created.
    const list = await t.api('GET', '/v1/agents');
    assert.deepEqual(list.json.data, []);
    // Modify validates the same way and leaves the agent unchanged.
    const a = await createAgent(t, { model: MOCK });
    assertError(await t.api('POST', `/v1/agents/${a.id}`, { triggers: [{ type: 'cron', schedule: 'nope' }] }), 400, 'modify: bad cron');
    assertError(await t.api('POST', `/v1/agents/${a.id}`, { assistant_id: 'asst_nope' }), 404, 'modify: unknown assistant');
    assertError(await t.api('POST', `/v1/agents/${a.id}`, { model: 'nope/nope' }), 404, 'modify: unknown model');
    assert.equal((await t.api('GET', `/v1/agents/${a.id}`)).json.model, MOCK, 'the model is unchanged');
    assert.deepEqual((await t.api('GET', `/v1/agents/${a.id}`)).json.triggers, []);
    assertError(await t.api('GET', '/v1/agents/agt_nope'), 404, 'unknown agent');
    // Manual firing validates its body.
    assertError(await t.api('POST', `/v1/agents/${a.id}/runs`, { input: 'x', colour: 1 }), 400, 'fire: unknown field');
    assertError(await t.api('POST', `/v1/agents/${a.id}/runs`, { input: 5 }), 400, 'fire: input not a string');
    // An agent with an assistant persona works.
    const asst = await t.client.beta.assistants.create({ model: MOCK, instructions: 'persona from the assistant' });
    const b = await createAgent(t, { assistant_id: asst.id });
    assert.equal(b.assistant_id, asst.id);
    const ar = await waitRun(t, (await fire(t, b.id, 'hi from assistant persona')).id);
    assert.equal(ar.status, 'completed');
    assert.equal(ar.output, 'hi from assistant persona');
    const persona = ar.log.data.find((e) => e.type === 'model_call').prompt_stack.find((l) => l.layer === 'persona');
    assert.equal(persona?.content, 'persona from the assistant', 'the assistant persona is in the prompt stack');
    // Without any key: 401.
    const anon = await oag.request('GET', '/v1/agents');
    assert.equal(anon.status, 401);
  });

  it('pagination of agents and of agent runs (newest first, cursors)', T, async () => {
    const t = await tenant();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await createAgent(t, { name: `p${i}`, model: MOCK })).id);
    const desc = [...ids].reverse();
    const p1 = (await t.api('GET', '/v1/agents?limit=2')).json;
    assert.deepEqual(p1.data.map((x) => x.id), desc.slice(0, 2));
    assert.equal(p1.has_more, true);
    assert.equal(p1.first_id, desc[0]);
    assert.equal(p1.last_id, desc[1]);
    const p2 = (await t.api('GET', `/v1/agents?limit=2&after=${p1.last_id}`)).json;
    assert.deepEqual(p2.data.map((x) => x.id), desc.slice(2, 4));
    assert.equal(p2.has_more, true);
    const p3 = (await t.api('GET', `/v1/agents?limit=2&after=${p2.last_id}`)).json;
    assert.deepEqual(p3.data.map((x) => x.id), desc.slice(4));
    assert.equal(p3.has_more, false);
    const asc = (await t.api('GET', '/v1/agents?order=asc&limit=3')).json;
    assert.deepEqual(asc.data.map((x) => x.id), ids.slice(0, 3));
    const before = (await t.api('GET', `/v1/agents?limit=10&before=${desc[2]}`)).json;
    assert.deepEqual(before.data.map((x) => x.id), desc.slice(0, 2));
    assertError(await t.api('GET', '/v1/agents?limit=0'), 400, 'limit 0');
    assertError(await t.api('GET', '/v1/agents?limit=101'), 400, 'limit 101');

    const runIds = [];
    for (let i = 0; i < 3; i++) runIds.push((await fire(t, ids[0], `run ${i}`)).id);
    for (const id of runIds) await waitRun(t, id);
    const other = await fire(t, ids[1], 'another agent');
    const rdesc = [...runIds].reverse();
    const r1 = (await t.api('GET', `/v1/agents/${ids[0]}/runs?limit=2`)).json;
    assert.deepEqual(r1.data.map((x) => x.id), rdesc.slice(0, 2), 'newest first');
    assert.equal(r1.has_more, true);
    assert.equal(r1.data[0].object, 'agent.run');
    assert.equal(r1.data[0].status, 'completed');
    assert.equal(r1.data[0].input, 'run 2');
    const r2 = (await t.api('GET', `/v1/agents/${ids[0]}/runs?limit=2&after=${r1.last_id}`)).json;
    assert.deepEqual(r2.data.map((x) => x.id), rdesc.slice(2));
    assert.equal(r2.has_more, false);
    assert.ok(!(await runsOf(t, ids[0])).some((x) => x.id === other.id), "another agent's run is not listed");
    assertError(await t.api('GET', '/v1/agents/agt_nope/runs'), 404, 'runs of an unknown agent');
    assertError(await t.api('GET', '/v1/agent-runs/arun_nope'), 404, 'unknown agent run');

    // The log of a run, paginated.
    const ar = await getRun(t, runIds[0]);
    assert.equal(ar.trigger.type, 'manual');
    assert.deepEqual(ar.log.data.map((e) => e.type), ['model_call', 'message']);
    const mc = ar.log.data[0];
    assert.equal(mc.model, MOCK);
    assert.ok(uot(mc.cost_ot) > 0, 'the model call has a cost');
    assert.equal(ar.cost_ot, mc.cost_ot, "the run's cost is its model call's");
    assert.equal(ar.usage.total_tokens, mc.usage.total_tokens);
    const lg = await t.api('GET', `/v1/agent-runs/${runIds[0]}/log?limit=1`);
    assert.equal(lg.status, 200, lg.text);
    assert.equal(lg.json.object, 'list');
    assert.equal(lg.json.data[0].type, 'model_call');
    assert.equal(lg.json.has_more, false, 'one step (the message step accounts for the model call)');
  });
});

// ---- 3. webhooks ------------------------------------------------------------------------------

describe('webhooks', () => {
  let t;
  let agent;
  let hook;
  let idAgent;
  let idHook;
  before(async () => {
    t = await tenant();
    agent = await createAgent(t, { model: MOCK, triggers: [{ type: 'webhook', input: 'event: {{body}}' }] });
    hook = webhookOf(agent);
    idAgent = await createAgent(t, { model: MOCK, triggers: [{ type: 'webhook', event_id_field: 'data.id', input: 'order {{json.data.id}}' }] });
    idHook = webhookOf(idAgent);
  });

  it('a valid signature: 202 with the run id at once, no API key; the run completes with the body in its input', T, async () => {
    const body = { order: nonce(), amount: 12 };
    const r = await deliver(hook, body);
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.object, 'hook.delivery');
    assert.equal(r.json.agent_id, agent.id);
    assert.match(r.json.agent_run_id, /^arun_/);
    assert.equal(r.json.duplicate, false);
    assert.equal(r.json.event_id, null);
    const ar = await waitRun(t, r.json.agent_run_id);
    assert.equal(ar.status, 'completed');
    assert.equal(ar.input, `event: ${JSON.stringify(body)}`);
    assert.equal(ar.output, ar.input, 'the echo model saw the body');
    assert.equal(ar.trigger.type, 'webhook');
    assert.equal(ar.trigger.hook_id, hook.hook_id);
    // With an API key too it is the same (the key is not what is checked).
    const r2 = await deliver(hook, { again: 1 }, { headers: { authorization: `Bearer ${t.key}` } });
    assert.equal(r2.status, 202, r2.text);
  });

  it('wrong signature, wrong secret, stale or future timestamp, missing headers are refused; nothing runs', T, async () => {
    const before = (await runsOf(t, agent.id)).length;
    const body = JSON.stringify({ x: 1 });
    const now = await clockNow();
    let r = await deliver(hook, body, { secret: 'whsec_wrong' });
    assertError(r, 401, 'wrong secret');
    r = await deliver(hook, body, { signature: sign(hook.secret, now, body + ' ') });
    assertError(r, 401, 'signature over another body');
    r = await deliver(hook, body, { ts: now, signature: sign(hook.secret, now - 1, body) });
    assertError(r, 401, 'signature over another timestamp');
    // Replay: a genuine delivery, signed 10 minutes ago.
    r = await deliver(hook, body, { ts: now - 600 });
    const e = assertError(r, 401, 'stale timestamp');
    assert.equal(e.code, 'timestamp_too_old', r.text);
    r = await deliver(hook, body, { ts: now + 600 });
    assertError(r, 401, 'future timestamp');
    r = await oag.request('POST', hook.url_path, { raw: body, headers: { 'content-type': 'application/json' } });
    assertError(r, 400, 'no signature headers');
    r = await deliver(hook, body, { signature: 'md5=abc' });
    assertError(r, 400, 'malformed signature');
    assert.equal((await runsOf(t, agent.id)).length, before, 'no run was started');
  });

  it('the same X-OAG-Event-Id three times: exactly one run; duplicate:true on the repeats', T, async () => {
    const before = (await runsOf(t, agent.id)).length;
    const eid = `evt-${nonce()}`;
    const out = [];
    for (let i = 0; i < 3; i++) out.push(await deliver(hook, { n: i, eid }, { eventId: eid }));
    assert.deepEqual(out.map((r) => r.status), [202, 202, 202], out.map((r) => r.text).join('\n'));
    assert.deepEqual(out.map((r) => r.json.duplicate), [false, true, true]);
    assert.equal(new Set(out.map((r) => r.json.agent_run_id)).size, 1, 'the same run id each time');
    assert.equal(out[0].json.event_id, eid);
    // Concurrent repeats too.
    const eid2 = `evt-${nonce()}`;
    const conc = await Promise.all([0, 1, 2].map((i) => deliver(hook, { c: i }, { eventId: eid2 })));
    assert.ok(conc.every((r) => r.status === 202), conc.map((r) => r.text).join('\n'));
    assert.equal(new Set(conc.map((r) => r.json.agent_run_id)).size, 1);
    assert.equal(conc.filter((r) => !r.json.duplicate).length, 1, 'one delivery started it');
    await waitRun(t, out[0].json.agent_run_id);
    await waitRun(t, conc[0].json.agent_run_id);
    const runs = await runsOf(t, agent.id);
    assert.equal(runs.length, before + 2, 'two runs for two event ids');
    assert.equal(runs.filter((x) => x.trigger.event_id === eid).length, 1);
    assert.equal(runs.filter((x) => x.trigger.event_id === eid2).length, 1);
  });

  it('the event id from event_id_field; an input template over the JSON body', T, async () => {
    const oid = `ord_${nonce()}`;
    const body = { type: 'order.created', data: { id: oid, total: 3 } };
    const r1 = await deliver(idHook, body);
    assert.equal(r1.status, 202, r1.text);
    assert.equal(r1.json.event_id, oid);
    assert.equal(r1.json.duplicate, false);
    const r2 = await deliver(idHook, { ...body, resent: true });
    assert.equal(r2.status, 202, r2.text);
    assert.equal(r2.json.duplicate, true, 'the same data.id is the same event');
    assert.equal(r2.json.agent_run_id, r1.json.agent_run_id);
    const r3 = await deliver(idHook, { data: { id: `${oid}-2` } });
    assert.equal(r3.json.duplicate, false);
    assert.notEqual(r3.json.agent_run_id, r1.json.agent_run_id);
    // The header wins over the field.
    const r4 = await deliver(idHook, body, { eventId: `hdr-${oid}` });
    assert.equal(r4.json.event_id, `hdr-${oid}`);
    assert.equal(r4.json.duplicate, false);
    const ar = await waitRun(t, r1.json.agent_run_id);
    assert.equal(ar.input, `order ${oid}`);
    assert.equal(ar.trigger.event_id, oid);
  });

  it('an unknown hook is 404; a disabled agent answers 409', T, async () => {
    const r = await deliver({ ...hook, url_path: '/hooks/hook_doesnotexist00000000' }, { x: 1 });
    assertError(r, 404, 'unknown hook');
    const a = await createAgent(t, { model: MOCK, triggers: [{ type: 'webhook' }] });
    const h = webhookOf(a);
    const m = await t.api('POST', `/v1/agents/${a.id}`, { enabled: false });
    assert.equal(m.status, 200, m.text);
    assertError(await deliver(h, { x: 1 }), 409, 'disabled agent');
    assertError(await t.api('POST', `/v1/agents/${a.id}/runs`, { input: 'x' }), 409, 'manual firing of a disabled agent');
    assert.equal((await runsOf(t, a.id)).length, 0);
  });
});

// ---- 2. cron on the test clock ---------------------------------------------------------------

describe('cron triggers', () => {
  const FIVE = 300;
  /** Sets the clock to `phase` seconds after a 5-minute boundary in the future; returns that boundary. */
  async function alignClock(phase) {
    const now = await clockNow();
    const boundary = (Math.floor(now / FIVE) + 2) * FIVE;
    await setClock(boundary + phase);
    return boundary;
  }
  const cronRuns = async (t, a) => (await runsOf(t, a.id)).filter((x) => x.trigger.type === 'cron');
  const scheduled = (runs) => runs.map((x) => x.trigger.scheduled_at).sort((a, b) => a - b);

  it('*/5 fires once per scheduled time; a restart between firings neither repeats nor loses one', T, async () => {
    const t = await tenant();
    const B = await alignClock(-10); // 10 s before a boundary
    const a = await createAgent(t, { model: MOCK, triggers: [{ type: 'cron', schedule: '*/5 * * * *', input: 'tick at {{scheduled_at}}' }] });
    assert.equal((await cronRuns(t, a)).length, 0, 'nothing fires at creation');
    await advance(20); // B + 10
    await waitFor(async () => (await cronRuns(t, a)).length === 1, { what: 'the first firing' });
    let runs = await cronRuns(t, a);
    assert.deepEqual(scheduled(runs), [B]);
    assert.equal(runs[0].input, `tick at ${B}`);
    assert.equal(runs[0].trigger.schedule, '*/5 * * * *');
    assert.equal((await waitRun(t, runs[0].id)).status, 'completed');
    // Moving within the same 5 minutes fires nothing more.
    await advance(100);
    assert.equal((await cronRuns(t, a)).length, 1, 'no second run for the same scheduled time');
    await advance(200); // B + 310
    await waitFor(async () => (await cronRuns(t, a)).length === 2, { what: 'the second firing' });
    await advance(30); // B + 340
    runs = await cronRuns(t, a);
    assert.deepEqual(scheduled(runs), [B, B + FIVE], 'exactly one run per scheduled time');
    for (const r of runs) await waitRun(t, r.id);

    // Restart: the clock offset is in memory, so the clock goes back to real time;
    // bring it back to where it was (nothing is due again) and then on (one more).
    await oag.restart();
    await setClock(B + 350);
    assert.deepEqual(scheduled(await cronRuns(t, a)), [B, B + FIVE], 'no firing repeated after the restart');
    await setClock(B + 2 * FIVE + 5);
    await waitFor(async () => (await cronRuns(t, a)).length === 3, { what: 'the firing after the restart' });
    await advance(10);
    runs = await cronRuns(t, a);
    assert.deepEqual(scheduled(runs), [B, B + FIVE, B + 2 * FIVE]);
    assert.equal(new Set(runs.map((x) => x.id)).size, 3);
    for (const r of runs) assert.equal((await waitRun(t, r.id)).status, 'completed');

    // Disabling stops it; enabling again counts from then on.
    assert.equal((await t.api('POST', `/v1/agents/${a.id}`, { enabled: false })).status, 200);
    await advance(FIVE);
    assert.equal((await cronRuns(t, a)).length, 3, 'a disabled agent does not fire');
    assert.equal((await t.api('DELETE', `/v1/agents/${a.id}`)).status, 200);
  });

  it('after a restart a cron trigger fires without any request of its company (its tenant starts at boot)', T, async () => {
    const t = await tenant();
    const tag = `boot-cron-${nonce()}`;
    const B = await alignClock(-10);
    const a = await createAgent(t, { model: FAKE, triggers: [{ type: 'cron', schedule: '*/5 * * * *', input: `${tag} {{scheduled_at}}` }] });
    await oag.restart();
    // Only the admin clock moves now: nothing asks for this company.
    const seen = () => fake.requests.filter((r) => lastUser(r.body).startsWith(tag));
    await setClock(B + 20);
    await waitFor(() => seen().length === 1, { what: 'the model call of the firing, with no request of the company' });
    assert.equal(lastUser(seen()[0].body), `${tag} ${B}`);
    assert.equal((await t.api('DELETE', `/v1/agents/${a.id}`)).status, 200);
  });

  it('catch-up after an outage: latest → one run, all → catch_up_max runs, none → no run', T, async () => {
    const t = await tenant();
    const B = await alignClock(100);
    const mk = (catch_up, extra = {}) => createAgent(t, { name: `cu-${catch_up}`, model: MOCK, triggers: [{ type: 'cron', schedule: '*/5 * * * *', catch_up, ...extra }] });
    const latest = await mk('latest');
    const all = await mk('all', { catch_up_max: 3 });
    const none = await mk('none');
    // The outage: OAG stops; when it starts again an hour later, 12 firings were missed
    // (B+300 … B+3600), the newest 150 s ago (beyond the 60 s grace).
    await oag.stop();
    await oag.restart();
    await setClock(B + 3600 + 150);
    await waitFor(async () => (await cronRuns(t, latest)).length === 1 && (await cronRuns(t, all)).length === 3, {
      what: 'the catch-up firings',
    });
    await advance(5);
    const l = await cronRuns(t, latest);
    assert.deepEqual(scheduled(l), [B + 3600], 'latest: the newest missed firing only');
    assert.equal(l[0].trigger.late_s >= 150, true, `late_s ${l[0].trigger.late_s}`);
    assert.deepEqual(scheduled(await cronRuns(t, all)), [B + 3000, B + 3300, B + 3600], 'all: the newest catch_up_max');
    assert.deepEqual(await cronRuns(t, none), [], 'none: no run');
    // After the catch-up each goes on normally, and a restart does not catch up again.
    await oag.restart();
    await setClock(B + 3600 + 160);
    assert.equal((await cronRuns(t, latest)).length, 1);
    assert.equal((await cronRuns(t, all)).length, 3);
    await setClock(B + 3900 + 10);
    await waitFor(async () => (await cronRuns(t, none)).length === 1 && (await cronRuns(t, latest)).length === 2 && (await cronRuns(t, all)).length === 4, {
      what: 'the next on-time firing of each',
    });
    assert.deepEqual(scheduled(await cronRuns(t, none)), [B + 3900], 'none: an on-time firing runs');
    for (const a of [latest, all, none]) for (const r of await cronRuns(t, a)) assert.equal((await waitRun(t, r.id)).status, 'completed');
  });

  it('a timezone: 09:30 Asia/Kolkata fires at 04:00 UTC', T, async () => {
    const t = await tenant();
    const now = await clockNow();
    const day = (Math.floor(now / 86400) + 1) * 86400;
    await setClock(day + 4 * 3600 - 30);
    const a = await createAgent(t, { model: MOCK, triggers: [{ type: 'cron', schedule: '30 9 * * *', timezone: 'Asia/Kolkata' }] });
    await setClock(day + 4 * 3600 - 5);
    assert.equal((await cronRuns(t, a)).length, 0, 'not before 04:00 UTC');
    await setClock(day + 4 * 3600 + 1);
    await waitFor(async () => (await cronRuns(t, a)).length === 1, { what: 'the 09:30 IST firing' });
    assert.deepEqual(scheduled(await cronRuns(t, a)), [day + 4 * 3600]);
  });
});

// ---- 4. topics ----------------------------------------------------------------------------------

describe('topics', () => {
  const deliveredTo = (ev) => ev.deliveries.filter((d) => d.agent_run_id).map((d) => d.agent_id).sort();
  const topicRuns = async (t, a) => (await runsOf(t, a.id)).filter((x) => x.trigger.type === 'topic');

  it('glob matching: orders.*.created and tax.**', T, async () => {
    const t = await tenant();
    const star = await createAgent(t, { model: MOCK, triggers: [{ type: 'topic', pattern: 'orders.*.created' }] });
    const tax = await createAgent(t, { model: MOCK, triggers: [{ type: 'topic', pattern: 'tax.**', input: '{{topic}}: {{payload.amount}}' }] });
    const cases = [
      ['orders.eu.created', [star.id]],
      ['orders.created', []],
      ['orders.eu.x.created', []],
      ['orders.eu.updated', []],
      ['tax', [tax.id]],
      ['tax.de', [tax.id]],
      ['tax.de.vat.q1', [tax.id]],
      ['taxes.de', []],
    ];
    const events = {};
    for (const [topic, want] of cases) {
      const r = await t.api('POST', `/v1/topics/${topic}/events`, { payload: { topic, amount: 7 } });
      assert.equal(r.status, 202, `${topic}: ${r.text}`);
      assert.equal(r.json.object, 'topic.event');
      assert.equal(r.json.topic, topic);
      assert.equal(r.json.duplicate, false);
      assert.deepEqual(deliveredTo(r.json), [...want].sort(), `${topic} delivered to`);
      events[topic] = r.json;
    }
    const sr = await topicRuns(t, star);
    assert.equal(sr.length, 1);
    assert.equal(sr[0].trigger.topic, 'orders.eu.created');
    assert.equal(sr[0].trigger.event_id, events['orders.eu.created'].id);
    const done = await waitRun(t, sr[0].id);
    assert.deepEqual(JSON.parse(done.input), { topic: 'orders.eu.created', amount: 7 }, 'the payload is the input');
    assert.equal(done.status, 'completed');
    const tr = await topicRuns(t, tax);
    assert.deepEqual(tr.map((x) => x.trigger.topic).sort(), ['tax', 'tax.de', 'tax.de.vat.q1']);
    assert.ok(tr.some((x) => x.input === 'tax.de: 7'), 'the input template');
    // The events are listed per topic.
    const ls = await t.api('GET', '/v1/topics/orders.created/events');
    assert.equal(ls.status, 200, ls.text);
    assert.deepEqual(ls.json.data.map((e) => e.id), [events['orders.created'].id]);
    // Bad topics and bodies.
    assertError(await t.api('POST', '/v1/topics/orders..x/events', { payload: 1 }), 400, 'empty segment');
    assertError(await t.api('POST', '/v1/topics/orders.*/events', { payload: 1 }), 400, 'a wildcard is not a topic');
    assertError(await t.api('POST', '/v1/topics/orders.x/events', {}), 400, 'no payload');
    assertError(await t.api('POST', '/v1/topics/orders.x/events', { payload: 1, extra: 2 }), 400, 'unknown field');
  });

  it('per-subscriber dedup by event_id: a repeated event is 200 duplicate and starts nothing', T, async () => {
    const t = await tenant();
    const a = await createAgent(t, { model: MOCK, triggers: [{ type: 'topic', pattern: 'dedup.*' }] });
    const b = await createAgent(t, { model: MOCK, triggers: [{ type: 'topic', pattern: 'dedup.**' }, { type: 'topic', pattern: '*.x' }] });
    const eid = `e-${nonce()}`;
    const r1 = await t.api('POST', '/v1/topics/dedup.x/events', { payload: { n: 1 }, event_id: eid });
    assert.equal(r1.status, 202, r1.text);
    assert.equal(r1.json.id, eid);
    assert.deepEqual(deliveredTo(r1.json), [a.id, b.id].sort(), 'one delivery per subscriber, even with two matching patterns');
    const r2 = await t.api('POST', '/v1/topics/dedup.x/events', { payload: { n: 2 }, event_id: eid });
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json.duplicate, true);
    assert.deepEqual(r2.json.deliveries, r1.json.deliveries, 'the first delivery is reported');
    const conc = await Promise.all([1, 2, 3].map(() => t.api('POST', '/v1/topics/dedup.x/events', { payload: { n: 3 }, event_id: `c-${eid}` })));
    assert.deepEqual(conc.map((r) => r.status).sort(), [200, 200, 202]);
    for (const s of [a, b]) {
      const runs = await topicRuns(t, s);
      assert.equal(runs.length, 2, `one run per event for ${s.id}`);
      assert.deepEqual(runs.map((x) => x.trigger.event_id).sort(), [eid, `c-${eid}`].sort());
      for (const r of runs) assert.equal((await waitRun(t, r.id)).status, 'completed');
    }
    const first = (await topicRuns(t, a)).find((x) => x.trigger.event_id === eid);
    assert.deepEqual(JSON.parse(first.input), { n: 1 }, 'the first payload is the one delivered');
  });

  it('durable delivery across kill -9: every subscriber acts once per event, none lost, none doubled', T, async () => {
    const t = await tenant();
    const tag = `dur-${nonce()}`;
    const off = fake.respond((body) => (lastUser(body).includes(tag) ? { delayMs: 400, text: `handled ${tag}` } : undefined));
    try {
      const subs = [];
      for (let i = 0; i < 3; i++) subs.push(await createAgent(t, { model: FAKE, triggers: [{ type: 'topic', pattern: 'durable.*' }] }));
      const e1 = await t.api('POST', '/v1/topics/durable.a/events', { payload: { tag, n: 1 } });
      assert.equal(e1.status, 202, e1.text);
      assert.equal(deliveredTo(e1.json).length, 3);
      // The first event's runs are in their model calls when OAG dies; the second event is
      // acknowledged just before.
      await waitFor(() => fake.chatRequests().filter((r) => lastUser(r.body).includes(tag)).length >= 3, { what: 'the model calls in flight' });
      const e2 = await t.api('POST', '/v1/topics/durable.b/events', { payload: { tag, n: 2 }, event_id: `ev2-${tag}` });
      assert.equal(e2.status, 202, e2.text);
      await oag.kill9();
      await oag.restart();
      const again = await t.api('POST', '/v1/topics/durable.b/events', { payload: { tag, n: 2 }, event_id: `ev2-${tag}` });
      assert.equal(again.status, 200, `the acknowledged event survived: ${again.text}`);
      assert.equal(again.json.duplicate, true);
      for (const s of subs) {
        const runs = await waitFor(async () => {
          const rs = await topicRuns(t, s);
          return rs.length >= 2 ? rs : null;
        }, { what: `the runs of ${s.id}` });
        assert.equal(runs.length, 2, `${s.id}: one run per event`);
        assert.deepEqual(runs.map((x) => x.trigger.event_id).sort(), [e1.json.id, `ev2-${tag}`].sort());
        for (const r of runs) {
          const done = await waitRun(t, r.id, { timeoutMs: 20000 });
          assert.equal(done.status, 'completed', `${r.id}: ${JSON.stringify(done.last_error)}`);
          assert.equal(done.output, `handled ${tag}`);
        }
      }
      // Six runs, six model calls charged once each.
      const ledger = await t.ledger();
      assert.equal(ledger.length, 6, `ledger: ${JSON.stringify(ledger).slice(0, 500)}`);
      assert.ok(walletInvariantHolds(await t.wallet()));
    } finally {
      off();
    }
  });

  it('the built-in publish tool: one agent publishes, a subscriber runs; published_events listed', T, async () => {
    const t = await tenant();
    const sub = await createAgent(t, { model: MOCK, triggers: [{ type: 'topic', pattern: 'pub.*', input: 'got {{payload.k}} on {{topic}}' }] });
    const pub = await createAgent(t, { model: MOCK, tools: [{ type: 'publish' }] });
    const ar = await waitRun(t, (await fire(t, pub.id, '#mock:tool=publish:{"topic":"pub.t1","payload":{"k":"v1"}}')).id);
    assert.equal(ar.status, 'completed', JSON.stringify(ar.last_error));
    assert.equal(ar.published_events.length, 1, JSON.stringify(ar));
    assert.equal(ar.published_events[0].topic, 'pub.t1');
    const call = ar.log.data.find((e) => e.type === 'tool_call');
    assert.equal(call.name, 'publish');
    const out = JSON.parse(call.output);
    assert.equal(out.published, true);
    assert.equal(out.event_id, ar.published_events[0].event_id);
    assert.equal(out.deliveries, 1);
    const runs = await topicRuns(t, sub);
    assert.equal(runs.length, 1);
    assert.equal(runs[0].trigger.event_id, ar.published_events[0].event_id);
    const done = await waitRun(t, runs[0].id);
    assert.equal(done.input, 'got v1 on pub.t1');
    assert.equal(done.status, 'completed');
    const ev = await t.api('GET', '/v1/topics/pub.t1/events');
    assert.equal(ev.json.data.length, 1);
    assert.equal(ev.json.data[0].source.agent_run_id, ar.id);
    // A bad topic is an error result for the model, not a failed run.
    const bad = await waitRun(t, (await fire(t, pub.id, '#mock:tool=publish:{"topic":"pub..bad","payload":1}')).id);
    assert.equal(bad.status, 'completed');
    assert.deepEqual(bad.published_events, []);
    assert.match(bad.log.data.find((e) => e.type === 'tool_call').output, /^error:/);
  });

  it('an agent that publishes to a topic it listens on stops after a bounded number of hops', T, async () => {
    const t = await tenant();
    const loopInput = '#mock:tool=publish:{"topic":"loop.a","payload":1}';
    const a = await createAgent(t, { model: MOCK, tools: [{ type: 'publish' }], triggers: [{ type: 'topic', pattern: 'loop.*', input: loopInput }] });
    await waitRun(t, (await fire(t, a.id, loopInput)).id);
    // Each run publishes once; hops are counted, so the chain ends.
    let n = 0;
    await waitFor(async () => {
      const runs = await runsOf(t, a.id);
      const settled = runs.every((r) => TERMINAL.has(r.status));
      const same = runs.length === n;
      n = runs.length;
      return settled && same && n > 1 ? runs : null;
    }, { what: 'the publish loop to settle', timeoutMs: 10000, intervalMs: 300 });
    // The manual run's event is hop 1; runs of hops 1..4 publish again; hop 5 is delivered to no one.
    assert.equal(n, 5, `the loop is bounded: the manual run and 4 topic runs (${n} runs)`);
    const ev = await t.api('GET', '/v1/topics/loop.a/events?limit=100');
    assert.equal(ev.json.data.length, 5, 'five events published');
    assert.deepEqual(ev.json.data.map((e) => e.hops).sort(), [1, 2, 3, 4, 5]);
    assert.deepEqual(ev.json.data.find((e) => e.hops === 5).deliveries, [], 'the last hop is not delivered');
  });
});

// ---- 5. delegation ---------------------------------------------------------------------------

describe('delegation', () => {
  it('5 children in parallel, one failing: 5 results, the parent completes; the budget envelope is split and returned', T, async () => {
    const t = await tenant();
    const tag = `dlg-${nonce()}`;
    const worker = await createAgent(t, { name: 'worker', model: FAKE, instructions: `worker persona ${tag}`, budget: { per_run_ot: '0.05' } });
    const tasks = [
      { agent_id: worker.id, input: `child ${tag} 0` },
      { input: `child ${tag} 1`, instructions: `inline persona ${tag}` },
      { input: `child ${tag} 2` },
      { input: `child ${tag} 3 FAIL` },
      { input: `child ${tag} 4`, model: FAKE },
    ];
    let toolResult = null;
    const off = fake.respond((body) => {
      const u = lastUser(body);
      if (!u.includes(tag)) return undefined;
      if (u.startsWith('child')) {
        if (u.includes('FAIL')) return { status: 400, error: { message: `the child request was refused ${tag}`, type: 'invalid_request_error' } };
        return { text: `result of ${u}`, delayMs: 50 };
      }
      if (hasToolMessage(body)) {
        toolResult = body.messages.find((m) => m.role === 'tool');
        return { text: `summary ${tag}` };
      }
      return { toolCalls: [{ id: `call_${tag}`, name: 'delegate', arguments: { tasks } }] };
    });
    try {
      const parent = await createAgent(t, { name: 'boss', model: FAKE, tools: [{ type: 'delegate' }], budget: { per_run_ot: '1' } });
      const ar = await waitRun(t, (await fire(t, parent.id, `delegate ${tag}`)).id, { timeoutMs: 20000 });
      assert.equal(ar.status, 'completed', JSON.stringify(ar.last_error));
      assert.equal(ar.output, `summary ${tag}`);
      assert.ok(toolResult, 'the parent model got the tool result');
      assert.equal(toolResult.tool_call_id, `call_${tag}`);
      const res = JSON.parse(plain(toolResult.content));
      assert.equal(res.total, 5);
      assert.equal(res.completed, 4);
      assert.equal(res.children.length, 5);
      const failed = res.children.filter((c) => c.status === 'failed');
      assert.equal(failed.length, 1, JSON.stringify(res.children));
      assert.ok(JSON.stringify(failed[0].error).includes(tag) || failed[0].error, `the failure is reported: ${JSON.stringify(failed[0])}`);
      for (const [i, c] of res.children.entries()) {
        assert.match(c.agent_run_id, /^arun_/);
        if (i === 3) continue;
        assert.equal(c.status, 'completed', JSON.stringify(c));
        assert.equal(c.output, `result of child ${tag} ${i}`, 'results in task order');
      }
      assert.equal(res.children[0].agent_id, worker.id);
      // Budget: the envelope is what was left of the parent's 1 O₮ after its first model call.
      const first = ar.log.data.find((e) => e.type === 'model_call');
      const envelope = 1e6 - uot(first.cost_ot);
      assert.equal(uot(res.budget.envelope_ot), envelope, JSON.stringify(res.budget));
      const childRuns = await Promise.all(res.children.map((c) => getRun(t, c.agent_run_id)));
      const spent = childRuns.reduce((s, c) => s + uot(c.cost_ot), 0);
      assert.equal(uot(res.budget.spent_ot), spent);
      assert.ok(spent > 0);
      assert.equal(uot(res.budget.returned_ot), envelope - spent, 'what the children did not spend returns');
      const share = Math.floor(envelope / 5);
      for (const [i, c] of childRuns.entries()) {
        assert.equal(c.parent.agent_run_id, ar.id);
        assert.equal(c.depth, 1);
        assert.equal(c.trigger.type, 'delegate');
        assert.equal(c.trigger.index, i);
        // A child's budget is its share (capped by its own agent's per-run budget).
        assert.equal(uot(c.budget_ot), i === 0 ? Math.min(share, 50000) : share, `child ${i} budget_ot ${c.budget_ot}`);
      }
      assert.equal(childRuns[3].status, 'failed');
      assert.equal(childRuns[0].agent_id, worker.id);
      assert.equal(childRuns[1].agent_id, parent.id, 'an inline sub-agent runs as the parent agent');
      // The children ran in parallel and as their personas.
      const reqs = fake.chatRequests().filter((r) => lastUser(r.body).startsWith(`child ${tag}`));
      assert.equal(reqs.length, 5);
      const sys = (i) => plain(reqs.find((r) => lastUser(r.body) === tasks[i].input).body.messages.find((m) => m.role === 'system' || m.role === 'developer')?.content);
      assert.ok(sys(0).includes(`worker persona ${tag}`), 'the named agent persona');
      assert.ok(sys(1).includes(`inline persona ${tag}`), 'the inline persona');
      // The parent's log lists its children with their states, and the cost includes theirs.
      const view = await getRun(t, ar.id);
      assert.deepEqual(view.children.map((c) => c.id), res.children.map((c) => c.agent_run_id));
      assert.deepEqual(view.children.map((c) => c.status).sort(), ['completed', 'completed', 'completed', 'completed', 'failed']);
      const tc = view.log.data.find((e) => e.type === 'tool_call' && e.name === 'delegate');
      assert.ok(tc, 'the delegate call is in the log');
      assert.deepEqual(JSON.parse(tc.output).children.length, 5);
      // Money: every model call of the parent and the children is in the ledger once.
      const ledger = await t.ledger();
      const ids = [view, ...childRuns].flatMap((r) => r.log.data.filter((e) => e.type === 'model_call').map((e) => e.response_id));
      assert.equal(ids.length, 6, 'two parent calls and four successful child calls');
      for (const id of ids) assert.equal(ledger.filter((e) => e.response_id === id).length, 1, `ledger entry for ${id}`);
      assert.equal(ledger.length, 6, 'the failed call is not charged');
      assert.ok(walletInvariantHolds(await t.wallet()));
    } finally {
      off();
    }
  });

  it('kill -9 while the children run: after the restart the children finish and the parent gets all results once', T, async () => {
    const t = await tenant();
    const tag = `dlgk-${nonce()}`;
    let toolResults = 0;
    let childCalls = 0;
    const off = fake.respond((body) => {
      const u = lastUser(body);
      if (!u.includes(tag)) return undefined;
      if (u.startsWith('child')) {
        childCalls += 1;
        // Before the kill the children hang (their calls are cut); after it they answer.
        return killed ? { text: `done ${u}` } : { hang: true };
      }
      if (hasToolMessage(body)) {
        toolResults += 1;
        return { text: `summary ${tag} ${JSON.parse(plain(body.messages.find((m) => m.role === 'tool').content)).completed}` };
      }
      return { toolCalls: [{ id: `call_${tag}`, name: 'delegate', arguments: { tasks: [0, 1, 2].map((i) => ({ input: `child ${tag} ${i}` })) } }] };
    });
    let killed = false;
    try {
      const parent = await createAgent(t, { name: 'boss-k', model: FAKE, tools: [{ type: 'delegate' }] });
      const arid = (await fire(t, parent.id, `delegate ${tag}`)).id;
      await waitFor(() => childCalls === 3, { what: 'the three children calling the model' });
      await oag.kill9();
      killed = true;
      await oag.restart();
      const ar = await waitRun(t, arid, { timeoutMs: 20000 });
      assert.equal(ar.status, 'completed', JSON.stringify(ar.last_error));
      assert.equal(ar.output, `summary ${tag} 3`, 'all three children completed and were reported');
      assert.equal(toolResults, 1, 'the parent got the delegation result once');
      assert.equal(ar.children.length, 3, 'no child was started twice');
      for (const c of ar.children) assert.equal(c.status, 'completed');
    } finally {
      off();
    }
  });

  it('depth cap and fan-out cap: the delegate call gets an error result, the parent completes', T, async () => {
    const t = await tenant();
    const flat = await createAgent(t, { model: MOCK, tools: [{ type: 'delegate' }], limits: { max_delegation_depth: 0 } });
    const d = await waitRun(t, (await fire(t, flat.id, '#mock:tool=delegate:{"tasks":[{"input":"x"}]}')).id);
    assert.equal(d.status, 'completed');
    const dc = d.log.data.find((e) => e.type === 'tool_call');
    assert.match(dc.output, /^error: .*depth/, dc.output);
    assert.deepEqual(d.children, [], 'no child started');
    const narrow = await createAgent(t, { model: MOCK, tools: [{ type: 'delegate' }], limits: { max_parallel_children: 2 } });
    const f = await waitRun(t, (await fire(t, narrow.id, '#mock:tool=delegate:{"tasks":[{"input":"a"},{"input":"b"},{"input":"c"}]}')).id);
    assert.equal(f.status, 'completed');
    const fc = f.log.data.find((e) => e.type === 'tool_call');
    assert.match(fc.output, /^error: /, fc.output);
    assert.match(fc.output, /2/, 'names the limit');
    assert.deepEqual(f.children, []);
    // Within the cap it works (mock children echo their input).
    const ok = await waitRun(t, (await fire(t, narrow.id, '#mock:tool=delegate:{"tasks":[{"input":"alpha"},{"input":"beta"}]}')).id);
    const res = JSON.parse(ok.log.data.find((e) => e.type === 'tool_call').output);
    assert.deepEqual(res.children.map((c) => c.output), ['alpha', 'beta']);
    assert.equal(res.completed, 2);
    assert.equal(ok.children.length, 2);
    // A child at depth 1 of an agent allowing depth 1 cannot delegate again. (The child's
    // directive is escaped as \u0023 so that the parent's mock call does not run it.)
    const one = await createAgent(t, { model: MOCK, tools: [{ type: 'delegate' }], limits: { max_delegation_depth: 1 } });
    const child = await createAgent(t, { model: MOCK, tools: [{ type: 'delegate' }], limits: { max_delegation_depth: 1 } });
    const nested = await waitRun(t, (await fire(t, one.id, `#mock:tool=delegate:{"tasks":[{"agent_id":"${child.id}","input":"\\u0023mock:tool=delegate:{\\"tasks\\":[{\\"input\\":\\"deep\\"}]}"}]}`)).id);
    const nres = JSON.parse(nested.log.data.find((e) => e.type === 'tool_call').output);
    assert.equal(nres.children[0].status, 'completed');
    const c1 = await getRun(t, nres.children[0].agent_run_id);
    assert.match(c1.log.data.find((e) => e.type === 'tool_call').output, /^error: .*depth/, 'depth 2 is refused for the child');
    assert.deepEqual(c1.children, []);
  });
});

// ---- 6. approvals ----------------------------------------------------------------------------

const CHAT = 4242;

async function putTelegram(t, body = {}) {
  const r = await t.api('PUT', '/v1/telegram', { bot_token: tg.token, chat_ids: [CHAT], ...body });
  assert.equal(r.status, 200, `PUT /v1/telegram: ${r.text}`);
  assert.match(r.json.webhook_path, /^\/telegram\/tg_/);
  assert.ok(r.json.secret_token, 'a secret token');
  assert.ok(!r.text.includes(tg.token), 'the bot token is never shown');
  return r.json;
}

const tgUpdate = (settings, update, secret = settings.secret_token) =>
  oag.request('POST', settings.webhook_path, { body: update, headers: secret === null ? {} : { 'x-telegram-bot-api-secret-token': secret } });

const payInput = (amount) => `#mock:tool=pay:{"amount":${amount},"to":"bob"}`;
const gatedAgent = (t, extra = {}) =>
  createAgent(t, {
    model: MOCK,
    tools: [{ type: 'function', function: { name: 'pay' } }],
    approval: { tools: { pay: { when: { path: 'amount', op: '>=', value: 100 } } }, ...extra },
  });

async function pendingApproval(t, arid) {
  const ar = await waitRun(t, arid, { status: 'awaiting_approval' });
  assert.equal(ar.approvals.length, 1, JSON.stringify(ar));
  assert.equal(ar.approvals[0].status, 'pending');
  return ar.approvals[0];
}

describe('approvals', () => {
  it('through Telegram: park, kill -9 while parked, Approve button → the tool runs once; duplicates, wrong secret, forged data', T, async () => {
    const t = await tenant();
    const pay = await payTool(t);
    const settings = await putTelegram(t);
    const got = await t.api('GET', '/v1/telegram');
    assert.equal(got.status, 200);
    assert.deepEqual(got.json.chat_ids, [CHAT]);
    assert.equal(got.json.webhook_path, settings.webhook_path);
    const agent = await gatedAgent(t);

    // Below the threshold: no approval, the tool runs.
    const small = await waitRun(t, (await fire(t, agent.id, payInput(5))).id);
    assert.equal(small.status, 'completed');
    assert.deepEqual(small.approvals, []);
    assert.equal(pay.calls().length, 1);
    assert.deepEqual(pay.calls()[0].body, { amount: 5, to: 'bob' });

    // Above: the run parks.
    const sent0 = tg.callsOf('sendMessage').length;
    const arid = (await fire(t, agent.id, payInput(150))).id;
    const ap = await pendingApproval(t, arid);
    assert.match(ap.id, /^apr_/);
    assert.equal(ap.tool, 'pay');
    assert.deepEqual(JSON.parse(ap.arguments), { amount: 150, to: 'bob' });
    assert.equal(ap.agent_run_id, arid);
    const pend = await t.api('GET', '/v1/approvals?status=pending');
    assert.equal(pend.status, 200, pend.text);
    assert.deepEqual(pend.json.data.map((a) => a.id), [ap.id]);
    assert.equal(pay.calls().length, 1, 'the gated call did not run');
    // Telegram got the request with two buttons.
    await waitFor(() => tg.callsOf('sendMessage').length === sent0 + 1, { what: 'sendMessage' });
    const send = tg.callsOf('sendMessage').at(-1);
    assert.equal(send.status, 200, JSON.stringify(send.reply));
    assert.equal(send.httpMethod, 'POST');
    assert.match(send.headers['content-type'], /application\/json/);
    assert.equal(send.body.chat_id, CHAT);
    assert.ok(send.body.text.includes(ap.id) && send.body.text.includes('pay') && send.body.text.includes('150'), send.body.text);
    const kb = send.body.reply_markup.inline_keyboard;
    assert.equal(kb.length, 1);
    assert.equal(kb[0].length, 2, 'Approve and Reject');
    for (const b of kb[0]) assert.ok(Buffer.byteLength(b.callback_data) <= 64, `callback_data ${b.callback_data}`);
    const [approveData, rejectData] = kb[0].map((b) => b.callback_data);
    assert.match(kb[0][0].text, /Approve/);
    assert.match(kb[0][1].text, /Reject/);
    assert.notEqual(approveData, rejectData);
    const message = send.reply.result;
    await waitFor(async () => (await t.api('GET', `/v1/approvals/${ap.id}`)).json.telegram_messages.length === 1, { what: 'the message id to be kept' });

    // OAG dies while the run is parked.
    await oag.kill9();
    await oag.restart();
    assert.equal((await getRun(t, arid)).status, 'awaiting_approval', 'still parked after the restart');

    // Wrong or missing secret: 401, nothing decided.
    const press = tg.callbackUpdate(message, approveData);
    assertError(await tgUpdate(settings, press, 'wrong-secret'), 401, 'wrong secret');
    assertError(await tgUpdate(settings, press, null), 401, 'no secret');
    assertError(await oag.request('POST', '/telegram/tg_doesnotexist', { body: press, headers: { 'x-telegram-bot-api-secret-token': settings.secret_token } }), 404, 'unknown hook');
    // Forged data: the tag does not verify; the approve tag on a reject button either.
    const answered0 = tg.callsOf('answerCallbackQuery').length;
    const forged = [`a:${ap.id}.AAAAAAAAAAAAAAAAAAAAAA`, `r:${ap.id}.${approveData.split('.')[1]}`, 'garbage'];
    for (const data of forged) {
      const r = await tgUpdate(settings, tg.callbackUpdate(message, data));
      assert.equal(r.status, 200, r.text);
    }
    await waitFor(() => tg.callsOf('answerCallbackQuery').length === answered0 + 3, { what: 'the forged presses answered' });
    assert.equal((await t.api('GET', `/v1/approvals/${ap.id}`)).json.status, 'pending', 'forged data decides nothing');
    // A press from another chat decides nothing.
    const otherChat = { ...message, chat: { ...message.chat, id: 999 } };
    assert.equal((await tgUpdate(settings, tg.callbackUpdate(otherChat, approveData))).status, 200);
    // A non-button update is acknowledged and ignored.
    assert.equal((await tgUpdate(settings, { update_id: 1, message: { message_id: 1, date: 0, chat: { id: CHAT, type: 'private' }, text: 'hi' } })).status, 200);
    assert.equal((await t.api('GET', `/v1/approvals/${ap.id}`)).json.status, 'pending');
    assert.equal(pay.calls().length, 1);

    // The genuine press.
    const r = await tgUpdate(settings, press);
    assert.equal(r.status, 200, r.text);
    const done = await waitRun(t, arid);
    assert.equal(done.status, 'completed', JSON.stringify(done.last_error));
    assert.equal(pay.calls().length, 2, 'the tool ran once');
    assert.deepEqual(pay.calls()[1].body, { amount: 150, to: 'bob' });
    const decided = (await t.api('GET', `/v1/approvals/${ap.id}`)).json;
    assert.equal(decided.status, 'approved');
    assert.equal(decided.decided_by, 'telegram:@ann');
    const tc = done.log.data.find((e) => e.type === 'tool_call');
    assert.equal(tc.oag.approval, 'approved');
    assert.equal(tc.oag.approval_id, ap.id);
    assert.match(tc.output, /"amount":150/);
    await waitFor(() => tg.callsOf('answerCallbackQuery').some((c) => c.body.callback_query_id === press.callback_query.id), { what: 'answerCallbackQuery' });
    await waitFor(() => tg.callsOf('editMessageText').some((c) => c.body.message_id === message.message_id && c.status === 200), { what: 'editMessageText' });
    const edit = tg.callsOf('editMessageText').find((c) => c.body.message_id === message.message_id);
    assert.equal(edit.body.chat_id, CHAT);
    assert.match(edit.body.text, /Approved by @ann$/);
    assert.ok(!edit.body.reply_markup, 'the keyboard is removed');

    // Duplicates: Telegram redelivers the same update; a second press sends a new update with the same data.
    const edits = tg.callsOf('editMessageText').length;
    assert.equal((await tgUpdate(settings, press)).status, 200);
    const again = tg.callbackUpdate(message, approveData);
    assert.equal((await tgUpdate(settings, again)).status, 200);
    await waitFor(() => tg.callsOf('answerCallbackQuery').some((c) => c.body.callback_query_id === again.callback_query.id), { what: 'the second press answered' });
    assert.match(tg.callsOf('answerCallbackQuery').find((c) => c.body.callback_query_id === again.callback_query.id).body.text, /already decided/);
    const rej = await tgUpdate(settings, tg.callbackUpdate(message, rejectData));
    assert.equal(rej.status, 200);
    await advance(1);
    assert.equal(pay.calls().length, 2, 'the tool did not run twice');
    assert.equal((await t.api('GET', `/v1/approvals/${ap.id}`)).json.status, 'approved', 'the first decision stands');
    assert.equal(tg.callsOf('editMessageText').length, edits, 'no second edit');
    assert.equal((await runsOf(t, agent.id)).length, 2);

    // The Reject button: the model gets the rejection, the tool never runs.
    const arid2 = (await fire(t, agent.id, payInput(500))).id;
    const ap2 = await pendingApproval(t, arid2);
    await waitFor(() => tg.callsOf('sendMessage').some((c) => c.body.text.includes(ap2.id)), { what: 'the second sendMessage' });
    const send2 = tg.callsOf('sendMessage').find((c) => c.body.text.includes(ap2.id));
    const rd = send2.body.reply_markup.inline_keyboard[0][1].callback_data;
    assert.equal((await tgUpdate(settings, tg.callbackUpdate(send2.reply.result, rd))).status, 200);
    const done2 = await waitRun(t, arid2);
    assert.equal(done2.status, 'completed');
    assert.match(done2.output, /rejected/);
    assert.equal(pay.calls().length, 2, 'a rejected call never runs');
    await waitFor(() => tg.callsOf('editMessageText').some((c) => c.body.message_id === send2.reply.result.message_id && /Rejected/.test(c.body.text)), { what: 'the rejection shown' });
  });

  it('through the API: approve → 200, a second decision → 409; reject → the rejection is the tool message; expiry counts as rejected', T, async () => {
    const t = await tenant();
    const pay = await payTool(t);
    const agent = await gatedAgent(t, { expires_in_s: 60 });
    // Approve, then approve and reject again.
    const a1 = (await fire(t, agent.id, payInput(100))).id;
    const ap1 = await pendingApproval(t, a1);
    const ok1 = await t.api('POST', `/v1/approvals/${ap1.id}/approve`, { reason: 'looks fine' });
    assert.equal(ok1.status, 200, ok1.text);
    assert.equal(ok1.json.status, 'approved');
    assert.equal(ok1.json.decided_by, 'api');
    assert.equal(ok1.json.reason, 'looks fine');
    assertError(await t.api('POST', `/v1/approvals/${ap1.id}/approve`, {}), 409, 'second approve', 'approval_already_decided');
    assertError(await t.api('POST', `/v1/approvals/${ap1.id}/reject`, {}), 409, 'reject after approve', 'approval_already_decided');
    assert.equal((await waitRun(t, a1)).status, 'completed');
    assert.equal(pay.calls().length, 1);
    // Concurrent decisions: exactly one wins.
    const a2 = (await fire(t, agent.id, payInput(200))).id;
    const ap2 = await pendingApproval(t, a2);
    const both = await Promise.all([t.api('POST', `/v1/approvals/${ap2.id}/approve`, {}), t.api('POST', `/v1/approvals/${ap2.id}/approve`, {}), t.api('POST', `/v1/approvals/${ap2.id}/reject`, {})]);
    assert.deepEqual(both.map((r) => r.status).sort(), [200, 409, 409]);
    await waitRun(t, a2);
    assert.equal(pay.calls().length, (await t.api('GET', `/v1/approvals/${ap2.id}`)).json.status === 'approved' ? 2 : 1);
    const callsBefore = pay.calls().length;

    // Expiry: the clock passes expires_in_s; it counts as rejected.
    const a3 = (await fire(t, agent.id, payInput(300))).id;
    const ap3 = await pendingApproval(t, a3);
    assert.equal(ap3.expires_at - ap3.created_at, 60);
    await advance(61);
    const done3 = await waitRun(t, a3);
    assert.equal(done3.status, 'completed');
    assert.match(done3.output, /rejected.*expired/);
    const exp = (await t.api('GET', `/v1/approvals/${ap3.id}`)).json;
    assert.equal(exp.status, 'expired');
    const late = await t.api('POST', `/v1/approvals/${ap3.id}/approve`, {});
    assertError(late, 409, 'approving an expired approval');
    assert.ok(['approval_expired', 'approval_already_decided'].includes(late.json.error.code), late.text);
    assert.equal(pay.calls().length, callsBefore, 'an expired approval never runs the tool');
    assert.deepEqual((await t.api('GET', '/v1/approvals?status=expired')).json.data.map((a) => a.id), [ap3.id]);
    // Errors.
    assertError(await t.api('POST', '/v1/approvals/apr_nope/approve', {}), 404, 'unknown approval');
    assertError(await t.api('GET', '/v1/approvals?status=maybe'), 400, 'bad status filter');
    assertError(await t.api('POST', `/v1/approvals/${ap3.id}/approve`, { reason: 5 }), 400, 'bad reason');
  });

  it('reject with a reason: the model gets the rejection as the tool message; the tool is never called', T, async () => {
    const t = await tenant();
    const pay = await payTool(t);
    const tag = `rej-${nonce()}`;
    let toolMsg = null;
    const off = fake.respond((body) => {
      if (!lastUser(body).includes(tag)) return undefined;
      if (hasToolMessage(body)) {
        toolMsg = body.messages.find((m) => m.role === 'tool');
        return { text: `ok, not paying ${tag}` };
      }
      return { toolCalls: [{ id: `call_${tag}`, name: 'pay', arguments: { amount: 1000, to: 'eve' } }] };
    });
    try {
      const agent = await createAgent(t, { model: FAKE, tools: [{ type: 'function', function: { name: 'pay' } }], approval: { tools: { pay: 'always' } } });
      const arid = (await fire(t, agent.id, `pay eve ${tag}`)).id;
      const ap = await pendingApproval(t, arid);
      const r = await t.api('POST', `/v1/approvals/${ap.id}/reject`, { reason: 'eve is not a supplier' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.status, 'rejected');
      const done = await waitRun(t, arid);
      assert.equal(done.status, 'completed');
      assert.equal(done.output, `ok, not paying ${tag}`);
      assert.ok(toolMsg, 'the model was called again with the tool message');
      assert.equal(toolMsg.tool_call_id, `call_${tag}`);
      assert.match(plain(toolMsg.content), /rejected/);
      assert.match(plain(toolMsg.content), /eve is not a supplier/);
      assert.equal(pay.calls().length, 0, 'the tool was never called');
      const tc = done.log.data.find((e) => e.type === 'tool_call');
      assert.equal(tc.oag.approval, 'rejected');
    } finally {
      off();
    }
  });

  it('a bot token Telegram refuses (401): the approval still waits and can be decided through the API', T, async () => {
    const t = await tenant();
    await payTool(t);
    const bad = `${tg.token.split(':')[0]}:AAHwrongWRONGwrong_wrong-WRONGwrong01234`;
    const r = await t.api('PUT', '/v1/telegram', { bot_token: bad, chat_ids: [CHAT] });
    assert.equal(r.status, 200, r.text);
    const agent = await gatedAgent(t);
    const arid = (await fire(t, agent.id, payInput(700))).id;
    const ap = await pendingApproval(t, arid);
    await waitFor(() => tg.calls.some((c) => c.token === bad && c.method === 'sendMessage'), { what: 'the refused sendMessage' });
    const refused = tg.calls.find((c) => c.token === bad);
    assert.equal(refused.status, 401);
    assert.deepEqual(refused.reply, { ok: false, error_code: 401, description: 'Unauthorized' });
    assert.equal((await t.api('GET', `/v1/approvals/${ap.id}`)).json.status, 'pending');
    assert.equal((await t.api('POST', `/v1/approvals/${ap.id}/approve`, {})).status, 200);
    assert.equal((await waitRun(t, arid)).status, 'completed');
    // Telegram settings: validation, delete.
    assertError(await t.api('PUT', '/v1/telegram', { bot_token: 'nope', chat_ids: [CHAT] }), 400, 'bad bot token');
    assertError(await t.api('PUT', '/v1/telegram', { bot_token: tg.token, chat_ids: [] }), 400, 'no chat ids');
    assertError(await t.api('PUT', '/v1/telegram', { bot_token: tg.token, chat_ids: [CHAT], extra: 1 }), 400, 'unknown field');
    const del = await t.api('DELETE', '/v1/telegram');
    assert.equal(del.status, 200, del.text);
    assertError(await t.api('GET', '/v1/telegram'), 404, 'deleted');
  });
});

// ---- 7. tenancy --------------------------------------------------------------------------------

describe('tenancy', () => {
  it("another company's agents, runs, approvals, topics, events and Telegram settings are invisible or unaffected", T, async () => {
    const A = await tenant();
    const B = await tenant();
    await payTool(A);
    const settingsA = await putTelegram(A);
    const sub = await createAgent(A, { model: MOCK, triggers: [{ type: 'topic', pattern: 'shared.*' }, { type: 'webhook' }] });
    const gated = await gatedAgent(A);
    const arid = (await fire(A, gated.id, payInput(999))).id;
    const ap = await pendingApproval(A, arid);
    const evA = await A.api('POST', '/v1/topics/shared.x/events', { payload: { from: 'A' }, event_id: 'same-id' });
    assert.equal(evA.status, 202);
    const runsA = (await runsOf(A, sub.id)).length;
    assert.equal(runsA, 1);

    // Agents.
    assertError(await B.api('GET', `/v1/agents/${sub.id}`), 404, 'B retrieves A agent');
    assertError(await B.api('POST', `/v1/agents/${sub.id}`, { name: 'stolen' }), 404, 'B modifies A agent');
    assertError(await B.api('DELETE', `/v1/agents/${sub.id}`), 404, 'B deletes A agent');
    assertError(await B.api('POST', `/v1/agents/${sub.id}/runs`, { input: 'x' }), 404, 'B fires A agent');
    assertError(await B.api('GET', `/v1/agents/${sub.id}/runs`), 404, 'B lists A agent runs');
    assert.deepEqual((await B.api('GET', '/v1/agents')).json.data, []);
    // Agent runs.
    assertError(await B.api('GET', `/v1/agent-runs/${arid}`), 404, 'B reads A agent run');
    assertError(await B.api('GET', `/v1/agent-runs/${arid}/log`), 404, 'B reads A agent run log');
    // Approvals.
    assertError(await B.api('GET', `/v1/approvals/${ap.id}`), 404, 'B reads A approval');
    assertError(await B.api('POST', `/v1/approvals/${ap.id}/approve`, {}), 404, 'B approves A approval');
    assertError(await B.api('POST', `/v1/approvals/${ap.id}/reject`, {}), 404, 'B rejects A approval');
    assert.deepEqual((await B.api('GET', '/v1/approvals?status=pending')).json.data, []);
    assert.equal((await A.api('GET', `/v1/approvals/${ap.id}`)).json.status, 'pending', 'still pending for A');
    // Topics: B publishing (same topic, same event id) starts none of A's subscribers.
    const evB = await B.api('POST', '/v1/topics/shared.x/events', { payload: { from: 'B' }, event_id: 'same-id' });
    assert.equal(evB.status, 202, `not a duplicate of A's event: ${evB.text}`);
    assert.equal(evB.json.duplicate, false);
    assert.deepEqual(evB.json.deliveries, []);
    assert.deepEqual((await B.api('GET', '/v1/topics/shared.x/events')).json.data.map((e) => e.payload), [{ from: 'B' }]);
    assert.deepEqual((await A.api('GET', '/v1/topics/shared.x/events')).json.data.map((e) => e.payload), [{ from: 'A' }]);
    assert.equal((await runsOf(A, sub.id)).length, runsA, "B's event did not reach A's subscriber");
    // B's agents do not get A's events either.
    const subB = await createAgent(B, { model: MOCK, triggers: [{ type: 'topic', pattern: 'shared.*' }] });
    const ev2 = await A.api('POST', '/v1/topics/shared.y/events', { payload: 1 });
    assert.deepEqual(ev2.json.deliveries.map((d) => d.agent_id), [sub.id]);
    assert.equal((await runsOf(B, subB.id)).length, 0);
    // Telegram settings.
    assertError(await B.api('GET', '/v1/telegram'), 404, "B reads A's Telegram settings");
    assertError(await B.api('DELETE', '/v1/telegram'), 404, "B deletes A's Telegram settings");
    const settingsB = await putTelegram(B, { secret_token: 'b-secret-token' });
    assert.notEqual(settingsB.webhook_path, settingsA.webhook_path);
    assert.equal((await A.api('GET', '/v1/telegram')).json.secret_token, settingsA.secret_token, "A's settings unchanged");
    // A's approval button pressed through B's hook (with B's secret): not A's decision.
    await waitFor(() => tg.callsOf('sendMessage').some((c) => c.body.text.includes(ap.id)), { what: "A's sendMessage" });
    const sendA = tg.callsOf('sendMessage').find((c) => c.body.text.includes(ap.id));
    const press = tg.callbackUpdate(sendA.reply.result, sendA.body.reply_markup.inline_keyboard[0][0].callback_data);
    assert.equal((await tgUpdate(settingsB, press)).status, 200);
    assertError(await tgUpdate({ ...settingsA, secret_token: settingsB.secret_token }, press), 401, "B's secret on A's hook");
    await waitFor(() => tg.callsOf('answerCallbackQuery').some((c) => c.body.callback_query_id === press.callback_query.id), { what: 'the press answered' });
    assert.equal((await A.api('GET', `/v1/approvals/${ap.id}`)).json.status, 'pending', "B's hook cannot decide A's approval");
    // A's hook still works for B? No: a hook belongs to its company; B's key does not matter.
    const hook = webhookOf(sub);
    const d = await deliver(hook, { via: 'hook' }, { headers: { authorization: `Bearer ${B.key}` } });
    assert.equal(d.status, 202);
    assert.equal(d.json.agent_id, sub.id);
    assertError(await B.api('GET', `/v1/agent-runs/${d.json.agent_run_id}`), 404, "B cannot read the hook's run");
    // Spend.
    const spendB = await B.api('GET', '/v1/spend?group_by=agent');
    assert.ok(!spendB.text.includes(sub.id) && !spendB.text.includes(gated.id), spendB.text);
    // Clean up A's parked run.
    assert.equal((await A.api('POST', `/v1/approvals/${ap.id}/reject`, {})).status, 200);
    await waitRun(A, arid);
  });
});

// ---- 8. money --------------------------------------------------------------------------------------

describe('money', () => {
  it("every agent run's model calls are in the ledger; the wallet invariant holds; spend by agent, model and day", T, async () => {
    const t = await tenant();
    const a = await createAgent(t, { model: MOCK, triggers: [{ type: 'webhook' }, { type: 'topic', pattern: 'm.*' }] });
    const p = await createAgent(t, { model: MOCK, tools: [{ type: 'delegate' }] });
    const ids = [];
    ids.push((await fire(t, a.id, 'manual money')).id);
    ids.push((await deliver(webhookOf(a), { m: 1 })).json.agent_run_id);
    ids.push((await t.api('POST', '/v1/topics/m.x/events', { payload: 'topic money' })).json.deliveries[0].agent_run_id);
    ids.push((await fire(t, p.id, '#mock:tool=delegate:{"tasks":[{"input":"c1"},{"input":"c2"}]}')).id);
    const runs = [];
    for (const id of ids) runs.push(await waitRun(t, id));
    for (const c of runs[3].children) runs.push(await waitRun(t, c.id));
    assert.equal(runs.length, 6);
    const ledger = await t.ledger();
    let total = 0;
    const calls = runs.flatMap((r) => r.log.data.filter((e) => e.type === 'model_call'));
    assert.equal(calls.length, 7, 'one call each, two for the delegating parent');
    for (const r of runs) {
      assert.equal(r.status, 'completed');
      const mine = r.log.data.filter((e) => e.type === 'model_call');
      const cost = mine.reduce((s, e) => s + uot(e.cost_ot), 0);
      assert.equal(uot(r.cost_ot), cost, `${r.id}: cost_ot is the sum of its model calls`);
      for (const e of mine) {
        const le = ledger.filter((x) => x.response_id === e.response_id);
        assert.equal(le.length, 1, `ledger entry for ${e.response_id}`);
        assert.equal(le[0].cost_uot, uot(e.cost_ot));
        total += le[0].cost_uot;
      }
    }
    assert.equal(ledger.length, 7, 'nothing else is charged');
    const w = await t.wallet();
    assert.ok(walletInvariantHolds(w), JSON.stringify(w));
    assert.equal(Number(w.spent_uot), total);
    assert.equal(Number(w.reserved_uot), 0);
    const byAgent = (await t.api('GET', '/v1/spend?group_by=agent')).json;
    assert.equal(byAgent.data.reduce((s, x) => s + x.cost_uot, 0), total);
    assert.equal(byAgent.data.find((x) => x.agent === a.id).runs, 3);
    const byModel = (await t.api('GET', '/v1/spend?group_by=model')).json;
    assert.equal(byModel.data.reduce((s, x) => s + x.cost_uot, 0), total);
    const byDay = (await t.api('GET', '/v1/spend?group_by=day')).json;
    assert.equal(uot(byDay.total_ot), total);
    assertError(await t.api('GET', '/v1/spend?group_by=week'), 400, 'bad group_by');
  });

  it('a per-day budget spent: further firings are refused (manual 402 insufficient_quota, webhook 402, topic skipped)', T, async () => {
    const t = await tenant();
    const a = await createAgent(t, { model: MOCK, budget: { per_day_ot: '0.0001' }, triggers: [{ type: 'webhook' }, { type: 'topic', pattern: 'budget.*' }] });
    const first = await waitRun(t, (await fire(t, a.id, 'spend it all')).id);
    assert.equal(first.status, 'completed');
    assert.ok(uot(first.cost_ot) >= 100, `the first run spent the day's budget (${first.cost_ot})`);
    assertError(await t.api('POST', `/v1/agents/${a.id}/runs`, { input: 'more' }), 402, 'manual firing', 'insufficient_quota');
    assertError(await deliver(webhookOf(a), { more: 1 }), 402, 'webhook firing');
    const ev = await t.api('POST', '/v1/topics/budget.x/events', { payload: 1 });
    assert.equal(ev.status, 202);
    assert.equal(ev.json.deliveries.length, 1);
    assert.ok(ev.json.deliveries[0].skipped && !ev.json.deliveries[0].agent_run_id, JSON.stringify(ev.json.deliveries));
    assert.equal((await runsOf(t, a.id)).length, 1, 'no other run started');
    assert.equal((await t.ledger()).length, 1);
    // The next day the budget is fresh.
    const now = await clockNow();
    await setClock((Math.floor(now / 86400) + 1) * 86400 + 60);
    assert.equal((await waitRun(t, (await fire(t, a.id, 'a new day')).id)).status, 'completed');
  });

  it('a per-run budget: a run stops (incomplete, max_budget) once it has spent its budget', T, async () => {
    const t = await tenant();
    const a = await createAgent(t, { model: MOCK, budget: { per_run_ot: '0.000001' }, tools: [{ type: 'publish' }] });
    const r = await waitRun(t, (await fire(t, a.id, '#mock:tool=publish:{"topic":"b.x","payload":1}')).id);
    assert.equal(r.status, 'incomplete', JSON.stringify(r));
    assert.equal(r.log.data.filter((e) => e.type === 'model_call').length, 1, 'no second model call');
  });
});
