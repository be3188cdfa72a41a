// Every provider kind behind the OpenAI API, through the official `openai`
// SDK: anthropic, gemini, ollama (native wire formats, fake_providers.mjs),
// azure (deployments path) and OpenAI-compatible presets (groq, mistral,
// deepseek, together). For each: the exact upstream request OAG sent (path,
// auth header, translated body), the exact OpenAI-shaped result, streams
// split at every byte, cut streams, mapped upstream errors, exact ledger cost.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startFakeOpenAI } from './fake_openai.mjs';
import { startFakeAnthropic, startFakeAzure, startFakeGemini, startFakeOllama } from './fake_providers.mjs';
import { PRICES_FILE, startOag, walletInvariantHolds } from './harness.mjs';

// The catalogue has no Anthropic model yet: the test's own price file adds
// one with a distinctive output limit (to see it sent as max_tokens).
const CLAUDE = 'claude-sonnet-4-5';
const CLAUDE_MAX_OUT = 64000;
const catalogue = JSON.parse(fs.readFileSync(PRICES_FILE, 'utf8'));
catalogue.models[`anthropic/${CLAUDE}`] = { input: 3, cached_input: 0.3, output: 15, max_output_tokens: CLAUDE_MAX_OUT, context_window: 200000, embeddings: false };
const pricesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oag-prices-'));
const PRICES = path.join(pricesDir, 'prices.json');
fs.writeFileSync(PRICES, JSON.stringify(catalogue, null, 2));

function price(kindModel) {
  const p = catalogue.models[kindModel];
  assert.ok(p, `no price for ${kindModel}`);
  return p;
}
const musd = (x) => BigInt(Math.round(Number(x) * 1e6));
/** cost_uot = ceil(Σ tokens × µUSD/Mtok / 1000), cached prompt tokens at the cached rate. */
function cost(kindModel, { prompt = 0, cached = 0, completion = 0 }) {
  const p = price(kindModel);
  const pico = BigInt(prompt - cached) * musd(p.input) + BigInt(cached) * musd(p.cached_input ?? p.input) + BigInt(completion) * musd(p.output);
  return Number((pico + 999n) / 1000n);
}

let oag, anthropic, gemini, ollama, azure, openai;

before(async () => {
  [anthropic, gemini, ollama, azure, openai] = await Promise.all([startFakeAnthropic(), startFakeGemini(), startFakeOllama(), startFakeAzure(), startFakeOpenAI()]);
  oag = await startOag({ name: 'providers', config: { prices_file: PRICES } });
});

after(async () => {
  await oag?.cleanup();
  for (const f of [anthropic, gemini, ollama, azure, openai]) await f?.close();
  fs.rmSync(pricesDir, { recursive: true, force: true });
});

/** A fresh company (own provider actors, own ledger) with provider `name` of `kind`. */
async function tenantWith(kind, baseUrl, { name = kind, extra = {} } = {}) {
  const t = await oag.tenant({ name: `co-${kind}-${crypto.randomBytes(3).toString('hex')}`, credit: '1000' });
  t.upstreamKey = `sk-${kind}-${crypto.randomBytes(10).toString('hex')}`;
  await oag.putProvider(t.companyId, name, { kind, base_url: baseUrl, api_key: t.upstreamKey, ...extra });
  return t;
}

async function onlyEntry(t, responseId) {
  const entries = await t.ledger();
  assert.equal(entries.length, 1, `exactly one ledger entry, got ${JSON.stringify(entries)}`);
  if (responseId) assert.equal(entries[0].response_id, responseId);
  assert.ok(walletInvariantHolds(await t.wallet()), 'credits = balance + reserved + spent');
  return entries[0];
}

async function assertCharged(t, responseId, kindModel, usage) {
  const e = await onlyEntry(t, responseId);
  assert.equal(e.input_tokens, usage.prompt, 'ledger input_tokens');
  assert.equal(e.cached_input_tokens, usage.cached ?? 0, 'ledger cached_input_tokens');
  assert.equal(e.output_tokens, usage.completion, 'ledger output_tokens');
  assert.equal(Number(e.cost_uot), cost(kindModel, usage), 'ledger cost_uot');
  const w = await t.wallet();
  assert.equal(Number(w.reserved_uot), 0, 'nothing left reserved');
  assert.equal(Number(w.spent_uot), cost(kindModel, usage), 'wallet spent = the one charge');
  return e;
}

function assertNoKeyLeak(rec, t) {
  assert.ok(!rec.raw.includes(t.key), 'upstream body carries the OAG key');
  for (const [h, v] of Object.entries(rec.headers)) assert.ok(!String(v).includes(t.key), `upstream header ${h} carries the OAG key`);
}

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

/** Folds OpenAI chunks into what a client reconstructs, keeping the fragment order. */
function assemble(chunks) {
  const out = { ids: new Set(), role: null, content: '', finish: null, usage: null, calls: [], callIndexOrder: [], finishCount: 0 };
  for (const c of chunks) {
    out.ids.add(c.id);
    assert.equal(c.object, 'chat.completion.chunk');
    if (c.usage) out.usage = c.usage;
    for (const ch of c.choices || []) {
      assert.equal(ch.index, 0);
      const d = ch.delta || {};
      if (d.role) out.role = d.role;
      if (typeof d.content === 'string') out.content += d.content;
      for (const tc of d.tool_calls || []) {
        if (out.callIndexOrder[out.callIndexOrder.length - 1] !== tc.index) out.callIndexOrder.push(tc.index);
        const slot = (out.calls[tc.index] ??= { id: null, type: null, name: '', arguments: '', fragments: 0 });
        if (tc.id) {
          assert.equal(slot.id, null, `tool call ${tc.index} got a second id (merged calls?)`);
          slot.id = tc.id;
        }
        if (tc.type) slot.type = tc.type;
        if (tc.function?.name) slot.name += tc.function.name;
        if (typeof tc.function?.arguments === 'string') slot.arguments += tc.function.arguments;
        slot.fragments += 1;
      }
      if (ch.finish_reason) {
        out.finish = ch.finish_reason;
        out.finishCount += 1;
      }
    }
  }
  return out;
}

function streamReq(t, body) {
  return t.client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
}

const WEATHER_TOOL = {
  type: 'function',
  function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};
