// Turns the TSV written by scripts/bench.sh into a markdown report; with
// --write FILE, replaces the results section of FILE (docs/PERFORMANCE.md)
// between <!-- bench:results:start --> and <!-- bench:results:end -->, or
// under a "## Results" heading, or appends one.
//
// node bench/report.mjs results.tsv [--write docs/PERFORMANCE.md]

import fs from 'node:fs';

const [file, ...rest] = process.argv.slice(2);
const writeIdx = rest.indexOf('--write');
const writeTo = writeIdx >= 0 ? rest[writeIdx + 1] : null;
const rows = fs
  .readFileSync(file, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => l.split('\t'));

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const by = (kind) => rows.filter((r) => r[0] === kind);
const targets = [...new Set(rows.filter((r) => r[0] !== 'meta').map((r) => r[1]))];
const meta = Object.fromEntries(by('meta').map((r) => [r[1], r.slice(2).join('\t')]));

const lat = {};
const rate = {};
const load = {};
const ttfb = {};
const rssIdle = {};
const rssAfter = {};
for (const t of targets) {
  const l = by('lat').filter((r) => r[1] === t);
  const rounds = [...new Set(l.map((r) => r[2]))];
  lat[t] = { p50: median(l.map((r) => +r[3])), p99: median(l.map((r) => +r[4])), rps: median(l.map((r) => +r[5])), byRound: Object.fromEntries(rounds.map((k) => [k, l.find((r) => r[2] === k)])) };
  // Best rate with p99 under 5 ms, per round, then the median over rounds.
  const rr = by('rate').filter((r) => r[1] === t);
  const perRound = [...new Set(rr.map((r) => r[2]))].map((k) => {
    const ok = rr.filter((r) => r[2] === k && +r[5] < 5000);
    if (!ok.length) return { rps: 0, conns: '-' };
    const best = ok.reduce((a, b) => (+b[4] > +a[4] ? b : a));
    return { rps: +best[4], conns: best[3] };
  });
  const rates = perRound.map((x) => x.rps);
  const med = median(rates);
  const closest = perRound.reduce((a, b) => (Math.abs(b.rps - med) < Math.abs(a.rps - med) ? b : a), perRound[0] || { conns: '-' });
  const c1 = rr.filter((r) => r[3] === '1');
  rate[t] = { rps: med, conns: closest?.conns ?? '-', c1rps: median(c1.map((r) => +r[4])), c1p99: median(c1.map((r) => +r[5])) };
  const ld = by('load').filter((r) => r[1] === t);
  load[t] = { cpu: median(ld.map((r) => +r[4])), rss: Math.max(...ld.map((r) => +r[5]), 0), rps: median(ld.map((r) => +r[6])) };
  const tf = by('ttfb').filter((r) => r[1] === t);
  ttfb[t] = tf.length ? { p50: median(tf.map((r) => +r[3])), p99: median(tf.map((r) => +r[4])) } : null;
  rssIdle[t] = +(by('rss_idle').find((r) => r[1] === t)?.[2] ?? NaN);
  rssAfter[t] = +(by('rss_after').find((r) => r[1] === t)?.[2] ?? NaN);
}

// Added latency per round (gateway − direct in the same round), then the median.
function added(t, field) {
  if (!lat.direct || t === 'direct') return NaN;
  const l = by('lat').filter((r) => r[1] === t);
  const idx = field === 'p50' ? 3 : 4;
  return median(l.map((r) => {
    const d = lat.direct.byRound[r[2]];
    return d ? +r[idx] - +d[idx] : NaN;
  }));
}
function addedTtfb(t, field) {
  if (t === 'direct' || !ttfb[t] || !ttfb.direct) return NaN;
  const tf = by('ttfb').filter((r) => r[1] === t);
  const df = by('ttfb').filter((r) => r[1] === 'direct');
  const idx = field === 'p50' ? 3 : 4;
  return median(tf.map((r) => {
    const d = df.find((x) => x[2] === r[2]);
    return d ? +r[idx] - +d[idx] : NaN;
  }));
}

