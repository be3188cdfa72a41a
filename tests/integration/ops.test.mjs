// Operability: /healthz, /readyz, /metrics, request logs (text and JSON),
// graceful SIGTERM with data kept across restarts.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startFakeOpenAI } from './fake_openai.mjs';
import { startOag, waitFor } from './harness.mjs';

let oag;
let fake;
let t;

before(async () => {
  fake = await startFakeOpenAI();
  oag = await startOag({ name: 'ops' });
  t = await oag.tenant({ name: 'Ops', fake });
});

after(async () => {
  await oag?.cleanup();
  await fake?.close();
});

const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*"';
const METRIC_LINE = new RegExp(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{(?:${LABEL}(?:,${LABEL})*,?)?\\})?\\s+(-?[0-9.eE+-]+|NaN|\\+Inf|-Inf)(\\s+-?\\d+)?$`);

describe('health', () => {
  it('/healthz and /readyz answer 200 without auth', async () => {
    const h = await oag.request('GET', '/healthz');
    assert.equal(h.status, 200);
    const r = await oag.request('GET', '/readyz');
    assert.equal(r.status, 200);
  });

  it('unknown paths are 404 in OpenAI shape', async () => {
    const r = await oag.request('GET', '/v1/definitely-not-a-route', { token: t.key });
    assert.equal(r.status, 404);
    assert.ok(r.json?.error?.message);
  });
});

describe('metrics', () => {
  it('serves Prometheus text with request counters and latency histograms by route and status', async () => {
    fake.reset();
    fake.next({ text: 'metered', usage: { prompt_tokens: 10, completion_tokens: 2 } });
    await t.client.chat.completions.create({ model: 'fake/gpt-4o-mini', messages: [{ role: 'user', content: 'm' }] });
    await t.post('/v1/chat/completions', { model: 'nope/x', messages: [{ role: 'user', content: 'm' }] });
    const m = await oag.request('GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type') || '', /^text\/plain/);
    const lines = m.text.split('\n').filter((l) => l.trim());
    assert.ok(lines.length > 5);
    const bad = lines.filter((l) => !l.startsWith('#') && !METRIC_LINE.test(l));
    assert.deepEqual(bad, [], 'every sample line is valid exposition format');
    assert.ok(lines.some((l) => /^# TYPE \S+ counter$/.test(l)), 'a counter');
    assert.ok(lines.some((l) => /^# TYPE \S+ histogram$/.test(l)), 'a histogram');
    const buckets = lines.filter((l) => /_bucket\{.*le="\+Inf".*\}/.test(l));
    assert.ok(buckets.length > 0, 'histogram buckets with le="+Inf"');
    assert.ok(lines.some((l) => !l.startsWith('#') && /chat/.test(l) && /200/.test(l)), 'a sample for the chat route with status 200');
    assert.ok(lines.some((l) => !l.startsWith('#') && /chat/.test(l) && /404/.test(l)), 'a sample for the chat route with status 404');
    assert.ok(!m.text.includes(t.key) && !m.text.includes(t.upstreamKey), 'no secrets in metrics');
  });

  it('counts tokens by company and model', async () => {
    const m = await oag.request('GET', '/metrics');
    const tokenLines = m.text.split('\n').filter((l) => !l.startsWith('#') && /token/i.test(l) && l.includes(t.companyId));
    assert.ok(tokenLines.length > 0, 'token metrics labelled with the company id');
    assert.ok(tokenLines.some((l) => l.includes('gpt-4o-mini')));
  });
});

describe('logs', () => {
  it('one log line per request, never containing a secret', async () => {
    const marker = `/v1/models`;
    await t.client.models.list();
    const log = await waitFor(() => {
      const s = fs.readFileSync(oag.logFile, 'utf8');
      return s.includes(marker) ? s : null;
    }, { what: 'a request log line' });
    assert.ok(!log.includes(t.key), 'client key not logged');
    assert.ok(!log.includes(t.upstreamKey), 'upstream key not logged');
    assert.ok(!log.includes(oag.adminToken), 'admin token not logged');
    assert.ok(!log.includes(oag.masterKey), 'master key not logged');
  });

  it('--log-format json writes JSON lines', async () => {
    const j = await startOag({ name: 'ops-json', logFormat: 'json' });
    try {
      const jt = await j.tenant({ name: 'J' });
      await jt.client.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'json logs' }] });
      const lines = await waitFor(() => {
        const ls = fs.readFileSync(j.logFile, 'utf8').split('\n').filter((l) => l.includes('/v1/chat/completions'));
        return ls.length ? ls : null;
      }, { what: 'a JSON request log line' });
      const parsed = lines.map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return null;
        }
      });
      assert.ok(parsed.some((p) => p && typeof p === 'object'), `JSON log line, got: ${lines[0]}`);
      assert.ok(!fs.readFileSync(j.logFile, 'utf8').includes(jt.key));
    } finally {
      await j.cleanup();
    }
  });
});

describe('lifecycle', () => {
  it('SIGTERM exits 0 and a restart on the same data dir keeps companies, keys and wallets', async () => {
    fake.reset();
    fake.next({ text: 'before stop', usage: { prompt_tokens: 10, completion_tokens: 2 } });
    await t.client.chat.completions.create({ model: 'fake/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    const before = await t.wallet();
    const ledgerBefore = await t.ledger();
    const exit = await oag.stop();
    assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
    await oag.restart();
    const w = await oag.request('GET', '/v1/wallet', { token: t.key });
    assert.equal(w.status, 200);
    assert.deepEqual(w.json, before);
    const ledgerAfter = await oag.ledgerAll(t.key);
    assert.deepEqual(ledgerAfter, ledgerBefore);
  });

  it('SIGTERM drains an in-flight request before exiting', async () => {
    fake.reset();
    fake.next({ text: 'slow answer', delayMs: 700, usage: { prompt_tokens: 10, completion_tokens: 2 } });
    const c = oag.client(t.key);
    const p = c.chat.completions.create({ model: 'fake/gpt-4o-mini', messages: [{ role: 'user', content: 'slow' }] });
    await fake.waitForRequest(3000);
    oag.proc.kill('SIGTERM');
    const res = await p;
    assert.equal(res.choices[0].message.content, 'slow answer');
    const exit = await oag.waitExit(15000);
    assert.equal(exit.code, 0);
    await oag.restart();
    const entries = await oag.ledgerAll(t.key);
    assert.equal(entries.filter((e) => e.response_id === res.id).length, 1, 'the drained call was settled');
  });
});
