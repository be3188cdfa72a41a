// The Responses API and conversations end to end through the official openai
// SDK (client.responses.*, client.conversations.*): text responses, the prompt
// stack as the upstream receives it (platform, company, persona =
// `instructions`), previous_response_id chains, streaming (event order,
// sequence numbers, the final response), client function tools with
// function_call_output, OAG's server-side tools looping inside one response,
// conversations CRUD and responses appended to a conversation, store:false,
// input_items pagination, errors (400 / 402 / 404 / failed), tenancy, and the
// money: every model call of a response is charged like a chat completion and
// the response's usage is their sum.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { APIError } from 'openai';
import { startFakeOpenAI } from './fake_openai.mjs';
import { startFakeToolService } from './fake_tool_service.mjs';
import { expectedCost, startOag, waitFor, walletInvariantHolds } from './harness.mjs';

const T = { timeout: 60000 };
const MOCK = 'mock/echo';
const PLATFORM_PROMPT = 'PLATFORM-RULES: be brief.';

let oag;
let fake;
let svc;

before(async () => {
  [fake, svc] = await Promise.all([startFakeOpenAI(), startFakeToolService()]);
  oag = await startOag({ name: 'responses', config: { system_prompt: PLATFORM_PROMPT } });
});

after(async () => {
  await oag?.cleanup();
  await fake?.close();
  await svc?.close();
});

// ---- helpers ----------------------------------------------------------------

const nonce = () => crypto.randomBytes(4).toString('hex');
const plain = (c) => (typeof c === 'string' ? c : Array.isArray(c) ? c.map((p) => p.text ?? '').join('') : c == null ? '' : JSON.stringify(c));
const outputText = (r) => r.output.filter((o) => o.type === 'message').map(textOfItem).join('');
const textOfItem = (item) => (item.content || []).map((p) => p.text ?? p.refusal ?? '').join('');

async function tenant(opts = {}) {
  const t = await oag.tenant({ credit: '1000', ...opts });
  t.api = (method, p, body) => oag.request(method, p, { body, token: t.key });
  return t;
}

async function putSettings(t, body) {
  const r = await oag.admin('PUT', `/admin/v1/companies/${t.companyId}/settings`, body);
  assert.ok(r.status === 200 || r.status === 204, `PUT settings: ${r.status} ${r.text}`);
}

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
  assert.equal(typeof err.error?.message, 'string', `${what}: OpenAI error shape: ${JSON.stringify(err.error)}`);
  return err;
}

/** System messages first, then the rest, of an upstream chat request. */
function splitSystem(body) {
  const sys = [];
  let i = 0;
  while (i < body.messages.length && body.messages[i].role === 'system') sys.push(plain(body.messages[i++].content));
  return { sys, rest: body.messages.slice(i).map((m) => [m.role, plain(m.content)]) };
}

/**
 * The money of a finished response: `oag.model_calls` lists each model call
 * (response_id, usage, cost_uot); response.usage is their sum; each call has
 * exactly one ledger entry with those tokens and cost; the wallet moved by
 * exactly the sum.
 */
async function checkMoney(t, resp, priceKey, walletBefore, calls) {
  const mc = resp.oag?.model_calls;
  assert.ok(Array.isArray(mc), `oag.model_calls: ${JSON.stringify(resp.oag)}`);
  if (calls !== undefined) assert.equal(mc.length, calls, 'number of model calls');
  let input = 0;
  let output = 0;
  let cost = 0;
  const ledger = await t.ledger();
  for (const c of mc) {
    const mine = ledger.filter((e) => e.response_id === c.response_id);
    assert.equal(mine.length, 1, `exactly one ledger entry for ${c.response_id}`);
    assert.equal(mine[0].input_tokens, c.usage.input_tokens, 'ledger input_tokens');
    assert.equal(mine[0].output_tokens, c.usage.output_tokens, 'ledger output_tokens');
    const expected = expectedCost(priceKey, { prompt_tokens: c.usage.input_tokens, completion_tokens: c.usage.output_tokens });
    assert.equal(c.cost_uot, expected, 'cost_uot exact');
    assert.equal(mine[0].cost_uot, expected, 'ledger cost_uot');
    input += c.usage.input_tokens;
    output += c.usage.output_tokens;
    cost += expected;
  }
  assert.equal(resp.usage.input_tokens, input, 'usage.input_tokens = Σ calls');
  assert.equal(resp.usage.output_tokens, output, 'usage.output_tokens = Σ calls');
  assert.equal(resp.usage.total_tokens, input + output, 'usage.total_tokens');
  if (walletBefore) {
    const w = await waitFor(async () => {
      const x = await t.wallet();
      return x.reserved_uot === walletBefore.reserved_uot ? x : null;
    }, { what: 'reservations released' });
    assert.equal(w.spent_uot - walletBefore.spent_uot, cost, 'wallet spent moved by exactly the response cost');
    assert.ok(walletInvariantHolds(w), `wallet invariant: ${JSON.stringify(w)}`);
  }
  return cost;
}