const us = (x) => (Number.isFinite(x) ? (Math.abs(x) >= 10000 ? `${(x / 1000).toFixed(1)} ms` : `${Math.round(x)} µs`) : 'n/a');
const num = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');
const mb = (kb) => (Number.isFinite(kb) && kb > 0 ? `${(kb / 1024).toFixed(1)} MB` : 'n/a');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(a / b >= 10 ? 0 : 2)}×` : 'n/a');
const label = { direct: 'upstream direct (baseline)', oag: 'oag', 'oag-routed': 'oag, 10-rule routing (last rule matches)', 'oag-anthropic': 'oag → Anthropic adapter', portkey: 'Portkey 1.15.2', hello: 'Beast hello (ceiling)' };

const rateCell = (t) =>
  rate[t].rps > 0 ? `${num(rate[t].rps)} (${rate[t].conns})` : `none: p99 ${us(rate[t].c1p99)} already at 1 conn (${num(rate[t].c1rps)} req/s there)`;
const out = [];
out.push(`Measured ${meta.date || ''} on ${meta.cpu || 'unknown CPU'} (${meta.ncpu || '?'} CPUs, Linux ${meta.kernel || '?'}), oag ${meta.oag || '?'}${meta.quick === '1' ? ' — **quick run, figures are rough**' : ''}.`);
out.push('Gateways pinned to core 0; wrk, the TTFB client and the upstream on core 1; all on 127.0.0.1. Medians over interleaved rounds.');
out.push('');
out.push('| target | p50 @c=1 | p99 @c=1 | added p50 | added p99 | max req/s with p99 < 5 ms (conns) | TTFB p50 | added TTFB p50 | added TTFB p99 | CPU µs/req (c=16) | RSS idle | RSS under load |');
out.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const t of targets) {
  out.push(
    `| ${label[t] || t} | ${us(lat[t].p50)} | ${us(lat[t].p99)} | ${t === 'direct' ? '—' : us(added(t, 'p50'))} | ${t === 'direct' ? '—' : us(added(t, 'p99'))} | ${rateCell(t)} | ${ttfb[t] ? us(ttfb[t].p50) : 'n/a'} | ${t === 'direct' || !ttfb[t] ? '—' : us(addedTtfb(t, 'p50'))} | ${t === 'direct' || !ttfb[t] ? '—' : us(addedTtfb(t, 'p99'))} | ${Number.isFinite(load[t].cpu) ? load[t].cpu.toFixed(1) : 'n/a'} | ${mb(rssIdle[t])} | ${mb(load[t].rss)} |`,
  );
}
out.push('');
if (lat.oag) {
  out.push('Ratios (targets from the issue in brackets):');
  out.push('');
  if (lat.portkey) {
    out.push(`- added p50, Portkey ÷ oag: **${ratio(added('portkey', 'p50'), added('oag', 'p50'))}** (≥ 20×)`);
    out.push(`- added p99, Portkey ÷ oag: **${ratio(added('portkey', 'p99'), added('oag', 'p99'))}** (≥ 10×)`);
    if (rate.portkey.rps > 0) out.push(`- max rate at p99 < 5 ms, oag ÷ Portkey: **${ratio(rate.oag.rps, rate.portkey.rps)}** (≥ 10×)`);
    else if (rate.oag.rps > 0) out.push(`- max rate at p99 < 5 ms, oag ÷ Portkey: **∞** — Portkey never kept p99 under 5 ms; oag's rate ÷ Portkey's rate at 1 connection: ${ratio(rate.oag.rps, rate.portkey.c1rps)} (≥ 10×)`);
    else out.push(`- max rate at p99 < 5 ms: **neither oag nor Portkey kept p99 under 5 ms** in this run; rate at 1 connection, oag ÷ Portkey: ${ratio(rate.oag.c1rps, rate.portkey.c1rps)} (≥ 10×)`);
    out.push(`- added TTFB p50, Portkey ÷ oag: **${ratio(addedTtfb('portkey', 'p50'), addedTtfb('oag', 'p50'))}**`);
    out.push(`- CPU per request, Portkey ÷ oag: **${ratio(load.portkey.cpu, load.oag.cpu)}**`);
  }
  if (lat.hello) {
    if (rate.oag.rps > 0 && rate.hello.rps > 0) out.push(`- max rate at p99 < 5 ms, oag ÷ Beast hello: **${((rate.oag.rps / rate.hello.rps) * 100).toFixed(0)}%** (≥ 60%)`);
    else out.push(`- max rate at p99 < 5 ms, oag ÷ Beast hello: **n/a** (a p99 ≥ 5 ms at every step); rate at 1 connection, oag ÷ hello: ${((rate.oag.c1rps / rate.hello.c1rps) * 100).toFixed(0)}% (≥ 60%)`);
    out.push(`- load at 16 connections, oag ÷ Beast hello: ${((load.oag.rps / load.hello.rps) * 100).toFixed(0)}% of the requests per second`);
  }
  // Routing and translation against the plain pass-through: the added
  // latency may grow by at most 10%.
  const pct = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)}%` : 'n/a');
  const within = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a <= b * 1.1 ? 'within' : '**over**') : 'n/a');
  for (const v of ['oag-routed', 'oag-anthropic']) {
    if (!lat[v]) continue;
    const a50 = added(v, 'p50');
    const b50 = added('oag', 'p50');
    const a99 = added(v, 'p99');
    const b99 = added('oag', 'p99');
    out.push(`- ${label[v]}: added p50 ${us(a50)} vs oag ${us(b50)}: **${pct(a50, b50)}** (${within(a50, b50)} the +10% target); added p99 ${us(a99)} vs ${us(b99)}: ${pct(a99, b99)}; added TTFB p50 ${us(addedTtfb(v, 'p50'))} vs ${us(addedTtfb('oag', 'p50'))}: ${pct(addedTtfb(v, 'p50'), addedTtfb('oag', 'p50'))}; CPU/req ${Number.isFinite(load[v].cpu) ? load[v].cpu.toFixed(1) : 'n/a'} vs ${Number.isFinite(load.oag.cpu) ? load.oag.cpu.toFixed(1) : 'n/a'} µs: ${pct(load[v].cpu, load.oag.cpu)}`);
  }
  out.push(`- oag idle RSS: **${mb(rssIdle.oag)}** (≤ 20 MB); after the run: ${mb(rssAfter.oag)}`);
  out.push('');
}
out.push('"added" = the gateway\'s figure minus the direct call\'s in the same round. "max req/s" steps wrk connections 1, 2, 4, … 128 and keeps the best rate whose p99 stayed under 5 ms. CPU = utime+stime of the gateway process ÷ requests at 16 connections. TTFB = request written → first body byte of a streamed answer, sequential calls on one keep-alive connection.');
const md = out.join('\n');
console.log(md);

if (writeTo) {
  const start = '<!-- bench:results:start -->';
  const end = '<!-- bench:results:end -->';
  const block = `${start}\n${md}\n${end}`;
  let doc = fs.existsSync(writeTo) ? fs.readFileSync(writeTo, 'utf8') : '# Performance\n';
  if (doc.includes(start) && doc.includes(end)) {
    doc = doc.slice(0, doc.indexOf(start)) + block + doc.slice(doc.indexOf(end) + end.length);
  } else {
    const m = doc.match(/^## Results[^\n]*\n/m);
    if (m) {
      const at = m.index + m[0].length;
      const next = doc.slice(at).search(/^## /m);
      const stop = next >= 0 ? at + next : doc.length;
      doc = `${doc.slice(0, at)}\n${block}\n\n${doc.slice(stop)}`;
    } else {
      doc = `${doc.replace(/\s*$/, '')}\n\n## Results\n\n${block}\n`;
    }
  }
  fs.writeFileSync(writeTo, doc);
  console.error(`[bench] wrote results into ${writeTo}`);
}
