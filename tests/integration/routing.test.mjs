// The routing engine over HTTP: each condition kind decides, x-oag-route,
// fallback order under injected failures, retry-after honoured, streams that
// die before / after their first chunk, no double charge across fallbacks,
// the circuit breaker, and validation errors that name the JSON path.
//
// Two fake OpenAI upstreams, A and B, are connected to every test company as
// providers "a" and "b" (kind openai); each answers with its own text, so a
// response tells which one served it.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startFakeOpenAI } from './fake_openai.mjs';
import { expectedCost, sleep, startOag, walletInvariantHolds } from './harness.mjs';

let oag, A, B;

before(async () => {
  [A, B] = await Promise.all([startFakeOpenAI(), startFakeOpenAI()]);
  oag = await startOag({ name: 'routing' });
});

after(async () => {
  await oag?.cleanup();
  await A?.close();
  await B?.close();
});

const AM = 'a/gpt-4o-mini';
const BM = 'b/gpt-4o-mini';
const USAGE_A = { prompt_tokens: 20, completion_tokens: 5 };
const USAGE_B = { prompt_tokens: 30, completion_tokens: 7 };

/** Resets both fakes: A answers "from A", B "from B". */
function fresh() {
  A.reset();
  B.reset();
  A.setDefault({ text: 'from A', usage: USAGE_A });
  B.setDefault({ text: 'from B', usage: USAGE_B });
}

/** A company with providers a and b and (optionally) a routing config. */
async function company(config, { credit = '1000' } = {}) {
  fresh();
  const t = await oag.tenant({ name: `route-${crypto.randomBytes(3).toString('hex')}`, credit });
  await oag.putProvider(t.companyId, 'a', { kind: 'openai', base_url: A.url, api_key: 'sk-a' });
  await oag.putProvider(t.companyId, 'b', { kind: 'openai', base_url: B.url, api_key: 'sk-b' });
  if (config) await putRouting(t, config);
  return t;
}

async function putRouting(t, config) {
  const r = await oag.admin('PUT', `/admin/v1/companies/${t.companyId}/routing`, config);
  assert.equal(r.status, 200, `PUT routing: ${r.text}`);
  return r.json;
}

/** One non-streamed call; returns { r, route, served }. */
async function call(t, body) {
  const { data, response } = await t.client.chat.completions
    .create({ model: 'auto', messages: [{ role: 'user', content: 'hello' }], max_tokens: 50, ...body })
    .withResponse();
  const served = data.choices[0].message.content === 'from A' ? 'a' : data.choices[0].message.content === 'from B' ? 'b' : data.choices[0].message.content;
  return { r: data, route: response.headers.get('x-oag-route'), served };
}

function routeHeader(rule, target, attempts) {
  return `rule=${rule ?? '-'}; target=${target}; attempts=${attempts}`;
}

async function failure(promise) {
  return promise.then(
    (v) => assert.fail(`expected a failure, got ${JSON.stringify(v).slice(0, 300)}`),
    (e) => e,
  );
}

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

const text = (chunks) => chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join('');

