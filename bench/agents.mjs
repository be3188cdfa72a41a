// Autonomous-agents benchmark (issue 5), driven by scripts/bench-agents.sh.
//
// A fake OpenAI upstream and a fake tool service run in this node process
// (plain node:http, keep-alive); every model call's arrival is timed here.
//
// 1. Topic fan-out. Starts oag (fresh data dir, durability wal), one company
//    whose provider `fake` points at the fake upstream, and creates A agents
//    over HTTP (keep-alive, concurrency C) on model fake/gpt-4o-mini, agent i
//    subscribed to pattern i % P: `bench.p<k>.*`, or `bench.p<k>.**` for the
//    last 1 % of the patterns, so each pattern has A / P subscribers; each
//    agent's input template is `{{event_id}}`, so the run's user message names
//    the event and the upstream maps each model call back to its publish.
//    Publishes E/2 events (POST /v1/topics/bench.p<k>.x/events) at a steady
//    rate R, then E/2 at full speed (4 publishers back to back), and reports
//    events/s accepted, deliveries (model calls of agent runs reaching the
//    upstream)/s, publish latency, publish-to-run-start latency (the 202 →
//    the run's model call arrives at the upstream), RSS with A agents indexed,
//    idle CPU, and the restart (SIGTERM, then kill -9): spawn → /readyz,
//    spawn → one event's 202, first and last of its deliveries at the upstream.
// 2. Parked approvals. A second daemon (own data dir): one agent whose tool
//    `pay` (registered with POST /v1/tools, endpoint on the fake tool
//    service; the company allowlist names 127.0.0.1) is gated with
//    approval {tools: {pay: "always"}}; the fake upstream answers a run's
//    first call with a `pay` tool call and later calls with text. M runs are
//    fired (POST /v1/agents/{id}/runs, concurrency C) and each parks on an
//    approval (GET /v1/approvals?status=pending counted). RSS per parked run
//    (ΔRSS ÷ M and the second half's slope), idle CPU; then restarts
//    (SIGTERM, kill -9): spawn → /readyz, spawn → one approval approved and
//    its agent run completed, spawn → 100 spread approvals approved and their
//    runs completed.
// 3. Writes results.json and a markdown section; with --write FILE replaces
//    the text between <!-- bench-agents:begin --> and <!-- bench-agents:end -->.
//
// node bench/agents.mjs --oag BIN --dir DIR --prices FILE [--agents 100000]
//      [--patterns 1000] [--events 200] [--rate 2] [--parked 10000]
//      [--concurrency 32] [--sample 100] [--only fanout|parked]
//      [--write docs/PERFORMANCE.md] [--quick]
// The daemon's pid is kept in DIR/oag.pid (the shell script's trap kills it).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { cpu, duKb, idleCpu as procIdleCpu, loadavg, memory, pool, tail } from './lib/proc.mjs';

// ---- arguments -------------------------------------------------------------------

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const flag = (name) => args.includes(`--${name}`);
const QUICK = flag('quick');
const OAG = opt('oag');
const DIR = opt('dir');
const PRICES = opt('prices');
const AGENTS = Number(opt('agents', QUICK ? '10000' : '100000'));
const PATTERNS = Number(opt('patterns', QUICK ? '100' : '1000'));
const EVENTS = Number(opt('events', QUICK ? '20' : '200'));
const RATE = Number(opt('rate', '2'));
const PARKED = Number(opt('parked', QUICK ? '1000' : '10000'));
const C = Number(opt('concurrency', '32'));
const PUBLISHERS = Number(opt('publishers', '4'));
const SAMPLE = Number(opt('sample', '100'));
const ONLY = opt('only', 'all');
const PERF = flag('perf'); // perf record -g the daemon during the full-speed phase and the second half of the parking (DIR/perf-*.data)
const WRITE = opt('write', null);
const CLK_TCK = Number(opt('clk-tck', '100'));
const idleCpu = (pid, secs = IDLE_CPU_S) => procIdleCpu(pid, secs, CLK_TCK);
const IDLE_SETTLE_S = 3;
const IDLE_CPU_S = 5;
const MODEL = 'fake/gpt-4o-mini';
if (!opt('report') && (!OAG || !DIR || !PRICES) ||  !(AGENTS >= PATTERNS) || !(PATTERNS >= 1) || !(EVENTS >= 2) || !(PARKED >= 10) || !(C > 0) || !(RATE > 0)) {
  console.error('usage: node bench/agents.mjs --oag BIN --dir DIR --prices FILE [--agents A ≥ patterns] [--patterns P] [--events E ≥ 2] [--parked M ≥ 10] [--rate R] [--concurrency C]');
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('[bench-agents]', ...a);
class BenchError extends Error {}
const die = (msg) => {
  throw new BenchError(msg);
};

// ---- the fake upstream and the fake tool service (this process) -------------------

/** Model calls seen: event id → arrival times (performance.now()); per-kind counters. */
const upstream = { server: null, port: 0, byEvent: new Map(), calls: 0, firstCalls: 0, laterCalls: 0, errors: 0 };
const toolService = { server: null, port: 0, calls: 0 };

function sseBody(model, message, finish) {
  const base = { id: `chatcmpl-b${upstream.calls}`, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model };
  const chunks = [
    { ...base, choices: [{ index: 0, delta: message, logprobs: null, finish_reason: null }] },
    { ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finish }] },
    { ...base, choices: [], usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } },
  ];
  return chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join('') + 'data: [DONE]\n\n';
}

