// WebSocket chat benchmark (issue 6), driven by scripts/bench-ws.sh.
//
// 1. Starts a fake OpenAI upstream in a child process (this file with
//    --role upstream): every streamed chat completion answers TOKENS content
//    chunks, the first after FIRST_MS, then one every INTERVAL_MS, then usage.
// 2. Starts oag (fresh data dir, durability wal), creates COMPANIES companies
//    with a key each and a provider "fake" at the upstream; opens S sessions
//    on GET /v1/realtime/chat (Authorization header), spread over the
//    companies, and reads the daemon's RSS with all of them open and idle.
// 3. Every session sends one chat.message (model-only persona
//    fake/gpt-4o-mini: a thread and a run per session, as the Assistants API
//    would create) at the same moment and records: time to the first delta,
//    every gap between deltas, the final message.completed / run.completed.
//    A session is stalled when STALL_S passed without a token before its
//    run ended. The daemon's RSS is sampled while they stream.
// 4. Writes results.json and a markdown section; with --write FILE replaces
//    the text between <!-- bench-ws:begin --> and <!-- bench-ws:end -->.
//
// node bench/ws_chat.mjs --oag BIN --dir DIR --prices FILE [--sessions 2000]
//      [--companies 10] [--tokens 40] [--interval-ms 25] [--first-ms 50]
//      [--stall-s 5] [--write docs/PERFORMANCE.md] [--commit SHA]
// node bench/ws_chat.mjs --report results.json [--write FILE] re-renders a run.
// The daemon's and the upstream's pids are kept in DIR/*.pid (the shell script's trap kills them).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tests', 'package.json'));

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const BEGIN = '<!-- bench-ws:begin -->';
const END = '<!-- bench-ws:end -->';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('[bench-ws]', ...a);

// ---- the fake upstream (child process) -----------------------------------------

if (opt('report')) {
  // Re-renders a results.json (and writes it with --write FILE).
  const md = markdown(JSON.parse(fs.readFileSync(opt('report'), 'utf8')));
  process.stdout.write(md + '\n');
  if (opt('write')) writeSection(opt('write'), md);
} else if (opt('role') === 'upstream') {
  const TOKENS = Number(opt('tokens', '40'));
  const INTERVAL = Number(opt('interval-ms', '25'));
  const FIRST = Number(opt('first-ms', '50'));
  const server = http.createServer(async (req, res) => {
    let raw = '';
    for await (const c of req) raw += c;
    if (req.url.endsWith('/models')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"object":"list","data":[]}');
    }
    const body = JSON.parse(raw || '{}');
    const id = `chatcmpl-${crypto.randomBytes(6).toString('hex')}`;
    const base = { id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: body.model };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'tok '.repeat(TOKENS) }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: TOKENS, total_tokens: 10 + TOKENS } }));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const send = (o) => res.write(`data: ${JSON.stringify(o)}\n\n`);
    let gone = false;
    res.on('close', () => (gone = true));
    send({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
    await sleep(FIRST);
    for (let i = 0; i < TOKENS && !gone; i++) {
      if (i > 0) await sleep(INTERVAL);
      send({ ...base, choices: [{ index: 0, delta: { content: `t${i} ` }, finish_reason: null }] });
    }
    if (gone) return;
    send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
    send({ ...base, choices: [], usage: { prompt_tokens: 10, completion_tokens: TOKENS, total_tokens: 10 + TOKENS } });
    res.end('data: [DONE]\n\n');
  });
  server.keepAliveTimeout = 120000;
  server.maxConnections = 100000;
  server.listen(0, '127.0.0.1', () => console.log(`UPSTREAM ${server.address().port}`));
} else {
  await main();
}