/** Drains a ResponseStream: events (cloned) and the final response. */
async function drain(stream) {
  const events = [];
  stream.on('event', (e) => events.push(structuredClone(e)));
  const final = await stream.finalResponse();
  return { events, types: events.map((e) => e.type), final };
}

function squash(types) {
  const out = [];
  for (const n of types) {
    const m = n.endsWith('.delta') ? `${n}*` : n;
    if (m.endsWith('*') && out.at(-1) === m) continue;
    out.push(m);
  }
  return out;
}

function checkSequence(events) {
  events.forEach((e, i) => assert.equal(e.sequence_number, i, `sequence_number ${i}: ${JSON.stringify(e).slice(0, 200)}`));
}

const weatherTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

// ---- 1. text responses ---------------------------------------------------------------

describe('responses: text', () => {
  it('create → completed Response object; retrieve gives the same; money matches the ledger', T, async () => {
    const t = await tenant();
    const w0 = await t.wallet();
    const word = `hello-${nonce()}`;
    const r = await t.client.responses.create({ model: MOCK, input: `say ${word}`, metadata: { k: 'v' } });
    assert.match(r.id, /^resp_/);
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.equal(r.model, MOCK);
    assert.equal(r.error, null);
    assert.deepEqual(r.metadata, { k: 'v' });
    assert.equal(r.store, true);
    assert.ok(Number.isInteger(r.created_at) && Number.isInteger(r.completed_at));
    assert.equal(r.output.length, 1);
    assert.equal(r.output[0].type, 'message');
    assert.equal(r.output[0].role, 'assistant');
    assert.match(r.output[0].id, /^msg_/);
    assert.ok(r.output_text.includes(word), `echo: ${r.output_text}`);
    assert.ok(!('history' in r) && !('input_items' in r), 'internal fields are not shown');
    const got = await t.client.responses.retrieve(r.id);
    const { output_text: _a, ...gotPlain } = got;
    const { output_text: _b, ...rPlain } = r;
    assert.deepEqual(gotPlain, rPlain, 'retrieve = create');
    await checkMoney(t, r, MOCK, w0, 1);
  });

  it('the prompt stack reaches the upstream: platform, company, persona (instructions); chains do not inherit instructions', T, async () => {
    const t = await tenant({ fake });
    const COMPANY = 'COMPANY-STYLE: answer like Acme.';
    await putSettings(t, { instructions: COMPANY });
    const PERSONA = 'PERSONA: You are Bob.';
    fake.reset();
    fake.next({ text: 'First answer', usage: { prompt_tokens: 20, completion_tokens: 2 } });
    const w0 = await t.wallet();
    const r1 = await t.client.responses.create({
      model: 'fake/gpt-4o-mini', instructions: PERSONA, input: 'first question', temperature: 0.3, max_output_tokens: 50,
    });
    assert.equal(r1.status, 'completed', JSON.stringify(r1.error));
    assert.equal(r1.output_text, 'First answer');
    assert.equal(r1.instructions, PERSONA);
    assert.deepEqual(
      { input: r1.usage.input_tokens, output: r1.usage.output_tokens, total: r1.usage.total_tokens },
      { input: 20, output: 2, total: 22 }, 'usage = upstream usage');
    const up1 = fake.chatRequests();
    assert.equal(up1.length, 1);
    assert.equal(up1[0].body.model, 'gpt-4o-mini');
    assert.equal(up1[0].body.temperature, 0.3);
    assert.equal(up1[0].body.max_completion_tokens, 50);
    const s1 = splitSystem(up1[0].body);
    assert.deepEqual(s1.sys, [PLATFORM_PROMPT, COMPANY, PERSONA], 'one system message per layer, in order');
    assert.deepEqual(s1.rest, [['user', 'first question']]);
    await checkMoney(t, r1, 'openai/gpt-4o-mini', w0, 1);

    fake.reset();
    fake.next({ text: 'Second answer' });
    const r2 = await t.client.responses.create({ model: 'fake/gpt-4o-mini', previous_response_id: r1.id, input: 'second question' });
    assert.equal(r2.status, 'completed');
    assert.equal(r2.previous_response_id, r1.id);
    assert.equal(r2.instructions, null);
    const s2 = splitSystem(fake.chatRequests()[0].body);
    assert.deepEqual(s2.sys, [PLATFORM_PROMPT, COMPANY], 'the persona of r1 is not inherited');
    assert.deepEqual(s2.rest, [['user', 'first question'], ['assistant', 'First answer'], ['user', 'second question']]);

    // A third link sees the whole chain.
    fake.reset();
    fake.next({ text: 'Third answer' });
    await t.client.responses.create({ model: 'fake/gpt-4o-mini', previous_response_id: r2.id, input: [{ role: 'user', content: 'third' }] });
    assert.deepEqual(splitSystem(fake.chatRequests()[0].body).rest.map((m) => m[1]),
      ['first question', 'First answer', 'second question', 'Second answer', 'third']);
  });
});

