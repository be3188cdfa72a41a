// A fake OpenAI upstream for the integration tests.
//
// Speaks the wire format of POST /v1/chat/completions (JSON and SSE) and
// POST /v1/embeddings (plus GET /v1/models), records every request it gets
// and answers each one from a per-test script:
//
//   const fake = await startFakeOpenAI();
//   fake.next({ text: 'hi', usage: { prompt_tokens: 9, completion_tokens: 2, cached_tokens: 4 } });
//   ... call OAG ...
//   fake.requests[0]  // { method, path, url, headers, raw, body }
//
// Script fields (all optional; unset → defaults):
//   text            assistant content (string)               default "Hello from fake upstream"
//   chunks          array of content fragments for streams    default: text split by words
//   toolCalls       [{ id?, name, arguments }]                tool calls (parallel when >1); finish_reason tool_calls
//   argChunks       bytes per arguments fragment in streams   default 4
//   n               number of choices (default: request's n or 1)
//   finishReason    overrides finish_reason
//   id, model, created, systemFingerprint
//   usage           { prompt_tokens, completion_tokens, cached_tokens, total_tokens }
//   noUsage         true → omit usage (JSON) / usage chunk (SSE) even when asked
//   status          HTTP status (error when >= 400 unless body given)
//   error           error object { message, type, code, param } for status >= 400
//   body            raw response body (string/Buffer/object) overriding everything
//   headers         extra response headers, e.g. { 'retry-after': '7' }
//   delayMs         wait before sending headers
//   split           how to write the SSE (or JSON) body: 'byte' (one write per byte),
//                   a number (bytes per write) or an array of byte offsets to split at
//   splitMarker, splitDelta  also split at (offset of splitMarker in the body) + splitDelta
//                   (a number or an array of numbers)
//   writeDelayMs    pause between writes (default 1 when split is set, else 0)
//   dieAfterBytes   destroy the socket after writing this many body bytes (no [DONE])
//   dieBeforeDone   destroy the socket after the finish chunk (all content, no usage, no [DONE])
//   rawSSE          string: exact SSE body to send (split/die still apply)
//   embedding       { dims?, usage? } for /v1/embeddings
//   hang            never answer (until the socket is closed by the peer)
//
// fake.next(script) queues one script (FIFO); fake.setDefault(script) sets what
// to answer when the queue is empty; fake.reset() clears queue, default,
// responders and log.
//
// fake.respond((body, record) => script | undefined) adds a responder: it is
// asked first (in the order added) for every request, and the first script it
// returns answers it (the queue is left alone); undefined passes the request
// on (next responder, then the queue, then the default). Handy when requests
// arrive in parallel and FIFO order is not deterministic (choose the answer
// by the request's content). It returns a function that removes it.

import http from 'node:http';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const DEFAULT_TEXT = 'Hello from fake upstream';

function words(text) {
  // Split keeping the spaces so fragments concatenate back to the text.
  const out = text.match(/\S+\s*|\s+/g);
  return out && out.length ? out : [''];
}

function usageObject(u, req) {
  const prompt = u?.prompt_tokens ?? 11;
  const completion = u?.completion_tokens ?? 7;
  const cached = u?.cached_tokens ?? 0;
  const usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: u?.total_tokens ?? prompt + completion,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
  void req;
  return usage;
}

