// The Cockpit (/cockpit) in a real browser: playwright-core driving
// Debian's chromium headless against a real oag with a fake OpenAI
// upstream and a fake tool service.
//
//   - the file server: redirect, types, security headers, nothing outside
//     the directory;
//   - sign-in: a bad key shows OAG's error, a good key shows the pages, the
//     key stays out of the URL, sign-out forgets it;
//   - approvals: an agent with a gated server tool (`pay`) is fired, the
//     approval shows up live (WebSocket), Approve lets the run go on (the
//     tool service gets the call once, the run completes), the run log
//     shows the model calls and the tool call;
//     a stale page that decides again gets the 409 and shows who decided;
//   - agents: the list with triggers and last runs;
//   - errors: a network failure and an API error are shown (with Retry);
//   - chat: tokens stream into the bubble (the upstream writes its chunks
//     with pauses), the final usage and O₮ cost show, a follow-up goes to
//     the same thread, Stop cancels;
//   - spend: wallet, the SVG bar chart, the ledger;
//   - phone width (390 px): no horizontal scrolling; screenshots of every
//     page go to tests/artifacts/cockpit-*.png;
//   - no console errors and no page errors anywhere.
//
// Chromium: /usr/bin/chromium (OAG_CHROMIUM overrides). Missing, the test
// fails when CI is set and is skipped otherwise.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startFakeOpenAI } from './fake_openai.mjs';
import { startFakeToolService } from './fake_tool_service.mjs';
import { ARTIFACTS, startOag, waitFor } from './harness.mjs';

const CHROMIUM = process.env.OAG_CHROMIUM || '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
const MODEL = 'fake/gpt-4o-mini';
const T = { timeout: 120000 };

if (!haveChromium && process.env.CI) {
  // Not a skip: CI must run the browser tests.
  describe('cockpit', () => {
    it('needs chromium', () => {
      assert.fail(`chromium not found at ${CHROMIUM}: install Debian's chromium package (scripts/install-deps.sh does) or set OAG_CHROMIUM`);
    });
  });
}

