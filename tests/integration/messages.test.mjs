// POST /v1/messages through the official Anthropic SDK (x-api-key auth):
// Anthropic-format requests routed like any call, to an OpenAI-format
// provider and to an Anthropic one, streamed and not, tools, errors in
// Anthropic's shape, exact ledger cost.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeOpenAI } from './fake_openai.mjs';
import { startFakeAnthropic } from './fake_providers.mjs';
import { expectedCost, startOag, walletInvariantHolds } from './harness.mjs';

let oag, openai, claude;
const M = 'fake/gpt-4o-mini';

before(async () => {
  [openai, claude] = await Promise.all([startFakeOpenAI(), startFakeAnthropic()]);
  oag = await startOag({ name: 'messages' });
});

after(async () => {
  await oag?.cleanup();
  await openai?.close();
  await claude?.close();
});

async function tenant() {
  const t = await oag.tenant({ name: `msg-${crypto.randomBytes(3).toString('hex')}`, fake: openai });
  t.anthropic = new Anthropic({ apiKey: t.key, baseURL: oag.url, maxRetries: 0, timeout: 20000 });
  return t;
}

const WEATHER = { name: 'get_weather', description: 'Current weather', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } };

describe('POST /v1/messages (Anthropic SDK)', () => {
  it('non-streamed to an OpenAI-format provider: translated request, Anthropic-shaped Message, cost exact', async () => {
    const t = await tenant();
    openai.reset();
    openai.next({ text: 'Hello, Claude client.', usage: { prompt_tokens: 25, completion_tokens: 6, cached_tokens: 5 } });
    const { data: msg, response } = await t.anthropic.messages
      .create({ model: M, max_tokens: 64, system: 'Be terse.', messages: [{ role: 'user', content: 'Hi' }], stop_sequences: ['END'], metadata: { user_id: 'u-1' }, temperature: 0.3 })
      .withResponse();
    const rec = openai.chatRequests()[0];
    assert.ok(rec, 'the call reached the upstream');
    assert.equal(rec.headers.authorization, `Bearer ${t.upstreamKey}`);
    assert.ok(!rec.raw.includes(t.key), 'the OAG key is not forwarded');
    const sys = rec.body.messages[0];
    assert.equal(sys.role, 'system');
    assert.equal(typeof sys.content === 'string' ? sys.content : sys.content.map((p) => p.text).join(''), 'Be terse.');
    assert.equal(rec.body.messages.length, 2);
    assert.equal(rec.body.messages[1].role, 'user');
    assert.equal(rec.body.max_completion_tokens ?? rec.body.max_tokens, 64);
    assert.deepEqual(rec.body.stop, ['END']);
    assert.equal(rec.body.user, 'u-1');
    assert.equal(rec.body.temperature, 0.3);
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.match(msg.id, /^msg_/);
    assert.equal(msg.model, M);
    assert.deepEqual(msg.content, [{ type: 'text', text: 'Hello, Claude client.' }]);
    assert.equal(msg.stop_reason, 'end_turn');
    assert.equal(msg.stop_sequence, null);
    assert.equal(msg.usage.input_tokens, 20, 'uncached input');
    assert.equal(msg.usage.cache_read_input_tokens, 5);
    assert.equal(msg.usage.output_tokens, 6);
    assert.match(response.headers.get('x-oag-route') || '', /^rule=-; target=fake\/gpt-4o-mini; attempts=1$/);
    const entries = await t.ledger();
    assert.equal(entries.length, 1);
    assert.equal(Number(entries[0].cost_uot), expectedCost('openai/gpt-4o-mini', { prompt_tokens: 25, completion_tokens: 6, cached_tokens: 5 }));
    assert.ok(walletInvariantHolds(await t.wallet()));
  });

  it('streamed: message_start, content blocks, message_delta with usage, message_stop; the SDK assembles the message', async () => {
    const t = await tenant();
    openai.reset();
    openai.next({ text: 'Streaming to an Anthropic client works.', usage: { prompt_tokens: 12, completion_tokens: 7 } });
    const stream = t.anthropic.messages.stream({ model: M, max_tokens: 64, messages: [{ role: 'user', content: 'Go' }] });
    const types = [];
    stream.on('streamEvent', (e) => types.push(e.type));
    const final = await stream.finalMessage();
    assert.equal(openai.chatRequests()[0].body.stream, true);
    assert.equal(final.content.length, 1);
    assert.equal(final.content[0].type, 'text');
    assert.equal(final.content[0].text, 'Streaming to an Anthropic client works.');
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.output_tokens, 7);
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.equal(types.at(-2), 'message_delta');
    assert.ok(types.includes('content_block_start') && types.includes('content_block_delta') && types.includes('content_block_stop'));
    const entries = await t.ledger();
    assert.equal(entries.length, 1);
    assert.equal(Number(entries[0].cost_uot), expectedCost('openai/gpt-4o-mini', { prompt_tokens: 12, completion_tokens: 7 }));
  });

  it('tools: OpenAI tool calls come back as tool_use blocks (streamed and not); tool_result history becomes tool messages', async () => {
    const t = await tenant();
    openai.reset();
    const toolCalls = [
      { id: 'call_a1', name: 'get_weather', arguments: { city: 'Oslo' } },
      { id: 'call_a2', name: 'get_weather', arguments: { city: 'Bergen' } },
    ];
    openai.next({ toolCalls });
    const msg = await t.anthropic.messages.create({ model: M, max_tokens: 64, tools: [WEATHER], messages: [{ role: 'user', content: 'Weather in Oslo and Bergen?' }] });
    const sent = openai.chatRequests()[0].body;
    assert.deepEqual(sent.tools, [{ type: 'function', function: { name: 'get_weather', description: 'Current weather', parameters: WEATHER.input_schema } }]);
    assert.equal(msg.stop_reason, 'tool_use');
    assert.deepEqual(
      msg.content.filter((b) => b.type === 'tool_use').map((b) => ({ id: b.id, name: b.name, input: b.input })),
      [
        { id: 'call_a1', name: 'get_weather', input: { city: 'Oslo' } },
        { id: 'call_a2', name: 'get_weather', input: { city: 'Bergen' } },
      ],
    );

    openai.next({ toolCalls, argChunks: 3 });
    const final = await t.anthropic.messages.stream({ model: M, max_tokens: 64, tools: [WEATHER], messages: [{ role: 'user', content: 'again' }] }).finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    assert.deepEqual(final.content.map((b) => [b.type, b.id, b.input]), [
      ['tool_use', 'call_a1', { city: 'Oslo' }],
      ['tool_use', 'call_a2', { city: 'Bergen' }],
    ]);

    openai.next({ text: 'Oslo 4, Bergen 9.' });
    await t.anthropic.messages.create({
      model: M,
      max_tokens: 64,
      tools: [WEATHER],
      messages: [
        { role: 'user', content: 'Weather in Oslo and Bergen?' },
        { role: 'assistant', content: msg.content },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_a1', content: '4 degrees' },
            { type: 'tool_result', tool_use_id: 'call_a2', content: [{ type: 'text', text: '9 degrees' }] },
          ],
        },
      ],
    });
    const hist = openai.chatRequests()[2].body.messages;
    assert.deepEqual(hist.map((m) => m.role), ['user', 'assistant', 'tool', 'tool']);
    assert.deepEqual(hist[1].tool_calls.map((c) => [c.id, c.function.name, JSON.parse(c.function.arguments)]), [
      ['call_a1', 'get_weather', { city: 'Oslo' }],
      ['call_a2', 'get_weather', { city: 'Bergen' }],
    ]);
    const content = (m) => (typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join(''));
    assert.deepEqual(hist.slice(2).map((m) => [m.tool_call_id, content(m)]), [
      ['call_a1', '4 degrees'],
      ['call_a2', '9 degrees'],
    ]);
  });

  it('routed to an Anthropic provider: Anthropic in, Anthropic out', async () => {
    const t = await tenant();
    await oag.putProvider(t.companyId, 'claude', { kind: 'anthropic', base_url: claude.origin, api_key: 'sk-ant-x', prices: { 'claude-x': { input: 3, cached_input: 0.3, output: 15 } } });
    claude.reset();
    claude.next({ text: 'From the real thing.', usage: { input_tokens: 10, output_tokens: 4 } });
    const msg = await t.anthropic.messages.create({ model: 'claude/claude-x', max_tokens: 99, system: 'sys', messages: [{ role: 'user', content: 'Hi' }] });
    const rec = claude.requests[0];
    assert.equal(rec.headers['x-api-key'], 'sk-ant-x');
    assert.equal(rec.body.model, 'claude-x');
    assert.equal(rec.body.max_tokens, 99);
    assert.equal(rec.body.system, 'sys');
    assert.deepEqual(msg.content, [{ type: 'text', text: 'From the real thing.' }]);
    assert.equal(msg.usage.input_tokens, 10);
    assert.equal(msg.usage.output_tokens, 4);
    const [e] = await t.ledger();
    assert.equal(Number(e.cost_uot), (10 * 3 + 4 * 15) * 1000); // $3/M × 10 + $15/M × 4 = $0.00009 = 90000 µO₮
  });

  it('routing applies: the `auto` rule decides for /v1/messages too', async () => {
    const t = await tenant();
    const r = await oag.admin('PUT', `/admin/v1/companies/${t.companyId}/routing`, { rules: [{ name: 'auto', when: { model: 'auto' }, then: { model: M } }] });
    assert.equal(r.status, 200, r.text);
    openai.reset();
    openai.next({ text: 'routed' });
    const { data, response } = await t.anthropic.messages.create({ model: 'auto', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).withResponse();
    assert.equal(data.model, 'auto');
    assert.equal(data.content[0].text, 'routed');
    assert.equal(response.headers.get('x-oag-route'), `rule=auto; target=${M}; attempts=1`);
  });

  it('errors in Anthropic’s shape: bad key 401, missing max_tokens 400 naming it, upstream 429 with retry-after', async () => {
    const t = await tenant();
    const bad = new Anthropic({ apiKey: 'oag-not-a-key', baseURL: oag.url, maxRetries: 0 });
    let e = await bad.messages.create({ model: M, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).then(() => null, (x) => x);
    assert.ok(e instanceof Anthropic.AuthenticationError, `got ${e}`);
    assert.equal(e.status, 401);
    assert.equal(e.error?.type, 'error');
    assert.equal(e.error?.error?.type, 'authentication_error');

    const raw = await oag.request('POST', '/v1/messages', { headers: { 'x-api-key': t.key, 'anthropic-version': '2023-06-01' }, body: { model: M, messages: [{ role: 'user', content: 'x' }] } });
    assert.equal(raw.status, 400);
    assert.equal(raw.json?.type, 'error');
    assert.equal(raw.json?.error?.type, 'invalid_request_error');
    assert.match(raw.json.error.message, /max_tokens/);

    openai.reset();
    openai.next({ status: 429, headers: { 'retry-after': '4' }, error: { message: 'Rate limit reached', type: 'requests' } });
    e = await t.anthropic.messages.create({ model: M, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).then(() => null, (x) => x);
    assert.ok(e instanceof Anthropic.RateLimitError, `got ${e}`);
    assert.equal(e.headers.get('retry-after'), '4');
    assert.equal(e.error?.error?.type, 'rate_limit_error');
    assert.match(e.error.error.message, /Rate limit reached/);
    assert.equal((await t.ledger()).length, 0);
  });
});