// ---- 2. streaming -----------------------------------------------------------------------

describe('responses: streaming', () => {
  it('responses.stream(): event order, sequence numbers, final response = retrieve', T, async () => {
    const t = await tenant();
    const word = `streamed-${nonce()}`;
    const w0 = await t.wallet();
    const { events, types, final } = await drain(t.client.responses.stream({ model: MOCK, input: `please echo ${word} now` }));
    assert.deepEqual(squash(types), [
      'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
      'response.output_text.delta*', 'response.output_text.done', 'response.content_part.done',
      'response.output_item.done', 'response.completed',
    ]);
    checkSequence(events);
    assert.equal(events[0].response.status, 'in_progress');
    const deltas = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    assert.ok(deltas.includes(word));
    assert.equal(final.status, 'completed');
    assert.equal(outputText(final), deltas);
    assert.equal(events.at(-1).response.id, events[0].response.id);
    const got = await t.client.responses.retrieve(final.id);
    assert.equal(got.status, 'completed');
    const shape = (r) => r.output.map((o) => [o.id, o.type, o.status, textOfItem(o)]);
    assert.deepEqual(shape(got), shape(final), 'stored output = streamed output (the SDK adds `parsed` to parts)');
    assert.deepEqual(got.usage, final.usage);
    await checkMoney(t, final, MOCK, w0, 1);
  });

  it('create({stream:true}) yields the same events; a function call streams its arguments', T, async () => {
    const t = await tenant();
    const stream = await t.client.responses.create({
      model: MOCK, stream: true, tools: [weatherTool], input: `weather ${nonce()} #mock:tool=get_weather:{"city":"Bergen"}`,
    });
    const events = [];
    for await (const e of stream) events.push(e);
    checkSequence(events);
    const types = squash(events.map((e) => e.type));
    assert.deepEqual(types, [
      'response.created', 'response.in_progress', 'response.output_item.added',
      'response.function_call_arguments.delta*', 'response.function_call_arguments.done',
      'response.output_item.done', 'response.completed',
    ]);
    const done = events.at(-1).response;
    assert.equal(done.output.length, 1);
    assert.equal(done.output[0].type, 'function_call');
    assert.equal(done.output[0].name, 'get_weather');
    assert.deepEqual(JSON.parse(done.output[0].arguments), { city: 'Bergen' });
  });
});

// ---- 3. function tools (client-side) -------------------------------------------------------