const TIME_TOOL = {
  type: 'function',
  function: { name: 'get_time', description: 'Local time', parameters: { type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'] } },
};

// ===========================================================================
describe('anthropic', () => {
  const M = `anthropic/${CLAUDE}`;

  it('non-streamed: exact Messages request (x-api-key, anthropic-version, system, clamped temperature) and exact OpenAI result; cost exact', async () => {
    const t = await tenantWith('anthropic', anthropic.origin);
    anthropic.reset();
    anthropic.next({ text: 'Hi there.', usage: { input_tokens: 21, cache_read_input_tokens: 8, output_tokens: 4 } });
    const { data: r, response } = await t.client.chat.completions
      .create({ model: M, messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'Hi' }], max_tokens: 100, temperature: 1.5, stop: ['END'], user: 'u-42' })
      .withResponse();
    assert.equal(anthropic.requests.length, 1);
    const rec = anthropic.requests[0];
    assert.equal(rec.method, 'POST');
    assert.equal(rec.path, '/v1/messages');
    assert.equal(rec.headers['x-api-key'], t.upstreamKey);
    assert.equal(rec.headers['anthropic-version'], '2023-06-01');
    assert.equal(rec.headers.authorization, undefined, 'no Bearer header to Anthropic');
    assertNoKeyLeak(rec, t);
    assert.deepEqual(rec.body, {
      model: CLAUDE,
      max_tokens: 100,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      system: 'Be terse.',
      stop_sequences: ['END'],
      temperature: 1,
      metadata: { user_id: 'u-42' },
    });
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, M);
    assert.deepEqual(r.choices, [{ index: 0, message: { role: 'assistant', content: 'Hi there.', refusal: null }, logprobs: null, finish_reason: 'stop' }]);
    // prompt = input + cache reads (+ cache writes); cached = cache reads.
    assert.deepEqual(r.usage, { prompt_tokens: 29, completion_tokens: 4, total_tokens: 33, prompt_tokens_details: { cached_tokens: 8 } });
    assert.equal(response.headers.get('x-oag-route'), `rule=-; target=${M}; attempts=1`);
    await assertCharged(t, r.id, M, { prompt: 29, cached: 8, completion: 4 });
  });

  it('no max_tokens from the client: Anthropic gets the catalogue max_output_tokens', async () => {
    const t = await tenantWith('anthropic', anthropic.origin);
    anthropic.reset();
    anthropic.next({ text: 'ok' });
    await t.client.chat.completions.create({ model: M, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(anthropic.requests[0].body.max_tokens, CLAUDE_MAX_OUT);
    anthropic.next({ text: 'ok' });
    await t.client.chat.completions.create({ model: M, messages: [{ role: 'user', content: 'Hi' }], max_completion_tokens: 321 });
    assert.equal(anthropic.requests[1].body.max_tokens, 321, 'max_completion_tokens is the output limit');
  });

  it('streamed text: stream:true upstream, one stable chunk id, role first, usage chunk, finish stop; cost exact', async () => {
    const t = await tenantWith('anthropic', anthropic.origin);
    anthropic.reset();
    anthropic.next({ text: 'The quick brown fox.', usage: { input_tokens: 17, output_tokens: 6 } });
    const chunks = await collect(await streamReq(t, { model: M, messages: [{ role: 'user', content: 'Go' }], max_tokens: 50 }));
    const rec = anthropic.requests[0];
    assert.equal(rec.body.stream, true);
    assert.equal(rec.headers.accept, 'text/event-stream');
    assert.equal(rec.body.stream_options, undefined, 'no OpenAI stream_options to Anthropic');
    const a = assemble(chunks);
    assert.equal(a.ids.size, 1, 'one chunk id');
    assert.match([...a.ids][0], /^chatcmpl-/);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(a.content, 'The quick brown fox.');
    assert.equal(a.finish, 'stop');
    assert.equal(a.finishCount, 1);
    assert.deepEqual(a.usage, { prompt_tokens: 17, completion_tokens: 6, total_tokens: 23, prompt_tokens_details: { cached_tokens: 0 } });
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, [], 'the usage chunk is last and has no choices');
    for (const c of chunks) assert.equal(c.model, M);
    await assertCharged(t, [...a.ids][0], M, { prompt: 17, completion: 6 });
  });

  it('text-then-tool_use stream: the tool call is index 0 (not Anthropic block index 1), arguments whole, finish tool_calls', async () => {
    const t = await tenantWith('anthropic', anthropic.origin);
    anthropic.reset();
    anthropic.next({
      blocks: [
        { type: 'text', text: 'Let me check the weather.' },
        { type: 'tool_use', id: 'toolu_01Wx', name: 'get_weather', input: { city: 'Oslo', unit: 'celsius' } },
      ],
      usage: { input_tokens: 80, output_tokens: 30 },
    });
    const chunks = await collect(await streamReq(t, { model: M, messages: [{ role: 'user', content: 'Weather in Oslo?' }], tools: [WEATHER_TOOL], tool_choice: 'auto', max_tokens: 200 }));
    const body = anthropic.requests[0].body;
    assert.deepEqual(body.tools, [{ name: 'get_weather', description: 'Current weather', input_schema: WEATHER_TOOL.function.parameters }]);
    assert.deepEqual(body.tool_choice, { type: 'auto' });
    const a = assemble(chunks);
    assert.equal(a.content, 'Let me check the weather.');
    assert.equal(a.calls.length, 1);
    assert.deepEqual(a.callIndexOrder, [0]);
    assert.equal(a.calls[0].id, 'toolu_01Wx');
    assert.equal(a.calls[0].type, 'function');
    assert.equal(a.calls[0].name, 'get_weather');
    assert.deepEqual(JSON.parse(a.calls[0].arguments), { city: 'Oslo', unit: 'celsius' });
    assert.equal(a.finish, 'tool_calls');
    assert.equal(a.ids.size, 1);
    await assertCharged(t, [...a.ids][0], M, { prompt: 80, completion: 30 });
  });

  it('two tool_use blocks and no text: indices 0 and 1, never merged (streamed and not)', async () => {
    const t = await tenantWith('anthropic', anthropic.origin);
    anthropic.reset();
    const blocks = [
      { type: 'tool_use', id: 'toolu_A', name: 'get_weather', input: { city: 'Oslo' } },
      { type: 'tool_use', id: 'toolu_B', name: 'get_time', input: { tz: 'Europe/Oslo' } },
    ];
    anthropic.next({ blocks, argChunk: 3 });
    const chunks = await collect(await streamReq(t, { model: M, messages: [{ role: 'user', content: 'Both please' }], tools: [WEATHER_TOOL, TIME_TOOL], max_tokens: 100 }));
    const a = assemble(chunks);
    assert.equal(a.content, '');
    assert.deepEqual(a.callIndexOrder, [0, 1], 'all fragments of call 0, then of call 1');
    assert.equal(a.calls.length, 2);
    assert.deepEqual(
      a.calls.map((c) => ({ id: c.id, name: c.name, args: JSON.parse(c.arguments) })),
      [
        { id: 'toolu_A', name: 'get_weather', args: { city: 'Oslo' } },
        { id: 'toolu_B', name: 'get_time', args: { tz: 'Europe/Oslo' } },
      ],
    );
    assert.equal(a.finish, 'tool_calls');

    anthropic.next({ blocks });
    const r = await t.client.chat.completions.create({ model: M, messages: [{ role: 'user', content: 'Both please' }], tools: [WEATHER_TOOL, TIME_TOOL], max_tokens: 100 });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(r.choices[0].message.content, null);
    assert.deepEqual(r.choices[0].message.tool_calls, [
      { id: 'toolu_A', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
      { id: 'toolu_B', type: 'function', function: { name: 'get_time', arguments: '{"tz":"Europe/Oslo"}' } },
    ]);
  });

  it('OpenAI tool_calls/tool history is sent as tool_use then tool_result blocks (results first in the user turn)', async () => {
    const t = await tenantWith('anthropic', anthropic.origin);
    anthropic.reset();
    anthropic.next({ text: 'It is 4 degrees in Oslo and 10:00 in Tokyo.' });
    await t.client.chat.completions.create({
      model: M,
      max_tokens: 100,
      tools: [WEATHER_TOOL, TIME_TOOL],
      messages: [
        { role: 'user', content: 'Weather in Oslo and time in Tokyo?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
            { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{"tz":"Asia/Tokyo"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '4 degrees' },
        { role: 'tool', tool_call_id: 'call_2', content: '10:00' },
      ],
    });
    assert.deepEqual(anthropic.requests[0].body.messages, [
      { role: 'user', content: [{ type: 'text', text: 'Weather in Oslo and time in Tokyo?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Oslo' } },
          { type: 'tool_use', id: 'call_2', name: 'get_time', input: { tz: 'Asia/Tokyo' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: '4 degrees' },
          { type: 'tool_result', tool_use_id: 'call_2', content: '10:00' },
        ],
      },
    ]);
  });

  it('Anthropic-shaped tool_use/tool_result history on /v1/chat/completions reaches Anthropic as the same blocks', async () => {
    const t = await tenantWith('anthropic', anthropic.origin);
    anthropic.reset();
    anthropic.next({ text: 'It is 4 degrees.' });
    const r = await t.client.chat.completions.create({
      model: M,
      max_tokens: 100,
      tools: [WEATHER_TOOL],
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        { role: 'assistant', content: [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Oslo' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01A', content: '4 degrees' }] },
      ],
    });
    assert.equal(r.choices[0].message.content, 'It is 4 degrees.');
    const msgs = anthropic.requests[0].body.messages;
    assert.equal(msgs.length, 3);
    assert.deepEqual(msgs[0], { role: 'user', content: [{ type: 'text', text: 'Weather in Oslo?' }] });
    assert.deepEqual(msgs[1], { role: 'assistant', content: [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Oslo' } }] });
    assert.equal(msgs[2].role, 'user');
    assert.equal(msgs[2].content.length, 1);
    const tr = msgs[2].content[0];
    assert.equal(tr.type, 'tool_result');
    assert.equal(tr.tool_use_id, 'toolu_01A');
    const text = typeof tr.content === 'string' ? tr.content : tr.content.map((p) => p.text).join('');
    assert.equal(text, '4 degrees');
  });

  it('a developer message mid-conversation becomes part of the top-level system, never a turn', async () => {
    const t = await tenantWith('anthropic', anthropic.origin);
    anthropic.reset();
    anthropic.next({ text: 'Au revoir.' });
    await t.client.chat.completions.create({
      model: M,
      max_tokens: 100,
      messages: [
        { role: 'system', content: 'You are helpful.' },
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: 'Hi!' },
        { role: 'developer', content: 'From now on answer in French.' },
        { role: 'user', content: 'Bye' },
      ],
    });
    const body = anthropic.requests[0].body;
    assert.equal(body.system, 'You are helpful.\n\nFrom now on answer in French.');
    assert.deepEqual(body.messages, [
      { role: 'user', content: [{ type: 'text', text: 'Hello' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Hi!' }] },
      { role: 'user', content: [{ type: 'text', text: 'Bye' }] },
    ]);
  });

  it('a stream split at every byte gives exactly the unsplit result', async () => {
    const t = await tenantWith('anthropic', anthropic.origin);
    anthropic.reset();
    const script = {
      blocks: [
        { type: 'thinking', thinking: 'Let me think.' },
        { type: 'text', text: 'Naïve café — ünïcödé ✓ 日本語.' },
        { type: 'tool_use', id: 'toolu_S', name: 'get_weather', input: { city: 'Zürich' } },
      ],
      usage: { input_tokens: 33, output_tokens: 21 },
    };
    anthropic.next(script);
    const whole = assemble(await collect(await streamReq(t, { model: M, messages: [{ role: 'user', content: 'x' }], tools: [WEATHER_TOOL], max_tokens: 100 })));
    anthropic.next({ ...script, split: 'byte' });
    const split = assemble(await collect(await streamReq(t, { model: M, messages: [{ role: 'user', content: 'x' }], tools: [WEATHER_TOOL], max_tokens: 100 })));
    for (const a of [whole, split]) {
      assert.equal(a.content, 'Naïve café — ünïcödé ✓ 日本語.');
      assert.equal(a.calls.length, 1);
      assert.deepEqual(JSON.parse(a.calls[0].arguments), { city: 'Zürich' });
      assert.equal(a.finish, 'tool_calls');
      assert.deepEqual(a.usage, { prompt_tokens: 33, completion_tokens: 21, total_tokens: 54, prompt_tokens_details: { cached_tokens: 0 } });
    }
    assert.deepEqual({ ...split, ids: null, calls: split.calls.map(({ fragments, ...c }) => c) }, { ...whole, ids: null, calls: whole.calls.map(({ fragments, ...c }) => c) });
    assert.equal((await t.ledger()).length, 2);
  });

  it('an upstream that closes mid-stream (no message_stop): the client gets an error event and no [DONE]; the SDK throws', async () => {
    const t = await tenantWith('anthropic', anthropic.origin);
    anthropic.reset();
    anthropic.next({ text: 'This answer never ends properly', cutBeforeStop: true });
    const raw = await oag.stream('/v1/chat/completions', { model: M, messages: [{ role: 'user', content: 'x' }], max_tokens: 50, stream: true }, { token: t.key });
    assert.equal(raw.status, 200);
    assert.ok(!raw.text.includes('[DONE]'), `no [DONE] after a cut stream:\n${raw.text}`);
    const content = raw.events.filter((e) => e.json?.choices).map((e) => e.json.choices[0]?.delta?.content ?? '').join('');
    assert.equal(content, 'This answer never ends properly', 'the text that arrived was forwarded');
    const last = raw.events[raw.events.length - 1];
    assert.ok(last.json?.error, `the stream ends with an error event, got ${last.data}`);
    assert.equal(typeof last.json.error.message, 'string');
    assert.ok(!raw.events.some((e) => e.json?.choices?.[0]?.finish_reason), 'no finish_reason for a cut stream');

    anthropic.next({ text: 'Cut in the middle of an event', dieAfterBytes: 700 });
    await assert.rejects(async () => collect(await streamReq(t, { model: M, messages: [{ role: 'user', content: 'x' }], max_tokens: 50 })), (e) => {
      assert.ok(e instanceof Error);
      return true;
    });
    assert.ok(walletInvariantHolds(await t.wallet()));
    assert.equal(Number((await t.wallet()).reserved_uot), 0);
  });

  it('an error event after a 200 start (overloaded) ends the stream with an error, no [DONE]', async () => {
    const t = await tenantWith('anthropic', anthropic.origin);
    anthropic.reset();
    anthropic.next({ blocks: [{ type: 'text', text: 'Partial answer' }, { type: 'text', text: 'never sent' }], errorEvent: { type: 'overloaded_error', message: 'Overloaded' }, errorAfterBlocks: 1 });
    const raw = await oag.stream('/v1/chat/completions', { model: M, messages: [{ role: 'user', content: 'x' }], max_tokens: 50, stream: true }, { token: t.key });
    assert.ok(!raw.text.includes('[DONE]'));
    assert.ok(!raw.text.includes('never sent'));
    const last = raw.events[raw.events.length - 1];
    assert.ok(last.json?.error, `error event expected, got ${last.data}`);
    assert.match(last.json.error.message, /Overloaded/);
  });

  it('upstream errors are mapped: 429 + retry-after passed on, 529 → 503, 400 message passed on, 401 → 502 without secrets', async () => {
    const t = await tenantWith('anthropic', anthropic.origin);
    const req = { model: M, messages: [{ role: 'user', content: 'x' }], max_tokens: 10 };
    anthropic.reset();
    anthropic.next({ status: 429, error: { message: 'Number of request tokens has exceeded your per-minute rate limit' }, headers: { 'retry-after': '7' } });
    let err = await t.client.chat.completions.create(req).then(() => null, (e) => e);
    assert.ok(err, 'the call must fail');
    assert.equal(err.status, 429);
    assert.equal(err.error?.message, 'Number of request tokens has exceeded your per-minute rate limit');
    assert.equal(err.headers.get('retry-after'), '7');

    anthropic.next({ status: 529, error: { type: 'overloaded_error', message: 'Overloaded' } });
    err = await t.client.chat.completions.create(req).then(() => null, (e) => e);
    assert.equal(err?.status, 503);
    assert.match(err.error.message, /Overloaded/);

    anthropic.next({ status: 400, error: { message: 'messages.0.content: text content blocks must be non-empty' } });
    err = await t.client.chat.completions.create(req).then(() => null, (e) => e);
    assert.equal(err?.status, 400);
    assert.equal(err.error.message, 'messages.0.content: text content blocks must be non-empty');

    anthropic.next({ status: 401, error: { message: `invalid x-api-key ${t.upstreamKey}` } });
    err = await t.client.chat.completions.create(req).then(() => null, (e) => e);
    assert.equal(err?.status, 502);
    assert.match(err.error.message, /credential/i);
    assert.ok(!JSON.stringify(err.error).includes(t.upstreamKey), 'the provider key is never echoed');
    assert.equal((await t.ledger()).length, 0, 'failed calls are not charged');
    const w = await t.wallet();
    assert.equal(Number(w.spent_uot), 0);
    assert.equal(Number(w.reserved_uot), 0);
  });
});

// ===========================================================================
describe('gemini', () => {
  const GM = 'gemini-2.5-flash';
  const M = `gemini/${GM}`;
  const base = () => `${gemini.origin}/v1beta`;

  it('non-streamed: generateContent path, x-goog-api-key, systemInstruction + generationConfig; exact result; cost exact', async () => {
    const t = await tenantWith('gemini', base());
    gemini.reset();
    gemini.next({ text: 'Hello!', usage: { promptTokenCount: 14, candidatesTokenCount: 3, thoughtsTokenCount: 5, cachedContentTokenCount: 4 } });
    const r = await t.client.chat.completions.create({
      model: M,
      messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'Hi' }],
      temperature: 0.5,
      max_tokens: 50,
      stop: 'END',
    });
    const rec = gemini.requests[0];
    assert.equal(rec.path, `/v1beta/models/${GM}:generateContent`);
    assert.deepEqual(rec.query, {});
    assert.equal(rec.headers['x-goog-api-key'], t.upstreamKey);
    assert.equal(rec.headers.authorization, undefined);
    assertNoKeyLeak(rec, t);
    assert.deepEqual(rec.body, {
      contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
      systemInstruction: { parts: [{ text: 'Be terse.' }] },
      generationConfig: { temperature: 0.5, maxOutputTokens: 50, stopSequences: ['END'] },
    });
    assert.equal(r.model, M);
    assert.match(r.id, /^chatcmpl-/);
    assert.deepEqual(r.choices, [{ index: 0, message: { role: 'assistant', content: 'Hello!', refusal: null }, logprobs: null, finish_reason: 'stop' }]);
    // completion = candidates + thoughts (reported as reasoning tokens).
    assert.deepEqual(r.usage, { prompt_tokens: 14, completion_tokens: 8, total_tokens: 22, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 5 } });
    await assertCharged(t, r.id, M, { prompt: 14, cached: 4, completion: 8 });
  });

  it('streamed: streamGenerateContent?alt=sse (CRLF events, no [DONE] upstream) → OpenAI chunks ending in [DONE]; cost exact', async () => {
    const t = await tenantWith('gemini', base());
    gemini.reset();
    gemini.next({ text: 'One two three four.', usage: { promptTokenCount: 9, candidatesTokenCount: 4 } });
    const raw = await oag.stream('/v1/chat/completions', { model: M, messages: [{ role: 'user', content: 'Count' }], stream: true, stream_options: { include_usage: true } }, { token: t.key });
    const rec = gemini.requests[0];
    assert.equal(rec.path, `/v1beta/models/${GM}:streamGenerateContent`);
    assert.deepEqual(rec.query, { alt: 'sse' });
    assert.equal(rec.body.stream, undefined, 'Gemini has no stream field');
    assert.ok(raw.text.endsWith('data: [DONE]\n\n'), 'the OpenAI stream ends with [DONE]');
    const chunks = raw.events.filter((e) => e.json).map((e) => e.json);
    const a = assemble(chunks);
    assert.equal(a.ids.size, 1);
    assert.equal(a.role, 'assistant');
    assert.equal(a.content, 'One two three four.');
    assert.equal(a.finish, 'stop');
    assert.equal(a.usage.prompt_tokens, 9);
    assert.equal(a.usage.completion_tokens, 4);
    await assertCharged(t, [...a.ids][0], M, { prompt: 9, completion: 4 });
  });

  it('a tool result: roles user, model, user; functionCall args an object; functionResponse.response always an object', async () => {
    const t = await tenantWith('gemini', base());
    gemini.reset();
    gemini.next({ text: 'It is 4 °C.' });
    gemini.next({ text: 'It is 4 °C.' });
    const history = (toolContent) => [
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'call_w1', content: toolContent },
    ];
    await t.client.chat.completions.create({ model: M, tools: [WEATHER_TOOL], tool_choice: 'required', messages: history('{"temp_c":4}') });
    await t.client.chat.completions.create({ model: M, tools: [WEATHER_TOOL], messages: history('4 degrees and cloudy') });
    const [json1, text1] = gemini.requests.map((r) => r.body);
    for (const b of [json1, text1]) {
      assert.deepEqual(b.contents.map((c) => c.role), ['user', 'model', 'user']);
      assert.deepEqual(b.contents[1].parts, [{ functionCall: { name: 'get_weather', args: { city: 'Oslo' } } }]);
      assert.equal(b.contents[2].parts.length, 1);
      const fr = b.contents[2].parts[0].functionResponse;
      assert.equal(fr.name, 'get_weather');
      assert.equal(typeof fr.response, 'object');
      assert.ok(fr.response && !Array.isArray(fr.response), 'response is a JSON object');
      assert.deepEqual(b.tools, [{ functionDeclarations: [{ name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }] }]);
    }
    assert.deepEqual(json1.contents[2].parts[0].functionResponse.response, { temp_c: 4 });
    assert.deepEqual(json1.toolConfig, { functionCallingConfig: { mode: 'ANY' } });
    const wrapped = text1.contents[2].parts[0].functionResponse.response;
    assert.deepEqual(Object.values(wrapped), ['4 degrees and cloudy'], `a text result is wrapped in an object, got ${JSON.stringify(wrapped)}`);
  });

  it('a developer message mid-conversation joins systemInstruction', async () => {
    const t = await tenantWith('gemini', base());
    gemini.reset();
    gemini.next({ text: 'Au revoir.' });
    await t.client.chat.completions.create({
      model: M,
      messages: [
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: 'Hi!' },
        { role: 'developer', content: 'Answer in French.' },
        { role: 'user', content: 'Bye' },
      ],
    });
    const b = gemini.requests[0].body;
    assert.deepEqual(b.systemInstruction, { parts: [{ text: 'Answer in French.' }] });
    assert.deepEqual(b.contents, [
      { role: 'user', parts: [{ text: 'Hello' }] },
      { role: 'model', parts: [{ text: 'Hi!' }] },
      { role: 'user', parts: [{ text: 'Bye' }] },
    ]);
  });

  it('streamed function calls: indices 0 and 1, JSON-string arguments, finish tool_calls (STOP upstream); split at every byte', async () => {
    const t = await tenantWith('gemini', base());
    gemini.reset();
    const script = { toolCalls: [{ name: 'get_weather', args: { city: 'Oslo' } }, { name: 'get_time', args: { tz: 'Europe/Oslo' } }], usage: { promptTokenCount: 30, candidatesTokenCount: 12 } };
    gemini.next(script);
    gemini.next({ ...script, split: 'byte' });
    for (let i = 0; i < 2; i++) {
      const a = assemble(await collect(await streamReq(t, { model: M, messages: [{ role: 'user', content: 'Both' }], tools: [WEATHER_TOOL, TIME_TOOL] })));
      assert.deepEqual(a.callIndexOrder, [0, 1]);
      assert.equal(a.calls.length, 2);
      assert.equal(a.calls[0].name, 'get_weather');
      assert.equal(a.calls[1].name, 'get_time');
      assert.equal(a.calls[0].arguments, '{"city":"Oslo"}');
      assert.equal(a.calls[1].arguments, '{"tz":"Europe/Oslo"}');
      assert.ok(a.calls[0].id && a.calls[1].id && a.calls[0].id !== a.calls[1].id, 'distinct synthesized ids');
      assert.equal(a.finish, 'tool_calls');
      assert.equal(a.usage.completion_tokens, 12);
    }
  });

  it('a text stream split at every byte (CRLF framing, multi-byte UTF-8) equals the unsplit one', async () => {
    const t = await tenantWith('gemini', base());
    gemini.reset();
    const script = { text: 'Grüße aus Köln — 東京 ✓', usage: { promptTokenCount: 5, candidatesTokenCount: 7 } };
    gemini.next(script);
    gemini.next({ ...script, split: 'byte' });
    const a = assemble(await collect(await streamReq(t, { model: M, messages: [{ role: 'user', content: 'x' }] })));
    const b = assemble(await collect(await streamReq(t, { model: M, messages: [{ role: 'user', content: 'x' }] })));
    assert.equal(a.content, 'Grüße aus Köln — 東京 ✓');
    assert.equal(b.content, a.content);
    assert.equal(b.finish, 'stop');
    assert.deepEqual(b.usage, a.usage);
  });

  it('a stream that ends without a finishReason is an error (no [DONE]), charged only the usage Gemini reported', async () => {
    const t = await tenantWith('gemini', base());
    gemini.reset();
    gemini.next({ text: 'one two three', cutBeforeFinish: true, usage: { promptTokenCount: 11, candidatesTokenCount: 3 } });
    const raw = await oag.stream('/v1/chat/completions', { model: M, messages: [{ role: 'user', content: 'x' }], stream: true }, { token: t.key });
    assert.equal(raw.status, 200);
    assert.ok(!raw.text.includes('[DONE]'), raw.text);
    const last = raw.events[raw.events.length - 1];
    assert.ok(last.json?.error, `ends with an error event, got ${last.data}`);
    const entries = await t.ledger();
    assert.ok(entries.length <= 1);
    if (entries.length) {
      // The chunks before the cut reported promptTokenCount 11 and 2 candidates.
      assert.equal(entries[0].input_tokens, 11);
      assert.equal(Number(entries[0].cost_uot), cost(M, { prompt: 11, completion: entries[0].output_tokens }));
    }
    assert.equal(Number((await t.wallet()).reserved_uot), 0);
  });

  it('errors: 429 RESOURCE_EXHAUSTED with RetryInfo → 429 retry-after; 400 API_KEY_INVALID → 502; 400 passes its message', async () => {
    const t = await tenantWith('gemini', base());
    const req = { model: M, messages: [{ role: 'user', content: 'x' }] };
    gemini.reset();
    gemini.next({ status: 429, error: { message: 'Resource has been exhausted (e.g. check quota).', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '2.5s' }] } });
    let err = await t.client.chat.completions.create(req).then(() => null, (e) => e);
    assert.equal(err?.status, 429);
    assert.equal(err.error.message, 'Resource has been exhausted (e.g. check quota).');
    assert.equal(err.headers.get('retry-after'), '3', 'retryDelay 2.5s → Retry-After 3');

    gemini.next({ status: 400, error: { message: 'API key not valid. Please pass a valid API key.', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }] } });
    err = await t.client.chat.completions.create(req).then(() => null, (e) => e);
    assert.equal(err?.status, 502, 'a bad provider key is OAG’s problem, not the client’s request');

    gemini.next({ status: 400, error: { message: '* GenerateContentRequest.contents: contents is not specified' } });
    err = await t.client.chat.completions.create(req).then(() => null, (e) => e);
    assert.equal(err?.status, 400);
    assert.equal(err.error.message, '* GenerateContentRequest.contents: contents is not specified');
    assert.equal((await t.ledger()).length, 0);
  });
});

