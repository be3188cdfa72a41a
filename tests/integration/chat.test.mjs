// Chat completions through oag to the fake OpenAI upstream: non-streamed,
// streamed, parallel tool calls, include_usage, pass-through fidelity, exact
// ledger cost.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI } from './fake_openai.mjs';
import { expectedCost, prices, startOag, waitFor, walletInvariantHolds } from './harness.mjs';

const MODEL = 'fake/gpt-4o-mini';
const PRICE_KEY = 'openai/gpt-4o-mini';

let oag;
let fake;
let t; // tenant with provider "fake"

before(async () => {
  fake = await startFakeOpenAI();
  oag = await startOag({ name: 'chat' });
  t = await oag.tenant({ name: 'Acme', credit: '1000', fake });
});

after(async () => {
  await oag?.cleanup();
  await fake?.close();
});

function assertNoOagKeyLeak(rec, oagKey) {
  for (const [h, v] of Object.entries(rec.headers)) {
    assert.ok(!String(v).includes(oagKey), `upstream header ${h} carries the OAG key`);
  }
  assert.ok(!rec.raw.includes(oagKey), 'upstream body carries the OAG key');
}

async function ledgerEntry(responseId) {
  const entries = await t.ledger();
  const mine = entries.filter((e) => e.response_id === responseId);
  assert.equal(mine.length, 1, `exactly one ledger entry for ${responseId}, got ${mine.length}`);
  return mine[0];
}

describe('non-streamed completion', () => {
  it('returns the upstream content and sends upstream exactly the client body with the model replaced', async () => {
    fake.reset();
    fake.next({ text: 'Bonjour, monde', usage: { prompt_tokens: 14, completion_tokens: 4 } });
    const req = {
      model: MODEL,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Say hello in French' },
      ],
      temperature: 0.25,
      top_p: 0.9,
      user: 'user-42',
      seed: 7,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      logit_bias: { 50256: -100 },
    };
    const res = await t.client.chat.completions.create(req);
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.choices.length, 1);
    assert.equal(res.choices[0].message.role, 'assistant');
    assert.equal(res.choices[0].message.content, 'Bonjour, monde');
    assert.equal(res.choices[0].finish_reason, 'stop');
    assert.equal(res.usage.prompt_tokens, 14);
    assert.equal(res.usage.completion_tokens, 4);
    assert.equal(res.usage.total_tokens, 18);
    assert.equal(typeof res.id, 'string');
    assert.ok(res.id.length > 0);

    const ups = fake.chatRequests();
    assert.equal(ups.length, 1, 'exactly one upstream call');
    const up = ups[0];
    assert.equal(up.method, 'POST');
    assert.equal(up.path, '/v1/chat/completions');
    assert.equal(up.headers.authorization, `Bearer ${t.upstreamKey}`);
    assert.match(up.headers['content-type'] || '', /application\/json/);
    assertNoOagKeyLeak(up, t.key);
    assert.deepEqual(up.body, { ...req, model: 'gpt-4o-mini' });
  });

  it('passes tools, tool_choice, response_format, n, stop and max_tokens through faithfully', async () => {
    fake.reset();
    fake.next({ n: 2, text: '{"ok":true}', usage: { prompt_tokens: 50, completion_tokens: 10 } });
    const req = {
      model: MODEL,
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp_c":4}' },
        { role: 'user', content: [{ type: 'text', text: 'And as JSON?' }] },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
            strict: true,
          },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', strict: true, schema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false } },
      },
      n: 2,
      stop: ['END', '\n\n'],
      max_tokens: 50,
    };
    const res = await t.client.chat.completions.create(req);
    assert.equal(res.choices.length, 2);
    assert.deepEqual(res.choices.map((c) => c.index), [0, 1]);
    assert.equal(res.choices[1].message.content, '{"ok":true}');
    const up = fake.chatRequests()[0];
    assert.deepEqual(up.body, { ...req, model: 'gpt-4o-mini' });
  });

  it('passes max_completion_tokens and a string stop through faithfully', async () => {
    fake.reset();
    fake.next({ text: 'ok' });
    const req = {
      model: MODEL,
      messages: [{ role: 'developer', content: 'be brief' }, { role: 'user', content: 'hi', name: 'alice' }],
      max_completion_tokens: 60,
      stop: 'STOP',
      response_format: { type: 'json_object' },
      tool_choice: 'none',
      tools: [{ type: 'function', function: { name: 'noop', parameters: { type: 'object', properties: {} } } }],
    };
    await t.client.chat.completions.create(req);
    assert.deepEqual(fake.chatRequests()[0].body, { ...req, model: 'gpt-4o-mini' });
  });

  it('returns non-streamed tool calls exactly as the upstream made them', async () => {
    fake.reset();
    fake.next({
      toolCalls: [
        { id: 'call_a', name: 'get_weather', arguments: '{"city":"Oslo"}' },
        { id: 'call_b', name: 'get_time', arguments: '{"tz":"Europe/Oslo"}' },
      ],
    });
    const res = await t.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'weather and time' }],
      tools: [
        { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
        { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
      ],
    });
    const c = res.choices[0];
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.content, null);
    assert.deepEqual(c.message.tool_calls, [
      { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
      { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"Europe/Oslo"}' } },
    ]);
  });
});

