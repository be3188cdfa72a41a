// Error paths: 401/402/404/400/413, upstream 429/500/cut streams — in
// OpenAI's error shape, and never charging for a failure.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI } from './fake_openai.mjs';
import { startOag, walletInvariantHolds } from './harness.mjs';

const MODEL = 'fake/gpt-4o-mini';

let oag;
let fake;
let t;

before(async () => {
  fake = await startFakeOpenAI();
  oag = await startOag({ name: 'errors' });
  t = await oag.tenant({ name: 'Errs', credit: '1000', fake });
});

after(async () => {
  await oag?.cleanup();
  await fake?.close();
});

function assertErrorShape(r, status, { type, code, param } = {}) {
  assert.equal(r.status, status, `status ${r.status}: ${r.text}`);
  assert.ok(r.json && typeof r.json.error === 'object', `OpenAI error body: ${r.text}`);
  const e = r.json.error;
  for (const k of ['message', 'type', 'param', 'code']) assert.ok(k in e, `error.${k} present: ${r.text}`);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  if (type !== undefined) assert.equal(e.type, type);
  if (code !== undefined) assert.equal(e.code, code);
  if (param !== undefined) assert.equal(e.param, param);
  assert.match(r.headers.get('content-type') || '', /application\/json/);
  return e;
}

async function expectApiError(promise, status) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, `APIError, got ${e}`);
    assert.equal(e.status, status, `status ${e.status}: ${e.message}`);
    return e;
  }
  assert.fail(`expected HTTP ${status}`);
}

const chat = (body) => ({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], ...body });

async function assertNoCharge(before, tenant = t) {
  const w = await tenant.wallet();
  assert.equal(w.spent_uot, before.spent_uot, 'nothing spent');
  assert.equal(w.balance_uot, before.balance_uot, 'balance unchanged');
  assert.equal(w.reserved_uot, 0, 'no reservation left');
  assert.ok(walletInvariantHolds(w));
}

describe('authentication', () => {
  it('401 invalid_api_key for a bad key, a missing key and a non-Bearer scheme', async () => {
    const bad = oag.client('oag-this-is-not-a-key');
    const e = await expectApiError(bad.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'x' }] }), 401);
    assert.equal(e.code, 'invalid_api_key');
    assertErrorShape(await oag.request('POST', '/v1/chat/completions', { body: chat() }), 401, { code: 'invalid_api_key' });
    assertErrorShape(await oag.request('GET', '/v1/wallet', { headers: { authorization: `Basic ${Buffer.from(`x:${t.key}`).toString('base64')}` } }), 401);
    assertErrorShape(await oag.request('GET', '/v1/models', { token: 'sk-not-oag' }), 401, { code: 'invalid_api_key' });
    // The admin token is not a client key.
    assertErrorShape(await oag.request('GET', '/v1/wallet', { token: oag.adminToken }), 401);
  });

  it('a revoked key is refused at once', async () => {
    const k = await oag.createKey(t.companyId, 'short-lived');
    const c = oag.client(k.key);
    const ok = await c.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'before revoke' }] });
    assert.equal(ok.choices[0].message.content, 'before revoke');
    const del = await oag.admin('DELETE', `/admin/v1/companies/${t.companyId}/keys/${k.id}`);
    assert.equal(del.status, 200, del.text);
    const e = await expectApiError(c.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'after' }] }), 401);
    assert.equal(e.code, 'invalid_api_key');
    assertErrorShape(await oag.request('GET', '/v1/wallet', { token: k.key }), 401);
    // Other keys of the company keep working.
    assert.equal((await oag.request('GET', '/v1/wallet', { token: t.key })).status, 200);
  });

  it('the admin API refuses a missing or wrong admin token', async () => {
    assert.equal((await oag.request('POST', '/admin/v1/companies', { body: { name: 'x', credit_ot: '1' } })).status, 401);
    assert.equal((await oag.request('POST', '/admin/v1/companies', { body: { name: 'x', credit_ot: '1' }, token: `${oag.adminToken}x` })).status, 401);
    assert.equal((await oag.request('GET', `/admin/v1/companies/${t.companyId}/wallet`, { token: t.key })).status, 401);
  });
});