// ===========================================================================
describe('conditions decide', () => {
  it('model: the alias "auto" is routed by its rule; other models go where they name; x-oag-route tells', async () => {
    const t = await company({ rules: [{ name: 'auto-to-b', when: { model: 'auto' }, then: { model: BM } }] });
    let c = await call(t, { model: 'auto' });
    assert.equal(c.served, 'b');
    assert.equal(c.route, routeHeader('auto-to-b', BM, 1));
    assert.equal(c.r.model, 'auto', 'the client sees the model it asked for');
    assert.equal(B.requests[0].body.model, 'gpt-4o-mini');
    c = await call(t, { model: AM });
    assert.equal(c.served, 'a');
    assert.equal(c.route, routeHeader(null, AM, 1));
    const entries = await t.ledger();
    assert.equal(entries.length, 2);
    assert.deepEqual(entries.map((e) => e.route_rule).sort((x, y) => String(x).localeCompare(String(y))), ['auto-to-b', null].sort((x, y) => String(x).localeCompare(String(y))));
  });

  it('x-oag-route on a stream counts the serving attempt, as on a non-streamed call', async () => {
    const t = await company({ rules: [{ name: 'auto-to-b', when: { model: 'auto' }, then: { model: BM } }] });
    const plain = await call(t, {});
    const { data, response } = await t.client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'x' }], stream: true }).withResponse();
    assert.equal(text(await collect(data)), 'from B');
    assert.equal(plain.route, routeHeader('auto-to-b', BM, 1));
    assert.equal(response.headers.get('x-oag-route'), routeHeader('auto-to-b', BM, 1));
  });

  it('an unrouted unknown model is a 404 naming it; a rule naming an unreachable model says so', async () => {
    const t = await company({ rules: [{ name: 'to-nowhere', when: { model: 'auto' }, then: { model: 'zzz/none' } }] });
    let e = await failure(call(t, { model: 'no-such-model' }));
    assert.equal(e.status, 404);
    e = await failure(call(t, { model: 'auto' }));
    assert.equal(e.status, 404);
    assert.match(e.error.message, /zzz\/none/);
  });

  it('content_regex (any message, RE2) and last_user_regex (last user message only)', async () => {
    const t = await company({
      rules: [
        { name: 'last-sql', when: { last_user_regex: '(?i)\\bsql\\b' }, then: { model: AM } },
        { name: 'any-sql', when: { content_regex: '(?i)\\bsql\\b' }, then: { model: BM } },
        { name: 'rest', then: { model: AM } },
      ],
    });
    let c = await call(t, { messages: [{ role: 'user', content: 'Write SQL for me' }] });
    assert.equal(c.route, routeHeader('last-sql', AM, 1));
    c = await call(t, { messages: [{ role: 'user', content: 'Write SQL for me' }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'now in Python' }] });
    assert.equal(c.route, routeHeader('any-sql', BM, 1));
    assert.equal(c.served, 'b');
    c = await call(t, { messages: [{ role: 'user', content: [{ type: 'text', text: 'mysql is not a word match' }] }] });
    assert.equal(c.route, routeHeader('rest', AM, 1));
    c = await call(t, { messages: [{ role: 'system', content: 'You know SQL.' }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }] });
    assert.equal(c.route, routeHeader('any-sql', BM, 1), 'content_regex also reads system messages');
  });

  it('estimated prompt tokens: prompt_tokens_gte / prompt_tokens_lt', async () => {
    const t = await company({
      rules: [
        { name: 'long', when: { prompt_tokens_gte: 2000 }, then: { model: BM } },
        { name: 'short', when: { prompt_tokens_lt: 2000 }, then: { model: AM } },
      ],
    });
    let c = await call(t, { messages: [{ role: 'user', content: 'short question' }] });
    assert.equal(c.route, routeHeader('short', AM, 1));
    c = await call(t, { messages: [{ role: 'user', content: 'lorem ipsum dolor sit amet '.repeat(800) }] });
    assert.equal(c.route, routeHeader('long', BM, 1));
  });

  it('has_tools and has_images', async () => {
    const t = await company({
      rules: [
        { name: 'tools', when: { has_tools: true }, then: { model: BM } },
        { name: 'images', when: { has_images: true }, then: { model: BM } },
        { name: 'plain', when: { has_tools: false, has_images: false }, then: { model: AM } },
      ],
    });
    const tool = { type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } };
    let c = await call(t, { tools: [tool] });
    assert.equal(c.route, routeHeader('tools', BM, 1));
    const png = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
    c = await call(t, { messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: png } }] }] });
    assert.equal(c.route, routeHeader('images', BM, 1));
    c = await call(t, {});
    assert.equal(c.route, routeHeader('plain', AM, 1));
  });

  it('metadata fields and user', async () => {
    const t = await company({
      rules: [
        { name: 'gold', when: { metadata: { tier: 'gold', region: 'eu' } }, then: { model: BM } },
        { name: 'vip-user', when: { user: ['alice', 'bob'] }, then: { model: BM } },
        { name: 'rest', then: { model: AM } },
      ],
    });
    let c = await call(t, { metadata: { tier: 'gold', region: 'eu', extra: 'x' } });
    assert.equal(c.route, routeHeader('gold', BM, 1));
    c = await call(t, { metadata: { tier: 'gold' } });
    assert.equal(c.route, routeHeader('rest', AM, 1), 'every metadata field must match');
    c = await call(t, { user: 'bob' });
    assert.equal(c.route, routeHeader('vip-user', BM, 1));
    c = await call(t, { user: 'mallory' });
    assert.equal(c.route, routeHeader('rest', AM, 1));
  });

  it('time windows: weekdays excluding today never match; a 24h window always does; hours are read in the rule’s time zone', async () => {
    const names = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
    const todayUtc = (new Date().getUTCDay() + 6) % 7;
    const notNearToday = names.filter((_, i) => i !== todayUtc && i !== (todayUtc + 1) % 7);
    // HH:MM now in a zone, and a ±90 min window around it.
    const hhmm = (tz, offsetMin = 0) =>
      new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(Date.now() + offsetMin * 60000));
    const windowIn = (tz) => `${hhmm(tz, -90)}-${hhmm(tz, 90)}`;
    const t = await company({
      rules: [
        { name: 'other-days', when: { time: { weekdays: notNearToday } }, then: { model: BM } },
        // Tokyo (UTC+9) and New York (UTC-5/-4) are at least 13 h apart:
        // a window around Tokyo's now never holds New York's now.
        { name: 'ny-reads-tokyo-window', when: { time: { timezone: 'America/New_York', hours: windowIn('Asia/Tokyo') } }, then: { model: BM } },
        { name: 'tokyo-now', when: { model: 'tz', time: { timezone: 'Asia/Tokyo', hours: windowIn('Asia/Tokyo') } }, then: { model: BM } },
        { name: 'all-day', when: { time: { timezone: 'UTC', weekdays: names, hours: '00:00-24:00' } }, then: { model: AM } },
      ],
    });
    let c = await call(t, {});
    assert.equal(c.route, routeHeader('all-day', AM, 1));
    c = await call(t, { model: 'tz' });
    assert.equal(c.route, routeHeader('tokyo-now', BM, 1));
    // A window that wraps past midnight and excludes now.
    await putRouting(t, { rules: [{ name: 'wrap-not-now', when: { time: { hours: `${hhmm('UTC', 120)}-${hhmm('UTC', -120)}` } }, then: { model: BM } }] });
    c = await call(t, { model: AM });
    assert.equal(c.route, routeHeader(null, AM, 1));
    await putRouting(t, { rules: [{ name: 'wrap-now', when: { time: { hours: `${hhmm('UTC', -120)}-${hhmm('UTC', 120)}` } }, then: { model: BM } }] });
    c = await call(t, { model: AM });
    assert.equal(c.route, routeHeader('wrap-now', BM, 1));
  });

  it('budget: balance_ot_lt flips once spending lowers the balance', async () => {
    const t = await company(
      {
        rules: [
          { name: 'low-balance', when: { model: 'auto', budget: { balance_ot_lt: '999' } }, then: { model: 'b/gpt-4.1-nano' } },
          { name: 'normal', when: { model: 'auto', budget: { balance_ot_gte: '999' } }, then: { model: 'a/gpt-4o' } },
        ],
      },
      { credit: '1000' },
    );
    A.setDefault({ text: 'from A', usage: { prompt_tokens: 1000, completion_tokens: 0 } }); // 2.5 O₮ on gpt-4o
    let c = await call(t, {});
    assert.equal(c.route, routeHeader('normal', 'a/gpt-4o', 1));
    assert.equal(Number((await t.wallet()).balance_uot), 997_500_000);
    c = await call(t, {});
    assert.equal(c.route, routeHeader('low-balance', 'b/gpt-4.1-nano', 1));
    assert.equal(c.served, 'b');
  });

  it('budget: when this month’s spend passes 80% of monthly_ot, auto degrades to the cheaper model', async () => {
    const t = await company({
      budget: { monthly_ot: '10' },
      rules: [
        { name: 'degrade', when: { model: 'auto', budget: { month_fraction_gte: 0.8 } }, then: { model: 'b/gpt-4.1-nano' } },
        { name: 'normal', when: { model: 'auto', budget: { month_fraction_lt: 0.8 } }, then: { model: 'a/gpt-4o' } },
      ],
    });
    // gpt-4o: $2.5/M input, $10/M output; 1 O₮ = $0.001.
    A.setDefault({ text: 'from A', usage: { prompt_tokens: 1200, completion_tokens: 100 } }); // 4 O₮
    let c = await call(t, {});
    assert.equal(c.route, routeHeader('normal', 'a/gpt-4o', 1), '0% spent');
    A.setDefault({ text: 'from A', usage: { prompt_tokens: 1000, completion_tokens: 100 } }); // 3.5 O₮
    c = await call(t, {});
    assert.equal(c.route, routeHeader('normal', 'a/gpt-4o', 1), '40% spent');
    A.setDefault({ text: 'from A', usage: { prompt_tokens: 200, completion_tokens: 0 } }); // 0.5 O₮
    c = await call(t, {});
    assert.equal(c.route, routeHeader('normal', 'a/gpt-4o', 1), '75% spent');
    assert.equal(Number((await t.wallet()).spent_uot), 8_000_000, '8 O₮ = 80% spent now');
    c = await call(t, {});
    assert.equal(c.route, routeHeader('degrade', 'b/gpt-4.1-nano', 1));
    assert.equal(c.served, 'b');
    c = await call(t, {});
    assert.equal(c.route, routeHeader('degrade', 'b/gpt-4.1-nano', 1), 'stays degraded');
    const day = await company({
      budget: { daily_ot: '1' },
      rules: [{ name: 'day-over', when: { budget: { day_fraction_gte: 1 } }, then: { model: BM } }],
    });
    A.setDefault({ text: 'from A', usage: { prompt_tokens: 400, completion_tokens: 0 } }); // gpt-4o 1 O₮
    c = await call(day, { model: 'a/gpt-4o' });
    assert.equal(c.route, routeHeader(null, 'a/gpt-4o', 1));
    c = await call(day, { model: 'a/gpt-4o' });
    assert.equal(c.route, routeHeader('day-over', BM, 1));
  });

  it('the first matching rule decides (order matters); a rule with no `when` matches everything', async () => {
    const t = await company({ rules: [{ name: 'first', then: { model: BM } }, { name: 'second', when: { model: 'auto' }, then: { model: AM } }] });
    const c = await call(t, {});
    assert.equal(c.route, routeHeader('first', BM, 1));
  });
});