describe('streamed completion', () => {
  it('reassembles streamed text via the SDK, one chunk id throughout', async () => {
    fake.reset();
    const text = 'The quick brown fox jumps over the lazy dog.';
    fake.next({ text });
    const stream = await t.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'fox' }], stream: true });
    let got = '';
    const ids = new Set();
    let finish = null;
    let roles = 0;
    for await (const chunk of stream) {
      ids.add(chunk.id);
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.ok(!chunk.usage, 'no usage chunk without include_usage');
      for (const ch of chunk.choices) {
        if (ch.delta?.role) roles++;
        if (ch.delta?.content) got += ch.delta.content;
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
    assert.equal(got, text);
    assert.equal(finish, 'stop');
    assert.equal(ids.size, 1, `one stable chunk id, got ${[...ids].join(',')}`);
    assert.equal(roles, 1, 'role only in the first chunk');
    const up = fake.chatRequests()[0];
    assert.equal(up.body.stream, true);
    assert.equal(up.body.model, 'gpt-4o-mini');
    assert.equal(up.body.stream_options?.include_usage, true, 'OAG always asks upstream for usage');
    assert.equal(up.headers.authorization, `Bearer ${t.upstreamKey}`);
    assertNoOagKeyLeak(up, t.key);
  });

  it('answers with SSE headers and data: [DONE] last', async () => {
    fake.reset();
    fake.next({ text: 'a b c' });
    const r = await oag.stream('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'x' }], stream: true }, { token: t.key });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') || '', /^text\/event-stream/);
    assert.equal(r.error, null);
    assert.ok(r.events.length >= 3);
    assert.equal(r.events.at(-1).data, '[DONE]');
    assert.equal(r.events.filter((e) => e.data === '[DONE]').length, 1);
    for (const e of r.events.slice(0, -1)) assert.equal(e.event, null, 'no event: lines for chat completions');
  });

  it('reassembles streamed parallel tool calls (indices 0..n-1, stable id, finish tool_calls)', async () => {
    fake.reset();
    const calls = [
      { id: 'call_w', name: 'get_weather', arguments: { city: 'Oslo', unit: 'celsius' } },
      { id: 'call_t', name: 'get_time', arguments: { tz: 'Europe/Oslo' } },
      { id: 'call_n', name: 'get_news', arguments: { topic: 'ski jumping', limit: 3 } },
    ];
    fake.next({ toolCalls: calls, argChunks: 3 });
    const stream = await t.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'weather, time and news' }],
      tools: calls.map((c) => ({ type: 'function', function: { name: c.name, parameters: { type: 'object', properties: {} } } })),
      stream: true,
    });
    const ids = new Set();
    const acc = new Map();
    let finish = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      ids.add(chunk.id);
      for (const ch of chunk.choices) {
        for (const tc of ch.delta?.tool_calls || []) {
          const a = acc.get(tc.index) || { id: '', name: '', args: '' };
          if (tc.id) a.id = tc.id;
          if (tc.function?.name) a.name += tc.function.name;
          if (tc.function?.arguments) a.args += tc.function.arguments;
          acc.set(tc.index, a);
        }
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
    assert.ok(chunks > calls.length * 2, 'arguments arrived in fragments');
    assert.equal(ids.size, 1, 'one stable chunk id');
    assert.equal(finish, 'tool_calls');
    assert.deepEqual([...acc.keys()].sort(), [0, 1, 2]);
    calls.forEach((c, i) => {
      const a = acc.get(i);
      assert.equal(a.id, c.id);
      assert.equal(a.name, c.name);
      assert.deepEqual(JSON.parse(a.args), c.arguments);
    });
  });

  it('the SDK stream helper rebuilds the final message with all tool calls', async () => {
    fake.reset();
    fake.next({
      toolCalls: [
        { id: 'call_1', name: 'f1', arguments: { a: 1 } },
        { id: 'call_2', name: 'f2', arguments: { b: [1, 2, 3] } },
      ],
      argChunks: 2,
    });
    const runner = t.client.chat.completions.stream({
      model: MODEL,
      messages: [{ role: 'user', content: 'two calls' }],
      tools: ['f1', 'f2'].map((name) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } })),
    });
    const final = await runner.finalChatCompletion();
    const msg = final.choices[0].message;
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.equal(msg.tool_calls.length, 2);
    assert.deepEqual(msg.tool_calls.map((x) => [x.id, x.function.name, JSON.parse(x.function.arguments)]), [
      ['call_1', 'f1', { a: 1 }],
      ['call_2', 'f2', { b: [1, 2, 3] }],
    ]);
  });
});

