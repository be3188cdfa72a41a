// kill -9 during a burst of concurrent calls, then restart on the same data
// dir: every acknowledged charge is present exactly once, nothing stays
// reserved, and credits = balance + reserved + spent exactly.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI } from './fake_openai.mjs';
import { expectedCost, sleep, startOag, walletInvariantHolds } from './harness.mjs';

const MODEL = 'fake/gpt-4o-mini';
const BURST = 50;
const USAGE = { prompt_tokens: 40, completion_tokens: 12, cached_tokens: 8 };

let oag;
let fake;

before(async () => {
  fake = await startFakeOpenAI();
  oag = await startOag({ name: 'crash' });
});

after(async () => {
  await oag?.cleanup();
  await fake?.close();
});

async function burstThenKill(t, { stream }) {
  fake.reset();
  // Spread completion times so the kill lands with calls in every state:
  // settled and acknowledged, settled but not yet acknowledged, in flight,
  // not yet sent upstream.
  for (let i = 0; i < BURST; i++) fake.next({ text: `answer ${i}`, usage: USAGE, delayMs: (i % 10) * 40 });
  const acked = [];
  const failed = [];
  const client = oag.client(t.key, { timeout: 15000 });
  const calls = Array.from({ length: BURST }, async (_, i) => {
    try {
      if (stream) {
        const s = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `q${i}` }], stream: true, stream_options: { include_usage: true } });
        let id = null;
        let done = false;
        for await (const c of s) {
          id = c.id;
          if (c.usage) done = true;
        }
        if (done) acked.push(id);
        else failed.push(i);
      } else {
        const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `q${i}` }], max_tokens: 64 });
        acked.push(r.id);
      }
    } catch {
      failed.push(i);
    }
  });
  // Kill once a good part of the burst has been acknowledged.
  const deadline = Date.now() + 10000;
  while (acked.length < BURST / 3 && Date.now() < deadline) await sleep(5);
  await oag.kill9();
  await Promise.all(calls);
  return { acked, failed };
}

async function checkAfterRestart(t, acked, diag) {
  await oag.restart();
  const entries = await oag.ledgerAll(t.key);
  diag(`acknowledged ${acked.length} of ${BURST}; ledger entries after restart: ${entries.length}`);
  const counts = new Map();
  for (const e of entries) if (e.response_id) counts.set(e.response_id, (counts.get(e.response_id) || 0) + 1);
  const missing = acked.filter((id) => !counts.has(id));
  assert.deepEqual(missing, [], 'every acknowledged call is in the ledger');
  const dup = [...counts].filter(([, n]) => n > 1);
  assert.deepEqual(dup, [], 'no call charged twice');
  const cost = expectedCost('openai/gpt-4o-mini', USAGE);
  for (const id of acked) {
    const e = entries.find((x) => x.response_id === id);
    assert.equal(e.cost_uot, cost, `acked call ${id} charged exactly`);
  }
  const w = await oag.request('GET', '/v1/wallet', { token: t.key });
  assert.equal(w.status, 200);
  const aw = await oag.adminWallet(t.companyId);
  for (const wallet of [w.json, aw]) {
    assert.equal(wallet.reserved_uot, 0, 'reservations released after restart');
    assert.ok(walletInvariantHolds(wallet), `credits = balance + reserved + spent: ${JSON.stringify(wallet)}`);
  }
  assert.equal(aw.credits_uot, 1_000_000_000, 'credits unchanged by the crash');
  const sum = entries.filter((e) => e.response_id).reduce((s, e) => s + e.cost_uot, 0);
  assert.equal(aw.spent_uot, sum, 'spent equals the sum of the ledger');
  assert.ok(aw.spent_uot >= acked.length * cost);
  // The daemon works normally after the restart.
  fake.reset();
  fake.next({ text: 'alive', usage: USAGE });
  const r = await oag.client(t.key).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'alive?' }] });
  assert.equal(r.choices[0].message.content, 'alive');
  const w2 = await oag.adminWallet(t.companyId);
  assert.equal(w2.spent_uot - aw.spent_uot, cost);
  assert.ok(walletInvariantHolds(w2));
}

describe('kill -9 during a burst', () => {
  it('non-streamed burst: acknowledged charges survive exactly once', async (ctx) => {
    const t = await oag.tenant({ name: 'CrashA', credit: '1000', fake });
    const { acked, failed } = await burstThenKill(t, { stream: false });
    assert.ok(acked.length >= BURST / 3, `enough calls acknowledged before the kill (${acked.length})`);
    assert.equal(acked.length + failed.length, BURST);
    assert.ok(failed.length > 0, 'the kill interrupted calls in flight');
    await checkAfterRestart(t, acked, (m) => ctx.diagnostic(m));
  });

  it('streamed burst: completed streams survive exactly once', async (ctx) => {
    const t = await oag.tenant({ name: 'CrashB', credit: '1000', fake });
    const { acked, failed } = await burstThenKill(t, { stream: true });
    assert.ok(acked.length >= BURST / 3, `enough streams completed before the kill (${acked.length})`);
    assert.ok(failed.length > 0, 'the kill interrupted streams in flight');
    await checkAfterRestart(t, acked, (m) => ctx.diagnostic(m));
  });

  it('tenants survive too: keys, providers and wallets after a second kill -9', async () => {
    const t = await oag.tenant({ name: 'CrashC', credit: '5', fake });
    const before = await oag.adminWallet(t.companyId);
    await oag.kill9();
    await oag.restart();
    const w = await oag.request('GET', '/v1/wallet', { token: t.key });
    assert.equal(w.status, 200);
    assert.equal(w.json.credits_uot, before.credits_uot);
    const p = await oag.admin('GET', `/admin/v1/companies/${t.companyId}/providers/fake`);
    assert.equal(p.status, 200);
  });
});