function onUpstream(req, res) {
  const t = performance.now();
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    upstream.calls += 1;
    let body;
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch {
      upstream.errors += 1;
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"bad json"}}');
      return;
    }
    const msgs = Array.isArray(body.messages) ? body.messages : [];
    const lastUser = [...msgs].reverse().find((m) => m.role === 'user');
    const text = typeof lastUser?.content === 'string' ? lastUser.content : JSON.stringify(lastUser?.content ?? '');
    const ev = text.match(/\bbench-[A-Za-z0-9_-]+/);
    if (ev) {
      const list = upstream.byEvent.get(ev[0]);
      if (list) list.push(t);
      else upstream.byEvent.set(ev[0], [t]);
    }
    const offersPay = Array.isArray(body.tools) && body.tools.some((x) => x?.function?.name === 'pay');
    const hasToolResult = msgs.some((m) => m.role === 'tool');
    let message;
    let finish;
    if (offersPay && !hasToolResult) {
      upstream.firstCalls += 1;
      message = {
        role: 'assistant',
        content: null,
        tool_calls: [{ index: 0, id: `call_${crypto.randomBytes(6).toString('hex')}`, type: 'function', function: { name: 'pay', arguments: '{"amount":5,"to":"ACME"}' } }],
      };
      finish = 'tool_calls';
    } else {
      if (offersPay) upstream.laterCalls += 1;
      message = { role: 'assistant', content: 'Done.' };
      finish = 'stop';
    }
    const model = body.model || 'gpt-4o-mini';
    if (body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.end(sseBody(model, message, finish));
    } else {
      const out = {
        id: `chatcmpl-b${upstream.calls}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message: { ...message, tool_calls: message.tool_calls?.map(({ index, ...c }) => c) }, finish_reason: finish }],
        usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(out));
    }
  });
}

function onTool(req, res) {
  req.resume();
  req.on('end', () => {
    toolService.calls += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"paid":true,"receipt":"r-1"}');
  });
}

async function listen(handler) {
  const server = http.createServer({ keepAliveTimeout: 120000 }, handler);
  server.keepAliveTimeout = 120000;
  server.headersTimeout = 130000;
  server.requestTimeout = 0;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

// ---- the daemon ------------------------------------------------------------------

const adminToken = `adm_${crypto.randomBytes(18).toString('hex')}`;
const masterKey = crypto.randomBytes(32).toString('base64');
const configFile = DIR ? path.join(DIR, 'oag.json') : '';
if (DIR) fs.writeFileSync(
  configFile,
  JSON.stringify({ listen: '127.0.0.1:0', demo: false, prices_file: PRICES, durability: 'wal', providers: { mock: { kind: 'mock' } } }, null, 2),
);

let daemon = null; // { proc, pid, url, exited, logFile, t0, wall0, dataDir }
let spawnCount = 0;

/** Spawns oag on dataDir; resolves when it printed its listening line. Times are ms from spawn. */
async function startDaemon(dataDir, tag) {
  spawnCount += 1;
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(DIR, `oag-${spawnCount}-${tag}.log`);
  const fd = fs.openSync(logFile, 'a');
  const wall0 = Date.now();
  const t0 = performance.now();
  const proc = spawn(OAG, ['serve', '--config', configFile, '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, OAG_ADMIN_TOKEN: adminToken, OAG_MASTER_KEY: masterKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const d = { proc, pid: proc.pid, url: '', exited: null, logFile, t0, wall0, dataDir, listeningMs: NaN };
  daemon = d;
  fs.writeFileSync(path.join(DIR, 'oag.pid'), `${proc.pid}\n`);
  proc.on('exit', (code, signal) => {
    d.exited = { code, signal };
  });
  proc.stderr.on('data', (b) => fs.writeSync(fd, b));
  let buf = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new BenchError(`oag did not print its listening line within 120 s; log ${logFile}:\n${tail(logFile)}`)), 120000);
    proc.stdout.on('data', (b) => {
      fs.writeSync(fd, b);
      if (d.url) return;
      buf += b.toString('utf8');
      const m = buf.match(/OAG listening on http:\/\/[^:\s]+:(\d+)/);
      if (m) {
        d.listeningMs = performance.now() - t0;
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new BenchError(`oag exited before listening (code ${code}, signal ${signal}); log ${logFile}:\n${tail(logFile)}`));
    });
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(new BenchError(`cannot start ${OAG}: ${e.message}`));
    });
  });
  d.url = `http://127.0.0.1:${port}`;
  return d;
}

async function stopDaemon(signal) {
  const d = daemon;
  if (!d || d.exited) return { ms: 0, exit: d?.exited };
  const t = performance.now();
  const done = new Promise((r) => d.proc.once('exit', (code, sig) => r({ code, signal: sig })));
  d.proc.kill(signal);
  const exit = await Promise.race([done, sleep(60000).then(() => null)]);
  if (!exit) {
    d.proc.kill('SIGKILL');
    die(`oag did not exit within 60 s of ${signal}`);
  }
  return { ms: performance.now() - t, exit };
}


const alive = () => {
  if (daemon.exited) die(`oag died (code ${daemon.exited.code}, signal ${daemon.exited.signal}); log ${daemon.logFile}:\n${tail(daemon.logFile)}`);
};

async function waitReady(d) {
  for (;;) {
    try {
      const r = await fetch(`${d.url}/readyz`, { signal: AbortSignal.timeout(5000) });
      await r.text();
      if (r.status === 200) return performance.now() - d.t0;
    } catch {}
    alive();
    if (performance.now() - d.t0 > 180000) die('/readyz not 200 within 180 s of spawn');
    await sleep(2);
  }
}

/** ms from the daemon's spawn to the first log line matching `re` (log stamps are UTC, ms). */
function logStampMs(d, re) {
  const text = fs.readFileSync(d.logFile, 'utf8');
  const m = text.match(new RegExp(`^(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d+)\\S* \\w+ ${re}`, 'm'));
  return m ? Date.parse(m[1] + 'Z') - d.wall0 : NaN;
}
function logLine(d, re) {
  const text = fs.readFileSync(d.logFile, 'utf8');
  return (text.match(new RegExp(`${re}[^\\n]*`)) || [''])[0];
}

/** Starts `perf record` on the daemon (with --perf); returns a stop function. */
function perfStart(name) {
  if (!PERF) return async () => {};
  const out = path.join(DIR, `perf-${name}.data`);
  const proc = spawn('perf', ['record', '-F', '499', '-g', '-p', String(daemon.pid), '-o', out], { stdio: ['ignore', 'ignore', 'ignore'] });
  return async () => {
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGINT');
    await Promise.race([done, sleep(10000)]);
    log(`  perf profile: ${out}`);
  };
}

// ---- /proc -----------------------------------------------------------------------





// ---- HTTP (global fetch: undici, keep-alive) ---------------------------------------

async function http_(method, p, { body, token, timeoutMs = 120000 } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(daemon.url + p, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    alive();
    throw new BenchError(`${method} ${p}: ${e.cause?.code || e.name}: ${e.cause?.message || e.message}`);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, json, text };
}

async function must(method, p, opts, want = 200) {
  for (let attempt = 0; ; attempt++) {
    const r = await http_(method, p, opts);
    // 503: the company is still being restored (retried for up to 2 minutes).
    if (r.status === 503 && attempt < 6000) {
      await sleep(20);
      continue;
    }
    const wants = Array.isArray(want) ? want : [want];
    if (!wants.includes(r.status)) die(`${method} ${p}: HTTP ${r.status} ${r.text.slice(0, 400)}`);
    return r.json;
  }
}

/** Runs fn(i) for i in [0, n) with `conc` workers; stops at the first error. */

async function waitUntil(what, pred, { timeoutMs = 180000, intervalMs = 20 } = {}) {
  const end = performance.now() + timeoutMs;
  for (;;) {
    if (await pred()) return performance.now();
    alive();
    if (performance.now() > end) die(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(intervalMs);
  }
}

// ---- statistics ------------------------------------------------------------------

function pct(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, min: s[0] ?? NaN, p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), max: s[s.length - 1] ?? NaN, mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
}

// ---- a company ---------------------------------------------------------------------

async function newCompany(name) {
  const co = await must('POST', '/admin/v1/companies', { token: adminToken, body: { name, credit_ot: '100000000' } }, 201);
  const key = (await must('POST', `/admin/v1/companies/${co.id}/keys`, { token: adminToken, body: { name: 'bench' } }, 201)).key;
  await must('PUT', `/admin/v1/companies/${co.id}/providers/fake`, {
    token: adminToken,
    body: { kind: 'openai', base_url: `http://127.0.0.1:${upstream.port}/v1`, api_key: 'x' },
  });
  return { id: co.id, key };
}

// ---- 1. topic fan-out -----------------------------------------------------------------

const starPatterns = Math.max(1, Math.floor(PATTERNS / 100));
const patternOf = (k) => (k >= PATTERNS - starPatterns ? `bench.p${k}.**` : `bench.p${k}.*`);
/** The pattern index of event j: a stride coprime with P spreads events over the patterns (the `**` ones included). */
function patternOfEvent(j) {
  let stride = PATTERNS - 3;
  const gcd = (a, b) => (b ? gcd(b, a % b) : a);
  while (stride > 1 && gcd(stride, PATTERNS) !== 1) stride -= 1;
  return ((j + 1) * stride) % PATTERNS;
}

/** Publishes one event; returns its times (performance.now()) and deliveries. */
async function publishOne(key, j, eid) {
  const k = patternOfEvent(j);
  const topic = `bench.p${k}.x`;
  const sent = performance.now();
  const r = await http_('POST', `/v1/topics/${topic}/events`, { token: key, body: { payload: { n: j }, event_id: eid } });
  const got = performance.now();
  if (r.status !== 202) die(`POST /v1/topics/${topic}/events: HTTP ${r.status} ${r.text.slice(0, 400)}`);
  const deliveries = r.json.deliveries || [];
  const started = deliveries.filter((x) => x.agent_run_id).map((x) => x.agent_run_id);
  const skipped = deliveries.filter((x) => !x.agent_run_id);
  if (skipped.length) die(`event ${eid}: ${skipped.length} deliveries skipped: ${JSON.stringify(skipped[0])}`);
  return { eid, topic, k, sent, got, runs: started };
}

function phaseStats(name, evs, cpu0, cpu1) {
  const fromResp = [];
  const fromSent = [];
  const fanoutDone = []; // per event: the last of its deliveries − the 202
  let arrivals = 0;
  let lastArrival = -Infinity;
  let firstArrival = Infinity;
  let missing = 0;
  let extra = 0;
  for (const e of evs) {
    const ts = upstream.byEvent.get(e.eid) || [];
    arrivals += ts.length;
    if (ts.length < e.runs.length) missing += e.runs.length - ts.length;
    if (ts.length > e.runs.length) extra += ts.length - e.runs.length;
    for (const t of ts) {
      fromResp.push(t - e.got);
      fromSent.push(t - e.sent);
      lastArrival = Math.max(lastArrival, t);
      firstArrival = Math.min(firstArrival, t);
    }
    if (ts.length) fanoutDone.push(Math.max(...ts) - e.got);
  }
  const first = Math.min(...evs.map((e) => e.sent));
  const lastResp = Math.max(...evs.map((e) => e.got));
  const deliveries = evs.reduce((a, e) => a + e.runs.length, 0);
  return {
    name,
    events: evs.length,
    deliveries,
    arrivals,
    missing,
    extra,
    publish_s: (lastResp - first) / 1000,
    events_per_s: evs.length / ((lastResp - first) / 1000),
    deliver_s: (lastArrival - first) / 1000,
    deliveries_per_s: arrivals / ((lastArrival - first) / 1000),
    publish_ms: stats(evs.map((e) => e.got - e.sent)),
    run_start_from_202_ms: stats(fromResp),
    run_start_from_send_ms: stats(fromSent),
    fanout_done_ms: stats(fanoutDone),
    cpu_ms: (cpu1.ns - cpu0.ns) / 1e6,
    cpu_us_per_delivery: (cpu1.ns - cpu0.ns) / 1e3 / Math.max(1, arrivals),
  };
}

async function waitArrivals(evs, what) {
  const want = evs.reduce((a, e) => a + e.runs.length, 0);
  const count = () => evs.reduce((a, e) => a + (upstream.byEvent.get(e.eid)?.length || 0), 0);
  await waitUntil(`${what}: ${want} model calls at the upstream (have ${count()})`, () => count() >= want, { timeoutMs: 300000, intervalMs: 10 });
}

async function fanout(res) {
  const dataDir = path.join(DIR, 'data-fanout');
  const d = await startDaemon(dataDir, 'fanout');
  log(`fan-out: oag on ${d.url} (pid ${d.pid}), listening ${d.listeningMs.toFixed(0)} ms after spawn`);
  const f = (res.fanout = { agents: AGENTS, patterns: PATTERNS, star_patterns: starPatterns, per_pattern: AGENTS / PATTERNS, events: EVENTS, rate: RATE, publishers: PUBLISHERS });
  f.rss_fresh = memory(d.pid);
  const co = await newCompany('bench-agents-fanout');
  // Warm-up: one agent on its own pattern, one event delivered and its run completed.
  const warm = await must('POST', '/v1/agents', {
    token: co.key,
    body: { name: 'warm', model: MODEL, instructions: 'React to the event.', triggers: [{ type: 'topic', pattern: 'warm.*', input: '{{event_id}}' }] },
  });
  const we = await must('POST', '/v1/topics/warm.up/events', { token: co.key, body: { payload: {}, event_id: 'bench-warm' } }, 202);
  await waitUntil('warm-up delivery', () => upstream.byEvent.get('bench-warm')?.length === 1);
  const warmRun = we.deliveries[0].agent_run_id;
  await waitUntil('warm-up run completed', async () => (await must('GET', `/v1/agent-runs/${warmRun}`, { token: co.key })).status === 'completed');
  void warm;
  await sleep(IDLE_SETTLE_S * 1000);
  f.rss_before = memory(d.pid);
  f.disk_before_kb = duKb(dataDir);
  log(`baseline (company, provider, 1 agent, 1 event): RSS ${f.rss_before.rss_kb} kB (anon ${f.rss_before.anon_kb} kB)`);

  // The agents, in two halves (the second half gives the marginal memory per agent).
  const create = async (from, to) => {
    const c0 = cpu(d.pid);
    const t = performance.now();
    const lat = [];
    await pool(to - from, C, async (n) => {
      const i = from + n;
      const s = performance.now();
      const a = await must('POST', '/v1/agents', {
        token: co.key,
        body: {
          name: `sub-${i}`,
          model: MODEL,
          instructions: 'React to the event.',
          triggers: [{ type: 'topic', pattern: patternOf(i % PATTERNS), input: '{{event_id}}' }],
        },
      });
      lat.push(performance.now() - s);
      if (!a?.id) die(`POST /v1/agents: no id in ${JSON.stringify(a).slice(0, 300)}`);
      if (n > 0 && n % 20000 === 0) log(`  ${n} agents created`);
    });
    const secs = (performance.now() - t) / 1000;
    const c1 = cpu(d.pid);
    return { n: to - from, secs, per_s: (to - from) / secs, latency_ms: stats(lat), cpu_us_per_agent: (c1.ns - c0.ns) / 1e3 / (to - from) };
  };
  const half = Math.floor(AGENTS / 2);
  log(`creating ${AGENTS} agents (${PATTERNS} patterns, ${starPatterns} of them \`**\`, ${AGENTS / PATTERNS} subscribers each; concurrency ${C})`);
  const c1 = await create(0, half);
  await sleep(1000);
  f.rss_half = memory(d.pid);
  log(`  ${c1.n} in ${c1.secs.toFixed(1)} s (${c1.per_s.toFixed(0)}/s, p50 ${c1.latency_ms.p50.toFixed(1)} ms, p99 ${c1.latency_ms.p99.toFixed(1)} ms, ${c1.cpu_us_per_agent.toFixed(0)} µs oag CPU each); RSS ${f.rss_half.rss_kb} kB`);
  const c2 = await create(half, AGENTS);
  log(`  ${c2.n} more in ${c2.secs.toFixed(1)} s (${c2.per_s.toFixed(0)}/s, p50 ${c2.latency_ms.p50.toFixed(1)} ms, p99 ${c2.latency_ms.p99.toFixed(1)} ms, ${c2.cpu_us_per_agent.toFixed(0)} µs oag CPU each)`);
  f.create = [c1, c2];
  f.load_after_create = loadavg();
  await sleep(IDLE_SETTLE_S * 1000);
  f.rss_after = memory(d.pid);
  f.disk_after_kb = duKb(dataDir);
  f.idle_cpu = await idleCpu(d.pid);
  f.bytes_per_agent = ((f.rss_after.rss_kb - f.rss_before.rss_kb) * 1024) / AGENTS;
  f.anon_bytes_per_agent = ((f.rss_after.anon_kb - f.rss_before.anon_kb) * 1024) / AGENTS;
  f.marginal_bytes_per_agent = ((f.rss_after.rss_kb - f.rss_half.rss_kb) * 1024) / (AGENTS - half);
  f.disk_bytes_per_agent = ((f.disk_after_kb - f.disk_before_kb) * 1024) / AGENTS;
  log(`${AGENTS} agents: RSS ${f.rss_after.rss_kb} kB → ${f.bytes_per_agent.toFixed(0)} B/agent (anon ${f.anon_bytes_per_agent.toFixed(0)}, second half ${f.marginal_bytes_per_agent.toFixed(0)}); disk ${f.disk_bytes_per_agent.toFixed(0)} B/agent; idle ${f.idle_cpu.ms_sched.toFixed(1)} ms CPU / ${IDLE_CPU_S} s`);

  // Steady rate, then full speed.
  const nA = Math.floor(EVENTS / 2);
  const nB = EVENTS - nA;
  log(`publishing ${nA} events at ${RATE} events/s (${(RATE * AGENTS) / PATTERNS} deliveries/s offered)`);
  let c0 = cpu(d.pid);
  const evA = [];
  {
    const t0 = performance.now();
    const pending = [];
    for (let j = 0; j < nA; j++) {
      const at = t0 + (j * 1000) / RATE;
      const wait = at - performance.now();
      if (wait > 0) await sleep(wait);
      pending.push(publishOne(co.key, j, `bench-e${j}`).then((e) => evA.push(e)));
    }
    await Promise.all(pending);
    await waitArrivals(evA, 'steady phase');
  }
  let c1_ = cpu(d.pid);
  f.steady = phaseStats('steady', evA, c0, c1_);
  f.steady.offered_events_per_s = RATE;
  logPhase(f.steady);
  await sleep(IDLE_SETTLE_S * 1000);
  f.rss_after_steady = memory(d.pid);
  log(`publishing ${nB} events at full speed (${PUBLISHERS} publishers back to back)`);
  c0 = cpu(d.pid);
  const perfStop = perfStart('fanout-full');
  const evB = [];
  await pool(nB, PUBLISHERS, async (n) => {
    evB.push(await publishOne(co.key, nA + n, `bench-e${nA + n}`));
  });
  await waitArrivals(evB, 'full-speed phase');
  c1_ = cpu(d.pid);
  await perfStop();
  f.full = phaseStats('full speed', evB, c0, c1_);
  logPhase(f.full);
  await sleep(IDLE_SETTLE_S * 1000);
  f.rss_after_events = memory(d.pid);
  log(`RSS after the steady phase's ${evA.length * (AGENTS / PATTERNS)} runs ${f.rss_after_steady.rss_kb} kB, after all ${EVENTS * (AGENTS / PATTERNS)} runs ${f.rss_after_events.rss_kb} kB (anon ${f.rss_after_events.anon_kb} kB)`);
  // Every delivery exactly once at the upstream; a sample of runs completed.
  const all = [...evA, ...evB];
  const dups = all.reduce((a, e) => a + Math.max(0, (upstream.byEvent.get(e.eid)?.length || 0) - e.runs.length), 0);
  const per = new Set(all.map((e) => e.runs.length));
  f.deliveries_per_event = [...per];
  f.duplicate_calls = dups;
  const runs = all.flatMap((e) => e.runs);
  const sample = Array.from({ length: Math.min(SAMPLE, runs.length) }, (_, i) => runs[Math.floor((i * runs.length) / Math.min(SAMPLE, runs.length))]);
  const tc = performance.now();
  await pool(sample.length, 8, async (i) => waitAgentRun(co.key, sample[i], 'completed'));
  f.sample_completed_wait_ms = performance.now() - tc;
  log(`deliveries per event ${[...per].join(',')}; duplicate model calls ${dups}; ${sample.length} sampled agent runs completed`);
  f.load_after_events = loadavg();

  // Restarts: one event after each.
  f.restarts = [];
  for (const signal of ['SIGTERM', 'SIGKILL']) {
    const stop = await stopDaemon(signal);
    log(`restart after ${signal} (stop took ${stop.ms.toFixed(0)} ms)`);
    const nd = await startDaemon(dataDir, `fanout-${signal}`);
    const readyMs = await waitReady(nd);
    const rssReady = memory(nd.pid);
    const j = EVENTS + f.restarts.length;
    const eid = `bench-r${f.restarts.length}`;
    const e = await publishOne(co.key, j, eid);
    await waitArrivals([e], `first event after ${signal}`);
    const ts = upstream.byEvent.get(eid);
    const r = {
      signal,
      stop_ms: stop.ms,
      listening_ms: nd.listeningMs,
      ready_ms: readyMs,
      publish_sent_ms: e.sent - nd.t0,
      publish_202_ms: e.got - nd.t0,
      first_delivery_ms: Math.min(...ts) - nd.t0,
      all_deliveries_ms: Math.max(...ts) - nd.t0,
      deliveries: ts.length,
      rss_at_ready: rssReady,
      restore_log: logLine(nd, 'company \\S+: \\d+ agents'),
      restore_log_ms: logStampMs(nd, 'company \\S+: \\d+ agents'),
      tenant_first: logLine(nd, 'company \\S+: \\d+ unfinished runs'),
    };
    await sleep(IDLE_SETTLE_S * 1000);
    r.rss_idle = memory(nd.pid);
    r.idle_cpu = await idleCpu(nd.pid);
    r.bytes_per_agent = ((r.rss_idle.rss_kb - f.rss_before.rss_kb) * 1024) / AGENTS;
    f.restarts.push(r);
    log(`  listening ${r.listening_ms.toFixed(0)} ms, /readyz ${r.ready_ms.toFixed(0)} ms, event 202 ${r.publish_202_ms.toFixed(0)} ms, first delivery ${r.first_delivery_ms.toFixed(0)} ms, all ${r.deliveries} ${r.all_deliveries_ms.toFixed(0)} ms after spawn; log: "${r.restore_log}" at ${r.restore_log_ms} ms; RSS ${r.rss_idle.rss_kb} kB (${r.bytes_per_agent.toFixed(0)} B/agent over the baseline)`);
  }
  await stopDaemon('SIGTERM');
}

function logPhase(p) {
  log(
    `  ${p.name}: ${p.events} events, ${p.events_per_s.toFixed(1)} events/s accepted (publish p50 ${p.publish_ms.p50.toFixed(1)} ms, p99 ${p.publish_ms.p99.toFixed(1)} ms); ` +
      `${p.arrivals}/${p.deliveries} runs reached the upstream, ${p.deliveries_per_s.toFixed(0)} deliveries/s; 202 → model call p50 ${p.run_start_from_202_ms.p50.toFixed(1)} ms, p99 ${p.run_start_from_202_ms.p99.toFixed(1)} ms, max ${p.run_start_from_202_ms.max.toFixed(0)} ms; ` +
      `${p.cpu_us_per_delivery.toFixed(0)} µs oag CPU per delivery`,
  );
}

/** Polls an agent run until it has status `want`; fails on another terminal status. */
async function waitAgentRun(key, arid, want, { timeoutMs = 180000, intervalMs = 20 } = {}) {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const r = await http_('GET', `/v1/agent-runs/${arid}`, { token: key });
    if (r.status === 200) {
      const s = r.json.status;
      if (s === want) return r.json;
      if (['completed', 'failed', 'cancelled', 'expired', 'incomplete'].includes(s))
        die(`agent run ${arid}: status ${s} (wanted ${want}); last_error ${JSON.stringify(r.json.last_error)}`);
    } else if (r.status !== 503) {
      die(`GET /v1/agent-runs/${arid}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
    }
    if (performance.now() > end) die(`agent run ${arid}: not ${want} within ${timeoutMs / 1000} s`);
    await sleep(intervalMs);
  }
}

// ---- 2. parked approvals ----------------------------------------------------------------

/** Every pending approval: agent run id → approval id (pages of 100). */
async function pendingApprovals(key) {
  const out = new Map();
  let after = null;
  for (;;) {
    const q = `/v1/approvals?status=pending&limit=100${after ? `&after=${after}` : ''}`;
    const page = await must('GET', q, { token: key });
    for (const a of page.data) out.set(a.agent_run_id, a.id);
    if (!page.has_more || !page.last_id) break;
    after = page.last_id;
  }
  return out;
}

async function parked(res) {
  const dataDir = path.join(DIR, 'data-parked');
  const d = await startDaemon(dataDir, 'parked');
  log(`parked approvals: oag on ${d.url} (pid ${d.pid})`);
  const p = (res.parked = { n: PARKED });
  p.rss_fresh = memory(d.pid);
  const co = await newCompany('bench-agents-parked');
  await must('PUT', `/admin/v1/companies/${co.id}/settings`, { token: adminToken, body: { tool_network_allowlist: ['127.0.0.1'] } });
  await must('POST', '/v1/tools', {
    token: co.key,
    body: {
      name: 'pay',
      description: 'Pay an invoice',
      parameters: { type: 'object', properties: { amount: { type: 'number' }, to: { type: 'string' } }, required: ['amount'] },
      endpoint: { method: 'POST', url: `http://127.0.0.1:${toolService.port}/pay`, timeout_ms: 10000 },
    },
  });
  const agent = await must('POST', '/v1/agents', {
    token: co.key,
    body: {
      name: 'payer',
      model: MODEL,
      instructions: 'Pay the invoice with the pay tool.',
      tools: [{ type: 'function', function: { name: 'pay' } }],
      approval: { tools: { pay: 'always' } },
    },
  });
  const runs = []; // { arid, approval }
  // The input names the run (bench-inv<i>), so the upstream sees when its model calls arrive.
  const fire = async (i) => {
    const tag = `bench-inv${i < 0 ? 'w' : i}`;
    const r = await must('POST', `/v1/agents/${agent.id}/runs`, { token: co.key, body: { input: `${tag}: pay 5 to ACME` } }, 201);
    if (!r?.id) die(`POST /v1/agents/${agent.id}/runs: no id in ${JSON.stringify(r).slice(0, 300)}`);
    return { arid: r.id, approval: null, tag };
  };
  /** Approves a run's approval, waits for its second model call (after the tool ran) and until its agent run is completed. */
  const approveAndComplete = async (run) => {
    const t = performance.now();
    await must('POST', `/v1/approvals/${run.approval}/approve`, { token: co.key, body: {} });
    const approved = performance.now();
    await waitUntil(`${run.tag}: its model call after the approval`, () => (upstream.byEvent.get(run.tag)?.length || 0) >= 2, { intervalMs: 2 });
    const resumed = upstream.byEvent.get(run.tag)[1];
    await waitAgentRun(co.key, run.arid, 'completed', { intervalMs: 50 });
    return { approve_ms: approved - t, resumed_ms: resumed - t, resumed_at: resumed, complete_ms: performance.now() - t };
  };
  // Warm-up: one run parked, approved and completed.
  const warm = await fire(-1);
  await waitUntil('warm-up run parked', async () => (await pendingApprovals(co.key)).has(warm.arid));
  warm.approval = (await pendingApprovals(co.key)).get(warm.arid);
  await approveAndComplete(warm);
  if (toolService.calls !== 1) die(`the pay tool was called ${toolService.calls} times for the warm-up run`);
  await sleep(IDLE_SETTLE_S * 1000);
  p.rss_before = memory(d.pid);
  p.disk_before_kb = duKb(dataDir);
  p.idle_cpu_before = await idleCpu(d.pid);
  log(`baseline (company, tool, agent, 1 warm-up run): RSS ${p.rss_before.rss_kb} kB; idle ${p.idle_cpu_before.ms_sched.toFixed(1)} ms CPU / ${IDLE_CPU_S} s`);

  const createAndPark = async (from, to) => {
    const c0 = cpu(d.pid);
    const t = performance.now();
    const first0 = upstream.firstCalls;
    await pool(to - from, C, async (k) => {
      runs[from + k] = await fire(from + k);
    });
    const created = performance.now();
    await waitUntil(`${to - from} first model calls`, () => upstream.firstCalls - first0 >= to - from, { timeoutMs: 300000 });
    let pending;
    await waitUntil(`${to} pending approvals`, async () => {
      pending = await pendingApprovals(co.key);
      return pending.size >= to;
    }, { timeoutMs: 300000, intervalMs: 200 });
    const parkedAt = performance.now();
    for (let i = from; i < to; i++) {
      runs[i].approval = pending.get(runs[i].arid);
      if (!runs[i].approval) die(`agent run ${runs[i].arid} has no pending approval`);
    }
    const c1 = cpu(d.pid);
    return {
      n: to - from,
      create_s: (created - t) / 1000,
      park_all_s: (parkedAt - t) / 1000,
      runs_per_s: (to - from) / ((parkedAt - t) / 1000),
      cpu_us_per_run: (c1.ns - c0.ns) / 1e3 / (to - from),
    };
  };
  const half = Math.floor(PARKED / 2);
  log(`firing ${half} runs (concurrency ${C}) and waiting until each has a pending approval`);
  const p1 = await createAndPark(0, half);
  await sleep(1000);
  p.rss_half = memory(d.pid);
  log(`  ${p1.n} parked in ${p1.park_all_s.toFixed(1)} s (${p1.runs_per_s.toFixed(0)} runs/s, ${p1.cpu_us_per_run.toFixed(0)} µs oag CPU/run); RSS ${p.rss_half.rss_kb} kB`);
  const perfStop = perfStart('park');
  const p2 = await createAndPark(half, PARKED);
  await perfStop();
  log(`  ${p2.n} more parked in ${p2.park_all_s.toFixed(1)} s (${p2.runs_per_s.toFixed(0)} runs/s, ${p2.cpu_us_per_run.toFixed(0)} µs oag CPU/run)`);
  p.create = [p1, p2];
  p.load_after_create = loadavg();
  // Spot check: a run says awaiting_approval.
  const spot = await must('GET', `/v1/agent-runs/${runs[PARKED - 1].arid}`, { token: co.key });
  if (spot.status !== 'awaiting_approval') die(`agent run ${runs[PARKED - 1].arid} is ${spot.status}, not awaiting_approval`);
  const tl = performance.now();
  const all = await pendingApprovals(co.key);
  p.list_all_pending_ms = performance.now() - tl;
  if (all.size !== PARKED) die(`${all.size} pending approvals, not ${PARKED}`);
  await sleep(IDLE_SETTLE_S * 1000);
  p.rss_after = memory(d.pid);
  p.disk_after_kb = duKb(dataDir);
  p.idle_cpu_parked = await idleCpu(d.pid);
  p.bytes_per_run = ((p.rss_after.rss_kb - p.rss_before.rss_kb) * 1024) / PARKED;
  p.anon_bytes_per_run = ((p.rss_after.anon_kb - p.rss_before.anon_kb) * 1024) / PARKED;
  p.marginal_bytes_per_run = ((p.rss_after.rss_kb - p.rss_half.rss_kb) * 1024) / (PARKED - half);
  p.disk_bytes_per_run = ((p.disk_after_kb - p.disk_before_kb) * 1024) / PARKED;
  p.tool_calls_while_parked = toolService.calls - 1;
  log(`all ${PARKED} parked: RSS ${p.rss_after.rss_kb} kB → ${p.bytes_per_run.toFixed(0)} B/run (anon ${p.anon_bytes_per_run.toFixed(0)}, second half ${p.marginal_bytes_per_run.toFixed(0)}); disk ${p.disk_bytes_per_run.toFixed(0)} B/run; listing all pending approvals took ${p.list_all_pending_ms.toFixed(0)} ms`);
  log(`idle with ${PARKED} parked: ${p.idle_cpu_parked.ms_sched.toFixed(1)} ms CPU / ${IDLE_CPU_S} s (${p.idle_cpu_parked.wakeups_per_s.toFixed(1)} context switches/s); pay tool calls while parked: ${p.tool_calls_while_parked}`);

  // Restarts. The sample: SAMPLE runs spread evenly, never the "last" run.
  const spread = (offset, exclude) => {
    const out = [];
    const k = Math.min(SAMPLE, PARKED - 2);
    for (let j = 0; j < k; j++) {
      const i = Math.min(PARKED - 1, Math.floor(((j + offset) * PARKED) / k));
      if (!exclude.has(i) && !out.includes(runs[i])) out.push(runs[i]);
    }
    return out;
  };
  p.restarts = [];
  const done = new Set();
  for (const [signal, lastIndex, offset] of [['SIGTERM', PARKED - 1, 0], ['SIGKILL', PARKED - 2, 0.5]]) {
    const stop = await stopDaemon(signal);
    log(`restart after ${signal} (stop took ${stop.ms.toFixed(0)} ms)`);
    const nd = await startDaemon(dataDir, `parked-${signal}`);
    const tools0 = toolService.calls;
    const readyMs = await waitReady(nd);
    const rssReady = memory(nd.pid);
    const last = runs[lastIndex];
    const l1 = await approveAndComplete(last);
    const lastMs = performance.now() - nd.t0;
    const lastResumedMs = l1.resumed_at - nd.t0;
    done.add(lastIndex);
    const sample = spread(offset, new Set([...done, PARKED - 1, PARKED - 2]));
    const lat = [];
    await pool(sample.length, C, async (i) => lat.push(await approveAndComplete(sample[i])));
    const sampleMs = performance.now() - nd.t0;
    for (const s of sample) done.add(runs.indexOf(s));
    const r = {
      signal,
      stop_ms: stop.ms,
      listening_ms: nd.listeningMs,
      ready_ms: readyMs,
      last_completed_ms: lastMs,
      last_resumed_ms: lastResumedMs,
      sample_n: sample.length,
      sample_completed_ms: sampleMs,
      sample_approve_ms: stats(lat.map((x) => x.approve_ms)),
      sample_resumed_ms: stats(lat.map((x) => x.resumed_ms)),
      sample_all_resumed_ms: Math.max(...lat.map((x) => x.resumed_at)) - nd.t0,
      sample_complete_ms: stats(lat.map((x) => x.complete_ms)),
      tool_calls: toolService.calls - tools0,
      rss_at_ready: rssReady,
      agents_restore_log: logLine(nd, 'company \\S+: \\d+ agents'),
      agents_restore_ms: logStampMs(nd, 'company \\S+: \\d+ agents'),
      runs_restore_log: logLine(nd, 'company \\S+: \\d+ unfinished runs'),
      runs_restore_ms: logStampMs(nd, 'company \\S+: \\d+ unfinished runs'),
      directory_ms: logStampMs(nd, 'directory restored'),
    };
    await sleep(IDLE_SETTLE_S * 1000);
    r.rss_idle = memory(nd.pid);
    r.idle_cpu = await idleCpu(nd.pid);
    p.restarts.push(r);
    if (r.tool_calls !== 1 + sample.length) die(`after ${signal}: the pay tool ran ${r.tool_calls} times for ${1 + sample.length} approvals`);
    log(`  listening ${r.listening_ms.toFixed(0)} ms, /readyz ${r.ready_ms.toFixed(0)} ms, 1 approved+completed ${r.last_completed_ms.toFixed(0)} ms, ${r.sample_n} spread approved+completed ${r.sample_completed_ms.toFixed(0)} ms after spawn; RSS ${r.rss_idle.rss_kb} kB; idle ${r.idle_cpu.ms_sched.toFixed(1)} ms CPU / ${IDLE_CPU_S} s`);
    log(`  log: "${r.agents_restore_log}" at ${r.agents_restore_ms} ms; "${r.runs_restore_log}" at ${r.runs_restore_ms} ms (directory restored at ${r.directory_ms} ms)`);
  }
  p.remaining_parked = PARKED - done.size;
  await stopDaemon('SIGTERM');
}

