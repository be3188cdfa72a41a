// WebSocket chat benchmark (issue 6), driven by scripts/bench-ws.sh.
//
// 1. Starts a fake OpenAI upstream in a child process (this file with
//    --role upstream): every streamed chat completion answers TOKENS content
//    chunks, the first FIRST_MS after the request, then one every INTERVAL_MS
//    (on an absolute schedule, so the upstream's own delays do not add up),
//    then usage. GET /stats gives how late its event loop sent the chunks.
// 2. Starts oag (fresh data dir, durability wal), creates COMPANIES companies
//    with a key each and a provider "fake" at the upstream; opens S sessions
//    on GET /v1/realtime/chat (Authorization header), spread over the
//    companies, and reads the daemon's RSS with all of them open and idle.
// 3. Arrival: session i sends one chat.message (model-only persona
//    fake/gpt-4o-mini: a thread and a run per session, as the Assistants API
//    would create) at offset i × RAMP_MS / S, i.e. evenly spread over
//    [0, RAMP_MS) (--ramp-ms 0: all in the same millisecond, the burst).
//    Records the time to the first delta, every gap between deltas, the
//    final run.completed, and every 100 ms how many sessions are streaming
//    (first token seen, run not ended) and the daemon's RSS. An answer
//    should last longer than the ramp, so that all sessions stream at once
//    (the report says the peak and for how long all S streamed together).
//    A stall is STALL_S without a token before the run ended, counted apart
//    before the first token (waiting for the run to start) and after it (a
//    stream that stopped flowing).
// 4. With --burst-sessions B (> 0, and RAMP_MS > 0): closes those sessions,
//    opens B new ones and repeats step 3 with all B messages at once.
// 5. Writes results.json and a markdown section; with --write FILE replaces
//    the text between <!-- bench-ws:begin --> and <!-- bench-ws:end -->.
//
// node bench/ws_chat.mjs --oag BIN --dir DIR --prices FILE [--sessions 2000]
//      [--companies 10] [--ramp-ms 10000] [--tokens 120] [--interval-ms 250]
//      [--first-ms 50] [--stall-s 5] [--gap-warn-ms 1000] [--burst-sessions 0]
//      [--write docs/PERFORMANCE.md] [--commit SHA]
// node bench/ws_chat.mjs --report results.json [--write FILE] re-renders a run.
// The daemon's and the upstream's pids are kept in DIR/*.pid (the shell script's trap kills them).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
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
  const TOKENS = Number(opt('tokens', '120'));
  const INTERVAL = Number(opt('interval-ms', '250'));
  const FIRST = Number(opt('first-ms', '50'));
  let late = []; // per answer: how late (ms) its latest chunk was sent, against its schedule
  const server = http.createServer(async (req, res) => {
    let raw = '';
    for await (const c of req) raw += c;
    if (req.url.startsWith('/stats')) {
      const a = [...late].sort((x, y) => x - y);
      const q = (p) => (a.length ? a[Math.min(a.length - 1, Math.floor(p * a.length))] : null);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ answers: a.length, p50: q(0.5), p99: q(0.99), max: a.length ? a[a.length - 1] : null }));
      if (req.url.includes('reset=1')) late = [];
      return;
    }
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
    const t0 = performance.now();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const send = (o) => res.write(`data: ${JSON.stringify(o)}\n\n`);
    let gone = false;
    res.on('close', () => (gone = true));
    send({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
    let worst = 0;
    for (let i = 0; i < TOKENS && !gone; i++) {
      // Absolute schedule: chunk i at FIRST + i × INTERVAL after the request.
      const due = t0 + FIRST + i * INTERVAL;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      worst = Math.max(worst, performance.now() - due);
      send({ ...base, choices: [{ index: 0, delta: { content: `t${i} ` }, finish_reason: null }] });
    }
    if (gone) return;
    late.push(worst);
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
  const RAMP = Number(opt('ramp-ms', '10000'));
  const TOKENS = Number(opt('tokens', '120'));
  const INTERVAL = Number(opt('interval-ms', '250'));
  const FIRST = Number(opt('first-ms', '50'));
  const STALL_S = Number(opt('stall-s', '5'));
  const GAP_WARN = Number(opt('gap-warn-ms', '1000'));
  const BURST = Number(opt('burst-sessions', '0'));
  const WRITE = opt('write', null);
  const COMMIT = opt('commit', 'unknown');
  if (!OAG || !DIR || !PRICES || !(S >= 1) || !(RAMP >= 0) || !(TOKENS >= 1) || !(BURST >= 0)) {
    console.error('usage: node bench/ws_chat.mjs --oag BIN --dir DIR --prices FILE [--sessions N] [--ramp-ms N] [--burst-sessions N] …');
    process.exit(2);
  }
  const ideal = FIRST + (TOKENS - 1) * INTERVAL;
  if (RAMP > 0 && ideal <= RAMP) log(`warning: an answer (${ideal} ms) does not outlast the ramp (${RAMP} ms): the sessions will not all stream at once`);
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
  const upstreamStats = async (reset) => (await fetch(`http://127.0.0.1:${upPort}/stats${reset ? '?reset=1' : ''}`)).json();

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

  const ended = (s) => s.done !== null || s.error !== null || s.closed !== null;

  /** One session: resolves once open. */
  function openSession(i) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/realtime/chat`, { headers: { authorization: `Bearer ${keys[i % keys.length]}` }, perMessageDeflate: false });
    const s = { i, ws, sentAt: null, first: null, last: null, maxGap: 0, deltas: 0, done: null, error: null, closed: null };
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
  async function openMany(n, from) {
    const out = [];
    for (let i = 0; i < n; i += 100) {
      const batch = [];
      for (let j = i; j < Math.min(n, i + 100); j++) batch.push(openSession(from + j));
      out.push(...(await Promise.all(batch)));
    }
    return out;
  }
  const q = (xs, p) => {
    const a = [...xs].sort((x, y) => x - y);
    return a.length ? a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))] : NaN;
  };
  const max = (xs) => xs.reduce((a, x) => Math.max(a, x), -Infinity);

  /**
   * Session k of `sessions` sends its message rampMs × k / n after the
   * start (rampMs 0: all at once); waits for every run to end.
   */
  async function phase(sessions, rampMs) {
    const n = sessions.length;
    await upstreamStats(true);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    let peak = rss();
    const timeline = []; // [ms since start, in flight, streaming, tokens delivered so far]
    const t0 = performance.now();
    const sample = () => {
      let inflight = 0;
      let streaming = 0;
      let deltas = 0;
      for (const s of sessions) {
        deltas += s.deltas;
        if (s.sentAt === null || ended(s)) continue;
        inflight += 1;
        if (s.first !== null) streaming += 1;
      }
      timeline.push([performance.now() - t0, inflight, streaming, deltas]);
      try {
        const r = rss();
        if (r.rss > peak.rss) peak = r;
      } catch {}
    };
    const sampler = setInterval(sample, 100);
    // stall watch: STALL_S without a token before the run ended, before or after the first token
    const stalledBefore = new Set();
    const stalledAfter = new Set();
    const watch = setInterval(() => {
      const now = performance.now();
      for (const s of sessions) {
        if (s.sentAt === null || ended(s)) continue;
        if (s.first === null) {
          if (now - s.sentAt > STALL_S * 1000) stalledBefore.add(s.i);
        } else if (now - s.last > STALL_S * 1000) stalledAfter.add(s.i);
      }
    }, 250);
    const done = sessions.map((s) => new Promise((resolve) => (s.resolveDone = resolve)));
    const send = (s) => {
      s.sentAt = performance.now();
      s.ws.send(JSON.stringify({ type: 'chat.message', content: `hello from session ${s.i}`, model: 'fake/gpt-4o-mini' }));
    };
    const offset = (k) => (rampMs * k) / n;
    for (let k = 0; k < n; ) {
      const now = performance.now() - t0;
      while (k < n && offset(k) <= now) send(sessions[k++]);
      if (k < n) await sleep(Math.max(1, Math.min(20, offset(k) - now)));
    }
    const sendMs = performance.now() - t0;
    const deadline = Math.max(60000, rampMs + ideal * 4 + 30000);
    await Promise.race([Promise.all(done), sleep(Math.max(0, deadline - (performance.now() - t0)))]);
    sample();
    clearInterval(watch);
    clearInterval(sampler);
    loop.disable();
    const wallMs = performance.now() - t0;
    const upLate = await upstreamStats(false);

    // the same rules after the fact (the watch samples every 250 ms)
    for (const s of sessions) {
      if (s.first !== null && s.first > STALL_S * 1000) stalledBefore.add(s.i);
      if (s.maxGap > STALL_S * 1000) stalledAfter.add(s.i);
    }
    const ok = sessions.filter((s) => s.done?.type === 'run.completed' && s.deltas === TOKENS);
    const failed = sessions.filter((s) => !(s.done?.type === 'run.completed' && s.deltas === TOKENS));
    const ttft = sessions.filter((s) => s.first !== null).map((s) => s.first);
    const added = ttft.map((x) => x - FIRST);
    const gaps = sessions.filter((s) => s.deltas > 1).map((s) => s.maxGap);
    const totals = ok.map((s) => s.done.at);
    // concurrency: the sampled peak, and for how long all (≥ 90 % of) the sessions streamed together
    const dt = (k) => (k + 1 < timeline.length ? timeline[k + 1][0] - timeline[k][0] : 0);
    let allMs = 0;
    let ninetyMs = 0;
    let peakStreaming = 0;
    let peakInflight = 0;
    let peakAt = 0;
    for (let k = 0; k < timeline.length; k++) {
      const [t, inflight, streaming] = timeline[k];
      if (streaming > peakStreaming) [peakStreaming, peakAt] = [streaming, t];
      peakInflight = Math.max(peakInflight, inflight);
      if (streaming >= n) allMs += dt(k);
      if (streaming >= 0.9 * n) ninetyMs += dt(k);
    }
    // delivery rate over 1 s windows
    let peakRate = 0;
    for (let a = 0, b = 0; b < timeline.length; b++) {
      while (timeline[b][0] - timeline[a][0] > 1000) a++;
      const span = timeline[b][0] - timeline[a][0];
      if (span >= 900) peakRate = Math.max(peakRate, ((timeline[b][3] - timeline[a][3]) / span) * 1000);
    }
    const deltas = sessions.reduce((a, s) => a + s.deltas, 0);
    return {
      sessions: n,
      ramp_ms: rampMs,
      send_ms: sendMs,
      ok: ok.length,
      failed: failed.length,
      failures: failed.slice(0, 5).map((s) => ({ i: s.i, deltas: s.deltas, done: s.done, error: s.error, closed: s.closed })),
      stalled_before_first: stalledBefore.size,
      stalled_after_first: stalledAfter.size,
      gap_over_warn: gaps.filter((g) => g > GAP_WARN).length,
      ttft_ms: { p50: q(ttft, 50), p99: q(ttft, 99), max: max(ttft) },
      added_ttft_ms: { p50: q(added, 50), p99: q(added, 99), max: max(added) },
      max_gap_ms: { p50: q(gaps, 50), p99: q(gaps, 99), max: max(gaps) },
      total_ms: { ideal, p50: q(totals, 50), p99: q(totals, 99) },
      wall_ms: wallMs,
      deltas_per_s: (deltas / wallMs) * 1000,
      peak_deltas_per_s: peakRate,
      streaming: { peak: peakStreaming, peak_at_ms: peakAt, all_ms: allMs, ninety_ms: ninetyMs, peak_inflight: peakInflight },
      rss_peak: peak.rss,
      client_loop_delay_ms: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
      upstream_late_ms: upLate,
      timeline_1s: timeline.filter((_, k) => k % 10 === 0).map(([t, a, b, c]) => [Math.round(t), a, b, c]),
    };
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
  const tOpen = performance.now();
  const sessions = await openMany(S, 0);
  const openMs = performance.now() - tOpen;
  await sleep(1000);
  const idle = rss();
  const fdsIdle = fds();
  log(`${S} sessions open in ${openMs.toFixed(0)} ms; RSS ${(idle.rss / 1048576).toFixed(1)} MiB (${((idle.rss - before.rss) / S / 1024).toFixed(1)} KiB per session)`);

  log(RAMP > 0 ? `${S} messages spread over ${RAMP} ms…` : `${S} messages at once…`);
  const first = await phase(sessions, RAMP);
  log(`done in ${(first.wall_ms / 1000).toFixed(1)} s: ${first.ok} completed, peak ${first.streaming.peak} streaming at once, stalls ${first.stalled_before_first} before / ${first.stalled_after_first} after the first token, added TTFT p99 ${first.added_ttft_ms.p99.toFixed(0)} ms`);
  for (const s of sessions) s.ws.close();
  await sleep(1000);
  const after = rss();

  let burst = null;
  if (BURST > 0 && RAMP > 0) {
    log(`burst: opening ${BURST} new sessions, all messages at once…`);
    const bs = await openMany(BURST, S);
    await sleep(1000);
    burst = await phase(bs, 0);
    log(`burst done in ${(burst.wall_ms / 1000).toFixed(1)} s: ${burst.ok} completed, stalls ${burst.stalled_before_first} before / ${burst.stalled_after_first} after the first token, added TTFT p99 ${burst.added_ttft_ms.p99.toFixed(0)} ms`);
    for (const s of bs) s.ws.close();
    await sleep(500);
  }

  const res = {
    format: 2,
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
    gap_warn_ms: GAP_WARN,
    open_ms: openMs,
    main: first,
    burst,
    rss: { before: before.rss, idle: idle.rss, streaming: first.rss_peak, after: after.rss },
    rss_per_idle_session: (idle.rss - before.rss) / S,
    rss_per_streaming_session: (first.rss_peak - before.rss) / S,
    fds: { before: fdsBefore, idle: fdsIdle },
  };
  fs.writeFileSync(path.join(DIR, 'results.json'), JSON.stringify(res, null, 2));
  const md = markdown(res);
  process.stdout.write(md + '\n');
  if (WRITE) writeSection(WRITE, md);
  proc.kill('SIGTERM');
  up.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  // A failure is a session that did not get its whole answer, or a stall in
  // the main phase (the burst's stalls before the first token are expected).
  process.exit(first.failed || (burst && burst.failed) || first.stalled_before_first || first.stalled_after_first ? 1 : 0);
}

function markdown(r) {
  const ms = (x) => `${Math.round(x)} ms`;
  const sec = (x) => `${(x / 1000).toFixed(1)} s`;
  const kib = (x) => `${(x / 1024).toFixed(1)} KiB`;
  const mib = (x) => `${(x / 1048576).toFixed(1)} MiB`;
  const num = (x) => Math.round(x).toLocaleString('en');
  const m = r.main;
  const arrival = (p) => (p.ramp_ms > 0 ? `spread over ${sec(p.ramp_ms)} (one every ${(p.ramp_ms / p.sessions).toFixed(1)} ms)` : 'all in the same millisecond (burst)');
  const lines = [];
  lines.push(`Measured ${r.at.slice(0, 16)}Z on ${r.cpu} (${r.cpus} CPUs, Linux ${r.kernel}), oag ${r.commit}, ${r.sessions.toLocaleString('en')} concurrent sessions over ${r.companies} companies, their messages ${arrival(m)}; the fake upstream streams ${r.upstream.tokens} chunks per answer, the first ${r.upstream.first_ms} ms after the request, then one every ${r.upstream.interval_ms} ms (an ideal answer takes ${ms(m.total_ms.ideal)}${m.ramp_ms > 0 ? (m.total_ms.ideal > m.ramp_ms ? ', longer than the ramp, so all sessions can stream at once' : ', not longer than the ramp: the sessions cannot all stream at once') : ''}). \`durability: wal\`, client, daemon and upstream on the same machine.`);
  lines.push(`Load average (1/5/15 min) at the start ${r.load.start.map((x) => x.toFixed(2)).join(' ')}, at the end ${r.load.end.map((x) => x.toFixed(2)).join(' ')}.`);
  lines.push('');
  lines.push('| | |');
  lines.push('|---|---|');
  lines.push(`| sessions completed (every chunk, run.completed) | ${m.ok} of ${m.sessions}${m.failed ? ` (${m.failed} failed)` : ''} |`);
  lines.push(`| **sessions streaming at once** (first token in, run not ended; sampled every 100 ms): peak / all ${m.sessions.toLocaleString('en')} together for / ≥ 90 % for | **${num(m.streaming.peak)}** (at ${sec(m.streaming.peak_at_ms)}) / ${sec(m.streaming.all_ms)} / ${sec(m.streaming.ninety_ms)} |`);
  lines.push(`| stalls **before the first token** (${r.stall_s} s after sending, no token yet) | ${m.stalled_before_first} |`);
  lines.push(`| stalls **after the first token** (${r.stall_s} s without a token before the run ended) | ${m.stalled_after_first} |`);
  lines.push(`| sessions whose longest gap between two tokens exceeded ${sec(r.gap_warn_ms)} | ${m.gap_over_warn} |`);
  lines.push(`| time to first token, client-side (p50 / p99 / max) | ${ms(m.ttft_ms.p50)} / ${ms(m.ttft_ms.p99)} / ${ms(m.ttft_ms.max)} |`);
  lines.push(`| **added** time to first token (minus the upstream's ${r.upstream.first_ms} ms; p50 / p99 / max) | ${ms(m.added_ttft_ms.p50)} / **${ms(m.added_ttft_ms.p99)}** / ${ms(m.added_ttft_ms.max)} |`);
  lines.push(`| longest gap between two tokens of a session (p50 / p99 / max; upstream: ${r.upstream.interval_ms} ms) | ${ms(m.max_gap_ms.p50)} / ${ms(m.max_gap_ms.p99)} / ${ms(m.max_gap_ms.max)} |`);
  lines.push(`| whole answer (p50 / p99; ideal ${ms(m.total_ms.ideal)}) | ${ms(m.total_ms.p50)} / ${ms(m.total_ms.p99)} |`);
  lines.push(`| tokens delivered per second, all sessions: average over the phase / best 1 s (offered at the peak: ${num((m.sessions * 1000) / r.upstream.interval_ms)}) | ${num(m.deltas_per_s)} / ${num(m.peak_deltas_per_s)} |`);
  lines.push(`| event loops (they share the 2 cores with oag): the client's delay p99 / max; the upstream's lateness per answer (its latest chunk vs. its schedule) p50 / p99 / max | ${ms(m.client_loop_delay_ms.p99)} / ${ms(m.client_loop_delay_ms.max)}; ${ms(m.upstream_late_ms.p50 ?? NaN)} / ${ms(m.upstream_late_ms.p99 ?? NaN)} / ${ms(m.upstream_late_ms.max ?? NaN)} |`);
  lines.push(`| opening ${r.sessions.toLocaleString('en')} sessions (100 at a time) | ${ms(r.open_ms)} |`);
  lines.push(`| daemon RSS: before / all open and idle / peak while streaming / after closing | ${mib(r.rss.before)} / ${mib(r.rss.idle)} / ${mib(r.rss.streaming)} / ${mib(r.rss.after)} |`);
  lines.push(`| **RSS per session**: idle / streaming (thread, run, model call, upstream connection) | **${kib(r.rss_per_idle_session)}** / ${kib(r.rss_per_streaming_session)} |`);
  lines.push(`| daemon file descriptors: before / sessions open | ${r.fds.before} / ${r.fds.idle} |`);
  const b = r.burst;
  if (b) {
    lines.push('');
    lines.push(`**Burst** for comparison: then ${b.sessions.toLocaleString('en')} new sessions (same daemon, the first ones closed) sent their messages in the same millisecond (the arrival of the earlier version of this benchmark).`);
    lines.push('');
    lines.push(`| | spread over ${sec(m.ramp_ms)} | burst |`);
    lines.push('|---|---|---|');
    lines.push(`| completed | ${m.ok} of ${m.sessions} | ${b.ok} of ${b.sessions}${b.failed ? ` (${b.failed} failed)` : ''} |`);
    lines.push(`| streaming at once: peak / all together for | ${num(m.streaming.peak)} / ${sec(m.streaming.all_ms)} | ${num(b.streaming.peak)} / ${sec(b.streaming.all_ms)} |`);
    lines.push(`| stalls before / after the first token | ${m.stalled_before_first} / ${m.stalled_after_first} | ${b.stalled_before_first} / ${b.stalled_after_first} |`);
    lines.push(`| added time to first token p50 / p99 / max | ${ms(m.added_ttft_ms.p50)} / ${ms(m.added_ttft_ms.p99)} / ${ms(m.added_ttft_ms.max)} | ${ms(b.added_ttft_ms.p50)} / ${ms(b.added_ttft_ms.p99)} / ${ms(b.added_ttft_ms.max)} |`);
    lines.push(`| longest gap between two tokens p99 / max; sessions with a gap over ${sec(r.gap_warn_ms)} | ${ms(m.max_gap_ms.p99)} / ${ms(m.max_gap_ms.max)}; ${m.gap_over_warn} | ${ms(b.max_gap_ms.p99)} / ${ms(b.max_gap_ms.max)}; ${b.gap_over_warn} |`);
    lines.push(`| whole answer p50 / p99 (ideal ${ms(m.total_ms.ideal)}) | ${ms(m.total_ms.p50)} / ${ms(m.total_ms.p99)} | ${ms(b.total_ms.p50)} / ${ms(b.total_ms.p99)} |`);
    lines.push(`| tokens per second: average / best 1 s | ${num(m.deltas_per_s)} / ${num(m.peak_deltas_per_s)} | ${num(b.deltas_per_s)} / ${num(b.peak_deltas_per_s)} |`);
    lines.push(`| daemon RSS peak | ${mib(m.rss_peak)} | ${mib(b.rss_peak)} |`);
  }
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
