// Parked-runs benchmark (issue 4), driven by scripts/bench-runs.sh.
//
// 1. Starts oag (fresh data dir, durability wal), creates one company, one
//    assistant with the function tool get_weather on mock/echo, runs one
//    warm-up run to completion, then creates N runs, each on its own thread
//    (POST /v1/threads/runs, non-streamed, concurrency C) whose message makes
//    the model call get_weather, and waits until every one is requires_action.
//    Reads VmRSS/RssAnon before and after (and at N/2, for the marginal slope)
//    and the idle daemon's CPU over 5 s (utime+stime, and the ns sum of
//    /proc/PID/task/*/schedstat, plus context switches: wake-ups).
// 2. Restarts the daemon on the same data dir, first after SIGTERM, then
//    after kill -9, and measures from spawn: the listening line, /readyz 200,
//    submit_tool_outputs on the last created run until it is completed, and
//    the same for 100 runs spread over the set. RSS and idle CPU after each.
// 3. Writes results.json and a markdown section; with --write FILE replaces
//    the text between <!-- bench-runs:begin --> and <!-- bench-runs:end -->.
//
// node bench/parked_runs.mjs --oag BIN --dir DIR --prices FILE [--n 10000]
//      [--concurrency 32] [--sample 100] [--write docs/PERFORMANCE.md] [--quick]
// The daemon's pid is kept in DIR/oag.pid (the shell script's trap kills it).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
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
const OAG = opt('oag');
const DIR = opt('dir');
const PRICES = opt('prices');
const N = Number(opt('n', '10000'));
const C = Number(opt('concurrency', '32'));
const SAMPLE = Number(opt('sample', '100'));
const WRITE = opt('write', null);
const QUICK = flag('quick');
const CLK_TCK = Number(opt('clk-tck', '100'));
const idleCpu = (pid, secs = IDLE_CPU_S) => procIdleCpu(pid, secs, CLK_TCK);
const IDLE_SETTLE_S = Number(opt('settle', '3'));
const IDLE_CPU_S = 5;
const GOAL_BYTES_PER_RUN = 2048;
if (!OAG || !DIR || !PRICES || !(N > 0) || !(C > 0)) {
  console.error('usage: node bench/parked_runs.mjs --oag BIN --dir DIR --prices FILE [--n N] [--concurrency C]');
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('[bench-runs]', ...a);
class BenchError extends Error {}
const die = (msg) => {
  throw new BenchError(msg);
};
const BETA = { 'OpenAI-Beta': 'assistants=v2' };

// ---- the daemon ------------------------------------------------------------------

const dataDir = path.join(DIR, 'data');
const configFile = path.join(DIR, 'oag.json');
const adminToken = `adm_${crypto.randomBytes(18).toString('hex')}`;
const masterKey = crypto.randomBytes(32).toString('base64');
fs.mkdirSync(dataDir, { recursive: true });
fs.writeFileSync(
  configFile,
  JSON.stringify({ listen: '127.0.0.1:0', demo: false, prices_file: PRICES, durability: 'wal', providers: { mock: { kind: 'mock' } } }, null, 2),
);

let daemon = null; // { proc, pid, url, exited, logFile, t0 }
let spawnCount = 0;

/** Spawns oag; resolves when it printed its listening line. Times are ms from spawn. */
async function startDaemon() {
  spawnCount += 1;
  const logFile = path.join(DIR, `oag-${spawnCount}.log`);
  const fd = fs.openSync(logFile, 'a');
  const t0 = performance.now();
  const proc = spawn(OAG, ['serve', '--config', configFile, '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, OAG_ADMIN_TOKEN: adminToken, OAG_MASTER_KEY: masterKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const d = { proc, pid: proc.pid, url: '', exited: null, logFile, t0, listeningMs: NaN };
  daemon = d;
  fs.writeFileSync(path.join(DIR, 'oag.pid'), `${proc.pid}\n`);
  proc.on('exit', (code, signal) => {
    d.exited = { code, signal };
  });
  proc.stderr.on('data', (b) => fs.writeSync(fd, b));
  let buf = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new BenchError(`oag did not print its listening line within 60 s; log ${logFile}:\n${tail(logFile)}`)), 60000);
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

// ---- /proc -----------------------------------------------------------------------





// ---- HTTP (global fetch: undici, keep-alive) ---------------------------------------

async function http(method, p, { body, token, timeoutMs = 60000 } = {}) {
  const headers = { ...BETA };
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
  const r = await http(method, p, opts);
  const wants = Array.isArray(want) ? want : [want];
  if (!wants.includes(r.status)) die(`${method} ${p}: HTTP ${r.status} ${r.text.slice(0, 400)}`);
  return r.json;
}

/** Runs fn(i) for i in [0, n) with `conc` workers; stops at the first error. */

// ---- the benchmark ---------------------------------------------------------------

const weatherFn = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

let key = '';
let assistantId = '';
const runs = []; // { tid, rid, call }

async function createRun(i) {
  const r = await must(
    'POST',
    '/v1/threads/runs',
    {
      token: key,
      body: {
        assistant_id: assistantId,
        thread: { messages: [{ role: 'user', content: `weather ${i} please #mock:tool=get_weather:{"city":"Oslo"}` }] },
      },
    },
  );
  if (!r?.id || !r.thread_id) die(`POST /v1/threads/runs: no run id in ${JSON.stringify(r).slice(0, 300)}`);
  return { tid: r.thread_id, rid: r.id, call: null };
}

/** Polls a run until it has status `want`; fails on any other terminal status. */
async function waitStatus(run, want, { timeoutMs = 120000, intervalMs = 20 } = {}) {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const r = await http('GET', `/v1/threads/${run.tid}/runs/${run.rid}`, { token: key });
    if (r.status === 200) {
      const s = r.json.status;
      if (s === want) return r.json;
      if (!['queued', 'in_progress', 'requires_action'].includes(s) || (s === 'requires_action' && want !== s))
        die(`run ${run.rid}: status ${s} (wanted ${want}); last_error ${JSON.stringify(r.json.last_error)}`);
    } else if (r.status !== 503) {
      die(`GET run ${run.rid}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
    }
    if (performance.now() > end) die(`run ${run.rid}: not ${want} within ${timeoutMs / 1000} s`);
    await sleep(intervalMs);
  }
}

async function waitParked(run) {
  const r = await waitStatus(run, 'requires_action');
  const calls = r.required_action?.submit_tool_outputs?.tool_calls || [];
  if (calls.length !== 1 || calls[0].function?.name !== 'get_weather')
    die(`run ${run.rid}: expected one get_weather call, got ${JSON.stringify(r.required_action).slice(0, 300)}`);
  run.call = calls[0].id;
}

/** submit_tool_outputs (retrying while the daemon still answers 503), then waits for completed. */
async function submitAndComplete(run) {
  for (let i = 0; ; i++) {
    const r = await http('POST', `/v1/threads/${run.tid}/runs/${run.rid}/submit_tool_outputs`, {
      token: key,
      body: { tool_outputs: [{ tool_call_id: run.call, output: '{"temp_c":3,"sky":"rain"}' }] },
    });
    if (r.status === 200) break;
    if (r.status !== 503 || i > 2000) die(`submit_tool_outputs ${run.rid}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
    await sleep(5);
  }
  await waitStatus(run, 'completed', { intervalMs: 5 });
}

async function createAndPark(from, to) {
  const t = performance.now();
  const c0 = cpu(daemon.pid);
  await pool(to - from, C, async (k) => {
    runs[from + k] = await createRun(from + k);
  });
  const created = performance.now();
  await pool(to - from, C, async (k) => waitParked(runs[from + k]));
  const c1 = cpu(daemon.pid);
  return {
    n: to - from,
    create_s: (created - t) / 1000,
    park_all_s: (performance.now() - t) / 1000,
    runs_per_s: (to - from) / ((performance.now() - t) / 1000),
    cpu_us_per_run: (c1.ns - c0.ns) / 1e3 / (to - from),
  };
}

/** Restarts after `signal`; measures from spawn. `last` is a run, `sample` a list of runs. */
async function restartPhase(signal, last, sample) {
  const stop = await stopDaemon(signal);
  log(`  stopped with ${signal} in ${stop.ms.toFixed(0)} ms (exit ${JSON.stringify(stop.exit)})`);
  const d = await startDaemon();
  const t0 = d.t0;
  let readyMs = NaN;
  for (;;) {
    try {
      const r = await fetch(`${d.url}/readyz`, { signal: AbortSignal.timeout(5000) });
      await r.text();
      if (r.status === 200) {
        readyMs = performance.now() - t0;
        break;
      }
    } catch {}
    alive();
    if (performance.now() - t0 > 120000) die('/readyz not 200 within 120 s of spawn');
    await sleep(2);
  }
  const rssReady = memory(d.pid);
  await submitAndComplete(last);
  const lastMs = performance.now() - t0;
  const rssLast = memory(d.pid);
  await pool(sample.length, C, async (i) => submitAndComplete(sample[i]));
  const sampleMs = performance.now() - t0;
  const logText = fs.readFileSync(d.logFile, 'utf8');
  const restoreLine = (logText.match(/company \S+: \d+ unfinished runs[^\n]*/) || [''])[0];
  // The assistants actor's restore: from the directory's "restored" line to its "unfinished runs" line.
  const stamp = (re) => {
    const m = logText.match(new RegExp(`^(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d+)\\S* \\w+ ${re}`, 'm'));
    return m ? Date.parse(m[1] + 'Z') : NaN;
  };
  const restoreMs = stamp('company \\S+: \\d+ unfinished runs') - stamp('directory restored');
  await sleep(IDLE_SETTLE_S * 1000);
  const rssIdle = memory(d.pid);
  const idle = await idleCpu(d.pid);
  return {
    signal,
    stop_ms: stop.ms,
    listening_ms: d.listeningMs,
    ready_ms: readyMs,
    last_completed_ms: lastMs,
    sample_n: sample.length,
    sample_completed_ms: sampleMs,
    rss_at_ready: rssReady,
    rss_after_last: rssLast,
    rss_idle: rssIdle,
    idle_cpu: idle,
    restore_log: restoreLine,
    restore_ms: restoreMs,
  };
}

async function main() {
  const res = {
    date: new Date().toISOString().slice(0, 16) + 'Z',
    cpu: (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m) || [])[1] || 'unknown',
    ncpu: os.cpus().length,
    kernel: os.release(),
    oag_bin: OAG,
    oag_commit: opt('commit', 'unknown'),
    n: N,
    concurrency: C,
    quick: QUICK,
    load: { start: loadavg() },
  };
  log(`oag ${OAG}; N=${N}, concurrency ${C}; load ${res.load.start}`);
  await startDaemon();
  log(`oag on ${daemon.url} (pid ${daemon.pid}), listening ${daemon.listeningMs.toFixed(0)} ms after spawn`);
  res.rss_fresh = memory(daemon.pid);

  const co = await must('POST', '/admin/v1/companies', { token: adminToken, body: { name: 'bench-runs', credit_ot: '100000000' } }, 201);
  key = (await must('POST', `/admin/v1/companies/${co.id}/keys`, { token: adminToken, body: { name: 'bench' } }, 201)).key;
  const asst = await must('POST', '/v1/assistants', {
    token: key,
    body: { model: 'mock/echo', name: 'bench-weather', instructions: 'Use get_weather for weather questions.', tools: [weatherFn] },
  });
  assistantId = asst.id;

  // Warm-up: one run parked and completed (both paths), then settle.
  const warm = await createRun(-1);
  await waitParked(warm);
  await submitAndComplete(warm);
  await sleep(IDLE_SETTLE_S * 1000);
  res.rss_before = memory(daemon.pid);
  res.disk_before_kb = duKb(dataDir);
  res.idle_cpu_before = await idleCpu(daemon.pid);
  log(`baseline (company, assistant, 1 warm-up run): RSS ${res.rss_before.rss_kb} kB (anon ${res.rss_before.anon_kb} kB); idle CPU ${res.idle_cpu_before.ms_sched.toFixed(1)} ms / ${IDLE_CPU_S} s`);

  // N runs in two halves, so the second half gives the marginal cost per run.
  const half = Math.floor(N / 2);
  log(`creating ${half} runs (concurrency ${C}) and waiting until all are requires_action`);
  const p1 = await createAndPark(0, half);
  await sleep(1000);
  res.rss_half = memory(daemon.pid);
  log(`  ${p1.n} parked in ${p1.park_all_s.toFixed(1)} s (${p1.runs_per_s.toFixed(0)} runs/s, ${p1.cpu_us_per_run.toFixed(0)} µs oag CPU/run); RSS ${res.rss_half.rss_kb} kB`);
  log(`creating ${N - half} more`);
  const p2 = await createAndPark(half, N);
  log(`  ${p2.n} parked in ${p2.park_all_s.toFixed(1)} s (${p2.runs_per_s.toFixed(0)} runs/s, ${p2.cpu_us_per_run.toFixed(0)} µs oag CPU/run)`);
  res.load.after_create = loadavg();
  res.create = [p1, p2];
  // Every run checked once more: still parked (nothing expired or moved on).
  await pool(N, C, async (i) => {
    const r = await must('GET', `/v1/threads/${runs[i].tid}/runs/${runs[i].rid}`, { token: key });
    if (r.status !== 'requires_action') die(`run ${runs[i].rid} is ${r.status}, not requires_action`);
  });
  await sleep(IDLE_SETTLE_S * 1000);
  res.rss_after = memory(daemon.pid);
  res.disk_after_kb = duKb(dataDir);
  res.idle_cpu_parked = await idleCpu(daemon.pid);
  res.bytes_per_run = ((res.rss_after.rss_kb - res.rss_before.rss_kb) * 1024) / N;
  res.anon_bytes_per_run = ((res.rss_after.anon_kb - res.rss_before.anon_kb) * 1024) / N;
  res.marginal_bytes_per_run = ((res.rss_after.rss_kb - res.rss_half.rss_kb) * 1024) / (N - half);
  res.disk_bytes_per_run = ((res.disk_after_kb - res.disk_before_kb) * 1024) / N;
  log(`all ${N} parked: RSS ${res.rss_after.rss_kb} kB → ${res.bytes_per_run.toFixed(0)} B/run (anon ${res.anon_bytes_per_run.toFixed(0)} B/run, second half ${res.marginal_bytes_per_run.toFixed(0)} B/run); disk ${res.disk_bytes_per_run.toFixed(0)} B/run`);
  log(`idle with ${N} parked: ${res.idle_cpu_parked.ms_sched.toFixed(1)} ms CPU / ${IDLE_CPU_S} s (${res.idle_cpu_parked.pct_core.toFixed(3)}% of a core, ${res.idle_cpu_parked.wakeups_per_s.toFixed(1)} context switches/s)`);

  // Restarts. The sample: SAMPLE runs spread evenly, never the "last" run.
  const spread = (offset, exclude) => {
    const out = [];
    const k = Math.min(SAMPLE, N - 2);
    for (let j = 0; j < k; j++) {
      const i = Math.min(N - 1, Math.floor(((j + offset) * N) / k));
      if (!exclude.has(i) && !out.includes(runs[i])) out.push(runs[i]);
    }
    return out;
  };
  res.restarts = [];
  {
    log('restart after SIGTERM');
    const last = runs[N - 1];
    const sample = spread(0, new Set([N - 1, N - 2]));
    const r = await restartPhase('SIGTERM', last, sample);
    res.restarts.push(r);
    log(`  listening ${r.listening_ms.toFixed(0)} ms, /readyz ${r.ready_ms.toFixed(0)} ms, last run completed ${r.last_completed_ms.toFixed(0)} ms, ${r.sample_n} spread runs completed ${r.sample_completed_ms.toFixed(0)} ms after spawn; RSS ${r.rss_idle.rss_kb} kB; idle ${r.idle_cpu.ms_sched.toFixed(1)} ms CPU / ${IDLE_CPU_S} s`);
    log(`  ${r.restore_log}`);
    for (const s of [last, ...sample]) s.done = true;
  }
  {
    log('restart after kill -9');
    const last = runs[N - 2];
    const done = new Set(runs.map((r, i) => (r.done ? i : -1)).filter((i) => i >= 0));
    done.add(N - 2);
    const sample = spread(0.5, done);
    const r = await restartPhase('SIGKILL', last, sample);
    res.restarts.push(r);
    log(`  listening ${r.listening_ms.toFixed(0)} ms, /readyz ${r.ready_ms.toFixed(0)} ms, run N-1 completed ${r.last_completed_ms.toFixed(0)} ms, ${r.sample_n} spread runs completed ${r.sample_completed_ms.toFixed(0)} ms after spawn; RSS ${r.rss_idle.rss_kb} kB; idle ${r.idle_cpu.ms_sched.toFixed(1)} ms CPU / ${IDLE_CPU_S} s`);
    log(`  ${r.restore_log}`);
  }
  res.load.end = loadavg();
  await stopDaemon('SIGTERM');

  fs.writeFileSync(path.join(DIR, 'results.json'), JSON.stringify(res, null, 2));
  const md = report(res);
  process.stdout.write(md + '\n');
  if (WRITE) writeSection(WRITE, md);
}

// ---- report ----------------------------------------------------------------------

const kB = (x) => `${(x / 1024).toFixed(1)} MB`;
const ms = (x) => (x >= 10000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);
const B = (x) => (Math.abs(x) >= 1024 ? `${(x / 1024).toFixed(2)} KB` : `${Math.round(x)} B`);
const int = (x) => Math.round(x).toLocaleString('en-US');

function report(r) {
  const [p1, p2] = r.create;
  const met = (ok) => (ok ? '**met**' : '**missed**');
  const lines = [];
  lines.push(
    `Measured ${r.date} on ${r.cpu} (${r.ncpu} CPUs, Linux ${r.kernel}), oag ${r.oag_commit} (\`${path.relative(process.cwd(), r.oag_bin) || r.oag_bin}\`), ` +
      `N = ${int(r.n)} parked runs${r.quick ? ' (--quick)' : ''}, ${r.concurrency} concurrent clients, \`durability: wal\`, no CPU pinning.`,
  );
  lines.push(
    `Load average (1/5/15 min) at the start ${r.load.start}, after creating the runs ${r.load.after_create}, at the end ${r.load.end}: ` +
      `the machine was shared with other builds, so times are upper bounds; the memory figures are not affected.`,
  );
  lines.push('');
  lines.push('| measure | value | goal |');
  lines.push('|---|---|---|');
  lines.push(`| RSS before (company, assistant, 1 warm-up run) | ${kB(r.rss_before.rss_kb)} (anon ${kB(r.rss_before.anon_kb)}) | |`);
  lines.push(`| RSS with ${int(r.n)} runs parked, after ${IDLE_SETTLE_S} s idle | ${kB(r.rss_after.rss_kb)} (anon ${kB(r.rss_after.anon_kb)}) | |`);
  lines.push(`| **RSS per parked run** (ΔVmRSS ÷ N) | **${B(r.bytes_per_run)}** (RssAnon: ${B(r.anon_bytes_per_run)}) | ≤ 2 KB: ${met(r.bytes_per_run <= GOAL_BYTES_PER_RUN)} |`);
  lines.push(`| RSS per run, second half only (${int(p2.n)} runs after the first ${int(p1.n)}) | ${B(r.marginal_bytes_per_run)} | |`);
  lines.push(`| RSS after restart (SIGTERM), idle, ${int(r.n - 1 - r.restarts[0].sample_n)} still parked | ${kB(r.restarts[0].rss_idle.rss_kb)} (${B(((r.restarts[0].rss_idle.rss_kb - r.rss_before.rss_kb) * 1024) / r.n)}/run over the baseline) | |`);
  lines.push(`| disk per run (data dir growth ÷ N; thread, message, run, state, step, ledger) | ${B(r.disk_bytes_per_run)} | |`);
  const ic = r.idle_cpu_parked;
  lines.push(`| **idle CPU holding ${int(r.n)} parked runs** (${IDLE_CPU_S} s) | **${ic.ms_sched.toFixed(1)} ms** (${ic.pct_core.toFixed(3)}% of a core; utime+stime ${ic.ms_ticks} ms; ${ic.wakeups_per_s.toFixed(1)} context switches/s) | ≈ 0: ${met(ic.pct_core < 0.5)}${ic.ms_sched > 3 * r.idle_cpu_before.ms_sched + 1 ? `, but ${Math.round(ic.ms_sched / Math.max(r.idle_cpu_before.ms_sched, 0.1))}× the daemon's with none parked: it grows with N` : ''} |`);
  lines.push(`| idle CPU with no run parked (${IDLE_CPU_S} s, before) | ${r.idle_cpu_before.ms_sched.toFixed(1)} ms (${r.idle_cpu_before.wakeups_per_s.toFixed(1)} context switches/s) | |`);
  lines.push(`| create + park rate (concurrency ${r.concurrency}) | ${int((p1.n + p2.n) / (p1.park_all_s + p2.park_all_s))} runs/s, ${int((p1.cpu_us_per_run * p1.n + p2.cpu_us_per_run * p2.n) / (p1.n + p2.n))} µs of oag CPU per run | |`);
  for (const s of r.restarts) {
    const what = s.signal === 'SIGTERM' ? 'SIGTERM' : 'kill -9';
    lines.push(`| restart after ${what}: stop took | ${ms(s.stop_ms)} | |`);
    lines.push(`| restart after ${what}: spawn → listening line / \`/readyz\` 200 | ${ms(s.listening_ms)} / **${ms(s.ready_ms)}** | |`);
    lines.push(`| restart after ${what}: restore of the company's unfinished-run index (log: "directory restored" → "N unfinished runs"; the company's assistants API waits meanwhile) | ${ms(s.restore_ms)} | |`);
    lines.push(`| restart after ${what}: spawn → submit_tool_outputs on the ${s.signal === 'SIGTERM' ? 'last' : 'second-to-last'} created run accepted and it is \`completed\` | **${ms(s.last_completed_ms)}** | |`);
    lines.push(`| restart after ${what}: spawn → ${s.sample_n} runs spread over the set submitted and all \`completed\` | **${ms(s.sample_completed_ms)}** | |`);
    lines.push(`| restart after ${what}: RSS at \`/readyz\` / after the last run / idle after the sample | ${kB(s.rss_at_ready.rss_kb)} / ${kB(s.rss_after_last.rss_kb)} / ${kB(s.rss_idle.rss_kb)} | |`);
    lines.push(`| restart after ${what}: idle CPU (${IDLE_CPU_S} s) | ${s.idle_cpu.ms_sched.toFixed(1)} ms (${s.idle_cpu.wakeups_per_s.toFixed(1)} context switches/s) | |`);
  }
  lines.push('');
  lines.push(
    `RSS = \`VmRSS\` of the oag process (RssAnon = its anonymous part, i.e. heap). "second half" = (RSS at N − RSS at N/2) ÷ (N/2): ` +
      `the marginal cost, with RocksDB's bounded memtables (2 × 4 MiB, 8 MiB in total) and 4 MiB block cache already filled in the first half. ` +
      `CPU = the sum of \`/proc/PID/task/*/schedstat\` run time (ns) over the idle window; utime+stime from \`/proc/PID/stat\` has 10 ms ticks. ` +
      `Restart times are measured from \`spawn()\` of the new process; the daemon log said: "${r.restarts[0].restore_log}".`,
  );
  return lines.join('\n');
}

const BEGIN = '<!-- bench-runs:begin -->';
const END = '<!-- bench-runs:end -->';
function writeSection(file, md) {
  let doc = fs.readFileSync(file, 'utf8');
  const block = `${BEGIN}\n${md}\n${END}`;
  const b = doc.indexOf(BEGIN);
  const e = doc.indexOf(END);
  if (b >= 0 && e > b) {
    doc = doc.slice(0, b) + block + doc.slice(e + END.length);
  } else {
    const section =
      '## Parked runs (issue 4)\n\n' +
      'Measured by `scripts/bench-runs.sh` (`bench/parked_runs.mjs`): one company, one assistant on `mock/echo` with the function ' +
      'tool `get_weather`, N runs each on its own thread (`POST /v1/threads/runs`, non-streamed) whose message makes the model call ' +
      'the tool, so each run parks in `requires_action`. Then the daemon is restarted on the same data dir, once after SIGTERM and once ' +
      'after `kill -9`, and tool outputs are submitted to the last created run and to 100 runs spread over the set.\n\n' +
      block +
      '\n\n';
    const at = doc.indexOf('## Where the time goes');
    doc = at >= 0 ? doc.slice(0, at) + section + doc.slice(at) : doc.replace(/\n*$/, '\n\n') + section.trimEnd() + '\n';
  }
  fs.writeFileSync(file, doc);
  log(`wrote the results into ${file}`);
}

// ---- run -------------------------------------------------------------------------

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