describe('responses: function tools', () => {
  it('function_call output → function_call_output with previous_response_id → final answer; usage per response', T, async () => {
    const t = await tenant();
    const w0 = await t.wallet();
    const r1 = await t.client.responses.create({
      model: MOCK, tools: [weatherTool], input: `Weather please ${nonce()} #mock:tool=get_weather:{"city":"Oslo"}`,
    });
    assert.equal(r1.status, 'completed');
    assert.equal(r1.output.length, 1);
    const call = r1.output[0];
    assert.equal(call.type, 'function_call');
    assert.match(call.id, /^fc_/);
    assert.equal(call.name, 'get_weather');
    assert.equal(typeof call.call_id, 'string');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Oslo' });
    assert.deepEqual(r1.tools.map((x) => x.name), ['get_weather']);
    const c1 = await checkMoney(t, r1, MOCK, w0, 1);

    const w1 = await t.wallet();
    const r2 = await t.client.responses.create({
      model: MOCK, tools: [weatherTool], previous_response_id: r1.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temp_c": 17.25}' }],
    });
    assert.equal(r2.status, 'completed', JSON.stringify(r2.error));
    assert.equal(r2.output[0].type, 'message');
    assert.ok(r2.output_text.includes('17.25'), `the model got the output: ${r2.output_text}`);
    const c2 = await checkMoney(t, r2, MOCK, w1, 1);
    assert.ok(c1 > 0 && c2 > 0);
    const items = await t.client.responses.inputItems.list(r2.id);
    assert.deepEqual(items.data.map((i) => i.type), ['function_call_output']);
    assert.equal(items.data[0].call_id, call.call_id);

    // An output for a call the model never made is refused, and costs nothing.
    const w2 = await t.wallet();
    await assert.rejects(
      t.client.responses.create({
        model: MOCK, tools: [weatherTool], previous_response_id: r1.id,
        input: [{ type: 'function_call_output', call_id: 'call_nope', output: 'x' }],
      }),
      (e) => e.status === 400 && /call_nope/.test(e.message) && (e.param ?? e.error?.param) === 'input[0].call_id',
    );
    assert.equal((await t.wallet()).spent_uot, w2.spent_uot);
  });

  it('server-side tools run inside one response: no function_call output, two charged model calls', T, async () => {
    const t = await tenant();
    await putSettings(t, { tool_network_allowlist: ['127.0.0.1'] });
    const reg = await t.post('/v1/tools', {
      name: 'lookup_weather',
      description: 'Weather from the weather service',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      endpoint: { method: 'GET', url: `${svc.origin}/weather/{city}`, timeout_ms: 3000 },
    });
    assert.ok(reg.status === 200 || reg.status === 201, reg.text);
    svc.reset();
    const w0 = await t.wallet();
    const city = `Turku${nonce()}`;
    const r = await t.client.responses.create({
      model: MOCK, tools: [{ type: 'function', name: 'lookup_weather' }], input: `weather? #mock:tool=lookup_weather:{"city":"${city}"}`,
    });
    assert.equal(r.status, 'completed', JSON.stringify(r.error));
    assert.deepEqual(svc.requests.map((x) => x.path), [`/weather/${city}`], 'the tool ran once');
    assert.deepEqual(r.output.map((o) => o.type), ['message'], 'server-side calls are not output items');
    assert.ok(r.output_text.includes('21.5'), `the model got the tool result: ${r.output_text}`);
    assert.equal(r.oag.server_tool_calls.length, 1);
    assert.equal(r.oag.server_tool_calls[0].name, 'lookup_weather');
    assert.equal(r.oag.server_tool_calls[0].ok, true);
    await checkMoney(t, r, MOCK, w0, 2);

    // Streamed: one response, one message at output_index 0, contiguous sequence numbers.
    svc.reset();
    const { events, types, final } = await drain(t.client.responses.stream({
      model: MOCK, tools: [{ type: 'function', name: 'lookup_weather' }], input: `again #mock:tool=lookup_weather:{"city":"Lima"}`,
    }));
    checkSequence(events);
    assert.equal(types.filter((x) => x === 'response.created').length, 1);
    assert.ok(!types.some((x) => x.startsWith('response.function_call')), types.join(' '));
    assert.ok(events.filter((e) => 'output_index' in e).every((e) => e.output_index === 0));
    assert.equal(final.status, 'completed');
    assert.ok(outputText(final).includes('Lima'), outputText(final));
    assert.equal(final.oag.model_calls.length, 2);
  });
});

// ---- 4. conversations ----------------------------------------------------------------------

