// Admin API: companies, keys, idempotent credits, providers (key never
// returned), wallet.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI } from './fake_openai.mjs';
import { startOag, walletInvariantHolds } from './harness.mjs';

let oag;
let fake;

before(async () => {
  fake = await startFakeOpenAI();
  oag = await startOag({ name: 'admin' });
});

after(async () => {
  await oag?.cleanup();
  await fake?.close();
});

describe('companies and keys', () => {
  it('creates a company with its initial credit', async () => {
    const r = await oag.admin('POST', '/admin/v1/companies', { name: 'Acme', credit_ot: '1000' });
    assert.equal(r.status, 201, r.text);
    assert.match(r.json.id, /^co_/);
    assert.equal(r.json.name, 'Acme');
    const w = await oag.adminWallet(r.json.id);
    assert.equal(w.credits_uot, 1_000_000_000);
    assert.equal(w.balance_uot, 1_000_000_000);
    assert.equal(w.reserved_uot, 0);
    assert.equal(w.spent_uot, 0);
  });

  it('credit_ot is exact decimal O₮ (no floating point)', async () => {
    const r = await oag.admin('POST', '/admin/v1/companies', { name: 'Frac', credit_ot: '0.000001' });
    assert.equal(r.status, 201, r.text);
    assert.equal((await oag.adminWallet(r.json.id)).balance_uot, 1);
    const r2 = await oag.admin('POST', '/admin/v1/companies', { name: 'Frac2', credit_ot: '123456.789012' });
    assert.equal((await oag.adminWallet(r2.json.id)).balance_uot, 123_456_789_012);
  });

  it('rejects bad company bodies with 400', async () => {
    for (const body of [{ credit_ot: '1' }, { name: 'x', credit_ot: '-5' }, { name: 'x', credit_ot: 'lots' }, { name: 'x', credit_ot: '1.0000001' }, { name: 42 }]) {
      const r = await oag.admin('POST', '/admin/v1/companies', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${r.text}`);
      assert.ok(r.json?.error?.message);
    }
    const bad = await oag.request('POST', '/admin/v1/companies', { raw: '{"name":', token: oag.adminToken, headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
  });

  it('creates keys shown once as oag-…; each key works', async () => {
    const co = await oag.createCompany('Keys');
    const k1 = await oag.createKey(co.id, 'one');
    const k2 = await oag.createKey(co.id, 'two');
    assert.match(k1.id, /^key_/);
    assert.match(k1.key, /^oag-/);
    assert.notEqual(k1.key, k2.key);
    assert.notEqual(k1.id, k2.id);
    for (const k of [k1, k2]) {
      const r = await oag.request('GET', '/v1/wallet', { token: k.key });
      assert.equal(r.status, 200);
      assert.equal(r.json.credits_uot, 1_000_000_000);
    }
    const missing = await oag.admin('POST', '/admin/v1/companies/co_nope/keys', { name: 'x' });
    assert.equal(missing.status, 404);
    const delMissing = await oag.admin('DELETE', `/admin/v1/companies/${co.id}/keys/key_nope`);
    assert.equal(delMissing.status, 404);
  });
});

describe('credits', () => {
  it('a credit with the same idempotency key credits once and answers the same', async () => {
    const co = await oag.createCompany('Credits', '1');
    const p = `/admin/v1/companies/${co.id}/credits`;
    const r1 = await oag.admin('POST', p, { amount_ot: '12.5', idempotency_key: 'topup-1' });
    assert.equal(r1.status, 200, r1.text);
    let w = await oag.adminWallet(co.id);
    assert.equal(w.credits_uot, 13_500_000);
    assert.equal(w.balance_uot, 13_500_000);
    const r2 = await oag.admin('POST', p, { amount_ot: '12.5', idempotency_key: 'topup-1' });
    assert.equal(r2.status, 200, r2.text);
    assert.deepEqual(r2.json, r1.json, 'same result for the replay');
    w = await oag.adminWallet(co.id);
    assert.equal(w.credits_uot, 13_500_000, 'replay credited nothing');
    const r3 = await oag.admin('POST', p, { amount_ot: '0.25', idempotency_key: 'topup-2' });
    assert.equal(r3.status, 200);
    w = await oag.adminWallet(co.id);
    assert.equal(w.credits_uot, 13_750_000);
    assert.ok(walletInvariantHolds(w));
  });

  it('concurrent replays of one idempotency key credit exactly once', async () => {
    const co = await oag.createCompany('Race', '0');
    const p = `/admin/v1/companies/${co.id}/credits`;
    const rs = await Promise.all(Array.from({ length: 20 }, () => oag.admin('POST', p, { amount_ot: '3', idempotency_key: 'same' })));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    const w = await oag.adminWallet(co.id);
    assert.equal(w.credits_uot, 3_000_000);
    assert.equal(w.balance_uot, 3_000_000);
  });

  it('idempotency keys are per company', async () => {
    const a = await oag.createCompany('IdemA', '0');
    const b = await oag.createCompany('IdemB', '0');
    await oag.admin('POST', `/admin/v1/companies/${a.id}/credits`, { amount_ot: '1', idempotency_key: 'shared' });
    const rb = await oag.admin('POST', `/admin/v1/companies/${b.id}/credits`, { amount_ot: '2', idempotency_key: 'shared' });
    assert.equal(rb.status, 200);
    assert.equal((await oag.adminWallet(a.id)).credits_uot, 1_000_000);
    assert.equal((await oag.adminWallet(b.id)).credits_uot, 2_000_000);
  });

  it('rejects bad credit bodies with 400 and credits nothing', async () => {
    const co = await oag.createCompany('BadCredit', '1');
    for (const body of [{ amount_ot: '-1', idempotency_key: 'a' }, { amount_ot: 'ten', idempotency_key: 'b' }, { amount_ot: '1.1234567', idempotency_key: 'd' }, { amount_ot: '', idempotency_key: 'e' }, { idempotency_key: 'f' }]) {
      const r = await oag.admin('POST', `/admin/v1/companies/${co.id}/credits`, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status}`);
    }
    assert.equal((await oag.adminWallet(co.id)).credits_uot, 1_000_000);
    // A JSON number may be refused, or taken exactly — never rounded through a double.
    const num = await oag.admin('POST', `/admin/v1/companies/${co.id}/credits`, { amount_ot: 0.1, idempotency_key: 'n' });
    const w = await oag.adminWallet(co.id);
    if (num.status === 200) assert.equal(w.credits_uot, 1_100_000);
    else assert.equal(num.status, 400);
    const missing = await oag.admin('POST', '/admin/v1/companies/co_nope/credits', { amount_ot: '1', idempotency_key: 'x' });
    assert.equal(missing.status, 404);
  });

  it('a client key sees its credits in /v1/wallet', async () => {
    const t = await oag.tenant({ name: 'SeeCredit', credit: '2' });
    await oag.admin('POST', `/admin/v1/companies/${t.companyId}/credits`, { amount_ot: '3.000001', idempotency_key: 'k' });
    const w = await t.wallet();
    assert.equal(w.credits_uot, 5_000_001);
    assert.equal(w.balance_uot, 5_000_001);
  });
});