// ---- report ----------------------------------------------------------------------

const MB = (kb) => `${(kb / 1024).toFixed(1)} MB`;
const ms = (x) => (!Number.isFinite(x) ? 'n/a' : x >= 10000 ? `${(x / 1000).toFixed(1)} s` : x >= 100 ? `${Math.round(x)} ms` : `${x.toFixed(1)} ms`);
const B = (x) => (Math.abs(x) >= 1024 ? `${(x / 1024).toFixed(2)} KB` : `${Math.round(x)} B`);
const int = (x) => Math.round(x).toLocaleString('en-US');

function report(r) {
  const lines = [];
  lines.push(
    `Measured ${r.date} on ${r.cpu} (${r.ncpu} CPUs, Linux ${r.kernel}), oag ${r.oag_commit} (\`${path.relative(process.cwd(), r.oag_bin) || r.oag_bin}\`)${r.quick ? ' (--quick)' : ''}, ` +
      `\`durability: wal\`, no CPU pinning; the fake OpenAI upstream, the fake tool service and the clients are one node process on the same 2 cores.`,
  );
  lines.push(
    `Load average (1/5/15 min) at the start ${r.load.start}${r.fanout ? `, after creating the agents ${r.fanout.load_after_create}` : ''}${r.parked ? `, after parking the runs ${r.parked.load_after_create}` : ''}, at the end ${r.load.end}` +
      ([r.load.start, r.fanout?.load_after_create, r.parked?.load_after_create, r.load.end].some((l) => l && Number(String(l).split(' ')[0]) >= 1.5)
        ? `: the machine was shared with other work, so the rates are lower bounds and the latencies upper bounds of what oag does on a quiet machine; the memory figures are not affected.`
        : ` (the 1-minute load includes the benchmark itself: oag and the node process).`),
  );
  if (r.fanout) {
    const f = r.fanout;
    const [c1, c2] = f.create;
    lines.push('');
    lines.push(
      `**Topic fan-out**: ${int(f.agents)} agents on \`${MODEL}\` (provider \`fake\` → the node upstream), agent i subscribed to pattern i mod ${int(f.patterns)} ` +
        `(\`bench.p<k>.*\`; the last ${f.star_patterns === 1 ? 'one' : f.star_patterns} \`bench.p<k>.**\`): ${int(f.per_pattern)} subscribers per pattern, input template \`{{event_id}}\`. ` +
        `Events go to \`bench.p<k>.x\` (k spread over the patterns, \`**\` ones included), each starting ${int(f.per_pattern)} agent runs. ` +
        `"Run start" = the run's model call arrives at the upstream (the event id in its user message maps it to its publish).`,
    );
    lines.push('');
    lines.push('| measure | value |');
    lines.push('|---|---|');
    const cr = (c1.n + c2.n) / (c1.secs + c2.secs);
    lines.push(`| **create rate** (POST /v1/agents, keep-alive, ${r.concurrency} concurrent) | **${int(cr)} agents/s** (first half ${int(c1.per_s)}/s, second ${int(c2.per_s)}/s; latency p50 ${ms(c2.latency_ms.p50)}, p99 ${ms(c2.latency_ms.p99)}; ${int((c1.cpu_us_per_agent + c2.cpu_us_per_agent) / 2)} µs oag CPU per agent) |`);
    lines.push(`| RSS before (company, provider, 1 agent, 1 event) | ${MB(f.rss_before.rss_kb)} (anon ${MB(f.rss_before.anon_kb)}) |`);
    lines.push(`| RSS with ${int(f.agents)} agents indexed, after ${IDLE_SETTLE_S} s idle | ${MB(f.rss_after.rss_kb)} (anon ${MB(f.rss_after.anon_kb)}) |`);
    lines.push(`| **RSS per agent** (ΔVmRSS ÷ agents) | **${B(f.bytes_per_agent)}** (RssAnon ${B(f.anon_bytes_per_agent)}; second half only ${B(f.marginal_bytes_per_agent)}) |`);
    const rr = f.restarts[0];
    lines.push(`| RSS after a restart (index rebuilt from RocksDB, one event delivered), idle | ${MB(rr.rss_idle.rss_kb)} (${B(rr.bytes_per_agent)} per agent over the baseline) |`);
    lines.push(`| disk per agent (data dir growth ÷ agents) | ${B(f.disk_bytes_per_agent)} |`);
    lines.push(`| idle CPU with ${int(f.agents)} agents (${IDLE_CPU_S} s) | ${f.idle_cpu.ms_sched.toFixed(1)} ms (${f.idle_cpu.wakeups_per_s.toFixed(1)} context switches/s) |`);
    for (const p of [f.steady, f.full]) {
      const what = p === f.steady ? `steady, ${p.offered_events_per_s} events/s offered` : `full speed, ${f.publishers} publishers back to back`;
      lines.push(`| ${what}: events accepted | ${p.events} events, **${p.events_per_s.toFixed(1)} events/s** (publish → 202 p50 ${ms(p.publish_ms.p50)}, p99 ${ms(p.publish_ms.p99)}, max ${ms(p.publish_ms.max)}) |`);
      lines.push(`| ${what}: deliveries (agent runs whose model call reached the upstream) | ${int(p.arrivals)} of ${int(p.deliveries)}, **${int(p.deliveries_per_s)} deliveries/s** (first publish → last model call ${p.deliver_s.toFixed(1)} s; ${int(p.cpu_us_per_delivery)} µs oag CPU per delivery) |`);
      lines.push(`| ${what}: **publish (202) → run's model call** | **p50 ${ms(p.run_start_from_202_ms.p50)}, p99 ${ms(p.run_start_from_202_ms.p99)}**, max ${ms(p.run_start_from_202_ms.max)} (from the request sent: p50 ${ms(p.run_start_from_send_ms.p50)}, p99 ${ms(p.run_start_from_send_ms.p99)}) |`);
      lines.push(`| ${what}: 202 → the last of an event's ${int(f.per_pattern)} model calls | p50 ${ms(p.fanout_done_ms.p50)}, p99 ${ms(p.fanout_done_ms.p99)} |`);
    }
    lines.push(`| RSS after the ${int(f.events * f.per_pattern)} runs, idle (all completed) | ${MB(f.rss_after_events.rss_kb)} (anon ${MB(f.rss_after_events.anon_kb)}; after the steady phase ${MB(f.rss_after_steady.rss_kb)}) |`);
    lines.push(`| exactly once | ${f.deliveries_per_event.join(', ')} deliveries per event; ${f.duplicate_calls} duplicate model calls; ${Math.min(SAMPLE, f.events * f.per_pattern)} sampled agent runs \`completed\` |`);
    for (const s of f.restarts) {
      const what = s.signal === 'SIGTERM' ? 'SIGTERM' : 'kill -9';
      lines.push(
        `| restart after ${what}: spawn → listening / \`/readyz\` 200 / agents restored (log) / event 202 / its first model call / all ${s.deliveries} | ${ms(s.listening_ms)} / **${ms(s.ready_ms)}** / ${ms(s.restore_log_ms)} / ${ms(s.publish_202_ms)} / **${ms(s.first_delivery_ms)}** / ${ms(s.all_deliveries_ms)} |`,
      );
    }
    lines.push('');
    const r0 = f.restarts[0];
    lines.push(
      r0.restore_log_ms > r0.ready_ms
        ? `After a restart the company's agents are restored when its first request comes (the directory starts a company's actors at boot only when it has unfinished runs, cron triggers, pending approvals or unrecorded agent runs; these agents have topic triggers only), ` +
            `so \`/readyz\` is quick and the first publish waits for the restore; the daemon log said "${r0.restore_log}" ${ms(r0.restore_log_ms)} after spawn.`
        : `The daemon log said "${r0.restore_log}" ${ms(r0.restore_log_ms)} after spawn.`,
    );
  }
  if (r.parked) {
    const p = r.parked;
    const [p1, p2] = p.create;
    lines.push('');
    lines.push(
      `**Parked approvals**: one agent on \`${MODEL}\` whose registered tool \`pay\` (endpoint on the node tool service, company allowlist \`127.0.0.1\`) is gated with ` +
        `\`approval: {tools: {pay: "always"}}\`; the upstream answers a run's first model call with a \`pay\` call, later calls with text. ` +
        `${int(p.n)} runs fired with \`POST /v1/agents/{id}/runs\` (${r.concurrency} concurrent), each parked on a pending approval (counted with \`GET /v1/approvals?status=pending\`).`,
    );
    lines.push('');
    lines.push('| measure | value |');
    lines.push('|---|---|');
    lines.push(`| fire + park rate | ${int((p1.n + p2.n) / (p1.park_all_s + p2.park_all_s))} runs/s, ${int((p1.cpu_us_per_run * p1.n + p2.cpu_us_per_run * p2.n) / (p1.n + p2.n))} µs of oag CPU per run |`);
    lines.push(`| RSS before (company, tool, agent, 1 warm-up run) | ${MB(p.rss_before.rss_kb)} (anon ${MB(p.rss_before.anon_kb)}) |`);
    lines.push(`| RSS with ${int(p.n)} runs parked on approvals, after ${IDLE_SETTLE_S} s idle | ${MB(p.rss_after.rss_kb)} (anon ${MB(p.rss_after.anon_kb)}) |`);
    lines.push(`| **RSS per parked run** (ΔVmRSS ÷ N) | **${B(p.bytes_per_run)}** (RssAnon ${B(p.anon_bytes_per_run)}; second half only ${B(p.marginal_bytes_per_run)}${p.marginal_bytes_per_run < 0 ? ': the second half reused heap the first half\'s burst of run actors left behind' : ''}) |`);
    lines.push(`| RSS after restart (SIGTERM), idle, ${int(p.n - 1 - p.restarts[0].sample_n)} still parked | ${MB(p.restarts[0].rss_idle.rss_kb)} (${B(((p.restarts[0].rss_idle.rss_kb - p.rss_before.rss_kb) * 1024) / p.n)}/run over the baseline) |`);
    lines.push(`| disk per parked run (thread, message, run, state, steps, agent run, approval, ledger) | ${B(p.disk_bytes_per_run)} |`);
    const ic = p.idle_cpu_parked;
    lines.push(`| **idle CPU holding ${int(p.n)} parked runs** (${IDLE_CPU_S} s) | **${ic.ms_sched.toFixed(1)} ms** (${ic.pct_core.toFixed(3)}% of a core; ${ic.wakeups_per_s.toFixed(1)} context switches/s); with none parked: ${p.idle_cpu_before.ms_sched.toFixed(1)} ms |`);
    lines.push(`| listing all ${int(p.n)} pending approvals (100 pages of \`GET /v1/approvals?status=pending&limit=100\`) | ${ms(p.list_all_pending_ms)} |`);
    for (const s of p.restarts) {
      const what = s.signal === 'SIGTERM' ? 'SIGTERM' : 'kill -9';
      lines.push(`| restart after ${what}: spawn → listening / \`/readyz\` 200 | ${ms(s.listening_ms)} / **${ms(s.ready_ms)}** (stop took ${ms(s.stop_ms)}) |`);
      lines.push(`| restart after ${what}: restore (log: agents actor "… pending approvals" / assistants actor "… unfinished runs", ms after spawn) | ${ms(s.agents_restore_ms)} / ${ms(s.runs_restore_ms)} |`);
      lines.push(`| restart after ${what}: spawn → one approval approved (the tool ran, the run's next model call reached the upstream) / its agent run \`completed\` (polled every 50 ms) | ${ms(s.last_resumed_ms)} / **${ms(s.last_completed_ms)}** |`);
      lines.push(`| restart after ${what}: spawn → ${s.sample_n} approvals spread over the set approved and all \`completed\` (${r.concurrency} at a time) | **${ms(s.sample_completed_ms)}** (all resumed at the upstream: ${ms(s.sample_all_resumed_ms)}; each: approve → 200 p50 ${ms(s.sample_approve_ms.p50)}, p99 ${ms(s.sample_approve_ms.p99)}; approve → next model call p50 ${ms(s.sample_resumed_ms.p50)}, p99 ${ms(s.sample_resumed_ms.p99)}; approve → agent run \`completed\` p50 ${ms(s.sample_complete_ms.p50)}, p99 ${ms(s.sample_complete_ms.p99)}; the tool ran ${s.tool_calls} times) |`);
      lines.push(`| restart after ${what}: RSS at \`/readyz\` / idle after the sample; idle CPU (${IDLE_CPU_S} s) | ${MB(s.rss_at_ready.rss_kb)} / ${MB(s.rss_idle.rss_kb)}; ${s.idle_cpu.ms_sched.toFixed(1)} ms |`);
    }
    lines.push('');
    lines.push(`The daemon log after the restart said: "${p.restarts[0].agents_restore_log}" and "${p.restarts[0].runs_restore_log}".`);
  }
  lines.push('');
  lines.push(
    `RSS = \`VmRSS\` of the oag process (RssAnon its anonymous part); "second half" = the slope over the second half of the agents or runs, after RocksDB's bounded memtables and block cache filled in the first. ` +
      `CPU = the sum of \`/proc/PID/task/*/schedstat\` run time. Latencies are measured in the node process that also serves the upstream, so they include its event-loop delay. ` +
      `Restart times are from \`spawn()\` of the new process.`,
  );
  return lines.join('\n');
}

