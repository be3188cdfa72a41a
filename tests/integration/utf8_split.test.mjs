// Upstream SSE bytes split at arbitrary boundaries — including inside
// multi-byte UTF-8 characters — must reach the client intact.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI } from './fake_openai.mjs';
import { startOag } from './harness.mjs';

const MODEL = 'fake/gpt-4o-mini';
const TEXT = '你好世界';

let oag;
let fake;
let t;

before(async () => {
  fake = await startFakeOpenAI();
  oag = await startOag({ name: 'utf8' });
  t = await oag.tenant({ name: 'Utf8', fake });
});

after(async () => {
  await oag?.cleanup();
  await fake?.close();
});

function contentOf(events) {
  return events.flatMap((e) => e.json?.choices || []).map((c) => c.delta?.content || '').join('');
}

async function streamOnce(script, body = {}) {
  fake.next(script);
  return await oag.stream(
    '/v1/chat/completions',
    { model: MODEL, messages: [{ role: 'user', content: 'greet' }], stream: true, ...body },
    { token: t.key },
  );
}

describe('UTF-8 split across upstream writes', () => {
  it('one write per byte: the whole stream arrives intact, no U+FFFD', async () => {
    fake.reset();
    const r = await streamOnce({ chunks: [TEXT, ' ', TEXT], split: 'byte', writeDelayMs: 0 });
    assert.equal(r.status, 200);
    assert.ok(!r.text.includes('\uFFFD'), 'no replacement character in the client bytes');
    assert.equal(contentOf(r.events), `${TEXT} ${TEXT}`);
    assert.equal(r.events.at(-1).data, '[DONE]');
  });

  it('one write per byte with pauses (every byte its own TCP segment)', async () => {
    fake.reset();
    const r = await streamOnce({ chunks: [TEXT], split: 'byte', writeDelayMs: 1 });
    assert.equal(r.status, 200);
    assert.ok(!r.text.includes('\uFFFD'));
    assert.equal(contentOf(r.events), TEXT);
    assert.equal(r.events.at(-1).data, '[DONE]');
  });

  it('split into two writes after every byte offset of the content (each offset its own call)', async () => {
    const len = Buffer.byteLength(TEXT, 'utf8');
    assert.equal(len, 12);
    // Offsets from just before the content to just after it: splits inside
    // every character, between characters, and in the JSON around it.
    const failures = [];
    let calls = 0;
    for (let d = -2; d <= len + 2; d++) {
      fake.reset();
      const r = await streamOnce({ chunks: [TEXT], splitMarker: TEXT, splitDelta: d, writeDelayMs: 15 });
      calls++;
      const got = contentOf(r.events);
      if (r.status !== 200 || got !== TEXT || r.text.includes('\uFFFD') || r.events.at(-1)?.data !== '[DONE]') {
        failures.push({ d, status: r.status, got });
      }
    }
    assert.equal(calls, len + 5);
    assert.deepEqual(failures, []);
  });

  it('characters split across SSE events and bytes, via the SDK', async () => {
    fake.reset();
    fake.next({ chunks: ['你', '好', '世', '界', ' 🌍 ', 'émoji'], split: 5, writeDelayMs: 1 });
    const stream = await t.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true });
    let got = '';
    for await (const c of stream) got += c.choices[0]?.delta?.content || '';
    assert.equal(got, '你好世界 🌍 émoji');
  });

  it('with include_usage and byte splits the usage chunk is still exactly one and last', async () => {
    fake.reset();
    const r = await streamOnce({ chunks: [TEXT], split: 'byte', writeDelayMs: 0, usage: { prompt_tokens: 4, completion_tokens: 4 } }, { stream_options: { include_usage: true } });
    assert.equal(contentOf(r.events), TEXT);
    const usage = r.events.filter((e) => e.json?.usage);
    assert.equal(usage.length, 1);
    assert.equal(r.events.at(-2).json?.usage?.completion_tokens, 4);
    assert.deepEqual(r.events.at(-2).json.choices, []);
  });

  it('a non-streamed body written one byte at a time arrives intact', async () => {
    fake.reset();
    fake.next({ text: `${TEXT}！`, split: 'byte', writeDelayMs: 0 });
    const res = await t.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.choices[0].message.content, `${TEXT}！`);
  });
});