async function main() {
  const WebSocket = require('ws');
  const OAG = opt('oag');
  const DIR = opt('dir');
  const PRICES = opt('prices');
  const S = Number(opt('sessions', '2000'));
  const COMPANIES = Number(opt('companies', '10'));
  const TOKENS = Number(opt('tokens', '40'));
  const INTERVAL = Number(opt('interval-ms', '25'));
  const FIRST = Number(opt('first-ms', '50'));
  const STALL_S = Number(opt('stall-s', '5'));
  const WRITE = opt('write', null);
  const COMMIT = opt('commit', 'unknown');
  if (!OAG || !DIR || !PRICES) {
    console.error('usage: node bench/ws_chat.mjs --oag BIN --dir DIR --prices FILE [--sessions N]');
    process.exit(2);
  }
  const load0 = os.loadavg();

  // upstream
  const up = spawn(process.execPath, [fileURLToPath(import.meta.url), '--role', 'upstream', '--tokens', String(TOKENS), '--interval-ms', String(INTERVAL), '--first-ms', String(FIRST)], { stdio: ['ignore', 'pipe', 'inherit'] });
  fs.writeFileSync(path.join(DIR, 'upstream.pid'), `${up.pid}\n`);
  const upPort = await new Promise((resolve, reject) => {
    let buf = '';
    up.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/UPSTREAM (\d+)/);
      if (m) resolve(Number(m[1]));
    });
    up.on('exit', (c) => reject(new Error(`upstream exited (${c})`)));
  });

  // daemon
  const dataDir = path.join(DIR, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const configFile = path.join(DIR, 'oag.json');
  fs.writeFileSync(configFile, JSON.stringify({ listen: '127.0.0.1:0', demo: false, prices_file: PRICES, durability: 'wal', providers: { mock: { kind: 'mock' } } }, null, 2));
  const adminToken = `adm_${crypto.randomBytes(18).toString('hex')}`;
  const logFile = path.join(DIR, 'oag.log');
  const fd = fs.openSync(logFile, 'a');
  const proc = spawn(OAG, ['serve', '--config', configFile, '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, OAG_ADMIN_TOKEN: adminToken, OAG_MASTER_KEY: crypto.randomBytes(32).toString('base64') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  fs.writeFileSync(path.join(DIR, 'oag.pid'), `${proc.pid}\n`);
  proc.stderr.on('data', (b) => fs.writeSync(fd, b));
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (b) => {
      fs.writeSync(fd, b);
      buf += b;
      const m = buf.match(/OAG listening on http:\/\/[^:\s]+:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (c, s) => reject(new Error(`oag exited (${c} ${s}); see ${logFile}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const request = async (method, p, body, token) => {
    const h = { 'content-type': 'application/json' };
    if (token) h.authorization = `Bearer ${token}`;
    const r = await fetch(url + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const rss = () => {
    const s = fs.readFileSync(`/proc/${proc.pid}/status`, 'utf8');
    return { rss: Number(s.match(/VmRSS:\s+(\d+)/)[1]) * 1024, anon: Number(s.match(/RssAnon:\s+(\d+)/)[1]) * 1024 };
  };
  const fds = () => fs.readdirSync(`/proc/${proc.pid}/fd`).length;

  const keys = [];
  for (let i = 0; i < COMPANIES; i++) {
    const co = await request('POST', '/admin/v1/companies', { name: `bench-${i}`, credit_ot: '100000000' }, adminToken);
    const key = await request('POST', `/admin/v1/companies/${co.id}/keys`, { name: 'bench' }, adminToken);
    await request('PUT', `/admin/v1/companies/${co.id}/providers/fake`, { kind: 'openai', base_url: `http://127.0.0.1:${upPort}/v1`, api_key: 'sk-bench' }, adminToken);
    keys.push(key.key);
  }

  /** One session: resolves once open. */
  function openSession(i) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/realtime/chat`, { headers: { authorization: `Bearer ${keys[i % keys.length]}` }, perMessageDeflate: false });
    const s = { i, ws, sentAt: 0, first: null, last: null, maxGap: 0, deltas: 0, done: null, error: null, closed: null };
    ws.on('message', (data) => {
      const now = performance.now();
      const ev = JSON.parse(data);
      if (ev.type === 'delta') {
        if (s.first === null) s.first = now - s.sentAt;
        else s.maxGap = Math.max(s.maxGap, now - s.last);
        s.last = now;
        s.deltas += 1;
      } else if (ev.type === 'run.completed' || ev.type === 'run.failed' || ev.type === 'run.cancelled') {
        s.done = { type: ev.type, at: now - s.sentAt };
        s.resolveDone?.();
      } else if (ev.type === 'error') {
        s.error = ev.error;
        s.resolveDone?.();
      }
    });
    ws.on('close', (code) => {
      s.closed = code;
      s.resolveDone?.();
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(s));
      ws.once('error', reject);
      ws.once('unexpected-response', (_, res) => reject(new Error(`upgrade ${res.statusCode}`)));
    });
  }

  // warm-up: one session, one message
  {
    const s = await openSession(0);
    await new Promise((resolve) => {
      s.resolveDone = resolve;
      s.sentAt = performance.now();
      s.ws.send(JSON.stringify({ type: 'chat.message', content: 'warm up', model: 'fake/gpt-4o-mini' }));
    });
    if (!s.done || s.done.type !== 'run.completed') throw new Error(`warm-up failed: ${JSON.stringify(s.error || s.done)}`);
    s.ws.close();
    await sleep(500);
  }

  const before = rss();
  const fdsBefore = fds();
  log(`opening ${S} sessions…`);
  const sessions = [];
  const tOpen = performance.now();
  for (let i = 0; i < S; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(S, i + 100); j++) batch.push(openSession(j));
    sessions.push(...(await Promise.all(batch)));
  }
  const openMs = performance.now() - tOpen;
  await sleep(1000);
  const idle = rss();
  const fdsIdle = fds();
  log(`${S} sessions open in ${openMs.toFixed(0)} ms; RSS ${(idle.rss / 1048576).toFixed(1)} MiB (${((idle.rss - before.rss) / S / 1024).toFixed(1)} KiB per session)`);

  // all at once
  let peak = idle;
  const sampler = setInterval(() => {
    try {
      const r = rss();
      if (r.rss > peak.rss) peak = r;
    } catch {}
  }, 100);
  const t0 = performance.now();
  const done = sessions.map((s) => new Promise((resolve) => (s.resolveDone = resolve)));
  for (const s of sessions) {
    s.sentAt = performance.now();
    s.ws.send(JSON.stringify({ type: 'chat.message', content: `hello from session ${s.i}`, model: 'fake/gpt-4o-mini' }));
  }
  // stall watch: a session without a token for STALL_S before its run ended
  const stalled = new Set();
  const watch = setInterval(() => {
    const now = performance.now();
    for (const s of sessions) {
      if (s.done || s.error || s.closed !== null) continue;
      const since = s.last ?? s.sentAt;
      if (now - since > STALL_S * 1000) stalled.add(s.i);
    }
  }, 250);
  const deadline = Math.max(120000, (FIRST + TOKENS * INTERVAL) * 20);
  await Promise.race([Promise.all(done), sleep(deadline)]);
  clearInterval(watch);
  clearInterval(sampler);
  const wallMs = performance.now() - t0;
  const streaming = peak;

  const ok = sessions.filter((s) => s.done?.type === 'run.completed' && s.deltas === TOKENS);
  const failed = sessions.filter((s) => !(s.done?.type === 'run.completed' && s.deltas === TOKENS));
  const q = (xs, p) => {
    const a = [...xs].sort((x, y) => x - y);
    return a.length ? a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))] : NaN;
  };
  const ttft = sessions.filter((s) => s.first !== null).map((s) => s.first);
  const added = ttft.map((x) => x - FIRST);
  const gaps = sessions.filter((s) => s.deltas > 1).map((s) => s.maxGap);
  const totals = ok.map((s) => s.done.at);
  const ideal = FIRST + (TOKENS - 1) * INTERVAL;
  for (const s of sessions) s.ws.close();
  await sleep(1000);
  const after = rss();

  const res = {
    at: new Date().toISOString(),
    commit: COMMIT,
    cpu: os.cpus()[0]?.model,
    cpus: os.cpus().length,
    kernel: os.release(),
    load: { start: load0, end: os.loadavg() },
    sessions: S,
    companies: COMPANIES,
    upstream: { tokens: TOKENS, interval_ms: INTERVAL, first_ms: FIRST },
    stall_s: STALL_S,
    open_ms: openMs,
    ok: ok.length,
    failed: failed.length,
    failures: failed.slice(0, 5).map((s) => ({ i: s.i, deltas: s.deltas, done: s.done, error: s.error, closed: s.closed })),
    stalled: stalled.size,
    ttft_ms: { p50: q(ttft, 50), p99: q(ttft, 99), max: Math.max(...ttft) },
    added_ttft_ms: { p50: q(added, 50), p99: q(added, 99), max: Math.max(...added) },
    max_gap_ms: { p50: q(gaps, 50), p99: q(gaps, 99), max: Math.max(...gaps) },
    total_ms: { ideal, p50: q(totals, 50), p99: q(totals, 99) },
    wall_ms: wallMs,
    deltas_per_s: (sessions.reduce((a, s) => a + s.deltas, 0) / wallMs) * 1000,
    rss: { before: before.rss, idle: idle.rss, streaming: streaming.rss, after: after.rss },
    rss_per_idle_session: (idle.rss - before.rss) / S,
    rss_per_streaming_session: (streaming.rss - before.rss) / S,
    fds: { before: fdsBefore, idle: fdsIdle },
  };
  fs.writeFileSync(path.join(DIR, 'results.json'), JSON.stringify(res, null, 2));
  const md = markdown(res);
  process.stdout.write(md + '\n');
  if (WRITE) writeSection(WRITE, md);
  proc.kill('SIGTERM');
  up.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  process.exit(failed.length || stalled.size ? 1 : 0);
}

function markdown(r) {
  const ms = (x) => `${Math.round(x)} ms`;
  const kib = (x) => `${(x / 1024).toFixed(1)} KiB`;
  const mib = (x) => `${(x / 1048576).toFixed(1)} MiB`;
  const lines = [];
  lines.push(`Measured ${r.at.slice(0, 16)}Z on ${r.cpu} (${r.cpus} CPUs, Linux ${r.kernel}), oag ${r.commit}, ${r.sessions.toLocaleString('en')} concurrent sessions over ${r.companies} companies; the fake upstream streams ${r.upstream.tokens} chunks per answer, the first after ${r.upstream.first_ms} ms, then one every ${r.upstream.interval_ms} ms (an ideal answer takes ${r.total_ms.ideal} ms). \`durability: wal\`, client, daemon and upstream on the same machine.`);
  lines.push(`Load average (1/5/15 min) at the start ${r.load.start.map((x) => x.toFixed(2)).join(' ')}, at the end ${r.load.end.map((x) => x.toFixed(2)).join(' ')}.`);
  lines.push('');
  lines.push('| | |');
  lines.push('|---|---|');
  lines.push(`| sessions completed (every chunk, run.completed) | ${r.ok} of ${r.sessions}${r.failed ? ` (${r.failed} failed)` : ''} |`);
  lines.push(`| stalls (no token for ${r.stall_s} s before the run ended) | ${r.stalled} |`);
  lines.push(`| time to first token, client-side (p50 / p99 / max) | ${ms(r.ttft_ms.p50)} / ${ms(r.ttft_ms.p99)} / ${ms(r.ttft_ms.max)} |`);
  lines.push(`| **added** time to first token (minus the upstream's ${r.upstream.first_ms} ms; p50 / p99 / max) | ${ms(r.added_ttft_ms.p50)} / **${ms(r.added_ttft_ms.p99)}** / ${ms(r.added_ttft_ms.max)} |`);
  lines.push(`| longest gap between two tokens of a session (p50 / p99 / max; upstream: ${r.upstream.interval_ms} ms) | ${ms(r.max_gap_ms.p50)} / ${ms(r.max_gap_ms.p99)} / ${ms(r.max_gap_ms.max)} |`);
  lines.push(`| whole answer (p50 / p99; ideal ${r.total_ms.ideal} ms) | ${ms(r.total_ms.p50)} / ${ms(r.total_ms.p99)} |`);
  lines.push(`| tokens delivered per second (all sessions) | ${Math.round(r.deltas_per_s).toLocaleString('en')} |`);
  lines.push(`| opening ${r.sessions.toLocaleString('en')} sessions (100 at a time) | ${ms(r.open_ms)} |`);
  lines.push(`| daemon RSS: before / all open and idle / peak while streaming / after closing | ${mib(r.rss.before)} / ${mib(r.rss.idle)} / ${mib(r.rss.streaming)} / ${mib(r.rss.after)} |`);
  lines.push(`| **RSS per session**: idle / streaming (thread, run, model call, upstream connection) | **${kib(r.rss_per_idle_session)}** / ${kib(r.rss_per_streaming_session)} |`);
  lines.push(`| daemon file descriptors: before / sessions open | ${r.fds.before} / ${r.fds.idle} |`);
  return lines.join('\n');
}

function writeSection(file, md) {
  let doc = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  const section = `${BEGIN}\n${md}\n${END}`;
  if (a >= 0 && b > a) doc = doc.slice(0, a) + section + doc.slice(b + END.length);
  else doc += `\n## WebSocket chat sessions (issue 6)\n\nMeasured by \`scripts/bench-ws.sh\` (\`bench/ws_chat.mjs\`).\n\n${section}\n`;
  fs.writeFileSync(file, doc);
}