const BEGIN = '<!-- bench-agents:begin -->';
const END = '<!-- bench-agents:end -->';
/** Hand-written analysis after this marker (up to END) is kept when the numbers are rewritten. */
const NOTES = '<!-- bench-agents:notes -->';
function writeSection(file, md) {
  let doc = fs.readFileSync(file, 'utf8');
  const b = doc.indexOf(BEGIN);
  const e = doc.indexOf(END);
  const n = doc.indexOf(NOTES);
  const notes = b >= 0 && n > b && n < e ? `\n${doc.slice(n, e).trimEnd()}` : '';
  const block = `${BEGIN}\n${md}\n${notes}${notes ? '\n' : ''}${END}`;
  if (b >= 0 && e > b) {
    doc = doc.slice(0, b) + block + doc.slice(e + END.length);
  } else {
    const section =
      '## Agents (issue 5)\n\n' +
      'Measured by `scripts/bench-agents.sh` (`bench/agents.mjs`): topic fan-out over 100,000 agents and 1,000 patterns, and ' +
      '10,000 agent runs parked on approval gates with a restart (SIGTERM, then `kill -9`) while they wait.\n\n' +
      block +
      '\n\n';
    const at = doc.indexOf('## Where the time goes');
    doc = at >= 0 ? doc.slice(0, at) + section + doc.slice(at) : doc.replace(/\n*$/, '\n\n') + section.trimEnd() + '\n';
  }
  fs.writeFileSync(file, doc);
  log(`wrote the results into ${file}`);
}

