// What the benchmarks read off a process and the machine (/proc, du), and
// the bounded-concurrency loop they drive the daemon with. Shared by
// bench/parked_runs.mjs and bench/agents.mjs.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The last `n` lines of a file ('' when it cannot be read). */
export function tail(file, n = 30) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

/** VmRSS, RssAnon, RssFile (kB) and the thread count of a process. */
export function memory(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm')) || [])[1] ?? NaN);
  const threads = Number((s.match(/^Threads:\s+(\d+)/m) || [])[1] ?? NaN);
  return { rss_kb: kb('VmRSS'), anon_kb: kb('RssAnon'), file_kb: kb('RssFile'), threads };
}

/** CPU of a process: utime+stime ticks, the ns sum of its threads' schedstat, and their context switches. */
export function cpu(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  let ns = 0;
  let wakeups = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      const st = fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8');
      wakeups += Number((st.match(/^voluntary_ctxt_switches:\s+(\d+)/m) || [])[1] || 0);
      wakeups += Number((st.match(/^nonvoluntary_ctxt_switches:\s+(\d+)/m) || [])[1] || 0);
    } catch {} // a thread that just ended
  }
  return { ticks, ns, wakeups };
}

/** The CPU a process spends over `secs` seconds of doing nothing asked of it. */
export async function idleCpu(pid, secs, clkTck) {
  const a = cpu(pid);
  const t = performance.now();
  await sleep(secs * 1000);
  const b = cpu(pid);
  const wall = (performance.now() - t) / 1000;
  return {
    secs: wall,
    ms_ticks: ((b.ticks - a.ticks) * 1000) / clkTck,
    ms_sched: (b.ns - a.ns) / 1e6,
    pct_core: ((b.ns - a.ns) / 1e9 / wall) * 100,
    wakeups_per_s: (b.wakeups - a.wakeups) / wall,
  };
}

/** The 1/5/15-minute load averages as one string. */
export const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' ');

/** Disk use of a directory in kB (NaN when du fails). */
export const duKb = (dir) => {
  try {
    return Number(execFileSync('du', ['-sk', dir]).toString().split('\t')[0]);
  } catch {
    return NaN;
  }
};

/** Runs fn(0 … n-1) with at most `conc` at once; rethrows the first failure. */
export async function pool(n, conc, fn) {
  let next = 0;
  let failed = null;
  const worker = async () => {
    while (!failed && next < n) {
      const i = next++;
      try {
        await fn(i);
      } catch (e) {
        failed = failed || e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(conc, n) }, worker));
  if (failed) throw failed;
}