// ===========================================================================
describe('fallback and retry', () => {
  const chain = (extra = {}) => ({ ...extra, rules: [{ name: 'chain', when: { model: 'auto' }, then: { model: AM, fallbacks: [BM] } }] });

  it('primary 500 → the fallback serves; one ledger entry at the serving target’s cost, both attempts listed', async () => {
    const t = await company(chain());
    A.next({ status: 500, error: { message: 'primary exploded' } });
    const c = await call(t, {});
    assert.equal(c.served, 'b');
    assert.equal(c.route, routeHeader('chain', BM, 2));
    assert.equal(A.requests.length, 1);
    assert.equal(B.requests.length, 1);
    const entries = await t.ledger();
    assert.equal(entries.length, 1, 'charged once');
    const e = entries[0];
    assert.equal(e.response_id, c.r.id);
    assert.equal(e.provider, 'b');
    assert.equal(e.route_rule, 'chain');
    assert.equal(e.input_tokens, USAGE_B.prompt_tokens);
    assert.equal(e.output_tokens, USAGE_B.completion_tokens);
    assert.equal(Number(e.cost_uot), expectedCost('openai/gpt-4o-mini', USAGE_B));
    assert.equal(e.attempts.length, 2);
    assert.deepEqual(
      e.attempts.map((x) => [x.provider, x.model, x.status]),
      [
        ['a', 'gpt-4o-mini', 500],
        ['b', 'gpt-4o-mini', 200],
      ],
    );
    assert.equal(typeof e.attempts[0].error, 'string');
    assert.ok(e.attempts[0].error.length > 0);
    assert.equal(e.attempts[1].error, null);
    for (const a of e.attempts) assert.ok(Number.isInteger(a.duration_ms) && a.duration_ms >= 0);
    const w = await t.wallet();
    assert.equal(Number(w.spent_uot), expectedCost('openai/gpt-4o-mini', USAGE_B));
    assert.equal(Number(w.reserved_uot), 0);
    assert.ok(walletInvariantHolds(w));
  });

  it('every target failing: the last failure is the answer, with x-oag-route; nothing charged', async () => {
    const t = await company(chain());
    A.next({ status: 503, error: { message: 'A down' } });
    B.next({ status: 500, error: { message: 'B down' } });
    const r = await oag.request('POST', '/v1/chat/completions', { token: t.key, body: { model: 'auto', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 } });
    assert.equal(r.status, 502, r.text);
    assert.match(r.json.error.message, /B down/);
    assert.equal(r.headers.get('x-oag-route'), routeHeader('chain', BM, 2));
    assert.equal((await t.ledger()).length, 0);
    const w = await t.wallet();
    assert.equal(Number(w.reserved_uot), 0);
    assert.equal(Number(w.spent_uot), 0);
  });

  it('429 with retry-after: 1 is honoured before retrying the same target (max_attempts_per_target 2)', async () => {
    const t = await company(chain({ retry: { max_attempts_per_target: 2, backoff_ms: 10, max_backoff_ms: 5000 } }));
    A.next({ status: 429, headers: { 'retry-after': '1' }, error: { message: 'slow down', type: 'rate_limit_error' } });
    const started = Date.now();
    const c = await call(t, {});
    const elapsed = Date.now() - started;
    assert.equal(c.served, 'a', 'the retry on the same target served');
    assert.equal(A.requests.length, 2);
    assert.equal(B.requests.length, 0);
    const gap = A.requests[1].at - A.requests[0].at;
    assert.ok(gap >= 950, `retry waited ${gap} ms, retry-after said 1 s`);
    assert.ok(elapsed < 4000, `took ${elapsed} ms`);
    assert.equal(c.route, routeHeader('chain', AM, 2));
    const [e] = await t.ledger();
    assert.deepEqual(e.attempts.map((x) => [x.provider, x.status]), [['a', 429], ['a', 200]]);
  });

  it('retry-after is capped by max_backoff_ms; backoff without retry-after grows exponentially', async () => {
    const t = await company(chain({ retry: { max_attempts_per_target: 3, backoff_ms: 150, max_backoff_ms: 400 } }));
    A.next({ status: 429, headers: { 'retry-after': '30' } });
    A.next({ status: 500 });
    const c = await call(t, {});
    assert.equal(c.served, 'a');
    assert.equal(A.requests.length, 3);
    const g1 = A.requests[1].at - A.requests[0].at;
    const g2 = A.requests[2].at - A.requests[1].at;
    assert.ok(g1 >= 380 && g1 < 2000, `retry-after 30 s capped at 400 ms, waited ${g1}`);
    assert.ok(g2 >= 280 && g2 < 1500, `second backoff 150×2 = 300 ms (≤ 400), waited ${g2}`);
  });

  it('401 falls back only when 401 is in on_status', async () => {
    let t = await company(chain());
    A.next({ status: 401, error: { message: 'Incorrect API key provided' } });
    const e = await failure(call(t, {}));
    assert.equal(e.status, 502, 'a rejected provider key is a gateway error');
    assert.equal(B.requests.length, 0, 'no fallback on 401 by default');
    assert.equal(e.headers.get('x-oag-route'), routeHeader('chain', AM, 1));

    t = await company(chain({ retry: { on_status: [401, 500] } }));
    A.next({ status: 401, error: { message: 'Incorrect API key provided' } });
    const c = await call(t, {});
    assert.equal(c.served, 'b');
    assert.equal(c.route, routeHeader('chain', BM, 2));
    // …and then 429 is not retried unless listed.
    A.next({ status: 429, error: { message: 'rate limited' } });
    const e2 = await failure(call(t, {}));
    assert.equal(e2.status, 429);
    assert.equal(B.requests.length, 1);
  });

  it('a connection refused moves to the next target', async () => {
    const t = await company(chain());
    await oag.putProvider(t.companyId, 'a', { kind: 'openai', base_url: 'http://127.0.0.1:1/v1', api_key: 'sk-a' });
    const c = await call(t, {});
    assert.equal(c.served, 'b');
    assert.equal(c.route, routeHeader('chain', BM, 2));
    const [e] = await t.ledger();
    assert.equal(e.attempts[0].provider, 'a');
    assert.equal(typeof e.attempts[0].error, 'string');
  });

  it('weighted targets: the other targets follow the pick, then the fallbacks', async () => {
    const t = await company({ rules: [{ name: 'w', then: { targets: [{ model: AM, weight: 1000000 }, { model: 'b/gpt-4.1-nano', weight: 1 }], fallbacks: [BM] } }] });
    A.next({ status: 500 });
    B.next({ status: 500 });
    const c = await call(t, { model: 'anything' });
    assert.equal(c.route, routeHeader('w', BM, 3));
    assert.deepEqual(B.requests.map((r) => r.body.model), ['gpt-4.1-nano', 'gpt-4o-mini']);
  });

  it('a stream that dies before its first chunk falls back; the client sees one clean stream', async () => {
    const t = await company(chain());
    A.next({ dieAfterBytes: 0 });
    A.next({ dieAfterBytes: 40 }); // mid first event
    const routes = [];
    for (let i = 0; i < 2; i++) {
      const { data: stream, response } = await t.client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_usage: true } }).withResponse();
      const chunks = await collect(stream);
      assert.equal(text(chunks), 'from B');
      assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
      assert.deepEqual([chunks.at(-1).usage.prompt_tokens, chunks.at(-1).usage.completion_tokens], [USAGE_B.prompt_tokens, USAGE_B.completion_tokens]);
      routes.push(response.headers.get('x-oag-route'));
    }
    assert.equal(A.requests.length, 2);
    assert.equal(B.requests.length, 2);
    const entries = await t.ledger();
    assert.equal(entries.length, 2);
    for (const e of entries) {
      assert.equal(e.provider, 'b');
      assert.equal(Number(e.cost_uot), expectedCost('openai/gpt-4o-mini', USAGE_B));
      assert.equal(e.attempts.length, 2);
    }
    // Two attempts made, the second served (as a non-streamed call reports it).
    assert.deepEqual(routes, [routeHeader('chain', BM, 2), routeHeader('chain', BM, 2)]);
  });

  it('a stream that dies after a chunk reached the client does not fall back: error event, no [DONE]', async () => {
    const t = await company(chain());
    A.next({ text: 'one two three four five six', dieAfterBytes: 700 });
    A.next({ text: 'one two three', dieBeforeDone: true });
    const routes = [];
    for (let i = 0; i < 2; i++) {
      const raw = await oag.stream('/v1/chat/completions', { model: 'auto', messages: [{ role: 'user', content: 'x' }], stream: true }, { token: t.key });
      assert.equal(raw.status, 200);
      routes.push(raw.headers.get('x-oag-route'));
      assert.ok(!raw.text.includes('[DONE]'), raw.text);
      const content = raw.events.filter((e) => e.json?.choices).map((e) => e.json.choices[0]?.delta?.content ?? '').join('');
      assert.ok(content.length > 0 && 'one two three four five six'.startsWith(content), `partial content from A: ${content}`);
      assert.ok(raw.events.at(-1).json?.error, `ends with an error event: ${raw.events.at(-1)?.data}`);
    }
    assert.equal(B.requests.length, 0, 'never a fallback after the first byte');
    assert.equal(Number((await t.wallet()).reserved_uot), 0);
    assert.ok(walletInvariantHolds(await t.wallet()));
    assert.deepEqual(routes, [routeHeader('chain', AM, 1), routeHeader('chain', AM, 1)], 'one attempt, on A');
  });

  it('first_token_timeout_ms: a silent upstream is abandoned for the fallback; a slow but healthy stream is not cut', async () => {
    const t = await company(chain({ retry: { first_token_timeout_ms: 400 } }));
    A.next({ delayMs: 3000 });
    const started = Date.now();
    const chunks = await collect(await t.client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'x' }], stream: true }));
    assert.equal(text(chunks), 'from B');
    assert.ok(Date.now() - started < 2500, `fell back after ${Date.now() - started} ms`);
    // The first event arrives at once, the rest in pieces 300 ms apart
    // (about 2 s in all), far past the first-token timeout.
    A.next({ text: 'slow but steady stream of words here', split: 400, writeDelayMs: 300 });
    const slowStarted = Date.now();
    const slow = await collect(await t.client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'x' }], stream: true }));
    assert.equal(text(slow), 'slow but steady stream of words here');
    assert.ok(Date.now() - slowStarted > 1000, 'the stream really was slow');
    assert.equal(B.requests.length, 1);
  });
});