describe('stream usage', () => {
  it('with include_usage: exactly one usage chunk, the last before [DONE], with choices []', async () => {
    fake.reset();
    fake.next({ text: 'one two three', usage: { prompt_tokens: 21, completion_tokens: 3, cached_tokens: 5 } });
    const r = await oag.stream(
      '/v1/chat/completions',
      { model: MODEL, messages: [{ role: 'user', content: 'count' }], stream: true, stream_options: { include_usage: true } },
      { token: t.key },
    );
    assert.equal(r.status, 200);
    const ev = r.events;
    assert.equal(ev.at(-1).data, '[DONE]');
    const withUsage = ev.filter((e) => e.json && e.json.usage);
    assert.equal(withUsage.length, 1, 'exactly one chunk with usage');
    const last = ev.at(-2);
    assert.ok(last.json, 'a JSON chunk before [DONE]');
    assert.deepEqual(last.json.choices, []);
    assert.equal(last.json.usage.prompt_tokens, 21);
    assert.equal(last.json.usage.completion_tokens, 3);
    assert.equal(last.json.usage.total_tokens, 24);
    assert.equal(last.json.usage.prompt_tokens_details?.cached_tokens, 5);
    const emptyChoices = ev.filter((e) => e.json && Array.isArray(e.json.choices) && e.json.choices.length === 0);
    assert.equal(emptyChoices.length, 1, 'only the usage chunk has choices []');
    const ids = new Set(ev.filter((e) => e.json).map((e) => e.json.id));
    assert.equal(ids.size, 1);
    const text = ev.flatMap((e) => e.json?.choices || []).map((c) => c.delta?.content || '').join('');
    assert.equal(text, 'one two three');

    const entry = await ledgerEntry(last.json.id);
    assert.equal(entry.input_tokens, 21);
    assert.equal(entry.cached_input_tokens, 5);
    assert.equal(entry.output_tokens, 3);
    assert.equal(entry.cost_uot, expectedCost(PRICE_KEY, { prompt_tokens: 21, completion_tokens: 3, cached_tokens: 5 }));
  });

  it('with include_usage via the SDK: the usage chunk is the last chunk the SDK yields', async () => {
    fake.reset();
    fake.next({ text: 'x y', usage: { prompt_tokens: 8, completion_tokens: 2 } });
    const stream = await t.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'q' }], stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const usageIdx = chunks.map((c, i) => (c.usage ? i : -1)).filter((i) => i >= 0);
    assert.deepEqual(usageIdx, [chunks.length - 1]);
    assert.deepEqual(chunks.at(-1).choices, []);
    assert.equal(chunks.at(-1).usage.total_tokens, 10);
  });

  it('without include_usage: no usage chunk reaches the client, yet the ledger has the tokens', async () => {
    fake.reset();
    fake.next({ text: 'alpha beta gamma delta', usage: { prompt_tokens: 33, completion_tokens: 4, cached_tokens: 0 } });
    const before = await t.wallet();
    const r = await oag.stream('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'greek' }], stream: true }, { token: t.key });
    assert.equal(r.status, 200);
    assert.equal(r.events.at(-1).data, '[DONE]');
    const jsonEvents = r.events.filter((e) => e.json);
    assert.ok(jsonEvents.length >= 2);
    assert.equal(jsonEvents.filter((e) => e.json.usage).length, 0, 'no usage in any chunk');
    assert.equal(jsonEvents.filter((e) => Array.isArray(e.json.choices) && e.json.choices.length === 0).length, 0, 'no empty-choices chunk');
    assert.ok(!r.text.includes('"prompt_tokens"'), 'no usage object anywhere in the stream');
    const id = jsonEvents[0].json.id;
    const entry = await ledgerEntry(id);
    assert.equal(entry.input_tokens, 33);
    assert.equal(entry.output_tokens, 4);
    const cost = expectedCost(PRICE_KEY, { prompt_tokens: 33, completion_tokens: 4 });
    assert.equal(entry.cost_uot, cost);
    const afterW = await t.wallet();
    assert.equal(afterW.spent_uot - before.spent_uot, cost);
    assert.equal(afterW.reserved_uot, 0);
  });
});

