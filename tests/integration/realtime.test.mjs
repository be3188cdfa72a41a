// The WebSocket chat (GET /v1/realtime/chat) and its tokens
// (POST /v1/realtime/tokens) against a real oag and a fake OpenAI upstream:
// streamed deltas for an assistant and for a model-only persona, a
// follow-up on the same thread (seen through the openai SDK), cancel
// mid-stream (charged only what was generated), auth (401 without a
// WebSocket; tokens, single use and expiry on the test clock), and the
// edge's limits: malformed JSON → error event, oversized message → 1009,
// invalid UTF-8 → 1007, protocol error → 1002, a client that never reads →
// 1008 with the write queue bounded.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import WebSocket from 'ws';
import { startFakeOpenAI } from './fake_openai.mjs';
import { startOag, waitFor, walletInvariantHolds } from './harness.mjs';

const T = { timeout: 60000 };
const MODEL = 'fake/gpt-4o-mini';

let oag;
let fake;

before(async () => {
  fake = await startFakeOpenAI();
  oag = await startOag({ name: 'realtime', env: { OAG_TEST_CLOCK: '1' } });
});

after(async () => {
  await oag?.cleanup();
  await fake?.close();
});

const nonce = () => crypto.randomBytes(4).toString('hex');

/** A WebSocket client that queues every event; `next` awaits the next one of a type. */
function connect(path = '/v1/realtime/chat', { key, headers = {} } = {}) {
  const h = { ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  const ws = new WebSocket(oag.url.replace('http', 'ws') + path, { headers: h, maxPayload: 256 * 1024 * 1024 });
  const c = { ws, events: [], waiters: [], closed: null, rejected: null };
  c.opened = new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        c.rejected = { status: res.statusCode, headers: res.headers, body, json: (() => { try { return JSON.parse(body); } catch { return null; } })() };
        resolve(c.rejected);
      });
    });
    ws.on('error', (e) => {
      if (!c.rejected) reject(e);
    });
  });
  c.closedP = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      c.closed = { code, reason: reason.toString() };
      resolve(c.closed);
      for (const w of c.waiters.splice(0)) w.check();
    });
  });
  ws.on('message', (data, isBinary) => {
    assert.equal(isBinary, false, 'the server sends text frames');
    const ev = JSON.parse(data.toString('utf8'));
    c.events.push(ev);
    for (const w of [...c.waiters]) w.check();
  });
  let cursor = 0;
  /** The next event (after the previous `next`) whose type is in `types`. */
  c.next = (types, timeoutMs = 15000) => {
    const want = [].concat(types);
    return new Promise((resolve, reject) => {
      const w = {
        check() {
          while (cursor < c.events.length) {
            const ev = c.events[cursor++];
            if (want.includes(ev.type)) {
              clearTimeout(w.timer);
              c.waiters.splice(c.waiters.indexOf(w), 1);
              return resolve(ev);
            }
          }
          if (c.closed) {
            clearTimeout(w.timer);
            c.waiters.splice(c.waiters.indexOf(w), 1);
            reject(new Error(`closed (${c.closed.code} ${c.closed.reason}) while waiting for ${want}; got ${c.events.map((e) => e.type)}`));
          }
        },
      };
      w.timer = setTimeout(() => {
        c.waiters.splice(c.waiters.indexOf(w), 1);
        reject(new Error(`no ${want} within ${timeoutMs} ms; got ${JSON.stringify(c.events.map((e) => e.type))}`));
      }, timeoutMs);
      c.waiters.push(w);
      w.check();
    });
  };
  c.send = (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  c.close = () => {
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
    return c.closedP;
  };
  return c;
}

async function open(key) {
  const c = connect('/v1/realtime/chat', { key });
  const r = await c.opened;
  assert.equal(c.rejected, null, `upgrade rejected: ${JSON.stringify(r)}`);
  const created = await c.next('session.created');
  assert.equal(created.session.object, 'realtime.session');
  return c;
}