// ===========================================================================
describe('circuit breaker', () => {
  it('opens after 5 consecutive failures: the 6th call never reaches the failing upstream and goes straight to the fallback; a probe after the cooldown closes it', async () => {
    const t = await company({ rules: [{ name: 'cb', then: { model: AM, fallbacks: [BM] } }] });
    A.setDefault({ status: 500, error: { message: 'always failing' } });
    for (let i = 0; i < 5; i++) {
      const c = await call(t, {});
      assert.equal(c.served, 'b');
      assert.equal(c.route, routeHeader('cb', BM, 2));
    }
    assert.equal(A.requests.length, 5);
    const started = Date.now();
    const c6 = await call(t, {});
    const took = Date.now() - started;
    assert.equal(c6.served, 'b');
    assert.equal(A.requests.length, 5, 'the open breaker kept the 6th call away from A');
    assert.equal(B.requests.length, 6);
    assert.ok(took < 1000, `straight to the fallback (${took} ms)`);
    const entries = await t.ledger();
    assert.equal(entries.length, 6);
    const sixth = entries.find((e) => e.response_id === c6.r.id);
    assert.equal(sixth.attempts.length, 2);
    assert.equal(sixth.attempts[0].provider, 'a');
    assert.match(sixth.attempts[0].error, /circuit/i);
    // After the 5 s cooldown one probe goes through; A is healthy again.
    A.setDefault({ text: 'from A', usage: USAGE_A });
    await sleep(5300);
    const c7 = await call(t, {});
    assert.equal(c7.served, 'a');
    assert.equal(A.requests.length, 6);
    const c8 = await call(t, {});
    assert.equal(c8.served, 'a', 'closed again');
  });
});