// ===========================================================================
describe('ollama', () => {
  const M = 'ollama/llama3.2';

  it('non-streamed: /api/chat with stream:false, options, Bearer key; exact result; cost exact', async () => {
    const t = await tenantWith('ollama', ollama.origin);
    ollama.reset();
    ollama.next({ text: 'Hello from llama.', usage: { prompt_eval_count: 26, eval_count: 5 } });
    const r = await t.client.chat.completions.create({ model: M, messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'Hi' }], temperature: 0.5, max_tokens: 50, stop: ['END'], seed: 3 });
    const rec = ollama.requests[0];
    assert.equal(rec.path, '/api/chat');
    assert.equal(rec.headers.authorization, `Bearer ${t.upstreamKey}`);
    assert.deepEqual(rec.body, {
      model: 'llama3.2',
      messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'Hi' }],
      stream: false,
      options: { temperature: 0.5, num_predict: 50, stop: ['END'], seed: 3 },
    });
    assert.equal(r.model, M);
    assert.deepEqual(r.choices, [{ index: 0, message: { role: 'assistant', content: 'Hello from llama.', refusal: null }, logprobs: null, finish_reason: 'stop' }]);
    assert.equal(r.usage.prompt_tokens, 26);
    assert.equal(r.usage.completion_tokens, 5);
    assert.equal(r.usage.total_tokens, 31);
    await assertCharged(t, r.id, M, { prompt: 26, completion: 5 });
  });

  it('streamed NDJSON → OpenAI SSE with usage and [DONE]; cost exact', async () => {
    const t = await tenantWith('ollama', ollama.origin);
    ollama.reset();
    ollama.next({ text: 'The sky is blue.', usage: { prompt_eval_count: 12, eval_count: 6 } });
    const raw = await oag.stream('/v1/chat/completions', { model: M, messages: [{ role: 'user', content: 'Why?' }], stream: true, stream_options: { include_usage: true } }, { token: t.key });
    assert.equal(ollama.requests[0].body.stream, true);
    assert.equal(ollama.requests[0].headers.accept, 'application/x-ndjson');
    assert.match(raw.headers.get('content-type'), /^text\/event-stream/);
    assert.ok(raw.text.endsWith('data: [DONE]\n\n'));
    const a = assemble(raw.events.filter((e) => e.json).map((e) => e.json));
    assert.equal(a.content, 'The sky is blue.');
    assert.equal(a.finish, 'stop');
    assert.equal(a.ids.size, 1);
    assert.equal(a.usage.prompt_tokens, 12);
    assert.equal(a.usage.completion_tokens, 6);
    await assertCharged(t, [...a.ids][0], M, { prompt: 12, completion: 6 });
  });

  it('parallel tool calls streamed: indices 0..n-1, argument objects become JSON strings, never merged (one line or one per call, split at every byte)', async () => {
    const t = await tenantWith('ollama', ollama.origin);
    ollama.reset();
    const toolCalls = [
      { name: 'get_weather', arguments: { city: 'Oslo' } },
      { name: 'get_weather', arguments: { city: 'Bergen' } },
      { name: 'get_time', arguments: { tz: 'Europe/Oslo' } },
    ];
    ollama.next({ toolCalls });
    ollama.next({ toolCalls, toolCallsSeparate: true });
    ollama.next({ toolCalls, split: 'byte' });
    for (let i = 0; i < 3; i++) {
      const a = assemble(await collect(await streamReq(t, { model: M, messages: [{ role: 'user', content: 'Weather in Oslo and Bergen, time in Oslo' }], tools: [WEATHER_TOOL, TIME_TOOL] })));
      assert.deepEqual(a.callIndexOrder, [0, 1, 2], `run ${i}`);
      assert.deepEqual(
        a.calls.map((c) => [c.name, c.arguments]),
        [
          ['get_weather', '{"city":"Oslo"}'],
          ['get_weather', '{"city":"Bergen"}'],
          ['get_time', '{"tz":"Europe/Oslo"}'],
        ],
      );
      assert.equal(new Set(a.calls.map((c) => c.id)).size, 3, 'distinct ids');
      assert.ok(a.calls.every((c) => c.type === 'function'));
      assert.equal(a.finish, 'tool_calls');
    }
    const sent = ollama.requests[0].body;
    assert.deepEqual(sent.tools, [WEATHER_TOOL, TIME_TOOL]);
  });

  it('tool history: assistant tool_calls with argument objects, tool messages with tool_name', async () => {
    const t = await tenantWith('ollama', ollama.origin);
    ollama.reset();
    ollama.next({ text: 'Cold.' });
    await t.client.chat.completions.create({
      model: M,
      tools: [WEATHER_TOOL],
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
        { role: 'tool', tool_call_id: 'call_9', content: '4 degrees' },
      ],
    });
    const msgs = ollama.requests[0].body.messages;
    assert.deepEqual(msgs[1].tool_calls, [{ function: { name: 'get_weather', arguments: { city: 'Oslo' } } }]);
    assert.deepEqual(msgs[2], { role: 'tool', content: '4 degrees', tool_name: 'get_weather' });
  });

  it('a stream without the done line, or with an error line, ends in an error event and no [DONE]', async () => {
    const t = await tenantWith('ollama', ollama.origin);
    ollama.reset();
    ollama.next({ text: 'half an answer', cutBeforeDone: true });
    ollama.next({ text: 'half an answer', midStreamError: 'model runner has unexpectedly stopped' });
    for (const expect of [null, /unexpectedly stopped/]) {
      const raw = await oag.stream('/v1/chat/completions', { model: M, messages: [{ role: 'user', content: 'x' }], stream: true }, { token: t.key });
      assert.ok(!raw.text.includes('[DONE]'), raw.text);
      const last = raw.events[raw.events.length - 1];
      assert.ok(last.json?.error, `ends with an error event, got ${last.data}`);
      if (expect) assert.match(last.json.error.message, expect);
    }
  });

  it('errors: 404 model not found passes status and message', async () => {
    const t = await tenantWith('ollama', ollama.origin);
    ollama.reset();
    ollama.next({ status: 404, error: { message: 'model "llama3.2" not found, try pulling it first' } });
    const err = await t.client.chat.completions.create({ model: M, messages: [{ role: 'user', content: 'x' }] }).then(() => null, (e) => e);
    assert.equal(err?.status, 404);
    assert.equal(err.error.message, 'model "llama3.2" not found, try pulling it first');
  });
});