describe('cockpit', { skip: haveChromium ? false : `chromium not found at ${CHROMIUM} (apt-get install chromium)` }, () => {
  let oag;
  let fake;
  let svc;
  let browser;
  let context;
  let page;
  let t; // the tenant
  const problems = []; // console errors and page errors, with the page they came from
  const expectedProblems = []; // patterns allowed at a given moment (the bad sign-in's 401)
  let holdEvents = false;

  const shot = async (name, p = page) => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, `cockpit-${name}.png`);
    await p.screenshot({ path: file, fullPage: true });
    return file;
  };

  const go = async (hash) => {
    await page.evaluate((h) => {
      location.hash = h;
    }, hash);
    await page.locator('main h1').first().waitFor();
  };

  before(async () => {
    const { chromium } = await import('playwright-core');
    fake = await startFakeOpenAI();
    svc = await startFakeToolService();
    oag = await startOag({ name: 'cockpit' });
    t = await oag.tenant({ fake, credit: '1000' });
    const s = await oag.admin('PUT', `/admin/v1/companies/${t.companyId}/settings`, { tool_network_allowlist: ['127.0.0.1'] });
    assert.equal(s.status, 200, s.text);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    // The Cockpit's WebSockets pass through the test, which can hold the
    // server's events back to make the page stale (the 409 case).
    await page.routeWebSocket(/\/v1\/realtime\/chat/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => server.send(m));
      server.onMessage((m) => {
        if (!holdEvents) ws.send(m);
      });
    });
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const text = msg.text();
      if (expectedProblems.some((re) => re.test(text))) return;
      problems.push(`console error on ${page.url()}: ${text}`);
    });
    page.on('pageerror', (err) => problems.push(`page error on ${page.url()}: ${err.message}`));
  });

  after(async () => {
    await browser?.close();
    await oag?.cleanup();
    await fake?.close();
    await svc?.close?.();
  });

  it('serves the static files safely', T, async () => {
    const r0 = await fetch(`${oag.url}/cockpit`, { redirect: 'manual' });
    assert.ok([301, 302, 307, 308].includes(r0.status), `redirect: ${r0.status}`);
    assert.equal(r0.headers.get('location'), '/cockpit/');
    const index = await fetch(`${oag.url}/cockpit/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type'), /^text\/html/);
    assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const csp = index.headers.get('content-security-policy');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /connect-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(await index.text(), /<script type="module" src="app.js">/);
    const js = await fetch(`${oag.url}/cockpit/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /^text\/javascript/);
    const sub = await fetch(`${oag.url}/cockpit/pages/chat.js`);
    assert.equal(sub.status, 200);
    for (const bad of ['/cockpit/../README.md', '/cockpit/%2e%2e/README.md', '/cockpit/.gitignore', '/cockpit/nope.js', '/cockpit/pages', '/cockpit/a/b/c.js', '/cockpit/..%2fREADME.md']) {
      const r = await fetch(oag.url + bad);
      assert.equal(r.status, 404, `${bad}: ${r.status}`);
      const body = await r.json();
      assert.equal(typeof body.error.message, 'string', bad);
    }
    const post = await fetch(`${oag.url}/cockpit/app.js`, { method: 'POST' });
    assert.equal(post.status, 405);
  });

  it('signs in: a bad key shows the error, a good key the pages', T, async () => {
    await page.goto(`${oag.url}/cockpit/`);
    await page.locator('#key').waitFor();
    // The refused key is a 401 the browser reports on its console: expected here only.
    expectedProblems.push(/401/);
    await page.fill('#key', 'oag-not-a-real-key');
    await page.press('#key', 'Enter');
    const err = page.locator('#signin-error');
    await err.filter({ hasText: 'Sign-in failed' }).waitFor();
    assert.match(await err.textContent(), /Sign-in failed: .*(key|Key)/);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    expectedProblems.pop();
    await shot('signin-error');

    await page.fill('#key', t.key);
    await page.click('button[type=submit]');
    await page.locator('h1', { hasText: 'Approvals' }).waitFor();
    await page.locator('text=No pending approvals').waitFor();
    assert.ok(!page.url().includes(t.key), 'the key is not in the URL');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('oag.cockpit.key')), t.key);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    // The live feed is up (the approvals come over the WebSocket).
    await page.locator('.live-badge', { hasText: 'Live' }).waitFor({ timeout: 10000 });
    await shot('approvals-empty');
  });

  let agent;
  let agentRunId;

  it('approves a parked tool call live and the run goes on', T, async () => {
    const tool = await t.post('/v1/tools', {
      name: 'pay',
      description: 'Pays an invoice',
      parameters: { type: 'object', properties: { amount: { type: 'number' }, to: { type: 'string' } }, required: ['amount', 'to'], additionalProperties: false },
      endpoint: { method: 'POST', url: `${svc.origin}/echo`, timeout_ms: 3000 },
    });
    assert.ok(tool.status === 200 || tool.status === 201, tool.text);
    const a = await t.post('/v1/agents', {
      name: 'Accounts payable',
      description: 'Pays approved invoices',
      model: MODEL,
      instructions: 'Pay what you are asked to pay.',
      tools: [{ type: 'function', function: { name: 'pay' } }],
      triggers: [{ type: 'cron', schedule: '0 9 * * 1' }, { type: 'topic', pattern: 'invoices.*' }],
      approval: { tools: { pay: 'always' } },
    });
    assert.ok(a.status === 200 || a.status === 201, a.text);
    agent = a.json;

    fake.reset();
    fake.next({ toolCalls: [{ name: 'pay', arguments: { amount: 42.5, to: 'ACME <script>alert(1)</script>' } }], usage: { prompt_tokens: 30, completion_tokens: 12 } });
    fake.next({ text: 'Paid 42.50 to ACME.', usage: { prompt_tokens: 50, completion_tokens: 8 } });
    svc.reset();
    const fired = await t.post(`/v1/agents/${agent.id}/runs`, { input: 'Pay invoice 7 of ACME: 42.50' });
    assert.ok(fired.status === 200 || fired.status === 201 || fired.status === 202, fired.text);
    agentRunId = fired.json.id;

    // Live: the card shows up without a reload (polling is off while the socket is up).
    const card = page.locator('#pending-approvals article.approval');
    await card.first().waitFor({ timeout: 10000 });
    assert.equal(await card.count(), 1);
    const text = await card.first().textContent();
    assert.match(text, /pay/);
    assert.match(text, /Accounts payable/);
    assert.match(text, /42\.5/);
    assert.match(text, /Expires in/);
    // Arguments are shown as text, pretty-printed, never as markup.
    assert.match(await card.locator('pre.args').textContent(), /"to": "ACME <script>alert\(1\)<\/script>"/);
    assert.equal(await page.locator('#pending-approvals script').count(), 0);
    assert.equal(await card.locator(`a[href="#/runs/${agentRunId}"]`).count(), 1);
    assert.equal(svc.requests.length, 0, 'the tool is not called before the approval');
    await shot('approvals-pending');

    await card.first().locator('button[data-action=approve]').click();
    await page.locator('#decided-approvals article.approval', { hasText: 'approved' }).waitFor();
    await page.locator('text=No pending approvals').waitFor();

    const done = await waitFor(async () => {
      const r = await t.get(`/v1/agent-runs/${agentRunId}`);
      return ['completed', 'failed', 'cancelled', 'expired'].includes(r.json?.status) ? r.json : null;
    }, { timeoutMs: 20000, what: 'the agent run to finish' });
    assert.equal(done.status, 'completed', JSON.stringify(done.last_error));
    assert.equal(svc.requests.length, 1, 'the tool service got the call once');
    assert.equal(svc.requests[0].body.amount, 42.5);

    // A second click (a stale page) would be a 409: the API says by whom.
    const again = await t.post(`/v1/approvals/${done.approvals[0].id ?? done.approvals[0]}/approve`, {});
    assert.equal(again.status, 409);
    assert.match(again.json.error.message, /already decided/);
  });

  it('shows who decided first when a stale page decides again (409)', T, async () => {
    fake.next({ toolCalls: [{ name: 'pay', arguments: { amount: 7, to: 'Globex' } }] });
    fake.next({ text: 'Paid 7 to Globex.' });
    const fired = await t.post(`/v1/agents/${agent.id}/runs`, { input: 'Pay Globex 7' });
    const runId = fired.json.id;
    const card = page.locator('#pending-approvals article.approval', { hasText: 'Globex' });
    await card.waitFor({ timeout: 10000 });
    const approvalId = await card.getAttribute('data-approval-id');
    // Someone else approves while this page hears nothing.
    holdEvents = true;
    const other = await t.post(`/v1/approvals/${approvalId}/approve`, { reason: 'ok by phone' });
    assert.equal(other.status, 200, other.text);
    expectedProblems.push(/409/);
    try {
      // With the keyboard: focus Reject, press Enter.
      await card.locator('button[data-action=reject]').focus();
      await page.keyboard.press('Enter');
      const notice = page.locator('.notices .notice', { hasText: 'already decided' });
      await notice.waitFor();
      assert.match(await notice.textContent(), /already decided: approved by api/);
      // The page refreshed: the approval is among the decided ones, approved.
      await page.locator(`#decided-approvals article[data-approval-id="${approvalId}"]`, { hasText: 'approved' }).waitFor();
      assert.equal(await page.locator(`#pending-approvals article[data-approval-id="${approvalId}"]`).count(), 0);
    } finally {
      expectedProblems.pop();
      holdEvents = false;
    }
    const done = await waitFor(async () => {
      const r = await t.get(`/v1/agent-runs/${runId}`);
      return r.json?.status === 'completed' ? r.json : null;
    }, { timeoutMs: 20000, what: 'the second run to complete' });
    assert.equal(done.approvals[0].status, 'approved');
    assert.equal(svc.requests.length, 2, 'one call per approved run');
  });

  it('shows the run log', T, async () => {
    await go(`#/runs/${agentRunId}`);
    await page.locator('#run-status', { hasText: 'completed' }).waitFor({ timeout: 10000 });
    const log = page.locator('#run-log');
    await log.waitFor();
    assert.ok((await log.locator('[data-kind=model_call]').count()) >= 2, 'two model calls');
    const toolEntry = log.locator('[data-kind=tool_call]');
    assert.equal(await toolEntry.count(), 1);
    assert.match(await toolEntry.textContent(), /pay/);
    assert.match(await toolEntry.textContent(), /42\.5/);
    assert.match(await toolEntry.textContent(), /ms/);
    // The prompt stack is collapsed until asked for.
    const details = log.locator('[data-kind=model_call] details').first();
    assert.equal(await details.evaluate((d) => d.open), false);
    await details.locator('summary').click();
    assert.equal(await details.evaluate((d) => d.open), true);
    assert.match(await page.locator('main').textContent(), /Paid 42\.50 to ACME\./);
    assert.match(await page.locator('#run-cost').textContent(), /O₮/);
    await shot('run-log');
  });

  it('lists the agents with triggers and last runs', T, async () => {
    await go('#/agents');
    const card = page.locator(`article.agent[data-agent-id="${agent.id}"]`);
    await card.waitFor();
    const text = await card.textContent();
    assert.match(text, /Accounts payable/);
    assert.match(text, /cron 0 9 \* \* 1 UTC/);
    assert.match(text, /topic invoices\.\*/);
    assert.match(text, /pay: always/);
    await card.locator(`tr[data-run-id="${agentRunId}"]`).waitFor();
    assert.match(await card.locator(`tr[data-run-id="${agentRunId}"]`).textContent(), /completed/);
    await shot('agents');
    await card.locator('h3 a').click();
    await page.locator('h1', { hasText: 'Accounts payable' }).waitFor();
    await page.locator(`tr[data-run-id="${agentRunId}"]`).waitFor();
  });

  it('shows network and API errors, and recovers', T, async () => {
    expectedProblems.push(/ERR_FAILED|503|Failed to load resource/);
    try {
      await page.route(/\/v1\/agents\?/, (r) => r.abort('failed'));
      await go('#/agents');
      await page.locator('.error-box', { hasText: 'Cannot reach OAG' }).waitFor();
      await page.unroute(/\/v1\/agents\?/);
      const busy = { error: { message: 'OAG is shutting down; retry shortly.', type: 'server_error', param: null, code: null } };
      await page.route(/\/v1\/spend\?/, (r) => r.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify(busy) }));
      await go('#/spend');
      await page.locator('#spend-chart .error-box', { hasText: 'Error 503: OAG is shutting down; retry shortly.' }).waitFor();
      await shot('spend-error');
      await page.unroute(/\/v1\/spend\?/);
      await page.locator('#spend-chart .error-box button', { hasText: 'Retry' }).click();
      await page.locator('#spend-chart svg.chart').waitFor();
    } finally {
      expectedProblems.pop();
    }
  });

  it('chats: tokens stream, the cost shows, a follow-up stays on the thread, Stop cancels', T, async () => {
    await go('#/chat');
    await page.locator(`#chat-target option[value="${MODEL}"]`).waitFor({ state: 'attached' });
    await page.selectOption('#chat-kind', 'model');
    await page.selectOption('#chat-target', MODEL);

    const chunks = ['Streaming ', 'tokens ', 'one ', 'by ', 'one ', 'into ', 'the ', 'bubble.'];
    const answer = chunks.join('');
    fake.reset();
    fake.next({ chunks, split: 120, writeDelayMs: 50, usage: { prompt_tokens: 21, completion_tokens: 8 } });
    await page.fill('#chat-input', 'Hello, stream please');
    await page.press('#chat-input', 'Enter');
    // Watch the bubble grow: several distinct partial texts before the end.
    const seen = await page.evaluate(
      (final) =>
        new Promise((resolve) => {
          const partial = new Set();
          const start = Date.now();
          const tick = () => {
            const b = document.querySelector('#chat-log .bubble-assistant .bubble-text');
            const text = b ? b.textContent : '';
            if (text && text !== final) partial.add(text);
            if (text === final || Date.now() - start > 15000) return resolve([...partial]);
            requestAnimationFrame(tick);
          };
          tick();
        }),
      answer,
    );
    assert.ok(seen.length >= 3, `the answer streamed in pieces: saw ${JSON.stringify(seen)}`);
    assert.ok(seen.every((s) => answer.startsWith(s)), `partial texts are prefixes: ${JSON.stringify(seen)}`);
    const foot = page.locator('#chat-log .bubble-assistant .bubble-foot.has-cost').first();
    await foot.waitFor();
    const footText = await foot.textContent();
    assert.match(footText, /29 tokens \(21 in, 8 out\)/);
    assert.match(footText, /[0-9.]+ O₮/);
    // The cost shown is the ledger's.
    const ledger = await t.ledger();
    const entry = ledger[ledger.length - 1];
    const shown = footText.match(/([0-9.]+) O₮/)[1];
    assert.equal(Math.round(Number(shown) * 1e6), entry.cost_uot, `${footText} vs ${JSON.stringify(entry)}`);
    await page.locator('#chat-status', { hasText: 'Ready' }).waitFor();
    const status1 = await page.locator('#chat-status').textContent();
    const threadId = status1.match(/thread (thread_\S+)/)?.[1];
    assert.ok(threadId, status1);
    await shot('chat');

    // A follow-up goes to the same thread.
    fake.next({ text: 'Second answer.', usage: { prompt_tokens: 40, completion_tokens: 3 } });
    await page.fill('#chat-input', 'And again');
    await page.click('#chat-send');
    await page.locator('#chat-log .bubble-assistant', { hasText: 'Second answer.' }).waitFor();
    await page.locator('#chat-status', { hasText: 'Ready' }).waitFor();
    assert.match(await page.locator('#chat-status').textContent(), new RegExp(threadId));
    const msgs = await t.client.beta.threads.messages.list(threadId);
    assert.equal(msgs.data.length, 4, 'two user messages and two answers on one thread');

    // Stop mid-stream.
    fake.next({ chunks: Array.from({ length: 60 }, (_, i) => `w${i} `), split: 120, writeDelayMs: 50 });
    await page.fill('#chat-input', 'A long one');
    await page.click('#chat-send');
    await page.locator('#chat-log .bubble-assistant.streaming').waitFor();
    await waitFor(async () => (await page.locator('#chat-log .bubble-assistant.streaming .bubble-text').textContent()).length > 3, { what: 'some tokens' });
    assert.equal(await page.locator('#chat-stop').isEnabled(), true);
    await page.click('#chat-stop');
    await page.locator('#chat-log .chat-note', { hasText: 'Stopped.' }).waitFor({ timeout: 15000 });
    assert.equal(await page.locator('#chat-send').isEnabled(), true);
    const cut = await page.locator('#chat-log .bubble-assistant').last().textContent();
    assert.ok(!cut.includes('w59'), 'the answer was cut');
  });

  it('shows the spend with a chart and the ledger', T, async () => {
    await go('#/spend');
    await page.locator('.stat-main .stat-value', { hasText: 'O₮' }).waitFor();
    const w = await t.wallet();
    assert.equal(await page.locator('.stat-main .stat-value').textContent(), `${w.balance_ot} O₮`);
    await page.locator('#spend-chart svg.chart rect.bar').first().waitFor();
    assert.ok((await page.locator('#spend-chart svg.chart rect.bar').count()) >= 1);
    assert.match(await page.locator('.total').textContent(), /Total over the last 30 days: [0-9.]+ O₮/);
    await page.locator('table.ledger tbody tr').first().waitFor();
    await shot('spend');
    await page.click('button[data-group=model]');
    await page.locator('#spend-chart svg.chart text', { hasText: MODEL }).waitFor();
    await page.click('button[data-group=agent]');
    await page.locator('#spend-chart svg.chart text', { hasText: 'Accounts payable' }).waitFor();
    await shot('spend-agents');
  });

  it('is usable at phone width', T, async () => {
    const phone = await context.newPage();
    phone.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error (phone) on ${phone.url()}: ${msg.text()}`);
    });
    phone.on('pageerror', (err) => problems.push(`page error (phone) on ${phone.url()}: ${err.message}`));
    await phone.setViewportSize({ width: 390, height: 844 });
    // Same tab storage is per page: sign in again.
    await phone.goto(`${oag.url}/cockpit/`);
    await phone.fill('#key', t.key);
    await phone.press('#key', 'Enter');
    await phone.locator('h1', { hasText: 'Approvals' }).waitFor();
    for (const [hash, name, ready] of [
      ['#/approvals', 'phone-approvals', '#decided-approvals article'],
      ['#/agents', 'phone-agents', 'article.agent tr[data-run-id]'],
      [`#/runs/${agentRunId}`, 'phone-run-log', '#run-log'],
      ['#/spend', 'phone-spend', '#spend-chart svg.chart'],
      ['#/chat', 'phone-chat', '#chat-input'],
    ]) {
      await phone.evaluate((h) => {
        location.hash = h;
      }, hash);
      await phone.locator(ready).first().waitFor();
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `${hash}: the page scrolls sideways by ${overflow}px at 390px`);
      await shot(name, phone);
    }
    // Keyboard: the nav links are reachable with Tab.
    await phone.keyboard.press('Tab');
    const focused = await phone.evaluate(() => document.activeElement && document.activeElement.textContent);
    assert.ok(focused, 'something takes the focus');
    await phone.close();
  });

  it('signs out and forgets the key', T, async () => {
    await go('#/approvals');
    await page.click('button.signout');
    await page.locator('#key').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('oag.cockpit.key')), null);
    await page.locator('text=You are signed out.').waitFor();
    // Back to a page: sign-in again.
    await page.evaluate(() => {
      location.hash = '#/spend';
    });
    await page.locator('#key').waitFor();
  });

  it('had no console errors', () => {
    assert.deepEqual(problems, []);
  });
});

void crypto;