// ===========================================================================
describe('routing admin API', () => {
  const bad = [
    [{ rules: [{ when: { model: 'auto' }, then: {} }] }, '$.rules[0].then'],
    [{ rules: [{ when: { model: 'auto' } }] }, '$.rules[0].then'],
    [{ rules: [{ then: { model: AM } }, { when: { content_regex: '(unclosed' }, then: { model: AM } }] }, '$.rules[1].when.content_regex'],
    [{ rules: [{ when: { time: { weekdays: ['mon', 'funday'] } }, then: { model: AM } }] }, '$.rules[0].when.time.weekdays[1]'],
    [{ rules: [{ when: { time: { hours: '25:00-26:00' } }, then: { model: AM } }] }, '$.rules[0].when.time.hours'],
    [{ rules: [{ when: { time: { timezone: 'Mars/Olympus_Mons' } }, then: { model: AM } }] }, '$.rules[0].when.time.timezone'],
    [{ rules: [{ when: { budget: { month_fraction_gte: 0.8 } }, then: { model: AM } }] }, '$.rules[0].when.budget.month_fraction_gte'],
    [{ rules: [{ when: { budget: { balance_ot_lt: 5 } }, then: { model: AM } }] }, '$.rules[0].when.budget.balance_ot_lt'],
    [{ rules: [{ when: { colour: 'red' }, then: { model: AM } }] }, '$.rules[0].when.colour'],
    [{ rules: [{ then: { targets: [{ model: AM, weight: 0 }] } }] }, '$.rules[0].then.targets[0].weight'],
    [{ rules: [{ then: { model: AM, fallbacks: ['ok/model', 7] } }] }, '$.rules[0].then.fallbacks[1]'],
    [{ rules: [{ when: { prompt_tokens_gte: -1 }, then: { model: AM } }] }, '$.rules[0].when.prompt_tokens_gte'],
    [{ rules: [{ when: { has_tools: 'yes' }, then: { model: AM } }] }, '$.rules[0].when.has_tools'],
    [{ retry: { on_status: [429, 600] } }, '$.retry.on_status[1]'],
    [{ retry: { max_attempts_per_target: 0 } }, '$.retry.max_attempts_per_target'],
    [{ budget: { monthly_ot: '0' } }, '$.budget'],
    [{ timezone: 'Nowhere/Never' }, '$.timezone'],
    [{ rule: [] }, '$.rule'],
  ];

  it('invalid configs are 400 with `param` = the JSON path; the previous config stays in force', async () => {
    const t = await company();
    const good = { rules: [{ name: 'keep', when: { model: 'auto' }, then: { model: BM } }] };
    await putRouting(t, good);
    for (const [config, param] of bad) {
      const r = await oag.admin('PUT', `/admin/v1/companies/${t.companyId}/routing`, config);
      assert.equal(r.status, 400, `${JSON.stringify(config)} → ${r.status} ${r.text}`);
      assert.equal(r.json?.error?.type, 'invalid_request_error');
      assert.equal(r.json?.error?.param, param, `${JSON.stringify(config)}: ${r.text}`);
      assert.ok(r.json.error.message.includes(param), `message names the path: ${r.json.error.message}`);
    }
    const g = await oag.admin('GET', `/admin/v1/companies/${t.companyId}/routing`);
    assert.equal(g.status, 200);
    assert.deepEqual(g.json.config, good);
    assert.equal(g.json.source, 'company');
    const c = await call(t, {});
    assert.equal(c.route, routeHeader('keep', BM, 1));
  });

  it('GET, DELETE; the routing config survives a restart; rules get default names', async () => {
    const t = await company({ rules: [{ when: { model: 'auto' }, then: { model: BM } }] });
    let c = await call(t, {});
    assert.equal(c.route, routeHeader('rule-0', BM, 1));
    await oag.restart();
    t.client = oag.client(t.key);
    c = await call(t, {});
    assert.equal(c.route, routeHeader('rule-0', BM, 1), 'kept across a restart');
    const d = await oag.admin('DELETE', `/admin/v1/companies/${t.companyId}/routing`);
    assert.equal(d.status, 200);
    const e = await failure(call(t, {}));
    assert.equal(e.status, 404, '"auto" is no model without its rule');
    assert.equal((await oag.admin('GET', '/admin/v1/companies/co_nope/routing')).status, 404);
    assert.equal((await oag.request('PUT', `/admin/v1/companies/${t.companyId}/routing`, { body: {}, token: t.key })).status, 401, 'client keys cannot change routing');
  });
});