describe('conversations', () => {
  it('CRUD: create with items and metadata, retrieve, update, items list/create/retrieve/delete, delete', T, async () => {
    const t = await tenant();
    const c = t.client.conversations;
    const conv = await c.create({ metadata: { topic: 'demo' }, items: [{ type: 'message', role: 'user', content: 'Hello!' }] });
    assert.match(conv.id, /^conv_/);
    assert.equal(conv.object, 'conversation');
    assert.deepEqual(conv.metadata, { topic: 'demo' });
    assert.ok(Number.isInteger(conv.created_at));
    assert.deepEqual(await c.retrieve(conv.id), conv);
    const upd = await c.update(conv.id, { metadata: { topic: 'changed' } });
    assert.deepEqual(upd.metadata, { topic: 'changed' });

    const added = await c.items.create(conv.id, {
      items: [
        { type: 'message', role: 'assistant', content: 'Hi, how can I help?' },
        { role: 'user', content: [{ type: 'input_text', text: 'Tell me more' }] },
        { type: 'function_call', call_id: 'call_x', name: 'f', arguments: '{}' },
      ],
    });
    assert.equal(added.object, 'list');
    assert.equal(added.data.length, 3);
    const all = [];
    for await (const item of c.items.list(conv.id, { order: 'asc', limit: 2 })) all.push(item);
    assert.equal(all.length, 4, 'auto-paging over 4 items');
    assert.deepEqual(all.map((i) => i.type), ['message', 'message', 'message', 'function_call']);
    assert.deepEqual(all.slice(0, 3).map((i) => [i.role, textOfItem(i)]),
      [['user', 'Hello!'], ['assistant', 'Hi, how can I help?'], ['user', 'Tell me more']]);
    assert.equal(all[0].content[0].type, 'input_text');
    assert.equal(all[1].content[0].type, 'output_text');
    const desc = await c.items.list(conv.id, { limit: 10 });
    assert.deepEqual(desc.data.map((i) => i.id), all.map((i) => i.id).reverse(), 'default order is desc');
    const one = await c.items.retrieve(all[1].id, { conversation_id: conv.id });
    assert.deepEqual(one, all[1]);
    const afterDel = await c.items.delete(all[3].id, { conversation_id: conv.id });
    assert.equal(afterDel.id, conv.id, 'item delete returns the conversation');
    await expectStatus(c.items.retrieve(all[3].id, { conversation_id: conv.id }), 404, 'deleted item');
    // Messages live in the shared thread store (readable through Assistants).
    const msgs = await oag.request('GET', `/v1/threads/${conv.id}/messages?order=asc`, { token: t.key, headers: { 'OpenAI-Beta': 'assistants=v2' } });
    assert.equal(msgs.status, 200, msgs.text);
    assert.deepEqual(msgs.json.data.map((m) => m.object), ['thread.message', 'thread.message', 'thread.message']);

    await expectStatus(c.create({ items: [{ type: 'bogus' }] }), 400, 'bad item type');
    await expectStatus(c.update(conv.id, { metadata: 'x' }), 400, 'bad metadata');
    const del = await c.delete(conv.id);
    assert.deepEqual(del, { id: conv.id, object: 'conversation.deleted', deleted: true });
    await expectStatus(c.retrieve(conv.id), 404, 'deleted conversation');
    await expectStatus(c.items.list(conv.id), 404, 'items of a deleted conversation');
  });

  it('responses in a conversation: history from its items, input and output appended', T, async () => {
    const t = await tenant({ fake });
    const conv = await t.client.conversations.create({ items: [{ role: 'user', content: 'I am Ann.' }, { role: 'assistant', content: 'Hi Ann.' }] });
    fake.reset();
    fake.next({ text: 'Your name is Ann.' });
    const r1 = await t.client.responses.create({ model: 'fake/gpt-4o-mini', conversation: conv.id, input: 'What is my name?' });
    assert.equal(r1.status, 'completed');
    assert.equal(r1.conversation?.id, conv.id);
    assert.deepEqual(splitSystem(fake.chatRequests()[0].body).rest,
      [['user', 'I am Ann.'], ['assistant', 'Hi Ann.'], ['user', 'What is my name?']]);
    fake.next({ text: 'Sure.' });
    await t.client.responses.create({ model: 'fake/gpt-4o-mini', conversation: { id: conv.id }, input: 'Thanks' });
    assert.deepEqual(splitSystem(fake.chatRequests()[1].body).rest.map((m) => m[1]),
      ['I am Ann.', 'Hi Ann.', 'What is my name?', 'Your name is Ann.', 'Thanks']);
    const items = await t.client.conversations.items.list(conv.id, { order: 'asc' });
    assert.deepEqual(items.data.map((i) => [i.role, textOfItem(i)]), [
      ['user', 'I am Ann.'], ['assistant', 'Hi Ann.'], ['user', 'What is my name?'], ['assistant', 'Your name is Ann.'],
      ['user', 'Thanks'], ['assistant', 'Sure.'],
    ]);
    assert.equal(items.data[3].id, r1.output[0].id, 'the output item keeps its id in the conversation');
    await expectStatus(t.client.responses.create({ model: MOCK, conversation: 'conv_doesnotexist', input: 'x' }), 404, 'unknown conversation');
    await expectStatus(t.client.responses.create({ model: MOCK, conversation: conv.id, previous_response_id: r1.id, input: 'x' }), 400, 'both');
  });
});