// ===========================================================================
describe('azure', () => {
  const M = 'azure/gpt-4o-mini';

  it('non-streamed: deployments path with the base URL api-version, api-key header (no Bearer); cost exact', async () => {
    const t = await tenantWith('azure', `${azure.origin}?api-version=2025-04-01-preview`);
    azure.reset();
    azure.next({ text: 'Hello from Azure', usage: { prompt_tokens: 15, completion_tokens: 4, cached_tokens: 6 } });
    const r = await t.client.chat.completions.create({ model: M, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 20 });
    const rec = azure.requests[0];
    assert.equal(rec.path, '/openai/deployments/gpt-4o-mini/chat/completions');
    assert.deepEqual(rec.query, { 'api-version': '2025-04-01-preview' });
    assert.equal(rec.headers['api-key'], t.upstreamKey);
    assert.equal(rec.headers.authorization, undefined);
    assertNoKeyLeak(rec, t);
    assert.deepEqual(rec.body.messages, [{ role: 'user', content: 'Hi' }]);
    assert.equal(rec.body.max_tokens, 20);
    assert.equal(r.choices[0].message.content, 'Hello from Azure');
    assert.equal(r.model, M);
    assert.equal(r.usage.prompt_tokens_details.cached_tokens, 6);
    await assertCharged(t, r.id, M, { prompt: 15, cached: 6, completion: 4 });
  });

  it('streamed, default api-version when the base URL has none; usage chunk; split at every byte', async () => {
    const t = await tenantWith('azure', azure.origin);
    azure.reset();
    azure.next({ text: 'Streaming from Azure', usage: { prompt_tokens: 8, completion_tokens: 3 }, split: 'byte' });
    const a = assemble(await collect(await streamReq(t, { model: M, messages: [{ role: 'user', content: 'Hi' }] })));
    const rec = azure.requests[0];
    assert.equal(rec.path, '/openai/deployments/gpt-4o-mini/chat/completions');
    assert.deepEqual(rec.query, { 'api-version': '2024-10-21' });
    assert.equal(rec.body.stream, true);
    assert.deepEqual(rec.body.stream_options, { include_usage: true });
    assert.equal(a.content, 'Streaming from Azure');
    assert.equal(a.finish, 'stop');
    assert.equal(a.usage.prompt_tokens, 8);
    await assertCharged(t, [...a.ids][0], M, { prompt: 8, completion: 3 });
  });
});

