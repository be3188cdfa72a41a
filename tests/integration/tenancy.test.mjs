// Two companies on one daemon cannot see or use each other's ledger, wallet,
// providers or keys.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI } from './fake_openai.mjs';
import { startOag } from './harness.mjs';

let oag;
let fakeA;
let fakeB;
let A;
let B;
let aResponseIds = [];

before(async () => {
  fakeA = await startFakeOpenAI();
  fakeB = await startFakeOpenAI();
  oag = await startOag({ name: 'tenancy' });
  A = await oag.tenant({ name: 'Alpha', credit: '500', fake: fakeA });
  B = await oag.tenant({ name: 'Beta', credit: '70', fake: fakeB });
  // A has a second provider that B does not have.
  await oag.putProvider(A.companyId, 'alphaonly', { kind: 'openai', base_url: fakeA.url, api_key: 'sk-alpha-only-secret-1234' });
  for (let i = 0; i < 3; i++) {
    fakeA.next({ text: `a${i}`, usage: { prompt_tokens: 100 + i, completion_tokens: 10 } });
    const r = await A.client.chat.completions.create({ model: 'fake/gpt-4o-mini', messages: [{ role: 'user', content: `a${i}` }] });
    aResponseIds.push(r.id);
  }
});

after(async () => {
  await oag?.cleanup();
  await fakeA?.close();
  await fakeB?.close();
});