// ---- 5. storage, pagination, deletion -----------------------------------------------------------

describe('responses: storage', () => {
  it('store:false → nothing stored; GET, input_items and previous_response_id → 404', T, async () => {
    const t = await tenant();
    const r = await t.client.responses.create({ model: MOCK, input: 'ephemeral', store: false });
    assert.equal(r.status, 'completed');
    assert.equal(r.store, false);
    await expectStatus(t.client.responses.retrieve(r.id), 404, 'retrieve');
    await expectStatus(t.client.responses.inputItems.list(r.id), 404, 'input items');
    await expectStatus(t.client.responses.create({ model: MOCK, previous_response_id: r.id, input: 'x' }), 404, 'as previous');
    // Streamed too.
    const { final } = await drain(t.client.responses.stream({ model: MOCK, input: 'ephemeral stream', store: false }));
    await expectStatus(t.client.responses.retrieve(final.id), 404, 'streamed store:false');
  });

  it('input_items: paginated (desc by default, asc, after), with ids', T, async () => {
    const t = await tenant();
    const input = [1, 2, 3, 4, 5].map((i) => ({ role: i % 2 ? 'user' : 'assistant', content: `m${i}` }));
    const r = await t.client.responses.create({ model: MOCK, input });
    const page = await t.client.responses.inputItems.list(r.id, { limit: 2 });
    assert.equal(page.data.length, 2);
    assert.equal(page.has_more, true);
    assert.deepEqual(page.data.map(textOfItem), ['m5', 'm4']);
    const all = [];
    for await (const item of t.client.responses.inputItems.list(r.id, { limit: 2 })) all.push(item);
    assert.deepEqual(all.map(textOfItem), ['m5', 'm4', 'm3', 'm2', 'm1']);
    assert.equal(new Set(all.map((i) => i.id)).size, 5, 'distinct ids');
    const asc = await t.client.responses.inputItems.list(r.id, { order: 'asc', limit: 3 });
    assert.deepEqual(asc.data.map(textOfItem), ['m1', 'm2', 'm3']);
    const rest = await t.client.responses.inputItems.list(r.id, { order: 'asc', after: asc.data[2].id });
    assert.deepEqual(rest.data.map(textOfItem), ['m4', 'm5']);
    assert.equal(rest.has_more, false);
  });

  it('delete → {id, object, deleted}; then 404', T, async () => {
    const t = await tenant();
    const r = await t.client.responses.create({ model: MOCK, input: 'to delete' });
    const del = await t.api('DELETE', `/v1/responses/${r.id}`);
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.json, { id: r.id, object: 'response', deleted: true });
    await expectStatus(t.client.responses.retrieve(r.id), 404, 'deleted');
    assert.equal((await t.api('DELETE', `/v1/responses/${r.id}`)).status, 404, 'delete twice');
  });

  it("another company's responses and conversations are 404", T, async () => {
    const a = await tenant();
    const b = await tenant();
    const r = await a.client.responses.create({ model: MOCK, input: 'mine' });
    const conv = await a.client.conversations.create({});
    await expectStatus(b.client.responses.retrieve(r.id), 404, 'retrieve');
    await expectStatus(b.client.responses.inputItems.list(r.id), 404, 'input items');
    assert.equal((await b.api('DELETE', `/v1/responses/${r.id}`)).status, 404, 'delete');
    await expectStatus(b.client.responses.create({ model: MOCK, previous_response_id: r.id, input: 'x' }), 404, 'previous');
    await expectStatus(b.client.conversations.retrieve(conv.id), 404, 'conversation');
    await expectStatus(b.client.conversations.items.list(conv.id), 404, 'conversation items');
    await expectStatus(b.client.responses.create({ model: MOCK, conversation: conv.id, input: 'x' }), 404, 'conversation param');
    assert.equal((await a.client.responses.retrieve(r.id)).id, r.id, 'still there for its owner');
  });
});

