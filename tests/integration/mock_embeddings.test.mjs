// The built-in mock provider end to end, and embeddings (mock and openai kinds).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI } from './fake_openai.mjs';
import { expectedCost, prices, startOag, walletInvariantHolds } from './harness.mjs';

let oag;
let fake;
let t;

before(async () => {
  fake = await startFakeOpenAI();
  oag = await startOag({ name: 'mock' });
  t = await oag.tenant({ name: 'Mocky', fake });
});

after(async () => {
  await oag?.cleanup();
  await fake?.close();
});

const words = (s) => s.split(/\s+/).filter(Boolean).length;

function mockPriceKey() {
  const models = prices().models || prices();
  return models['mock/echo'] ? 'mock/echo' : null;
}

describe('mock/echo', () => {
  it('non-streamed: echoes the last user message with deterministic usage', async () => {
    const messages = [
      { role: 'system', content: 'be an echo' },
      { role: 'user', content: 'first message here' },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: 'hello big wide world' },
    ];
    const res = await t.client.chat.completions.create({ model: 'mock/echo', messages });
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.choices[0].message.content, 'hello big wide world');
    assert.equal(res.choices[0].finish_reason, 'stop');
    const prompt = messages.reduce((s, m) => s + words(m.content) + 3, 0);
    assert.equal(res.usage.prompt_tokens, prompt);
    assert.equal(res.usage.completion_tokens, 4);
    assert.equal(res.usage.total_tokens, prompt + 4);
    const entries = await t.ledger();
    const e = entries.filter((x) => x.response_id === res.id);
    assert.equal(e.length, 1);
    assert.equal(e[0].input_tokens, prompt);
    assert.equal(e[0].output_tokens, 4);
    assert.equal(e[0].provider, 'mock');
    const pk = mockPriceKey();
    if (pk) assert.equal(e[0].cost_uot, expectedCost(pk, { prompt_tokens: prompt, completion_tokens: 4 }));
  });

  it('streamed: one chunk per word reassembles the message; include_usage gives one final usage chunk', async () => {
    const text = 'streaming is fun with many small words';
    const r = await oag.stream(
      '/v1/chat/completions',
      { model: 'mock/echo', messages: [{ role: 'user', content: text }], stream: true, stream_options: { include_usage: true } },
      { token: t.key },
    );
    assert.equal(r.status, 200);
    const content = r.events.flatMap((e) => e.json?.choices || []).map((c) => c.delta?.content || '').join('');
    assert.equal(content, text);
    const contentChunks = r.events.filter((e) => (e.json?.choices || []).some((c) => c.delta?.content));
    assert.ok(contentChunks.length >= words(text), 'at least one chunk per word');
    assert.equal(r.events.at(-1).data, '[DONE]');
    assert.equal(r.events.filter((e) => e.json?.usage).length, 1);
    assert.deepEqual(r.events.at(-2).json.choices, []);
    assert.equal(r.events.at(-2).json.usage.completion_tokens, words(text));
    assert.equal(r.events.at(-2).json.usage.prompt_tokens, words(text) + 3);
    assert.equal(new Set(r.events.filter((e) => e.json).map((e) => e.json.id)).size, 1);
  });

  it('streamed via the SDK', async () => {
    const stream = await t.client.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'echo me back' }], stream: true });
    let got = '';
    for await (const c of stream) got += c.choices[0]?.delta?.content || '';
    assert.equal(got, 'echo me back');
  });

  it('tool directive: one call, non-streamed', async () => {
    const res = await t.client.chat.completions.create({
      model: 'mock/echo',
      messages: [{ role: 'user', content: 'check #mock:tool=get_weather:{"city":"Oslo"}' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    const c = res.choices[0];
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.tool_calls.length, 1);
    assert.equal(c.message.tool_calls[0].type, 'function');
    assert.equal(c.message.tool_calls[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(c.message.tool_calls[0].function.arguments), { city: 'Oslo' });
    assert.match(c.message.tool_calls[0].id, /\S/);
  });

  it('tool directive repeated: parallel calls streamed and reassembled', async () => {
    const stream = await t.client.chat.completions.create({
      model: 'mock/echo',
      messages: [{ role: 'user', content: '#mock:tool=a:{"x":1} #mock:tool=b:{"y":[2,3]}' }],
      stream: true,
    });
    const acc = new Map();
    const ids = new Set();
    let finish = null;
    for await (const chunk of stream) {
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
    assert.equal(ids.size, 1);
    assert.equal(finish, 'tool_calls');
    assert.deepEqual([...acc.keys()].sort(), [0, 1]);
    assert.equal(acc.get(0).name, 'a');
    assert.deepEqual(JSON.parse(acc.get(0).args), { x: 1 });
    assert.equal(acc.get(1).name, 'b');
    assert.deepEqual(JSON.parse(acc.get(1).args), { y: [2, 3] });
    assert.notEqual(acc.get(0).id, acc.get(1).id);
  });

  it('error directive: a 429 from the mock reaches the client as 429; nothing charged', async () => {
    const before = await t.wallet();
    const r = await t.post('/v1/chat/completions', { model: 'mock/echo', messages: [{ role: 'user', content: '#mock:error=429' }] });
    assert.equal(r.status, 429, r.text);
    assert.ok(r.json?.error?.message);
    const w = await t.wallet();
    assert.equal(w.spent_uot, before.spent_uot);
    assert.equal(w.reserved_uot, 0);
  });

  it('error directive: a 500 from the mock becomes 502', async () => {
    const r = await t.post('/v1/chat/completions', { model: 'mock/echo', messages: [{ role: 'user', content: '#mock:error=500' }] });
    assert.equal(r.status, 502, r.text);
    assert.ok(r.json?.error?.message);
  });
});

function mockEmbeddingModel() {
  const models = prices().models || prices();
  const hit = Object.keys(models).find((k) => k.startsWith('mock/') && models[k].embeddings);
  return hit || 'mock/echo';
}

describe('embeddings', () => {
  it('mock: one vector per input, usage reported, ledger charged', async () => {
    const model = mockEmbeddingModel();
    const res = await t.client.embeddings.create({ model, input: ['hello world', 'another input here'], encoding_format: 'float' });
    assert.equal(res.object, 'list');
    assert.equal(res.data.length, 2);
    assert.deepEqual(res.data.map((d) => d.index), [0, 1]);
    for (const d of res.data) {
      assert.equal(d.object, 'embedding');
      assert.ok(Array.isArray(d.embedding) && d.embedding.length > 0);
      assert.ok(d.embedding.every((x) => typeof x === 'number' && Number.isFinite(x)));
    }
    assert.equal(typeof res.usage.prompt_tokens, 'number');
    // Deterministic: the same input twice gives the same vector — also as
    // base64 (what the SDK asks for when encoding_format is not set).
    const again = await t.client.embeddings.create({ model, input: 'hello world' });
    assert.equal(again.data[0].embedding.length, res.data[0].embedding.length);
    again.data[0].embedding.forEach((x, i) => assert.equal(x, Math.fround(res.data[0].embedding[i])));
  });

  it('openai kind: passed to the upstream faithfully, priced from prices.json', async () => {
    fake.reset();
    fake.next({ embedding: { dims: 16, usage: { prompt_tokens: 1234 } } });
    const req = { model: 'fake/text-embedding-3-small', input: ['alpha', 'beta gamma', 'delta'], encoding_format: 'float', dimensions: 16, user: 'u-emb' };
    const raw = await t.post('/v1/embeddings', req);
    assert.equal(raw.status, 200, raw.text);
    const res = raw.json;
    assert.equal(res.data.length, 3);
    assert.equal(res.data[0].embedding.length, 16);
    assert.equal(res.usage.prompt_tokens, 1234);
    const up = fake.requests.filter((r) => r.path === '/v1/embeddings');
    assert.equal(up.length, 1);
    assert.equal(up[0].method, 'POST');
    assert.equal(up[0].headers.authorization, `Bearer ${t.upstreamKey}`);
    assert.deepEqual(up[0].body, { ...req, model: 'text-embedding-3-small' });
    assert.ok(!up[0].raw.includes(t.key));
    const models = prices().models || prices();
    if (models['openai/text-embedding-3-small']) {
      const entries = await t.ledger();
      const e = entries.filter((x) => x.model === 'fake/text-embedding-3-small');
      assert.equal(e.length, 1);
      assert.equal(e[0].input_tokens, 1234);
      assert.equal(e[0].output_tokens, 0);
      assert.equal(e[0].cost_uot, expectedCost('openai/text-embedding-3-small', { prompt_tokens: 1234 }));
    }
    assert.ok(walletInvariantHolds(await t.wallet()));
  });

  it('openai kind via the SDK (base64 decoding is the SDK default)', async () => {
    fake.reset();
    fake.next({ embedding: { dims: 4 } });
    const res = await t.client.embeddings.create({ model: 'fake/text-embedding-3-small', input: 'one' });
    assert.equal(fake.requests.at(-1).body.encoding_format, 'base64');
    assert.equal(res.data[0].embedding.length, 4);
    assert.ok(res.data[0].embedding.every((x) => Number.isFinite(x)));
  });

  it('400 for an empty or wrongly typed input, naming input', async () => {
    for (const input of ['', [], 42, [{}], null]) {
      const r = await t.post('/v1/embeddings', { model: mockEmbeddingModel(), input });
      assert.equal(r.status, 400, `input ${JSON.stringify(input)}: ${r.status} ${r.text}`);
      assert.match(String(r.json.error.param), /^input(\[|$)/);
    }
    const e = await t.client.embeddings.create({ model: 'nope/emb', input: 'x' }).catch((err) => err);
    assert.ok(e instanceof OpenAI.APIError);
    assert.equal(e.status, 404);
  });
});