// ---- run -------------------------------------------------------------------------

async function main() {
  const again = opt('report', null); // re-renders a results.json (and --write) without measuring
  if (again) {
    const md = report(JSON.parse(fs.readFileSync(again, 'utf8')));
    process.stdout.write(md + '\n');
    if (WRITE) writeSection(WRITE, md);
    return;
  }
  const res = {
    date: new Date().toISOString().slice(0, 16) + 'Z',
    cpu: (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m) || [])[1] || 'unknown',
    ncpu: os.cpus().length,
    kernel: os.release(),
    oag_bin: OAG,
    oag_commit: opt('commit', 'unknown'),
    concurrency: C,
    quick: QUICK,
    load: { start: loadavg() },
  };
  upstream.server = await listen(onUpstream);
  upstream.port = upstream.server.address().port;
  toolService.server = await listen(onTool);
  toolService.port = toolService.server.address().port;
  log(`oag ${OAG}; agents ${AGENTS} over ${PATTERNS} patterns, ${EVENTS} events, ${PARKED} parked runs, concurrency ${C}; load ${res.load.start}`);
  const t = performance.now();
  if (ONLY === 'all' || ONLY === 'fanout') await fanout(res);
  if (ONLY === 'all' || ONLY === 'parked') await parked(res);
  res.load.end = loadavg();
  res.wall_s = (performance.now() - t) / 1000;
  res.upstream = { calls: upstream.calls, errors: upstream.errors };
  fs.writeFileSync(path.join(DIR, 'results.json'), JSON.stringify(res, null, 2));
  const md = report(res);
  process.stdout.write(md + '\n');
  log(`done in ${res.wall_s.toFixed(0)} s`);
  if (WRITE) writeSection(WRITE, md);
}

const killDaemon = () => {
  if (daemon && !daemon.exited) {
    try {
      daemon.proc.kill('SIGKILL');
    } catch {}
  }
};
process.on('exit', killDaemon);
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(s, () => {
    killDaemon();
    process.exit(130);
  });

main().then(
  () => process.exit(0),
  (e) => {
    log(`error: ${e instanceof BenchError ? e.message : e.stack || e}`);
    if (daemon) log(`daemon log: ${daemon.logFile}`);
    killDaemon();
    process.exit(1);
  },
);