describe('tenant isolation', () => {
  it('each company gets its own company id and key', () => {
    assert.notEqual(A.companyId, B.companyId);
    assert.match(A.companyId, /^co_/);
    assert.match(A.keyId, /^key_/);
    assert.match(A.key, /^oag-/);
    assert.notEqual(A.key, B.key);
  });

  it("B's ledger holds none of A's calls, A's holds them all", async () => {
    const la = await A.ledger();
    const lb = await B.ledger();
    for (const id of aResponseIds) {
      assert.equal(la.filter((e) => e.response_id === id).length, 1);
      assert.equal(lb.filter((e) => e.response_id === id).length, 0);
    }
    const aLedgerIds = new Set(la.map((e) => e.id));
    for (const e of lb) assert.ok(!aLedgerIds.has(e.id) || !aResponseIds.includes(e.response_id));
  });

  it("B paging with A's ledger cursor does not reveal A's entries", async () => {
    const la = await A.ledger();
    const r = await B.get(`/v1/ledger?limit=100&after=${encodeURIComponent(la[0].id)}`);
    assert.ok(r.status === 200 || r.status === 400 || r.status === 404, `status ${r.status}`);
    if (r.status === 200) {
      for (const e of r.json.data) assert.ok(!aResponseIds.includes(e.response_id), "A's entry visible to B");
    }
  });

  it('wallets are separate and scoped to the key', async () => {
    const wa = await A.wallet();
    const wb = await B.wallet();
    assert.equal(wa.credits_uot, 500_000_000);
    assert.equal(wb.credits_uot, 70_000_000);
    assert.ok(wa.spent_uot > 0);
    assert.equal(wb.spent_uot, 0);
    // Query parameters or headers naming the other company change nothing.
    const r1 = await B.get(`/v1/wallet?company_id=${A.companyId}`);
    assert.equal(r1.status, 200);
    assert.equal(r1.json.credits_uot, 70_000_000);
    const r2 = await oag.request('GET', '/v1/wallet', { token: B.key, headers: { 'x-company-id': A.companyId, 'openai-organization': A.companyId } });
    assert.equal(r2.json.credits_uot, 70_000_000);
  });

  it("a client key cannot reach the admin API for any company, its own or the other's", async () => {
    for (const p of [
      `/admin/v1/companies/${A.companyId}/wallet`,
      `/admin/v1/companies/${B.companyId}/wallet`,
      `/admin/v1/companies/${A.companyId}/providers/fake`,
      `/admin/v1/companies/${A.companyId}/providers/alphaonly`,
    ]) {
      const r = await oag.request('GET', p, { token: B.key });
      assert.ok(r.status === 401 || r.status === 403, `${p}: ${r.status}`);
      assert.ok(!r.text.includes('sk-'), 'no provider key');
    }
    const r = await oag.request('POST', `/admin/v1/companies/${A.companyId}/credits`, { token: B.key, body: { amount_ot: '1000', idempotency_key: 'steal' } });
    assert.ok(r.status === 401 || r.status === 403);
    const d = await oag.request('DELETE', `/admin/v1/companies/${A.companyId}/keys/${A.keyId}`, { token: B.key });
    assert.ok(d.status === 401 || d.status === 403);
    assert.equal((await A.get('/v1/wallet')).status, 200, "A's key still works");
  });

  it("B cannot call A's provider; its own same-named provider uses B's upstream and key", async () => {
    fakeA.reset();
    fakeB.reset();
    const r = await B.post('/v1/chat/completions', { model: 'alphaonly/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(r.status, 404, r.text);
    assert.equal(r.json.error.code, 'model_not_found');
    fakeB.next({ text: 'from B upstream' });
    const ok = await B.client.chat.completions.create({ model: 'fake/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(ok.choices[0].message.content, 'from B upstream');
    assert.equal(fakeA.requests.length, 0, "B's call never reached A's upstream");
    assert.equal(fakeB.requests.length, 1);
    assert.equal(fakeB.requests[0].headers.authorization, `Bearer ${B.upstreamKey}`);
  });

  it("models lists each company's own providers only", async () => {
    const ma = await A.client.models.list();
    const mb = await B.client.models.list();
    const ida = ma.data.map((m) => m.id);
    const idb = mb.data.map((m) => m.id);
    for (const m of [...ma.data, ...mb.data]) {
      assert.equal(m.object, 'model');
      assert.equal(typeof m.created, 'number');
      assert.equal(typeof m.owned_by, 'string');
    }
    assert.ok(ida.some((id) => id.startsWith('alphaonly/')), `A sees alphaonly: ${ida.join(',')}`);
    assert.ok(!idb.some((id) => id.startsWith('alphaonly/')), `B must not see alphaonly: ${idb.join(',')}`);
    assert.ok(idb.some((id) => id.startsWith('fake/')));
    assert.ok(idb.some((id) => id.startsWith('mock/')), 'the built-in mock is listed');
  });

  it('models.retrieve works for PROVIDER/MODEL ids through the SDK (slash percent-encoded)', async () => {
    const raw = await B.get('/v1/models/fake/gpt-4o-mini');
    assert.equal(raw.status, 200, raw.text);
    assert.equal(raw.json.id, 'fake/gpt-4o-mini');
    for (const id of ['mock/echo', 'fake/gpt-4o-mini']) {
      const m = await B.client.models.retrieve(id);
      assert.equal(m.id, id);
      assert.equal(m.object, 'model');
    }
    const e = await B.client.models.retrieve('alphaonly/gpt-4o-mini').catch((x) => x);
    assert.equal(e.status, 404);
  });

  it("deleting A's provider does not touch B's provider of the same name", async () => {
    const del = await oag.admin('DELETE', `/admin/v1/companies/${A.companyId}/providers/fake`);
    assert.equal(del.status, 200, del.text);
    const ra = await A.post('/v1/chat/completions', { model: 'fake/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(ra.status, 404, ra.text);
    const gb = await oag.admin('GET', `/admin/v1/companies/${B.companyId}/providers/fake`);
    assert.equal(gb.status, 200);
    fakeB.next({ text: 'B ok' });
    const rb = await B.client.chat.completions.create({ model: 'fake/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(rb.choices[0].message.content, 'B ok');
  });

  it("the admin API keeps companies apart: A's key id under B's company does not revoke it", async () => {
    const r = await oag.admin('DELETE', `/admin/v1/companies/${B.companyId}/keys/${A.keyId}`);
    assert.ok(r.status === 404 || r.status === 400, `status ${r.status}`);
    assert.equal((await A.get('/v1/wallet')).status, 200, "A's key survives");
  });

  it('unknown company ids are 404 on the admin API', async () => {
    const r = await oag.admin('GET', '/admin/v1/companies/co_doesnotexist/wallet');
    assert.equal(r.status, 404);
    assert.ok(r.json?.error);
  });
});