describe('quota', () => {
  it('402 insufficient_quota with an empty wallet; upstream not called; nothing charged', async () => {
    const poor = await oag.tenant({ name: 'Poor', credit: '0', fake });
    fake.reset();
    const before = await poor.wallet();
    assert.equal(before.balance_uot, 0);
    const e = await expectApiError(poor.client.chat.completions.create(chat()), 402);
    assert.equal(e.code, 'insufficient_quota');
    const r = await poor.post('/v1/chat/completions', chat({ stream: true }));
    assertErrorShape(r, 402, { code: 'insufficient_quota' });
    assert.equal(fake.requests.length, 0, 'upstream never called');
    await assertNoCharge(before, poor);
    const entries = await poor.ledger();
    assert.equal(entries.filter((x) => x.cost_uot > 0).length, 0);
  });

  it('402 when the worst case (max_tokens) exceeds the balance', async () => {
    const tiny = await oag.tenant({ name: 'Tiny', credit: '0.001', fake });
    fake.reset();
    const before = await tiny.wallet();
    const r = await tiny.post('/v1/chat/completions', chat({ max_tokens: 100000 }));
    assertErrorShape(r, 402, { code: 'insufficient_quota' });
    assert.equal(fake.requests.length, 0);
    await assertNoCharge(before, tiny);
  });
});

describe('invalid requests', () => {
  it('404 model_not_found for an unknown provider or model', async () => {
    fake.reset();
    for (const model of ['nope/gpt-4o-mini', 'definitely-not-a-model-or-alias']) {
      const r = await t.post('/v1/chat/completions', chat({ model }));
      assertErrorShape(r, 404, { code: 'model_not_found' });
    }
    const e = await expectApiError(t.client.chat.completions.create(chat({ model: 'nope/x' })), 404);
    assert.equal(e.code, 'model_not_found');
    assert.equal(fake.requests.length, 0);
  });

  it('400 for malformed JSON', async () => {
    for (const raw of ['{"model":"mock/echo","messages":[', 'not json at all', '']) {
      const r = await oag.request('POST', '/v1/chat/completions', { raw, token: t.key, headers: { 'content-type': 'application/json' } });
      assertErrorShape(r, 400, { type: 'invalid_request_error' });
    }
    const r = await oag.request('POST', '/v1/chat/completions', { raw: '[1,2,3]', token: t.key, headers: { 'content-type': 'application/json' } });
    assertErrorShape(r, 400, { type: 'invalid_request_error' });
  });

  it('400 naming the param for wrong types and missing fields', async () => {
    const cases = [
      [{ messages: [{ role: 'user', content: 'x' }] }, 'model'],
      [{ model: 42, messages: [{ role: 'user', content: 'x' }] }, 'model'],
      [{ model: 'mock/echo' }, 'messages'],
      [{ model: 'mock/echo', messages: 'hello' }, 'messages'],
      [{ model: 'mock/echo', messages: [] }, 'messages'],
      [chat({ temperature: 'hot' }), 'temperature'],
      [chat({ stream: 'yes' }), 'stream'],
      [chat({ n: '2' }), 'n'],
      [chat({ max_tokens: 'many' }), 'max_tokens'],
      [chat({ max_completion_tokens: -5 }), 'max_completion_tokens'],
      [chat({ stop: 12 }), 'stop'],
      [chat({ tools: 'all' }), 'tools'],
    ];
    const failures = [];
    for (const [body, param] of cases) {
      const r = await t.post('/v1/chat/completions', body);
      if (r.status !== 400 || r.json?.error?.type !== 'invalid_request_error' || r.json?.error?.param !== param) {
        failures.push({ body, want: param, status: r.status, got: r.json?.error?.param, type: r.json?.error?.type });
      }
    }
    assert.deepEqual(failures, []);
  });

  it('400 naming nested params inside messages', async () => {
    const cases = [
      [{ model: 'mock/echo', messages: [{ role: 'wizard', content: 'x' }] }, /^messages\[0\]/],
      [{ model: 'mock/echo', messages: [{ role: 'user', content: 'ok' }, { role: 'user', content: 7 }] }, /^messages\[1\]/],
      [{ model: 'mock/echo', messages: [{ role: 'user' }] }, /^messages\[0\]/],
    ];
    for (const [body, re] of cases) {
      const r = await t.post('/v1/chat/completions', body);
      const e = assertErrorShape(r, 400, { type: 'invalid_request_error' });
      assert.match(String(e.param), re);
    }
  });

  it('bad input charges nothing and does not break the daemon', async () => {
    const before = await t.wallet();
    await t.post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: { deep: ['x'] } }] });
    await oag.request('POST', '/v1/chat/completions', { raw: '\u0000\u00ff{{{', token: t.key });
    await assertNoCharge(before);
    assert.equal((await oag.request('GET', '/healthz')).status, 200);
  });
});