// ===========================================================================
describe('OpenAI-compatible presets', () => {
  it('groq: {base}/chat/completions with Bearer, stream usage asked for; streamed and not; cost exact', async () => {
    const M = 'groq/llama-3.3-70b-versatile';
    const t = await tenantWith('groq', openai.url);
    openai.reset();
    openai.next({ text: 'fast answer', usage: { prompt_tokens: 10, completion_tokens: 2 } });
    const r = await t.client.chat.completions.create({ model: M, messages: [{ role: 'user', content: 'Hi' }] });
    const rec = openai.requests[0];
    assert.equal(rec.path, '/v1/chat/completions');
    assert.equal(rec.headers.authorization, `Bearer ${t.upstreamKey}`);
    assert.deepEqual(rec.body, { model: 'llama-3.3-70b-versatile', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(r.choices[0].message.content, 'fast answer');
    assert.equal(r.model, M);
    await assertCharged(t, r.id, M, { prompt: 10, completion: 2 });

    openai.next({ text: 'fast stream', usage: { prompt_tokens: 10, completion_tokens: 2 }, split: 'byte' });
    const a = assemble(await collect(await t.client.chat.completions.create({ model: M, messages: [{ role: 'user', content: 'Hi' }], stream: true })));
    assert.equal(openai.requests[1].body.stream, true);
    assert.deepEqual(openai.requests[1].body.stream_options, { include_usage: true }, 'OAG asks for usage to meter the stream');
    assert.equal(a.content, 'fast stream');
    assert.equal(a.usage, null, 'the client did not ask for usage: none forwarded');
    const entries = await t.ledger();
    assert.equal(entries.length, 2);
    assert.equal(Number(entries.find((e) => e.response_id === [...a.ids][0]).cost_uot), cost(M, { prompt: 10, completion: 2 }));
  });

  it('mistral: seed → random_seed, no stream_options, unknown fields dropped; usage on the last chunk is metered', async () => {
    const M = 'mistral/mistral-small-latest';
    const t = await tenantWith('mistral', openai.url);
    openai.reset();
    const base = { id: 'cmpl-m1', object: 'chat.completion.chunk', created: 1730000000, model: 'mistral-small-latest' };
    const sse =
      [
        { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
        { ...base, choices: [{ index: 0, delta: { content: 'Bonjour' }, finish_reason: null }] },
        { ...base, choices: [{ index: 0, delta: { content: '!' }, finish_reason: 'stop' }], usage: { prompt_tokens: 7, total_tokens: 10, completion_tokens: 3 } },
      ]
        .map((c) => `data: ${JSON.stringify(c)}\n\n`)
        .join('') + 'data: [DONE]\n\n';
    openai.next({ rawSSE: sse });
    const a = assemble(await collect(await streamReq(t, { model: M, messages: [{ role: 'user', content: 'Salut' }], seed: 42, logit_bias: { 1: 2 } })));
    const body = openai.requests[0].body;
    assert.equal(body.random_seed, 42);
    assert.equal(body.seed, undefined);
    assert.equal(body.logit_bias, undefined);
    assert.equal(body.stream_options, undefined, 'Mistral rejects stream_options');
    assert.equal(a.content, 'Bonjour!');
    assert.equal(a.finish, 'stop');
    assert.deepEqual([a.usage.prompt_tokens, a.usage.completion_tokens], [7, 3]);
    await assertCharged(t, [...a.ids][0], M, { prompt: 7, completion: 3 });
  });

  it('deepseek: reasoning_content is not sent back in history', async () => {
    const M = 'deepseek/deepseek-chat';
    const t = await tenantWith('deepseek', openai.url);
    openai.reset();
    openai.next({ text: 'ok', usage: { prompt_tokens: 5, completion_tokens: 1 } });
    await t.client.chat.completions.create({ model: M, messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b', reasoning_content: 'hidden' }, { role: 'user', content: 'c' }] });
    assert.deepEqual(openai.requests[0].body.messages[1], { role: 'assistant', content: 'b' });
    await assertCharged(t, null, M, { prompt: 5, completion: 1 });
  });

  it('together: tool_choice "none" is honoured by not offering the tools', async () => {
    const M = 'together/meta-llama/Llama-3.3-70B-Instruct-Turbo';
    const t = await tenantWith('together', openai.url);
    openai.reset();
    openai.next({ text: 'no tools', usage: { prompt_tokens: 5, completion_tokens: 2 } });
    await t.client.chat.completions.create({ model: M, messages: [{ role: 'user', content: 'a' }], tools: [WEATHER_TOOL], tool_choice: 'none' });
    const body = openai.requests[0].body;
    assert.equal(body.model, 'meta-llama/Llama-3.3-70B-Instruct-Turbo');
    assert.equal(body.tools, undefined);
    assert.equal(body.tool_choice, undefined);
    await assertCharged(t, null, M, { prompt: 5, completion: 2 });
  });

  it('the Anthropic-shaped history sent to an OpenAI-format provider becomes tool_calls and a tool message', async () => {
    const t = await tenantWith('groq', openai.url);
    openai.reset();
    openai.next({ text: 'It is 4 degrees.' });
    await t.client.chat.completions.create({
      model: 'groq/llama-3.3-70b-versatile',
      tools: [WEATHER_TOOL],
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        { role: 'assistant', content: [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Oslo' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01A', content: '4 degrees' }] },
      ],
    });
    const msgs = openai.requests[0].body.messages;
    assert.equal(msgs.length, 3, JSON.stringify(msgs));
    assert.equal(msgs[1].role, 'assistant');
    const text = typeof msgs[1].content === 'string' ? msgs[1].content : (msgs[1].content || []).map((p) => p.text).join('');
    assert.equal(text, 'Let me check.');
    assert.equal(msgs[1].tool_calls.length, 1);
    assert.equal(msgs[1].tool_calls[0].id, 'toolu_01A');
    assert.equal(msgs[1].tool_calls[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(msgs[1].tool_calls[0].function.arguments), { city: 'Oslo' });
    assert.equal(msgs[2].role, 'tool');
    assert.equal(msgs[2].tool_call_id, 'toolu_01A');
    const result = typeof msgs[2].content === 'string' ? msgs[2].content : msgs[2].content.map((p) => p.text).join('');
    assert.equal(result, '4 degrees');
  });
});

// ===========================================================================
describe('GET /v1/models', () => {
  it('lists the models of each connected kind that have prices', async () => {
    const t = await tenantWith('gemini', `${gemini.origin}/v1beta`);
    await oag.putProvider(t.companyId, 'ollama', { kind: 'ollama', base_url: ollama.origin });
    await oag.putProvider(t.companyId, 'groq', { kind: 'groq', base_url: openai.url, api_key: 'sk-x' });
    const ids = (await t.client.models.list()).data.map((m) => m.id);
    for (const id of ['gemini/gemini-2.5-flash', 'ollama/llama3.2', 'groq/llama-3.3-70b-versatile']) assert.ok(ids.includes(id), `${id} listed in ${ids.length} models`);
  });
});