describe('providers', () => {
  it('PUT stores a provider; GET returns it without the key; calls use it; DELETE removes it', async () => {
    const t = await oag.tenant({ name: 'Prov' });
    const secret = 'sk-provider-secret-abcdef0123456789';
    const put = await oag.admin('PUT', `/admin/v1/companies/${t.companyId}/providers/myai`, { kind: 'openai', base_url: fake.url, api_key: secret });
    assert.equal(put.status, 200, put.text);
    assert.ok(!put.text.includes(secret), 'PUT response does not echo the key');
    const get = await oag.admin('GET', `/admin/v1/companies/${t.companyId}/providers/myai`);
    assert.equal(get.status, 200);
    assert.equal(get.json.kind, 'openai');
    assert.equal(get.json.base_url, fake.url);
    assert.ok(!get.text.includes(secret), 'GET never returns the key');
    assert.ok(!('api_key' in get.json) || get.json.api_key === null || !String(get.json.api_key).includes('sk-'));

    fake.reset();
    fake.next({ text: 'via myai' });
    const res = await t.client.chat.completions.create({ model: 'myai/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(res.choices[0].message.content, 'via myai');
    assert.equal(fake.requests[0].headers.authorization, `Bearer ${secret}`);

    // Replace the key: the next call uses the new one.
    const secret2 = 'sk-provider-secret-rotated-999';
    await oag.putProvider(t.companyId, 'myai', { kind: 'openai', base_url: fake.url, api_key: secret2 });
    fake.reset();
    fake.next({ text: 'rotated' });
    await t.client.chat.completions.create({ model: 'myai/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(fake.requests[0].headers.authorization, `Bearer ${secret2}`);

    const del = await oag.admin('DELETE', `/admin/v1/companies/${t.companyId}/providers/myai`);
    assert.equal(del.status, 200);
    assert.equal((await oag.admin('GET', `/admin/v1/companies/${t.companyId}/providers/myai`)).status, 404);
    const after = await t.post('/v1/chat/completions', { model: 'myai/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(after.status, 404);
    assert.equal(after.json.error.code, 'model_not_found');

    const log = oag.logTail(100000);
    assert.ok(!log.includes(secret) && !log.includes(secret2), 'provider keys never logged');
  });

  it('the provider key is not stored in plaintext in the data dir', async () => {
    const t = await oag.tenant({ name: 'Vault' });
    const secret = 'sk-plaintext-canary-7f3a9b1c5d';
    await oag.putProvider(t.companyId, 'vaulted', { kind: 'openai', base_url: fake.url, api_key: secret });
    // Make sure it reached disk (WAL/SST).
    await oag.stop();
    const { execFileSync } = await import('node:child_process');
    let found = '';
    try {
      found = execFileSync('grep', ['-rl', secret, oag.dataDir], { encoding: 'utf8' });
    } catch {
      found = '';
    }
    assert.equal(found.trim(), '', `plaintext provider key found in ${found}`);
    await oag.restart();
    // And it still works after the restart (decrypted with the same master key).
    fake.reset();
    fake.next({ text: 'after restart' });
    const c = oag.client(t.key);
    const res = await c.chat.completions.create({ model: 'vaulted/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(res.choices[0].message.content, 'after restart');
    assert.equal(fake.requests[0].headers.authorization, `Bearer ${secret}`);
  });

  it('rejects bad provider specs with 400', async () => {
    const co = await oag.createCompany('BadProv');
    for (const body of [{ kind: 'teleport', base_url: fake.url, api_key: 'sk-x' }, { kind: 'openai', base_url: 'not a url', api_key: 'sk-x' }, { kind: 42 }]) {
      const r = await oag.admin('PUT', `/admin/v1/companies/${co.id}/providers/bad`, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${r.text}`);
    }
  });

  it('plain HTTP to a non-loopback host is refused unless configured', async () => {
    const co = await oag.createCompany('Insecure');
    const r = await oag.admin('PUT', `/admin/v1/companies/${co.id}/providers/remote`, { kind: 'openai', base_url: 'http://203.0.113.5/v1', api_key: 'sk-x' });
    if (r.status === 400) return; // refused when connected
    assert.equal(r.status, 200, r.text);
    // Otherwise it must be refused when used, before any connection attempt.
    const k = await oag.createKey(co.id);
    const t0 = Date.now();
    const c = await oag.request('POST', '/v1/chat/completions', { token: k.key, body: { model: 'remote/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] } });
    assert.ok(c.status >= 400, `plain HTTP to a remote host was used: ${c.status}`);
    assert.ok(Date.now() - t0 < 3000, 'refused without trying to connect');
  });
});