describe('body limit', () => {
  let small;
  let st;
  before(async () => {
    small = await startOag({
      name: 'bodylimit',
      config: { body_limit_bytes: 65536, upstream_timeouts: { connect_ms: 2000, first_byte_ms: 700, idle_ms: 700 } },
    });
    st = await small.tenant({ name: 'Small', fake });
  });
  after(async () => {
    await small?.cleanup();
  });

  it('413 over body_limit_bytes, OK under it', async () => {
    const big = { model: 'mock/echo', messages: [{ role: 'user', content: 'a'.repeat(100 * 1024) }] };
    const r = await small.request('POST', '/v1/chat/completions', { body: big, token: st.key });
    assert.equal(r.status, 413, r.text);
    if (r.json) assert.ok(r.json.error && typeof r.json.error.message === 'string');
    const okBody = { model: 'mock/echo', messages: [{ role: 'user', content: 'b'.repeat(30 * 1024) }] };
    const ok = await small.request('POST', '/v1/chat/completions', { body: okBody, token: st.key });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.choices[0].message.content.length, 30 * 1024);
    const w = await st.wallet();
    assert.ok(walletInvariantHolds(w));
  });

  it('an upstream slower than first_byte_ms → 504 in OpenAI shape; no charge', async () => {
    fake.reset();
    const before = await st.wallet();
    fake.next({ text: 'too late', delayMs: 2500 });
    const t0 = Date.now();
    const r = await small.request('POST', '/v1/chat/completions', { body: chat(), token: st.key });
    assertErrorShape(r, 504);
    assert.ok(Date.now() - t0 < 2400, 'gave up before the upstream answered');
    await assertNoCharge(before, st);
  });

  it('an upstream stream idle longer than idle_ms → error event, no [DONE]', async (ctx) => {
    fake.reset();
    // The first write carries the role chunk and "a "; then the upstream stalls.
    fake.next({ text: 'a b c d e', splitMarker: '"content":"b ', splitDelta: 0, writeDelayMs: 2500 });
    const s = await small.stream('/v1/chat/completions', chat({ stream: true }), { token: st.key });
    assert.ok(!s.events.some((e) => e.data === '[DONE]'), s.text);
    ctx.diagnostic(`status ${s.status}, ${s.events.length} events`);
    if (s.status === 200) {
      // The stream had started: it must end with one error event.
      assert.equal(s.events.filter((e) => e.json?.error).length, 1, s.text);
      assert.ok(s.events.at(-1).json?.error, 'the error event is last');
    } else {
      // Nothing forwarded yet: a plain 504 in OpenAI shape is fine too.
      assert.equal(s.status, 504, s.text);
      assert.ok(JSON.parse(s.text).error.message);
    }
    const w = await st.wallet();
    assert.equal(w.reserved_uot, 0);
    assert.ok(walletInvariantHolds(w));
  });

  it('413 for a big body declared by content-length even with a bad key is not a crash', async () => {
    const r = await small.request('POST', '/v1/chat/completions', { raw: 'x'.repeat(200 * 1024), token: 'oag-bad', headers: { 'content-type': 'application/json' } });
    assert.ok(r.status === 413 || r.status === 401, `413 or 401, got ${r.status}`);
    assert.equal((await small.request('GET', '/healthz')).status, 200);
  });
});

