// A fake HTTP tool service for the server-side tool tests (assistants.test.mjs).
//
// Records every request it gets and answers JSON:
//
//   const svc = await startFakeToolService();
//   ... register a tool whose endpoint.url is `${svc.origin}/weather/{city}` ...
//   svc.requests[0]   // { method, path, url, query, headers, raw, body, at }
//
// Routes (any method):
//   /weather/{city}   200 {"city": city, "temp_c": 21.5, "sky": "clear", "token": <query/body "token"?>}
//   /time             200 {"tz": query.tz ?? body.tz, "time": "12:34"}
//   /hang...          never answers (until the peer closes the socket): timeout tests
//   /status/{NNN}     answers status NNN with {"error": "status NNN requested"}
//   /redirect?to=URL  302 to URL (SSRF-through-redirect tests)
//   /echo             200 {"method", "path", "query", "body"}
//   anything else     404 {"error": "no route"}
//
// svc.reset() clears the request log; svc.waitForRequest() resolves with the next one;
// svc.hanging() counts the requests currently left hanging.

import http from 'node:http';

export async function startFakeToolService({ host = '127.0.0.1' } = {}) {
  const requests = [];
  const sockets = new Set();
  const waiters = [];
  let hanging = 0;

  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body = null;
    try {
      body = raw.length ? JSON.parse(raw) : null;
    } catch {
      body = null;
    }
    const url = new URL(req.url, `http://${req.headers.host || host}`);
    const record = {
      method: req.method,
      path: url.pathname,
      url: req.url,
      query: Object.fromEntries(url.searchParams),
      headers: { ...req.headers },
      raw,
      body,
      at: Date.now(),
    };
    requests.push(record);
    for (const w of waiters.splice(0)) w(record);

    const send = (status, obj) => {
      const b = Buffer.from(JSON.stringify(obj), 'utf8');
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': b.length });
      res.end(b);
    };
    const p = url.pathname;
    let m;
    if (p.startsWith('/hang')) {
      hanging += 1;
      res.on('close', () => {
        hanging -= 1;
      });
      return; // never answer
    }
    if ((m = p.match(/^\/weather\/([^/]+)$/))) {
      return send(200, { city: decodeURIComponent(m[1]), temp_c: 21.5, sky: 'clear' });
    }
    if (p === '/time') {
      return send(200, { tz: url.searchParams.get('tz') ?? body?.tz ?? null, time: '12:34' });
    }
    if ((m = p.match(/^\/status\/(\d{3})$/))) {
      const status = Number(m[1]);
      return send(status, { error: `status ${status} requested` });
    }
    if (p === '/redirect') {
      const to = url.searchParams.get('to') || '/echo';
      res.writeHead(302, { location: to, 'content-length': 0 });
      res.end();
      return;
    }
    if (p === '/echo') {
      return send(200, { method: req.method, path: p, query: record.query, body });
    }
    return send(404, { error: 'no route' });
  });
  server.keepAliveTimeout = 30000;
  server.on('connection', (s) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, host, resolve));
  const port = server.address().port;
  return {
    port,
    origin: `http://${host}:${port}`,
    requests,
    reset() {
      requests.length = 0;
    },
    hanging() {
      return hanging;
    },
    /** Requests whose path starts with `prefix`. */
    matching(prefix) {
      return requests.filter((r) => r.path.startsWith(prefix));
    },
    waitForRequest(timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('fake tool service: no request within timeout')), timeoutMs);
        waiters.push((r) => {
          clearTimeout(t);
          resolve(r);
        });
      });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// Run standalone: `node fake_tool_service.mjs` (handy for manual checks).
if (import.meta.url === `file://${process.argv[1]}`) {
  const s = await startFakeToolService();
  console.log(`fake tool service listening on ${s.origin}`);
}