/** Collects one generation: deltas up to the run's final event. */
async function generation(c) {
  const created = await c.next(['run.created', 'error']);
  if (created.type === 'error') throw new Error(`error instead of a run: ${JSON.stringify(created.error)}`);
  const start = c.events.indexOf(created);
  const end = await c.next(['run.completed', 'run.failed', 'run.cancelled', 'run.incomplete', 'run.requires_action']);
  const evs = c.events.slice(start, c.events.indexOf(end) + 1);
  return {
    created,
    end,
    events: evs,
    text: evs.filter((e) => e.type === 'delta').map((e) => e.text).join(''),
    deltas: evs.filter((e) => e.type === 'delta'),
    completed: evs.find((e) => e.type === 'message.completed'),
  };
}

function metric(text, name) {
  const m = text.match(new RegExp(`^${name.replace(/[{}"]/g, (x) => `\\${x}`)} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : 0;
}

async function metrics() {
  return (await oag.request('GET', '/metrics')).text;
}

function rssKiB(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(s.match(/VmRSS:\s+(\d+)/)[1]);
}

describe('realtime chat', () => {
  it('streams deltas for an assistant; a follow-up lands on the same thread (openai SDK sees it)', T, async () => {
    const t = await oag.tenant({ fake });
    const a = await t.client.beta.assistants.create({ model: MODEL, instructions: 'You are terse.' });
    const c = await open(t.key);
    fake.reset();
    fake.next({ chunks: ['Hel', 'lo ', 'wörld', '!'], usage: { prompt_tokens: 12, completion_tokens: 4 } });
    c.send({ type: 'chat.message', content: `first ${nonce()}`, assistant_id: a.id });
    const g = await generation(c);
    assert.equal(g.end.type, 'run.completed', JSON.stringify(g.end));
    assert.deepEqual(g.deltas.map((d) => d.text), ['Hel', 'lo ', 'wörld', '!']);
    assert.ok(g.created.thread_id.startsWith('thread_') && g.created.run_id.startsWith('run_'), JSON.stringify(g.created));
    assert.equal(g.completed.text, 'Hello wörld!');
    assert.deepEqual(
      { p: g.completed.usage.prompt_tokens, c: g.completed.usage.completion_tokens },
      { p: 12, c: 4 },
      'usage of the call',
    );
    assert.ok(Number.isInteger(g.completed.cost_uot) && g.completed.cost_uot > 0, JSON.stringify(g.completed));
    assert.match(g.completed.cost_ot, /^\d+(\.\d+)?$/);
    // The prompt stack: the assistant's instructions went upstream.
    const up = fake.chatRequests().at(-1).body;
    assert.ok(JSON.stringify(up.messages).includes('You are terse.'), JSON.stringify(up.messages));

    // Follow-up: content only (the session remembers assistant and thread).
    fake.next({ chunks: ['second ', 'answer'] });
    c.send({ type: 'chat.message', content: 'and again' });
    const g2 = await generation(c);
    assert.equal(g2.end.type, 'run.completed');
    assert.equal(g2.created.thread_id, g.created.thread_id, 'same thread');
    assert.equal(g2.text, 'second answer');
    const page = await t.client.beta.threads.messages.list(g.created.thread_id, { order: 'asc' });
    const texts = page.data.map((m) => [m.role, m.content.map((x) => x.text?.value).join('')]);
    assert.equal(texts.length, 4, JSON.stringify(texts));
    assert.deepEqual(texts.map((x) => x[0]), ['user', 'assistant', 'user', 'assistant']);
    assert.deepEqual(texts[1][1], 'Hello wörld!');
    assert.deepEqual(texts[2][1], 'and again');
    assert.deepEqual(texts[3][1], 'second answer');
    // The second call carried the whole conversation.
    const up2 = fake.chatRequests().at(-1).body;
    assert.ok(JSON.stringify(up2.messages).includes('Hello wörld!'), 'history upstream');
    // The wallet paid both calls, nothing left reserved.
    const w = await t.wallet();
    assert.equal(w.reserved_uot, 0);
    assert.ok(walletInvariantHolds(w));
    assert.equal((await t.ledger()).length, 2);
    await c.close();
  });

  it('model-only persona (no assistant): model and instructions, deltas streamed', T, async () => {
    const t = await oag.tenant({ fake });
    const c = await open(t.key);
    fake.reset();
    fake.next({ chunks: ['inline ', 'persona'] });
    c.send({ type: 'chat.message', content: 'hi', model: MODEL, instructions: 'Answer like a pirate.' });
    const g = await generation(c);
    assert.equal(g.end.type, 'run.completed', JSON.stringify(g.end));
    assert.equal(g.text, 'inline persona');
    assert.equal(g.completed.text, 'inline persona');
    const up = fake.chatRequests().at(-1).body;
    assert.equal(up.model, 'gpt-4o-mini');
    assert.ok(JSON.stringify(up.messages).includes('Answer like a pirate.'), JSON.stringify(up.messages));
    await c.close();
  });

  it('one generation at a time; cancel mid-stream → run.cancelled, charged only for what was generated', T, async () => {
    const t = await oag.tenant({ fake });
    const c = await open(t.key);
    fake.reset();
    // 600 words, 64 bytes per write every 10 ms: tens of seconds if not cancelled.
    fake.next({ chunks: Array.from({ length: 600 }, (_, i) => `w${i} `), usage: { prompt_tokens: 10, completion_tokens: 5000 }, split: 64, writeDelayMs: 10 });
    c.send({ type: 'chat.message', content: 'long please', model: MODEL });
    const created = await c.next('run.created');
    await c.next('delta');
    // A second message while busy is an error event, not a second run.
    c.send({ type: 'chat.message', content: 'me too' });
    const busy = await c.next('error');
    assert.equal(busy.error.code, 'generation_in_progress', JSON.stringify(busy));
    c.send({ type: 'chat.cancel' });
    const end = await c.next(['run.cancelled', 'run.completed', 'run.failed']);
    assert.equal(end.type, 'run.cancelled', JSON.stringify(end));
    assert.equal(end.run.status, 'cancelled');
    const run = await t.client.beta.threads.runs.retrieve(created.run_id, { thread_id: created.thread_id });
    assert.equal(run.status, 'cancelled');
    const w = await waitFor(async () => {
      const x = await t.wallet();
      return x.reserved_uot === 0 ? x : null;
    }, { what: 'reservation released' });
    assert.ok(walletInvariantHolds(w));
    const ledger = await t.ledger();
    assert.equal(ledger.length, 1, JSON.stringify(ledger));
    // The full answer would have reported 5000 output tokens; the cut one is charged by what was generated.
    assert.ok(ledger[0].output_tokens > 0 && ledger[0].output_tokens < 5000, JSON.stringify(ledger[0]));
    assert.equal(w.spent_uot, ledger[0].cost_uot);
    // The session is free again.
    fake.next({ chunks: ['after ', 'cancel'] });
    c.send({ type: 'chat.message', content: 'next' });
    const g = await generation(c);
    assert.equal(g.end.type, 'run.completed');
    assert.equal(g.created.thread_id, created.thread_id);
    assert.equal(g.text, 'after cancel');
    // Nothing to cancel now.
    c.send({ type: 'chat.cancel' });
    assert.equal((await c.next('error')).error.code, 'no_generation');
    await c.close();
  });

  it('errors of a call are error events: unknown assistant, no persona', T, async () => {
    const t = await oag.tenant({ fake });
    const c = await open(t.key);
    c.send({ type: 'chat.message', content: 'x', assistant_id: 'asst_doesnotexist' });
    const e = await c.next('error');
    assert.equal(e.error.status, 404, JSON.stringify(e));
    assert.equal(typeof e.error.message, 'string');
    c.send({ type: 'chat.message', content: 'x' });
    const e2 = await c.next('error');
    assert.equal(e2.error.param, 'assistant_id', JSON.stringify(e2));
    c.send({ type: 'ping' });
    await c.next('pong');
    await c.close();
  });
});

describe('realtime chat with an agent', () => {
  it('an agent answers with its persona; the session remembers agent and thread; a gated tool says approval.requested', T, async () => {
    const t = await oag.tenant({ fake });
    const tag = nonce();
    const mk = async (body) => {
      const r = await oag.request('POST', '/v1/agents', { body: { name: `rt-${tag}`, model: MODEL, ...body }, token: t.key });
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
    const agent = await mk({ instructions: `agent persona ${tag}` });
    const c = await open(t.key);
    fake.reset();
    fake.next({ chunks: ['agent ', 'says ', 'hi'] });
    c.send({ type: 'chat.message', content: `hello ${tag}`, agent_id: agent.id });
    const g = await generation(c);
    assert.equal(g.end.type, 'run.completed', JSON.stringify(g.end));
    assert.ok(g.created && g.created.run_id.startsWith('run_'), 'run.created for an agent chat');
    assert.equal(g.text, 'agent says hi');
    assert.ok(JSON.stringify(fake.chatRequests().at(-1).body.messages).includes(`agent persona ${tag}`), 'the agent persona went upstream');
    fake.next({ chunks: ['again'] });
    c.send({ type: 'chat.message', content: 'and a follow-up' });
    const g2 = await generation(c);
    assert.equal(g2.end.type, 'run.completed', JSON.stringify(g2.end));
    assert.equal(g2.created.thread_id, g.created.thread_id, 'the follow-up stays on the thread');
    // The agent's runs list both turns.
    const runs = await oag.request('GET', `/v1/agents/${agent.id}/runs`, { token: t.key });
    assert.equal(runs.json.data.length, 2);

    // A gated client-visible tool: the stream says why it stops.
    const gated = await mk({ tools: [{ type: 'function', function: { name: 'pay' } }], approval: { tools: { pay: 'always' } } });
    const tool = await oag.request('POST', '/v1/tools', { token: t.key, body: { name: 'pay', parameters: { type: 'object', properties: { amount: { type: 'number' } } }, endpoint: { method: 'POST', url: 'https://pay.example.com/pay' } } });
    assert.equal(tool.status, 200, tool.text);
    const c2 = await open(t.key);
    fake.next({ toolCalls: [{ id: `call_${tag}`, name: 'pay', arguments: { amount: 7 } }] });
    c2.send({ type: 'chat.message', content: 'pay it', agent_id: gated.id });
    const ev = await c2.next('approval.requested');
    assert.equal(ev.approval.tool, 'pay');
    assert.equal(ev.approval.status, 'pending');
    await c.close();
    await c2.close();
  });
});

describe('realtime auth', () => {
  it('bad or missing key → 401 JSON, no WebSocket; non-upgrade GET → 426', T, async () => {
    for (const [what, opts] of [
      ['wrong key', { key: 'oag-not-a-key' }],
      ['no key', {}],
      ['bad token', { path: '/v1/realtime/chat?token=oagrt_v1.abc.1.2.3' }],
      ['malformed header', { headers: { authorization: 'Basic x' } }],
    ]) {
      const c = connect(opts.path || '/v1/realtime/chat', opts);
      const r = await c.opened;
      assert.ok(c.rejected, `${what}: rejected`);
      assert.equal(r.status, 401, `${what}: ${JSON.stringify(r)}`);
      assert.match(r.headers['content-type'], /application\/json/);
      assert.equal(typeof r.json?.error?.message, 'string', `${what}: OpenAI error shape: ${r.body}`);
    }
    const t = await oag.tenant();
    const plain = await oag.request('GET', '/v1/realtime/chat', { token: t.key });
    assert.equal(plain.status, 426, plain.text);
    const elsewhere = connect('/v1/models', { key: t.key });
    assert.equal((await elsewhere.opened).status, 404);
  });

  it('a revoked key cannot open a session', T, async () => {
    const t = await oag.tenant();
    const ok = await open(t.key);
    await ok.close();
    const r = await oag.admin('DELETE', `/admin/v1/companies/${t.companyId}/keys/${t.keyId}`);
    assert.equal(r.status, 200, r.text);
    const c = connect('/v1/realtime/chat', { key: t.key });
    assert.equal((await c.opened).status, 401);
  });

  it('tokens: minted with the key, single use, expire (test clock), revoked with the key', T, async (ctx) => {
    const t = await oag.tenant();
    const bad = await oag.request('POST', '/v1/realtime/tokens', { token: 'oag-wrong' });
    assert.equal(bad.status, 401);
    const m = await oag.request('POST', '/v1/realtime/tokens', { token: t.key });
    assert.equal(m.status, 200, m.text);
    assert.equal(m.json.object, 'realtime.token');
    assert.ok(!m.json.token.includes(t.key), 'no key in the token');
    const now = Math.floor(Date.now() / 1000);
    assert.ok(m.json.expires_at > now && m.json.expires_at <= now + 70, `expires_at ${m.json.expires_at} ~ now + 60`);
    const url = (tok) => `/v1/realtime/chat?token=${encodeURIComponent(tok)}`;
    const c = connect(url(m.json.token));
    await c.opened;
    assert.equal(c.rejected, null, JSON.stringify(c.rejected));
    const created = await c.next('session.created');
    assert.equal(created.session.company_id, t.companyId);
    await c.close();
    // single use
    const again = connect(url(m.json.token));
    const r = await again.opened;
    assert.equal(r.status, 401, 'a used token is refused');
    assert.match(r.json.error.message, /already used/);
    // tampered
    const forged = m.json.token.replace(/\.(\d+)\./, (_, exp) => `.${Number(exp) + 3600}.`);
    assert.equal((await connect(url(forged)).opened).status, 401);

    // expiry on the test clock
    const clock = await oag.admin('GET', '/admin/v1/clock');
    if (clock.status !== 200) {
      ctx.skip(`POST /admin/v1/clock is not available (status ${clock.status}): expiry not tested`);
      return;
    }
    const m2 = await oag.request('POST', '/v1/realtime/tokens', { token: t.key });
    assert.equal(m2.status, 200);
    const adv = await oag.admin('POST', '/admin/v1/clock', { advance_s: 120 });
    assert.equal(adv.status, 200, adv.text);
    const late = connect(url(m2.json.token));
    const lr = await late.opened;
    assert.equal(lr.status, 401, 'an expired token is refused');
    assert.match(lr.json.error.message, /expired/);
    // a fresh token works on the moved clock; once the key is revoked it does not
    const m3 = await oag.request('POST', '/v1/realtime/tokens', { token: t.key });
    const fresh = connect(url(m3.json.token));
    await fresh.opened;
    assert.equal(fresh.rejected, null);
    await fresh.close();
    const m4 = await oag.request('POST', '/v1/realtime/tokens', { token: t.key });
    assert.equal((await oag.admin('DELETE', `/admin/v1/companies/${t.companyId}/keys/${t.keyId}`)).status, 200);
    assert.equal((await connect(url(m4.json.token)).opened).status, 401, 'a revoked key\'s token fails');
  });
});

describe('realtime limits', () => {
  it('malformed JSON and unknown messages → error events; the session stays open', T, async () => {
    const t = await oag.tenant();
    const c = await open(t.key);
    c.send('{not json');
    const e = await c.next('error');
    assert.equal(e.error.type, 'invalid_request_error');
    assert.equal(e.error.param, 'message');
    c.send({ type: 'chat.message', content: 5 });
    assert.equal((await c.next('error')).error.param, 'content');
    c.send({ type: 'warp' });
    assert.equal((await c.next('error')).error.param, 'type');
    c.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
    assert.equal((await c.next('error')).error.param, 'message');
    c.send({ type: 'ping' });
    await c.next('pong');
    assert.equal(c.closed, null);
    await c.close();
  });

  it('an oversized message → close 1009', T, async () => {
    const t = await oag.tenant();
    const c = await open(t.key);
    c.send(JSON.stringify({ type: 'chat.message', content: 'x'.repeat(1024 * 1024 + 10), model: MODEL }));
    const closed = await c.closedP;
    assert.equal(closed.code, 1009, JSON.stringify(closed));
  });

  it('invalid UTF-8 in a text frame → close 1007', T, async () => {
    const t = await oag.tenant();
    const c = await open(t.key);
    c.ws.send(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), { binary: false });
    const closed = await c.closedP;
    assert.equal(closed.code, 1007, JSON.stringify(closed));
  });

  it('a protocol error (unmasked client frame) → close 1002', T, async () => {
    const t = await oag.tenant();
    const c = await open(t.key);
    // FIN + text, no mask bit: clients must mask their frames.
    c.ws._socket.write(Buffer.from([0x81, 0x02, 0x7b, 0x7d]));
    const closed = await c.closedP;
    assert.equal(closed.code, 1002, JSON.stringify(closed));
  });

  it('a client that never reads while a long answer streams → close 1008, the write queue stays bounded', { timeout: 120000 }, async (ctx) => {
    const t = await oag.tenant({ fake, credit: '100000' });
    const c = await open(t.key);
    const before = metric(await metrics(), 'oag_ws_slow_client_closes_total');
    const rssBefore = rssKiB(oag.proc.pid);
    fake.reset();
    // ~16 MB of text in 2 KB chunks, as fast as the upstream can send it.
    const piece = 'x'.repeat(2047) + ' ';
    fake.next({ chunks: Array.from({ length: 8000 }, () => piece) });
    c.send({ type: 'chat.message', content: 'flood me', model: MODEL });
    await c.next('run.created');
    c.ws._socket.pause(); // stop reading: the kernel buffers fill, then the session's queue
    await waitFor(async () => metric(await metrics(), 'oag_ws_slow_client_closes_total') > before, {
      what: 'the session to be closed for backpressure (oag_ws_slow_client_closes_total)',
      timeoutMs: 60000,
      intervalMs: 100,
    });
    const m = await metrics();
    const peak = metric(m, 'oag_ws_write_queue_peak_bytes');
    assert.ok(peak > 0 && peak <= 1024 * 1024 + 64 * 1024, `write queue peak ${peak} within the 1 MiB bound (+ one message)`);
    const rssGrowthKiB = rssKiB(oag.proc.pid) - rssBefore;
    ctx.diagnostic(`write queue peak ${peak} bytes, daemon RSS +${rssGrowthKiB} KiB at the close, events received before pausing: ${c.events.length}`);
    c.ws._socket.resume();
    const closed = await c.closedP;
    assert.equal(closed.code, 1008, JSON.stringify(closed));
    assert.match(closed.reason, /too slow/);
    // The run itself goes on without the client and completes in the thread.
    const runCreated = c.events.find((e) => e.type === 'run.created');
    await waitFor(async () => {
      const r = await t.client.beta.threads.runs.retrieve(runCreated.run_id, { thread_id: runCreated.thread_id });
      return r.status === 'completed' ? r : null;
    }, { what: 'the run to complete without its client', timeoutMs: 60000 });
    // ~16 MB answer: the run holds it (message, step, stored record); the
    // session's queue is not another copy of the stream.
    assert.ok(rssGrowthKiB < 200 * 1024, `daemon RSS grew ${rssGrowthKiB} KiB`);
  });
});