describe('upstream failures', () => {
  it('upstream 429 → client 429 with retry-after and the upstream message; no charge', async () => {
    fake.reset();
    const before = await t.wallet();
    fake.next({
      status: 429,
      error: { message: 'Rate limit reached for gpt-4o-mini in organization org-fake on requests per min (RPM): Limit 3.', type: 'requests', code: 'rate_limit_exceeded' },
      headers: { 'retry-after': '7' },
    });
    const r = await t.post('/v1/chat/completions', chat());
    const e = assertErrorShape(r, 429);
    assert.equal(r.headers.get('retry-after'), '7');
    assert.match(e.message, /Rate limit reached for gpt-4o-mini/);
    assert.equal(fake.requests.length, 1, 'no retry that would hammer a throttled upstream past its hint');
    await assertNoCharge(before);
  });

  it('upstream 400 → client 400 with the upstream message, code and param; no charge', async () => {
    fake.reset();
    const before = await t.wallet();
    fake.next({ status: 400, error: { message: "This model's maximum context length is 128000 tokens.", type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' } });
    const r = await t.post('/v1/chat/completions', chat());
    const e = assertErrorShape(r, 400, { code: 'context_length_exceeded', param: 'messages' });
    assert.match(e.message, /maximum context length/);
    await assertNoCharge(before);
  });

  it('upstream 429 through the SDK surfaces as RateLimitError', async () => {
    fake.reset();
    fake.next({ status: 429, error: { message: 'slow down please', type: 'tokens', code: 'rate_limit_exceeded' }, headers: { 'retry-after': '2' } });
    const e = await expectApiError(t.client.chat.completions.create(chat()), 429);
    assert.ok(e instanceof OpenAI.RateLimitError);
    assert.match(e.message, /slow down please/);
  });

  it('upstream 500 → 502 with the upstream message; no charge', async () => {
    fake.reset();
    const before = await t.wallet();
    fake.setDefault({ status: 500, error: { message: 'upstream exploded: boom-123', type: 'server_error' } });
    try {
      const r = await t.post('/v1/chat/completions', chat());
      const e = assertErrorShape(r, 502);
      assert.match(e.message, /upstream exploded: boom-123/);
      assert.ok(!r.text.includes(t.upstreamKey));
      const rs = await t.post('/v1/chat/completions', chat({ stream: true }));
      const es = assertErrorShape(rs, 502);
      assert.match(es.message, /boom-123/);
    } finally {
      fake.setDefault({});
    }
    await assertNoCharge(before);
  });

  it('an upstream error message that quotes the upstream key is passed on without the key', async () => {
    fake.reset();
    const before = await t.wallet();
    fake.next({ status: 401, error: { message: `Incorrect API key provided: ${t.upstreamKey}. You can find your API key at https://platform.openai.com/account/api-keys.`, type: 'invalid_request_error', code: 'invalid_api_key' } });
    const r = await t.post('/v1/chat/completions', chat());
    assert.notEqual(r.status, 200);
    assert.ok(r.status >= 400);
    assert.ok(!r.text.includes(t.upstreamKey), `upstream key leaked: ${r.text}`);
    assert.ok(!r.text.includes(t.upstreamKey.slice(8)), 'no part of the key leaked');
    assert.ok(r.json?.error, 'OpenAI error shape');
    await assertNoCharge(before);
  });

  it('upstream connection refused → 502/503/504 in OpenAI shape', async () => {
    const dead = await startFakeOpenAI();
    const deadUrl = dead.url;
    await dead.close();
    await oag.putProvider(t.companyId, 'deadend', { kind: 'openai', base_url: deadUrl, api_key: 'sk-dead-0000' });
    const before = await t.wallet();
    const r = await t.post('/v1/chat/completions', chat({ model: 'deadend/gpt-4o-mini' }));
    assert.ok([502, 503, 504].includes(r.status), `got ${r.status} ${r.text}`);
    assert.ok(r.json?.error);
    assert.ok(!r.text.includes('sk-dead-0000'));
    await assertNoCharge(before);
  });

  it('upstream returning invalid JSON → 502', async () => {
    fake.reset();
    const before = await t.wallet();
    fake.next({ body: '{"id": "chatcmpl-x", "choices": [', status: 200 });
    const r = await t.post('/v1/chat/completions', chat());
    assertErrorShape(r, 502);
    await assertNoCharge(before);
  });

  it('upstream dies mid-stream → the client gets an error event and no [DONE]', async () => {
    fake.reset();
    const before = await t.wallet();
    fake.next({ text: 'one two three four five six seven eight', dieAfterBytes: 900 });
    const s = await oag.stream('/v1/chat/completions', chat({ stream: true }), { token: t.key });
    assert.equal(s.status, 200, 'headers were already sent as 200');
    assert.ok(!s.events.some((e) => e.data === '[DONE]'), 'no [DONE] after a cut stream');
    const content = s.events.flatMap((e) => e.json?.choices || []).map((c) => c.delta?.content || '').join('');
    assert.ok(content.length > 0, 'some content got through before the cut');
    assert.ok(!content.includes('eight'), 'the cut really happened before the end');
    const errs = s.events.filter((e) => e.json && e.json.error);
    assert.equal(errs.length, 1, `one error event, stream was:\n${s.text}`);
    assert.equal(typeof errs[0].json.error.message, 'string');
    assert.equal(s.events.at(-1), errs[0], 'the error event is the last event');
    const w = await t.wallet();
    assert.equal(w.reserved_uot, 0);
    assert.ok(walletInvariantHolds(w));
    assert.ok(w.spent_uot >= before.spent_uot);
  });

  it('upstream dies mid-stream → the SDK iteration throws', async () => {
    fake.reset();
    fake.next({ text: 'one two three four five six seven eight', dieAfterBytes: 700 });
    const stream = await t.client.chat.completions.create(chat({ stream: true }));
    let got = '';
    await assert.rejects(async () => {
      for await (const c of stream) got += c.choices[0]?.delta?.content || '';
    });
    assert.ok(!got.includes('eight'));
  });

  it('upstream dies after the finish chunk but before usage/[DONE] → still an error, no [DONE]', async () => {
    fake.reset();
    fake.next({ text: 'all content sent', dieBeforeDone: true });
    const s = await oag.stream('/v1/chat/completions', chat({ stream: true, stream_options: { include_usage: true } }), { token: t.key });
    assert.ok(!s.events.some((e) => e.data === '[DONE]'));
    assert.equal(s.events.filter((e) => e.json?.error).length, 1, s.text);
    const w = await t.wallet();
    assert.equal(w.reserved_uot, 0);
    assert.ok(walletInvariantHolds(w));
  });

  it('upstream dies before answering a non-streamed call → 502, no charge', async () => {
    fake.reset();
    const before = await t.wallet();
    fake.next({ text: 'never', dieAfterBytes: 10 });
    const r = await t.post('/v1/chat/completions', chat());
    assertErrorShape(r, 502);
    await assertNoCharge(before);
  });

  it('the daemon is still healthy and serving after all failures', async () => {
    fake.reset();
    fake.next({ text: 'still here' });
    const res = await t.client.chat.completions.create(chat());
    assert.equal(res.choices[0].message.content, 'still here');
    const log = oag.logTail(100000);
    assert.ok(!log.includes(t.upstreamKey), 'upstream key never logged');
    assert.ok(!log.includes(t.key), 'client key never logged');
  });
});