let idCounter = 0;
function newId(prefix) {
  idCounter += 1;
  return `${prefix}${Date.now().toString(36)}${idCounter.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

function normalizeToolCalls(script) {
  return (script.toolCalls || []).map((tc, i) => ({
    id: tc.id || `call_fake_${i}_${Math.random().toString(36).slice(2, 10)}`,
    type: 'function',
    function: {
      name: tc.name,
      arguments: typeof tc.arguments === 'string' ? tc.arguments : JSON.stringify(tc.arguments ?? {}),
    },
  }));
}

/** Builds the non-stream chat.completion object for a script and request body. */
export function buildCompletion(script, reqBody) {
  const n = script.n ?? reqBody?.n ?? 1;
  const toolCalls = normalizeToolCalls(script);
  const text = script.text ?? DEFAULT_TEXT;
  const choices = [];
  for (let i = 0; i < n; i++) {
    const message = { role: 'assistant', content: toolCalls.length ? null : text, refusal: null, annotations: [] };
    if (toolCalls.length) message.tool_calls = toolCalls;
    choices.push({
      index: i,
      message,
      logprobs: null,
      finish_reason: script.finishReason ?? (toolCalls.length ? 'tool_calls' : 'stop'),
    });
  }
  const out = {
    id: script.id ?? newId('chatcmpl-fake'),
    object: 'chat.completion',
    created: script.created ?? Math.floor(Date.now() / 1000),
    model: script.model ?? reqBody?.model ?? 'gpt-4o-mini',
    system_fingerprint: script.systemFingerprint ?? 'fp_fake',
    service_tier: 'default',
    choices,
  };
  if (!script.noUsage) out.usage = usageObject(script.usage, reqBody);
  return out;
}

/** Builds the SSE body (a string) for a streamed chat completion. */
export function buildSSE(script, reqBody) {
  if (script.rawSSE !== undefined) return script.rawSSE;
  const n = script.n ?? reqBody?.n ?? 1;
  const includeUsage = !!reqBody?.stream_options?.include_usage && !script.noUsage;
  const id = script.id ?? newId('chatcmpl-fake');
  const created = script.created ?? Math.floor(Date.now() / 1000);
  const model = script.model ?? reqBody?.model ?? 'gpt-4o-mini';
  const base = { id, object: 'chat.completion.chunk', created, model, system_fingerprint: script.systemFingerprint ?? 'fp_fake', service_tier: 'default' };
  const events = [];
  const chunk = (choices, extra = {}) => {
    const c = { ...base, choices, ...extra };
    if (includeUsage && !('usage' in extra)) c.usage = null;
    events.push(`data: ${JSON.stringify(c)}\n\n`);
  };
  const toolCalls = normalizeToolCalls(script);
  const fragments = script.chunks ?? words(script.text ?? DEFAULT_TEXT);
  for (let i = 0; i < n; i++) {
    chunk([{ index: i, delta: { role: 'assistant', content: toolCalls.length ? null : '', refusal: null }, logprobs: null, finish_reason: null }]);
  }
  if (toolCalls.length) {
    const step = script.argChunks ?? 4;
    for (let i = 0; i < n; i++) {
      toolCalls.forEach((tc, idx) => {
        chunk([{ index: i, delta: { tool_calls: [{ index: idx, id: tc.id, type: 'function', function: { name: tc.function.name, arguments: '' } }] }, logprobs: null, finish_reason: null }]);
        const a = tc.function.arguments;
        for (let off = 0; off < a.length; off += step) {
          chunk([{ index: i, delta: { tool_calls: [{ index: idx, function: { arguments: a.slice(off, off + step) } }] }, logprobs: null, finish_reason: null }]);
        }
      });
    }
  } else {
    for (const frag of fragments) {
      for (let i = 0; i < n; i++) {
        chunk([{ index: i, delta: { content: frag }, logprobs: null, finish_reason: null }]);
      }
    }
  }
  for (let i = 0; i < n; i++) {
    chunk([{ index: i, delta: {}, logprobs: null, finish_reason: script.finishReason ?? (toolCalls.length ? 'tool_calls' : 'stop') }]);
  }
  const finishedAt = events.join('').length;
  if (includeUsage) chunk([], { usage: usageObject(script.usage, reqBody) });
  events.push('data: [DONE]\n\n');
  const sse = events.join('');
  // Remember where the finish chunk ended (for dieBeforeDone), in bytes.
  buildSSE.lastFinishedAtBytes = Buffer.byteLength(sse.slice(0, finishedAt));
  return sse;
}

function splitPoints(split, length) {
  if (split === undefined || split === null) return [];
  const pts = [];
  if (split === 'byte') {
    for (let i = 1; i < length; i++) pts.push(i);
  } else if (typeof split === 'number') {
    for (let i = split; i < length; i += split) pts.push(i);
  } else if (Array.isArray(split)) {
    for (const p of split) if (p > 0 && p < length) pts.push(p);
    pts.sort((a, b) => a - b);
  }
  return [...new Set(pts)];
}

async function writeBody(res, buf, script, dieAt) {
  const pts = splitPoints(script.split, buf.length);
  if (script.splitMarker !== undefined) {
    // Split relative to the first occurrence of a marker string in the body.
    const at = buf.indexOf(Buffer.from(script.splitMarker, 'utf8'));
    for (const d of [].concat(script.splitDelta ?? 0)) {
      const p = at + d;
      if (at >= 0 && p > 0 && p < buf.length && !pts.includes(p)) pts.push(p);
    }
    pts.sort((a, b) => a - b);
  }
  if (dieAt !== undefined && dieAt !== null && dieAt < buf.length) {
    if (!pts.includes(dieAt)) pts.push(dieAt);
    pts.sort((a, b) => a - b);
  }
  const delay = script.writeDelayMs ?? (script.split !== undefined || script.splitMarker !== undefined ? 1 : 0);
  const bounds = [0, ...pts, buf.length];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const from = bounds[i];
    const to = bounds[i + 1];
    if (dieAt !== undefined && dieAt !== null && from >= dieAt) {
      await sleep(20); // let the bytes already written leave the socket
      res.socket?.destroy();
      return false;
    }
    if (to > from) {
      await new Promise((resolve) => res.write(buf.subarray(from, to), resolve));
      if (delay > 0 && i + 2 < bounds.length) await sleep(delay);
    }
    if (res.destroyed || res.socket?.destroyed) return false;
  }
  if (dieAt !== undefined && dieAt !== null && dieAt >= buf.length) {
    await sleep(20);
    res.socket?.destroy();
    return false;
  }
  res.end();
  return true;
}

export async function startFakeOpenAI({ host = '127.0.0.1' } = {}) {
  const queue = [];
  const responders = [];
  let defaultScript = {};
  const requests = [];
  const sockets = new Set();
  const waiters = [];

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
    const record = { method: req.method, path: url.pathname, url: req.url, headers: { ...req.headers }, raw, body, at: Date.now() };
    requests.push(record);
    for (const w of waiters.splice(0)) w(record);

    let script;
    for (const fn of responders.slice()) {
      try {
        script = fn(body, record);
      } catch {
        script = undefined;
      }
      if (script !== undefined && script !== null) break;
      script = undefined;
    }
    if (script === undefined) script = queue.length ? queue.shift() : defaultScript;
    try {
      await answer(req, res, url, body, script);
    } catch (e) {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `fake upstream crashed: ${e.message}`, type: 'server_error', param: null, code: null } }));
      } else {
        res.socket?.destroy();
      }
    }
  });
  server.keepAliveTimeout = 30000;
  server.on('connection', (s) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function answer(req, res, url, body, script) {
    if (script.hang) return; // never answer
    if (script.delayMs) await sleep(script.delayMs);
    const headers = { 'x-request-id': newId('req_'), 'openai-processing-ms': '1', ...(script.headers || {}) };

    if (script.body !== undefined) {
      const b = typeof script.body === 'string' || Buffer.isBuffer(script.body) ? Buffer.from(script.body) : Buffer.from(JSON.stringify(script.body));
      res.writeHead(script.status ?? 200, { 'content-type': 'application/json', 'content-length': b.length, ...headers });
      await writeBody(res, b, script, script.dieAfterBytes);
      return;
    }
    if (script.status && script.status >= 400) {
      const err = { message: 'fake upstream error', type: 'server_error', param: null, code: null, ...(script.error || {}) };
      const b = Buffer.from(JSON.stringify({ error: err }));
      res.writeHead(script.status, { 'content-type': 'application/json', 'content-length': b.length, ...headers });
      res.end(b);
      return;
    }

    if (req.method === 'GET' && url.pathname === '/v1/models') {
      const b = JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' }] });
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      res.end(b);
      return;
    }

    if (req.method === 'POST' && url.pathname === '/v1/embeddings') {
      const inputs = Array.isArray(body?.input) && (body.input.length === 0 || typeof body.input[0] !== 'number') ? body.input : [body?.input];
      const dims = script.embedding?.dims ?? body?.dimensions ?? 8;
      const data = inputs.map((inp, index) => ({
        object: 'embedding',
        index,
        embedding: Array.from({ length: dims }, (_, k) => Number((((String(inp).length + 1) * (k + 1)) % 97 / 97 - 0.5).toFixed(6))),
      }));
      if (body?.encoding_format === 'base64') {
        for (const d of data) {
          const f = new Float32Array(d.embedding);
          d.embedding = Buffer.from(f.buffer).toString('base64');
        }
      }
      const pt = script.embedding?.usage?.prompt_tokens ?? inputs.reduce((s, i) => s + String(i).split(/\s+/).filter(Boolean).length, 0);
      const out = { object: 'list', model: body?.model ?? 'text-embedding-3-small', data, usage: { prompt_tokens: pt, total_tokens: pt } };
      const b = Buffer.from(JSON.stringify(out));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': b.length, ...headers });
      await writeBody(res, b, script, script.dieAfterBytes);
      return;
    }

    if (req.method === 'POST' && url.pathname === '/v1/chat/completions') {
      if (!body) {
        const b = JSON.stringify({ error: { message: 'We could not parse the JSON body of your request.', type: 'invalid_request_error', param: null, code: null } });
        res.writeHead(400, { 'content-type': 'application/json', ...headers });
        res.end(b);
        return;
      }
      if (body.stream) {
        const sse = Buffer.from(buildSSE(script, body), 'utf8');
        let dieAt = script.dieAfterBytes;
        if (script.dieBeforeDone) dieAt = buildSSE.lastFinishedAtBytes;
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...headers });
        res.flushHeaders();
        await writeBody(res, sse, script, dieAt);
        return;
      }
      const b = Buffer.from(JSON.stringify(buildCompletion(script, body)), 'utf8');
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': b.length, ...headers });
      await writeBody(res, b, script, script.dieAfterBytes);
      return;
    }

    const b = JSON.stringify({ error: { message: `Unknown request URL: ${req.method} ${url.pathname}`, type: 'invalid_request_error', param: null, code: 'unknown_url' } });
    res.writeHead(404, { 'content-type': 'application/json', ...headers });
    res.end(b);
  }

  await new Promise((resolve) => server.listen(0, host, resolve));
  const port = server.address().port;

  return {
    port,
    origin: `http://${host}:${port}`,
    url: `http://${host}:${port}/v1`,
    requests,
    /** Queue a script for the next request. */
    next(script) {
      queue.push(script || {});
      return this;
    },
    setDefault(script) {
      defaultScript = script || {};
    },
    /** Adds a responder (see the header); returns a function that removes it. */
    respond(fn) {
      responders.push(fn);
      return () => {
        const i = responders.indexOf(fn);
        if (i >= 0) responders.splice(i, 1);
      };
    },
    reset() {
      queue.length = 0;
      responders.length = 0;
      defaultScript = {};
      requests.length = 0;
    },
    pending() {
      return queue.length;
    },
    /** Requests to the chat completions path only. */
    chatRequests() {
      return requests.filter((r) => r.path === '/v1/chat/completions');
    },
    last() {
      return requests[requests.length - 1];
    },
    /** Resolves with the next request the server receives. */
    waitForRequest(timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('fake upstream: no request within timeout')), timeoutMs);
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

// Run standalone: `node fake_openai.mjs [port]` (serves defaults; handy for manual checks).
if (import.meta.url === `file://${process.argv[1]}`) {
  const f = await startFakeOpenAI();
  console.log(`fake openai listening on ${f.url}`);
}