describe('stream options and choices', () => {
  it('include_usage false from the client: upstream is still asked for usage, the client gets none', async () => {
    fake.reset();
    fake.next({ text: 'p q', usage: { prompt_tokens: 9, completion_tokens: 2 } });
    const req = { model: MODEL, messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_usage: false }, temperature: 0.5 };
    const r = await oag.stream('/v1/chat/completions', req, { token: t.key });
    assert.equal(r.events.at(-1).data, '[DONE]');
    assert.equal(r.events.filter((e) => e.json?.usage).length, 0);
    const up = fake.chatRequests()[0];
    assert.deepEqual(up.body, { ...req, model: 'gpt-4o-mini', stream_options: { include_usage: true } });
    const e = await ledgerEntry(r.events[0].json.id);
    assert.equal(e.output_tokens, 2);
  });

  it('the streamed body sent upstream is the client body plus include_usage, nothing else changed', async () => {
    fake.reset();
    fake.next({ text: 'z' });
    const req = { model: MODEL, messages: [{ role: 'user', content: 'x' }], stream: true, n: 1, stop: ['\n'], max_completion_tokens: 30, user: 'u9', tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }], tool_choice: 'auto' };
    await oag.stream('/v1/chat/completions', req, { token: t.key });
    assert.deepEqual(fake.chatRequests()[0].body, { ...req, model: 'gpt-4o-mini', stream_options: { include_usage: true } });
  });

  it('n=2 streamed: both choice indices, one usage chunk at the end', async () => {
    fake.reset();
    fake.next({ text: 'left right', n: 2, usage: { prompt_tokens: 6, completion_tokens: 4 } });
    const r = await oag.stream('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'x' }], stream: true, n: 2, stream_options: { include_usage: true } }, { token: t.key });
    const byIndex = new Map();
    for (const ev of r.events) for (const c of ev.json?.choices || []) byIndex.set(c.index, (byIndex.get(c.index) || '') + (c.delta?.content || ''));
    assert.deepEqual([...byIndex.keys()].sort(), [0, 1]);
    assert.equal(byIndex.get(0), 'left right');
    assert.equal(byIndex.get(1), 'left right');
    assert.equal(r.events.filter((e) => e.json?.usage).length, 1);
    assert.deepEqual(r.events.at(-2).json.choices, []);
  });
});

