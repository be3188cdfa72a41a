// Time to first SSE byte: N sequential streamed chat completions over one
// keep-alive connection; for each, the time from writing the request to the
// first byte of the response body (not just the headers), and to the end.
//
// node bench/ttfb.mjs --url http://127.0.0.1:P/v1/chat/completions --n 300 \
//   [--model M] [--auth TOKEN] [--header "Name: value"]... [--warmup 20]
// Prints one line: TTFB_RESULT n=… p50_us=… p90_us=… p99_us=… total_p50_us=… errors=…

import http from 'node:http';

const args = process.argv.slice(2);
const opt = { n: 300, warmup: 20, model: 'gpt-4o-mini', headers: {} };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const v = args[i + 1];
  if (a === '--url') (opt.url = v), i++;
  else if (a === '--n') (opt.n = Number(v)), i++;
  else if (a === '--warmup') (opt.warmup = Number(v)), i++;
  else if (a === '--model') (opt.model = v), i++;
  else if (a === '--auth') (opt.headers.authorization = `Bearer ${v}`), i++;
  else if (a === '--header') {
    const k = v.indexOf(':');
    opt.headers[v.slice(0, k).trim().toLowerCase()] = v.slice(k + 1).trim();
    i++;
  }
}
if (!opt.url) {
  console.error('usage: ttfb.mjs --url URL [--n N] [--model M] [--auth T] [--header "K: V"]');
  process.exit(2);
}

const url = new URL(opt.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const body = JSON.stringify({
  model: opt.model,
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'Hello! Say hello back in one short sentence.' },
  ],
  max_tokens: 64,
  stream: true,
});

function once() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let first = null;
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...opt.headers },
      },
      (res) => {
        let sawDone = false;
        let tail = '';
        res.on('data', (d) => {
          if (first === null) first = process.hrtime.bigint();
          tail = (tail + d.toString('latin1')).slice(-64);
          if (tail.includes('[DONE]')) sawDone = true;
        });
        res.on('end', () => {
          const t1 = process.hrtime.bigint();
          const ok = res.statusCode === 200 && sawDone && first !== null;
          resolve({ ok, ttfb: ok ? Number(first - t0) / 1000 : null, total: Number(t1 - t0) / 1000 });
        });
        res.on('error', () => resolve({ ok: false }));
      },
    );
    req.on('error', () => resolve({ ok: false }));
    req.end(body);
  });
}

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);

let errors = 0;
for (let i = 0; i < opt.warmup; i++) await once();
const ttfb = [];
const total = [];
for (let i = 0; i < opt.n; i++) {
  const r = await once();
  if (!r.ok) {
    errors++;
    continue;
  }
  ttfb.push(r.ttfb);
  total.push(r.total);
}
ttfb.sort((a, b) => a - b);
total.sort((a, b) => a - b);
const f = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'nan');
console.log(
  `TTFB_RESULT n=${ttfb.length} p50_us=${f(pct(ttfb, 50))} p90_us=${f(pct(ttfb, 90))} p99_us=${f(pct(ttfb, 99))} total_p50_us=${f(pct(total, 50))} errors=${errors}`,
);
agent.destroy();