// ---- 6. errors ---------------------------------------------------------------------------------

describe('responses: errors', () => {
  it('400 validation with param; 404 unknown model; 402 without funds; upstream error → HTTP error', T, async () => {
    const t = await tenant();
    let e = await expectStatus(t.client.responses.create({ input: 'x' }), 400, 'no model');
    assert.equal(e.param, 'model');
    e = await expectStatus(t.client.responses.create({ model: MOCK, input: 'x', tools: [{ type: 'web_search' }] }), 400, 'hosted tool');
    assert.equal(e.param, 'tools[0].type');
    await expectStatus(t.client.responses.create({ model: MOCK, input: 'x', temperature: 5 }), 400, 'temperature');
    await expectStatus(t.client.responses.create({ model: 'nosuch/model-x', input: 'x' }), 404, 'unknown model');
    await expectStatus(t.client.responses.create({ model: MOCK, input: 'x', previous_response_id: 'resp_nope' }), 404, 'unknown previous');
    await expectStatus(t.client.responses.create({ model: MOCK, input: '#mock:error=429' }), 429, 'upstream error before any output');
    const poor = await tenant({ credit: '0' });
    await expectStatus(poor.client.responses.create({ model: MOCK, input: 'x' }), 402, 'no funds');
    await expectStatus(poor.client.responses.create({ model: MOCK, input: 'x', stream: true }), 402, 'no funds, streamed');
  });

  it('a stream that breaks after output → status failed with error (stream: response.failed then error)', T, async () => {
    const t = await tenant({ fake });
    fake.reset();
    const text = 'one two three four five six seven eight nine ten';
    fake.next({ text, dieAfterBytes: 600 });
    const r = await t.client.responses.create({ model: 'fake/gpt-4o-mini', input: 'break' });
    assert.equal(r.status, 'failed', JSON.stringify(r));
    assert.equal(typeof r.error?.message, 'string');
    assert.equal((await t.client.responses.retrieve(r.id)).status, 'failed', 'stored as failed');

    fake.next({ text, dieAfterBytes: 600 });
    const s = await oag.stream('/v1/responses', { model: 'fake/gpt-4o-mini', input: 'break', stream: true }, { token: t.key });
    assert.equal(s.status, 200);
    const types = s.events.map((x) => x.event);
    assert.equal(types[0], 'response.created');
    assert.deepEqual(types.slice(-2), ['response.failed', 'error'], types.join(' '));
    const failed = s.events.at(-2).json.response;
    assert.equal(failed.status, 'failed');
    s.events.forEach((x, i) => assert.equal(x.json.sequence_number, i));
  });
});

// ---- 7. background and restarts ------------------------------------------------------------------

describe('responses: durability', () => {
  it('background: in_progress at once and stored; kill -9 mid-call → reported failed after the restart', T, async () => {
    const inst = await startOag({ name: 'responses-crash' });
    try {
      const t = await inst.tenant({ fake });
      fake.reset();
      fake.next({ hang: true });
      const r = await t.client.responses.create({ model: 'fake/gpt-4o-mini', input: 'slow', background: true });
      assert.equal(r.status, 'in_progress');
      assert.equal(r.background, true);
      await waitFor(() => fake.chatRequests().length === 1, { what: 'the upstream call' });
      assert.equal((await t.client.responses.retrieve(r.id)).status, 'in_progress', 'stored before it is announced');
      await inst.kill9();
      await inst.restart();
      const got = await inst.client(t.key).responses.retrieve(r.id);
      assert.equal(got.status, 'failed', 'a response cut by a crash is not resumed');
      assert.equal(got.error?.code, 'server_error');
    } finally {
      fake.reset();
      await inst.cleanup();
    }
  });
});
