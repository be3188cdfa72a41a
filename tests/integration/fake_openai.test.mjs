// Self-test of the fake upstream: the official SDK talks to it directly, so
// the fake's wire format is the one real clients accept. Needs no daemon.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI } from './fake_openai.mjs';
import { rawStream } from './harness.mjs';

let fake;
let client;

before(async () => {
  fake = await startFakeOpenAI();
  client = new OpenAI({ apiKey: 'sk-direct', baseURL: fake.url, maxRetries: 0 });
});

after(async () => {
  await fake?.close();
});

describe('fake upstream wire format', () => {
  it('non-streamed completion with usage incl. cached tokens; request recorded', async () => {
    fake.reset();
    fake.next({ text: 'hi there', usage: { prompt_tokens: 10, completion_tokens: 2, cached_tokens: 4 } });
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], temperature: 0 });
    assert.equal(r.choices[0].message.content, 'hi there');
    assert.equal(r.usage.prompt_tokens_details.cached_tokens, 4);
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0].headers.authorization, 'Bearer sk-direct');
    assert.deepEqual(fake.requests[0].body, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], temperature: 0 });
  });

  it('streams role, content, finish, usage (only when asked) and [DONE]', async () => {
    fake.reset();
    fake.next({ text: 'a b c' });
    const s = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const c of s) chunks.push(c);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content || '').join(''), 'a b c');
    assert.deepEqual(chunks.at(-1).choices, []);
    assert.equal(chunks.at(-1).usage.total_tokens, 18);
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
    fake.next({ text: 'a' });
    const r = await rawStream(`${fake.url}/chat/completions`, { model: 'm', messages: [], stream: true });
    assert.ok(!r.events.some((e) => e.json?.usage));
    assert.equal(r.events.at(-1).data, '[DONE]');
  });

  it('parallel tool call fragments reassemble with the SDK helper', async () => {
    fake.reset();
    fake.next({ toolCalls: [{ id: 'c1', name: 'f', arguments: { a: 'xyz' } }, { id: 'c2', name: 'g', arguments: { b: 2 } }], argChunks: 2 });
    const final = await client.chat.completions
      .stream({ model: 'm', messages: [{ role: 'user', content: 'x' }], tools: ['f', 'g'].map((name) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } })) })
      .finalChatCompletion();
    assert.deepEqual(final.choices[0].message.tool_calls.map((t) => [t.id, t.function.name, t.function.arguments]), [
      ['c1', 'f', '{"a":"xyz"}'],
      ['c2', 'g', '{"b":2}'],
    ]);
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
  });

  it('byte-split streams keep UTF-8 intact for a correct client', async () => {
    fake.reset();
    fake.next({ chunks: ['你好世界'], split: 'byte', writeDelayMs: 0 });
    const s = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
    let got = '';
    for await (const c of s) got += c.choices[0]?.delta?.content || '';
    assert.equal(got, '你好世界');
  });

  it('dies mid-stream without [DONE]', async () => {
    fake.reset();
    fake.next({ text: 'one two three four five', dieAfterBytes: 500 });
    const r = await rawStream(`${fake.url}/chat/completions`, { model: 'm', messages: [], stream: true });
    assert.ok(!r.events.some((e) => e.data === '[DONE]'));
    assert.ok(r.events.length >= 1);
    assert.ok(r.error, 'the reader saw the connection cut');
  });

  it('errors with status, body and retry-after', async () => {
    fake.reset();
    fake.next({ status: 429, error: { message: 'slow', code: 'rate_limit_exceeded', type: 'requests' }, headers: { 'retry-after': '3' } });
    const e = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((x) => x);
    assert.equal(e.status, 429);
    assert.equal(e.code, 'rate_limit_exceeded');
    assert.equal(e.headers.get('retry-after'), '3');
  });

  it('embeddings as floats and as base64', async () => {
    fake.reset();
    const f = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'], encoding_format: 'float' });
    assert.equal(f.data.length, 2);
    const b = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'a' });
    assert.equal(b.data[0].embedding.length, f.data[0].embedding.length);
    b.data[0].embedding.forEach((x, i) => assert.equal(x, Math.fround(f.data[0].embedding[i])));
  });
});