describe('client disconnects', () => {
  it('a client that hangs up mid-stream is charged for what was generated; nothing stays reserved', async () => {
    fake.reset();
    fake.next({ chunks: Array.from({ length: 60 }, (_, i) => `w${i} `), split: 40, writeDelayMs: 20, usage: { prompt_tokens: 10, completion_tokens: 60 } });
    const before = await t.wallet();
    const ac = new AbortController();
    const res = await fetch(`${oag.baseURL}/chat/completions`, {
      method: 'POST',
      signal: ac.signal,
      headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'long answer please' }], stream: true }),
    });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    let text = '';
    while (!/"content":"w3 "/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    const id = text.match(/"id":"([^"]+)"/)[1];
    ac.abort();
    const entry = await waitFor(async () => (await t.ledger()).find((e) => e.response_id === id), { timeoutMs: 8000, what: 'a ledger entry for the disconnected stream' });
    assert.ok(entry.output_tokens > 0, 'charged for generated tokens');
    assert.ok(entry.output_tokens < 60, 'not for the whole answer');
    assert.ok(entry.cost_uot > 0);
    await waitFor(async () => (await t.wallet()).reserved_uot === 0, { what: 'reservation released' });
    const w = await t.wallet();
    assert.ok(walletInvariantHolds(w));
    assert.equal(w.spent_uot - before.spent_uot, entry.cost_uot);
  });
});

describe('concurrency', () => {
  it('concurrent calls never overdraw a small wallet', async () => {
    const poor = await oag.tenant({ name: 'Race', credit: '0.05', fake });
    fake.reset();
    fake.setDefault({ text: 'ok', usage: { prompt_tokens: 10, completion_tokens: 10 }, delayMs: 50 });
    try {
      const rs = await Promise.all(Array.from({ length: 30 }, () => poor.post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 20 })));
      const ok = rs.filter((r) => r.status === 200).length;
      const refused = rs.filter((r) => r.status === 402).length;
      assert.equal(ok + refused, 30, `only 200 or 402: ${rs.map((r) => r.status).join(',')}`);
      assert.ok(ok >= 1 && refused >= 1);
      assert.equal(fake.chatRequests().length, ok, 'refused calls never reached the upstream');
      const w = await poor.wallet();
      assert.ok(w.balance_uot >= 0, 'never negative');
      assert.equal(w.reserved_uot, 0);
      assert.ok(walletInvariantHolds(w));
      assert.equal(w.spent_uot, ok * expectedCost(PRICE_KEY, { prompt_tokens: 10, completion_tokens: 10 }));
    } finally {
      fake.setDefault({});
    }
  });
});

describe('ledger and wallet', () => {
  it('charges the exact cost with cached prompt tokens at the cached rate', async () => {
    fake.reset();
    const usage = { prompt_tokens: 123457, completion_tokens: 54321, cached_tokens: 100003 };
    fake.next({ text: 'cached', usage });
    const before = await t.wallet();
    const res = await t.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'long context' }], max_tokens: 60000 });
    const cost = expectedCost(PRICE_KEY, usage);
    const full = expectedCost(PRICE_KEY, { ...usage, cached_tokens: 0 });
    assert.ok(cost < full, 'the cached rate is cheaper than the input rate (price table sanity)');
    const e = await ledgerEntry(res.id);
    assert.equal(e.model, MODEL);
    assert.equal(e.provider, 'fake');
    assert.equal(e.input_tokens, usage.prompt_tokens);
    assert.equal(e.cached_input_tokens, usage.cached_tokens);
    assert.equal(e.output_tokens, usage.completion_tokens);
    assert.equal(e.cost_uot, cost);
    assert.equal(typeof e.id, 'string');
    assert.match(e.id, /^led_/);
    assert.equal(typeof e.created_at, 'number');
    const w = await t.wallet();
    assert.equal(w.spent_uot - before.spent_uot, cost);
    assert.equal(before.balance_uot - w.balance_uot, cost);
    assert.equal(w.reserved_uot, 0);
    assert.equal(w.credits_uot, before.credits_uot);
    assert.ok(walletInvariantHolds(w), JSON.stringify(w));
    const aw = await oag.adminWallet(t.companyId);
    assert.deepEqual(
      { b: aw.balance_uot, r: aw.reserved_uot, s: aw.spent_uot, c: aw.credits_uot },
      { b: w.balance_uot, r: w.reserved_uot, s: w.spent_uot, c: w.credits_uot },
    );
  });

  it('rounds a fractional µO₮ cost up (models whose price has sub-1000 µUSD digits)', async (ctx) => {
    const doc = prices();
    const models = doc.models || doc;
    const odd = Object.entries(models).find(
      ([k, p]) => k.startsWith('openai/') && !p.embeddings && ['input', 'cached_input', 'output'].some((f) => p[f] !== undefined && Math.round(p[f] * 1e6) % 1000 !== 0),
    );
    if (!odd) {
      ctx.skip('no openai/* price in prices.json has sub-µO₮ precision');
      return;
    }
    const upstreamModel = odd[0].slice('openai/'.length);
    fake.reset();
    const usage = { prompt_tokens: 7, completion_tokens: 3, cached_tokens: 1 };
    fake.next({ text: 'r', usage });
    const res = await t.client.chat.completions.create({ model: `fake/${upstreamModel}`, messages: [{ role: 'user', content: 'r' }], max_tokens: 10 });
    const e = await ledgerEntry(res.id);
    assert.equal(e.cost_uot, expectedCost(odd[0], usage));
  });

  it('ledger pages oldest first with limit/after/has_more/first_id/last_id', async () => {
    fake.reset();
    const ids = [];
    for (let i = 0; i < 3; i++) {
      fake.next({ text: `p${i}`, usage: { prompt_tokens: 5 + i, completion_tokens: 1 } });
      ids.push((await t.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `p${i}` }] })).id);
    }
    const all = await t.ledger();
    const pos = ids.map((id) => all.findIndex((e) => e.response_id === id));
    assert.ok(pos.every((p) => p >= 0), 'all three in the ledger');
    assert.ok(pos[0] < pos[1] && pos[1] < pos[2], 'oldest first');
    const p1 = await t.get('/v1/ledger?limit=1');
    assert.equal(p1.status, 200);
    assert.equal(p1.json.object, 'list');
    assert.equal(p1.json.data.length, 1);
    assert.equal(p1.json.has_more, true);
    assert.equal(p1.json.first_id, p1.json.data[0].id);
    assert.equal(p1.json.last_id, p1.json.data[0].id);
    const p2 = await t.get(`/v1/ledger?limit=2&after=${encodeURIComponent(p1.json.last_id)}`);
    assert.equal(p2.status, 200);
    assert.equal(p2.json.data.length, 2);
    assert.deepEqual(p2.json.data.map((e) => e.id), all.slice(1, 3).map((e) => e.id));
    const lastPage = await t.get(`/v1/ledger?limit=100&after=${encodeURIComponent(all.at(-1).id)}`);
    assert.equal(lastPage.json.data.length, 0);
    assert.equal(lastPage.json.has_more, false);
  });

  it('the invariant credits = balance + reserved + spent holds after all of the above', async () => {
    const w = await t.wallet();
    assert.ok(walletInvariantHolds(w), JSON.stringify(w));
    assert.equal(w.reserved_uot, 0);
    const all = await t.ledger();
    const sum = all.filter((e) => e.response_id).reduce((s, e) => s + e.cost_uot, 0);
    assert.equal(sum, w.spent_uot, 'the ledger explains every µO₮ spent');
  });
});
